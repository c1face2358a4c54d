/** Reading nft's JSON listings into the backend's state. Pure. */
import type { CountedHost, HostCounters, LaidOutHost, SplitCount } from "../../model.ts";
import { CARRY_PREFIX, CHAINS, COMMENT_PREFIX, DIRS, ETHER_HEADER, FAMILY, KEYS_MAP, mapsOf, NAMES_MAP, type KeyParts, type NftState, type Placement } from "./layout.ts";
import { parseAddress, parseMac } from "../../addr.ts";
import { classChain, CLASS_CHAIN, KINDS, partName, splitObjects, splitOn, type HandleKind, type SplitOptions } from "./split.ts";

interface NftJsonCounter {
  name: string;
  table: string;
  family: string;
  comment?: string;
  packets: number;
  bytes: number;
}
interface NftJsonMap {
  name: string;
  table: string;
  family: string;
  elem?: [string, string][];
}

type Obj = Record<string, unknown>;

function objects(text: string): Obj[] {
  const doc = JSON.parse(text) as { nftables?: Obj[] };
  return Array.isArray(doc.nftables) ? doc.nftables : [];
}

const ours = (o: { table: string; family: string }, table: string, p: Placement) => o.table === table && o.family === FAMILY[p];

/** A map's address → counter elements, skipping anything that is not one. */
function elements(m: NftJsonMap): [string, string][] {
  return (m.elem ?? []).filter((e): e is [string, string] => Array.isArray(e) && typeof e[0] === "string" && typeof e[1] === "string");
}

/** What a full read found of iptmon's table, however it was read (nft's JSON, netlink). */
export interface TableContents {
  counters: Map<string, { packets: number; bytes: number; comment?: string | null }>;
  /** rx counter name -> addresses, from the rx maps. */
  addrs: Map<string, string[]>;
  maps: Set<string>;
  chains: Set<string>;
  /** The rx counters the names map names (every live host's), null when there is no names map. */
  named: Set<string> | null;
}

/**
 * Parses `nft -j list table <family> <table>`: every host with key and
 * counters, tx counters of `ports` on the IP packet basis.
 */
export function parseNftJson(text: string, table: string, p: Placement = "forward", split: SplitOptions | null = null): NftState {
  const t: TableContents = { counters: new Map(), addrs: new Map(), maps: new Set(), chains: new Set(), named: null };
  const counts: SplitCount[] = [];
  let present = false;
  let tableHandle = "?";
  for (const obj of objects(text)) {
    if ("set" in obj) {
      const st = obj.set as { name: string; table: string; family: string; handle?: number; elem?: unknown[] };
      if (!ours(st, table, p)) continue;
      t.maps.add(st.name);
      if (splitOn(split)) for (const c of splitCountsJson(st.name, st.elem ?? [], p, split)) counts.push({ ...c, gen: `${tableHandle}.${st.handle}` });
      continue;
    }
    if ("table" in obj) {
      const tb = obj.table as { name: string; family: string; handle?: number };
      if (tb.name === table && tb.family === FAMILY[p]) {
        present = true;
        tableHandle = String(tb.handle);
      }
    } else if ("counter" in obj) {
      const c = obj.counter as NftJsonCounter;
      if (ours(c, table, p)) t.counters.set(c.name, c);
    } else if ("chain" in obj) {
      const c = obj.chain as { name: string; table: string; family: string };
      if (ours(c, table, p)) t.chains.add(c.name);
    } else if ("map" in obj) {
      const m = obj.map as NftJsonMap;
      if (!ours(m, table, p)) continue;
      t.maps.add(m.name);
      // Its keys are concatenations (objects in nft's JSON): only the counters matter here.
      if (m.name === NAMES_MAP) t.named = new Set((m.elem ?? []).flatMap((e) => (Array.isArray(e) && typeof e[1] === "string" ? [e[1]] : [])));
      if (!m.name.startsWith("rx")) continue;
      for (const [a, counter] of elements(m)) t.addrs.set(counter, [...(t.addrs.get(counter) ?? []), a]);
    }
  }
  return present ? withSplit(stateOf(t, p), t, p, split, splitOn(split) ? counts : undefined) : { read: "absent" };
}

