import { describe, expect, test } from "bun:test";
import { main } from "../../src/main.ts";
import { statusOfHosts, type Status, type StatusHost } from "../../src/status.ts";
import { humanBits, humanRate } from "../../src/top/format.ts";
import { computeRates, sortRates, type HostRate, type Rates } from "../../src/top/rates.ts";
import { keyAction, parseInterval } from "../../src/top/run.ts";
import { formatRates, printable, ratesJson, renderScreen } from "../../src/top/screen.ts";
import { fakeSys, ok } from "../helpers/fakesys.ts";

function host(name: string, key: string, rx: number, tx: number, addresses = ["192.168.1.10"]): StatusHost {
  return { name, mac: key.startsWith("host:") ? null : key, key, addresses, rx_bytes: rx, rx_packets: 1, tx_bytes: tx, tx_packets: 1 };
}
const status = (...hosts: StatusHost[]): Status => statusOfHosts("nftables", "forward", hosts);

describe("computeRates", () => {
  test("bits per second from two readings, by direction", () => {
    const r = computeRates(
      { at: 1000, status: status(host("laptop", "02:00:00:00:00:01", 1000, 5000)) },
      { at: 3000, status: status(host("laptop", "02:00:00:00:00:01", 3000, 255_000)) },
    );
    expect(r.interval_s).toBe(2);
    // rx: the host sent 2000 bytes in 2 s (its upload); tx: it got 250000 (its download).
    expect(r.hosts[0]!.rx_bps).toBe(8000);
    expect(r.hosts[0]!.tx_bps).toBe(1_000_000);
    expect(r.left).toEqual([]);
  });

  test("a host that appears has no rate yet; one that leaves is listed as gone", () => {
    const a = host("a", "02:00:00:00:00:01", 0, 0);
    const b = host("b", "02:00:00:00:00:02", 10, 10);
    const c = host("c", "02:00:00:00:00:03", 500, 500);
    const r = computeRates({ at: 0, status: status(a, b) }, { at: 1000, status: status(a, c) });
    expect(r.hosts.map((h) => [h.name, h.rx_bps, h.tx_bps])).toEqual([
      ["a", 0, 0],
      ["c", null, null],
    ]);
    expect(r.left.map((h) => h.name)).toEqual(["b"]);
  });

  test("hosts are matched by key: a renamed host keeps its rate", () => {
    const r = computeRates(
      { at: 0, status: status(host("old", "02:00:00:00:00:01", 0, 0)) },
      { at: 1000, status: status(host("new", "02:00:00:00:00:01", 125, 250)) },
    );
    expect(r.hosts[0]).toMatchObject({ name: "new", rx_bps: 1000, tx_bps: 2000 });
    expect(r.left).toEqual([]);
  });

  test("a counter that went backwards (recreated) gives no rate, never a negative one", () => {
    const r = computeRates(
      { at: 0, status: status(host("a", "02:00:00:00:00:01", 9000, 100)) },
      { at: 1000, status: status(host("a", "02:00:00:00:00:01", 10, 200)) },
    );
    expect(r.hosts[0]!.rx_bps).toBeNull();
    expect(r.hosts[0]!.tx_bps).toBe(800);
  });

  test("a first reading alone: interval 0, no rates, totals still there", () => {
    const r = computeRates(null, { at: 5, status: status(host("a", "02:00:00:00:00:01", 7, 9)) });
    expect(r.interval_s).toBe(0);
    expect(r.hosts[0]).toMatchObject({ rx_bytes: 7, tx_bytes: 9, rx_bps: null, tx_bps: null });
  });
});

function rated(name: string, rx_bps: number | null, tx_bps: number | null, rx = 0, tx = 0): HostRate {
  return { ...host(name, `host:${name}`, rx, tx), rx_bps, tx_bps };
}

describe("sortRates", () => {
  const hs = [rated("b", 100, 100), rated("a", 0, 300, 10, 10), rated("c", 500, null, 0, 1000), rated("d", null, null, 5, 5)];
  const names = (key: Parameters<typeof sortRates>[1]) => sortRates(hs, key).map((h) => h.name);
  test("busiest first for each key; a host without a rate counts as 0; ties by name", () => {
    expect(names("rate")).toEqual(["c", "a", "b", "d"]);
    expect(names("down")).toEqual(["a", "b", "c", "d"]);
    expect(names("up")).toEqual(["c", "b", "a", "d"]);
    expect(names("total")).toEqual(["c", "a", "d", "b"]);
    expect(names("total_down")).toEqual(["c", "a", "d", "b"]);
    expect(names("total_up")).toEqual(["a", "d", "b", "c"]);
    expect(names("name")).toEqual(["a", "b", "c", "d"]);
  });
  test("returns a copy", () => {
    sortRates(hs, "name");
    expect(hs.map((h) => h.name)).toEqual(["b", "a", "c", "d"]);
  });
});

