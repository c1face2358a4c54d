import { describe, expect, test } from "bun:test";
import { renderPrometheus, escapeLabelValue } from "../../src/exporters/prometheus.ts";
import { main } from "../../src/main.ts";
import { statusOfHosts, type Status, type StatusHost } from "../../src/status.ts";
import { laptopNftJson, statusHost } from "../helpers/builders.ts";
import { fakeSys, ok } from "../helpers/fakesys.ts";

const host = statusHost;

const HOSTILE = ['quo"te', "back\\slash", "new\nline", "$(x)", "com,ma", "sp ace", "eq=ual", "ünïcode", "x".repeat(300), '\\"\n\\n'];

/** Reads a label value back the way Prometheus does (the three escapes). */
function unescapeLabel(s: string): string {
  return s.replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c));
}

/** Splits one sample line into name, labels and value, honouring escapes inside quotes. */
function parseSample(line: string): { name: string; labels: Record<string, string>; value: string } {
  const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$/.exec(line);
  if (!m) throw new Error(`not a sample line: ${JSON.stringify(line)}`);
  const labels: Record<string, string> = {};
  const body = m[2] ?? "";
  const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|\})/g;
  let consumed = 1;
  for (let x; (x = re.exec(body)); ) {
    labels[x[1]!] = unescapeLabel(x[2]!);
    consumed = re.lastIndex;
  }
  if (body && consumed !== body.length) throw new Error(`labels not fully parsed: ${body}`);
  return { name: m[1]!, labels, value: m[3]! };
}

describe("renderPrometheus", () => {
  const status: Status = statusOfHosts("nftables", "forward", [host("laptop", "02:00:00:00:00:01"), host("printer", null, 2)]);
  const text = renderPrometheus(status);

  test("renders the exposition format exactly", () => {
    expect(text).toBe(
      [
        "# HELP iptmon_rx_bytes_total Bytes the router received from the host (the host's upload).",
        "# TYPE iptmon_rx_bytes_total counter",
        'iptmon_rx_bytes_total{host="laptop",mac="02:00:00:00:00:01"} 1000',
        'iptmon_rx_bytes_total{host="printer",mac=""} 2000',
        "# HELP iptmon_rx_packets_total Packets the router received from the host (the host's upload).",
        "# TYPE iptmon_rx_packets_total counter",
        'iptmon_rx_packets_total{host="laptop",mac="02:00:00:00:00:01"} 10',
        'iptmon_rx_packets_total{host="printer",mac=""} 20',
        "# HELP iptmon_tx_bytes_total Bytes the router sent to the host (the host's download).",
        "# TYPE iptmon_tx_bytes_total counter",
        'iptmon_tx_bytes_total{host="laptop",mac="02:00:00:00:00:01"} 2000',
        'iptmon_tx_bytes_total{host="printer",mac=""} 4000',
        "# HELP iptmon_tx_packets_total Packets the router sent to the host (the host's download).",
        "# TYPE iptmon_tx_packets_total counter",
        'iptmon_tx_packets_total{host="laptop",mac="02:00:00:00:00:01"} 20',
        'iptmon_tx_packets_total{host="printer",mac=""} 40',
        "# HELP iptmon_hosts Hosts iptmon counts.",
        "# TYPE iptmon_hosts gauge",
        "iptmon_hosts 2",
        "# HELP iptmon_backend_info The backend holding the counters (always 1).",
        "# TYPE iptmon_backend_info gauge",
        'iptmon_backend_info{backend="nftables"} 1',
        "",
      ].join("\n"),
    );
  });

  test("no hosts: the families stay, with iptmon_hosts 0", () => {
    const t = renderPrometheus(statusOfHosts("nftables", "forward", []));
    expect(t).toContain("# TYPE iptmon_rx_bytes_total counter\n# HELP iptmon_rx_packets_total");
    expect(t).toContain("\niptmon_hosts 0\n");
  });

  test("escapes backslash, double quote and newline in label values, and nothing else", () => {
    expect(escapeLabelValue('a\\b"c\nd')).toBe('a\\\\b\\"c\\nd');
    expect(escapeLabelValue("ü $(x), =")).toBe("ü $(x), =");
  });

  test("hostile host names survive a round trip, one line per sample", () => {
    const hosts = HOSTILE.map((n, i) => host(n, `02:00:00:00:01:${String(i).padStart(2, "0")}`, i + 1));
    const t = renderPrometheus(statusOfHosts("nftables", "forward", hosts));
    const samples = t
      .split("\n")
      .filter((l) => l !== "" && !l.startsWith("#"))
      .map(parseSample);
    // 4 counters per host + hosts + backend_info: no name ever split a line.
    expect(samples).toHaveLength(4 * HOSTILE.length + 2);
    const rx = samples.filter((s) => s.name === "iptmon_rx_bytes_total");
    expect(rx.map((s) => s.labels.host)).toEqual(HOSTILE);
    expect(rx.map((s) => Number(s.value))).toEqual(HOSTILE.map((_, i) => 1000 * (i + 1)));
  });
});

describe("iptmon metrics", () => {
  const nftJson = laptopNftJson({ map: { family: "inet", table: "iptmon", name: "rx4", elem: [["192.168.1.10", "rx_laptop"]] } });

  test("prints the kernel's counters", async () => {
    const sys = fakeSys({ commands: { "nft list tables": ok(), "nft -j list table inet iptmon": ok(nftJson) } });
    expect(await main(["metrics"], sys)).toBe(0);
    expect(sys.out).toContain('iptmon_rx_bytes_total{host="laptop",mac="02:00:00:00:00:01"} 700\n');
    expect(sys.out).toContain('iptmon_tx_packets_total{host="laptop",mac="02:00:00:00:00:01"} 9\n');
    expect(sys.out).toContain("iptmon_hosts 1\n");
    expect(sys.out).toContain('iptmon_backend_info{backend="nftables"} 1\n');
    expect(sys.err).toBe("");
  });

  test("iptmon not set up: no host samples, exit 0", async () => {
    const sys = fakeSys({
      commands: { "nft list tables": ok(), "nft -j list table inet iptmon": { code: 1, stdout: "", stderr: "Error: No such file or directory\n" } },
    });
    expect(await main(["metrics"], sys)).toBe(0);
    expect(sys.out).toContain("iptmon_hosts 0\n");
  });
});
