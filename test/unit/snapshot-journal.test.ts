import { describe, expect, test } from "bun:test";
import type { CountedHost } from "../../src/model.ts";
import { digestOf, hostRecordIn, newestPeriodOnly, parseJournal, serializeJournal } from "../../src/snapshot/journal.ts";
import { BadState, emptyState, floorsOf, parseState, serializeState, type State } from "../../src/snapshot/state.ts";
import { JOURNAL_MAX, type SnapshotSettings } from "../../src/snapshot/settings.ts";
import { Snapshots } from "../../src/snapshot/store.ts";
import type { PeriodSpec } from "../../src/usage/periods.ts";
import { recordSample } from "../../src/usage/record.ts";
import { fakeSys, type FakeSys } from "../helpers/fakesys.ts";

const RAM = "/tmp/iptmon/state.json";
const JOURNAL = `${RAM}.journal`;
const FLASH = "/etc/iptmon/state.json";
const T0 = Date.parse("2026-12-30T06:00:00Z") / 1000;
const MONTH: PeriodSpec = { kind: "month", start: 1 };

const mac = (i: number) => `02:00:00:00:${(i >> 8).toString(16).padStart(2, "0")}:${(i & 255).toString(16).padStart(2, "0")}`;
const counted = (key: string, name: string, rx: number, tx = rx * 3): CountedHost => ({ key, name, addresses: [], rx: { bytes: rx, packets: rx >> 4 }, tx: { bytes: tx, packets: tx >> 4 } });

/** One router's files and clock; `run()` is one iptmon process's snapshots. */
function box(opts: { persist?: boolean; spec?: PeriodSpec; files?: Record<string, string> } = {}) {
  const clock = { t: T0 };
  const sys: FakeSys = fakeSys({ files: opts.files ?? {} });
  sys.now = () => clock.t;
  const writes: string[] = [];
  const reads: string[] = [];
  const write = sys.writeFile;
  sys.writeFile = (p, d, o) => {
    writes.push(p);
    write(p, d, o);
  };
  const read = sys.readFile;
  sys.readFile = (p) => {
    reads.push(p);
    return read(p);
  };
  const messages: string[] = [];
  const settings = (spec = opts.spec ?? MONTH): SnapshotSettings => ({
    statefile: RAM,
    persistDir: opts.persist ? "/etc/iptmon" : null,
    persistInterval: 3600,
    usage: { spec, kept: 3, zone: () => 0 },
  });
  const run = (spec?: PeriodSpec) => new Snapshots(sys, settings(spec), (l) => messages.push(l));
  /** The state as a whole read finds it now (a fresh process). */
  const whole = () => new Snapshots(sys, settings(), () => {}).current();
  return { sys, clock, writes, reads, messages, run, whole };
}

/** A host whose name holds everything a search could trip on. */
const TRICKY = ['"02:00:00:00:00:01":{', '},"periods":[', "\\", '\\"', "{}", ',"rx":[1,2]', "é ☃", ""];