describe("humanBits", () => {
  test.each([
    [0, "0 bit/s"],
    [999, "999 bit/s"],
    [999.6, "1.00 kbit/s"],
    [1000, "1.00 kbit/s"],
    [12_345, "12.3 kbit/s"],
    [999_999, "1.00 Mbit/s"],
    [2_000_000, "2.00 Mbit/s"],
    [123_456_789, "123 Mbit/s"],
    [1e9, "1.00 Gbit/s"],
    [4.2e12, "4.20 Tbit/s"],
    [5e15, "5000 Tbit/s"],
    [-1, "-"],
    [Number.NaN, "-"],
  ])("%p -> %p", (bps, text) => {
    expect(humanBits(bps)).toBe(text);
  });
  test("an unknown rate is a dash", () => {
    expect(humanRate(null)).toBe("-");
  });
});

describe("renderScreen", () => {
  const rates = (n: number): Rates => ({
    backend: "nftables",
    interval_s: 2,
    hosts: Array.from({ length: n }, (_, i) => ({ ...rated(`host${i}`, i * 1000, i * 8000, i, i), addresses: [`192.168.1.${i}`, `fd00::${i}`], mac: `02:00:00:00:00:${String(i).padStart(2, "0")}` })),
    left: [],
  });

  test("busiest first, download and upload named from the host's side with tx/rx beside them", () => {
    const lines = renderScreen({ rates: rates(3), sort: "rate", intervalS: 2, width: 200, height: 30 });
    expect(lines[0]).toBe("iptmon top - 3 hosts, every 2 s, sorted by current rate (down + up), backend nftables");
    const head = lines[2]!;
    expect(head).toMatch(/^HOST +DOWN \(tx\) +UP \(rx\) +TOTAL DOWN +TOTAL UP +MAC +ADDRESSES$/);
    expect(lines[3]).toMatch(/^host2 +16\.0 kbit\/s +2\.00 kbit\/s +2 B +2 B +02:00:00:00:00:02 +192\.168\.1\.2 fd00::2$/);
    expect(lines.slice(3, 6).map((l) => l.split(" ")[0])).toEqual(["host2", "host1", "host0"]);
    expect(lines[6]).toMatch(/^TOTAL \(3 hosts\) +24\.0 kbit\/s +3\.00 kbit\/s +3 B +3 B$/);
    expect(lines[7]).toStartWith("keys: ");
  });

  test("fits the terminal: no line wider, no more lines than it has; the rest is counted", () => {
    const lines = renderScreen({ rates: rates(40), sort: "name", intervalS: 1, width: 50, height: 12 });
    expect(lines.length).toBeLessThanOrEqual(12);
    for (const l of lines) expect(l.length).toBeLessThanOrEqual(50);
    expect(lines).toContain("... 34 more (make the terminal taller)");
    // Narrow: MAC and addresses go first, the rates stay.
    expect(lines[2]).toMatch(/^HOST +DOWN \(tx\) +UP \(rx\)/);
    expect(lines[2]).not.toContain("ADDRESSES");
  });

  test("a first reading says it is measuring; gone hosts are named", () => {
    const first = renderScreen({ rates: { ...rates(1), interval_s: 0 }, sort: "rate", intervalS: 2, width: 100, height: 20 });
    expect(first[1]).toBe("measuring: rates appear after the first interval");
    const gone = renderScreen({ rates: { ...rates(1), left: [host("tv", "02:00:00:00:00:09", 0, 0)] }, sort: "rate", intervalS: 2, width: 100, height: 20 });
    expect(gone[1]).toBe("gone since the last reading: tv");
  });

  test("no terminal escape from a name or an address reaches the screen", () => {
    const evil = { ...rated("x\x1b]0;pwned\x07\x1b[2J", 1, 1), addresses: ["\x1b[31mred"] };
    const text = renderScreen({ rates: { backend: "nftables", interval_s: 1, hosts: [evil], left: [] }, sort: "rate", intervalS: 1, width: 200, height: 20 }).join("\n");
    expect(text).not.toMatch(/[\x00-\x09\x0b-\x1f\x7f]/);
    expect(printable("a\u009bb\nc")).toBe("a?b?c");
  });

  test("a tiny terminal still gets the header, never a negative slice", () => {
    const lines = renderScreen({ rates: rates(5), sort: "rate", intervalS: 2, width: 10, height: 2 });
    expect(lines).toHaveLength(2);
    for (const l of lines) expect(l.length).toBeLessThanOrEqual(10);
  });
});

describe("--once output", () => {
  const r: Rates = { backend: "iptables", interval_s: 1.23456, hosts: [rated("quiet", 0, 0, 1, 1), rated("busy", 8000, 80_000, 10, 10)], left: [] };
  test("text: every host and column, busiest first", () => {
    const lines = formatRates(r).trimEnd().split("\n");
    expect(lines[0]).toBe("backend: iptables, rates over 1.23 s");
    expect(lines[2]).toStartWith("busy ");
    expect(lines[3]).toStartWith("quiet ");
    expect(lines[4]).toStartWith("TOTAL (2 hosts)");
  });
  test("JSON: the status fields plus rx_bps and tx_bps, busiest first", () => {
    const j = JSON.parse(ratesJson(r));
    expect(j.interval_s).toBe(1.235);
    expect(j.hosts.map((h: HostRate) => h.name)).toEqual(["busy", "quiet"]);
    expect(Object.keys(j.hosts[0])).toEqual(["name", "mac", "key", "addresses", "rx_bytes", "rx_packets", "tx_bytes", "tx_packets", "rx_bps", "tx_bps"]);
  });
});

