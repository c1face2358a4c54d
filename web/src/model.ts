/**
 * The page's state, without the DOM: readings of `iptmon status --json` (as
 * the CGI serves it), the rates between the last two, a short history for the
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
  return d as Status;
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
    for (const gone of r.left) this.history.delete(gone.key);
    return r;
  }

  rows(): HostRate[] {
    return this.rates ? sortRates(this.rates.hosts, this.sort) : [];
  }

  /** Whether any host carries this period's usage (the column shows only then). */
  hasUsage(): boolean {
    return this.rates?.hosts.some((h) => h.usage !== undefined) ?? false;
  }

  /** The hosts to chart: busiest now, with their history. */
  chart(): { host: HostRate; points: Point[] }[] {
    if (!this.rates) return [];
    return sortRates(this.rates.hosts, "rate")
      .slice(0, CHART_HOSTS)
      .map((host) => ({ host, points: this.history.get(host.key) ?? [] }))
      .filter((s) => s.points.length > 0);
  }
}

/** A round upper bound for the chart's axis: 1, 2 or 5 times a power of ten, at least `v`. */
export function niceMax(v: number): number {
  if (!(v > 0)) return 1000;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}
