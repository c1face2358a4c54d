/**
 * The pipeline every command shares: load → plan → render/apply, under one
 * lock. Backends and exporters plug in below; nothing here knows nft syntax.
 */
import type { Backend } from "./backends/backend.ts";
import type { Config } from "./config.ts";
import { DEFAULTS } from "./defaults.ts";
import { failure } from "./errors.ts";
import { parseAddress } from "./addr.ts";
import { notLanReason } from "./lan.ts";
import { zeroCounter, type Applied, type CountedHost, type Host } from "./model.ts";
import { planEvent, planInit, type HostEvent, type Knowledge } from "./plan.ts";
import { loadLan, loadLeases, loadNeighbours, loadOdhcpdLeases, loadStatic } from "./sources/load.ts";
import type { Lease } from "./sources/leases.ts";
import type { Sys } from "./sys.ts";

export interface Runtime {
  sys: Sys;
  cfg: Config;
  backend: Backend;
  warn(message: string): void;
}

export function withLock<T>(rt: Runtime, fn: () => T): T {
  let release: () => void;
  try {
    const wait = Number(rt.sys.env.IPTMON_LOCK_TIMEOUT_MS || NaN);
    release = rt.sys.lock(rt.cfg.lockfile, Number.isFinite(wait) && wait >= 0 ? wait : DEFAULTS.lockTimeoutMs);
  } catch (e) {
    throw failure(`cannot take lock ${rt.cfg.lockfile}: ${(e as Error).message}`, "another iptmon is still running");
  }
  try {
    return fn();
  } finally {
    release();
  }
}

/** Everything iptmon can know about hosts. */
export function loadKnowledge(rt: Runtime): Knowledge {
  const { sys, cfg } = rt;
  const st = loadStatic(sys, cfg);
  const lan = loadLan(sys, cfg);
  for (const w of [...st.warnings, ...lan.warnings, ...cfg.warnings]) rt.warn(w);
  let leases: Lease[] | undefined;
  return {
    configHosts: cfg.hosts,
    staticLeases: st.staticLeases,
    hostsEntries: st.hostsEntries,
    // Read on first use: an event that names its host never needs the file.
    get leases() {
      if (!leases) {
        const r = loadLeases(sys, st.leasefile, sys.now());
        for (const w of r.warnings) rt.warn(w);
        leases = [...r.leases, ...loadOdhcpdLeases(sys, st.odhcpdState)];
      }
      return leases;
    },
    neighbours: loadNeighbours(sys, cfg),
    domain: st.domain,
    lan,
  };
}

export interface InitResult {
  hosts: Host[];
  script: string;
}

/** Plans a full rebuild; `mode` says whether to apply it, check it, or only render it. */
export function runInit(rt: Runtime, mode: "apply" | "check" | "print"): InitResult {
  const go = () => {
    const current = rt.backend.read();
    const desired = planInit(loadKnowledge(rt), current);
    const opts = { rebuild: true };
    const script = rt.backend.render(current, desired, opts);
    if (mode === "apply") rt.backend.apply(current, desired, opts);
    if (mode === "check") rt.backend.check(current, desired, opts);
    return { hosts: desired, script };
  };
  return mode === "apply" ? withLock(rt, go) : go();
}

/**
 * One host event. When iptmon's objects are missing (a firewall flush), the
 * event rebuilds everything rather than leave every other host uncounted.
 */
export function runEvent(rt: Runtime, ev: HostEvent): Host[] | null {
  if (!rt.cfg.enabled) {
    rt.warn(`ignoring the event: iptmon is disabled (option enabled '0' in ${rt.cfg.file})`);
    return null;
  }
  return withLock(rt, () => {
    const k = loadKnowledge(rt);
    // An event for a MAC reads only the maps; objects laid out by an older
    // iptmon (null) are re-declared around the change.
    // A table with no maps is confirmed by a full read: its counters must
    // be seen before the rebuild re-declares them.
    const quick = ev.key ? rt.backend.readForEvent?.() : undefined;
    const rebuild = quick === null;
    let current = quick?.present ? quick : rt.backend.read();
    if (!current.present) {
      const base = planInit(k, current);
      const desired = planEvent({ present: true, hosts: base.map((h) => ({ ...h, rx: zeroCounter(), tx: zeroCounter() })) }, ev, k) ?? base;
      rt.backend.apply(current, desired, { rebuild: true });
      return desired;
    }
    let desired = planEvent(current, ev, k);
    if (desired && current.partial && renamesHost(current, desired)) {
      // A renamed host carries its numbers over: for that, read them.
      current = rt.backend.read();
      desired = planEvent(current, ev, k);
    }
    if (desired) rt.backend.apply(current, desired, { rebuild });
    else rt.warn(`nothing to change for ${ev.address}: ${explainIgnored(k, ev)}`);
    return desired;
  });
}

function renamesHost(current: Applied, desired: Host[]): boolean {
  const names = new Map(current.hosts.map((h) => [h.key, h.name]));
  return desired.some((h) => names.has(h.key) && names.get(h.key) !== h.name);
}

function explainIgnored(k: Knowledge, ev: HostEvent): string {
  const a = parseAddress(ev.address);
  const why = a ? notLanReason(k.lan, a) : null;
  return why ?? (ev.action === "del" ? "not tracked for that host" : "ignored by config");
}

export function runStop(rt: Runtime): void {
  withLock(rt, () => rt.backend.remove());
}

export function readHosts(rt: Runtime): Applied & { hosts: CountedHost[] } {
  return rt.backend.read();
}
