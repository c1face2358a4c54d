/**
 * The ranking beside the state file (`<statefile>.busiest`): what the page's
 * poll (`status --json --busiest`) needs of the last full sample, so that a
 * poll looks up a few hundred counters by name instead of dumping every
 * host's. Each full sample writes it: the sample's time, the open period,
 * the count and totals over every host, and the RANKED busiest hosts at that
 * sample (by this period's usage, then total bytes, then name) with their
 * counters and usage then. It names the state text written with it (its
 * digest), and is used only while the journal beside the state names that
 * text with no sample since (iptmon wrote no other state: no reset, no
 * event's sample); a change to the kernel's hosts removes it. The poll never
 * reads the state itself: a state file broken meanwhile is found (and set
 * aside) by the next read that needs it.
 */
import type { CountedHost } from "../model.ts";
import type { PeriodSpec } from "../usage/periods.ts";
import { specText } from "../usage/periods.ts";
import { isCount, isObj, isTime, need, parseVersioned, type State } from "./state.ts";

export const RANKING_SUFFIX = ".busiest";
export const RANKING_FORMAT = "iptmon-busiest";
export const RANKING_VERSION = 1;
/** Hosts a ranking lists: the hundred a poll shows, and some that may overtake them before the next sample. */
export const RANKED = 150;
/** A ranking iptmon wrote is ~60 KB (150 hosts); its addresses bound it. */
export const RANKING_READ_MAX = 4 * 1024 * 1024;

/** What counted the hosts: a ranking of another backend, table or placement is not this one's. */
export interface RankingSource {
  backend: string;
  table: string;
  hook: string;
}

export interface RankedHost {
  key: string;
  name: string;
  addresses: string[];
  /** Its totals at the sample: [bytes, packets] per direction (tx on the IP packet basis). */
  rx: [number, number];
  tx: [number, number];
  /** Its usage in the period at the sample: rx bytes, tx bytes. */
  usage: [number, number];
}

export interface RankingTotals {
  rx_bytes: number;
  rx_packets: number;
  tx_bytes: number;
  tx_packets: number;
  usage: { rx_bytes: number; tx_bytes: number };
}

export interface Ranking extends RankingSource {
  /** The sample's time (seconds since the epoch). */
  t: number;
  /** digestOf the state text written with it. */
  state: string;
  /** The period setting it was taken under (specText). */
  spec: string;
  /** The open period at the sample; null: none open (usage is then not ranked). */
  period: { name: string; start: number; end: number } | null;
  count: number;
  totals: RankingTotals;
  /** Busiest first. */
  hosts: RankedHost[];
}

/** What hosts are ranked by. */
export interface Ranked {
  /** This period's usage, rx + tx bytes. */
  used: number;
  /** Total bytes, rx + tx. */
  total: number;
  name: string;
}

/** Busiest first: by this period's usage, then total bytes, then name. */
export const busiestFirst = (a: Ranked, b: Ranked): number => b.used - a.used || b.total - a.total || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/** The first `n` of `items` in `order`, without sorting them all (a poll of thousands shows a hundred). */
export function topOf<T>(items: readonly T[], n: number, order: (a: T, b: T) => number): T[] {
  if (items.length <= n) return [...items].sort(order);
  const top: T[] = [];
  for (const x of items) {
    if (top.length === n && order(x, top[n - 1]!) >= 0) continue;
    // Insert in place: ordered, at most n long.
    let lo = 0;
    let hi = top.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (order(x, top[mid]!) < 0) hi = mid;
      else lo = mid + 1;
    }
    top.splice(lo, 0, x);
    if (top.length > n) top.pop();
  }
  return top;
}

/**
 * The ranking of a full sample of `hosts` just recorded into `s` at time
 * `t`; null when a host it would list holds a part a lookup by name misses
 * (a renamed pair not folded yet: see CountedHost.unfolded).
 */
