/** `iptmon usage`: per host, bytes and packets within each period, for people and for scripts. */
import { macOf } from "../model.ts";
import type { Period, State, Usage } from "../snapshot/state.ts";
import { partRows } from "../split/rows.ts";
import { splitView, type Breakdown, type By, type SplitView } from "../split/view.ts";
import { humanBytes } from "../top/format.ts";
import { selectPeriods } from "./record.ts";

export interface UsageHost {
  key: string;
  name: string;
  mac: string | null;
  /** Received from the host (its upload). */
  rx_bytes: number;
  rx_packets: number;
  /** Sent to the host (its download). */
  tx_bytes: number;
  tx_packets: number;
  /** Where `breakdown` splits usage: by IP family and by service (see src/split/view.ts). */
  families?: SplitView["families"];
  services?: SplitView["services"];
}

export interface UsagePeriod {
  name: string;
  /** Seconds since the epoch: first second in, first second after. */
  start: number;
  end: number;
  current: boolean;
  hosts: UsageHost[];
  total: Omit<UsageHost, "key" | "name" | "mac">;
}

export interface UsageReport {
  periods: UsagePeriod[];
  /** Usage seen before the clock was set, not yet in any period. */
  unassigned?: UsageHost[];
}

/** What of the split a report shows: the kinds, and the classes configured now (in order). */
export interface SplitShown {
  breakdown: Breakdown;
  services: readonly string[];
}

function hostsOf(s: State, m: Record<string, Usage>, shown?: SplitShown, split?: Period["split"]): UsageHost[] {
  return Object.entries(m)
    .map(([key, u]) => {
      const h: UsageHost = { key, name: s.hosts[key]?.name ?? key, mac: macOf(key), rx_bytes: u[0], rx_packets: u[1], tx_bytes: u[2], tx_packets: u[3] };
      return shown?.breakdown.length ? { ...h, ...splitView(u, split?.[key], shown.breakdown, shown.services) } : h;
    })
    .sort((a, b) => b.rx_bytes + b.tx_bytes - (a.rx_bytes + a.tx_bytes) || (a.name < b.name ? -1 : 1));
}

const sum = (hs: UsageHost[]) => ({
  rx_bytes: hs.reduce((a, h) => a + h.rx_bytes, 0),
  rx_packets: hs.reduce((a, h) => a + h.rx_packets, 0),
  tx_bytes: hs.reduce((a, h) => a + h.tx_bytes, 0),
  tx_packets: hs.reduce((a, h) => a + h.tx_packets, 0),
});

export function buildUsage(s: State, which: string, shown?: SplitShown): UsageReport {
  const last = s.periods.at(-1);
  const periods = selectPeriods(s, which).map((p) => {
    const hosts = hostsOf(s, p.hosts, shown, p.split ?? {});
    return { name: p.name, start: p.start, end: p.end, current: p === last, hosts, total: sum(hosts) };
  });
  const held = hostsOf(s, s.held, shown);
  return held.length > 0 && (which === "current" || which === "all") ? { periods, unassigned: held } : { periods };
}

/** The report with a row per host and part of one kind (`--by`). */
export function usageByPart(r: UsageReport, by: By): UsageReport {
  const rows = (hs: UsageHost[]) => partRows(hs, by, (h, p) => ({ ...h, ...p }));
  return { periods: r.periods.map((p) => ({ ...p, hosts: rows(p.hosts) })), ...(r.unassigned ? { unassigned: rows(r.unassigned) } : {}) };
}

const isoDate = (t: number) => new Date(t * 1000).toISOString().slice(0, 16).replace("T", " ");

export function formatUsage(r: UsageReport): string {
  const head = ["HOST", "MAC", "DOWNLOAD (tx)", "UPLOAD (rx)", "TOTAL"];
  const table = (hosts: UsageHost[]) => {
    const rows = hosts.map((h) => [h.name, h.mac ?? h.key, humanBytes(h.tx_bytes), humanBytes(h.rx_bytes), humanBytes(h.tx_bytes + h.rx_bytes)]);
    const t = sum(hosts);
    // Rows of `--by` are a host's parts: count hosts.
    const n = new Set(hosts.map((h) => h.key.split("/")[0])).size;
    const all = [head, ...rows, [`TOTAL (${n} host${n === 1 ? "" : "s"})`, "", humanBytes(t.tx_bytes), humanBytes(t.rx_bytes), humanBytes(t.tx_bytes + t.rx_bytes)]];
    const width = head.map((_, c) => Math.max(...all.map((row) => row[c]!.length)));
    return all.map((row) => row.map((cell, c) => (c >= 2 ? cell.padStart(width[c]!) : cell.padEnd(width[c]!))).join("  ").trimEnd()).join("\n");
  };
  const parts = r.periods.map((p) => `period ${p.name} (${isoDate(p.start)} to ${isoDate(p.end)} UTC${p.current ? ", current" : ""})\n${table(p.hosts)}\n`);
  if (r.unassigned) parts.push(`before the clock was set (goes to the next period opened)\n${table(r.unassigned)}\n`);
  return parts.length > 0 ? parts.join("\n") : "no usage recorded for this period\n";
}
