import { describe, expect, test } from "bun:test";
import type { CountedHost } from "../../src/model.ts";
import { emptyState, type State } from "../../src/snapshot/state.ts";
import { periodAt, SANE_EPOCH, type PeriodSpec, type ZoneOffset } from "../../src/usage/periods.ts";
import { recordSample, selectPeriods, type UsageSettings } from "../../src/usage/record.ts";
import { buildUsage, formatUsage } from "../../src/usage/report.ts";

const UTC: ZoneOffset = () => 0;
const at = (iso: string) => Date.parse(iso) / 1000;
const iso = (t: number) => new Date(t * 1000).toISOString();
const MONTH: PeriodSpec = { kind: "month", start: 1 };

describe("periodAt", () => {
  test("months from the 1st, named by the month they start in", () => {
    const p = periodAt(at("2026-12-01T00:00:00Z"), MONTH, UTC);
    expect([p.name, iso(p.start), iso(p.end)]).toEqual(["2026-12", "2026-12-01T00:00:00.000Z", "2027-01-01T00:00:00.000Z"]);
    const q = periodAt(at("2026-11-30T23:59:59Z"), MONTH, UTC);
    expect([q.name, iso(q.end)]).toEqual(["2026-11", "2026-12-01T00:00:00.000Z"]);
  });

  test("months from the 15th: early January belongs to the December period", () => {
    const p = periodAt(at("2027-01-14T12:00:00Z"), { kind: "month", start: 15 }, UTC);
    expect([p.name, iso(p.start), iso(p.end)]).toEqual(["2026-12", "2026-12-15T00:00:00.000Z", "2027-01-15T00:00:00.000Z"]);
  });

  test("weeks from Monday or Sunday, days; named by their first day", () => {
    const t = at("2026-12-02T10:00:00Z"); // a Wednesday
    const mon = periodAt(t, { kind: "week", start: 1 }, UTC);
    expect([mon.name, iso(mon.end)]).toEqual(["2026-11-30", "2026-12-07T00:00:00.000Z"]);
    const sun = periodAt(t, { kind: "week", start: 7 }, UTC);
    expect(sun.name).toBe("2026-11-29");
    const sunday = periodAt(at("2026-11-29T00:00:00Z"), { kind: "week", start: 7 }, UTC);
    expect(sunday.name).toBe("2026-11-29");
    const d = periodAt(t, { kind: "day", start: 1 }, UTC);
    expect([d.name, d.end - d.start]).toEqual(["2026-12-02", 86_400]);
  });

  test("local time: at UTC+2 the month begins two hours before UTC's", () => {
    const plus2: ZoneOffset = () => 7200;
    const p = periodAt(at("2026-11-30T22:30:00Z"), MONTH, plus2);
    expect([p.name, iso(p.start)]).toEqual(["2026-12", "2026-11-30T22:00:00.000Z"]);
    const minus5: ZoneOffset = () => -18_000;
    expect(periodAt(at("2026-12-01T03:00:00Z"), MONTH, minus5).name).toBe("2026-11");
  });

  test("a daylight-saving change inside a period moves its end by the new offset", () => {
    // +1h until 2026-03-29 01:00Z, +2h after (central Europe).
    const cet: ZoneOffset = (t) => (t < at("2026-03-29T01:00:00Z") ? 3600 : 7200);
    const p = periodAt(at("2026-03-15T12:00:00Z"), MONTH, cet);
    expect([iso(p.start), iso(p.end)]).toEqual(["2026-02-28T23:00:00.000Z", "2026-03-31T22:00:00.000Z"]);
  });
});

const SET: UsageSettings = { spec: MONTH, kept: 12, zone: UTC };
const host = (key: string, rx: number, tx: number, name = key): CountedHost => ({
  key,
  name,
  addresses: [],
  rx: { bytes: rx, packets: Math.floor(rx / 100) },
  tx: { bytes: tx, packets: Math.floor(tx / 100) },
});
const A = "02:00:00:00:00:0a";
const B = "02:00:00:00:00:0b";
const usageOf = (s: State, name: string, key: string) => s.periods.find((p) => p.name === name)?.hosts[key];

/** A state whose hosts are known at zero (what init records for the counters it creates). */
function started(t: number, keys = [A, B]): State {
  const s = emptyState(t);
  recordSample(s, keys.map((k) => host(k, 0, 0)), t, SET);
  return s;
}