describe("hostRecordIn: one host out of the state text, exactly as the full parse has it", () => {
  /** `members`: hosts keyed like the state's own object members, which a search must not take for them. */
  function fixture(members: boolean): State {
    const s = emptyState(T0);
    const keys = [mac(1), mac(0x101), mac(2), "duid:000100012a3b4c5d", "duid:00010001", "host:a", "host:ab", "host:a.b-c_d", ...(members ? ["hosts", "held"] : [])];
    recordSample(s, keys.map((k, i) => counted(k, TRICKY[i % TRICKY.length]!, 1000 * i + 7)), T0, { spec: MONTH, kept: 3, zone: () => 0 });
    // usage in periods and held under the same keys (arrays, not records)
    recordSample(s, keys.map((k, i) => counted(k, `n${i}`, 5000 * i + 9)), T0 + 40 * 86_400, { spec: MONTH, kept: 3, zone: () => 0 });
    s.held = { [mac(1)]: [1, 2, 3, 4], "host:zz": [5, 6, 7, 8] };
    // keys no event makes: quotes, backslashes, a name's text, a prototype's member
    for (const k of ['x"y', `x"${mac(3)}`, "a\\", '02:00:00:00:00:01":{', "__proto__", "toString", " lead", ""]) s.hosts[k] = { name: k, rx: [1, 1], tx: [2, 2], seen: T0 };
    return s;
  }

  test.each([true, false])("every key, present or not, agrees with floorsOf of the full parse, or asks for it (%p)", (members) => {
    const text = serializeState(fixture(members));
    const full = floorsOf(parseState(text));
    const probe = [...full.keys(), mac(3), "host:", "host:abc", "duid:0001", "02:00:00:00:00", "rx", "name", "seen", "periods", "hosts", "held", "constructor"];
    let exact = 0;
    for (const k of probe) {
      const got = hostRecordIn(text, k);
      if (got === null) {
        // only keys no event makes are left to the full parse
        expect([k, /^[A-Za-z0-9][A-Za-z0-9:._-]*$/.test(k)]).toEqual([k, false]);
        continue;
      }
      exact++;
      const want = full.get(k);
      expect([k, got && { rx: { bytes: got.rx[0], packets: got.rx[1] }, tx: { bytes: got.tx[0], packets: got.tx[1] } }]).toEqual([k, want]);
      if (got) expect(got).toEqual(parseState(text).hosts[k]!);
    }
    expect(exact).toBeGreaterThan(15);
  });

  test("a text not in serializeState's layout is left to the full parse", () => {
    const s = fixture(false);
    const spaced = JSON.stringify(JSON.parse(serializeState(s)), null, 1);
    expect(hostRecordIn(spaced, mac(1))).toBeNull();
    expect(hostRecordIn('{"format":"iptmon-state","version":1,"since":1,"time":2,"persisted":0,"hosts":{"02:00:00:00:00:01":{"name":"a","rx":[1',  mac(1))).toBeNull();
  });
});

describe("newestPeriodOnly: the state text without its older periods, for a reader of the open one", () => {
  /** A state with `months` periods, tricky host names and keys, held usage. */
  function withPeriods(months: number): State {
    const s = emptyState(T0);
    const keys = [mac(1), mac(2), "duid:000100012a3b4c5d", "host:a", 'x"y', '02:00:00:00:00:01":{'];
    const set = { spec: MONTH, kept: 12, zone: () => 0 };
    for (let m = 0; m < months; m++) recordSample(s, keys.map((k, i) => counted(k, TRICKY[i % TRICKY.length]!, 1000 * (m + 1) * (i + 1))), T0 + m * 31 * 86_400, set);
    if (months === 0) for (const [i, k] of keys.entries()) s.hosts[k] = { name: TRICKY[i % TRICKY.length]!, rx: [i, i], tx: [i, i], seen: T0 };
    s.held = { [mac(1)]: [1, 2, 3, 4], "host:zz": [5, 6, 7, 8] };
    return s;
  }

  test.each([0, 1, 2, 5])("with %p periods: everything the full parse has, but only the newest period", (months) => {
    const text = serializeState(withPeriods(months));
    const full = parseState(text);
    expect(full.periods).toHaveLength(months);
    const cut = newestPeriodOnly(text);
    expect(cut).not.toBeNull();
    expect(parseState(cut!)).toEqual({ ...full, periods: full.periods.slice(-1) });
    if (months > 1) expect(cut!.length).toBeLessThan(text.length);
  });

  test("a text not in serializeState's layout is left to the full parse", () => {
    const text = serializeState(withPeriods(2));
    expect(newestPeriodOnly(JSON.stringify(JSON.parse(text), null, 1))).toBeNull();
    expect(newestPeriodOnly(text.slice(0, text.indexOf('],"held":')))).toBeNull();
    expect(newestPeriodOnly("{}")).toBeNull();
  });
});

