/** `iptmon status`: the hosts and their counters, for people and for scripts. */
import type { BackendName } from "./config.ts";
import { readHosts, type Runtime } from "./core.ts";
import { currentUsage } from "./usage/current.ts";
import { macOf, sortHosts, type CountedHost } from "./model.ts";
import { humanBytes } from "./top/format.ts";

export { humanBytes };

export interface StatusHost {
  name: string;
  mac: string | null;
  key: string;
  addresses: string[];
  rx_bytes: number;
  rx_packets: number;
  tx_bytes: number;
  tx_packets: number;
  /**
   * Bytes of the current accounting period, where periods are kept. Readers
   * (the web page, `top --json`) show it when present and ignore fields they
   * do not know, so hosts may grow more optional fields like this one.
   */
  usage?: HostUsage;
}

export interface HostUsage {
  /** Seconds since the epoch when the period began. */
  since: number;
  rx_bytes: number;
  tx_bytes: number;
}

export interface Status {
  backend: BackendName;
  /** Where the counting happens: `ports` (the LAN ports, by MAC) or `forward` (the forward hook, by address). */
  hook: "ports" | "forward";
  hosts: StatusHost[];
}

export function buildStatus(backend: BackendName, hosts: CountedHost[], hook: Status["hook"] = "forward"): Status {
  return {
    backend,
    hook,
    hosts: sortHosts([...hosts]).map((h) => ({
        name: h.name,
        mac: macOf(h.key),
        key: h.key,
        addresses: h.addresses,
        rx_bytes: h.rx.bytes,
        rx_packets: h.rx.packets,
        tx_bytes: h.tx.bytes,
        tx_packets: h.tx.packets,
      })),
  };
}

/**
 * Reads the kernel's counters once: what `status`, `metrics`, `push`, `top`
 * and the web page's CGI (through `status --json`) all show, so they never
 * disagree.
 */
export function readStatus(rt: Runtime): Status {
  const s = buildStatus(rt.backend.name, readHosts(rt), rt.backend.hook);
  // The read brought the open period up to date: each host's part of it rides along.
  const usage = currentUsage(rt, s.hosts.map((h) => h.key));
  for (const h of s.hosts) {
    const u = usage.get(h.key);
    if (u) h.usage = u;
  }
  return s;
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
  const sum = (f: (h: StatusHost) => number) => s.hosts.reduce((a, h) => a + f(h), 0);
  const total = [
    `TOTAL (${s.hosts.length} host${s.hosts.length === 1 ? "" : "s"})`,
    "",
    "",
    humanBytes(sum((h) => h.rx_bytes)),
    String(sum((h) => h.rx_packets)),
    humanBytes(sum((h) => h.tx_bytes)),
    String(sum((h) => h.tx_packets)),
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
