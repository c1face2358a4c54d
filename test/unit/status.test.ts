import { describe, expect, test } from "bun:test";
import type { CountedHost } from "../../src/model.ts";
import { buildStatus, BUSIEST, humanBytes, topOf, type UsageView } from "../../src/status.ts";
import { formatStatus } from "../../src/status-format.ts";

const HOSTS: CountedHost[] = [
  { key: "02:00:00:00:00:02", name: "phone", addresses: ["192.168.1.12"], rx: { packets: 3, bytes: 2048 }, tx: { packets: 4, bytes: 1024 } },
  { key: "host:nas", name: "nas", addresses: ["192.168.1.50", "fd00::50"], rx: { packets: 1, bytes: 100 }, tx: { packets: 2, bytes: 200 } },
  { key: "duid:00020000ab11", name: "apple-tv", addresses: [], rx: { packets: 0, bytes: 0 }, tx: { packets: 0, bytes: 0 } },
];

describe("buildStatus", () => {
  test("the exact JSON shape, hosts sorted by name", () => {
    expect(JSON.stringify(buildStatus("nftables", HOSTS, "ports"))).toBe(
      JSON.stringify({
        backend: "nftables",
        hook: "ports",
        period: null,
        count: 3,
        totals: { rx_bytes: 2148, rx_packets: 4, tx_bytes: 1224, tx_packets: 6, usage: { rx_bytes: 0, tx_bytes: 0 } },
        hosts: [
          { name: "apple-tv", mac: null, key: "duid:00020000ab11", addresses: [], rx_bytes: 0, rx_packets: 0, tx_bytes: 0, tx_packets: 0 },
          { name: "nas", mac: null, key: "host:nas", addresses: ["192.168.1.50", "fd00::50"], rx_bytes: 100, rx_packets: 1, tx_bytes: 200, tx_packets: 2 },
          { name: "phone", mac: "02:00:00:00:00:02", key: "02:00:00:00:00:02", addresses: ["192.168.1.12"], rx_bytes: 2048, rx_packets: 3, tx_bytes: 1024, tx_packets: 4 },
        ],
      }),
    );
  });

  test("every host has exactly the documented fields, in order", () => {
    for (const h of buildStatus("nftables", HOSTS).hosts)
      expect(Object.keys(h)).toEqual(["name", "mac", "key", "addresses", "rx_bytes", "rx_packets", "tx_bytes", "tx_packets"]);
  });

  test("rx is the router's rx (the host's upload), tx its tx", () => {
    const [h] = buildStatus("nftables", [{ key: "02:00:00:00:00:01", name: "a", addresses: [], rx: { packets: 7, bytes: 70 }, tx: { packets: 9, bytes: 90 } }]).hosts;
    expect([h!.rx_packets, h!.rx_bytes, h!.tx_packets, h!.tx_bytes]).toEqual([7, 70, 9, 90]);
  });

  test("does not reorder the caller's array", () => {
    const input = [...HOSTS];
    buildStatus("nftables", input);
    expect(input.map((h) => h.name)).toEqual(["phone", "nas", "apple-tv"]);
  });

  test("no hosts", () => {
    expect(buildStatus("nftables", [])).toEqual({
      backend: "nftables",
      hook: "forward",
      period: null,
      count: 0,
      totals: { rx_bytes: 0, rx_packets: 0, tx_bytes: 0, tx_packets: 0, usage: { rx_bytes: 0, tx_bytes: 0 } },
      hosts: [],
    });
  });
});

