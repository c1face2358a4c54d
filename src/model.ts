/** The host model: what iptmon wants counted, and what the kernel holds. */
import { parseAddress, type Address } from "./addr.ts";

export interface Host {
  /** A MAC (`aa:bb:…`), `duid:<hex>` for a DHCPv6 client with no MAC known, or `host:<name>` for a static host. */
  key: string;
  /** Unique, reduced to [A-Za-z0-9._-], at most 63 characters. */
  name: string;
  /** Canonical texts, IPv4 first, each in exactly one host. */
  addresses: string[];
}

export interface Counter {
  packets: number;
  bytes: number;
}

export interface CountedHost extends Host {
  rx: Counter;
  tx: Counter;
  /**
   * Its counters include a pair a rename left behind that no element names
   * and nothing folded yet: a lookup of its pair by name misses that part.
   */
  unfolded?: true;
}

export interface HostCounters {
  rx: Counter;
  tx: Counter;
}

/**
 * What a backend read of its objects in the kernel, saying what it knows:
 * - `absent`: iptmon's table (chains) is not there at all;
 * - `layout`: hosts with names and addresses, but no counters, and a key only
 *   where the read can tell it (a MAC host's); null stands for "not a MAC
 *   host, and this read does not say which";
 * - `full`: every host with its key and counters; `complete` is false when
 *   part of iptmon's layout is missing (an older iptmon's, or hand-edited), so
 *   a change re-declares it;
 * - `scoped`: only the hosts one event is about (see ScopedState).
 */
export type KernelState =
  | { read: "absent" }
  | { read: "layout"; hosts: LaidOutHost[] }
  | { read: "full"; complete: boolean; hosts: CountedHost[]; split?: SplitCount[] }
  | ScopedState;

/**
 * One kernel counter of the per-host split (src/split/): who it counts for
 * (`mac:<MAC>`, `addr:<address>` or `key:<host key>`), which part (`ipv6`,
 * a service class's name, or `#<id>` of a class no longer configured), and
 * what it counted since the kernel made it (`gen` tells one making from
 * the next). A full read where the split is
 * on has every one; its absence means the split is off.
 */
export interface SplitCount {
  dir: "rx" | "tx";
  handle: string;
  /** Which making of the counter it is: one made anew (a set flushed with its table) counts from zero again. */
  gen?: string;
  part: string;
  packets: number;
  bytes: number;
}

/**
 * What an event needs of the kernel, read by key instead of listing every
 * host: the host of the event's key and the owners of the addresses it may
 * take (EventScope), each with the addresses of the scope it holds and how
 * many more it holds (`unseen`); and, for anything else, questions the
 * kernel answers by one lookup each.
 */
export interface ScopedState {
  read: "scoped";
  /** The addresses this read looked up: planning that reaches past them asks for the full read. */
  addresses: string[];
  hosts: ScopedHost[];
  /** Whether a host of another scope has this name, ignoring case. */
  nameTaken(name: string): boolean;
  /** The key of the host holding an address (null: none), for addresses outside the scope. */
  ownerKey(address: string): string | null;
}

export interface ScopedHost extends CountedHost {
  /** How many addresses it holds besides `addresses` (those of the scope). */
  unseen: number;
}

/** The host key and addresses an event may touch: what a scoped read looks up. */
export interface EventScope {
  key: string;
  addresses: string[];
}

export type FullState = Extract<KernelState, { read: "full" }>;

export interface LaidOutHost {
  key: string | null;
  name: string;
  addresses: string[];
}

/**
 * A host as planned for the kernel: either its counters stay as they are
 * (they exist under this name), or they are (re)created from `start` (a new
 * host, a renamed one carrying its numbers, a counter restored from a snapshot).
 * `start` is the total the host is to have: a backend may leave counts it
 * already holds where they are and create only the rest (nftables keeps a
 * renamed host's old counters). Only a host whose counters stay may have an
 * unknown key.
 */
export type PlannedHost =
  | (LaidOutHost & { counters: "keep" })
  | (Host & { counters: HostCounters; /** Exactly these, whatever the kernel counted (a reset); else at least. */ reset?: true });

export const EMPTY_STATE: FullState = { read: "full", complete: false, hosts: [] };

export const NAME_MAX = 63;

/** A Linux network device's name as iptmon accepts it anywhere (config, events, netifd, nft): at most 15 characters. */
export const DEVICE_NAME = /^[A-Za-z0-9_.-]{1,15}$/;

/** What a host name may be once reduced; backends check it again before any output. */
export const SAFE_NAME = /^[A-Za-z0-9._-]{1,63}$/;

/** 6 for an IPv6 address text, 4 for IPv4. */
export function familyOf(addr: string): 4 | 6 {
  return addr.includes(":") ? 6 : 4;
}

export const zeroCounter = (): Counter => ({ packets: 0, bytes: 0 });

/** The MAC of a host key, or null for DUID and static keys. */
export function macOf(key: string): string | null {
  return key.includes(":") && !key.startsWith("duid:") && !key.startsWith("host:") ? key : null;
}

/**
 * Reduces an untrusted name (a DHCP hostname, a hosts-file entry) to what
 * may appear in a counter name: [A-Za-z0-9._-], no domain suffix, at most 63
 * characters. Anything else becomes `-`. Null when nothing usable is left.
 */
export function sanitizeName(raw: string | null | undefined, domain: string | null): string | null {
  if (!raw) return null;
  let s = raw.replace(/[^A-Za-z0-9._-]+/g, "-");
  s = s.replace(/\.+$/, "");
  if (domain) {
    const suffix = `.${domain.replace(/^\.+/, "")}`.toLowerCase();
    if (s.toLowerCase().endsWith(suffix) && s.length > suffix.length) s = s.slice(0, -suffix.length);
  }
  s = s.replace(/^[-.]+|[-.]+$/g, "").slice(0, NAME_MAX).replace(/[-.]+$/, "");
  return s === "" ? null : s;
}

/** The name of a host known by nothing but its addresses. */
export function nameFromAddresses(addresses: string[]): string {
  const first = addresses[0] ?? "unknown";
  return first.replaceAll(":", "-").replace(/^-+|-+$/g, "").slice(0, NAME_MAX) || "unknown";
}

/** Makes `base` unique against `taken` (lower-cased names): `android`, `android-2`, … */
export function uniqueName(base: string, taken: { has(lowerName: string): boolean }): string {
  if (!taken.has(base.toLowerCase())) return base;
  for (let i = 2; ; i++) {
    const suffix = `-${i}`;
    const candidate = `${base.slice(0, NAME_MAX - suffix.length)}${suffix}`;
    if (!taken.has(candidate.toLowerCase())) return candidate;
  }
}

/** IPv4 before IPv6, then by numeric value. */
export function compareAddresses(a: Address, b: Address): number {
  if (a.family !== b.family) return a.family - b.family;
  for (let i = 0; i < a.bytes.length; i++) if (a.bytes[i] !== b.bytes[i]) return a.bytes[i]! - b.bytes[i]!;
  return 0;
}

/** Canonical texts, duplicates removed, in compareAddresses' order. */
export function sortAddresses(addrs: Iterable<string>): string[] {
  return [...new Set(addrs)]
    .map((t) => parseAddress(t)!)
    .sort(compareAddresses)
    .map((a) => a.text);
}

export function sortHosts<T extends { name: string }>(hosts: T[]): T[] {
  return hosts.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
