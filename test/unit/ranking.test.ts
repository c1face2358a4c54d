/**
 * The ranking each full sample leaves beside the state, and the page's poll
 * (`status --json --busiest`) that builds on it: only the ranked hosts'
 * counters are read, and the answer is what a full read would show of them;
 * anything that makes the ranking no longer hold falls back to the full read.
 */
import { describe, expect, test } from "bun:test";
import { parseConfig } from "../../src/config.ts";
import { readHosts, runEvent, runInit, type Runtime } from "../../src/core.ts";
import type { CountedHost, HostCounters, KernelState, PlannedHost } from "../../src/model.ts";
import { parseRanking, RANKED, serializeRanking, type Ranking } from "../../src/snapshot/ranking.ts";
import { withSnapshots } from "../../src/snapshot/store.ts";
import { BUSIEST, readBusiest, readStatus, type Status } from "../../src/status.ts";
import { FakeKernel } from "../helpers/fakekernel.ts";
import { fakeSys, ok } from "../helpers/fakesys.ts";

const FILE = "/etc/config/iptmon";
const RAM = "/tmp/iptmon/state.json";
const RANKING = `${RAM}.busiest`;
const LEASES = "/tmp/dhcp.leases";
const T0 = Date.parse("2026-12-01T06:00:00Z") / 1000;
const CONF = "config iptmon\n\toption backend 'nftables'\n\tlist lan_subnet '192.168.0.0/16'\n";
const mac = (i: number) => `02:00:00:00:${(i >> 8).toString(16).padStart(2, "0")}:${(i & 255).toString(16).padStart(2, "0")}`;
const ip = (i: number) => `192.168.${1 + (i >> 8)}.${i & 255}`;

/** A kernel that also looks hosts up by name, as the nft backend does over netlink; it counts its reads. */
class NamedKernel extends FakeKernel {
  fullReads = 0;
  lookups = 0;
  /** Hosts whose lookup fails (a name taken by another key, a pair gone). */
  failing = new Set<string>();
  override read(): KernelState {
    this.fullReads++;
    return super.read();
  }
  /** As the nft backend says: whether the change alters any host (here, a desired list unlike the kernel's). */
  changesHosts(desired: PlannedHost[]): boolean {
    return (
      desired.length !== this.hosts.size ||
      desired.some((h) => {
        const cur = this.hosts.get(h.name);
        return !cur || h.counters !== "keep" || cur.key !== h.key || cur.addresses.join() !== h.addresses.join();
      })
    );
  }
  readNamed(hosts: readonly { key: string; name: string }[]): (HostCounters | null)[] {
    this.lookups += hosts.length;
    return hosts.map(({ key, name }) => {
      const h = this.hosts.get(name);
      return h && h.key === key && !this.failing.has(name) ? structuredClone({ rx: h.rx, tx: h.tx }) : null;
    });
  }
}

function router(hosts: number, opts: { named?: boolean } = {}) {
  const clock = { t: T0 };
  const leases = Array.from({ length: hosts }, (_, k) => `${T0 + 86_400} ${mac(k + 1)} ${ip(k + 1)} h${k + 1} *\n`).join("");
  const sys = fakeSys({ files: { [FILE]: CONF, [LEASES]: leases }, commands: { "ip neigh show": ok(""), "ip addr show dev br-lan": ok("") } });
  sys.now = () => clock.t;
  const kernel = opts.named === false ? new FakeKernel() : new NamedKernel();
  const cfg = parseConfig(CONF, FILE);
  const messages: string[] = [];
  const proc = (): Runtime => withSnapshots({ sys, cfg, backend: kernel, warn: () => {} }, (l) => messages.push(l));
  runInit(proc(), "apply");
  return { sys, clock, kernel: kernel as NamedKernel, proc, messages };
}

