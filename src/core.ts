/**
 * The pipeline every command shares: load → plan → render/apply, under one
 * lock. Backends and exporters plug in below; nothing here knows nft syntax.
 */
import type { Backend } from "./backends/backend.ts";
import type { Config } from "./config.ts";
import { DEFAULTS } from "./defaults.ts";
import { failure, UserError } from "./errors.ts";
import { EMPTY_STATE, macOf, zeroCounter, type CountedHost, type FullState, type HostCounters, type KernelState, type LaidOutHost, type PlannedHost, type SplitCount } from "./model.ts";
import { eventScope, higherCounter, planCounters, planEvent, planInit, resolveEventKey, type Floors, type HostEvent, type Knowledge } from "./plan.ts";
import { loadLan, loadLeases, loadNeighbours, loadOdhcpdLeases, loadStatic, readHostsFiles } from "./sources/load.ts";
import type { HostsEntry } from "./sources/hostsfile.ts";
import type { Lease } from "./sources/leases.ts";
import type { Sys } from "./sys.ts";

export interface Runtime {
  sys: Sys;
  cfg: Config;
  backend: Backend;
  warn(message: string): void;
  /**
   * Totals hosts must not fall below when their counters are (re)created, by
   * host key: what iptmon remembers of them (snapshots) and what another
   * placement counted. Read only when a plan creates counters.
   */
  floors?(): ReadonlyMap<string, HostCounters>;
  /**
   * Hands the snapshot what iptmon saw of hosts' counters: every host (`all`,
   * a full read) or some (counters a change just created).
   */
  remember?(hosts: readonly CountedHost[], scope: "all" | "some", split?: readonly SplitCount[]): void;
  /** Copies the snapshot to persistent storage now (stop: shutdown, upgrade). */
  persist?(): void;
  /**
   * iptmon's layout is laid out anew where none was (a first start, a
   * flush): the split's kernel counters start from zero, so what a sample
   * last saw of them counts for nothing.
   */
  splitAnew?(): void;
  /**
   * The hosts in the kernel are about to change (a change applied, the
   * table removed): what was kept of them for the page's poll is dropped.
   */
  changing?(): void;
}

/**
 * Applies a change; first, where it changes the hosts in the kernel (their
 * names, addresses or counters), drops what was kept of them for the page's
 * poll (a change that does nothing, such as a lease renewed as it was, keeps it).
 */
export function applyChange(rt: Runtime, change: unknown): void {
  if (rt.backend.changesHosts?.(change) !== false) rt.changing?.();
  rt.backend.apply(change);
}

/** Lock files this process holds, and how deep: a holder that calls another locked step goes on. */
const held = new Map<string, number>();

/**
 * Runs `fn` holding the lock, so every invocation's read-plan-apply (and
 * read-remember) is one step against the others. Taken once per process:
 * a step inside another (stop reading the counters) runs in the same hold.
 */
export function withLock<T>(rt: Runtime, fn: () => T): T {
  const file = rt.cfg.lockfile;
  const depth = held.get(file) ?? 0;
  if (depth > 0) {
    held.set(file, depth + 1);
    try {
      return fn();
    } finally {
      held.set(file, depth);
    }
  }
  let release: () => void;
  try {
    const wait = Number(rt.sys.env.IPTMON_LOCK_TIMEOUT_MS || NaN);
    release = rt.sys.lock(file, Number.isFinite(wait) && wait >= 0 ? wait : DEFAULTS.lockTimeoutMs);
  } catch (e) {
    // Sys.lock says what happened (held, by which pid; or which error) and what to do.
    throw failure(`cannot take lock ${file}: ${(e as Error).message}`, e instanceof UserError ? e.hint : undefined);
  }
  held.set(file, 1);
  try {
    return fn();
  } finally {
    held.delete(file);
    release();
  }
}

/**
 * Everything iptmon can know about hosts. The lease file, the hosts files and
 * the neighbour table are read on first use: an event reads only what its
 * plan asks for (one that names its host needs neither leases nor hosts files).
 */
