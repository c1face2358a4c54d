import { describe, expect, test } from "bun:test";
import { parseConfig } from "../../src/config.ts";
import { readHosts, runEvent, runInit, runStop, type Runtime } from "../../src/core.ts";
import { main } from "../../src/main.ts";
import { runReset } from "../../src/snapshot/reset.ts";
import { BadState, parseState, serializeState, STATE_VERSION } from "../../src/snapshot/state.ts";
import { snapshotsOf, withSnapshots } from "../../src/snapshot/store.ts";
import { readBusiest, readStatus, type Status } from "../../src/status.ts";
import { FakeKernel } from "../helpers/fakekernel.ts";
import { fakeSys, ok } from "../helpers/fakesys.ts";

const FILE = "/etc/config/iptmon";
const RAM = "/tmp/iptmon/state.json";
const FLASH = "/etc/iptmon/state.json";
const T0 = Date.parse("2026-12-01T06:00:00Z") / 1000;
const conf = (extra = "") => `config iptmon\n\toption backend 'nftables'\n\tlist lan_subnet '192.168.0.0/16'\n${extra}`;
const PERSIST = "\toption persist_dir '/etc/iptmon'\n\toption persist_interval '60'\n";

/**
 * A router: one fake kernel, files and a clock shared by every iptmon run;
 * `proc()` is one run of iptmon (its own runtime, reading the state anew).
 */
function router(text = conf(PERSIST), files: Record<string, string> = {}) {
  const clock = { t: T0 };
  const sys = fakeSys({ files: { [FILE]: text, ...files }, commands: { "ip neigh show": ok(""), "ip addr show dev br-lan": ok("") } });
  sys.now = () => clock.t;
  const writes: string[] = [];
  const write = sys.writeFile;
  sys.writeFile = (p, d, o) => {
    writes.push(p);
    write(p, d, o);
  };
  const kernel = new FakeKernel();
  const cfg = parseConfig(text, FILE);
  const messages: string[] = [];
  const proc = (): Runtime => withSnapshots({ sys, cfg, backend: kernel, warn: () => {} }, (l) => messages.push(l));
  const flashWrites = () => writes.filter((p) => p === FLASH).length;
  const stateWrites = () => writes.filter((p) => p !== LEASES);
  const totals = () => new Map(readHosts(proc()).map((h) => [h.key, { rx: h.rx.bytes, tx: h.tx.bytes }]));
  return { sys, clock, kernel, proc, messages, stateWrites, flashWrites, totals };
}

const mac = (i: number) => `02:00:00:00:${(i >> 8).toString(16).padStart(2, "0")}:${(i & 255).toString(16).padStart(2, "0")}`;
const ip = (i: number) => `192.168.${1 + (i >> 8)}.${i & 255}`;
const LEASES = "/tmp/dhcp.leases";
/** A lease is taken: dnsmasq writes its lease file and runs the event. */
const join = (rt: Runtime, i: number) => {
  const lines = (rt.sys.readFile(LEASES) ?? "").split("\n").filter((l) => l && !l.includes(` ${mac(i)} `));
  rt.sys.writeFile(LEASES, [...lines, `${T0 + 86_400} ${mac(i)} ${ip(i)} h${i} *`, ""].join("\n"));
  return runEvent(rt, { action: "add", source: "dhcp", key: mac(i), address: ip(i), hostname: `h${i}` });
};
const leave = (rt: Runtime, i: number) => {
  const lines = (rt.sys.readFile(LEASES) ?? "").split("\n").filter((l) => l && !l.includes(` ${mac(i)} `));
  rt.sys.writeFile(LEASES, [...lines, ""].join("\n"));
  return runEvent(rt, { action: "del", source: "dhcp", key: mac(i), address: ip(i) });
};

