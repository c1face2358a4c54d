/**
 * The per-host split in nftables: a host's IPv6 and its traffic per service
 * class, counted by sets the datapath fills (`update @set { … }`, one
 * counter per element), so that an event creates nothing for it and costs
 * the same whatever the number of hosts and classes.
 *
 * An element's key is who and what: the host's MAC where `ports` counts the
 * host by MAC, else its address; then a number, 6 for all of its IPv6, or a
 * class's id (see serviceId). A rule cannot put a map's answer into a key,
 * so a class is found by a verdict map on the remote side's protocol and
 * port, which jumps to the class's own chain, whose one rule writes its id.
 * The same guards that decide whether a host's counter counts a packet
 * decide whether the split does (the router's own addresses, a host's map
 * entry), so the split counts exactly the packets the totals count.
 *
 * The elements count from when the kernel made them; what they grew by
 * between two samples is given to the host that has that MAC or address at
 * the sample (see src/split/record.ts). Nothing here is restored: a set
 * flushed with its table is made anew with a new handle, which tells the
 * sample its counters start from zero (SplitCount.gen). An element of no
 * host's counts nothing more, and goes after the sample that took its last
 * counts (staleSplit).
 */
import { parseAddress, parseMac } from "../../addr.ts";
import type { SplitCount } from "../../model.ts";
import { splitOwners } from "../../split/record.ts";
import { IPV6_ID, serviceId, type ServiceClass } from "../../split/services.ts";
import { type Dir, type Placement } from "./layout.ts";

export interface SplitOptions {
  family: boolean;
  /** The classes counted; empty: services are not split. */
  services: readonly ServiceClass[];
}

export const splitOn = (s: SplitOptions | null | undefined): s is SplitOptions => !!s && (s.family || s.services.length > 0);

/** Who an element counts for: `m` a MAC host (`ports`), `4`/`6` an address. */
export type HandleKind = "m" | "4" | "6";
export const KINDS: Record<Placement, readonly HandleKind[]> = { ports: ["m", "4", "6"], forward: ["4", "6"] };

const SET_TYPE: Record<HandleKind, string> = { m: "ether_addr . mark", 4: "ipv4_addr . mark", 6: "ipv6_addr . mark" };
const HANDLE: Record<Dir, Record<HandleKind, string>> = {
  rx: { m: "ether saddr", 4: "ip saddr", 6: "ip6 saddr" },
  tx: { m: "ether daddr", 4: "ip daddr", 6: "ip6 daddr" },
};
/** The remote side's port: where a host's packet goes, where a packet to it comes from. */
const REMOTE_PORT: Record<Dir, string> = { rx: "th dport", tx: "th sport" };
/** The map that tells whether a host is counted by this handle (see layout.ts). */
const GUARD: Record<Dir, Record<HandleKind, string>> = {
  rx: { m: "keys", 4: "rx4", 6: "rx6" },
  tx: { m: "txkeys", 4: "tx4", 6: "tx6" },
};

/** Enough for every host's classes at thousands of hosts; an element costs memory only once made. */
export const SPLIT_SET_SIZE = 262144;

export const splitSet = (dir: Dir, k: HandleKind) => `split_${dir}_${k}`;
export const serviceMap = (dir: Dir, k: HandleKind) => `svc_${dir}_${k}`;
export const hex8 = (n: number) => n.toString(16).padStart(8, "0");
export const classChain = (dir: Dir, k: HandleKind, id: number) => `svc_${dir}_${k}_${hex8(id)}`;
export const CLASS_CHAIN = /^svc_(rx|tx)_[m46]_[0-9a-f]{8}$/;

/** Every split set and map a placement can have, with its declaration (to add then delete, whether or not it is there). */
export function splitObjects(p: Placement): { kind: "set" | "map"; name: string; decl: string }[] {
  const out: { kind: "set" | "map"; name: string; decl: string }[] = [];
  for (const dir of ["rx", "tx"] as const)
    for (const k of KINDS[p]) {
      out.push({ kind: "map", name: serviceMap(dir, k), decl: "{ type inet_proto . inet_service : verdict; flags interval; }" });
      out.push({ kind: "set", name: splitSet(dir, k), decl: `{ type ${SET_TYPE[k]}; flags dynamic; counter; size ${SPLIT_SET_SIZE}; }` });
    }
  return out;
}

