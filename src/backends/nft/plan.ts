/**
 * The kernel objects a change touches: which counters go, which are created
 * (and from what numbers), which map elements move. Pure; the renderer only
 * writes this down.
 */
import { familyOf, macOf, type HostCounters, type PlannedHost } from "../../model.ts";
import type { ApplyOptions } from "../backend.ts";
import type { AddrMap, NftState } from "./layout.ts";

export const SAFE_STRAY = /^[A-Za-z0-9._-]{1,256}$/;

export interface NftChange {
  /** Re-declare the table, chain and rules, and refill every map. */
  declare: boolean;
  /** Map elements to delete, by map (addresses; MACs for the keys map). */
  deleteElements: Partial<Record<AddrMap | "keys", string[]>>;
  /** Host names whose counter pair goes; then other counters of no host (whole names). */
  deleteHosts: string[];
  deleteStrays: string[];
  createHosts: { key: string; name: string; start: HostCounters }[];
  /** Map elements to add: address (or MAC) → host name. */
  addElements: Partial<Record<AddrMap | "keys", [string, string][]>>;
}

const mapOf = (addr: string, dir: "rx" | "tx"): AddrMap => `${dir}${familyOf(addr)}` as AddrMap;

/**
 * From `current` to `desired`. A host whose counters are kept must have them
 * under that name already. A counter name that is deleted and created again
 * (a name handed to another key, a counter restored) has every element
 * naming it deleted first and added again after.
 */
export function planNft(current: NftState, desired: PlannedHost[], opts: ApplyOptions): NftChange {
  const declare = opts.rebuild || current.read === "absent" || (current.read === "full" && !current.complete);
  const curHosts = current.read === "absent" ? [] : current.hosts;
  const curNames = new Set(curHosts.map((h) => h.name));
  const keep = new Set<string>();
  const createHosts: NftChange["createHosts"] = [];
  for (const h of desired) {
    if (h.counters === "keep") {
      if (!curNames.has(h.name)) throw new Error(`host ${h.name} keeps counters it does not have`);
      keep.add(h.name);
    } else createHosts.push({ key: h.key, name: h.name, start: h.counters });
  }
  const deleteHosts = curHosts.filter((h) => !keep.has(h.name)).map((h) => h.name);
  const recreated = new Set(deleteHosts);

  // A declare flushes every map: then nothing is deleted and everything is added.
  const curOwner = new Map<string, string>();
  const curKey = new Map<string, string>();
  if (!declare)
    for (const h of curHosts) {
      for (const a of h.addresses) curOwner.set(a, h.name);
      if (h.key !== null && macOf(h.key)) curKey.set(h.key, h.name);
    }
  const want = new Map<string, string>();
  const wantKey = new Map<string, string>();
  for (const h of desired) {
    for (const a of h.addresses) want.set(a, h.name);
    if (h.key !== null && macOf(h.key)) wantKey.set(h.key, h.name);
  }
  const moved = (from: Map<string, string>, to: Map<string, string>) =>
    [...from].filter(([k, n]) => to.get(k) !== n || recreated.has(n));

  const deleteElements: NftChange["deleteElements"] = {};
  const addElements: NftChange["addElements"] = {};
  const push = <T>(rec: Partial<Record<string, T[]>>, m: string, v: T) => void (rec[m] ??= []).push(v);
  for (const [a] of moved(curOwner, want)) for (const dir of ["rx", "tx"] as const) push(deleteElements, mapOf(a, dir), a);
  for (const [k] of moved(curKey, wantKey)) push(deleteElements, "keys", k);
  for (const [a, n] of moved(want, curOwner)) for (const dir of ["rx", "tx"] as const) push(addElements, mapOf(a, dir), [a, n] as [string, string]);
  for (const [k, n] of moved(wantKey, curKey)) push(addElements, "keys", [k, n] as [string, string]);
  // A name nft would need quoted was made by hand: left alone.
  const deleteStrays = declare && current.read === "full" ? current.strays.filter((n) => SAFE_STRAY.test(n)) : [];
  return { declare, deleteElements, deleteHosts, deleteStrays, createHosts, addElements };
}

/** Whether a change does nothing at all. */
export function nftChangeIsEmpty(c: NftChange): boolean {
  const none = (r: Partial<Record<string, unknown[]>>) => Object.values(r).every((v) => !v || v.length === 0);
  return !c.declare && c.deleteHosts.length === 0 && c.deleteStrays.length === 0 && c.createHosts.length === 0 && none(c.deleteElements) && none(c.addElements);
}

