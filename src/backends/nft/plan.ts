/**
 * The kernel objects a change touches: which counters go, which are created
 * (and from what numbers), which map elements move. Pure; the renderer only
 * writes this down.
 */
import { familyOf, macOf, zeroCounter, type CountedHost, type HostCounters, type PlannedHost } from "../../model.ts";
import { staleSplit } from "./split.ts";
import type { ApplyOptions } from "../backend.ts";
import { ETHER_HEADER, NAMES_MAP, TXKEYS_MAP, type AddrMap, type KeyMap, type KeyParts, type NameMap, type NftState, type Placement, type PortsEnv } from "./layout.ts";
import { addParts } from "./parse.ts";

export const SAFE_STRAY = /^[A-Za-z0-9._-]{1,256}$/;

export interface NftChange {
  placement: Placement;
  /** Re-declare the table, chains and rules, refill every map (and remove the other placement's table). */
  declare: boolean;
  /** With a `ports` declare: the ports hooked and the router's MACs and addresses. */
  env?: PortsEnv;
  /** Map elements to delete, by map (addresses; MACs for the keys maps; host names for the names map). */
  deleteElements: Partial<Record<AddrMap | KeyMap | NameMap, string[]>>;
  /** Host names whose counter pair goes (live ones, and pairs renames left behind); then other counters of no host (whole names). */
  deleteHosts: string[];
  deleteStrays: string[];
  /** Host keys whose carry pair goes, whether it is there or not (then, for some, is created again from `createCarries`). */
  deleteCarries: string[];
  createHosts: { key: string; name: string; start: HostCounters }[];
  /** Carry pairs created, with what they hold (IP packet basis). */
  createCarries: { key: string; counts: HostCounters }[];
  /** Map elements to add: address (or MAC, or the host's own name) → host name. */
  addElements: Partial<Record<AddrMap | KeyMap | NameMap, [string, string][]>>;
  /**
   * Live pairs this change leaves named by no element (renamed hosts): kept,
   * so nothing they count before the commit is lost, and folded into their
   * key's carry by a second change once they hold still (planFolds).
   */
  retire: { key: string; name: string }[];
  /** With a declare: the split's class chains the table has, and whether it has the split's sets (to remove what is no longer wanted). */
  splitChains?: string[];
  splitPresent?: boolean;
  /** With a declare: the split's elements of no host's (an address or a host gone), counted for the last time by the read this change follows. */
  deleteSplit?: { set: string; keys: string[] }[];
}

const zero = (): HostCounters => ({ rx: zeroCounter(), tx: zeroCounter() });
const plus = (a: HostCounters, b: HostCounters): HostCounters => ({
  rx: { packets: a.rx.packets + b.rx.packets, bytes: a.rx.bytes + b.rx.bytes },
  tx: { packets: a.tx.packets + b.tx.packets, bytes: a.tx.bytes + b.tx.bytes },
});
/** What `want` has beyond `have`, per field (never below zero). */
const beyond = (want: HostCounters, have: HostCounters): HostCounters => ({
  rx: { packets: Math.max(0, want.rx.packets - have.rx.packets), bytes: Math.max(0, want.rx.bytes - have.rx.bytes) },
  tx: { packets: Math.max(0, want.tx.packets - have.tx.packets), bytes: Math.max(0, want.tx.bytes - have.tx.bytes) },
});
const isZero = (c: HostCounters) => c.rx.packets + c.rx.bytes + c.tx.packets + c.tx.bytes === 0;

/**
 * From `current` to `desired`. A host whose counters are kept must have them
 * under that name already. A counter name that is deleted and created again
 * (a name handed to another key, a counter restored) has every element
 * naming it deleted first and added again after.
 *
 * Counts that are in the kernel stay there: a live counter's value cannot be
 * moved exactly (what it counts between a read and the commit would be
 * lost), a counter named by no element can. So a renamed host gets a new
 * pair holding only what the plan adds to its total (a floor above it), and
 * its old pair is retired (see NftChange.retire); a host kept under its name
 * whose total must rise gets the difference in its carry. A full read's
 * retired pairs are folded into their key's carry (a change that was cut
 * short between its two transactions), and the parts of a key that has no
 * host any more go. Only a reset, and a name retired and taken by another
 * host in the same change, move live counts (the old way).
 */
