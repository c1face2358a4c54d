/**
 * nftables layout: `table inet <table>` of iptmon's own (fw4 reloads never
 * touch it), a named counter per host and direction, and maps from address to
 * counter, so a packet costs one lookup whatever the number of hosts.
 */
import type { CountedHost, LaidOutHost } from "../../model.ts";

export const COMMENT_PREFIX = "iptmon: ";

export const MAPS = [
  { name: "rx4", type: "ipv4_addr", dir: "rx", family: 4, match: "ip saddr" },
  { name: "tx4", type: "ipv4_addr", dir: "tx", family: 4, match: "ip daddr" },
  { name: "rx6", type: "ipv6_addr", dir: "rx", family: 6, match: "ip6 saddr" },
  { name: "tx6", type: "ipv6_addr", dir: "tx", family: 6, match: "ip6 daddr" },
] as const;
export type AddrMap = (typeof MAPS)[number]["name"];

/**
 * MAC → rx counter, used by no rule: it lets an event find a host by MAC
 * from the maps alone, without listing every counter (the slow part of a
 * read at thousands of hosts).
 */
export const KEYS_MAP = "keys";

export const CHAIN = "forward";

export type Dir = "rx" | "tx";
export const DIRS = ["rx", "tx"] as const;

/** What the nftables backend read: the common states, plus a full read's stray counters. */
export type NftState =
  | { read: "absent" }
  | { read: "layout"; hosts: LaidOutHost[] }
  | { read: "full"; complete: boolean; hosts: CountedHost[]; strays: string[] };

export interface NftOptions {
  table: string;
  priority: number;
}
