/**
 * Events over netlink against the real kernel, for both placements: the
 * same events give the same table as through `nft -f`, netlink's reads say
 * what nft's JSON says, a change that fails leaves nothing behind, and an
 * event spawns no nft at all.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { CountedHost, EventScope } from "../../src/model.ts";
import { scopedOf } from "../helpers/scoped.ts";
import { exec, execOk, iptmonBin, iptmonConfig, NETNS_NEEDS, NetnsRun, skipReason, SYS_PATH } from "./harness.ts";

const skip = skipReason("netlink", NETNS_NEEDS);
const PROBE = resolve(import.meta.dir, "../helpers/nl-probe.ts");
const SEND = resolve(import.meta.dir, "../helpers/udp-send.ts");
const mac = (i: number) => `02:00:00:00:${(i >> 8).toString(16).padStart(2, "0")}:${(i & 255).toString(16).padStart(2, "0")}`;
const ip = (i: number) => `10.67.${i >> 8}.${i & 255}`;

type Normal = { maps: Record<string, string[]>; counters: string[] };
/** A table as a comparable value: every map's elements and every counter, sorted (hash sets list in any order). */
function normal(json: string): Normal {
  const out: Normal = { maps: {}, counters: [] };
  for (const o of (JSON.parse(json) as { nftables: Record<string, { name: string; elem?: unknown[]; packets?: number; bytes?: number; comment?: string }>[] }).nftables) {
    if (o.map) out.maps[o.map.name] = (o.map.elem ?? []).map((e) => JSON.stringify(e)).sort();
    if (o.counter) out.counters.push(`${o.counter.name} ${o.counter.packets} ${o.counter.bytes} ${o.counter.comment}`);
  }
  out.counters.sort();
  return out;
}

