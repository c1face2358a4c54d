/**
 * The nft backend's reads and changes through nf_tables' netlink interface
 * (src/netlink): what `nft -j list …` and `nft -f` would do for an event, at
 * a cost that does not grow with the number of hosts in nft's userspace (nft
 * 1.0 loads a whole set before it adds one element). A declare (init, a
 * placement switched, a table someone broke) is still written by `nft -f`.
 */
import { addressText, parseAddress, parseMac } from "../../addr.ts";
import { concatBytes } from "../../netlink/message.ts";
import { ENOENT, NfError, type NfCounter, type NfOp, type NfTables } from "../../netlink/nftables.ts";
import { familyOf, macOf, SAFE_NAME, sortAddresses, type EventScope, type HostCounters, type ScopedHost, type SplitCount } from "../../model.ts";

import { endianness } from "node:os";
import { carryName, DIRS, ETHER_HEADER, FAMILY, KEYS_MAP, MAPS, nameKeyBytes, NAMES_MAP, type KeyParts, type NftOptions, type NftState, type Placement } from "./layout.ts";
import { addParts, hostOfCounters, keyOfComment, layoutOf, stateOf, withSplit, type MapsShortfall, type TableContents } from "./parse.ts";
import { KINDS, splitCounts, splitOn, splitSet } from "./split.ts";
import type { NftChange } from "./plan.ts";
import { changeSteps, element } from "./render.ts";

const RX_MAPS = MAPS.filter((m) => m.dir === "rx").map((m) => m.name);

const HEX = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, "0"));

/** A map key as nft writes it: an address, or a MAC for the keys maps (a dump has thousands). */
export function keyText(key: Uint8Array): string | null {
  if (key.length === 6) return `${HEX[key[0]!]}:${HEX[key[1]!]}:${HEX[key[2]!]}:${HEX[key[3]!]}:${HEX[key[4]!]}:${HEX[key[5]!]}`;
  return addressText(key);
}

/** The bytes of an element's key, as the map's type wants them (a concatenation's parts one after the other). */
export function keyBytes(text: string): Uint8Array {
  if (text.includes(" . ")) return concatBytes(text.split(" . ").map(keyBytes));
  const safe = element(text);
  const mac = safe.length === 17 ? parseMac(safe) : null;
  if (mac) return Uint8Array.from(mac.split(":").map((h) => Number.parseInt(h, 16)));
  const a = parseAddress(safe);
  if (!a) throw new Error(`not a map key: ${JSON.stringify(text)}`);
  return a.bytes;
}

/**
 * Adds a map's elements to `into` (counter name -> keys): false when the map
 * (or table) is not there. The kernel dumps a hash set in its own order; nft
 * lists it sorted, and so does this (see sortedKeys).
 */
function elementsOf(nf: NfTables, o: NftOptions, set: string, into: Map<string, string[]>): boolean {
  try {
    for (const e of nf.elements(FAMILY[o.placement], o.table, set)) {
      const k = keyText(e.key);
      if (k === null) continue;
      const list = into.get(e.ref);
      if (list) list.push(k);
      else into.set(e.ref, [k]);
    }
    return true;
  } catch (e) {
    if (e instanceof NfError && e.errno === ENOENT) return false;
    throw e;
  }
}

/** Each host's addresses in nft's listing order (IPv4 first, then by value): reads agree whichever way they went. */
function sortedKeys(addrs: Map<string, string[]>): void {
  for (const [k, v] of addrs) if (v.length > 1) addrs.set(k, sortAddresses(v));
}

/** What `nft -j list maps` gives an event: hosts, addresses and MAC keys, no counters. */
export function readMapsNetlink(nf: NfTables, o: NftOptions): NftState | { shortfall: MapsShortfall } {
  const addrs = new Map<string, string[]>();
  let rxMaps = 0;
  for (const m of RX_MAPS) if (elementsOf(nf, o, m, addrs)) rxMaps++;
  if (rxMaps === 0) return { shortfall: "no maps" };
  sortedKeys(addrs);
  const byCounter = new Map<string, string[]>();
  const keyOf = elementsOf(nf, o, KEYS_MAP, byCounter) ? new Map([...byCounter].map(([c, macs]) => [c, macs[0]!])) : null;
  return layoutOf(rxMaps, keyOf, nf.hasSet(FAMILY[o.placement], o.table, NAMES_MAP), addrs);
}