/** A full sample (what cron's `iptmon snapshot` takes). */
const sample = (r: ReturnType<typeof router>) => readHosts(r.proc());
/** The poll, with how many full reads it made. */
function poll(r: ReturnType<typeof router>): { s: Status; fullReads: number } {
  const before = r.kernel.fullReads;
  const s = readBusiest(r.proc());
  return { s, fullReads: r.kernel.fullReads - before };
}
/** What a full read shows, as the poll shows it: the hosts it lists, by key. */
function fullOf(r: ReturnType<typeof router>, shown: Status) {
  const s = readStatus(r.proc());
  const byKey = new Map(s.hosts.map((h) => [h.key, h]));
  return { s, hosts: shown.hosts.map((h) => byKey.get(h.key)) };
}

describe("the ranking a full sample writes", () => {
  test("the busiest RANKED with counters and usage at the sample; count and totals over every host", () => {
    const r = router(RANKED + 20);
    r.clock.t += 30;
    for (let i = 1; i <= RANKED + 20; i++) r.kernel.traffic(mac(i), i * 100, i * 10);
    sample(r);
    const k = parseRanking(r.sys.files.get(RANKING)!);
    const s = readStatus(r.proc()); // nothing grew since: the same numbers
    expect([k.t, k.count, k.totals, k.period]).toEqual([r.clock.t, s.count, s.totals, s.period]);
    expect(k.hosts).toHaveLength(RANKED);
    // Busiest first: the last hosts sent the most.
    expect(k.hosts.map((h) => h.name)).toEqual(Array.from({ length: RANKED }, (_, j) => `h${RANKED + 20 - j}`));
    const top = k.hosts[0]!;
    const h = s.hosts.find((x) => x.key === top.key)!;
    expect(top).toEqual({ key: h.key, name: h.name, addresses: h.addresses, rx: [h.rx_bytes, h.rx_packets], tx: [h.tx_bytes, h.tx_packets], usage: [h.usage!.rx_bytes, h.usage!.tx_bytes] });
    expect([k.backend, k.table, k.hook]).toEqual(["nftables", "iptmon", "forward"]);
  });

  test("not for a backend that cannot look hosts up by name; no sample, no ranking", () => {
    const r = router(3, { named: false });
    sample(r);
    expect(r.sys.files.has(RANKING)).toBe(false);
    expect(readBusiest(r.proc()).ranked_at).toBe(r.clock.t);
  });

  test("a host holding a renamed pair not yet folded: no ranking (a lookup by name would miss that part)", () => {
    const r = router(3);
    sample(r);
    expect(r.sys.files.has(RANKING)).toBe(true);
    const read = r.kernel.read.bind(r.kernel);
    r.kernel.read = () => {
      const s = read();
      return s.read === "full" ? { ...s, hosts: s.hosts.map((h, i): CountedHost => (i === 0 ? { ...h, unfolded: true } : h)) } : s;
    };
    sample(r);
    expect(r.sys.files.has(RANKING)).toBe(false);
    expect(poll(r).fullReads).toBe(1);
  });
});