export function planNft(current: NftState, desired: PlannedHost[], opts: ApplyOptions, placement: Placement = "forward", env?: () => PortsEnv): NftChange {
  const declare = opts.rebuild || current.read === "absent" || (current.read === "full" && !current.complete);
  const curHosts = current.read === "absent" ? [] : current.hosts;
  const parts: ReadonlyMap<string, KeyParts> = current.read === "full" ? current.parts : new Map();
  const curNames = new Set(curHosts.map((h) => h.name));
  const curByKey = new Map<string, (typeof curHosts)[number]>();
  for (const h of curHosts) if (h.key !== null) curByKey.set(h.key, h);
  const keep = new Set<string>();
  const createHosts: NftChange["createHosts"] = [];
  /** Per key: what its carry pair is to hold beyond its parts now, or that its parts go. */
  const extra = new Map<string, HostCounters>();
  const drop = new Set<string>();
  const retiring = new Map<string, { key: string; name: string; total: HostCounters }>();
  const wantKeys = new Set<string>();
  for (const h of desired) {
    if (h.key !== null) wantKeys.add(h.key);
    if (h.counters === "keep") {
      if (!curNames.has(h.name)) throw new Error(`host ${h.name} keeps counters it does not have`);
      keep.add(h.name);
      continue;
    }
    const cur = curByKey.get(h.key);
    const kp = parts.get(h.key);
    if (h.reset || (!cur && !kp)) {
      if (h.reset) drop.add(h.key);
      createHosts.push({ key: h.key, name: h.name, start: kernelBasis(h.counters, placement) });
      continue;
    }
    // A full read's hosts are counted.
    const counted = current.read === "full" ? (cur as CountedHost | undefined) : undefined;
    if (cur && !counted) throw new Error(`host ${h.name} is created anew from counters that were not read`);
    // What the key holds now (live pair and parts), and what the plan adds to it.
    const total = counted ? { rx: counted.rx, tx: counted.tx } : addParts(zero(), kp!);
    const more = beyond(h.counters, total);
    if (cur?.name === h.name) {
      keep.add(h.name);
      if (!isZero(more)) extra.set(h.key, more);
      continue;
    }
    createHosts.push({ key: h.key, name: h.name, start: kernelBasis(more, placement) });
    if (cur) retiring.set(cur.name, { key: h.key, name: cur.name, total });
  }
  // A name retired and taken by another host in this same change cannot be
  // both: that old pair goes, its counts as read into its key's carry.
  for (const c of createHosts) {
    const r = retiring.get(c.name);
    if (!r) continue;
    retiring.delete(c.name);
    const kp = parts.get(r.key);
    extra.set(r.key, plus(extra.get(r.key) ?? zero(), kp ? beyond(r.total, addParts(zero(), kp)) : r.total));
  }
  const deleteHosts: string[] = [];
  for (const h of curHosts) {
    if (keep.has(h.name) || retiring.has(h.name)) continue;
    deleteHosts.push(h.name);
    // A host that goes takes its carry along; a reset's is dropped above.
    if (h.key !== null && !wantKeys.has(h.key)) drop.add(h.key);
  }
  for (const key of parts.keys()) if (!wantKeys.has(key)) drop.add(key);
  const deleteCarries: string[] = [];
  const createCarries: NftChange["createCarries"] = [];
  for (const key of drop) {
    for (const r of parts.get(key)?.retired ?? []) deleteHosts.push(r.name);
    deleteCarries.push(key);
  }
  // Retired pairs fold into the carry, and so does what a kept host gains.
  const foldKeys = new Set([...extra.keys(), ...[...parts].filter(([, kp]) => kp.retired.length > 0).map(([k]) => k)]);
  for (const key of foldKeys) {
    if (drop.has(key)) continue;
    const kp = parts.get(key) ?? { carry: null, retired: [] };
    for (const r of kp.retired) deleteHosts.push(r.name);
    deleteCarries.push(key);
    createCarries.push({ key, counts: kernelBasis(plus(addParts(zero(), kp), extra.get(key) ?? zero()), placement) });
  }
  const recreated = new Set(deleteHosts);

  // A declare flushes every map: then nothing is deleted and everything is added.
  const curOwner = new Map<string, string>();
  const curKey = new Map<string, string>();
  const curName = new Map<string, string>();
  if (!declare)
    for (const h of curHosts) {
      for (const a of h.addresses) curOwner.set(a, h.name);
      if (h.key !== null && macOf(h.key)) curKey.set(h.key, h.name);
      curName.set(h.name.toLowerCase(), h.name);
    }
  const want = new Map<string, string>();
  const wantKey = new Map<string, string>();
  const wantName = new Map<string, string>();
  for (const h of desired) {
    for (const a of h.addresses) want.set(a, h.name);
    if (h.key !== null && macOf(h.key)) wantKey.set(h.key, h.name);
    wantName.set(h.name.toLowerCase(), h.name);
  }
  /** `from`'s entries that `to` lacks as they are, or whose counter is created anew. */
  const moved = (from: Map<string, string>, to: Map<string, string>) => {
    const out: [string, string][] = [];
    for (const e of from) if (to.get(e[0]) !== e[1] || recreated.has(e[1])) out.push(e);
    return out;
  };
  const deleteElements: NftChange["deleteElements"] = {};
  const addElements: NftChange["addElements"] = {};
  /** The same elements in each of `maps` (a host's address is in its family's rx and tx map), where there are any. */
  const put = <T>(rec: Partial<Record<string, T[]>>, maps: readonly string[], els: T[]) => {
    if (els.length) for (const m of maps) rec[m] = els.slice();
  };
  const gone = moved(curOwner, want);
  const come = moved(want, curOwner);
  for (const f of [4, 6] as const) {
    const maps = [`rx${f}`, `tx${f}`];
    put(deleteElements, maps, gone.filter(([a]) => familyOf(a) === f).map(([a]) => a));
    put(addElements, maps, come.filter(([a]) => familyOf(a) === f));
  }
  const keyMaps: KeyMap[] = placement === "ports" ? ["keys", TXKEYS_MAP] : ["keys"];
  put(deleteElements, keyMaps, moved(curKey, wantKey).map(([k]) => k));
  put(addElements, keyMaps, moved(wantKey, curKey));
  // The names map is keyed by the name itself (lower-cased when written).
  put(deleteElements, [NAMES_MAP], moved(curName, wantName).map(([, n]) => n));
  put(addElements, [NAMES_MAP], moved(wantName, curName).map(([, n]) => [n, n] as [string, string]));
  // A name nft would need quoted was made by hand: left alone.
  const deleteStrays = declare && current.read === "full" ? current.strays.filter((n) => SAFE_STRAY.test(n)) : [];
  const withEnv = declare && placement === "ports" && env ? { env: env() } : {};
  const retire = [...retiring.values()].map(({ key, name }) => ({ key, name }));
  const full = declare && current.read === "full";
  const splitChains = full ? (current.splitChains ?? []) : [];
  const splitPresent = full ? (current.splitPresent ?? false) : false;
  const deleteSplit = full && current.split ? staleSplit(current.split, [...curHosts, ...desired]) : [];
  return {
    placement,
    declare,
    ...withEnv,
    deleteElements,
    deleteHosts,
    deleteStrays,
    deleteCarries,
    createHosts,
    createCarries,
    addElements,
    retire,
    splitChains,
    splitPresent,
    ...(deleteSplit.length ? { deleteSplit } : {}),
  };
}