/**
 * The hosts one event is about, by lookups of single keys (nf_tables answers
 * each without walking the map): the host of the event's MAC in the keys
 * map, the owners of the scope's addresses in the rx maps, and for each its
 * counters, its key (the counter's comment) and, from how many elements name
 * its rx counter (NFTA_OBJ_USE: one per address, its MAC's and its name's),
 * how many addresses it holds outside the scope. Null where that cannot be
 * told apart from a table someone edited, or a table of an earlier layout:
 * the event then reads the maps (or the table) as before.
 */
export function readScopeNetlink(nf: NfTables, o: NftOptions, scope: EventScope): NftState | null {
  const family = FAMILY[o.placement];
  const mac = macOf(scope.key);
  if (!mac) return null;
  const lookup = (set: string, key: Uint8Array) => nf.element(family, o.table, set, key);
  try {
    if (!nf.hasSet(family, o.table, NAMES_MAP)) return null;
    const seen = new Map<string, string[]>();
    const target = lookup(KEYS_MAP, keyBytes(mac));
    if (target !== null) seen.set(target, []);
    for (const a of scope.addresses) {
      const ref = lookup(`rx${familyOf(a)}`, keyBytes(a));
      if (ref !== null) seen.set(ref, [...(seen.get(ref) ?? []), a]);
    }
    const hosts: ScopedHost[] = [];
    for (const [ref, addresses] of seen) {
      const h = scopedHost(nf, o, ref, addresses);
      if (!h || (ref === target) !== (h.key === mac)) return null;
      hosts.push(h);
    }
    const ownerKey = (a: string) => {
      const ref = lookup(`rx${familyOf(a)}`, keyBytes(a));
      return ref === null ? null : keyOfComment(nf.counter(family, o.table, ref)?.comment);
    };
    // Every change keeps the names map, so it knows every name in the table.
    // A pair no element names (a rename cut short) still holds its name,
    // unless it is this host's own: then the host takes it up again, numbers and all.
    const nameTaken = (name: string) => {
      if (lookup(NAMES_MAP, nameKeyBytes(name)) !== null) return true;
      const left = nf.counter(family, o.table, `rx_${name}`);
      return left !== null && keyOfComment(left.comment) !== scope.key;
    };
    return { read: "scoped", addresses: [...scope.addresses], hosts, nameTaken, ownerKey };
  } catch (e) {
    // A map or the table not there: the event's usual read finds out what is.
    if (e instanceof NfError && e.errno === ENOENT) return null;
    throw e;
  }
}

/**
 * One host by its rx counter, with the scope's addresses it holds; null when
 * its counters, its keys element or its names element are not as iptmon
 * makes them, or the elements naming it do not add up.
 */
function scopedHost(nf: NfTables, o: NftOptions, ref: string, addresses: string[]): ScopedHost | null {
  const family = FAMILY[o.placement];
  const name = ref.slice(3);
  if (!ref.startsWith("rx_") || !SAFE_NAME.test(name)) return null;
  const rx = nf.counter(family, o.table, ref);
  const tx = nf.counter(family, o.table, `tx_${name}`);
  if (!rx || !tx || rx.use === null) return null;
  const h = hostOfCounters(name, rx, tx, sortAddresses(addresses), o.placement);
  if (!h) return null;
  const mac = macOf(h.key);
  if (mac && nf.element(family, o.table, KEYS_MAP, keyBytes(mac)) !== ref) return null;
  if (nf.element(family, o.table, NAMES_MAP, nameKeyBytes(name)) !== ref) return null;
  const unseen = rx.use - addresses.length - (mac ? 1 : 0) - 1;
  if (unseen < 0) return null;
  // Its carry (what its earlier names counted) is part of its total: one lookup.
  const carry = carryOf(nf, o, h.key);
  return { ...h, ...(carry ? addParts({ rx: h.rx, tx: h.tx }, { carry, retired: [] }) : {}), unseen };
}

/** A key's carry pair's counts (IP packet basis), or null when it has none. */
function carryOf(nf: NfTables, o: NftOptions, key: string): HostCounters | null {
  const family = FAMILY[o.placement];
  const rx = nf.counter(family, o.table, carryName("rx", key));
  const tx = rx ? nf.counter(family, o.table, carryName("tx", key)) : null;
  const c = rx && tx ? hostOfCounters(key, rx, tx, [], o.placement) : null;
  return c && c.key === key ? { rx: c.rx, tx: c.tx } : null;
}