describe("the journal", () => {
  test("round-trips; every prefix of it, other formats and wrong shapes are refused", () => {
    const j = { state: digestOf("x"), samples: [{ t: T0, spec: MONTH, hosts: [[mac(1), 'a"b', 1, 2, 3, 4] as [string, string, number, number, number, number]] }, { t: T0 + 1, spec: { kind: "day" as const, start: 1 }, hosts: [] }] };
    const text = serializeJournal(j);
    expect(parseJournal(text)).toEqual(j);
    expect(text.split("\n")).toHaveLength(4); // a head, one line a sample, the end
    for (let n = 0; n < text.length - 1; n++) expect(() => parseJournal(text.slice(0, n))).toThrow(BadState);
    const raw = JSON.parse(text);
    for (const bad of [
      { ...raw, format: "iptmon-state" },
      { ...raw, version: 2 },
      { ...raw, state: 7 },
      { ...raw, samples: [{ ...raw.samples[0], spec: { kind: "year", start: 1 } }] },
      { ...raw, samples: [{ ...raw.samples[0], hosts: [[mac(1), "a", -1, 0, 0, 0]] }] },
      { ...raw, samples: [{ ...raw.samples[0], t: "now" }] },
    ])
      expect(() => parseJournal(JSON.stringify(bad))).toThrow(BadState);
  });
});

