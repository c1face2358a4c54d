/**
 * iptables (fw3 routers, and what collectd's iptables plugin reads): chains
 * `iptmon_rx` and `iptmon_tx` in table mangle, jumped to from FORWARD, one
 * RETURN rule per host address commented `rx_<name>` / `tx_<name>`; the same
 * chains in ip6tables for IPv6. A host's counters are the sum of its rules.
 *
 * Where the host key lives: in a third chain, `iptmon_hosts`, that nothing
 * jumps to: one rule per host commented `iptmon: <key> <name>`, in both
 * families. Why not the alternatives:
 * - a second comment match on each counting rule: collectd's plugin
 *   dispatches one value per comment match of a rule (it iterates every
 *   match), so every host would grow a second, bogus type instance
 *   (`iptmon: aa:bb:…`) next to `rx_<name>` in the graphs;
 * - a state file under /var/run: it and the kernel go out of step whenever
 *   something else changes the rules (a fw3 restart flushes mangle, someone
 *   runs `iptables -F`), and it needs its own atomic update. A chain in the
 *   same table is written by the same restore transaction as the counting
 *   rules, is flushed together with them, and is read by the same
 *   `iptables-save`: the kernel stays the only state, as with nftables.
 * collectd reads only the chains it is configured with, so it never sees
 * `iptmon_hosts`, and a chain nothing jumps to costs no packet any time.
 *
 * Every change is one `iptables-restore --noflush --counters` per family.
 * Events change single rules (`-D` of the exact rule, `-A` with `[p:b]`):
 * libiptc carries the counters of untouched rules across the table swap
 * exactly, so an event loses no packets. Init re-declares the chains, which
 * flushes them, and re-adds every rule with the counters just read.
 */
import type { Family } from "../../addr.ts";
import type { CountedHost, SplitCount } from "../../model.ts";

export interface IptChains {
  hosts: string;
  rx: string;
  tx: string;
}
export type Role = keyof IptChains;
/** Declaration order in restore input: the keys before the counters, for a person reading it. */
export const ROLES = ["hosts", "rx", "tx"] as const;
/** iptables allows 28 characters in a chain name; `_hosts` takes 6. */
export const PREFIX_RE = /^[A-Za-z0-9_.-]{1,22}$/;

export function chainsFor(prefix: string): IptChains {
  return { hosts: `${prefix}_hosts`, rx: `${prefix}_rx`, tx: `${prefix}_tx` };
}
export const DEFAULT_CHAINS = chainsFor("iptmon");
export const KEY_PREFIX = "iptmon: ";

export type Dir = "rx" | "tx";
export const DIRS = ["rx", "tx"] as const;
// rx: the router received it from the host, so the host is the source.
export const MATCH_OF: Record<Dir, string> = { rx: "-s", tx: "-d" };

// Names and keys are already reduced to these characters by the core; the
// guards make sure nothing else can ever reach a restore batch, where one bad
// line would abort every change of the table.
export const SAFE_KEY = /^[A-Za-z0-9:._-]{1,200}$/;

export interface IptRule {
  dir: Dir;
  /** Canonical address text, without the /32 or /128. */
  addr: string;
  name: string;
  packets: number;
  bytes: number;
}

/** What one family's `iptables-save -c -t mangle` says about iptmon. */
export interface IptFamilyState {
  /** Which of iptmon's chains exist. */
  chains: Role[];
  /** How many plain `-A FORWARD -j iptmon_<dir>` rules there are. */
  jumps: Record<Dir, number>;
  rules: IptRule[];
  /** The `iptmon_hosts` entries, in chain order. */
  keys: { key: string; name: string }[];
  /** Rules in iptmon's chains that are not of iptmon's making (removed on init). */
  strays: string[];
}

/** What the iptables backend read: the hosts, plus each family's rules for the renderer. */
/**
 * What the iptables backend read: the hosts of the managed families (keys from
 * `iptmon_hosts`, counters summed over each host's rules), plus each family's
 * rules for planning. A family lacking a chain or a jump is not complete.
 */
export type IptState =
  | { read: "absent" }
  | { read: "full"; complete: boolean; hosts: CountedHost[]; strays: string[]; families: Partial<Record<Family, IptFamilyState>>; split?: SplitCount[] };
