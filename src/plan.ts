/**
 * Plan: the desired hosts, from everything known (init) or from what the
 * kernel holds plus one event. Pure: no IO of its own (a scoped read's
 * lookups come with the state), so every rule here is unit-tested.
 */
import { parseAddress, parseMac, type Address } from "./addr.ts";
import type { HostConfig } from "./config.ts";
import { notLanReason, type Lan } from "./lan.ts";
import {
  compareAddresses,
  macOf,
  nameFromAddresses,
  sanitizeName,
  sortAddresses,
  sortHosts,
  uniqueName,
  zeroCounter,
  type Counter,
  type EventScope,
  type Host,
  type HostCounters,
  type KernelState,
  type LaidOutHost,
  type PlannedHost,
} from "./model.ts";
import type { HostsEntry } from "./sources/hostsfile.ts";
import type { Lease } from "./sources/leases.ts";
import type { Neighbour } from "./sources/neigh.ts";
import type { StaticLease } from "./sources/ucidhcp.ts";

export interface Knowledge {
  configHosts: HostConfig[];
  staticLeases: StaticLease[];
  hostsEntries: HostsEntry[];
  leases: Lease[];
  neighbours: Neighbour[];
  domain: string | null;
  lan: Lan;
}

export type EventAction = "add" | "del";

export interface HostEvent {
  action: EventAction;
  /** dhcp: a lease event (carries the hostname); neigh: a neighbour appeared/vanished. */
  source: "dhcp" | "neigh";
  /** The host's MAC; null for a DHCPv6 event whose host must be found from `duid` (see resolveEventKey). */
  key: string | null;
  duid?: string;
  address: string;
  /** The DHCP hostname: a string, null for "the lease has none", undefined for "this event does not say". */
  hostname?: string | null;
}

/** Keys and static names come from config, so sanitise them the same way. */
function staticKey(name: string, domain: string | null): string | null {
  const n = sanitizeName(name, domain);
  return n ? `host:${n}` : null;
}

class Lookup {
  readonly ignored = new Set<string>();
  readonly configName = new Map<string, string>();
  readonly staticAddrs = new Map<string, string[]>();
  readonly staticLeaseName = new Map<string, string>();
  private hostsNames: Map<string, string> | undefined;
  private leaseNames: Map<string, string> | undefined;
  private newest: Lease[] | undefined;
  private neighbourMac: Map<string, string> | undefined;

  /**
   * The name a host has in the kernel, used when no source names it any more
   * (a hostname dnsmasq refused and left out of its lease file).
   */
  readonly currentName: Map<string, string>;
  private readonly currentOwner = new Map<string, string>();

  /**
   * `ownerProbe`: who holds an address the current hosts do not show (a
   * scoped read's lookup in the kernel); without it, nobody does.
   */
  constructor(
    readonly k: Knowledge,
    current: readonly LaidOutHost[],
    private readonly ownerProbe?: (address: string) => string | null,
  ) {
    this.currentName = new Map();
    for (const h of current) {
      if (h.key === null) continue;
      this.currentName.set(h.key, h.name);
      for (const a of h.addresses) this.currentOwner.set(a, h.key);
    }
    const add = (key: string, a: string) => this.staticAddrs.set(key, [...(this.staticAddrs.get(key) ?? []), a]);
    for (const h of k.configHosts) {
      const key = h.mac ?? (h.name ? staticKey(h.name, k.domain) : null);
      if (!key) continue;
      if (h.ignore) {
        this.ignored.add(key);
        continue;
      }
      const name = sanitizeName(h.name, k.domain);
      if (name) this.configName.set(key, name);
      for (const a of h.addresses) add(key, a);
    }
    for (const s of k.staticLeases) {
      const mac = s.macs[0];
      if (!mac) continue;
      const name = sanitizeName(s.name, k.domain);
      for (const m of s.macs) if (name && !this.staticLeaseName.has(m)) this.staticLeaseName.set(m, name);
      if (s.address) add(mac, s.address);
    }
  }

  /** Hosts-file names by address; built (and the files read) on first use, since most events never ask. */
  get hostsName(): Map<string, string> {
    if (!this.hostsNames) {
      this.hostsNames = new Map();
      for (const e of this.k.hostsEntries) {
        if (this.hostsNames.has(e.address)) continue;
        for (const n of e.names) {
          const name = sanitizeName(n, this.k.domain);
          if (name) {
            this.hostsNames.set(e.address, name);
            break;
          }
        }
      }
    }
    return this.hostsNames;
  }

