/**
 * Plan: the desired hosts, from everything known (init) or from what the
 * kernel holds plus one event. Pure: no IO, so every rule here is unit-tested.
 */
import { parseAddress, parseMac } from "./addr.ts";
import type { HostConfig } from "./config.ts";
import { notLanReason, type Lan } from "./lan.ts";
import { nameFromAddresses, sanitizeName, sortAddresses, sortHosts, uniqueName, type Applied, type Host } from "./model.ts";
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
  /** The host's MAC; empty for a DHCPv6 event whose MAC must be found from `duid`. */
  key: string;
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
  readonly hostsName = new Map<string, string>();
  private leaseNames: Map<string, string> | undefined;
  private neighbourMac: Map<string, string> | undefined;

  /**
   * The name a host has in the kernel, used when no source names it any more
   * (a hostname dnsmasq refused and left out of its lease file).
   */
  readonly currentName: Map<string, string>;
  private readonly currentOwner = new Map<string, string>();

  constructor(readonly k: Knowledge, current: Applied) {
    this.currentName = new Map(current.hosts.map((h) => [h.key, h.name]));
    for (const h of current.hosts) for (const a of h.addresses) this.currentOwner.set(a, h.key);
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
    for (const e of k.hostsEntries) {
      if (this.hostsName.has(e.address)) continue;
      for (const n of e.names) {
        const name = sanitizeName(n, k.domain);
        if (name) {
          this.hostsName.set(e.address, name);
          break;
        }
      }
    }
  }

  /** DHCP hostnames by host key; built on first use, since most events never ask. */
  get leaseName(): Map<string, string> {
    if (!this.leaseNames) {
      this.leaseNames = new Map();
      // Newest lease first: its hostname is the current one.
      for (const l of [...this.k.leases].sort((a, b) => b.expires - a.expires)) {
        const name = sanitizeName(l.hostname, this.k.domain);
        const key = l.mac ?? this.keyOfV6Lease(l);
        if (name && !this.leaseNames.has(key)) this.leaseNames.set(key, name);
      }
    }
    return this.leaseNames;
  }

  lanOk(text: string): string | null {
    const a = parseAddress(text);
    return a && notLanReason(this.k.lan, a) === null ? a.text : null;
  }

  /** A DHCPv6 lease is keyed by the MAC that uses its address, if any is known. */
  keyOfV6Lease(l: Lease): string {
    // Whoever holds the address now keeps it, so init and events agree.
    const owner = this.currentOwner.get(l.address);
    if (owner && !owner.startsWith("?")) return owner;
    if (!this.neighbourMac) {
      this.neighbourMac = new Map();
      for (const n of this.k.neighbours) if (n.mac && !this.neighbourMac.has(n.address)) this.neighbourMac.set(n.address, n.mac);
    }
    return this.neighbourMac.get(l.address) ?? keyForDuid(l.duid ?? "unknown");
  }

  /** Name, in order: iptmon's config, the DHCP hostname, UCI static lease, hosts files, the address. */
  baseName(key: string, addresses: string[], dhcpName: string | null | undefined): string {
    return (
      this.configName.get(key) ??
      (dhcpName ? sanitizeName(dhcpName, this.k.domain) : null) ??
      this.staticLeaseName.get(key) ??
      addresses.map((a) => this.hostsName.get(a)).find((n) => n !== undefined) ??
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

function assignNames(hosts: { key: string; base: string; addresses: string[] }[], current: Applied): Host[] {
  const curName = new Map(current.hosts.map((h) => [h.key, h.name]));
  const taken = new Set<string>();
  const named: Host[] = [];
  const rest: typeof hosts = [];
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
export function planInit(k: Knowledge, current: Applied): Host[] {
  const L = new Lookup(k, current);
  const owner = new Map<string, string>();
  const claim = (key: string | null, text: string | null) => {
    if (!key || !text || L.ignored.has(key)) return;
    const a = L.lanOk(text);
    if (a && !owner.has(a)) owner.set(a, key);
  };
  for (const [key, addrs] of L.staticAddrs) if (!key.startsWith("host:")) for (const a of addrs) claim(key, a);
  for (const l of [...k.leases].sort((a, b) => b.expires - a.expires)) claim(l.mac ?? L.keyOfV6Lease(l), l.address);
  for (const n of k.neighbours) claim(n.mac, n.address);
  for (const [key, addrs] of L.staticAddrs) if (key.startsWith("host:")) for (const a of addrs) claim(key, a);
  for (const e of k.hostsEntries) {
    const name = L.hostsName.get(e.address);
    claim(name ? `host:${name}` : null, e.address);
  }
  const byKey = new Map<string, string[]>();
  for (const [a, key] of owner) byKey.set(key, [...(byKey.get(key) ?? []), a]);
  const hosts = [...byKey].map(([key, addrs]) => {
    const addresses = sortAddresses(addrs);
    return { key, addresses, base: L.baseName(key, addresses, L.leaseName.get(key)) };
  });
  return assignNames(hosts, current);
}

/**
 * The hosts after one event: the kernel's current hosts, changed only where the
 * event says. Returns null when the event concerns nothing iptmon tracks.
 */
export function planEvent(current: Applied, event: HostEvent, k: Knowledge): Host[] | null {
  const L = new Lookup(k, current);
  const ev = { ...event };
  if (!ev.key) {
    const text = parseAddress(ev.address)?.text;
    const n = k.neighbours.find((x) => x.address === text && x.mac);
    ev.key = n?.mac ?? keyForDuid(ev.duid ?? "unknown");
  }
  const address = L.lanOk(ev.address);
  if (!address) return null;
  type Entry = { key: string; addresses: Set<string>; name?: string; base?: string; touched?: boolean };
  const hosts = new Map<string, Entry>();
  const owner = new Map<string, Entry>();
  for (const h of current.hosts) {
    const e: Entry = { key: h.key, addresses: new Set(h.addresses), name: h.name };
    hosts.set(h.key, e);
    for (const a of h.addresses) owner.set(a, e);
  }
  const ownerOf = (a: string) => owner.get(a);

  if (L.ignored.has(ev.key)) {
    if (!hosts.delete(ev.key)) return null;
  } else if (ev.action === "add") {
    const take = (a: string, force: boolean) => {
      const o = ownerOf(a);
      if (o && o.key !== ev.key) {
        if (!force) return;
        o.addresses.delete(a);
        o.touched = true;
        if (o.addresses.size === 0) hosts.delete(o.key);
      }
      target.addresses.add(a);
      owner.set(a, target);
    };
    const existing = hosts.get(ev.key);
    const target: Entry = existing ?? { key: ev.key, addresses: new Set<string>() };
    target.touched = true;
    hosts.set(ev.key, target);
    take(address, true);
    // SLAAC addresses reach dnsmasq's arp events minutes late, so a lease
    // event also picks up what the neighbour table knows of this MAC.
    // Only IPv6 ones are taken from another host: a stale IPv4 entry must
    // not steal an address a lease now gives someone else.
    for (const n of k.neighbours) if (n.mac === ev.key) {
      const a = L.lanOk(n.address);
      if (a) take(a, n.family === 6);
    }
    for (const s of L.staticAddrs.get(ev.key) ?? []) {
      const a = L.lanOk(s);
      if (a) take(a, false);
    }
    // An event that says nothing of the name never renames a host it finds.
    if (!(existing && (ev.source === "neigh" || ev.hostname === undefined))) {
      const dhcpName = ev.source === "dhcp" && ev.hostname !== undefined ? ev.hostname : L.leaseName.get(ev.key);
      const base = L.baseName(ev.key, sortAddresses(target.addresses), dhcpName);
      if (!keepsName(target.name, base)) target.name = undefined;
      target.base = base;
    }
  } else {
    const h = hosts.get(ev.key);
    if (!h || !h.addresses.has(address)) return null;
    const statics = new Set((L.staticAddrs.get(ev.key) ?? []).map((s) => L.lanOk(s)));
    if (statics.has(address)) return null;
    // A neighbour entry that goes (a phone asleep) does not end a lease that
    // still holds the address: only DHCP's own `del` (or expiry) does.
    if (ev.source === "neigh" && k.leases.some((l) => l.address === address && (l.mac ?? L.keyOfV6Lease(l)) === ev.key)) return null;
    h.addresses.delete(address);
    h.touched = true;
    if (h.addresses.size === 0) hosts.delete(ev.key);
  }

  const taken = new Set<string>();
  for (const h of hosts.values()) if (h.name) taken.add(h.name.toLowerCase());
  const out: Host[] = [];
  for (const h of hosts.values()) {
    let name = h.name;
    if (!name) {
      name = uniqueName(h.base ?? nameFromAddresses(sortAddresses(h.addresses)), taken);
      taken.add(name.toLowerCase());
    }
    out.push({ key: h.key, name, addresses: h.touched ? sortAddresses(h.addresses) : [...h.addresses] });
  }
  return sortHosts(out);
}