/** The split's sets and maps, for the table block. */
export function declareSplitObjects(p: Placement, s: SplitOptions, out: string[]): void {
  for (const o of splitObjects(p)) if (o.kind === "set" || s.services.length > 0) out.push(`\t${o.kind} ${o.name} ${o.decl}`);
}

/**
 * After the table block, before the rules that use them: each class's chain
 * and the verdict maps that lead to them, refilled whole. `stale` are class
 * chains the table has that this layout does not (a class removed); with the
 * split off (`s` null) its sets and maps go too, where `present` says the
 * table has them.
 */
export function fillSplit(t: string, p: Placement, s: SplitOptions | null, stale: readonly string[], present: boolean, out: string[]): void {
  const on = splitOn(s);
  const objects = splitObjects(p);
  const maps = objects.filter((o) => o.kind === "map");
  // Maps first: a chain an element jumps to cannot be deleted.
  if (on && s.services.length > 0) for (const m of maps) out.push(`flush map ${t} ${m.name}`);
  else if (present) for (const m of maps) out.push(`add map ${t} ${m.name} ${m.decl}`, `delete map ${t} ${m.name}`);
  const want = new Set<string>();
  if (on) for (const dir of ["rx", "tx"] as const) for (const k of KINDS[p]) for (const c of s.services) want.add(classChain(dir, k, c.id));
  for (const c of stale) {
    if (!CLASS_CHAIN.test(c)) throw new Error(`not a class chain reached the nft renderer: ${JSON.stringify(c)}`);
    if (!want.has(c)) out.push(`delete chain ${t} ${c}`);
  }
  if (!on) {
    if (present) for (const o of objects) if (o.kind === "set") out.push(`add set ${t} ${o.name} ${o.decl}`, `delete set ${t} ${o.name}`);
    return;
  }
  if (s.services.length === 0) return;
  for (const dir of ["rx", "tx"] as const)
    for (const k of KINDS[p]) {
      const els: string[] = [];
      for (const c of s.services) {
        const chain = classChain(dir, k, c.id);
        out.push(`add chain ${t} ${chain}`, `flush chain ${t} ${chain}`);
        out.push(`add rule ${t} ${chain} update @${splitSet(dir, k)} { ${HANDLE[dir][k]} . ${mark(c.id)} }`);
        for (const r of c.matches) els.push(`${r.proto} . ${r.lo === r.hi ? r.lo : `${r.lo}-${r.hi}`} : jump ${chain}`);
      }
      out.push(`add element ${t} ${serviceMap(dir, k)} { ${els.join(", ")} }`);
    }
}

const mark = (id: number) => {
  if (!Number.isInteger(id) || id < 0 || id > 0xffffffff) throw new Error(`bad class id reached the nft renderer: ${id}`);
  return `0x${hex8(id)}`;
};

/**
 * The split's rules in a family chain (`fam`), placed before the counter
 * rule of the same handle (`m` before the MAC host's, which accepts; an
 * address's before its own). Same guard as that counter: the packets they
 * count are its.
 */
export function splitRules(s: SplitOptions | null | undefined, dir: Dir, k: HandleKind, fam: 4 | 6): string[] {
  if (!splitOn(s)) return [];
  const out: string[] = [];
  const guard = `${HANDLE[dir][k]} @${GUARD[dir][k]}`;
  if (s.family && fam === 6) out.push(`${guard} update @${splitSet(dir, k)} { ${HANDLE[dir][k]} . ${mark(IPV6_ID)} }`);
  if (s.services.length > 0) out.push(`${guard} meta l4proto . ${REMOTE_PORT[dir]} vmap @${serviceMap(dir, k)}`);
  return out;
}

const HEX = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, "0"));

/**
 * One element's key as a handle and a class id: `ether_addr . mark` is the
 * MAC, two bytes of padding (registers are 4-byte words) and the mark in the
 * host's byte order; an address is followed by the mark directly.
 */
export function decodeSplitKey(k: HandleKind, key: Uint8Array, littleEndian: boolean): { handle: string; id: number } | null {
  const dv = new DataView(key.buffer, key.byteOffset, key.byteLength);
  if (k === "m") {
    if (key.length !== 12) return null;
    const mac = Array.from(key.subarray(0, 6), (b) => HEX[b]).join(":");
    return { handle: `mac:${mac}`, id: dv.getUint32(8, littleEndian) };
  }
  const n = k === "4" ? 4 : 16;
  if (key.length !== n + 4) return null;
  const a = parseAddress(addressOf(key.subarray(0, n)));
  return a ? { handle: `addr:${a.text}`, id: dv.getUint32(n, littleEndian) } : null;
}

