/**
 * nftables layout: a table of iptmon's own (fw4 reloads never touch it), a
 * named counter per host and direction, and maps from address (and MAC) to
 * counter, so a packet costs one lookup whatever the number of hosts.
 *
 * Two placements:
 * - `forward`: `table inet <table>`, one chain on the forward hook, hosts
 *   matched by address. Routed traffic only, by construction; offloaded
 *   flows skip it.
 * - `ports`: `table netdev <table>`, an ingress and an egress chain on the
 *   LAN bridge's lower ports, below a flowtable's priority (fw4: 0), hosts
 *   matched by MAC (`ether saddr` in, `ether daddr` out), hosts with no MAC
 *   by address. Software-offloaded flows pass both hooks. Routed traffic is
 *   told apart from the rest by the router's MACs and addresses: a frame a
 *   host sends to another host on the bridge is not addressed to the router's
 *   MAC (ingress) and one the bridge forwards between hosts does not come from
 *   it (egress); a frame to or from one of the router's own addresses is the
 *   router's own business.
 */
import { SAFE_NAME, type CountedHost, type HostCounters, type LaidOutHost, type ScopedState, type SplitCount } from "../../model.ts";
import type { SplitOptions } from "./split.ts";

export type Placement = "forward" | "ports";

export const FAMILY: Record<Placement, "inet" | "netdev"> = { forward: "inet", ports: "netdev" };

export const COMMENT_PREFIX = "iptmon: ";

export const MAPS = [
  { name: "rx4", type: "ipv4_addr", dir: "rx", family: 4, match: "ip saddr" },
  { name: "tx4", type: "ipv4_addr", dir: "tx", family: 4, match: "ip daddr" },
  { name: "rx6", type: "ipv6_addr", dir: "rx", family: 6, match: "ip6 saddr" },
  { name: "tx6", type: "ipv6_addr", dir: "tx", family: 6, match: "ip6 daddr" },
] as const;
export type AddrMap = (typeof MAPS)[number]["name"];

/**
 * MAC → rx counter. With `forward` no rule uses it: it lets an event find a
 * host by MAC from the maps alone, without listing every counter (the slow
 * part of a read at thousands of hosts). With `ports` the ingress chain
 * counts by it, and TXKEYS_MAP (MAC → tx counter) is the egress chain's.
 */
export const KEYS_MAP = "keys";
export const TXKEYS_MAP = "txkeys";
export type KeyMap = typeof KEYS_MAP | typeof TXKEYS_MAP;

/**
 * Host name, lower-cased → rx counter. Names are unique ignoring case and
 * counter names are not, so this is how an event tells whether a name is
 * free with one lookup instead of listing every counter. The key is the
 * name's ASCII, NUL-padded to 64 bytes (nf_tables' longest key), which nft
 * writes as four IPv6 addresses.
 */
export const NAMES_MAP = "names";
export type NameMap = typeof NAMES_MAP;
export const NAMES_TYPE = "ipv6_addr . ipv6_addr . ipv6_addr . ipv6_addr";
const NAME_KEY_BYTES = 64;

/** A host name's key in NAMES_MAP. */
export function nameKeyBytes(name: string): Uint8Array {
  if (!SAFE_NAME.test(name)) throw new Error(`unsafe host name reached the names map: ${JSON.stringify(name)}`);
  const out = new Uint8Array(NAME_KEY_BYTES);
  const lower = name.toLowerCase();
  for (let i = 0; i < lower.length; i++) out[i] = lower.charCodeAt(i);
  return out;
}

/** Each ASCII code as two hex digits. */
const HEX2 = Array.from({ length: 128 }, (_, c) => c.toString(16).padStart(2, "0"));

/**
 * The same key as nft writes it: each 16 bytes as an IPv6 address with every
 * group written out (`::` for none). Made from the name's characters, one
 * byte each: a SAFE_NAME character is 0x2d or more, so a group that starts
 * with one is its two codes in hex, and one that starts past the name is 0.
 * An init writes thousands.
 */
export function nameKeyText(name: string): string {
  if (!SAFE_NAME.test(name)) throw new Error(`unsafe host name reached the names map: ${JSON.stringify(name)}`);
  const lower = name.toLowerCase();
  const n = lower.length;
  let out = "";
  for (let off = 0; off < NAME_KEY_BYTES; off += 16) {
    if (off > 0) out += " . ";
    if (off >= n) {
      out += "::";
      continue;
    }
    for (let i = off; i < off + 16; i += 2) {
      if (i > off) out += ":";
      out += i >= n ? "0" : i + 1 < n ? HEX2[lower.charCodeAt(i)]! + HEX2[lower.charCodeAt(i + 1)]! : `${HEX2[lower.charCodeAt(i)]!}00`;
    }
  }
  return out;
}