describe("keys and options", () => {
  test("q, Ctrl-C and Ctrl-D quit; letters sort; anything else does nothing", () => {
    expect(["q", "Q", "\x03", "\x04"].map(keyAction)).toEqual(["quit", "quit", "quit", "quit"]);
    expect(["r", "d", "u", "t", "n", "x", "\x1b"].map(keyAction)).toEqual(["rate", "down", "up", "total", "name", null, null]);
  });
  test("--interval must be 0.1..3600 seconds", () => {
    expect(parseInterval(2)).toBe(2);
    expect(parseInterval("0.5")).toBe(0.5);
    for (const bad of [0, -1, 0.05, 3601, "x", Number.NaN]) expect(() => parseInterval(bad)).toThrow("--interval must be a number of seconds from 0.1 to 3600");
  });
});

describe("iptmon top through main", () => {
  // Each `nft -j list table` shows the busy host 125000 * step bytes further on (250000 * step down).
  function sys(step = 1) {
    let reads = 0;
    const table = () => {
      const n = reads++;
      const counter = (name: string, bytes: number) => ({ counter: { family: "inet", name, table: "iptmon", handle: 2, comment: `iptmon: ${name.endsWith("busy") ? "02:00:00:00:00:01" : "02:00:00:00:00:02"}`, packets: n * step, bytes } });
      return ok(
        JSON.stringify({
          nftables: [
            { table: { family: "inet", name: "iptmon", handle: 1 } },
            counter("rx_busy", 1000 + n * step * 125_000),
            counter("tx_busy", 2000 + n * step * 250_000),
            counter("rx_idle", 5),
            counter("tx_idle", 6),
            { map: { family: "inet", name: "rx4", table: "iptmon", type: "ipv4_addr", handle: 4, map: "counter", elem: [["192.168.1.5", "rx_busy"], ["192.168.1.6", "rx_idle"]] } },
          ],
        }),
      );
    };
    return fakeSys({
      files: { "/etc/config/iptmon": "config iptmon 'global'\n\toption backend 'nftables'\n" },
      commands: { "nft -j list table inet iptmon": table, "nft list tables": ok() },
    });
  }

  test("--once --json: one sample over one interval, busiest first, rates from the two readings", async () => {
    const s = sys();
    expect(await main(["top", "--once", "--json", "--interval", "0.2"], s)).toBe(0);
    expect(s.err).toBe("");
    const j = JSON.parse(s.out) as { backend: string; interval_s: number; hosts: HostRate[] };
    expect(j.backend).toBe("nftables");
    expect(j.interval_s).toBeGreaterThanOrEqual(0.19);
    expect(j.hosts.map((h) => h.name)).toEqual(["busy", "idle"]);
    const [busy, idle] = j.hosts;
    expect(busy).toMatchObject({ rx_bytes: 126_000, tx_bytes: 252_000 });
    expect(busy!.rx_bps! / ((125_000 * 8) / j.interval_s)).toBeCloseTo(1, 2);
    expect(busy!.tx_bps! / ((250_000 * 8) / j.interval_s)).toBeCloseTo(1, 2);
    expect(idle).toMatchObject({ rx_bps: 0, tx_bps: 0 });
    expect(s.calls.filter((c) => c.args.join(" ") === "-j list table inet iptmon")).toHaveLength(2);
  });

  test.skipIf(process.stdout.isTTY === true)("without a terminal it prints one sample as text", async () => {
    const s = sys();
    expect(await main(["top", "--interval", "0.1"], s)).toBe(0);
    expect(s.out).toMatch(/^backend: nftables, rates over 0\.\d+ s\nHOST +DOWN \(tx\) +UP \(rx\) +TOTAL DOWN +TOTAL UP +MAC +ADDRESSES\nbusy /);
  });

  test("top's hosts are `status --json`'s hosts, field for field, plus the two rates", async () => {
    const a = sys(0);
    expect(await main(["status", "--json"], a)).toBe(0);
    const b = sys(0);
    expect(await main(["top", "--once", "--json", "--interval", "0.1"], b)).toBe(0);
    const statusHosts = (JSON.parse(a.out) as Status).hosts;
    const topHosts = (JSON.parse(b.out) as { hosts: HostRate[] }).hosts;
    expect(statusHosts).toHaveLength(2);
    expect(topHosts.map(({ rx_bps, tx_bps, ...h }) => h).sort((x, y) => (x.name < y.name ? -1 : 1))).toEqual(statusHosts);
    expect(topHosts.map((h) => [h.rx_bps, h.tx_bps])).toEqual([[0, 0], [0, 0]]);
  });

  test("a bad interval is a one-line usage error, nothing read", async () => {
    const s = sys();
    expect(await main(["top", "--interval", "0"], s)).toBe(2);
    expect(s.err).toBe("iptmon: cannot run top: --interval must be a number of seconds from 0.1 to 3600\n");
    expect(s.calls).toEqual([]);
  });
});