describe("--busiest", () => {
  const counted = (i: number, total: number): CountedHost => ({ key: `02:00:00:00:${(i >> 8).toString(16).padStart(2, "0")}:${(i & 255).toString(16).padStart(2, "0")}`, name: `h${String(i).padStart(4, "0")}`, addresses: [`10.0.${i >> 8}.${i & 255}`], rx: { packets: 1, bytes: total }, tx: { packets: 2, bytes: 0 } });
  const PERIOD = { name: "2026-12", start: 1_796_083_200, end: 1_798_761_600 };
  // Usage: host i used (i * 7919) % 1000 bytes, hosts divisible by 10 none at all.
  const used = (i: number) => (i % 10 === 0 ? 0 : (i * 7919) % 1000);
  const view: UsageView = {
    period: PERIOD,
    usage: (h) => {
      const i = Number(h.name.slice(1));
      return { since: PERIOD.start, rx_bytes: used(i), tx_bytes: 2 * used(i) };
    },
  };
  const hosts = Array.from({ length: 1000 }, (_, i) => counted(i + 1, (i * 31) % 97));

  test("lists the BUSIEST by this period's usage, then total bytes, then name; count and totals cover all", () => {
    const s = buildStatus("nftables", hosts, "ports", view, true);
    expect(s.hosts).toHaveLength(BUSIEST);
    const key = (h: (typeof s.hosts)[number]) => [h.usage!.rx_bytes + h.usage!.tx_bytes, h.rx_bytes + h.tx_bytes, h.name] as const;
    const want = hosts
      .map((h) => buildStatus("nftables", [h], "ports", view).hosts[0]!)
      .sort((a, b) => key(b)[0] - key(a)[0] || key(b)[1] - key(a)[1] || (a.name < b.name ? -1 : 1))
      .slice(0, BUSIEST);
    expect(s.hosts).toEqual(want);
    expect(s.count).toBe(1000);
    expect(s.period).toEqual(PERIOD);
    expect(s.totals).toEqual({
      rx_bytes: hosts.reduce((a, h) => a + h.rx.bytes, 0),
      rx_packets: 1000,
      tx_bytes: 0,
      tx_packets: 2000,
      usage: { rx_bytes: hosts.reduce((a, _, i) => a + used(i + 1), 0), tx_bytes: 2 * hosts.reduce((a, _, i) => a + used(i + 1), 0) },
    });
  });

  test("the full list has the same count, totals and period, every host by name", () => {
    const all = buildStatus("nftables", hosts, "ports", view);
    const some = buildStatus("nftables", hosts, "ports", view, true);
    expect(all.hosts.map((h) => h.name)).toEqual(hosts.map((h) => h.name).sort());
    expect([all.count, all.totals, all.period]).toEqual([some.count, some.totals, some.period]);
  });

  test("ties in usage go to the host with more bytes in total, then by name; fewer hosts than BUSIEST are all listed", () => {
    const few = [counted(3, 5), counted(1, 5), counted(2, 9), counted(4, 0)];
    const flat: UsageView = { period: null, usage: (h) => (h.name === "h0004" ? { since: 0, rx_bytes: 1, tx_bytes: 0 } : undefined) };
    expect(buildStatus("nftables", few, "forward", flat, true).hosts.map((h) => h.name)).toEqual(["h0004", "h0002", "h0001", "h0003"]);
  });

  test("the text table says how many of how many are shown", () => {
    expect(formatStatus(buildStatus("nftables", hosts, "ports", view, true))).toContain(`TOTAL (1000 hosts, ${BUSIEST} shown)`);
  });
});

describe("topOf", () => {
  test("equals sorting all and taking the first n, for random lists with ties", () => {
    let seed = 11;
    const rand = (n: number) => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31), seed % n);
    const order = (a: { v: number; i: number }, b: { v: number; i: number }) => b.v - a.v || a.i - b.i;
    for (let round = 0; round < 200; round++) {
      const items = Array.from({ length: rand(300) }, (_, i) => ({ v: rand(20), i }));
      const n = 1 + rand(120);
      expect(topOf(items, n, order)).toEqual([...items].sort(order).slice(0, n));
    }
  });
});

