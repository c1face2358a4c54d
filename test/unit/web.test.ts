/** The web page's state without a browser: parsing what the CGI sends, rates, history, the chart's hosts. */
import { describe, expect, test } from "bun:test";
import { statusOfHosts, type Status, type StatusHost } from "../../src/status.ts";
import { CHART_HOSTS, HISTORY, Model, niceMax, parseStatus } from "../../web/src/model.ts";

const h = (name: string, rx: number, tx: number, extra: Partial<StatusHost> = {}): StatusHost => ({
  name,
  mac: null,
  key: `host:${name}`,
  addresses: [],
  rx_bytes: rx,
  rx_packets: 0,
  tx_bytes: tx,
  tx_packets: 0,
  ...extra,
});
const st = (...hosts: StatusHost[]): Status => statusOfHosts("nftables", "forward", hosts);

describe("parseStatus", () => {
  test("takes `status --json` as it is, keeping fields it does not know", () => {
    const text = JSON.stringify({ backend: "iptables", hosts: [{ ...h("a", 1, 2), usage: { since: 1, rx_bytes: 3, tx_bytes: 4 }, future: "x" }] });
    expect(parseStatus(text)).toEqual(JSON.parse(text));
  });

  test.each([
    ["not JSON", "<html>502 Bad Gateway</html>", "the router's answer is not JSON"],
    ["no hosts", '{"backend":"nftables"}', "the router's answer has no host list"],
    ["null", "null", "the router's answer has no host list"],
    ["a host without numbers", JSON.stringify(st({ ...h("a", 1, 2), rx_bytes: "1" as unknown as number })), "the router's answer has a malformed host"],
    ["a name that is not text", JSON.stringify(st({ ...h("a", 1, 2), name: { toString: 1 } as unknown as string })), "the router's answer has a malformed host"],
    ["addresses that are not text", JSON.stringify(st({ ...h("a", 1, 2), addresses: [1] as unknown as string[] })), "the router's answer has a malformed host"],
  ])("refuses %s", (_what, text, message) => {
    expect(() => parseStatus(text)).toThrow(message);
  });

  test("period, count and totals are kept when whole; a malformed one is dropped (a period: null)", () => {
    const good = { ...st(h("a", 1, 2)), period: { name: "2026-12", start: 1, end: 2 }, count: 7 };
    expect(parseStatus(JSON.stringify(good))).toEqual(good);
    const bad = parseStatus(JSON.stringify({ ...good, period: { name: 5 }, count: "7", totals: { rx_bytes: 1 } }));
    expect([bad.period, "count" in bad, "totals" in bad]).toEqual([null, false, false]);
  });

  test("a malformed usage is dropped, not shown", () => {
    const s = parseStatus(JSON.stringify(st({ ...h("a", 1, 2), usage: { rx_bytes: "lots" } as never })));
    expect(s.hosts[0]!.usage).toBeUndefined();
  });
});

describe("Model", () => {
  test("rates between the last two readings, the rows in the chosen order", () => {
    const m = new Model();
    m.add(st(h("a", 0, 0), h("b", 0, 0)), 0);
    expect(m.rows().map((r) => r.rx_bps)).toEqual([null, null]);
    m.add(st(h("a", 1000, 0), h("b", 0, 3000)), 2000);
    expect(m.rows().map((r) => [r.name, r.rx_bps, r.tx_bps])).toEqual([
      ["b", 0, 12000],
      ["a", 4000, 0],
    ]);
    m.sort = "name";
    expect(m.rows().map((r) => r.name)).toEqual(["a", "b"]);
    m.sort = "up";
    expect(m.rows().map((r) => r.name)).toEqual(["a", "b"]);
  });

  test("the chart shows the busiest hosts now, with at most HISTORY points each; gone hosts leave it", () => {
    const m = new Model();
    const names = Array.from({ length: CHART_HOSTS + 2 }, (_, i) => `h${i}`);
    for (let t = 0; t <= HISTORY + 5; t++) m.add(st(...names.map((n, i) => h(n, 0, t * 100 * (i + 1)))), t * 1000);
    const chart = m.chart();
    expect(chart.map((s) => s.host.name)).toEqual(names.slice().reverse().slice(0, CHART_HOSTS));
    for (const s of chart) expect(s.points).toHaveLength(HISTORY);
    expect(chart[0]!.points.at(-1)).toEqual({ at: (HISTORY + 5) * 1000, bps: 100 * 8 * names.length });
    m.add(st(h("h0", 0, 0)), (HISTORY + 6) * 1000);
    expect([...m.history.keys()]).toEqual(["host:h0"]);
  });

  test("the usage columns show only when some host has a usage", () => {
    const m = new Model();
    m.add(st(h("a", 0, 0)), 0);
    expect(m.hasUsage()).toBe(false);
    m.add(st(h("a", 0, 0), h("b", 0, 0, { usage: { since: 0, rx_bytes: 1, tx_bytes: 2 } })), 1000);
    expect(m.hasUsage()).toBe(true);
  });
});