describe("continuity: counters come back from the snapshot", () => {
  test("a flush, a stop and a reboot (RAM gone, flash kept) each keep every host's totals", () => {
    const r = router();
    runInit(r.proc(), "apply");
    for (const i of [1, 2]) join(r.proc(), i);
    r.kernel.traffic(mac(1), 3000, 9000);
    r.kernel.traffic(mac(2), 100, 200);
    readHosts(r.proc()); // status
    const want = new Map([[mac(1), { rx: 3000, tx: 9000 }], [mac(2), { rx: 100, tx: 200 }]]);
    // nft flush ruleset, then the firewall include's init
    r.kernel.flush();
    runInit(r.proc(), "apply");
    expect(r.totals()).toEqual(want);
    // table deleted, then an event rebuilds
    r.kernel.flush();
    join(r.proc(), 3);
    expect(r.totals()).toEqual(new Map([...want, [mac(3), { rx: 0, tx: 0 }]]));
    // stop + start
    runStop(r.proc());
    expect(r.kernel.present).toBe(false);
    runInit(r.proc(), "apply");
    expect(r.totals().get(mac(1))).toEqual({ rx: 3000, tx: 9000 });
    // reboot: kernel and RAM gone, flash kept (stop copied it there)
    r.kernel.traffic(mac(1), 1000, 1000);
    runStop(r.proc());
    r.kernel.flush();
    r.sys.files.delete(RAM);
    runInit(r.proc(), "apply");
    expect(r.totals().get(mac(1))).toEqual({ rx: 4000, tx: 10_000 });
    expect(r.messages).toEqual([]);
  });

  test("after a power loss the totals are at least the last copy on flash", () => {
    const r = router();
    runInit(r.proc(), "apply");
    join(r.proc(), 1);
    r.kernel.traffic(mac(1), 5000, 5000);
    r.clock.t += 3600;
    readHosts(r.proc()); // copied to flash: an hour since the last copy
    r.clock.t += 600;
    r.kernel.traffic(mac(1), 700, 700);
    readHosts(r.proc()); // in RAM only: the interval has not passed
    r.kernel.flush();
    r.sys.files.delete(RAM);
    runInit(r.proc(), "apply");
    expect(r.totals().get(mac(1))).toEqual({ rx: 5000, tx: 5000 });
  });

  test("a host that leaves takes its counters into the snapshot, and comes back with them", () => {
    const r = router();
    runInit(r.proc(), "apply");
    join(r.proc(), 7);
    r.kernel.traffic(mac(7), 1234, 4321); // no read in between: the delete reads them
    leave(r.proc(), 7);
    expect(r.kernel.hosts.size).toBe(0);
    join(r.proc(), 7);
    expect(r.totals().get(mac(7))).toEqual({ rx: 1234, tx: 4321 });
    expect(readStatus(r.proc()).hosts.find((h) => h.key === mac(7))?.usage).toEqual({ since: Date.parse("2026-12-01T00:00:00Z") / 1000, rx_bytes: 1234, tx_bytes: 4321 });
  });

  test("stop copies to flash what earlier runs sampled, even when the table is already gone (firewall stop)", () => {
    const r = router();
    runInit(r.proc(), "apply");
    join(r.proc(), 1);
    r.kernel.traffic(mac(1), 500, 500);
    readHosts(r.proc()); // the first copy
    r.clock.t += 600;
    r.kernel.traffic(mac(1), 700, 700);
    readHosts(r.proc()); // RAM only: the interval has not passed
    r.kernel.flush();
    runStop(r.proc());
    expect(parseState(r.sys.files.get(FLASH)!).hosts[mac(1)]?.rx[0]).toBe(1200);
  });

  test("a reader samples under the lock (one hold, also inside stop), so no older sample is saved over a newer one", () => {
    const r = router();
    runInit(r.proc(), "apply");
    join(r.proc(), 1);
    const holds: string[] = [];
    r.sys.lock = (file) => {
      holds.push(`take ${file}`);
      return () => void holds.push(`release ${file}`);
    };
    readHosts(r.proc());
    runStop(r.proc());
    expect(holds).toEqual(["take /var/run/iptmon.lock", "release /var/run/iptmon.lock", "take /var/run/iptmon.lock", "release /var/run/iptmon.lock"]);
  });

  test("status --json (what the web page polls) carries each host's usage of the open period", () => {
    const r = router();
    runInit(r.proc(), "apply");
    for (const i of [1, 2]) join(r.proc(), i);
    r.kernel.traffic(mac(1), 600, 900);
    const s = readStatus(r.proc());
    const since = Date.parse("2026-12-01T00:00:00Z") / 1000;
    expect(s.hosts.find((h) => h.key === mac(1))?.usage).toEqual({ since, rx_bytes: 600, tx_bytes: 900 });
    expect(s.hosts.find((h) => h.key === mac(2))?.usage).toEqual({ since, rx_bytes: 0, tx_bytes: 0 });
  });

  test("status --json --busiest shows the usage a sample would record, and records nothing (no write, no lock)", () => {
    const r = router();
    runInit(r.proc(), "apply");
    for (const i of [1, 2, 3]) join(r.proc(), i);
    r.kernel.traffic(mac(1), 600, 900);
    readHosts(r.proc());
    r.kernel.traffic(mac(2), 5000, 1);
    r.kernel.traffic(mac(1), 10, 10);
    r.clock.t += 60;
    const usageOf = (s: Status) => new Map(s.hosts.map((h) => [h.key, h.usage]));
    const compare = () => {
      const files = new Map(r.sys.files);
      let locked = 0;
      const lock = r.sys.lock;
      r.sys.lock = (f, o) => (locked++, lock(f, o));
      const b = readBusiest(r.proc());
      r.sys.lock = lock;
      expect(locked).toBe(0);
      expect(new Map(r.sys.files)).toEqual(files);
      const s = readStatus(r.proc());
      expect(usageOf(b)).toEqual(usageOf(s));
      expect([b.period, b.count, b.totals]).toEqual([s.period, s.count, s.totals]);
      return b;
    };
    const b = compare();
    expect(b.hosts.map((h) => h.key)).toEqual([mac(2), mac(1), mac(3)]);
    expect(b.period).toEqual({ name: "2026-12", start: Date.parse("2026-12-01T00:00:00Z") / 1000, end: Date.parse("2027-01-01T00:00:00Z") / 1000 });
    expect(b.totals.usage).toEqual({ rx_bytes: 5610, tx_bytes: 911 });
    // Into the next month: the sample would open a new period.
    r.clock.t = Date.parse("2027-01-02T00:00:00Z") / 1000;
    r.kernel.traffic(mac(3), 70, 80);
    const next = compare();
    expect(next.period?.name).toBe("2027-01");
    expect(next.hosts[0]!.usage).toEqual({ since: Date.parse("2027-01-01T00:00:00Z") / 1000, rx_bytes: 70, tx_bytes: 80 });
    // Two periods kept now: the poll reads the newest only, with an event's journaled sample on top.
    r.clock.t += 3600;
    r.kernel.traffic(mac(2), 5, 5);
    join(r.proc(), 4);
    r.kernel.traffic(mac(4), 9, 9);
    expect(parseState(r.sys.files.get(RAM)!).periods).toHaveLength(2);
    expect(compare().hosts.map((h) => [h.name, h.usage!.rx_bytes])).toEqual([["h3", 70], ["h4", 9], ["h2", 5], ["h1", 0]]);
  });

  test("reset zeroes named hosts' totals, in the kernel and in both copies; reset --all zeroes all", async () => {
    const r = router();
    runInit(r.proc(), "apply");
    for (const i of [1, 2]) join(r.proc(), i);
    r.kernel.traffic(mac(1), 100, 100);
    r.kernel.traffic(mac(2), 200, 200);
    expect(runReset(r.proc(), ["h1"]).keys).toEqual([mac(1)]);
    expect(r.totals()).toEqual(new Map([[mac(1), { rx: 0, tx: 0 }], [mac(2), { rx: 200, tx: 200 }]]));
    expect(Object.keys(parseState(r.sys.files.get(FLASH)!).hosts)).not.toContain(mac(1));
    // usage already counted stays
    expect(parseState(r.sys.files.get(RAM)!).periods[0]!.hosts[mac(1)]).toEqual([100, 1, 100, 1]);
    r.kernel.flush();
    runInit(r.proc(), "apply");
    expect(r.totals().get(mac(1))).toEqual({ rx: 0, tx: 0 });
    runReset(r.proc(), "all");
    expect([...r.totals().values()]).toEqual([{ rx: 0, tx: 0 }, { rx: 0, tx: 0 }]);
    expect(() => runReset(r.proc(), ["nobody"])).toThrow("cannot reset \"nobody\": no such host");
  });
});