describe("recordSample: usage from counter deltas", () => {
  test("growth between samples is usage; the first sample of a new state is only a baseline", () => {
    const s = emptyState(at("2026-12-01T10:00:00Z"));
    recordSample(s, [host(A, 5000, 9000)], at("2026-12-01T10:00:00Z"), SET);
    expect(s.periods[0]!.hosts).toEqual({});
    recordSample(s, [host(A, 5300, 9700)], at("2026-12-01T10:01:00Z"), SET);
    expect(usageOf(s, "2026-12", A)).toEqual([300, 3, 700, 7]);
    expect(s.hosts[A]!.rx).toEqual([5300, 53]);
  });

  test("a counter lower than at the last sample was reset: it counts from zero, never negative", () => {
    const s = started(at("2026-12-01T10:00:00Z"));
    recordSample(s, [host(A, 1000, 1000)], at("2026-12-01T10:01:00Z"), SET);
    recordSample(s, [host(A, 200, 1500)], at("2026-12-01T10:02:00Z"), SET);
    expect(usageOf(s, "2026-12", A)).toEqual([1200, 12, 1500, 15]);
  });

  test("a host new to an existing state counts from zero; a partial sample updates only its hosts", () => {
    const s = started(at("2026-12-01T10:00:00Z"), [A]);
    recordSample(s, [host(B, 400, 800)], at("2026-12-01T10:01:00Z"), SET, false);
    expect(usageOf(s, "2026-12", B)).toEqual([400, 4, 800, 8]);
    expect(Object.keys(s.hosts).sort()).toEqual([A, B]);
  });

  test("a month boundary opens a new period; each gets what grew before its sample", () => {
    const s = started(at("2026-11-30T23:00:00Z"));
    recordSample(s, [host(A, 1000, 2000)], at("2026-11-30T23:59:00Z"), SET);
    recordSample(s, [host(A, 1500, 2600)], at("2026-12-01T00:01:00Z"), SET);
    expect(s.periods.map((p) => p.name)).toEqual(["2026-11", "2026-12"]);
    expect(usageOf(s, "2026-11", A)).toEqual([1000, 10, 2000, 20]);
    expect(usageOf(s, "2026-12", A)).toEqual([500, 5, 600, 6]);
  });

  test("a clock stepped back before the open period's start: that period is folded into the clock's, and opens again when the clock gets there", () => {
    const s = started(at("2026-12-01T00:00:30Z"));
    recordSample(s, [host(A, 1000, 0)], at("2026-12-01T00:05:00Z"), SET);
    const nov = at("2026-11-30T23:50:00Z");
    recordSample(s, [host(A, 1400, 0)], nov, SET);
    recordSample(s, [host(A, 1500, 0)], nov + 60, SET);
    expect(s.periods.map((p) => p.name)).toEqual(["2026-11"]);
    expect(usageOf(s, "2026-11", A)).toEqual([1500, 15, 0, 0]);
    recordSample(s, [host(A, 1600, 0)], at("2026-12-01T00:01:00Z"), SET);
    expect(s.periods.map((p) => p.name)).toEqual(["2026-11", "2026-12"]);
    expect(usageOf(s, "2026-12", A)).toEqual([100, 1, 0, 0]);
  });

  test("a clock stepped back within the open period changes nothing: usage goes to the open one", () => {
    const s = started(at("2026-12-10T00:00:00Z"));
    recordSample(s, [host(A, 1000, 0)], at("2026-12-10T05:00:00Z"), SET);
    recordSample(s, [host(A, 1400, 0)], at("2026-12-03T05:00:00Z"), SET);
    expect(s.periods.map((p) => p.name)).toEqual(["2026-12"]);
    expect(usageOf(s, "2026-12", A)).toEqual([1400, 14, 0, 0]);
  });

  test("a period a clock far ahead opened (2040) is folded into the period of the corrected clock; its hosts are seen now", () => {
    const s = started(at("2026-12-01T08:00:00Z"));
    recordSample(s, [host(A, 1000, 0)], at("2026-12-02T08:00:00Z"), SET);
    recordSample(s, [host(A, 1300, 0)], at("2040-06-01T08:00:00Z"), SET); // a wrong NTP answer
    expect(s.periods.map((p) => p.name)).toEqual(["2026-12", "2040-06"]);
    recordSample(s, [host(A, 1500, 0)], at("2026-12-02T09:00:00Z"), SET); // corrected
    expect(s.periods.map((p) => p.name)).toEqual(["2026-12"]);
    expect(usageOf(s, "2026-12", A)).toEqual([1500, 15, 0, 0]);
    expect(s.hosts[A]!.seen).toBe(at("2026-12-02T09:00:00Z"));
    // ...and the next month opens on time.
    recordSample(s, [host(A, 1600, 0)], at("2027-01-01T00:05:00Z"), SET);
    expect(s.periods.map((p) => p.name)).toEqual(["2026-12", "2027-01"]);
  });

  test("a clock 40 days ahead opens the next month; once corrected, that month is folded back and opens again on time", () => {
    const s = started(at("2026-12-04T08:00:00Z"));
    recordSample(s, [host(A, 1000, 0)], at("2026-12-04T09:00:00Z"), SET);
    recordSample(s, [host(A, 1200, 0)], at("2027-01-13T09:00:00Z"), SET); // 40 days ahead
    expect(s.periods.map((p) => p.name)).toEqual(["2026-12", "2027-01"]);
    recordSample(s, [host(A, 1500, 0)], at("2026-12-04T10:00:00Z"), SET); // corrected
    expect(s.periods.map((p) => p.name)).toEqual(["2026-12"]);
    expect(usageOf(s, "2026-12", A)).toEqual([1500, 15, 0, 0]);
    expect(buildUsage(s, "current").periods[0]).toMatchObject({ name: "2026-12" });
    recordSample(s, [host(A, 1700, 0)], at("2026-12-20T10:00:00Z"), SET);
    expect(usageOf(s, "2026-12", A)).toEqual([1700, 17, 0, 0]);
    recordSample(s, [host(A, 1800, 0)], at("2027-01-01T00:01:00Z"), SET);
    expect(s.periods.map((p) => p.name)).toEqual(["2026-12", "2027-01"]);
    expect(usageOf(s, "2027-01", A)).toEqual([100, 1, 0, 0]);
  });

  test("a clock minutes fast past midnight of a period's first day, corrected: those minutes belong to the period before", () => {
    const s = started(at("2026-11-30T23:00:00Z"));
    recordSample(s, [host(A, 100, 0)], at("2026-12-01T00:02:00Z"), SET); // 5 minutes fast
    expect(s.periods.map((p) => p.name)).toEqual(["2026-11", "2026-12"]);
    recordSample(s, [host(A, 150, 0)], at("2026-11-30T23:58:00Z"), SET); // corrected
    expect(s.periods.map((p) => p.name)).toEqual(["2026-11"]);
    expect(usageOf(s, "2026-11", A)).toEqual([150, 1, 0, 0]);
    recordSample(s, [host(A, 170, 0)], at("2026-12-01T00:03:00Z"), SET);
    expect(s.periods.map((p) => p.name)).toEqual(["2026-11", "2026-12"]);
    expect(usageOf(s, "2026-12", A)).toEqual([20, 0, 0, 0]);
  });

  test("a clock not yet set (1970 after a boot without RTC) holds usage for the first period opened, then time steps forward", () => {
    const s = emptyState(5);
    recordSample(s, [host(A, 0, 0)], 5, SET);
    recordSample(s, [host(A, 700, 300)], 65, SET);
    expect(s.periods).toEqual([]);
    expect(buildUsage(s, "current").unassigned?.[0]).toMatchObject({ key: A, rx_bytes: 700, tx_bytes: 300 });
    recordSample(s, [host(A, 1000, 500)], at("2026-12-03T08:00:00Z"), SET);
    expect(s.periods.map((p) => p.name)).toEqual(["2026-12"]);
    expect(usageOf(s, "2026-12", A)).toEqual([1000, 10, 500, 5]);
    expect(s.held).toEqual({});
    // The clock falls back to 1970 again (a reboot before NTP): the open period still gets it.
    recordSample(s, [host(A, 1100, 500)], 30, SET);
    expect(usageOf(s, "2026-12", A)).toEqual([1100, 11, 500, 5]);
    expect(SANE_EPOCH).toBe(at("2020-01-01T00:00:00Z"));
  });

  test("a forward step across a boundary opens the period of the new time, not every one between", () => {
    const s = started(at("2026-09-10T00:00:00Z"));
    recordSample(s, [host(A, 100, 0)], at("2026-12-10T00:00:00Z"), SET);
    expect(s.periods.map((p) => p.name)).toEqual(["2026-09", "2026-12"]);
    expect(usageOf(s, "2026-12", A)).toEqual([100, 1, 0, 0]);
  });

  test("a host that leaves and returns continues its period total", () => {
    const s = started(at("2026-12-01T10:00:00Z"));
    recordSample(s, [host(A, 1000, 1000), host(B, 10, 10)], at("2026-12-01T10:01:00Z"), SET);
    recordSample(s, [host(B, 20, 20)], at("2026-12-01T11:00:00Z"), SET); // A gone
    expect(s.hosts[A]!.rx).toEqual([1000, 10]); // its totals are the floor it comes back with
    recordSample(s, [host(A, 1000, 1000), host(B, 20, 20)], at("2026-12-01T12:00:00Z"), SET);
    recordSample(s, [host(A, 1600, 1900), host(B, 20, 20)], at("2026-12-01T12:01:00Z"), SET);
    expect(usageOf(s, "2026-12", A)).toEqual([1600, 16, 1900, 19]);
  });

  test("a changed period setting opens a new period from the sample on, never overlapping the old one", () => {
    const s = started(at("2026-12-10T10:00:00Z"));
    recordSample(s, [host(A, 100, 0)], at("2026-12-10T11:00:00Z"), SET);
    recordSample(s, [host(A, 300, 0)], at("2026-12-10T12:00:00Z"), { ...SET, spec: { kind: "day", start: 1 } });
    expect(s.periods.map((p) => [p.name, p.spec])).toEqual([["2026-12", "month/1"], ["2026-12-10", "day"]]);
    expect(s.periods[1]!.start).toBe(at("2026-12-10T12:00:00Z"));
    expect(usageOf(s, "2026-12-10", A)).toEqual([200, 2, 0, 0]);
  });

  test("bounded: periods beyond periods_kept go, and so do hosts gone with no usage in any kept period", () => {
    const set: UsageSettings = { spec: { kind: "day", start: 1 }, kept: 2, zone: UTC };
    const s = emptyState(at("2026-12-01T00:00:00Z"));
    const day = 86_400;
    // 500 hosts a day, a new set every day (randomised MACs), each using a little.
    for (let d = 0; d < 10; d++) {
      const t0 = at("2026-12-01T00:00:00Z") + d * day;
      const keys = Array.from({ length: 500 }, (_, i) => `02:${d.toString(16).padStart(2, "0")}:00:00:${(i >> 8).toString(16).padStart(2, "0")}:${(i & 255).toString(16).padStart(2, "0")}`);
      recordSample(s, keys.map((k) => host(k, 0, 0)), t0 + 60, set, false);
      recordSample(s, keys.map((k) => host(k, 1000, 2000)), t0 + 3600, set);
      recordSample(s, [], t0 + 7200, set); // they all left
      expect(s.periods.length).toBeLessThanOrEqual(2);
      expect(Object.keys(s.hosts).length).toBeLessThanOrEqual(1000);
    }
    // Only the last two days' hosts remain: those with usage in a kept period.
    expect(Object.keys(s.hosts).length).toBe(1000);
    expect(s.periods.map((p) => p.name)).toEqual(["2026-12-09", "2026-12-10"]);
  });
});