describe("Model: the footer and the chart's colours", () => {
  /** A poll of the busiest: the hosts shown, the count and totals of all. */
  const poll = (count: number, rx: number, tx: number, ...hosts: StatusHost[]): Status => ({
    ...st(...hosts),
    period: { name: "2026-12", start: 0, end: 1 },
    count,
    totals: { rx_bytes: rx, rx_packets: 0, tx_bytes: tx, tx_packets: 0, usage: { rx_bytes: 5, tx_bytes: 6 } },
  });

  test("sums every host from the totals, says how many are shown, and rates all hosts from the totals' growth", () => {
    const m = new Model();
    m.add(poll(5000, 1000, 2000, h("a", 10, 20)), 0);
    expect(m.footer()).toEqual({ shown: 1, count: 5000, rx_bytes: 1000, tx_bytes: 2000, usage: { rx_bytes: 5, tx_bytes: 6 }, rx_bps: null, tx_bps: null });
    m.add(poll(5000, 3000, 2500, h("a", 10, 20)), 2000);
    expect(m.footer()).toMatchObject({ rx_bps: 8000, tx_bps: 2000 });
    // A host gone in between: the totals shrink, and no rate is claimed.
    m.add(poll(4999, 2900, 2600, h("a", 10, 20)), 4000);
    expect(m.footer()).toMatchObject({ count: 4999, rx_bps: null, tx_bps: 400 });
  });

  test("from an older iptmon (no totals): the hosts listed are summed", () => {
    const m = new Model();
    m.add(st(h("a", 1, 2), h("b", 10, 20)), 0);
    m.add(st(h("a", 3, 2), h("b", 10, 24)), 1000);
    expect(m.footer()).toEqual({ shown: 2, count: 2, rx_bytes: 13, tx_bytes: 26, usage: null, rx_bps: 16, tx_bps: 32 });
  });

  test("a host keeps its colour while its rank changes; a new one takes a colour no charted host has", () => {
    const m = new Model();
    const seen = new Map<string, Set<string>>();
    for (let t = 0; t < 30; t++) {
      // Six hosts whose ranks rotate: five are charted at a time.
      m.add(st(...[0, 1, 2, 3, 4, 5].map((i) => h(`h${i}`, 0, t * t * 1000 * (1 + ((i + t) % 6))))), t * 1000);
      const chart = m.chart();
      expect(new Set(chart.map((s) => s.color)).size).toBe(chart.length);
      for (const s of chart) seen.set(s.host.key, (seen.get(s.host.key) ?? new Set()).add(s.color));
    }
    expect(seen.size).toBe(6);
    for (const colours of seen.values()) expect(colours.size).toBe(1);
    m.clear();
    expect([m.footer(), m.chart(), m.colors.size]).toEqual([null, [], 0]);
  });
});

test("niceMax: 1, 2 or 5 times a power of ten, never below the value", () => {
  expect([0, 1, 7, 10, 11, 150, 2001, 999_999, 1_000_001].map(niceMax)).toEqual([1000, 1, 10, 10, 20, 200, 5000, 1_000_000, 2_000_000]);
});