/** The maps each placement declares. */
export function mapsOf(p: Placement): (AddrMap | KeyMap | NameMap)[] {
  const keys: KeyMap[] = p === "ports" ? [KEYS_MAP, TXKEYS_MAP] : [KEYS_MAP];
  return [...MAPS.map((m) => m.name), ...keys, NAMES_MAP];
}

/**
 * The base chains each placement declares (a table without them is declared
 * anew at the next change). They branch to a chain per family (FAMILY_CHAINS),
 * so that a packet only meets rules of its own family; a table an earlier
 * iptmon laid out without those still counts, and gets them at the next init.
 */
export const CHAINS: Record<Placement, string[]> = { forward: ["forward"], ports: ["ingress", "egress"] };
export const FAMILY_CHAINS: Record<Placement, string[]> = { forward: ["forward6"], ports: ["in4", "in6", "out4", "out6"] };

/** The sets `ports` fills at each declare: every address of the router's own. */
export const PORT_SETS = [
  { name: "own4", type: "ipv4_addr" },
  { name: "own6", type: "ipv6_addr" },
] as const;

/** A set earlier layouts declared (the router's MACs, now inside the rules): removed at a declare. */
export const OLD_PORT_SETS = [{ name: "routermac", type: "ether_addr" }] as const;

/**
 * An egress chain sees the Ethernet header, an ingress chain does not: `ports`
 * tx counters hold this much more per packet than the IP packets they count.
 * iptmon reports the IP packet (as the forward hook counts it) on both.
 */
export const ETHER_HEADER = 14;

export type Dir = "rx" | "tx";
export const DIRS = ["rx", "tx"] as const;

/**
 * A host's counts that no longer count: nf_tables cannot set a live
 * counter's value, so a rename keeps the old pair (its elements move to the
 * new one in the same transaction, and from the commit on it holds exactly
 * what it counted) and then folds it into the key's carry pair, which no
 * element names either. A host's total is its live pair plus these.
 */
export interface KeyParts {
  /** The carry pair's counts (IP packet basis), null when there is none. */
  carry: HostCounters | null;
  /** Pairs a rename left behind (`rx_<name>`/`tx_<name>` of the key, named by no element), not folded yet. */
  retired: { name: string; counters: HostCounters }[];
}

/** A carry pair's counter: not `rx_`/`tx_`, so no host name can ever take it. */
export const CARRY_PREFIX = "carry_";
const SAFE_CARRY = /^carry_(rx|tx)_[A-Za-z0-9._-]{1,120}$/;

/**
 * The carry counter of a host key: one pair per key, found by one lookup.
 * A key's `:` becomes `-` (keys are a MAC, `duid:<hex>` or `host:<name>`, and
 * a name has no `:`, so no two keys share a carry).
 */
export function carryName(dir: "rx" | "tx", key: string): string {
  const n = `${CARRY_PREFIX}${dir}_${key.replaceAll(":", "-")}`;
  if (!SAFE_CARRY.test(n)) throw new Error(`unsafe host key reached a carry counter's name: ${JSON.stringify(key)}`);
  return n;
}

/** What the nftables backend read: the common states, plus a full read's stray counters and each key's parts that no longer count. */
export type NftState =
  | { read: "absent" }
  | { read: "layout"; hosts: LaidOutHost[] }
  | {
      read: "full";
      complete: boolean;
      hosts: CountedHost[];
      strays: string[];
      parts: ReadonlyMap<string, KeyParts>;
      /** The split's counts (see split.ts), read before the counters; absent where the table has no split sets. */
      split?: SplitCount[];
      /** The split's class chains the table has, and whether it has the split's sets. */
      splitChains?: string[];
      splitPresent?: boolean;
    }
  | ScopedState;

/** What `ports` hooks and fills, found on the router at each declare. */
export interface PortsEnv {
  ports: string[];
  routerMacs: string[];
  own4: string[];
  own6: string[];
}

export interface NftOptions {
  table: string;
  priority: number;
  placement: Placement;
  /** The per-host split counted (see split.ts); absent or null: none. */
  split?: SplitOptions | null;
}