export function loadKnowledge(rt: Runtime): Knowledge {
  const { sys, cfg } = rt;
  const st = loadStatic(sys, cfg);
  const lan = loadLan(sys, cfg);
  for (const w of [...st.warnings, ...lan.warnings, ...cfg.warnings]) rt.warn(w);
  let leases: Lease[] | undefined;
  let hostsEntries: HostsEntry[] | undefined;
  let neighbours: Knowledge["neighbours"] | undefined;
  return {
    configHosts: cfg.hosts,
    staticLeases: st.staticLeases,
    get hostsEntries() {
      if (!hostsEntries) {
        const r = readHostsFiles(sys, st.hostsFiles);
        for (const w of r.warnings) rt.warn(w);
        hostsEntries = r.entries;
      }
      return hostsEntries;
    },
    get leases() {
      if (!leases) {
        const r = loadLeases(sys, st.leasefile, sys.now());
        for (const w of r.warnings) rt.warn(w);
        leases = [...r.leases, ...loadOdhcpdLeases(sys, st.odhcpdState)];
      }
      return leases;
    },
    get neighbours() {
      return (neighbours ??= loadNeighbours(sys, cfg));
    },
    domain: st.domain,
    lan,
  };
}

export interface InitResult {
  hosts: PlannedHost[];
  script: string;
}

/**
 * The split's counters of a table that is not there are made anew with it
 * (nftables tells a set made anew by its handle; an iptables rule has no such
 * mark, so this is said here).
 */
function splitAnewIfAbsent(rt: Runtime, current: KernelState): void {
  if (current.read === "absent" && rt.cfg.breakdown.length > 0) rt.splitAnew?.();
}

/** Plans a full rebuild; `mode` says whether to apply it, check it, or only render it. */
export function runInit(rt: Runtime, mode: "apply" | "check" | "print"): InitResult {
  const go = () => {
    const b = rt.backend;
    const current = b.read("full");
    if (mode === "apply" && current.read === "full") rt.remember?.(current.hosts, "all", current.split);
    if (mode === "apply") splitAnewIfAbsent(rt, current);
    const hosts = planInit(loadKnowledge(rt), current.read === "absent" ? [] : current.hosts);
    const desired = mustPlanCounters(current, hosts, () => floorsOf(rt, current));
    const change = b.plan(current, desired, { rebuild: true });
    const script = b.render(change);
    if (mode === "apply") {
      applyChange(rt, change);
      rememberCreated(rt, desired);
    }
    if (mode === "check") b.check(change);
    return { hosts: desired, script };
  };
  return mode === "apply" ? withLock(rt, go) : go();
}

/**
 * Every floor: what the runtime remembers and, when iptmon's layout is laid
 * out anew (`current` absent: a first start, a flush, a placement being
 * switched), what the backend's other layout in the kernel counted; the
 * higher per direction.
 */
function floorsOf(rt: Runtime, current: KernelState): ReadonlyMap<string, HostCounters> {
  const remembered = rt.floors?.() ?? new Map<string, HostCounters>();
  // Only a layout laid out anew merges: otherwise the snapshot's own map, looked up by key.
  if (current.read !== "absent") return remembered;
  const out = new Map<string, HostCounters>(remembered);
  for (const [key, c] of rt.backend.carried?.() ?? []) {
    const f = out.get(key);
    out.set(key, f ? { rx: higherCounter(c.rx, f.rx), tx: higherCounter(c.tx, f.tx) } : c);
  }
  return out;
}

/** Counters a change created (new hosts, restored ones): the snapshot's baseline for them. */
function rememberCreated(rt: Runtime, hosts: readonly PlannedHost[]): void {
  if (!rt.remember) return;
  const created: CountedHost[] = [];
  for (const h of hosts) if (h.counters !== "keep") created.push({ key: h.key, name: h.name, addresses: h.addresses, ...h.counters });
  if (created.length > 0) rt.remember(created, "some");
}

function mustPlanCounters(current: KernelState, hosts: Parameters<typeof planCounters>[1], floors?: Floors): PlannedHost[] {
  const planned = planCounters(current, hosts, floors);
  if (!planned) throw new Error("counters were not read for a plan that needs them");
  return planned;
}

