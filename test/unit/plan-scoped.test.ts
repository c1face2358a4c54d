/**
 * Planning an event against a scoped read (only the hosts it touches, looked
 * up by key) must come to the same kernel as planning it against the full
 * read, or ask for the full read. `scopedOf` answers as the nft backend's
 * scoped read does, from a whole table held in memory (test/e2e/netlink.test.ts
 * holds the two side by side on the real kernel).
 */
import { describe, expect, test } from "bun:test";
import { parseSubnet } from "../../src/addr.ts";
import { planNft } from "../../src/backends/nft/plan.ts";
import type { HostConfig } from "../../src/config.ts";
import { macOf, sortAddresses, sortHosts, uniqueName, type CountedHost, type FullState, type HostCounters, type PlannedHost, type ScopedState } from "../../src/model.ts";
import { eventScope, planEvent, resolveEventKey, type EventPlan, type HostEvent, type Knowledge } from "../../src/plan.ts";
import type { Lease } from "../../src/sources/leases.ts";
import type { Neighbour } from "../../src/sources/neigh.ts";
import { scopedOf } from "../helpers/scoped.ts";
import { prng } from "../helpers/prng.ts";

const LAN = {
  subnets: [parseSubnet("192.168.1.0/24")!, parseSubnet("fd00::/64")!],
  own: new Set(["192.168.1.1", "fd00::1"]),
  ipv6: true,
  warnings: [],
};
const know = (p: Partial<Knowledge> = {}): Knowledge => ({ configHosts: [], staticLeases: [], hostsEntries: [], leases: [], neighbours: [], domain: "lan", lan: LAN, ...p });
const family = (a: string) => (a.includes(":") ? 6 : 4) as 4 | 6;
const counted = (key: string, name: string, addresses: string[], n = 1): CountedHost => ({
  key,
  name,
  addresses: sortAddresses(addresses),
  rx: { packets: n, bytes: 100 * n },
  tx: { packets: 2 * n, bytes: 300 * n },
});
const full = (hosts: CountedHost[]): FullState => ({ read: "full", complete: true, hosts });

/** The table after a scoped plan: the hosts it did not read as they were, its hosts with the addresses it did not list. */
function afterScoped(before: readonly CountedHost[], s: ScopedState, planned: readonly PlannedHost[]) {
  const read = new Set(s.hosts.map((h) => h.name));
  const inScope = new Set(s.addresses);
  const unlisted = (name: string) => before.find((h) => h.name === name)?.addresses.filter((a) => !inScope.has(a)) ?? [];
  return shape([
    ...before.filter((h) => !read.has(h.name)),
    ...planned.map((h) => ({ key: h.key!, name: h.name, addresses: [...h.addresses, ...unlisted(h.name)] })),
  ]);
}
const shape = (hs: readonly { key: string | null; name: string; addresses: string[] }[]) =>
  sortHosts(hs.map((h) => ({ key: h.key, name: h.name, addresses: sortAddresses(h.addresses) })));
/** What each created host starts from. */
const starts = (hs: readonly PlannedHost[]) => Object.fromEntries(hs.flatMap((h) => (h.counters === "keep" ? [] : [[h.name, h.counters]])));

const M = (n: number) => `02:00:00:00:00:${n.toString(16).padStart(2, "0")}`;
const dhcp = (key: string, address: string, hostname?: string | null): HostEvent => ({ action: "add", source: "dhcp", key, address, hostname });

/** Both plans; the scoped one must agree with the full one unless it asks for the full read. */
function both(hosts: CountedHost[], ev: HostEvent, k: Knowledge, floors = new Map<string, HostCounters>()) {
  const key = resolveEventKey(ev, k)!;
  const scope = eventScope(ev, key, k);
  const s = scopedOf(hosts, scope);
  const whole = planEvent(full(hosts), ev, key, k, floors);
  const scoped = planEvent(s, ev, key, k, floors);
  return { whole, scoped, s };
}

function agree(hosts: CountedHost[], whole: EventPlan, scoped: EventPlan, s: ScopedState): void {
  if (scoped.kind === "need-full") return;
  expect(scoped.kind as string).toBe(whole.kind);
  if (whole.kind === "ignore" && scoped.kind === "ignore") expect(scoped.reason).toBe(whole.reason);
  if (whole.kind === "change" && scoped.kind === "change") {
    expect(afterScoped(hosts, s, scoped.hosts)).toEqual(shape(whole.hosts));
    expect(starts(scoped.hosts)).toEqual(starts(whole.hosts));
  }
}