/** A split set's elements in nft's JSON: `{"elem": {"val": {"concat": [who, id]}, "counter": {…}}}`. */
function splitCountsJson(set: string, elems: unknown[], p: Placement, split: SplitOptions): SplitCount[] {
  const m = /^split_(rx|tx)_([m46])$/.exec(set);
  if (!m) return [];
  const dir = m[1] as "rx" | "tx";
  const k = m[2] as HandleKind;
  const strip = p === "ports" && dir === "tx" ? ETHER_HEADER : 0;
  const out: SplitCount[] = [];
  for (const e of elems) {
    const el = (e as { elem?: { val?: { concat?: unknown[] }; counter?: { packets?: unknown; bytes?: unknown } } }).elem;
    const cat = el?.val?.concat;
    const [who, id] = Array.isArray(cat) ? cat : [];
    const c = el?.counter;
    if (typeof who !== "string" || typeof id !== "number" || typeof c?.packets !== "number" || typeof c.bytes !== "number") continue;
    const handle = k === "m" ? (parseMac(who) ? `mac:${parseMac(who)}` : null) : parseAddress(who) ? `addr:${parseAddress(who)!.text}` : null;
    if (!handle) continue;
    out.push({ dir, handle, part: partName(id, split.services), packets: c.packets, bytes: Math.max(0, c.bytes - strip * c.packets) });
  }
  return out;
}

type CounterRead = { packets: number; bytes: number; comment?: string | null };

/** The host key in a counter's comment, or null when the comment is not iptmon's. */
export function keyOfComment(comment: string | null | undefined): string | null {
  return comment?.startsWith(COMMENT_PREFIX) ? comment.slice(COMMENT_PREFIX.length) : null;
}

/**
 * A host from its counter pair as read (null when the rx counter's comment
 * is not iptmon's), tx on the IP packet basis: a `ports` tx counter also
 * counted each packet's Ethernet header.
 */
export function hostOfCounters(name: string, rx: CounterRead, tx: CounterRead, addresses: string[], p: Placement): CountedHost | null {
  const key = keyOfComment(rx.comment);
  if (key === null) return null;
  const header = p === "ports" ? ETHER_HEADER * tx.packets : 0;
  return {
    key,
    name,
    addresses,
    rx: { packets: rx.packets, bytes: rx.bytes },
    tx: { packets: tx.packets, bytes: Math.max(0, tx.bytes - header) },
  };
}

/**
 * The hosts of a table that is there: counter pairs with iptmon's comment
 * that the names map names (live: every change keeps that map), each with
 * its key's parts that no longer count added (a pair a rename left behind,
 * which no element names; the key's carry pair), and what else is in it. A
 * table with no names map (an earlier iptmon's) has only live pairs.
 */
export function stateOf(t: TableContents, p: Placement): NftState {
  const { counters, addrs, maps, chains, named } = t;
  const live: CountedHost[] = [];
  const parts = new Map<string, KeyParts>();
  const partsOf = (key: string) => {
    let kp = parts.get(key);
    if (!kp) parts.set(key, (kp = { carry: null, retired: [] }));
    return kp;
  };
  const known = new Set<string>();
  for (const [name, rx] of counters) {
    if (name.startsWith(`${CARRY_PREFIX}rx_`)) {
      const txName = `${CARRY_PREFIX}tx_${name.slice(CARRY_PREFIX.length + 3)}`;
      const tx = counters.get(txName);
      const h = tx ? hostOfCounters(name, rx, tx, [], p) : null;
      if (!h) continue;
      known.add(name).add(txName);
      partsOf(h.key).carry = { rx: h.rx, tx: h.tx };
      continue;
    }
    const hostName = name.slice(3);
    const tx = counters.get(`tx_${hostName}`);
    const h = name.startsWith("rx_") && tx ? hostOfCounters(hostName, rx, tx, addrs.get(name) ?? [], p) : null;
    if (!h) continue;
    known.add(name).add(`tx_${hostName}`);
    if (!named || named.has(name)) live.push(h);
    else partsOf(h.key).retired.push({ name: hostName, counters: { rx: h.rx, tx: h.tx } });
  }
  const hosts = live.map((h) => {
    const kp = parts.get(h.key);
    if (!kp) return h;
    return { ...h, ...addParts({ rx: h.rx, tx: h.tx }, kp), ...(kp.retired.length > 0 ? { unfolded: true as const } : {}) };
  });
  const complete = CHAINS[p].every((c) => chains.has(c)) && mapsOf(p).every((m) => maps.has(m));
  return { read: "full", complete, hosts, strays: [...counters.keys()].filter((n) => !known.has(n)), parts };
}

