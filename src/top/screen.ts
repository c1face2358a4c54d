/**
 * What `iptmon top` shows, as plain lines: one table for a terminal of a
 * given size (interactive) or for a pipe (--once). Pure; the caller adds the
 * terminal's escape sequences.
 */
import { humanBytes, humanRate } from "./format.ts";
import { SORT_KEYS, sortRates, type HostRate, type Rates, type SortKey } from "./rates.ts";

interface Column {
  head: string;
  right: boolean;
  cell(h: HostRate): string;
  total?(hs: HostRate[]): string;
}

const sumRate = (hs: HostRate[], f: (h: HostRate) => number | null) => humanRate(hs.reduce((a, h) => a + (f(h) ?? 0), 0));
const sumBytes = (hs: HostRate[], f: (h: HostRate) => number) => humanBytes(hs.reduce((a, h) => a + f(h), 0));

/** Never trust a name to be free of terminal escapes, whatever made it. */
export function printable(s: string): string {
  // biome-ignore lint: control characters are what this removes
  return s.replace(/[\u0000-\u001f\u007f-\u009f]/g, "?");
}

// Download and upload are the host's; tx/rx, the router's words (collectd, LuCI graphs), go beside them.
const COLUMNS: Column[] = [
  { head: "HOST", right: false, cell: (h) => printable(h.name), total: (hs) => `TOTAL (${hs.length} host${hs.length === 1 ? "" : "s"})` },
  { head: "DOWN (tx)", right: true, cell: (h) => humanRate(h.tx_bps), total: (hs) => sumRate(hs, (h) => h.tx_bps) },
  { head: "UP (rx)", right: true, cell: (h) => humanRate(h.rx_bps), total: (hs) => sumRate(hs, (h) => h.rx_bps) },
  { head: "TOTAL DOWN", right: true, cell: (h) => humanBytes(h.tx_bytes), total: (hs) => sumBytes(hs, (h) => h.tx_bytes) },
  { head: "TOTAL UP", right: true, cell: (h) => humanBytes(h.rx_bytes), total: (hs) => sumBytes(hs, (h) => h.rx_bytes) },
  { head: "MAC", right: false, cell: (h) => printable(h.mac ?? h.key) },
  { head: "ADDRESSES", right: false, cell: (h) => printable(h.addresses.join(" ")) || "-" },
];

function table(rows: HostRate[], all: HostRate[], width: number): string[] {
  const grid = [COLUMNS.map((c) => c.head), ...rows.map((h) => COLUMNS.map((c) => c.cell(h))), COLUMNS.map((c) => c.total?.(all) ?? "")];
  const widths = COLUMNS.map((_, i) => Math.max(...grid.map((r) => r[i]!.length)));
  // Drop columns from the right until the rest fit; the host and its rates always stay.
  let n = COLUMNS.length;
  const used = (k: number) => widths.slice(0, k).reduce((a, w) => a + w, 0) + 2 * (k - 1);
  while (n > 3 && used(n) > width) n--;
  return grid.map((r) =>
    r
      .slice(0, n)
      .map((cell, i) => (COLUMNS[i]!.right ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd()
      .slice(0, width),
  );
}

export interface ScreenState {
  rates: Rates;
  sort: SortKey;
  intervalS: number;
  width: number;
  height: number;
}

const fmtSeconds = (s: number) => `${Number(s.toFixed(2))} s`;

/** Exactly `height` lines or fewer, none longer than `width`. */
export function renderScreen(st: ScreenState): string[] {
  const { rates, width, height } = st;
  const sorted = sortRates(rates.hosts, st.sort);
  const head = [
    `iptmon top - ${rates.hosts.length} host${rates.hosts.length === 1 ? "" : "s"}, every ${fmtSeconds(st.intervalS)}, sorted by ${SORT_KEYS[st.sort]}, backend ${rates.backend}`,
    rates.interval_s === 0
      ? "measuring: rates appear after the first interval"
      : rates.left.length > 0
        ? `gone since the last reading: ${rates.left.map((h) => printable(h.name)).join(" ")}`
        : "",
  ];
  const keys = "keys: r rate  d download  u upload  t total  n name  q quit";
  // head (2) + table header + totals + keys = 5 lines around the host rows.
  const room = Math.max(0, height - 5);
  const shown = sorted.length > room ? sorted.slice(0, Math.max(0, room - 1)) : sorted;
  const body = table(shown, rates.hosts, width);
  const more = sorted.length > shown.length ? [`... ${sorted.length - shown.length} more (make the terminal taller)`] : [];
  const lines = [...head, body[0]!, ...body.slice(1, -1), ...more, body[body.length - 1]!, keys];
  return lines.slice(0, Math.max(1, height)).map((l) => l.slice(0, width));
}

/** --once without --json: the table for a pipe, every host, every column. */
export function formatRates(rates: Rates): string {
  const sorted = sortRates(rates.hosts, "rate");
  const lines = table(sorted, rates.hosts, Number.MAX_SAFE_INTEGER);
  return `backend: ${rates.backend}, rates over ${fmtSeconds(rates.interval_s)}\n${lines.join("\n")}\n`;
}

/** --once --json: the status of the second reading, each host with its rates, busiest first. */
export function ratesJson(rates: Rates): string {
  return `${JSON.stringify({ backend: rates.backend, interval_s: Number(rates.interval_s.toFixed(3)), hosts: sortRates(rates.hosts, "rate") })}\n`;
}
