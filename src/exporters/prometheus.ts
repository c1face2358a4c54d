/**
 * Prometheus text exposition (format 0.0.4) of the status. Pure: the CGI
 * wrapper files/www/cgi-bin/iptmon-metrics serves it through uhttpd.
 */
import type { Status } from "../status.ts";
import type { Part } from "../split/view.ts";

/** A label value: backslash, double quote and newline are the only escapes the format has. */
export function escapeLabelValue(s: string): string {
  return s.replace(/[\\"\n]/g, (c) => (c === "\n" ? "\\n" : `\\${c}`));
}

/** HELP text escapes only backslash and newline. */
function escapeHelp(s: string): string {
  return s.replace(/[\\\n]/g, (c) => (c === "\n" ? "\\n" : "\\\\"));
}

const COUNTERS: { name: string; help: string; value: (h: Part) => number }[] = [
  { name: "iptmon_rx_bytes_total", help: "Bytes the router received from the host (the host's upload).", value: (h) => h.rx_bytes },
  { name: "iptmon_rx_packets_total", help: "Packets the router received from the host (the host's upload).", value: (h) => h.rx_packets },
  { name: "iptmon_tx_bytes_total", help: "Bytes the router sent to the host (the host's download).", value: (h) => h.tx_bytes },
  { name: "iptmon_tx_packets_total", help: "Packets the router sent to the host (the host's download).", value: (h) => h.tx_packets },
];

function labels(pairs: [string, string][]): string {
  return `{${pairs.map(([k, v]) => `${k}="${escapeLabelValue(v)}"`).join(",")}}`;
}

export function renderPrometheus(s: Status): string {
  const out: string[] = [];
  const family = (name: string, type: "counter" | "gauge", help: string) => {
    out.push(`# HELP ${name} ${escapeHelp(help)}`, `# TYPE ${name} ${type}`);
  };
  for (const c of COUNTERS) {
    family(c.name, "counter", c.help);
    // A host with no MAC (a DHCPv6 DUID or a static name) gets mac="", which Prometheus treats as no label.
    for (const h of s.hosts) out.push(`${c.name}${labels([["host", h.name], ["mac", h.mac ?? ""]])} ${Math.trunc(c.value(h))}`);
  }
  // The split (option breakdown): each host's parts, one label more; the parts of a host add up to its totals.
  for (const [by, label, what] of [["families", "family", "IP family"], ["services", "service", "service class"]] as const) {
    if (!s.hosts.some((h) => h[by])) continue;
    for (const c of COUNTERS) {
      const name = c.name.replace("iptmon_", `iptmon_${label}_`);
      family(name, "counter", `${c.help.slice(0, -1)}, per ${what}.`);
      for (const h of s.hosts)
        for (const [part, p] of Object.entries(h[by] ?? {})) out.push(`${name}${labels([["host", h.name], ["mac", h.mac ?? ""], [label, part]])} ${Math.trunc(c.value(p))}`);
    }
  }
  family("iptmon_hosts", "gauge", "Hosts iptmon counts.");
  out.push(`iptmon_hosts ${s.hosts.length}`);
  family("iptmon_backend_info", "gauge", "The backend holding the counters (always 1).");
  out.push(`iptmon_backend_info${labels([["backend", s.backend]])} 1`);
  return `${out.join("\n")}\n`;
}