describe("planEvent against a scoped read", () => {
  // 500 hosts the event has nothing to do with, and a few it has.
  const crowdMac = (i: number) => `02:00:00:01:${(i >> 8).toString(16).padStart(2, "0")}:${(i & 255).toString(16).padStart(2, "0")}`;
  const crowd = Array.from({ length: 500 }, (_, i) => counted(crowdMac(i), `host-${i}`, [...(i < 200 ? [`192.168.1.${i + 2}`] : []), `fd00::${(i + 1).toString(16)}`]));
  const android = counted(M(1), "Android", ["192.168.1.210", "fd00::1:1", "fd00::1:2"], 5);
  const hosts = [...crowd, android];

  test("a new host: only its own hosts read, its name checked against every other, case ignored", () => {
    const k = know();
    const { whole, scoped, s } = both(hosts, dhcp(M(2), "192.168.1.220", "android"), k);
    expect(s.hosts).toEqual([]);
    expect(scoped).toEqual({ kind: "change", hosts: [{ key: M(2), name: "android-2", addresses: ["192.168.1.220"], counters: { rx: { packets: 0, bytes: 0 }, tx: { packets: 0, bytes: 0 } } }] });
    agree(hosts, whole, scoped, s);
  });

  test("a new host starts from what the snapshot remembers of it", () => {
    const floors = new Map([[M(2), { rx: { packets: 3, bytes: 3000 }, tx: { packets: 4, bytes: 4000 } }]]);
    const { whole, scoped, s } = both(hosts, dhcp(M(2), "192.168.1.220", "tablet"), know(), floors);
    expect(scoped.kind === "change" && scoped.hosts[0]!.counters).toEqual(floors.get(M(2))!);
    agree(hosts, whole, scoped, s);
  });

  test("a known host's new address: the host is read with the addresses it holds outside the scope counted, not listed", () => {
    const { whole, scoped, s } = both(hosts, { action: "add", source: "neigh", key: M(1), address: "fd00::1:3" }, know());
    expect(s.hosts).toEqual([{ ...android, addresses: [], unseen: 3 }]);
    expect(scoped).toEqual({ kind: "change", hosts: [{ key: M(1), name: "Android", addresses: ["fd00::1:3"], counters: "keep" }] });
    agree(hosts, whole, scoped, s);
    // ...and as a change, only the new address's elements.
    if (scoped.kind !== "change") throw new Error("expected a change");
    const c = planNft(s, scoped.hosts, { rebuild: false });
    expect(c).toMatchObject({ declare: false, deleteHosts: [], createHosts: [], deleteElements: {}, addElements: { rx6: [["fd00::1:3", "Android"]], tx6: [["fd00::1:3", "Android"]] } });
  });

  test("an address gone that is not the host's last: only its elements", () => {
    const { whole, scoped, s } = both(hosts, { action: "del", source: "dhcp", key: M(1), address: "192.168.1.210" }, know());
    expect(scoped.kind === "change" && scoped.hosts).toEqual([{ key: M(1), name: "Android", addresses: [], counters: "keep" }]);
    agree(hosts, whole, scoped, s);
  });

  test("a host's last address gone: the host goes, counters and all", () => {
    const one = counted(M(3), "tv", ["192.168.1.230"]);
    const { whole, scoped, s } = both([...hosts, one], { action: "del", source: "dhcp", key: M(3), address: "192.168.1.230" }, know());
    expect(scoped).toEqual({ kind: "change", hosts: [] });
    expect(planNft(s, [], { rebuild: false }).deleteHosts).toEqual(["tv"]);
    agree([...hosts, one], whole, scoped, s);
  });

  test("an address taken from a host that keeps others: that host loses it, no more", () => {
    const { whole, scoped, s } = both(hosts, dhcp(M(2), "fd00::1:2", "phone"), know());
    expect(scoped.kind === "change" && scoped.hosts.map((h) => [h.name, h.addresses])).toEqual([
      ["Android", []],
      ["phone", ["fd00::1:2"]],
    ]);
    agree(hosts, whole, scoped, s);
  });

  test("a rename, or a host going with addresses it did not list: the full read", () => {
    expect(both(hosts, dhcp(M(1), "192.168.1.210", "pixel"), know()).scoped.kind).toBe("need-full");
    const ignored = know({ configHosts: [{ mac: M(1), name: null, ignore: true, addresses: [] } satisfies HostConfig] });
    expect(both(hosts, dhcp(M(1), "192.168.1.210", "x"), ignored).scoped).toMatchObject({ kind: "need-full", why: expect.stringContaining("Android") });
  });

  test("DHCPv6 leases to attribute: a few looked up in the kernel, a lease file's worth left to the full read", () => {
    const v6 = (n: number): Lease[] =>
      Array.from({ length: n }, (_, i) => ({ expires: 1_900_000_000, mac: null, duid: `00:02:00:00:00:${i}`, address: `fd00::9:${(i + 1).toString(16)}`, family: 6, hostname: `v6-${i}` }));
    const arp: HostEvent = { action: "add", source: "neigh", key: M(2), address: "192.168.1.220" };
    for (const [n, kind] of [[5, "change"], [500, "need-full"]] as const) {
      const k = know({ leases: v6(n) });
      const s = scopedOf(hosts, eventScope(arp, M(2), k));
      let lookups = 0;
      const counting: ScopedState = { ...s, ownerKey: (a) => (lookups++, s.ownerKey(a)) };
      const p = planEvent(counting, arp, M(2), k);
      expect([n, p.kind]).toEqual([n, kind]);
      expect(lookups).toBeLessThanOrEqual(32);
      agree(hosts, planEvent(full(hosts), arp, M(2), k), p, s);
    }
  });

  test("a name that would come from addresses the read did not list: the full read", () => {
    // No hostname, no lease, no config: named from its addresses (all of them).
    expect(both(hosts, dhcp(M(1), "192.168.1.210", null), know()).scoped.kind).toBe("need-full");
  });
});