  /** The leases, newest first: the newest says who holds an address, and its hostname is the current one. */
  get newestLeases(): Lease[] {
    return (this.newest ??= [...this.k.leases].sort((a, b) => b.expires - a.expires));
  }

  /** DHCP hostnames by host key; built on first use, since most events never ask. */
  get leaseName(): Map<string, string> {
    if (!this.leaseNames) {
      this.leaseNames = new Map();
      for (const l of this.newestLeases) {
        // A lease with no usable name names nobody: its key is not looked for.
        const name = sanitizeName(l.hostname, this.k.domain);
        if (!name) continue;
        const key = l.mac ?? this.keyOfV6Lease(l);
        if (!this.leaseNames.has(key)) this.leaseNames.set(key, name);
      }
    }
    return this.leaseNames;
  }

  /** The address, parsed, where it may be a LAN host's. */
  lanAddress(text: string): Address | null {
    const a = parseAddress(text);
    return a && notLanReason(this.k.lan, a) === null ? a : null;
  }

  lanOk(text: string): string | null {
    return this.lanAddress(text)?.text ?? null;
  }

  /** A DHCPv6 lease is keyed by the MAC that uses its address, if any is known. */
  keyOfV6Lease(l: Lease): string {
    // Whoever holds the address now keeps it, so init and events agree.
    const owner = this.currentOwner.get(l.address) ?? this.ownerProbe?.(l.address);
    if (owner) return owner;
    if (!this.neighbourMac) {
      this.neighbourMac = new Map();
      for (const n of this.k.neighbours) if (n.mac && !this.neighbourMac.has(n.address)) this.neighbourMac.set(n.address, n.mac);
    }
    return this.neighbourMac.get(l.address) ?? keyForDuid(l.duid ?? "unknown");
  }

  /** The name config, DHCP or a static lease gives a host: the steps of baseName that need no address. */
  givenName(key: string, dhcpName: string | null | undefined): string | null {
    return this.configName.get(key) ?? (dhcpName ? sanitizeName(dhcpName, this.k.domain) : null) ?? this.staticLeaseName.get(key) ?? null;
  }

  /** The hosts-file name of the first of `addresses` that has one. */
  private hostsNameOf(addresses: readonly string[]): string | undefined {
    for (const a of addresses) {
      const n = this.hostsName.get(a);
      if (n !== undefined) return n;
    }
    return undefined;
  }

  /** Name, in order: iptmon's config, the DHCP hostname, UCI static lease, hosts files, the address. */
  baseName(key: string, addresses: string[], dhcpName: string | null | undefined): string {
    return (
      this.givenName(key, dhcpName) ??
      this.hostsNameOf(addresses) ??
      (key.startsWith("host:") ? key.slice(5) : null) ??
      // null: the lease lost its name (to a newer client), so the old one goes.
      (dhcpName === null ? null : this.currentName.get(key)) ??
      nameFromAddresses(addresses)
    );
  }
}

/** The MAC inside a DUID-LLT or DUID-LL of an Ethernet client, else a DUID key. */
export function keyForDuid(duid: string): string {
  const b = duid.split(":");
  const type = b.slice(0, 2).join(":");
  const hw = b.slice(2, 4).join(":");
  if (hw === "00:01") {
    const mac = type === "00:01" && b.length === 14 ? b.slice(8).join(":") : type === "00:03" && b.length === 10 ? b.slice(4).join(":") : null;
    const m = mac ? parseMac(mac) : null;
    if (m) return m;
  }
  return `duid:${b.join("").slice(0, 100)}`;
}

/** Keeps a host's current name while it still derives from the same base (`android-2` stays). */
function keepsName(current: string | undefined, base: string): boolean {
  if (!current) return false;
  if (current === base) return true;
  const m = /^(.*)-(\d+)$/.exec(current);
  return m !== null && base.startsWith(m[1]!) && m[1]!.length >= Math.min(base.length, 63 - m[2]!.length - 1);
}

interface UnnamedHost {
  key: string;
  base: string;
  addresses: string[];
}

function assignNames(hosts: UnnamedHost[], current: readonly LaidOutHost[]): Host[] {
  const curName = new Map<string, string>();
  for (const h of current) if (h.key !== null) curName.set(h.key, h.name);
  const taken = new Set<string>();
  const named: Host[] = [];
  const rest: UnnamedHost[] = [];
  // Hosts that keep their current name go first, so a newcomer never steals it.
  for (const h of hosts) {
    const c = curName.get(h.key);
    if (c && keepsName(c, h.base) && !taken.has(c.toLowerCase())) {
      taken.add(c.toLowerCase());
      named.push({ key: h.key, name: c, addresses: h.addresses });
    } else rest.push(h);
  }
  for (const h of rest.sort((a, b) => (a.key < b.key ? -1 : 1))) {
    const name = uniqueName(h.base, taken);
    taken.add(name.toLowerCase());
    named.push({ key: h.key, name, addresses: h.addresses });
  }
  return sortHosts(named);
}