/**
 * A full read with the split's state: its counts where the split is counted
 * (`split` given), the class chains the table has, whether it has the
 * split's sets, and, where the split is on, whether its layout is whole.
 */
export function withSplit(s: NftState, t: TableContents, p: Placement, opts: SplitOptions | null | undefined, split: SplitCount[] | undefined): NftState {
  if (s.read !== "full") return s;
  const objects = splitObjects(p);
  const splitPresent = objects.some((o) => o.kind === "set" && t.maps.has(o.name));
  const splitChains = [...t.chains].filter((c) => CLASS_CHAIN.test(c));
  let complete = s.complete;
  if (splitOn(opts)) {
    const want = objects.filter((o) => o.kind === "set" || opts.services.length > 0);
    const chains = opts.services.flatMap((c) => DIRS.flatMap((dir) => KINDS[p].map((k) => classChain(dir, k, c.id))));
    complete &&= want.every((o) => t.maps.has(o.name)) && chains.every((c) => t.chains.has(c));
  }
  return { ...s, complete, ...(splitChains.length ? { splitChains } : {}), ...(splitPresent ? { splitPresent } : {}), ...(split ? { split } : {}) };
}

/** Counters plus a key's parts that no longer count. */
export function addParts(c: HostCounters, kp: KeyParts): HostCounters {
  const all = [...(kp.carry ? [kp.carry] : []), ...kp.retired.map((r) => r.counters)];
  const sum = (dir: "rx" | "tx") => all.reduce((a, x) => ({ packets: a.packets + x[dir].packets, bytes: a.bytes + x[dir].bytes }), c[dir]);
  return { rx: sum("rx"), tx: sum("tx") };
}

/** Why the maps alone cannot describe iptmon's hosts; the whole table must be read. */
export type MapsShortfall = "no maps" | "no keys map" | "no names map" | "no elements";

/**
 * Parses `nft -j list maps <family>`: hosts with names, addresses and MAC
 * keys, no counters. A host known only by a DUID or static name has no entry
 * in the keys map, so its key is unknown here (null).
 */
export function parseNftMapsJson(text: string, table: string, p: Placement = "forward"): NftState | { shortfall: MapsShortfall } {
  const addrs = new Map<string, string[]>(); // rx counter name -> addresses
  const keyOf = new Map<string, string>(); // rx counter name -> MAC
  let maps = 0;
  let keys = false;
  let names = false;
  for (const obj of objects(text)) {
    if (!("map" in obj)) continue;
    const m = obj.map as NftJsonMap;
    if (!ours(m, table, p)) continue;
    if (m.name === NAMES_MAP) names = true;
    else if (m.name === KEYS_MAP) {
      keys = true;
      for (const [mac, counter] of elements(m)) keyOf.set(counter, mac);
    } else if (m.name.startsWith("rx")) {
      maps++;
      for (const [a, counter] of elements(m)) addrs.set(counter, [...(addrs.get(counter) ?? []), a]);
    }
  }
  return layoutOf(maps, keys ? keyOf : null, names, addrs);
}

/**
 * The hosts the maps describe, from the number of rx maps found, the keys
 * map's MAC of each rx counter (null: no keys map), whether the names map is
 * there, and each rx counter's addresses.
 */
export function layoutOf(rxMaps: number, keyOf: Map<string, string> | null, names: boolean, addrs: Map<string, string[]>): NftState | { shortfall: MapsShortfall } {
  // No maps: no table, or one someone emptied; its counters must be seen
  // before a rebuild re-declares them. No keys map: laid out by an older
  // iptmon (so is one with no names map). No element at all: an empty table, or an nft whose `list maps`
  // leaves elements out. Either way the full read is cheap or necessary.
  if (rxMaps === 0) return { shortfall: "no maps" };
  if (!keyOf) return { shortfall: "no keys map" };
  // A change keeps the names map up to date: a table without it is declared anew.
  if (!names) return { shortfall: "no names map" };
  if (addrs.size === 0) return { shortfall: "no elements" };
  const hosts: LaidOutHost[] = [...addrs].map(([counter, addresses]) => ({ key: keyOf.get(counter) ?? null, name: counter.slice(3), addresses }));
  return { read: "layout", hosts };
}