/**
 * The second change of a rename: pairs that no element names any more (read
 * after the first change's commit, so they hold still and their values are
 * exact) fold into their key's carry pair, which is created anew holding its
 * old counts plus theirs; then the retired pairs go. A key with nothing
 * retired is left as it is.
 */
export function planFolds(parts: ReadonlyMap<string, KeyParts>, placement: Placement): NftChange {
  const deleteHosts: string[] = [];
  const deleteCarries: string[] = [];
  const createCarries: NftChange["createCarries"] = [];
  for (const [key, kp] of parts) {
    if (kp.retired.length === 0) continue;
    for (const r of kp.retired) deleteHosts.push(r.name);
    deleteCarries.push(key);
    createCarries.push({ key, counts: kernelBasis(addParts(zero(), kp), placement) });
  }
  return { placement, declare: false, deleteElements: {}, deleteHosts, deleteStrays: [], deleteCarries, createHosts: [], createCarries, addElements: {}, retire: [] };
}

/** Counters as the kernel holds them: a `ports` tx counter also counts each packet's Ethernet header. */
function kernelBasis(c: HostCounters, placement: Placement): HostCounters {
  return placement === "ports" ? { rx: c.rx, tx: { packets: c.tx.packets, bytes: c.tx.bytes + ETHER_HEADER * c.tx.packets } } : c;
}

/** Whether a change does nothing at all. */
export function nftChangeIsEmpty(c: NftChange): boolean {
  const none = (r: Partial<Record<string, unknown[]>>) => Object.values(r).every((v) => !v || v.length === 0);
  return (
    !c.declare &&
    c.deleteHosts.length === 0 &&
    c.deleteStrays.length === 0 &&
    c.deleteCarries.length === 0 &&
    c.createHosts.length === 0 &&
    c.createCarries.length === 0 &&
    c.retire.length === 0 &&
    none(c.deleteElements) &&
    none(c.addElements)
  );
}