/** What an event came to: applied (the hosts after it: all, or those of a scoped read), or nothing to do, and why. */
export type EventOutcome = { kind: "applied"; hosts: PlannedHost[] } | { kind: "ignored"; reason: string };

/**
 * Whether iptmon's objects are gone (a firewall flush, a stop): then an
 * event rebuilds everything rather than leave every other host uncounted.
 */
function lost(s: KernelState): boolean {
  return s.read === "absent" || (s.read === "full" && !s.complete && s.hosts.length === 0);
}

/**
 * One host event. The backend reads the least that can serve it: the hosts
 * the event touches, looked up by key (a MAC's event, where the backend
 * can), else the maps only; planning asks for the full read when it needs
 * more (a renamed host's counters, a host with no MAC).
 */
export function runEvent(rt: Runtime, ev: HostEvent): EventOutcome {
  if (!rt.cfg.enabled) return ignored(rt, ev.address, `iptmon is disabled (option enabled '0' in ${rt.cfg.file})`);
  return withLock(rt, () => {
    const b = rt.backend;
    const k = loadKnowledge(rt);
    const key = resolveEventKey(ev, k);
    if (key === null) return ignored(rt, ev.address, `no MAC or DUID is known for ${ev.address} (the next lease event or init finds it)`);
    const scoped = macOf(key) && b.readScope ? b.readScope(eventScope(ev, key, k)) : null;
    if (scoped?.read === "scoped") {
      const plan = planEvent(scoped, ev, key, k, () => floorsOf(rt, scoped));
      if (plan.kind === "ignore") return ignored(rt, ev.address, plan.reason);
      if (plan.kind === "change") {
        // A host about to go takes its counters with it: the scoped read has them.
        const stay = new Set(plan.hosts.map((h) => h.name));
        const gone = scoped.hosts.filter((h) => !stay.has(h.name));
        if (gone.length > 0) rt.remember?.(gone, "some");
        applyChange(rt, b.plan(scoped, plan.hosts, { rebuild: false }));
        rememberCreated(rt, plan.hosts);
        return { kind: "applied", hosts: plan.hosts };
      }
    }
    let current = b.read(macOf(key) ? "event" : "full");
    if (lost(current)) return rebuildWith(rt, k, current, ev, key);
    if (current.read === "full") rt.remember?.(current.hosts, "all", current.split);
    const floors = () => floorsOf(rt, current);
    let plan = planEvent(current as Exclude<KernelState, { read: "absent" }>, ev, key, k, floors);
    if (plan.kind === "need-full") {
      current = b.read("full");
      if (lost(current)) return rebuildWith(rt, k, current, ev, key);
      if (current.read === "full") rt.remember?.(current.hosts, "all", current.split);
      plan = planEvent(current as FullState, ev, key, k, floors);
      if (plan.kind === "need-full") throw new Error(`a full read did not serve the event: ${plan.why}`);
    }
    if (plan.kind === "ignore") return ignored(rt, ev.address, plan.reason);
    // A host about to go takes its counters with it: the snapshot reads them first.
    if (rt.remember && current.read === "layout" && removesHost(current.hosts, plan.hosts)) {
      const last = b.read("full");
      if (last.read === "full") rt.remember(last.hosts, "all", last.split);
    }
    const complete = current.read !== "full" || current.complete;
    applyChange(rt, b.plan(current, plan.hosts, { rebuild: !complete }));
    rememberCreated(rt, plan.hosts);
    return { kind: "applied", hosts: plan.hosts };
  });
}

function removesHost(before: readonly LaidOutHost[], after: readonly PlannedHost[]): boolean {
  const names = new Set(after.map((h) => h.name));
  return before.some((h) => !names.has(h.name));
}