/** Every known host, from leases, neighbours, static leases, hosts files and config. */
export function planInit(k: Knowledge, current: readonly LaidOutHost[]): Host[] {
  const L = new Lookup(k, current);
  // Each address goes to the first source that claims it; a host's addresses are kept parsed for the sort below.
  const claimed = new Set<string>();
  const byKey = new Map<string, Address[]>();
  const claim = (key: string | null, text: string | null) => {
    if (!key || !text || L.ignored.has(key)) return;
    const a = L.lanAddress(text);
    if (!a || claimed.has(a.text)) return;
    claimed.add(a.text);
    const list = byKey.get(key);
    if (list) list.push(a);
    else byKey.set(key, [a]);
  };
  for (const [key, addrs] of L.staticAddrs) if (!key.startsWith("host:")) for (const a of addrs) claim(key, a);
  for (const l of L.newestLeases) claim(l.mac ?? L.keyOfV6Lease(l), l.address);
  for (const n of k.neighbours) claim(n.mac, n.address);
  for (const [key, addrs] of L.staticAddrs) if (key.startsWith("host:")) for (const a of addrs) claim(key, a);
  for (const e of k.hostsEntries) {
    const name = L.hostsName.get(e.address);
    claim(name ? `host:${name}` : null, e.address);
  }
  const hosts: UnnamedHost[] = [];
  for (const [key, list] of byKey) {
    const addresses = list.sort(compareAddresses).map((a) => a.text);
    hosts.push({ key, addresses, base: L.baseName(key, addresses, L.leaseName.get(key)) });
  }
  return assignNames(hosts, current);
}

/**
 * The key of the host an event is about: its MAC, else (a DHCPv6 event that
 * carries only the client's DUID, or nothing at all) the MAC the neighbour
 * table has for the address, else the one inside the DUID (the event's, or
 * the lease file's for that address), else the DUID itself. Null when nothing
 * names the host.
 */
export function resolveEventKey(ev: HostEvent, k: Pick<Knowledge, "neighbours" | "leases">): string | null {
  if (ev.key) return ev.key;
  const text = parseAddress(ev.address)?.text;
  const n = k.neighbours.find((x) => x.address === text && x.mac);
  if (n?.mac) return n.mac;
  const duid = ev.duid ?? k.leases.find((l) => l.address === text && l.duid)?.duid;
  return duid ? keyForDuid(duid) : null;
}

/** What an event comes to: a change, a read of more of the kernel first, or nothing (and why). */
export type EventPlan =
  | { kind: "change"; hosts: PlannedHost[] }
  | { kind: "need-full"; why: string }
  | { kind: "ignore"; reason: string };

/**
 * How every planned host's counters come about: kept where the host already
 * has counters under that name; otherwise created, carrying a renamed host's
 * numbers over (which needs them read: null when `current` has none).
 * `floors` are totals a host must not fall below (a snapshot of its
 * counters, or what another placement counted): a new host starts from its
 * floor, and a counter found lower than its floor (a flush, a restart) is
 * created anew from it. Floors are only compared with counters a full read saw.
 */
export type Floors = ReadonlyMap<string, HostCounters> | (() => ReadonlyMap<string, HostCounters>);

