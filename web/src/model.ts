/**
 * The page's state, without the DOM: readings of `iptmon status --json
 * --busiest` (as the CGI serves it: the busiest hosts, with the count and
 * totals of all), the rates between the last two, a short history for the
 * chart, and the table's order. Rates, sorting and units are the very
 * functions `iptmon top` uses.
 */
import type { Status, StatusHost } from "../../src/status.ts";
import { computeRates, sortRates, type HostRate, type Rates, type Sample, type SortKey } from "../../src/top/rates.ts";

export type { HostRate, Rates, SortKey };

/** Samples the chart keeps per host (at the default 2 s: two minutes). */
export const HISTORY = 60;
/** Hosts drawn in the chart: the busiest ones now. */
export const CHART_HOSTS = 5;
/** The chart's colours; a host keeps the one it was given while it stays on the page. */
export const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f"];

const isNum = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);
const isStr = (v: unknown): v is string => typeof v === "string";

/**
 * Checks the shape of what the CGI sent: a wrong page or a proxy's error must
 * give a clear message, not a broken table. Fields it does not know are kept.
 */
export function parseStatus(text: string): Status {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new Error("the router's answer is not JSON");
  }
  const d = doc as { backend?: unknown; hosts?: unknown };
  if (!d || typeof d !== "object" || !isStr(d.backend) || !Array.isArray(d.hosts)) throw new Error("the router's answer has no host list");
  for (const h of d.hosts as Partial<StatusHost>[]) {
    const ok =
      h && isStr(h.name) && isStr(h.key) && (h.mac === null || isStr(h.mac)) && Array.isArray(h.addresses) && h.addresses.every(isStr) &&
      isNum(h.rx_bytes) && isNum(h.tx_bytes) && isNum(h.rx_packets) && isNum(h.tx_packets);
    if (!ok) throw new Error("the router's answer has a malformed host");
    if (h.usage !== undefined && !(h.usage && isNum(h.usage.rx_bytes) && isNum(h.usage.tx_bytes))) delete h.usage;
  }
  // The period, count and totals (an older iptmon sends none): kept only when whole.
  const s = d as Partial<Status> & Record<string, unknown>;
  const p = s.period as Partial<NonNullable<Status["period"]>> | null | undefined;
  if (p !== undefined && p !== null && !(isStr(p.name) && isNum(p.start) && isNum(p.end))) s.period = null;
  if (!isNum(s.count)) delete s.count;
  const t = s.totals as Partial<Status["totals"]> | undefined;
  if (!(t && isNum(t.rx_bytes) && isNum(t.tx_bytes) && isNum(t.rx_packets) && isNum(t.tx_packets) && t.usage && isNum(t.usage.rx_bytes) && isNum(t.usage.tx_bytes))) delete s.totals;
  return d as Status;
}

/** What the footer sums: every host, from the reading's totals (or, from an older iptmon, the hosts listed). */
export interface Footer {
  shown: number;
  count: number;
  rx_bytes: number;
  tx_bytes: number;
  usage: { rx_bytes: number; tx_bytes: number } | null;
  /** All hosts' rates, from the totals' growth; null when not known (a first reading, a host gone meanwhile). */
  rx_bps: number | null;
  tx_bps: number | null;
}

export interface Point {
  at: number;
  /** Download + upload, bits/s. */
  bps: number;
}

export class Model {
  prev: Sample | null = null;
  cur: Sample | null = null;
  rates: Rates | null = null;
  sort: SortKey = "rate";
  /** Per host key: the last HISTORY rates. */
  readonly history = new Map<string, Point[]>();
  /** Per host key: its colour's index in COLORS, kept while the host is on the page. */
  readonly colors = new Map<string, number>();
  /** performance.now() of the last reading taken; null before the first. */
  lastAt: number | null = null;

  add(status: Status, at: number): Rates {
    this.prev = this.cur;
    this.cur = { at, status };
    const r = computeRates(this.prev, this.cur);
    this.rates = r;
    for (const h of r.hosts) {
      if (h.rx_bps === null && h.tx_bps === null) continue;
      const pts = this.history.get(h.key) ?? [];
      pts.push({ at, bps: (h.rx_bps ?? 0) + (h.tx_bps ?? 0) });
      if (pts.length > HISTORY) pts.splice(0, pts.length - HISTORY);
      this.history.set(h.key, pts);
    }
    for (const gone of r.left) {
      this.history.delete(gone.key);
      this.colors.delete(gone.key);
    }
    this.lastAt = at;
    return r;
  }