/** Everything known, with the event on top, declared anew. */
function rebuildWith(rt: Runtime, k: Knowledge, current: KernelState, ev: HostEvent, key: string): EventOutcome {
  splitAnewIfAbsent(rt, current);
  const base = planInit(k, []);
  // Nothing of iptmon's is left to count from: every host starts anew.
  const rebuilt: FullState = { ...EMPTY_STATE, hosts: base.map((h) => ({ ...h, rx: zeroCounter(), tx: zeroCounter() })) };
  const plan = planEvent(rebuilt, ev, key, k);
  const hosts = plan.kind === "change" ? plan.hosts.map(({ key, name, addresses }) => ({ key, name, addresses })) : base;
  const desired = mustPlanCounters(current, hosts, () => floorsOf(rt, current));
  applyChange(rt, rt.backend.plan(current, desired, { rebuild: true }));
  rememberCreated(rt, desired);
  return { kind: "applied", hosts: desired };
}

/** An event that changes nothing, and why (a warning; events keep "nothing to change" out of syslog). */
function ignored(rt: Runtime, subject: string, reason: string): EventOutcome {
  rt.warn(`nothing to change for ${subject}: ${reason}`);
  return { kind: "ignored", reason };
}

/**
 * A network device appeared (a wifi interface restarted, a USB adapter): if
 * iptmon counts on it, its layout is declared again so the device is hooked.
 * Every host and counter stays as it is.
 */
export function runDeviceEvent(rt: Runtime, action: "add" | "remove", device: string): EventOutcome {
  const none = (reason: string) => ignored(rt, `device ${device}`, reason);
  if (!rt.cfg.enabled) return none(`iptmon is disabled (option enabled '0' in ${rt.cfg.file})`);
  // A device that goes leaves its hooks with it.
  if (action === "remove") return none("a device that goes needs no change");
  const b = rt.backend;
  if (!b.countsOn) return none("iptmon does not count at the LAN ports here");
  return withLock(rt, () => {
    if (!b.countsOn!(device)) return none("not a LAN port");
    const current = b.read("full");
    if (current.read === "absent") return none("iptmon's table is not there ('iptmon init' builds it)");
    const desired = mustPlanCounters(current, current.hosts);
    applyChange(rt, b.plan(current, desired, { rebuild: true }));
    return { kind: "applied", hosts: desired };
  });
}

/**
 * A logical network came up or changed (netifd: a new delegated prefix, a
 * WAN address): when it is one of the LAN's, or iptmon counts at the ports
 * (whose layout holds the router's addresses), the LAN is scoped again by a
 * rebuild that keeps every counter. Nothing is built where iptmon's table is
 * not there (stopped, disabled).
 */
export function runIfaceEvent(rt: Runtime, action: string, network: string): EventOutcome {
  const none = (reason: string) => ignored(rt, `network ${network}`, reason);
  if (!rt.cfg.enabled) return none(`iptmon is disabled (option enabled '0' in ${rt.cfg.file})`);
  if (action !== "ifup" && action !== "ifupdate") return none(`${action} changes no LAN subnet`);
  const lanNetworks = rt.cfg.networks.length ? rt.cfg.networks : ["lan"];
  if (!lanNetworks.includes(network) && rt.backend.hook !== "ports") return none(`not a LAN network (${lanNetworks.join(", ")})`);
  if (rt.backend.read("event").read === "absent") return none("iptmon's table is not there ('iptmon init' builds it)");
  const r = runInit(rt, "apply");
  return { kind: "applied", hosts: r.hosts };
}

/** Removes everything, after the snapshot took the last counters and went to persistent storage. */
export function runStop(rt: Runtime): void {
  withLock(rt, () => {
    if (rt.remember) readHosts(rt);
    rt.persist?.();
    rt.changing?.();
    rt.backend.remove();
  });
}

/**
 * Every host with its counters, as the kernel has them now. The snapshot
 * takes them too, under the lock: a sample read before another run's newer
 * one but saved after it would look like counters that went back (a reset)
 * and count a host's whole total again as usage.
 */
export function readHosts(rt: Runtime): FullState["hosts"] {
  const read = () => {
    const s = rt.backend.read("full");
    if (s.read !== "full") return [];
    if (rt.remember) {
      rt.remember(s.hosts, "all", s.split);
      rt.backend.pruneSplit?.(s);
    }
    return s.hosts;
  };
  return rt.remember ? withLock(rt, read) : read();
}
