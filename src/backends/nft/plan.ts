/**
 * The kernel objects a change touches: which counters go, which are created
 * (and from what numbers), which map elements move. Pure; the renderer only
 * writes this down.
 */
import { familyOf, macOf, type HostCounters, type PlannedHost } from "../../model.ts";
import type { ApplyOptions } from "../backend.ts";
import { ETHER_HEADER, NAMES_MAP, TXKEYS_MAP, type AddrMap, type KeyMap, type NameMap, type NftState, type Placement, type PortsEnv } from "./layout.ts";

export const SAFE_STRAY = /^[A-Za-z0-9._-]{1,256}$/;

export interface NftChange {
  placement: Placement;
  /** Re-declare the table, chains and rules, refill every map (and remove the other placement's table). */
  declare: boolean;
  /** With a `ports` declare: the ports hooked and the router's MACs and addresses. */
  env?: PortsEnv;
  /** Map elements to delete, by map (addresses; MACs for the keys maps; host names for the names map). */
  deleteElements: Partial<Record<AddrMap | KeyMap | NameMap, string[]>>;
  /** Host names whose counter pair goes; then other counters of no host (whole names). */
  deleteHosts: string[];
  deleteStrays: string[];
  createHosts: { key: string; name: string; start: HostCounters }[];
  /** Map elements to add: address (or MAC, or the host's own name) → host name. */
  addElements: Partial<Record<AddrMap | KeyMap | NameMap, [string, string][]>>;
}

/**
 * From `current` to `desired`. A host whose counters are kept must have them
 * under that name already. A counter name that is deleted and created again
 * (a name handed to another key, a counter restored) has every element
 * naming it deleted first and added again after.
 */
export function planNft(current: NftState, desired: PlannedHost[], opts: ApplyOptions, placement: Placement = "forward", env?: () => PortsEnv): NftChange {
  const declare = opts.rebuild || current.read === "absent" || (current.read === "full" && !current.complete);
  const curHosts = current.read === "absent" ? [] : current.hosts;
  const curNames = new Set(curHosts.map((h) => h.name));
  const keep = new Set<string>();
  const createHosts: NftChange["createHosts"] = [];
  for (const h of desired) {
    if (h.counters === "keep") {
      if (!curNames.has(h.name)) throw new Error(`host ${h.name} keeps counters it does not have`);
      keep.add(h.name);
    } else createHosts.push({ key: h.key, name: h.name, start: kernelBasis(h.counters, placement) });
  }
  const deleteHosts = curHosts.filter((h) => !keep.has(h.name)).map((h) => h.name);
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
  return { placement, declare, ...withEnv, deleteElements, deleteHosts, deleteStrays, createHosts, addElements };
}

/** Counters as the kernel holds them: a `ports` tx counter also counts each packet's Ethernet header. */
function kernelBasis(c: HostCounters, placement: Placement): HostCounters {
  return placement === "ports" ? { rx: c.rx, tx: { packets: c.tx.packets, bytes: c.tx.bytes + ETHER_HEADER * c.tx.packets } } : c;
}

/** Whether a change does nothing at all. */
export function nftChangeIsEmpty(c: NftChange): boolean {
  const none = (r: Partial<Record<string, unknown[]>>) => Object.values(r).every((v) => !v || v.length === 0);
  return !c.declare && c.deleteHosts.length === 0 && c.deleteStrays.length === 0 && c.createHosts.length === 0 && none(c.deleteElements) && none(c.addElements);
}