  /** Forgets every reading (the data is not to be shown: the HTTP opt-in is off). */
  clear(): void {
    this.prev = this.cur = this.rates = null;
    this.lastAt = null;
    this.history.clear();
    this.colors.clear();
  }

  /** The open period of the last reading, if any. */
  period(): Status["period"] {
    return this.cur?.status.period ?? null;
  }

  footer(): Footer | null {
    if (!this.cur || !this.rates) return null;
    const s = this.cur.status;
    const hosts = s.hosts;
    const sum = (f: (h: (typeof hosts)[number]) => number) => hosts.reduce((a, h) => a + f(h), 0);
    const t = s.totals ?? {
      rx_bytes: sum((h) => h.rx_bytes),
      tx_bytes: sum((h) => h.tx_bytes),
      rx_packets: 0,
      tx_packets: 0,
      usage: { rx_bytes: sum((h) => h.usage?.rx_bytes ?? 0), tx_bytes: sum((h) => h.usage?.tx_bytes ?? 0) },
    };
    const before = this.prev?.status.totals;
    const secs = this.rates.interval_s;
    // The totals' growth is every host's traffic, shown or not; a host gone
    // or reset in between makes it shrink, and no rate is known then.
    const rate = (a: number | undefined, b: number) => (a === undefined || secs <= 0 || b < a ? null : ((b - a) * 8) / secs);
    return {
      shown: hosts.length,
      count: s.count ?? hosts.length,
      rx_bytes: t.rx_bytes,
      tx_bytes: t.tx_bytes,
      usage: s.period || hosts.some((h) => h.usage) ? t.usage : null,
      rx_bps: s.totals ? rate(before?.rx_bytes, t.rx_bytes) : this.sumRates((h) => h.rx_bps),
      tx_bps: s.totals ? rate(before?.tx_bytes, t.tx_bytes) : this.sumRates((h) => h.tx_bps),
    };
  }

  private sumRates(f: (h: HostRate) => number | null): number | null {
    if (!this.rates || this.rates.interval_s <= 0) return null;
    return this.rates.hosts.reduce((a, h) => a + (f(h) ?? 0), 0);
  }

  rows(): HostRate[] {
    return this.rates ? sortRates(this.rates.hosts, this.sort) : [];
  }

  /** Whether any host carries this period's usage (the column shows only then). */
  hasUsage(): boolean {
    return this.rates?.hosts.some((h) => h.usage !== undefined) ?? false;
  }

  /**
   * The hosts to chart: busiest now, with their history and colour. A host
   * keeps its colour while it stays on the page; one new to the chart takes
   * a colour no charted host has, the one left unused longest.
   */
  chart(): { host: HostRate; points: Point[]; color: string }[] {
    if (!this.rates) return [];
    const series = sortRates(this.rates.hosts, "rate")
      .slice(0, CHART_HOSTS)
      .map((host) => ({ host, points: this.history.get(host.key) ?? [] }))
      .filter((s) => s.points.length > 0);
    const taken = new Set(series.flatMap((s) => (this.colors.has(s.host.key) ? [this.colors.get(s.host.key)!] : [])));
    for (const s of series) {
      if (this.colors.has(s.host.key)) continue;
      // Free colours first, and of those the one whose last holder was given it earliest.
      const held = new Map([...this.colors].map(([, c], i) => [c, i]));
      let pick = 0;
      let best = Infinity;
      for (let c = 0; c < COLORS.length; c++) {
        if (taken.has(c)) continue;
        const age = held.get(c) ?? -1;
        if (age < best) [pick, best] = [c, age];
      }
      // A colour moves to the end of the map's order when given again.
      for (const [k, c] of this.colors) if (c === pick) this.colors.delete(k);
      this.colors.set(s.host.key, pick);
      taken.add(pick);
    }
    return series.map((s) => ({ ...s, color: COLORS[this.colors.get(s.host.key)!]! }));
  }
}

/** A round upper bound for the chart's axis: 1, 2 or 5 times a power of ten, at least `v`. */
export function niceMax(v: number): number {
  if (!(v > 0)) return 1000;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}