function addressOf(b: Uint8Array): string {
  if (b.length === 4) return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((b[i]! << 8) | b[i + 1]!).toString(16));
  return groups.join(":");
}

/** A class id's part name: `ipv6`, a class's name, or `#<id>` for a class no longer configured (its counts still need watching). */
export function partName(id: number, services: readonly ServiceClass[]): string {
  if (id === IPV6_ID) return "ipv6";
  return services.find((c) => c.id === id)?.name ?? `#${hex8(id)}`;
}

/** An element's key as nft writes it, `<MAC or address> . 0x<id>`, checked before it reaches nft syntax. */
export function splitKeyText(k: string): string {
  if (!/^[0-9a-fA-F:.]{2,45} \. 0x[0-9a-f]{8}$/.test(k)) throw new Error(`unsafe split element reached nft: ${JSON.stringify(k)}`);
  return k;
}

/** An element's key as the kernel has it, from `<MAC or address> . 0x<id>` (see decodeSplitKey). */
export function splitKeyBytes(text: string, littleEndian: boolean): Uint8Array {
  const [who, id] = text.split(" . ");
  if (!who || !id || !/^0x[0-9a-f]{8}$/.test(id)) throw new Error(`not a split element: ${JSON.stringify(text)}`);
  const mac = parseMac(who);
  const addr = mac ? null : parseAddress(who);
  if (!mac && !addr) throw new Error(`not a split element: ${JSON.stringify(text)}`);
  const head = mac ? Uint8Array.from([...mac.split(":").map((h) => Number.parseInt(h, 16)), 0, 0]) : addr!.bytes;
  const out = new Uint8Array(head.length + 4);
  out.set(head);
  new DataView(out.buffer).setUint32(head.length, Number.parseInt(id.slice(2), 16), littleEndian);
  return out;
}

/**
 * The split's elements whose MAC or address no host has, now or after the
 * change: the datapath adds to them no more (the same guards as the hosts'
 * counters), and the read before (a change's, a sample's) took their last
 * counts, so they go rather than fill the sets (an IPv6 privacy address is
 * new every day).
 */
export function staleSplit(counts: readonly SplitCount[], hosts: readonly { key: string | null; addresses: string[] }[]): { set: string; keys: string[] }[] {
  const owned = splitOwners(hosts);
  const bySet = new Map<string, Set<string>>();
  for (const c of counts) {
    if (owned.has(c.handle)) continue;
    const who = c.handle.slice(c.handle.indexOf(":") + 1);
    const kind = c.handle.startsWith("mac:") ? "m" : who.includes(":") ? "6" : "4";
    const set = splitSet(c.dir, kind);
    let keys = bySet.get(set);
    if (!keys) bySet.set(set, (keys = new Set()));
    keys.add(`${who} . 0x${hex8(partId(c.part))}`);
  }
  return [...bySet].map(([set, keys]) => ({ set, keys: [...keys] }));
}

/** The class id of a part name, as partName wrote it. */
export function partId(part: string): number {
  if (part === "ipv6") return IPV6_ID;
  if (/^#[0-9a-f]{8}$/.test(part)) return Number.parseInt(part.slice(1), 16);
  return serviceId(part);
}

/** What one split set holds, as the sample takes it: the egress hook's counts lose their Ethernet header. */
export function splitCounts(dir: Dir, k: HandleKind, p: Placement, elements: readonly { key: Uint8Array; packets: number; bytes: number }[], services: readonly ServiceClass[], littleEndian: boolean, etherHeader: number): SplitCount[] {
  const out: SplitCount[] = [];
  const strip = p === "ports" && dir === "tx" ? etherHeader : 0;
  for (const e of elements) {
    const d = decodeSplitKey(k, e.key, littleEndian);
    if (!d) continue;
    out.push({ dir, handle: d.handle, part: partName(d.id, services), packets: e.packets, bytes: Math.max(0, e.bytes - strip * e.packets) });
  }
  return out;
}