describe("planEvent against a scoped read: the same kernel as the full read (property test)", () => {
  const ADDRS = ["192.168.1.10", "192.168.1.11", "192.168.1.12", "192.168.1.13", "fd00::10", "fd00::11", "fd00::12", "fe80::1", "10.0.0.9"];
  const MACS = [1, 2, 3, 4, 5, 6].map(M);
  const NAMES = ["android", "Android", "tv", "TV-2", "laptop", null];

  test("2,000 random tables, sources and events", () => {
    let changes = 0;
    let needFull = 0;
    for (let seed = 1; seed <= 2000; seed++) {
      const r = prng(seed);
      const pick = <T>(xs: readonly T[]) => xs[Math.floor(r() * xs.length)]!;
      // A table: each LAN address held by a random host, or by nobody.
      const keys = [...MACS.slice(0, 4), "host:nas", "duid:0001"];
      const held = new Map<string, string[]>();
      for (const a of ADDRS.slice(0, 7)) if (r() < 0.7) {
        const key = pick(keys);
        held.set(key, [...(held.get(key) ?? []), a]);
      }
      const taken = new Set<string>();
      const hosts = [...held].map(([key, addrs], i) => {
        const name = uniqueName(pick(NAMES) ?? addrs[0]!.replaceAll(":", "-"), taken);
        taken.add(name.toLowerCase());
        return counted(key, name, addrs, i + 1);
      });
      const leases: Lease[] = Array.from({ length: Math.floor(r() * 4) }, () => {
        const address = pick(ADDRS.slice(0, 7));
        const v6NoMac = family(address) === 6 && r() < 0.5;
        return { expires: 1_900_000_000, mac: v6NoMac ? null : pick(MACS), duid: v6NoMac ? "00:03:00:01:02:00:00:00:00:0" + Math.floor(r() * 7) : null, address, family: family(address), hostname: pick(NAMES) };
      });
      const neighbours: Neighbour[] = Array.from({ length: Math.floor(r() * 4) }, () => {
        const address = pick(ADDRS);
        return { address, family: family(address), mac: pick(MACS), state: "REACHABLE" };
      });
      const configHosts: HostConfig[] = r() < 0.3 ? [{ mac: pick(MACS), name: r() < 0.5 ? pick(["nas", "Tv", "printer"]) : null, ignore: r() < 0.3, addresses: r() < 0.5 ? [pick(ADDRS)] : [] }] : [];
      const k = know({ leases, neighbours, configHosts });
      const ev: HostEvent = {
        action: r() < 0.6 ? "add" : "del",
        source: r() < 0.5 ? "dhcp" : "neigh",
        key: pick(MACS),
        address: pick(ADDRS),
        hostname: pick([undefined, null, "android", "TV", "laptop", "tv-2"]),
      };
      // A floor for a host that is not there yet (a counter found below its floor is a full read's business).
      const floors = new Map(r() < 0.5 && !hosts.some((h) => h.key === ev.key) ? [[ev.key!, { rx: { packets: 9, bytes: 900 }, tx: { packets: 9, bytes: 900 } }]] : []);
      const { whole, scoped, s } = both(hosts, ev, k, floors);
      try {
        agree(hosts, whole, scoped, s);
      } catch (e) {
        throw new Error(`seed ${seed}: ${JSON.stringify({ hosts, ev, leases, neighbours, configHosts, whole, scoped })}\n${(e as Error).message}`);
      }
      if (scoped.kind === "need-full") needFull++;
      else if (scoped.kind === "change") changes++;
    }
    // The property says something only if most changes went the scoped way.
    expect(changes).toBeGreaterThan(500);
    expect(needFull).toBeLessThan(changes / 2);
  });
});