export function planCounters(current: KernelState, hosts: readonly LaidOutHost[], floorsIn?: Floors): PlannedHost[] | null {
  // Looked up only for a host whose counters are created or compared.
  let floors: ReadonlyMap<string, HostCounters> | undefined;
  const floorOf = (key: string) => {
    floors ??= typeof floorsIn === "function" ? floorsIn() : (floorsIn ?? new Map());
    return floors.get(key);
  };
  const curHosts = current.read === "absent" ? [] : current.hosts;
  const byKey = new Map<string, (typeof curHosts)[number]>();
  const byName = new Map<string, (typeof curHosts)[number]>();
  for (const h of curHosts) {
    if (h.key !== null) byKey.set(h.key, h);
    byName.set(h.name, h);
  }
  const full = current.read === "full" ? new Map(current.hosts.map((h) => [h.key, h])) : null;
  const out: PlannedHost[] = [];
  for (const h of hosts) {
    const cur = h.key === null ? byName.get(h.name) : byKey.get(h.key);
    const counted = h.key === null ? undefined : full?.get(h.key);
    const same = cur !== undefined && cur.name === h.name;
    const floor = h.key === null || (same && !counted) ? undefined : floorOf(h.key);
    if (same && !(floor && counted && below(counted, floor))) {
      out.push({ ...h, counters: "keep" });
      continue;
    }
    if (h.key === null) throw new Error(`host ${h.name} has neither a key nor counters`);
    if (cur && !counted) return null;
    const start = counted ? { rx: higherCounter(counted.rx, floor?.rx), tx: higherCounter(counted.tx, floor?.tx) } : floor ?? { rx: zeroCounter(), tx: zeroCounter() };
    out.push({ ...h, key: h.key, counters: { rx: { ...start.rx }, tx: { ...start.tx } } });
  }
  return out;
}

/** Of a counter and a floor for it, the one with more bytes (the counter on a tie). */
export const higherCounter = (a: Counter, b: Counter | undefined): Counter => (b && b.bytes > a.bytes ? b : a);
const below = (c: HostCounters, floor: HostCounters) => c.rx.bytes < floor.rx.bytes || c.tx.bytes < floor.tx.bytes;

/**
 * The addresses an event may take or give up (its own; for an `add` also what
 * the neighbour table and config give its MAC), so a scoped read looks up
 * just those. planEvent asks for the full read if it reaches past them.
 */
export function eventScope(event: HostEvent, key: string, k: Knowledge): EventScope {
  const L = new Lookup(k, []);
  const out = new Set<string>();
  const own = L.lanOk(event.address);
  if (own) out.add(own);
  if (event.action === "add" && own) {
    const more = [...k.neighbours.flatMap((n) => (n.mac === key ? [n.address] : [])), ...(L.staticAddrs.get(key) ?? [])];
    for (const text of more) {
      const a = L.lanOk(text);
      if (a) out.add(a);
    }
  }
  return { key, addresses: [...out] };
}

/**
 * The hosts after one event: the kernel's current hosts, changed only where
 * the event says. `key` is the event's resolved host key. Against a scoped
 * read the result is the scoped hosts after the event (the others stay as
 * they are); where that would take knowledge the read did not get (a host
 * renamed or removed with addresses it did not list), the plan asks for the
 * full read.
 */
/** How many addresses outside its scope an event looks up before it takes the full read instead. */
const OWNER_PROBES = 32;