/**
 * The parts of the keys whose pairs a change just retired, looked up by name
 * (as many lookups as pairs, whatever the number of hosts): each retired pair
 * that no element names any more, and the key's carry. A pair something
 * still names (nf_tables' use count) is left for a later full read.
 */
export function readPartsNetlink(nf: NfTables, o: NftOptions, retired: readonly { key: string; name: string }[]): Map<string, KeyParts> {
  const family = FAMILY[o.placement];
  const out = new Map<string, KeyParts>();
  for (const r of retired) {
    const rx = nf.counter(family, o.table, `rx_${r.name}`);
    const tx = nf.counter(family, o.table, `tx_${r.name}`);
    if (!rx || !tx || rx.use !== 0 || tx.use !== 0) continue;
    const h = hostOfCounters(r.name, rx, tx, [], o.placement);
    if (!h || h.key !== r.key) continue;
    let kp = out.get(r.key);
    if (!kp) out.set(r.key, (kp = { carry: carryOf(nf, o, r.key), retired: [] }));
    kp.retired.push({ name: r.name, counters: { rx: h.rx, tx: h.tx } });
  }
  return out;
}

/**
 * These hosts' counters now, looked up by name (the page's poll, which
 * knows the busiest hosts from the last sample): each live pair plus its
 * key's carry, as a full read adds them, tx on the IP packet basis; a few
 * hundred lookups in a few datagrams, whatever the number of hosts. Null for
 * a host whose pair is not there, is named by nothing (a rename left it) or
 * is another key's now: a name alone does not tell its numbers then.
 */
export function readNamedNetlink(nf: NfTables, o: NftOptions, hosts: readonly { key: string; name: string }[]): (HostCounters | null)[] {
  const family = FAMILY[o.placement];
  const carries = hosts.map((h) => {
    try {
      return carryName("rx", h.key);
    } catch {
      return null;
    }
  });
  const first = nf.countersNamed(family, o.table, [...hosts.flatMap((h) => [`rx_${h.name}`, `tx_${h.name}`]), ...carries.flatMap((c) => (c ? [c] : []))]);
  const pairs = hosts.map((h, i) => {
    const rx = first[2 * i];
    const tx = first[2 * i + 1];
    if (!rx || !tx || rx.use === 0 || !SAFE_NAME.test(h.name)) return null;
    const c = hostOfCounters(h.name, rx, tx, [], o.placement);
    return c && c.key === h.key ? c : null;
  });
  // A carry's tx counter is looked up only where its rx one is there.
  let at = 2 * hosts.length;
  const carryRx = carries.map((c) => (c ? first[at++]! : null));
  const withCarry = hosts.flatMap((h, i) => (carryRx[i] ? [i] : []));
  const carryTx = nf.countersNamed(family, o.table, withCarry.map((i) => carryName("tx", hosts[i]!.key)));
  const carryOfHost = new Map(withCarry.map((i, j) => [i, carryTx[j]!]));
  return hosts.map((h, i) => {
    const pair = pairs[i];
    if (!pair || carries[i] === null) return null;
    const rx = carryRx[i];
    const tx = carryOfHost.get(i) ?? null;
    if (!rx) return { rx: pair.rx, tx: pair.tx };
    const c = tx ? hostOfCounters(h.key, rx, tx, [], o.placement) : null;
    // A carry half there, or of another key, is not what a full read would add.
    if (!c || c.key !== h.key) return null;
    return addParts({ rx: pair.rx, tx: pair.tx }, { carry: { rx: c.rx, tx: c.tx }, retired: [] });
  });
}

/** What `nft -j list table` gives: every host with its counters, and whether the layout is whole. */
export function readTableNetlink(nf: NfTables, o: NftOptions, p: Placement = o.placement): NftState {
  const family = FAMILY[p];
  // Where the split is counted, its sets' handles tell each one's making (readSplitNetlink): one listing gives the table, the sets' names and their handles.
  const splitting = p === o.placement && splitOn(o.split);
  const handles = splitting ? nf.handles(family, o.table) : null;
  if (splitting ? handles === null : !nf.hasTable(family, o.table)) return { read: "absent" };
  const t: TableContents = { counters: new Map(), addrs: new Map(), maps: new Set(), chains: new Set(nf.names("chains", family, o.table)), named: null };
  for (const s of handles ? handles.sets.keys() : nf.names("sets", family, o.table)) t.maps.add(s);
  // The split before the counters: a packet counted in both between the two reads is then in the totals too.
  const split = handles ? readSplitNetlink(nf, o, handles) : undefined;
  for (const c of nf.counters(family, o.table)) t.counters.set(c.name, c);
  if (t.maps.has(NAMES_MAP)) t.named = new Set(nf.elements(family, o.table, NAMES_MAP).map((e) => e.ref));
  const opts = { ...o, placement: p };
  for (const m of RX_MAPS) if (t.maps.has(m)) elementsOf(nf, opts, m, t.addrs);
  sortedKeys(t.addrs);
  return withSplit(stateOf(t, p), t, p, o.split, split);
}

