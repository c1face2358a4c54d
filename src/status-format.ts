/** `iptmon status`'s text and JSON, and its rows per part (`--by`). Pure. */
import { partRows } from "./split/rows.ts";
import type { By } from "./split/view.ts";
import type { Status } from "./status.ts";
import { humanBytes } from "./top/format.ts";

/** The status with a row per host and part of one kind (`--by`). */
export function statusByPart(s: Status, by: By): Status {
  return { ...s, hosts: partRows(s.hosts, by, (h, p) => ({ ...h, ...p })) };
}

/** `status --json`, which the web page polls: one line. */
export function statusJson(s: Status): string {
  return `${JSON.stringify(s)}\n`;
}

/** A plain-text table with a totals row; rx = received from the host (its upload). */
export function formatStatus(s: Status): string {
  const head = ["HOST", "MAC", "ADDRESSES", "RX (upload)", "RX PKTS", "TX (download)", "TX PKTS"];
  const rows = s.hosts.map((h) => [
    h.name,
    h.mac ?? h.key,
    h.addresses.join(" ") || "-",
    humanBytes(h.rx_bytes),
    String(h.rx_packets),
    humanBytes(h.tx_bytes),
    String(h.tx_packets),
  ]);
  const t = s.totals;
  // Rows of `--by` are a host's parts: count hosts.
  const shown = new Set(s.hosts.map((h) => h.key.split("/")[0])).size;
  const total = [
    s.count === shown ? `TOTAL (${s.count} host${s.count === 1 ? "" : "s"})` : `TOTAL (${s.count} hosts, ${shown} shown)`,
    "",
    "",
    humanBytes(t.rx_bytes),
    String(t.rx_packets),
    humanBytes(t.tx_bytes),
    String(t.tx_packets),
  ];
  const all = [head, ...rows, total];
  const width = head.map((_, c) => Math.max(...all.map((r) => r[c]!.length)));
  const right = new Set([3, 4, 5, 6]);
  const line = (r: string[]) =>
    r
      .map((cell, c) => (right.has(c) ? cell.padStart(width[c]!) : cell.padEnd(width[c]!)))
      .join("  ")
      .trimEnd();
  const where = s.hook === "ports" ? "counting at the LAN ports" : "counting in the forward hook";
  return `backend: ${s.backend}, ${where}\n${[line(head), ...rows.map(line), line(total)].join("\n")}\n`;
}