export function planEvent(current: Exclude<KernelState, { read: "absent" }>, event: HostEvent, key: string, k: Knowledge, floors?: Floors): EventPlan {
  const scoped = current.read === "scoped" ? current : null;
  const inScope = new Set(scoped?.addresses);
  /** Set when the plan needs what a scoped read did not see. */
  let beyond: string | null = null;
  // Who holds an address outside the scope (a DHCPv6 lease's, for its name),
  // one kernel lookup each: a few are cheap, a lease file's worth is the full read's job.
  const probed = new Map<string, string | null>();
  const probe = (a: string): string | null => {
    if (inScope.has(a)) return null;
    let owner = probed.get(a);
    if (owner === undefined) {
      if (probed.size >= OWNER_PROBES) {
        beyond ??= `more than ${OWNER_PROBES} DHCPv6 leases to attribute`;
        return null;
      }
      owner = scoped!.ownerKey(a);
      probed.set(a, owner);
    }
    return owner;
  };
  const L = new Lookup(k, current.hosts, scoped ? probe : undefined);
  // Whether a host the read could not key is this one: only a full read says.
  if (!macOf(key) && current.hosts.some((h) => h.key === null)) return { kind: "need-full", why: `the event's host ${key} has no MAC` };
  const parsed = parseAddress(event.address);
  const address = L.lanOk(event.address);
  if (!address) return { kind: "ignore", reason: (parsed ? notLanReason(k.lan, parsed) : null) ?? `not an address: ${event.address}` };
  type Entry = { key: string | null; addresses: Set<string>; unseen: number; name?: string; base?: string; touched?: boolean; gone?: boolean };
  const entries: Entry[] = [];
  const byKey = new Map<string, Entry>();
  const owner = new Map<string, Entry>();
  for (const h of current.hosts) {
    const e: Entry = { key: h.key, addresses: new Set(h.addresses), unseen: "unseen" in h ? h.unseen : 0, name: h.name };
    entries.push(e);
    if (h.key !== null) byKey.set(h.key, e);
    for (const a of h.addresses) owner.set(a, e);
  }
  const remove = (e: Entry) => {
    if (e.unseen > 0) beyond ??= `host ${e.name} goes with addresses the scoped read did not list`;
    e.gone = true;
    if (e.key !== null) byKey.delete(e.key);
  };
  const outOfScope = (a: string) => {
    if (!scoped || inScope.has(a)) return false;
    beyond ??= `${a} is outside the scoped read`;
    return true;
  };

  if (L.ignored.has(key)) {
    const h = byKey.get(key);
    if (!h) return { kind: "ignore", reason: `${key} is ignored by config (option ignore)` };
    remove(h);
  } else if (event.action === "add") {
    const existing = byKey.get(key);
    const target: Entry = existing ?? { key, addresses: new Set<string>(), unseen: 0 };
    if (!existing) {
      entries.push(target);
      byKey.set(key, target);
    }
    target.touched = true;
    const take = (a: string, force: boolean) => {
      if (outOfScope(a)) return;
      const o = owner.get(a);
      if (o && o !== target) {
        if (!force) return;
        o.addresses.delete(a);
        o.touched = true;
        if (o.addresses.size + o.unseen === 0) remove(o);
      }
      target.addresses.add(a);
      owner.set(a, target);
    };
    take(address, true);
    // SLAAC addresses reach dnsmasq's arp events minutes late, so a lease
    // event also picks up what the neighbour table knows of this MAC.
    // Only IPv6 ones are taken from another host: a stale IPv4 entry must
    // not steal an address a lease now gives someone else.
    for (const n of k.neighbours) if (n.mac === key) {
      const a = L.lanOk(n.address);
      if (a) take(a, n.family === 6);
    }
    for (const s of L.staticAddrs.get(key) ?? []) {
      const a = L.lanOk(s);
      if (a) take(a, false);
    }
    // An event that says nothing of the name never renames a host it finds.
    if (!(existing && (event.source === "neigh" || event.hostname === undefined))) {
      const dhcpName = event.source === "dhcp" && event.hostname !== undefined ? event.hostname : L.leaseName.get(key);
      // A name from the addresses needs all of them.
      if (target.unseen > 0 && L.givenName(key, dhcpName) === null) beyond ??= `the name of ${key} may come from addresses the scoped read did not list`;
      const base = L.baseName(key, sortAddresses(target.addresses), dhcpName);
      if (!keepsName(target.name, base)) target.name = undefined;
      target.base = base;
    }
  } else {
    const h = byKey.get(key);
    if (!h || !h.addresses.has(address)) return { kind: "ignore", reason: `${address} is not tracked for ${key}` };
    const statics = new Set((L.staticAddrs.get(key) ?? []).map((s) => L.lanOk(s)));
    if (statics.has(address)) return { kind: "ignore", reason: `${address} is a static address of ${key} in config` };
    // A neighbour entry that goes (a phone asleep) does not end a lease that
    // still holds the address: only DHCP's own `del` (or expiry) does.
    if (event.source === "neigh" && k.leases.some((l) => l.address === address && (l.mac ?? L.keyOfV6Lease(l)) === key))
      return { kind: "ignore", reason: `${address} is still leased to ${key}` };
    h.addresses.delete(address);
    h.touched = true;
    if (h.addresses.size + h.unseen === 0) remove(h);
  }
  if (beyond) return { kind: "need-full", why: beyond };

  const live = entries.filter((e) => !e.gone);
  // Names are unique ignoring case: among the hosts here, and (a scoped read)
  // against every other host in the kernel; a scoped host that goes frees its name.
  const here = new Set<string>();
  for (const h of live) if (h.name) here.add(h.name.toLowerCase());
  const read = new Set(current.hosts.map((h) => h.name.toLowerCase()));
  const taken = { has: (n: string) => here.has(n) || (scoped !== null && !read.has(n) && scoped.nameTaken(n)) };
  const out: LaidOutHost[] = [];
  for (const h of live) {
    let name = h.name;
    if (!name) {
      name = uniqueName(h.base ?? nameFromAddresses(sortAddresses(h.addresses)), taken);
      here.add(name.toLowerCase());
    }
    out.push({ key: h.key, name, addresses: h.touched ? sortAddresses(h.addresses) : [...h.addresses] });
  }
  const planned = planCounters(current, sortHosts(out), floors);
  return planned ? { kind: "change", hosts: planned } : { kind: "need-full", why: "a renamed host carries its counters over" };
}