describe("an event's snapshot work: one host looked up, its sample journaled", () => {
  /** A state remembering `n` hosts, from a whole read. */
  function remembered(n: number, persist = false) {
    const b = box({ persist });
    b.run().remember(Array.from({ length: n }, (_, i) => counted(mac(i), `h${i}`, 100 + i)), "all");
    b.writes.length = 0;
    b.reads.length = 0;
    return b;
  }

  test("reads the state text once, parses none of it, writes only the journal", () => {
    const b = remembered(300);
    const before = b.sys.files.get(RAM);
    b.clock.t += 5;
    const s = b.run();
    expect(s.floors().get(mac(7))).toEqual({ rx: { bytes: 107, packets: 6 }, tx: { bytes: 321, packets: 20 } });
    expect(s.floors().get(mac(999))).toBeUndefined();
    s.remember([counted(mac(999), "new", 0)], "some");
    expect(s.floors().get(mac(999))).toEqual({ rx: { bytes: 0, packets: 0 }, tx: { bytes: 0, packets: 0 } });
    expect(b.writes).toEqual([JOURNAL]);
    expect(b.reads).toEqual([RAM, JOURNAL]);
    expect(b.sys.files.get(RAM)).toBe(before);
    expect(parseJournal(b.sys.files.get(JOURNAL)!).samples).toEqual([{ t: T0 + 5, spec: MONTH, hosts: [[mac(999), "new", 0, 0, 0, 0]] }]);
    // the next run sees it, through the journal and through a whole read alike
    expect(b.run().floors().get(mac(999))).toEqual({ rx: { bytes: 0, packets: 0 }, tx: { bytes: 0, packets: 0 } });
    expect(b.whole().hosts[mac(999)]).toEqual({ name: "new", rx: [0, 0], tx: [0, 0], seen: T0 + 5 });
  });

  test("journaled floors agree with floorsOf of the whole read, for every key, after any mix of events and reads", () => {
    const b = box({ persist: true });
    let seed = 11;
    const rand = (n: number) => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31), seed % n);
    const totals = new Map<number, number>();
    for (let step = 0; step < 400; step++) {
      b.clock.t += 1 + rand(4000);
      const i = rand(60);
      const grown = (totals.get(i) ?? 0) + rand(3) * rand(100_000);
      // a reset now and then: created anew from zero
      totals.set(i, rand(25) === 0 ? 0 : grown);
      if (rand(10) === 0) b.run().remember([...totals].map(([k, v]) => counted(mac(k), `h${k}`, v)), "all");
      else b.run().remember([counted(mac(i), `h${i}`, totals.get(i)!), ...(rand(3) === 0 ? [counted(`duid:00${i}`, `d${i}`, rand(900))] : [])], "some");
      if (step % 25 === 0) {
        const full = floorsOf(b.whole());
        const quick = b.run().floors();
        for (const k of [...full.keys(), mac(61), "duid:0099", "host:x"]) expect([k, quick.get(k)]).toEqual([k, full.get(k)]);
        // walking the map reads it whole
        expect(new Map(b.run().floors())).toEqual(full);
      }
    }
    expect(b.messages).toEqual([]);
    // the journal was used, and folded whenever it grew long or the flash copy fell due
    expect(b.sys.files.get(JOURNAL)!.length).toBeLessThanOrEqual(JOURNAL_MAX);
  });

  test("usage per period is what recording every sample at once gives, across period boundaries and a changed period setting", () => {
    const b = box();
    const direct = emptyState(T0);
    const sets: PeriodSpec[] = [MONTH, MONTH, MONTH, { kind: "week", start: 1 }, { kind: "day", start: 1 }];
    let seed = 5;
    const rand = (n: number) => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31), seed % n);
    const totals = new Map<number, number>();
    for (let step = 0; step < 300; step++) {
      b.clock.t += rand(3) === 0 ? 3 * 86_400 : 1 + rand(600);
      const spec = sets[Math.floor(step / 60)]!;
      const all = step === 0 || rand(12) === 0;
      const hosts: CountedHost[] = [];
      if (all) for (const [k, v] of totals) hosts.push(counted(mac(k), `h${k}`, v));
      else {
        const i = rand(40);
        totals.set(i, rand(20) === 0 ? rand(10) : (totals.get(i) ?? 0) + rand(50_000));
        hosts.push(counted(mac(i), `h${i}`, totals.get(i)!));
      }
      b.run(spec).remember(hosts, all ? "all" : "some");
      recordSample(direct, hosts, b.clock.t, { spec, kept: 3, zone: () => 0 }, all);
    }
    const got = b.whole();
    expect(b.sys.files.get(JOURNAL)!.split("\n").length).toBeGreaterThan(3); // some samples are still only in the journal
    expect(got.periods.length).toBeGreaterThan(2);
    expect({ ...got, since: 0 }).toEqual({ ...direct, since: 0 });
  });

  test("a crash between writing the state whole and emptying the journal replays nothing twice", () => {
    const b = remembered(5);
    // two samples of one host that only make sense once each, in order: 9000, then a reset to 10
    b.clock.t += 10;
    b.run().remember([counted(mac(1), "h1", 9000)], "some");
    b.clock.t += 10;
    b.run().remember([counted(mac(1), "h1", 10)], "some");
    const left = b.sys.files.get(JOURNAL)!;
    expect(parseJournal(left).samples).toHaveLength(2);
    // a whole read folds them in: the state is written, then the journal emptied ...
    b.clock.t += 10;
    b.run().remember([counted(mac(2), "h2", 102)], "all");
    const folded = b.whole();
    expect(folded.hosts[mac(1)]!.rx).toEqual([10, 0]);
    const used = structuredClone(folded.periods);
    // ... and the crash came before the journal was emptied
    b.sys.files.set(JOURNAL, left);
    expect(b.whole()).toEqual(folded);
    expect(b.whole().periods).toEqual(used);
    expect(b.run().floors().get(mac(1))).toEqual({ rx: { bytes: 10, packets: 0 }, tx: { bytes: 30, packets: 1 } });
    // the next event takes the whole way and writes a journal of its own
    b.writes.length = 0;
    b.clock.t += 10;
    b.run().remember([counted(mac(3), "h3", 500)], "some");
    expect(b.writes).toEqual([RAM, JOURNAL]);
    expect(b.whole().periods).not.toEqual(used); // h3's 500 - 103 more, nothing of h1 again
    expect(b.whole().periods.at(-1)!.hosts[mac(1)]).toEqual(used.at(-1)!.hosts[mac(1)]!);
    expect(b.messages).toEqual([]);
  });

  test("a journal of another state text (the RAM file replaced by hand) is not replayed, nor trusted for floors", () => {
    const b = remembered(3);
    b.clock.t += 10;
    b.run().remember([counted(mac(1), "h1", 7777)], "some");
    const s = parseState(b.sys.files.get(RAM)!);
    s.hosts[mac(0)]!.rx = [1, 1];
    b.sys.files.set(RAM, JSON.stringify({ format: "iptmon-state", version: 1, ...s })); // same content, no newline
    expect(b.run().floors().get(mac(1))?.rx.bytes).toBe(101);
    expect(b.run().floors().get(mac(0))?.rx.bytes).toBe(1);
    expect(b.whole().hosts[mac(1)]!.rx).toEqual([101, 6]);
  });

  test("a corrupt journal: one line, set aside (renamed, not deleted), the state is read without it", () => {
    const b = remembered(3);
    b.clock.t += 10;
    b.run().remember([counted(mac(1), "h1", 7777)], "some");
    const text = b.sys.files.get(JOURNAL)!;
    b.sys.files.set(JOURNAL, text.slice(0, -20));
    const s = b.run();
    expect(s.floors().get(mac(1))?.rx.bytes).toBe(101);
    expect(b.messages).toEqual([`snapshot ${JOURNAL} is unusable (not JSON (truncated or corrupt)): set aside as ${JOURNAL}.bad-${T0 + 10}; its samples are not counted`]);
    expect(b.sys.files.get(`${JOURNAL}.bad-${T0 + 10}`)).toBe(text.slice(0, -20));
    s.remember([counted(mac(2), "h2", 5)], "some");
    expect(parseJournal(b.sys.files.get(JOURNAL)!)).toEqual({ state: digestOf(b.sys.files.get(RAM)!), samples: [] });
    expect(b.whole().hosts[mac(2)]!.rx).toEqual([5, 0]);
  });

  test("a journal grown to its limit is folded by the next event", () => {
    const b = remembered(2);
    let folds = 0;
    for (let i = 0; i < 1000; i++) {
      b.clock.t += 1;
      b.writes.length = 0;
      b.run().remember([counted(mac(i), `host-with-a-long-name-${i}`, i)], "some");
      if (b.writes.includes(RAM)) folds++;
      expect(b.sys.files.get(JOURNAL)!.length).toBeLessThanOrEqual(JOURNAL_MAX);
    }
    expect(folds).toBeGreaterThanOrEqual(3);
    expect(folds).toBeLessThan(10);
    expect(Object.keys(b.whole().hosts)).toHaveLength(1000);
  });

  test("the flash copy holds everything: a copy that falls due is written whole, and a stop folds the journal first", () => {
    const b = remembered(2, true);
    expect(parseState(b.sys.files.get(FLASH)!).persisted).toBe(T0);
    b.clock.t += 60;
    b.run().remember([counted(mac(5), "h5", 55)], "some");
    expect(b.writes).toEqual([JOURNAL]);
    b.clock.t += 3600; // persist_interval has passed: this event writes flash
    b.writes.length = 0;
    b.run().remember([counted(mac(6), "h6", 66)], "some");
    expect(b.writes).toEqual([FLASH, RAM, JOURNAL]);
    expect(Object.keys(parseState(b.sys.files.get(FLASH)!).hosts).sort()).toEqual([mac(0), mac(1), mac(5), mac(6)]);
    b.clock.t += 60;
    b.run().remember([counted(mac(7), "h7", 77)], "some");
    b.clock.t += 60;
    b.run().save(true); // stop
    expect(parseState(b.sys.files.get(FLASH)!).hosts[mac(7)]!.rx).toEqual([77, 4]);
    // a reboot: RAM (and its journal) gone, flash kept
    b.sys.files.delete(RAM);
    b.sys.files.delete(JOURNAL);
    expect(b.run().floors().get(mac(7))?.rx.bytes).toBe(77);
    expect(b.messages).toEqual([]);
  });

  test("a failing journal write is one line and keeps the previous journal", () => {
    const b = remembered(2);
    b.clock.t += 1;
    b.run().remember([counted(mac(5), "h5", 55)], "some");
    const before = b.sys.files.get(JOURNAL);
    b.sys.writeFile = () => {
      throw Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" });
    };
    b.clock.t += 1;
    b.run().remember([counted(mac(6), "h6", 66)], "some");
    expect(b.messages).toEqual([`cannot save snapshot ${JOURNAL}: no space left on device (ENOSPC) (the previous one is kept)`]);
    expect(b.sys.files.get(JOURNAL)).toBe(before);
    expect(Object.keys(b.whole().hosts).sort()).toEqual([mac(0), mac(1), mac(5)]);
  });

  test("a long-running reader (top) takes up journaled samples rather than write its older state over them", () => {
    const b = remembered(2);
    const top = b.run();
    b.clock.t += 1;
    top.remember([counted(mac(0), "h0", 200), counted(mac(1), "h1", 300)], "all");
    b.clock.t += 1;
    b.run().remember([counted(mac(9), "h9", 9)], "some"); // an event, while top runs
    b.clock.t += 1;
    top.remember([counted(mac(0), "h0", 250), counted(mac(1), "h1", 300)], "all");
    expect(b.whole().hosts[mac(9)]!.rx).toEqual([9, 0]);
    expect(parseJournal(b.sys.files.get(JOURNAL)!).samples).toEqual([]);
  });
});