describe("the poll from the ranking", () => {
  test("right after a sample, with traffic since: only the ranked hosts are read, and they, the count and the totals are a full read's", () => {
    const r = router(40);
    r.kernel.traffic(mac(3), 5000, 300);
    sample(r);
    const t = r.clock.t;
    r.clock.t += 20;
    r.kernel.traffic(mac(3), 700, 70);
    r.kernel.traffic(mac(9), 9000, 900);
    const { s, fullReads } = poll(r);
    expect(fullReads).toBe(0);
    expect(r.kernel.lookups).toBe(40);
    expect(s.ranked_at).toBe(t);
    // Ranked again by usage now: h9 overtook h3 since the sample.
    expect(s.hosts.slice(0, 2).map((h) => h.name)).toEqual(["h9", "h3"]);
    const full = fullOf(r, s);
    expect(s.hosts).toEqual(full.hosts as typeof s.hosts);
    expect([s.count, s.totals, s.period]).toEqual([full.s.count, full.s.totals, full.s.period]);
    expect(s.totals.usage).toEqual({ rx_bytes: 14_700, tx_bytes: 1270 });
  });

  test("a counter lower than at the sample (created anew) counts from zero, as a sample does", () => {
    const r = router(5);
    r.kernel.traffic(mac(2), 8000, 800);
    sample(r);
    r.clock.t += 10;
    const h2 = r.kernel.hosts.get("h2")!;
    h2.rx = { bytes: 300, packets: 3 };
    const { s, fullReads } = poll(r);
    expect(fullReads).toBe(0);
    const full = fullOf(r, s);
    expect(s.hosts.find((h) => h.name === "h2")!.usage).toEqual({ since: s.period!.start, rx_bytes: 8300, tx_bytes: 800 });
    expect(s.hosts).toEqual(full.hosts as typeof s.hosts);
    expect([s.count, s.totals]).toEqual([full.s.count, full.s.totals]);
  });

  test("of more hosts than it ranks: BUSIEST shown, count and totals over all; a host outside the ranking enters at the next sample", () => {
    const n = RANKED + 30;
    const r = router(n);
    for (let i = 1; i <= RANKED; i++) r.kernel.traffic(mac(i), 1000 + i, 0);
    sample(r);
    r.clock.t += 30;
    r.kernel.traffic(mac(1), 500_000, 0);
    r.kernel.traffic(mac(n), 900_000, 0);
    const { s, fullReads } = poll(r);
    expect(fullReads).toBe(0);
    expect(r.kernel.lookups).toBe(RANKED);
    expect(s.hosts).toHaveLength(BUSIEST);
    expect(s.count).toBe(n);
    expect(s.hosts[0]!.name).toBe("h1");
    // Its growth is not counted yet, nor is it shown: it was not ranked at the sample.
    expect(s.hosts.some((h) => h.name === `h${n}`)).toBe(false);
    expect(s.totals.usage.rx_bytes).toBe(readStatus(r.proc()).totals.usage.rx_bytes - 900_000);
    // That read was a sample: now it leads.
    const next = poll(r);
    expect(next.fullReads).toBe(0);
    expect(next.s.hosts.map((h) => h.name).slice(0, 2)).toEqual([`h${n}`, "h1"]);
    const full = fullOf(r, next.s);
    expect(next.s.hosts).toEqual(full.hosts as typeof next.s.hosts);
    expect(next.s.totals).toEqual(full.s.totals);
  });
});