export function rankingOf(s: State, hosts: readonly CountedHost[], t: number, spec: PeriodSpec, source: RankingSource, state: string): Ranking | null {
  const p = s.periods.at(-1);
  const totals: RankingTotals = { rx_bytes: 0, rx_packets: 0, tx_bytes: 0, tx_packets: 0, usage: { rx_bytes: 0, tx_bytes: 0 } };
  const all = hosts.map((h) => {
    const u = p?.hosts[h.key];
    const usage: [number, number] = u ? [u[0], u[2]] : [0, 0];
    totals.rx_bytes += h.rx.bytes;
    totals.rx_packets += h.rx.packets;
    totals.tx_bytes += h.tx.bytes;
    totals.tx_packets += h.tx.packets;
    totals.usage.rx_bytes += usage[0];
    totals.usage.tx_bytes += usage[1];
    return { h, usage, used: usage[0] + usage[1], total: h.rx.bytes + h.tx.bytes, name: h.name };
  });
  const top = topOf(all, RANKED, busiestFirst);
  if (top.some(({ h }) => h.unfolded)) return null;
  return {
    ...source,
    t,
    state,
    spec: specText(spec),
    period: p ? { name: p.name, start: p.start, end: p.end } : null,
    count: hosts.length,
    totals,
    hosts: top.map(({ h, usage }) => ({
      key: h.key,
      name: h.name,
      addresses: h.addresses,
      rx: [h.rx.bytes, h.rx.packets],
      tx: [h.tx.bytes, h.tx.packets],
      usage,
    })),
  };
}

export function serializeRanking(r: Ranking): string {
  return `${JSON.stringify({ format: RANKING_FORMAT, version: RANKING_VERSION, ...r })}\n`;
}

const pair = (v: unknown, what: string): [number, number] => {
  need(Array.isArray(v) && v.length === 2 && v.every(isCount), `${what} is not 2 counts`);
  return v as [number, number];
};

function rankedHost(v: unknown): RankedHost {
  need(isObj(v) && typeof v.key === "string" && typeof v.name === "string" && Array.isArray(v.addresses) && v.addresses.every((a) => typeof a === "string"), "bad host");
  need(v.key.length > 0 && v.name.length > 0, "bad host key or name");
  return { key: v.key, name: v.name, addresses: v.addresses as string[], rx: pair(v.rx, "rx"), tx: pair(v.tx, "tx"), usage: pair(v.usage, "usage") };
}

/** A ranking's text, checked field by field; throws BadState saying what is wrong. */
export function parseRanking(text: string): Ranking {
  const raw = parseVersioned(text, RANKING_FORMAT, RANKING_VERSION, "ranking");
  need(isTime(raw.t) && typeof raw.state === "string" && typeof raw.spec === "string", "bad head");
  need(typeof raw.backend === "string" && typeof raw.table === "string" && typeof raw.hook === "string", "bad source");
  const p = raw.period;
  need(p === null || (isObj(p) && typeof p.name === "string" && isTime(p.start) && isTime(p.end)), "bad period");
  need(isCount(raw.count), "bad count");
  const t = raw.totals;
  need(isObj(t) && [t.rx_bytes, t.rx_packets, t.tx_bytes, t.tx_packets].every(isCount) && isObj(t.usage) && isCount(t.usage.rx_bytes) && isCount(t.usage.tx_bytes), "bad totals");
  need(Array.isArray(raw.hosts) && raw.hosts.length <= raw.count, "bad hosts");
  const totals = t as unknown as RankingTotals;
  return {
    backend: raw.backend,
    table: raw.table,
    hook: raw.hook,
    t: raw.t,
    state: raw.state,
    spec: raw.spec,
    period: p === null ? null : { name: (p as { name: string }).name, start: (p as { start: number }).start, end: (p as { end: number }).end },
    count: raw.count,
    totals: { rx_bytes: totals.rx_bytes, rx_packets: totals.rx_packets, tx_bytes: totals.tx_bytes, tx_packets: totals.tx_packets, usage: { rx_bytes: totals.usage.rx_bytes, tx_bytes: totals.usage.tx_bytes } },
    hosts: raw.hosts.map(rankedHost),
  };
}
