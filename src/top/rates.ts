/**
 * Rates from two readings of the counters. Pure: the caller says when each
 * reading was taken (milliseconds on a monotonic clock).
 */
import type { BackendName } from "../config.ts";
import type { Status, StatusHost } from "../status.ts";

export interface Sample {
  /** Milliseconds on a monotonic clock (performance.now()), when the counters were read. */
  at: number;
  status: Status;
}

export interface HostRate extends StatusHost {
  /**
   * Bits per second over the interval: rx = received from the host (its
   * upload), tx = sent to it (its download). Null when the host was not in
   * the earlier reading, or its counter went backwards (recreated): no rate is
   * known yet.
   */
  rx_bps: number | null;
  tx_bps: number | null;
}

export interface Rates {
  backend: BackendName;
  /** Seconds between the two readings; 0 for a first reading alone. */
  interval_s: number;
  hosts: HostRate[];
  /** Hosts of the earlier reading that are gone now. */
  left: StatusHost[];
}

function rate(before: number | undefined, after: number, seconds: number): number | null {
  if (before === undefined || seconds <= 0 || after < before) return null;
  return ((after - before) * 8) / seconds;
}

/** Hosts are matched by key (MAC, DUID or static name), so a renamed host keeps its rate. */
export function computeRates(prev: Sample | null, cur: Sample): Rates {
  const seconds = prev ? Math.max(0, (cur.at - prev.at) / 1000) : 0;
  const before = new Map((prev?.status.hosts ?? []).map((h) => [h.key, h]));
  const now = new Set(cur.status.hosts.map((h) => h.key));
  return {
    backend: cur.status.backend,
    interval_s: seconds,
    hosts: cur.status.hosts.map((h) => {
      const b = before.get(h.key);
      return { ...h, rx_bps: rate(b?.rx_bytes, h.rx_bytes, seconds), tx_bps: rate(b?.tx_bytes, h.tx_bytes, seconds) };
    }),
    left: (prev?.status.hosts ?? []).filter((h) => !now.has(h.key)),
  };
}

export type SortKey = "rate" | "down" | "up" | "total" | "total_down" | "total_up" | "name";

export const SORT_KEYS: Readonly<Record<SortKey, string>> = {
  rate: "current rate (down + up)",
  down: "download rate",
  up: "upload rate",
  total: "total bytes",
  total_down: "total downloaded",
  total_up: "total uploaded",
  name: "name",
};

/** Which value a sort key orders by; busiest first, a host without a rate counts as 0. */
function measure(h: HostRate, key: Exclude<SortKey, "name">): number {
  switch (key) {
    case "rate":
      return (h.rx_bps ?? 0) + (h.tx_bps ?? 0);
    case "down":
      return h.tx_bps ?? 0;
    case "up":
      return h.rx_bps ?? 0;
    case "total":
      return h.rx_bytes + h.tx_bytes;
    case "total_down":
      return h.tx_bytes;
    case "total_up":
      return h.rx_bytes;
  }
}

const byName = (a: HostRate, b: HostRate) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/** A sorted copy: numbers descending, names ascending; ties by name, so rows do not jump about. */
export function sortRates(hosts: HostRate[], key: SortKey): HostRate[] {
  const copy = [...hosts];
  if (key === "name") return copy.sort(byName);
  return copy.sort((a, b) => measure(b, key) - measure(a, key) || byName(a, b));
}