describe("humanBytes", () => {
  test.each([
    [0, "0 B"],
    [1, "1 B"],
    [1023, "1023 B"],
    [1024, "1.00 KiB"],
    [1536, "1.50 KiB"],
    [10 * 1024, "10.0 KiB"],
    [100 * 1024, "100 KiB"],
    [1024 ** 2, "1.00 MiB"],
    [5 * 1024 ** 3, "5.00 GiB"],
    [123 * 1024 ** 4, "123 TiB"],
    [2 * 1024 ** 5, "2.00 PiB"],
    [3 * 1024 ** 6, "3072 PiB"],
  ])("%d is %s", (n, want) => {
    expect(humanBytes(n)).toBe(want);
  });

  test("three significant digits at most below 1000 of a unit", () => {
    for (let e = 10; e < 50; e++) {
      const s = humanBytes(2 ** e + 12345);
      expect(s).toMatch(/^\d+(\.\d+)? (KiB|MiB|GiB|TiB|PiB)$/);
      expect(s.replace(/\D/g, "").length).toBeLessThanOrEqual(4);
    }
  });
});

describe("formatStatus", () => {
  const text = formatStatus(buildStatus("nftables", HOSTS));
  const lines = text.split("\n");

  test("names the backend, then a header, one row per host, a totals row", () => {
    expect(text.endsWith("\n")).toBe(true);
    expect(lines[0]).toBe("backend: nftables, counting in the forward hook");
    expect(lines[1]).toMatch(/^HOST\s+MAC\s+ADDRESSES\s+RX \(upload\)\s+RX PKTS\s+TX \(download\)\s+TX PKTS$/);
    expect(lines.slice(2, 5).map((l) => l.split(/\s+/)[0])).toEqual(["apple-tv", "nas", "phone"]);
    expect(lines[5]).toStartWith("TOTAL (3 hosts)");
    expect(lines[6]).toBe("");
    expect(lines).toHaveLength(7);
  });

  test("the totals row sums bytes and packets of every host", () => {
    // rx 2048+100+0 = 2148 B = 2.10 KiB, 4 packets; tx 1024+200+0 = 1224 B = 1.20 KiB, 6 packets
    expect(lines[5]!.split(/\s{2,}/).slice(-4)).toEqual(["2.10 KiB", "4", "1.20 KiB", "6"]);
  });

  test("a host row shows MAC (or key), addresses, and its numbers", () => {
    const phone = lines.find((l) => l.startsWith("phone"))!;
    expect(phone.split(/\s{2,}/)).toEqual(["phone", "02:00:00:00:00:02", "192.168.1.12", "2.00 KiB", "3", "1.00 KiB", "4"]);
    const nas = lines.find((l) => l.startsWith("nas"))!;
    expect(nas.split(/\s{2,}/).slice(0, 3)).toEqual(["nas", "host:nas", "192.168.1.50 fd00::50"]);
    const tv = lines.find((l) => l.startsWith("apple-tv"))!;
    expect(tv.split(/\s{2,}/)[2]).toBe("-");
  });

  test("columns line up: numbers are right-aligned to the header", () => {
    const header = lines[1]!;
    const end = (col: string) => header.indexOf(col) + col.length;
    for (const l of lines.slice(2, 6)) {
      // The last column is right-aligned, so every row is as long as the header.
      expect(l.length).toBe(header.length);
      // Each number ends where its header ends.
      expect(l[end("RX (upload)") - 1]).toMatch(/[0-9B]/);
      expect(l[end("RX (upload)")]).toBe(" ");
      expect(l[end("RX PKTS") - 1]).toMatch(/\d/);
      expect(l[end("TX (download)") - 1]).toMatch(/[0-9B]/);
    }
  });

  test("one host is `1 host`; none is a totals row of zeros", () => {
    expect(formatStatus(buildStatus("nftables", HOSTS.slice(0, 1)))).toContain("TOTAL (1 host)");
    const empty = formatStatus(buildStatus("nftables", [])).split("\n");
    expect(empty).toHaveLength(4);
    expect(empty[2]!.split(/\s{2,}/)).toEqual(["TOTAL (0 hosts)", "0 B", "0", "0 B", "0"]);
  });
});

test("humanBytes steps up a unit when rounding reaches 1024", () => {
  expect(humanBytes(1048575)).toBe("1.00 MiB");
  expect(humanBytes(1023)).toBe("1023 B");
  expect(humanBytes(1024 * 1023)).toBe("1023 KiB");
});