/** Every split set's counts (see split.ts); a set that is not there has none. */
function readSplitNetlink(nf: NfTables, o: NftOptions, handles: { table: string; sets: ReadonlyMap<string, string> }): SplitCount[] {
  const out: SplitCount[] = [];
  const le = endianness() === "LE";
  for (const dir of DIRS)
    for (const k of KINDS[o.placement]) {
      const name = splitSet(dir, k);
      const set = handles.sets.get(name);
      if (set === undefined) continue;
      const gen = `${handles.table}.${set}`;
      for (const c of splitCounts(dir, k, o.placement, nf.countedElements(FAMILY[o.placement], o.table, name), o.split?.services ?? [], le, ETHER_HEADER)) out.push({ ...c, gen });
    }
  return out;
}

/**
 * Every host with key and counters, as readTableNetlink reads them, for a
 * reader that shows a few of thousands (the page's poll): the rx maps'
 * elements are kept as the kernel sent them and only the hosts asked for
 * have their addresses written out; the names map is not listed, the
 * counters' use counts tell the same (every live pair is named by its names
 * element; a pair a rename left behind is named by nothing). The chains are
 * not listed either: `complete` is not known, and only a change needs it.
 */
export function readCountsNetlink(nf: NfTables, o: NftOptions): { state: NftState; addresses(name: string): string[] } {
  const family = FAMILY[o.placement];
  const none = { addresses: () => [] };
  if (!nf.hasTable(family, o.table)) return { state: { read: "absent" }, ...none };
  const counters = new Map<string, NfCounter>();
  for (const c of nf.counters(family, o.table)) counters.set(c.name, c);
  const maps = new Set(nf.names("sets", family, o.table));
  let named: Set<string> | null = null;
  if (maps.has(NAMES_MAP)) {
    named = new Set();
    for (const [name, c] of counters) if (c.use !== null && c.use > 0) named.add(name);
  }
  const raw = new Map<string, Uint8Array[]>();
  for (const m of RX_MAPS) {
    if (!maps.has(m)) continue;
    for (const e of nf.elements(family, o.table, m)) {
      const list = raw.get(e.ref);
      if (list) list.push(e.key);
      else raw.set(e.ref, [e.key]);
    }
  }
  const state = stateOf({ counters, addrs: new Map(), maps, chains: new Set(), named }, o.placement);
  return {
    state,
    addresses(name) {
      const keys = raw.get(`rx_${name}`) ?? [];
      const out = keys.map(keyText).filter((k): k is string => k !== null);
      return out.length > 1 ? sortAddresses(out) : out;
    },
  };
}

/** A change that declares nothing, as netlink operations: the renderer's steps, in its order. */
export function netlinkOps(c: NftChange, o: NftOptions): NfOp[] {
  if (c.declare || c.deleteStrays.length > 0) throw new Error("a declare reached the netlink writer");
  const ops: NfOp[] = changeSteps(c, o.placement).map((step): NfOp => {
    if (step.op === "delete-elements") return { op: "delete-elements", set: step.map, keys: step.keys.map(keyBytes) };
    if (step.op === "delete-counter") return step;
    if (step.op === "add-counter") return { op: "add-counter", name: step.name, packets: step.start.packets, bytes: step.start.bytes, comment: step.comment };
    return { op: "add-elements", set: step.map, elements: step.elements.map(([k, ref]) => ({ key: keyBytes(k), ref })) };
  });
  // An address element must go into the map of its family.
  for (const op of ops) if (op.op !== "delete-counter" && op.op !== "add-counter" && op.set !== KEYS_MAP && op.set !== NAMES_MAP && !op.set.startsWith("txkeys")) {
    const want = op.set.endsWith("6") ? 16 : 4;
    const keys = op.op === "add-elements" ? op.elements.map((e) => e.key) : op.keys;
    if (keys.some((k) => k.length !== want)) throw new Error(`an address of the wrong family reached map ${op.set}`);
  }
  return ops;
}