describe("the poll reads every counter when the ranking does not hold", () => {
  const fallsBack = (r: ReturnType<typeof router>) => {
    const { s, fullReads } = poll(r);
    expect(fullReads).toBe(1);
    expect(s.ranked_at).toBe(r.clock.t);
    const full = fullOf(r, s);
    expect(s.hosts).toEqual(full.hosts as typeof s.hosts);
    expect([s.count, s.totals]).toEqual([full.s.count, full.s.totals]);
    return s;
  };

  test("older than twice push_interval", () => {
    const r = router(4);
    sample(r);
    r.clock.t += 120;
    expect(poll(r).fullReads).toBe(0);
    r.clock.t += 1;
    r.kernel.traffic(mac(1), 10, 10);
    fallsBack(r);
  });

  test("a clock before the sample, or past the ranked period's end", () => {
    const r = router(4);
    sample(r);
    r.clock.t -= 5;
    fallsBack(r);
    r.clock.t = Date.parse("2026-12-31T23:59:50Z") / 1000;
    sample(r);
    r.clock.t += 20;
    const s = fallsBack(r);
    expect(s.period!.name).toBe("2027-01");
  });

  test("a change to the hosts since (an event): the ranking is gone, and the new host is shown", () => {
    const r = router(4);
    sample(r);
    const lines = r.sys.readFile(LEASES)!;
    r.sys.writeFile(LEASES, `${lines}${T0 + 86_400} ${mac(77)} ${ip(77)} newcomer *\n`);
    runEvent(r.proc(), { action: "add", source: "dhcp", key: mac(77), address: ip(77), hostname: "newcomer" });
    expect(r.sys.files.has(RANKING)).toBe(false);
    expect(fallsBack(r).hosts.map((h) => h.name)).toContain("newcomer");
  });

  test("the poll that reads everything is a full sample: it leaves a ranking, and the next poll builds on it", () => {
    const r = router(4);
    sample(r);
    const lines = r.sys.readFile(LEASES)!;
    r.sys.writeFile(LEASES, `${lines}${T0 + 86_400} ${mac(78)} ${ip(78)} late *\n`);
    runEvent(r.proc(), { action: "add", source: "dhcp", key: mac(78), address: ip(78), hostname: "late" });
    expect(r.sys.files.has(RANKING)).toBe(false);
    r.clock.t += 5;
    r.kernel.traffic(mac(78), 500, 700);
    const first = poll(r);
    expect(first.fullReads).toBe(1);
    expect(r.sys.files.has(RANKING)).toBe(true);
    expect(first.s.hosts[0]!.name).toBe("late");
    r.clock.t += 5;
    r.kernel.traffic(mac(78), 100, 100);
    const next = poll(r);
    expect(next.fullReads).toBe(0);
    expect(next.s.ranked_at).toBe(r.clock.t - 5);
    const full = fullOf(r, next.s);
    expect(next.s.hosts).toEqual(full.hosts as typeof next.s.hosts);
    expect(next.s.hosts[0]!.name).toBe("late");
  });

  test("without lookups by name (iptables) the poll only reads: no sample, no state written", () => {
    const r = router(4, { named: false });
    sample(r);
    const state = r.sys.files.get(RAM);
    r.clock.t += 5;
    r.kernel.traffic(mac(1), 10, 10);
    readBusiest(r.proc());
    expect(r.sys.files.get(RAM)).toBe(state);
  });

  test("an event that changes nothing (a lease renewed as it was) keeps the ranking", () => {
    const r = router(4);
    sample(r);
    runEvent(r.proc(), { action: "add", source: "dhcp", key: mac(2), address: ip(2), hostname: "h2" });
    expect(r.sys.files.has(RANKING)).toBe(true);
    expect(poll(r).fullReads).toBe(0);
  });

  test("a lookup that fails (a name taken by another key, a pair gone)", () => {
    const r = router(4);
    sample(r);
    r.kernel.failing.add("h2");
    fallsBack(r);
  });

  test("another table or placement's ranking, another period setting, another state (a journal sample since)", () => {
    const r = router(4);
    sample(r);
    const good = parseRanking(r.sys.files.get(RANKING)!);
    const variants: Ranking[] = [{ ...good, table: "other" }, { ...good, hook: "ports" }, { ...good, spec: "week/1" }, { ...good, state: "0000000000000000" }, { ...good, period: null }];
    for (const v of variants) {
      r.sys.files.set(RANKING, serializeRanking(v));
      fallsBack(r);
      // That read was a sample: it wrote a ranking that holds.
      expect(poll(r).fullReads).toBe(0);
    }
  });

  test("a bad ranking is set aside and said in one line; an empty one is no ranking", () => {
    const r = router(4);
    sample(r);
    r.sys.files.set(RANKING, '{"format":"iptmon-busiest","version":1,"t":"soon"}');
    fallsBack(r);
    expect(r.messages).toEqual([`snapshot ${RANKING} is unusable (bad head): set aside as ${RANKING}.bad-${r.clock.t}; the page's poll reads every counter`]);
    expect(r.sys.files.has(`${RANKING}.bad-${r.clock.t}`)).toBe(true);
    r.sys.files.set(RANKING, "");
    fallsBack(r);
    expect(r.messages).toHaveLength(1);
  });
});