describe("flash writes", () => {
  test("24 hours compressed: events, status calls and cron ticks write flash once per persist_interval, plus each stop", () => {
    const r = router();
    runInit(r.proc(), "apply");
    const sent = new Map<string, { rx: number; tx: number }>();
    const present = new Set<number>();
    let seed = 7;
    const rand = (n: number) => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31), seed % n);
    const start = r.clock.t;
    const stops: number[] = [];
    for (let minute = 0; minute < 24 * 60; minute++) {
      r.clock.t = start + minute * 60;
      // hosts come and go: 500 of them over the day, about 50 at a time
      for (let k = 0; k < 2; k++) {
        const host = 1 + rand(500);
        if (present.has(host) && rand(2) === 0) {
          leave(r.proc(), host);
          present.delete(host);
        } else if (!present.has(host) && present.size < 60) {
          join(r.proc(), host);
          present.add(host);
        }
      }
      for (const h of present) {
        const up = rand(5000);
        const down = rand(50_000);
        expect(r.kernel.traffic(mac(h), up, down)).toBe(true);
        const s = sent.get(mac(h)) ?? { rx: 0, tx: 0 };
        sent.set(mac(h), { rx: s.rx + up, tx: s.tx + down });
      }
      readHosts(r.proc()); // the cron tick
      if (minute % 7 === 0) readHosts(r.proc()); // someone looks at status
      if (minute === 600) {
        r.kernel.flush(); // a firewall restart
        runInit(r.proc(), "apply");
      }
      if (minute === 900) {
        runStop(r.proc()); // /etc/init.d/iptmon restart
        stops.push(minute);
        runInit(r.proc(), "apply");
      }
    }
    // first sample, then one per 60 minutes over 24 hours, plus the stop's
    expect(r.flashWrites()).toBe(1 + 23 + stops.length);
    // every host's totals, present or gone, equal what it sent
    for (const h of present) leave(r.proc(), h);
    const state = snapshotsOf(r.proc()).current();
    for (const [k, s] of sent) expect([k, state.hosts[k]!.rx[0], state.hosts[k]!.tx[0]]).toEqual([k, s.rx, s.tx]);
    // and the day's usage equals it too
    const usage = state.periods.at(-1)!.hosts;
    for (const [k, s] of sent) expect([k, usage[k]![0], usage[k]![2]]).toEqual([k, s.rx, s.tx]);
    expect(r.sys.files.get(RAM)!.length).toBeLessThan(250 * 300);
    expect(r.messages).toEqual([]);
  }, 60_000);

  test("a clock stepped back does not write flash again until the interval has passed from the new time", () => {
    const r = router();
    runInit(r.proc(), "apply");
    join(r.proc(), 1);
    readHosts(r.proc());
    const first = r.flashWrites();
    r.clock.t -= 3 * 3600;
    readHosts(r.proc()); // the interval starts again from here
    for (let m = 0; m < 59; m++) {
      r.clock.t += 60;
      readHosts(r.proc());
    }
    expect(r.flashWrites()).toBe(first);
    r.clock.t += 60;
    readHosts(r.proc());
    expect(r.flashWrites()).toBe(first + 1);
  });

  test("a failed copy to flash is tried again after persist_interval, not by every reader; a stop tries at once", () => {
    const r = router();
    runInit(r.proc(), "apply");
    join(r.proc(), 1);
    readHosts(r.proc());
    const tries: number[] = [];
    const write = r.sys.writeFile;
    r.sys.writeFile = (p, d, o) => {
      if (p === FLASH) {
        tries.push(r.clock.t);
        throw Object.assign(new Error("EROFS: read-only file system, open"), { code: "EROFS" });
      }
      write(p, d, o);
    };
    r.messages.length = 0;
    const start = r.clock.t;
    // three hours of a status call every minute, and an event every ten
    for (let m = 1; m <= 180; m++) {
      r.clock.t = start + 60 * m;
      r.kernel.traffic(mac(1), 10, 10);
      readHosts(r.proc());
      if (m % 10 === 0) join(r.proc(), 2 + (m % 20 === 0 ? 1 : 0));
    }
    // due an hour after the last good copy, then an hour after each failure
    expect(tries.length).toBe(3);
    expect(tries[1]! - tries[0]!).toBe(3600);
    expect(tries[2]! - tries[1]!).toBe(3600);
    expect(r.messages).toEqual(tries.map(() => `cannot save snapshot ${FLASH}: read-only file system (EROFS) (the previous one is kept)`));
    runStop(r.proc());
    expect(tries.length).toBe(4);
  });

  test("without persist_dir nothing is written outside RAM", () => {
    const r = router(conf());
    runInit(r.proc(), "apply");
    join(r.proc(), 1);
    runStop(r.proc());
    expect(new Set(r.stateWrites())).toEqual(new Set([RAM, `${RAM}.journal`]));
  });
});