describe("usage report", () => {
  const s = started(at("2026-11-30T12:00:00Z"));
  recordSample(s, [host(A, 1000, 5000, "laptop"), host(B, 100, 100, "tv")], at("2026-11-30T13:00:00Z"), SET);
  recordSample(s, [host(A, 3000, 9000, "laptop"), host(B, 100, 100, "tv")], at("2026-12-01T13:00:00Z"), SET);

  test("current, previous, all, and by name", () => {
    expect(selectPeriods(s, "current").map((p) => p.name)).toEqual(["2026-12"]);
    expect(selectPeriods(s, "previous").map((p) => p.name)).toEqual(["2026-11"]);
    expect(selectPeriods(s, "all").map((p) => p.name)).toEqual(["2026-11", "2026-12"]);
    expect(selectPeriods(s, "2026-11").map((p) => p.name)).toEqual(["2026-11"]);
    expect(selectPeriods(s, "2025-01")).toEqual([]);
  });

  test("JSON: hosts by total, with names and totals; text: one table per period", () => {
    const r = buildUsage(s, "previous");
    expect(r.periods[0]!.hosts.map((h) => [h.name, h.mac, h.rx_bytes, h.tx_bytes])).toEqual([["laptop", A, 1000, 5000], ["tv", B, 100, 100]]);
    expect(r.periods[0]!.total).toEqual({ rx_bytes: 1100, rx_packets: 11, tx_bytes: 5100, tx_packets: 51 });
    expect(r.periods[0]!.current).toBe(false);
    const text = formatUsage(buildUsage(s, "all"));
    expect(text).toContain("period 2026-11 (2026-11-01 00:00 to 2026-12-01 00:00 UTC)");
    expect(text).toContain("period 2026-12 (2026-12-01 00:00 to 2027-01-01 00:00 UTC, current)");
    expect(text).toMatch(/\nlaptop\s+02:00:00:00:00:0a\s+3\.91 KiB\s+1\.95 KiB\s+5\.86 KiB\n/);
    expect(formatUsage(buildUsage(s, "2025-01"))).toBe("no usage recorded for this period\n");
  });
});