describe.skipIf(skip !== null)("events over netlink", () => {
  let run: NetnsRun;
  let ns: string;
  let BIN: string;
  /** The namespace of a host that sends (made by the first test that needs it). */
  let traffic: string | undefined;
  const conf = (placement: string, extra: string[] = []) => {
    const f = join(run.tmpDir, `iptmon-${placement}-${extra.length}.conf`);
    writeFileSync(f, iptmonConfig(run.tmpDir, { backend: "nftables", options: [`\toption hook '${placement}'`, "\toption lan_interface 'br-lan'", ...extra] }));
    return f;
  };
  const iptmon = (config: string, args: string[], netlink = true) => exec(ns, [BIN, ...args], { env: { IPTMON_CONFIG: config, IPTMON_NETLINK: netlink ? "1" : "0" } });
  const ok = (config: string, args: string[], netlink = true) => {
    const r = iptmon(config, args, netlink);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    return r.stdout;
  };

  beforeAll(() => {
    BIN = iptmonBin();
    run = new NetnsRun("ipnl", { tmpPrefix: "iptmon-netlink" });
    ns = run.ns("r");
    run.addNamespaces([ns]);
    run.ipBatch(ns, ["link add br-lan type bridge", "link add lan1 type veth peer name lan1p", "link set lan1 master br-lan", "link set br-lan up", "link set lan1 up", "link set lan1p up", "addr add 10.67.255.254/16 dev br-lan"]);
    writeFileSync(join(run.tmpDir, "dhcp.leases"), `${Array.from({ length: 40 }, (_, i) => `0 ${mac(i + 1)} ${ip(i + 1)} host${i + 1} *`).join("\n")}\n`);
  });
  afterAll(() => run?.destroy());

  for (const placement of ["forward", "ports"] as const) {
    const family = placement === "ports" ? "netdev" : "inet";
    const table = () => normal(execOk(ns, ["nft", "-j", "list", "table", family, "iptmon"]).stdout);
    /** Every kind of event: new hosts, a known MAC's new address, a rename, an address moving to another host, removals. */
    const events = (c: string, netlink: boolean) => {
      ok(c, ["add", mac(100), ip(100), "newcomer"], netlink);
      ok(c, ["add", mac(1), ip(101)], netlink);
      ok(c, ["add", mac(2), ip(2), "renamed"], netlink);
      ok(c, ["add", mac(100), ip(3), "newcomer"], netlink);
      ok(c, ["del", mac(4), ip(4)], netlink);
      ok(c, ["del", mac(1), ip(101)], netlink);
      ok(c, ["add", mac(101), ip(102), "host5"], netlink);
    };

    test(`${placement}: the same events give the same table over netlink as through nft -f`, () => {
      const c = conf(placement);
      const results: Normal[] = [];
      for (const netlink of [true, false]) {
        ok(c, ["stop"]);
        ok(c, ["init"]);
        events(c, netlink);
        results.push(table());
      }
      // 40 hosts' pairs, and the carry pair of the one renamed (its old pair folded into it).
      expect(results[0]!.counters.length).toBe(2 * 40 + 2);
      expect(results[0]).toEqual(results[1]!);
      const hosts = JSON.parse(ok(c, ["status", "--json"])).hosts as { name: string; addresses: string[] }[];
      expect(hosts.find((h) => h.name === "newcomer")?.addresses).toEqual([ip(3), ip(100)]);
      expect(hosts.find((h) => h.name === "renamed")?.addresses).toEqual([ip(2)]);
      expect(hosts.find((h) => h.name === "host5-2")?.addresses).toEqual([ip(102)]);
      expect(hosts.some((h) => h.name === "host4" || h.name === "host3")).toBe(false);
    });

    test(`${placement}: status reads over netlink what it reads through nft`, () => {
      const c = conf(placement);
      expect(ok(c, ["status", "--json"], true)).toBe(ok(c, ["status", "--json"], false));
    });

    test(`${placement}: the poll (status --json --busiest) reads the same hosts, addresses and totals as the full list, over netlink and through nft`, () => {
      const c = conf(placement);
      type S = { count: number; totals: unknown; period: unknown; hosts: { key: string; name: string; addresses: string[] }[] };
      const byKey = (s: S) => [...s.hosts].sort((a, b) => (a.key < b.key ? -1 : 1));
      const full = JSON.parse(ok(c, ["status", "--json"])) as S;
      // After the events above: 40 hosts, one with two addresses, one renamed (its old pair folded into its carry).
      expect(full.hosts.length).toBe(40);
      expect(full.hosts.find((h) => h.name === "newcomer")?.addresses).toHaveLength(2);
      expect(full.hosts.some((h) => h.name === "renamed")).toBe(true);
      for (const netlink of [true, false]) {
        const poll = JSON.parse(ok(c, ["status", "--json", "--busiest"], netlink)) as S;
        expect([poll.count, poll.totals, poll.period]).toEqual([full.count, full.totals, full.period]);
        expect(byKey(poll)).toEqual(byKey(full));
      }
    });

    test(`${placement}: right after a sample, with traffic since, the poll builds on the sample's ranking and its hosts' counters and usage are a full read's`, async () => {
      const c = conf(placement);
      // A host sending from its own namespace: through a LAN port, forwarded to a dummy network.
      if (!traffic) {
        const h = run.ns("h");
        run.addNamespaces([h]);
        // The far side: a link whose one neighbour is written down (its datagrams go nowhere further).
        run.ipBatch(ns, [
          "link add lan2 type veth peer name lan2p",
          "link set lan2 master br-lan",
          "link set lan2 up",
          `link set lan2p netns ${h}`,
          "link add wan0 type veth peer name wan0p",
          "addr add 10.68.0.1/24 dev wan0",
          "link set wan0 up",
          "link set wan0p up",
          "neigh add 10.68.0.2 lladdr 02:00:00:00:ff:ff dev wan0 nud permanent",
        ]);
        run.ipBatch(h, [`link set lan2p address ${mac(10)}`, `addr add ${ip(10)}/16 dev lan2p`, "link set lan2p up", "route add default via 10.67.255.254"]);
        run.sysctl(ns, ["net.ipv4.ip_forward=1"]);
        traffic = h;
      }
      ok(c, ["init"]);
      type S = { count: number; totals: unknown; period: unknown; ranked_at?: number; hosts: { key: string; name: string; rx_bytes: number; usage?: unknown }[] };
      const sample = JSON.parse(ok(c, ["status", "--json"])) as S;
      const ranking = JSON.parse(readFileSync(join(run.tmpDir, "state.json.busiest"), "utf8")) as { t: number; hook: string; count: number };
      expect([ranking.hook, ranking.count]).toEqual([placement, sample.count]);
      execOk(traffic, [process.execPath, SEND, "4", "10.68.0.2", "9", "40", "1000"]);
      await Bun.sleep(1100);
      const poll = JSON.parse(ok(c, ["status", "--json", "--busiest"])) as S;
      const full = JSON.parse(ok(c, ["status", "--json"])) as S;
      // The sample's ranking, not a read of every counter (which is ranked now, a second later).
      expect(poll.ranked_at).toBe(ranking.t);
      const busy = poll.hosts[0]!;
      expect(busy.name).toBe("host10");
      expect(busy.rx_bytes - sample.hosts.find((h) => h.name === "host10")!.rx_bytes).toBe(40 * 1028);
      const byKey = new Map(full.hosts.map((h) => [h.key, h]));
      expect(poll.hosts.length).toBe(full.hosts.length);
      for (const h of poll.hosts) expect(h).toEqual(byKey.get(h.key)!);
      expect([poll.count, poll.totals, poll.period]).toEqual([full.count, full.totals, full.period]);
      // An event that changes nothing (a lease renewed as it was) keeps the ranking of the full read above.
      const resampled = JSON.parse(readFileSync(join(run.tmpDir, "state.json.busiest"), "utf8")) as { t: number };
      ok(c, ["add", mac(10), ip(10), "host10"]);
      expect(existsSync(join(run.tmpDir, "state.json.busiest"))).toBe(true);
      expect((JSON.parse(ok(c, ["status", "--json", "--busiest"])) as S).ranked_at).toBe(resampled.t);
      // A change to the hosts since the sample: the poll reads every counter, and shows the new one.
      ok(c, ["add", mac(500), ip(500), "after-sample"]);
      expect(existsSync(join(run.tmpDir, "state.json.busiest"))).toBe(false);
      const after = JSON.parse(ok(c, ["status", "--json", "--busiest"])) as S;
      expect(after.ranked_at).toBeGreaterThan(ranking.t);
      expect(after.count).toBe(full.count + 1);
      expect(after.hosts.some((h) => h.name === "after-sample")).toBe(true);
      ok(c, ["del", mac(500), ip(500)]);
    });

    test(`${placement}: netlink's reads say what nft's JSON says`, () => {
      const r = JSON.parse(execOk(ns, [process.execPath, PROBE, "read", placement, "iptmon"], { env: { PATH: SYS_PATH } }).stdout);
      const byName = (s: { hosts: { name: string }[] }) => ({ ...s, hosts: [...s.hosts].sort((a, b) => a.name.localeCompare(b.name)) });
      expect(r.netlinkTable.read).toBe("full");
      expect(byName(r.netlinkTable)).toEqual(byName(r.nftTable));
      expect(byName(r.netlinkMaps)).toEqual(byName(r.nftMaps));
    });

    test(`${placement}: an event's scoped read finds by key what the whole table says, with no dump`, () => {
      const c = conf(placement);
      ok(c, ["add", mac(5), ip(105)]);
      const scopes: EventScope[] = [
        // a host with an address outside the scope; one with two, both in it; no such MAC, one owner
        { key: mac(5), addresses: [ip(105)] },
        { key: mac(100), addresses: [ip(100), ip(3)] },
        { key: mac(999), addresses: [ip(6), ip(999)] },
        { key: mac(7), addresses: [] },
      ];
      const names = ["newcomer", "NEWCOMER", "Host6", "nobody"];
      const r = JSON.parse(execOk(ns, [process.execPath, PROBE, "scoped", placement, "iptmon", JSON.stringify(scopes), JSON.stringify(names)], { env: { PATH: SYS_PATH } }).stdout) as {
        full: { hosts: CountedHost[] };
        reads: { scope: EventScope; state: { hosts: { name: string }[] }; dumps: number; nameTaken: Record<string, boolean>; ownerKey: Record<string, string | null> }[];
      };
      const byName = <T extends { name: string }>(hs: T[]) => [...hs].sort((a, b) => a.name.localeCompare(b.name));
      expect(r.full.hosts.length).toBe(40);
      for (const read of r.reads) {
        const want = scopedOf(r.full.hosts, read.scope);
        expect(byName(read.state.hosts)).toEqual(byName(want.hosts));
        expect(read.nameTaken).toEqual(Object.fromEntries(names.map((n) => [n, want.nameTaken(n)])));
        expect(read.ownerKey).toEqual(Object.fromEntries(read.scope.addresses.map((a) => [a, want.ownerKey(a)])));
        expect(read.dumps).toBe(0);
      }
      expect(r.reads[0]!.state.hosts).toMatchObject([{ name: "host5", addresses: [ip(105)], unseen: 1 }]);
      expect(r.reads[2]!.state.hosts).toMatchObject([{ name: "host6", addresses: [ip(6)], unseen: 0 }]);
    });

    test(`${placement}: a table without the names map (an earlier iptmon's) is not read by key; the next event declares the map`, () => {
      const c = conf(placement);
      execOk(ns, ["nft", "delete", "map", family, "iptmon", "names"]);
      const r = JSON.parse(execOk(ns, [process.execPath, PROBE, "scoped", placement, "iptmon", JSON.stringify([{ key: mac(5), addresses: [ip(5)] }]), "[]"], { env: { PATH: SYS_PATH } }).stdout);
      expect(r.reads[0].state).toBeNull();
      ok(c, ["add", mac(400), ip(400), "after-upgrade"]);
      expect(table().maps.names?.length).toBe(r.full.hosts.length + 1);
    });

    test(`${placement}: a change that fails halfway leaves nothing behind`, () => {
      const before = table();
      const r = JSON.parse(execOk(ns, [process.execPath, PROBE, "failing-batch", placement, "iptmon"], { env: { PATH: SYS_PATH } }).stdout);
      expect(r).toEqual({ errno: 2, halfway: null });
      expect(table()).toEqual(before);
    });

    test(`${placement}: a counter pair left with no element (a hand edit) does not stop an event, over netlink as through nft -f`, () => {
      const c = conf(placement);
      for (const [i, netlink] of [[0, true], [1, false]] as const) {
        const name = `leftover${i}`;
        for (const dir of ["rx", "tx"])
          execOk(ns, ["nft", `add counter ${family} iptmon ${dir}_${name} { packets 7 bytes 700; comment "iptmon: ${mac(300 + i)}"; }`]);
        ok(c, ["add", mac(300 + i), ip(300 + i), name], netlink);
        const h = (JSON.parse(ok(c, ["status", "--json"])).hosts as { name: string; addresses: string[]; rx_bytes: number }[]).find((x) => x.name === name);
        // As `nft add counter` does: the counter that is there stays, numbers and all.
        expect(h).toMatchObject({ addresses: [ip(300 + i)], rx_bytes: 700 });
      }
    });

    test(`${placement}: an event spawns no nft (a missing nft only matters without netlink)`, () => {
      const c = conf(placement);
      const noNft = conf(placement, ["\toption nft '/nonexistent/nft'"]);
      ok(noNft, ["add", mac(200), ip(200), "no-nft"], true);
      const r = iptmon(noNft, ["add", mac(201), ip(201), "no-nft-2"], false);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain("/nonexistent/nft not found");
      expect(JSON.parse(ok(c, ["status", "--json"])).hosts.map((h: { name: string }) => h.name)).toContain("no-nft");
    });
  }
});