describe("bad state files", () => {
  function realSnapshot(): string {
    const r = router(conf());
    runInit(r.proc(), "apply");
    for (const i of [1, 2, 3]) join(r.proc(), i);
    r.kernel.traffic(mac(1), 1000, 2000);
    r.kernel.traffic(mac(3), 10, 20);
    r.clock.t += 86_400 * 40;
    r.kernel.traffic(mac(2), 500, 600);
    readHosts(r.proc());
    return r.sys.files.get(RAM)!;
  }

  test("every prefix of a real snapshot is refused, and only the whole one is read", () => {
    const text = realSnapshot();
    const whole = parseState(text);
    expect(whole.periods.map((p) => p.name)).toEqual(["2026-12", "2027-01"]);
    expect(serializeState(whole)).toBe(text);
    for (let n = 0; n < text.length - 1; n++) expect(() => parseState(text.slice(0, n))).toThrow(BadState);
    expect(parseState(text.slice(0, -1))).toEqual(whole); // only the newline missing
  });

  test("binary, foreign, other versions and wrong shapes are refused", () => {
    const good = JSON.parse(realSnapshot());
    const bad = [
      "\u0000\u0001\u00ff\ufffd binary",
      "[]",
      '{"format":"something-else","version":1}',
      JSON.stringify({ ...good, version: STATE_VERSION + 1 }),
      JSON.stringify({ ...good, hosts: { x: { name: "a", rx: [1, -1], tx: [0, 0], seen: 1 } } }),
      JSON.stringify({ ...good, periods: [{ name: "x", spec: "day", start: 0, end: 1, hosts: { k: [1, 2, 3] } }] }),
      JSON.stringify({ ...good, held: null }),
    ];
    for (const b of bad) expect(() => parseState(b)).toThrow(BadState);
    expect(() => parseState(JSON.stringify({ ...good, version: 2 }))).toThrow("version 2, this iptmon reads version 1");
  });

  test("a corrupt RAM file: one line, set aside (renamed, not deleted), the flash copy is used, counting goes on", async () => {
    const text = realSnapshot();
    const r = router(conf(PERSIST), { [RAM]: text.slice(0, 100), [FLASH]: text });
    r.kernel.present = true;
    expect(Object.keys(snapshotsOf(r.proc()).current().hosts)).toHaveLength(3);
    expect(r.messages).toEqual([`snapshot ${RAM} is unusable (not JSON (truncated or corrupt)): set aside as ${RAM}.bad-${T0}; counting goes on from the kernel`]);
    expect(r.sys.files.get(`${RAM}.bad-${T0}`)).toBe(text.slice(0, 100));
  });

  test("through main: a binary state file is one line on stderr, usage still answers", async () => {
    const sys = fakeSys({
      files: { [FILE]: conf(), [RAM]: "\u0000\u0007garbage" },
      commands: { "nft -j list table inet iptmon": { code: 1, stdout: "", stderr: "Error: No such file or directory\n" } },
    });
    expect(await main(["usage", "--json"], sys)).toBe(0);
    expect(sys.err).toBe(`iptmon: snapshot ${RAM} is unusable (not JSON (truncated or corrupt)): set aside as ${RAM}.bad-1800000000; counting goes on from the kernel\n`);
    expect(JSON.parse(sys.out)).toEqual({ periods: [] });
    expect(sys.files.get(`${RAM}.bad-1800000000`)).toBe("\u0000\u0007garbage");
  });

  test("an unreadable file that cannot be set aside is never written over", () => {
    const r = router(conf());
    r.kernel.present = true;
    const read = r.sys.readFile;
    r.sys.readFile = (p) => {
      if (p === RAM) throw Object.assign(new Error("EACCES: permission denied, open"), { code: "EACCES" });
      return read(p);
    };
    r.sys.rename = () => {
      throw Object.assign(new Error("EACCES: permission denied, rename"), { code: "EACCES" });
    };
    readHosts(r.proc());
    expect(r.messages).toEqual([`snapshot ${RAM} cannot be read (permission denied (EACCES)) and cannot be set aside (permission denied (EACCES)): left as it is, not written over; counting goes on from the kernel`]);
    expect(r.stateWrites()).toEqual([]);
  });

  test("a failing save is one line and leaves the previous file", () => {
    const r = router(conf(PERSIST));
    runInit(r.proc(), "apply");
    join(r.proc(), 1);
    const before = r.sys.files.get(FLASH);
    r.sys.writeFile = () => {
      throw Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" });
    };
    r.clock.t += 7200;
    runStop(r.proc());
    expect(r.messages).toEqual([
      `cannot save snapshot ${FLASH}: no space left on device (ENOSPC) (the previous one is kept)`,
      `cannot save snapshot ${RAM}: no space left on device (ENOSPC) (the previous one is kept)`,
    ]);
    expect(r.sys.files.get(FLASH)).toBe(before);
    expect(r.kernel.present).toBe(false);
  });
});

describe("a long-running reader (top)", () => {
  test("takes up what other runs wrote (a reset) instead of writing its older state over it", () => {
    const r = router(conf());
    runInit(r.proc(), "apply");
    join(r.proc(), 1);
    r.kernel.traffic(mac(1), 900, 900);
    const top = r.proc();
    readHosts(top);
    runReset(r.proc(), ["h1"]); // another run, while top runs
    r.kernel.traffic(mac(1), 50, 60);
    readHosts(top);
    const state = parseState(r.sys.files.get(RAM)!);
    expect(state.hosts[mac(1)]!.rx).toEqual([50, 1]);
    // usage: 900 before the reset, 50 after, nothing counted twice
    expect(state.periods.at(-1)!.hosts[mac(1)]).toEqual([950, 2, 960, 2]);
    r.kernel.flush();
    runInit(r.proc(), "apply");
    expect(r.totals().get(mac(1))).toEqual({ rx: 50, tx: 60 });
  });
});
