import { describe, expect, test } from "bun:test";
import { parseSubnet } from "../../src/addr.ts";
import { nftChangeIsEmpty, planNft } from "../../src/backends/nft/plan.ts";
import type { HostConfig } from "../../src/config.ts";
import type { FullState, Host, LaidOutHost } from "../../src/model.ts";
import { keyForDuid, planCounters, planEvent as planEventIn, planInit, resolveEventKey, type EventPlan, type HostEvent, type Knowledge } from "../../src/plan.ts";
import type { HostsEntry } from "../../src/sources/hostsfile.ts";
import type { Lease } from "../../src/sources/leases.ts";
import type { Neighbour } from "../../src/sources/neigh.ts";
import type { StaticLease } from "../../src/sources/ucidhcp.ts";

// A LAN of 192.168.1.0/24 and fd00::/64; the router is .1 and fd00::1.
function know(p: Partial<Knowledge> & { ipv6?: boolean } = {}): Knowledge {
  const { ipv6, ...rest } = p;
  return {
    configHosts: [],
    staticLeases: [],
    hostsEntries: [],
    leases: [],
    neighbours: [],
    domain: "lan",
    lan: {
      subnets: [parseSubnet("192.168.1.0/24")!, parseSubnet("fd00::/64")!],
      own: new Set(["192.168.1.1", "fd00::1"]),
      ipv6: ipv6 ?? true,
      warnings: [],
    },
    ...rest,
  };
}
const family = (a: string) => (a.includes(":") ? 6 : 4) as 4 | 6;
const lease = (mac: string | null, address: string, hostname: string | null, o: { expires?: number; duid?: string } = {}): Lease => ({
  expires: o.expires ?? 1_900_000_000,
  mac,
  duid: o.duid ?? null,
  address,
  family: family(address),
  hostname,
});
const neigh = (mac: string | null, address: string): Neighbour => ({ address, family: family(address), mac, state: "REACHABLE" });
const hostsEntry = (address: string, ...names: string[]): HostsEntry => ({ address, family: family(address), names });
const cfgHost = (h: Partial<HostConfig>): HostConfig => ({ mac: null, name: null, ignore: false, addresses: [], ...h });
const staticLease = (macs: string[], name: string | null, address: string | null = null): StaticLease => ({ macs, address, name, line: 1 });
const applied = (hosts: Host[]): FullState => ({
  read: "full",
  complete: true,
  hosts: hosts.map((h, i) => ({ ...h, rx: { packets: i + 1, bytes: 100 * (i + 1) }, tx: { packets: i + 2, bytes: 200 * (i + 1) } })),
});
const NONE: LaidOutHost[] = [];
/** The event's plan against a full read (an `ignore` is null in `planEvent`; its reasons are tested below). */
function plan(current: FullState, e: HostEvent, k: Knowledge): EventPlan {
  return planEventIn(current, e, resolveEventKey(e, k)!, k);
}
function planEvent(current: FullState, e: HostEvent, k: Knowledge): Host[] | null {
  const p = plan(current, e, k);
  if (p.kind === "need-full") throw new Error(`a full read was not enough: ${p.why}`);
  if (p.kind === "ignore") return null;
  return p.hosts.map(({ key, name, addresses }) => ({ key: key!, name, addresses }));
}
const names = (hs: Host[] | null) => Object.fromEntries((hs ?? []).map((h) => [h.key, h.name]));
const byKey = (hs: Host[] | null, key: string) => hs?.find((h) => h.key === key);

const M1 = "02:00:00:00:00:01";
const M2 = "02:00:00:00:00:02";
const M3 = "02:00:00:00:00:03";
const M4 = "02:00:00:00:00:04";

describe("planInit: naming", () => {
  test("priority: iptmon config > DHCP hostname > UCI static lease > hosts files > address", () => {
    const hosts = planInit(
      know({
        configHosts: [cfgHost({ mac: M1, name: "from-config" })],
        staticLeases: [staticLease([M1, M2, M3], "from-uci")],
        hostsEntries: [hostsEntry("192.168.1.11", "hosts1"), hostsEntry("192.168.1.12", "hosts2"), hostsEntry("192.168.1.13", "hosts3"), hostsEntry("192.168.1.14", "hosts4")],
        leases: [
          lease(M1, "192.168.1.11", "dhcp1"),
          lease(M2, "192.168.1.12", "dhcp2"),
          lease(M3, "192.168.1.13", null),
          lease(M4, "192.168.1.14", null),
          lease("02:00:00:00:00:05", "192.168.1.15", null),
        ],
      }),
      NONE,
    );
    expect(names(hosts)).toEqual({
      [M1]: "from-config",
      [M2]: "dhcp2",
      [M3]: "from-uci",
      [M4]: "hosts4",
      "02:00:00:00:00:05": "192.168.1.15",
    });
  });

  test("names from every source are sanitised and lose the domain", () => {
    const hosts = planInit(
      know({
        configHosts: [cfgHost({ mac: M1, name: "Living Room TV" })],
        staticLeases: [staticLease([M2], "printer.lan")],
        hostsEntries: [hostsEntry("192.168.1.14", "desk.LAN")],
        leases: [lease(M1, "192.168.1.11", null), lease(M2, "192.168.1.12", null), lease(M3, "192.168.1.13", "Phone;$(reboot).lan"), lease(M4, "192.168.1.14", "*")],
      }),
      NONE,
    );
    expect(names(hosts)).toEqual({ [M1]: "Living-Room-TV", [M2]: "printer", [M3]: "Phone-reboot", [M4]: "desk" });
  });

  test("the newest lease of a MAC names it", () => {
    const hosts = planInit(
      know({ leases: [lease(M1, "192.168.1.11", "old-name", { expires: 1_900_000_000 }), lease(M1, "fd00::11", "new-name", { expires: 1_900_000_500, duid: "00:03:00:01:02:00:00:00:00:01" })] }),
      NONE,
    );
    expect(hosts).toEqual([{ key: M1, name: "new-name", addresses: ["192.168.1.11", "fd00::11"] }]);
  });

  test("hosts are sorted by name and addresses IPv4 first, numerically", () => {
    const hosts = planInit(
      know({
        leases: [lease(M2, "192.168.1.20", "zeta"), lease(M1, "192.168.1.100", "alpha")],
        neighbours: [neigh(M1, "fd00::10"), neigh(M1, "fd00::9"), neigh(M1, "192.168.1.9")],
      }),
      NONE,
    );
    expect(hosts).toEqual([
      { key: M1, name: "alpha", addresses: ["192.168.1.9", "192.168.1.100", "fd00::9", "fd00::10"] },
      { key: M2, name: "zeta", addresses: ["192.168.1.20"] },
    ]);
  });
});

describe("planInit: duplicates", () => {
  const k = know({ leases: [lease(M2, "192.168.1.12", "android"), lease(M3, "192.168.1.13", "android"), lease(M1, "192.168.1.11", "Android")] });

  test("duplicate names (case-insensitively) become unique", () => {
    const hosts = planInit(k, NONE);
    expect(names(hosts)).toEqual({ [M1]: "Android", [M2]: "android-2", [M3]: "android-3" });
  });

  test("a second planInit over what the first applied changes nothing", () => {
    const first = planInit(k, NONE);
    expect(planInit(k, applied(first).hosts)).toEqual(first);
  });

  test("hosts keep their current names; a newcomer does not steal one", () => {
    // The kernel knows M3 as android and M2 as android-2 (they came in that order).
    const current = applied([
      { key: M3, name: "android", addresses: ["192.168.1.13"] },
      { key: M2, name: "android-2", addresses: ["192.168.1.12"] },
    ]);
    expect(names(planInit(k, current.hosts))).toEqual({ [M3]: "android", [M2]: "android-2", [M1]: "Android-3" });
  });

  test("a host whose name no source gives any more keeps the one it has", () => {
    const current = applied([{ key: M1, name: "laptop", addresses: ["192.168.1.11"] }]);
    expect(planInit(know({ leases: [lease(M1, "192.168.1.11", null)] }), current.hosts)).toEqual([{ key: M1, name: "laptop", addresses: ["192.168.1.11"] }]);
  });

  test("a host whose DHCP name changed is renamed", () => {
    const current = applied([{ key: M1, name: "laptop", addresses: ["192.168.1.11"] }]);
    expect(names(planInit(know({ leases: [lease(M1, "192.168.1.11", "workstation")] }), current.hosts))).toEqual({ [M1]: "workstation" });
  });
});

describe("planInit: one device, one host", () => {
  test("`myhost` from DHCP and `myhost.lan` from a hosts file for its address are one host", () => {
    const hosts = planInit(know({ leases: [lease(M1, "192.168.1.11", "myhost")], hostsEntries: [hostsEntry("192.168.1.11", "myhost.lan", "myhost")] }), NONE);
    expect(hosts).toEqual([{ key: M1, name: "myhost", addresses: ["192.168.1.11"] }]);
  });

  test("hosts-file names `myhost.lan` and `myhost` on v4 and v6 make one static host", () => {
    const hosts = planInit(
      know({ hostsEntries: [hostsEntry("192.168.1.11", "myhost.lan"), hostsEntry("192.168.1.11", "myhost"), hostsEntry("fd00::11", "myhost")] }),
      NONE,
    );
    expect(hosts).toEqual([{ key: "host:myhost", name: "myhost", addresses: ["192.168.1.11", "fd00::11"] }]);
  });

  test("a host with several IPv6 addresses keeps them all", () => {
    const hosts = planInit(
      know({
        leases: [lease(M1, "192.168.1.11", "laptop"), lease(null, "fd00::1:65", "laptop", { duid: "00:01:00:01:2c:00:00:00:02:00:00:00:00:01" })],
        neighbours: [neigh(M1, "fd00::aaaa"), neigh(M1, "fd00::bbbb"), neigh(M1, "fd00::cccc")],
      }),
      NONE,
    );
    expect(hosts).toEqual([{ key: M1, name: "laptop", addresses: ["192.168.1.11", "fd00::aaaa", "fd00::bbbb", "fd00::cccc", "fd00::1:65"] }]);
  });
});

describe("planInit: what is never tracked", () => {
  test("localhost, ff02::1, link-locals, WAN, the router itself, broadcast, 0.0.0.0", () => {
    const hosts = planInit(
      know({
        hostsEntries: [
          hostsEntry("127.0.0.1", "localhost"),
          hostsEntry("::1", "localhost", "ip6-localhost"),
          hostsEntry("ff02::1", "ip6-allnodes"),
          hostsEntry("ff02::2", "ip6-allrouters"),
          hostsEntry("192.168.1.1", "OpenWrt.lan"),
          hostsEntry("fd00::1", "OpenWrt.lan"),
          hostsEntry("192.168.1.255", "bcast"),
        ],
        neighbours: [
          neigh(M1, "fe80::1"),
          neigh(M1, "169.254.3.3"),
          neigh(M2, "198.51.100.1"),
          neigh(M2, "2001:db8::1"),
          neigh(M3, "192.168.1.255"),
          neigh(M3, "0.0.0.0"),
          neigh(M4, "192.168.1.1"),
        ],
        leases: [lease(M4, "10.9.9.9", "elsewhere")],
      }),
      NONE,
    );
    expect(hosts).toEqual([]);
  });

  test("with IPv6 off, IPv6 addresses are dropped and v6-only hosts vanish", () => {
    const hosts = planInit(
      know({
        ipv6: false,
        leases: [lease(M1, "192.168.1.11", "laptop"), lease(null, "fd00::20", "v6only", { duid: "00:02:00:00:ab:11:01:02:03:04" })],
        neighbours: [neigh(M1, "fd00::11"), neigh(M2, "fd00::12")],
        hostsEntries: [hostsEntry("fd00::50", "nas")],
      }),
      NONE,
    );
    expect(hosts).toEqual([{ key: M1, name: "laptop", addresses: ["192.168.1.11"] }]);
  });

  test("the neighbour table cannot add a non-LAN address to a known host", () => {
    const hosts = planInit(know({ leases: [lease(M1, "192.168.1.11", "laptop")], neighbours: [neigh(M1, "fe80::11"), neigh(M1, "198.51.100.7")] }), NONE);
    expect(hosts).toEqual([{ key: M1, name: "laptop", addresses: ["192.168.1.11"] }]);
  });
});

describe("planInit: ignore", () => {
  test("an ignored MAC is tracked from no source", () => {
    const hosts = planInit(
      know({
        configHosts: [cfgHost({ mac: M2, ignore: true })],
        staticLeases: [staticLease([M2], "printer", "192.168.1.12")],
        leases: [lease(M1, "192.168.1.11", "laptop"), lease(M2, "192.168.1.12", "printer")],
        neighbours: [neigh(M2, "fd00::12")],
      }),
      NONE,
    );
    expect(hosts.map((h) => h.key)).toEqual([M1]);
  });

  test("a static host ignored by name hides its hosts-file entries", () => {
    const hosts = planInit(know({ configHosts: [cfgHost({ name: "nas.lan", ignore: true })], hostsEntries: [hostsEntry("192.168.1.50", "nas")] }), NONE);
    expect(hosts).toEqual([]);
  });
});

describe("planInit: static hosts", () => {
  test("a config host without MAC is keyed host:<name>, with its addresses", () => {
    const hosts = planInit(know({ configHosts: [cfgHost({ name: "NAS box", addresses: ["fd00::50", "192.168.1.50"] })] }), NONE);
    expect(hosts).toEqual([{ key: "host:NAS-box", name: "NAS-box", addresses: ["192.168.1.50", "fd00::50"] }]);
  });

  test("a config host with MAC and addresses owns them even without a lease", () => {
    const hosts = planInit(know({ configHosts: [cfgHost({ mac: M1, name: "server", addresses: ["192.168.1.5"] })] }), NONE);
    expect(hosts).toEqual([{ key: M1, name: "server", addresses: ["192.168.1.5"] }]);
  });

  test("a config host's address wins over a lease of another MAC for it", () => {
    const hosts = planInit(know({ configHosts: [cfgHost({ mac: M1, name: "server", addresses: ["192.168.1.5"] })], leases: [lease(M2, "192.168.1.5", "intruder")] }), NONE);
    expect(hosts).toEqual([{ key: M1, name: "server", addresses: ["192.168.1.5"] }]);
  });

  test("a UCI static lease gives its address and name to the MAC", () => {
    const hosts = planInit(know({ staticLeases: [staticLease([M3], "camera", "192.168.1.13")] }), NONE);
    expect(hosts).toEqual([{ key: M3, name: "camera", addresses: ["192.168.1.13"] }]);
  });

  test("a hosts-file address that a lease also has belongs to the lease's MAC", () => {
    const hosts = planInit(know({ leases: [lease(M1, "192.168.1.104", null)], hostsEntries: [hostsEntry("192.168.1.104", "desk.lan")] }), NONE);
    expect(hosts).toEqual([{ key: M1, name: "desk", addresses: ["192.168.1.104"] }]);
  });
});

describe("planInit: DHCPv6", () => {
  const LLT = "00:01:00:01:2c:00:00:00:02:00:00:00:00:21"; // DUID-LLT, Ethernet, MAC 02:00:00:00:00:21
  const LL = "00:03:00:01:02:00:00:00:00:22"; // DUID-LL, Ethernet, MAC 02:00:00:00:00:22
  const EN = "00:02:00:00:ab:11:01:02:03:04"; // DUID-EN: no MAC inside

  test("keyForDuid finds the MAC in DUID-LLT and DUID-LL of Ethernet clients", () => {
    expect(keyForDuid(LLT)).toBe("02:00:00:00:00:21");
    expect(keyForDuid(LL)).toBe("02:00:00:00:00:22");
  });

  test("keyForDuid gives a duid: key otherwise", () => {
    expect(keyForDuid(EN)).toBe("duid:00020000ab1101020304");
    // hardware type 6 (IEEE 802) is not Ethernet
    expect(keyForDuid("00:01:00:06:2c:00:00:00:02:00:00:00:00:21")).toBe("duid:000100062c000000020000000021");
    // the wrong length for its type
    expect(keyForDuid("00:03:00:01:02:00:00:00:00")).toBe("duid:000300010200000000");
    // a broadcast MAC inside is no MAC
    expect(keyForDuid("00:03:00:01:ff:ff:ff:ff:ff:ff")).toBe("duid:00030001ffffffffffff");
  });

  test("keyForDuid keeps the key bounded", () => {
    const long = Array(130).fill("ab").join(":");
    expect(keyForDuid(long)).toBe(`duid:${"ab".repeat(50)}`);
  });

  test("a DHCPv6 lease joins the MAC that the neighbour table shows using its address", () => {
    const hosts = planInit(know({ leases: [lease(M2, "192.168.1.12", "phone"), lease(null, "fd00::20", "phone", { duid: EN })], neighbours: [neigh(M2, "fd00::20")] }), NONE);
    expect(hosts).toEqual([{ key: M2, name: "phone", addresses: ["192.168.1.12", "fd00::20"] }]);
  });

  test("a DHCPv6 lease joins the MAC inside its DUID-LLT or DUID-LL", () => {
    const hosts = planInit(
      know({
        leases: [lease("02:00:00:00:00:21", "192.168.1.21", "phone"), lease(null, "fd00::21", null, { duid: LLT }), lease(null, "fd00::22", "tablet", { duid: LL })],
      }),
      NONE,
    );
    expect(hosts).toEqual([
      { key: "02:00:00:00:00:21", name: "phone", addresses: ["192.168.1.21", "fd00::21"] },
      { key: "02:00:00:00:00:22", name: "tablet", addresses: ["fd00::22"] },
    ]);
  });

  test("a DHCPv6 client with no MAC known is keyed by its DUID", () => {
    const hosts = planInit(know({ leases: [lease(null, "fd00::20", "v6only", { duid: EN })] }), NONE);
    expect(hosts).toEqual([{ key: "duid:00020000ab1101020304", name: "v6only", addresses: ["fd00::20"] }]);
  });
});

describe("planEvent", () => {
  const base = applied([
    { key: M1, name: "laptop", addresses: ["192.168.1.11", "fd00::11"] },
    { key: M2, name: "phone", addresses: ["192.168.1.12"] },
  ]);
  const ev = (e: Partial<HostEvent> & Pick<HostEvent, "key" | "address">): HostEvent => ({ action: "add", source: "dhcp", ...e });
  const LAPTOP = { key: M1, name: "laptop", addresses: ["192.168.1.11", "fd00::11"] };
  const PHONE = { key: M2, name: "phone", addresses: ["192.168.1.12"] };

  test("add: a new host joins, the others are untouched", () => {
    expect(planEvent(base, ev({ key: M3, address: "192.168.1.13", hostname: "tv" }), know())).toEqual([LAPTOP, PHONE, { key: M3, name: "tv", addresses: ["192.168.1.13"] }]);
  });

  test("add: a hostile hostname is sanitised", () => {
    const hosts = planEvent(base, ev({ key: M3, address: "192.168.1.13", hostname: 'tv";rm -rf /*' }), know());
    expect(byKey(hosts, M3)?.name).toBe("tv-rm--rf");
  });

  test("add: a new host without a name is named by its address", () => {
    expect(byKey(planEvent(base, ev({ key: M3, address: "192.168.1.13", hostname: null }), know()), M3)).toEqual({ key: M3, name: "192.168.1.13", addresses: ["192.168.1.13"] });
  });

  test("add: a name already taken (in any case) gets a suffix", () => {
    expect(byKey(planEvent(base, ev({ key: M3, address: "192.168.1.13", hostname: "Laptop" }), know()), M3)?.name).toBe("Laptop-2");
  });

  test("add: picks up the LAN addresses the neighbour table knows for the MAC", () => {
    const k = know({ neighbours: [neigh(M3, "fd00::13"), neigh(M3, "fd00::1:13"), neigh(M3, "fe80::13"), neigh(M4, "fd00::14")] });
    expect(byKey(planEvent(base, ev({ key: M3, address: "192.168.1.13", hostname: "tv" }), k), M3)).toEqual({
      key: M3,
      name: "tv",
      addresses: ["192.168.1.13", "fd00::13", "fd00::1:13"],
    });
  });

  test("add: a DHCP hostname renames the host", () => {
    expect(planEvent(base, ev({ key: M2, address: "192.168.1.12", hostname: "newphone" }), know())).toEqual([LAPTOP, { ...PHONE, name: "newphone" }]);
  });

  test("add: a neighbour event never renames an existing host", () => {
    const k = know({ leases: [lease(M2, "192.168.1.12", "other-name")] });
    expect(planEvent(base, ev({ source: "neigh", key: M2, address: "fd00::12" }), k)).toEqual([LAPTOP, { ...PHONE, addresses: ["192.168.1.12", "fd00::12"] }]);
  });

  test("add: a neighbour event for a new MAC takes the name of its lease", () => {
    const k = know({ leases: [lease(M3, "192.168.1.13", "tv")] });
    expect(byKey(planEvent(base, ev({ source: "neigh", key: M3, address: "fd00::13" }), k), M3)).toEqual({ key: M3, name: "tv", addresses: ["fd00::13"] });
  });

  test("add: an address moving to another MAC leaves its old host, which goes when empty", () => {
    expect(planEvent(base, ev({ key: M1, address: "192.168.1.12", hostname: "laptop" }), know())).toEqual([
      { key: M1, name: "laptop", addresses: ["192.168.1.11", "192.168.1.12", "fd00::11"] },
    ]);
  });

  test("add: an old host that keeps other addresses stays", () => {
    expect(planEvent(base, ev({ key: M2, address: "fd00::11", hostname: "phone" }), know())).toEqual([
      { key: M1, name: "laptop", addresses: ["192.168.1.11"] },
      { key: M2, name: "phone", addresses: ["192.168.1.12", "fd00::11"] },
    ]);
  });

  test("add: a renewal with the same name changes nothing, so nothing is applied", () => {
    const desired = planEvent(base, ev({ key: M2, address: "192.168.1.12", hostname: "phone" }), know());
    expect(desired).toEqual([LAPTOP, PHONE]);
    const p = plan(base, ev({ key: M2, address: "192.168.1.12", hostname: "phone" }), know());
    expect(p.kind === "change" && p.hosts.every((h) => h.counters === "keep")).toBe(true);
    expect(nftChangeIsEmpty(planNft({ ...base, strays: [], parts: new Map() }, p.kind === "change" ? p.hosts : [], { rebuild: false }))).toBe(true);
  });

  test("add: a lost name (null) falls back to the UCI static lease name", () => {
    const k = know({ staticLeases: [staticLease([M2], "uci-phone")] });
    expect(byKey(planEvent(base, ev({ key: M2, address: "192.168.1.12", hostname: null }), k), M2)?.name).toBe("uci-phone");
  });

  test("add: a lost name (null) falls back to a hosts-file name of the address", () => {
    const k = know({ hostsEntries: [hostsEntry("192.168.1.12", "phone-static.lan")] });
    expect(byKey(planEvent(base, ev({ key: M2, address: "192.168.1.12", hostname: null }), k), M2)?.name).toBe("phone-static");
  });

  test("add: an event that does not say the name (undefined) keeps the host's name", () => {
    const k = know({ leases: [lease(M2, "192.168.1.12", "lease-name")] });
    expect(planEvent(base, ev({ key: M2, address: "192.168.1.12" }), k)).toEqual([LAPTOP, PHONE]);
  });

  test("add: a static address configured for the MAC is not taken from another host holding it", () => {
    const k = know({ configHosts: [cfgHost({ mac: M3, addresses: ["192.168.1.11"] })] });
    const hosts = planEvent(base, ev({ key: M3, address: "192.168.1.13", hostname: "tv" }), k);
    expect(byKey(hosts, M1)).toEqual(LAPTOP);
    expect(byKey(hosts, M3)?.addresses).toEqual(["192.168.1.13"]);
  });

  test("del: of one address keeps the host", () => {
    expect(planEvent(base, ev({ action: "del", source: "neigh", key: M1, address: "fd00::11" }), know())).toEqual([{ ...LAPTOP, addresses: ["192.168.1.11"] }, PHONE]);
  });

  test("del: of the last address removes the host", () => {
    expect(planEvent(base, ev({ action: "del", key: M2, address: "192.168.1.12" }), know())).toEqual([LAPTOP]);
  });

  test("del: of an address the host does not have, or another MAC's, is nothing (null)", () => {
    expect(planEvent(base, ev({ action: "del", key: M2, address: "192.168.1.99" }), know())).toBeNull();
    expect(planEvent(base, ev({ action: "del", key: M3, address: "192.168.1.12" }), know())).toBeNull();
    expect(planEvent(base, ev({ action: "del", key: M2, address: "192.168.1.11" }), know())).toBeNull();
  });

  test("del: keeps a statically configured address (iptmon config or UCI static lease)", () => {
    expect(planEvent(base, ev({ action: "del", key: M2, address: "192.168.1.12" }), know({ configHosts: [cfgHost({ mac: M2, addresses: ["192.168.1.12"] })] }))).toBeNull();
    expect(planEvent(base, ev({ action: "del", key: M2, address: "192.168.1.12" }), know({ staticLeases: [staticLease([M2], "phone", "192.168.1.12")] }))).toBeNull();
  });

  test("an event for an ignored MAC removes its existing host", () => {
    const k = know({ configHosts: [cfgHost({ mac: M2, ignore: true })] });
    expect(planEvent(base, ev({ key: M2, address: "192.168.1.12", hostname: "phone" }), k)).toEqual([LAPTOP]);
    expect(planEvent(base, ev({ action: "del", key: M2, address: "192.168.1.12" }), k)).toEqual([LAPTOP]);
  });

  test("an event for an ignored MAC with no host is nothing (null)", () => {
    const k = know({ configHosts: [cfgHost({ mac: M3, ignore: true })] });
    expect(planEvent(base, ev({ key: M3, address: "192.168.1.13", hostname: "tv" }), k)).toBeNull();
  });

  test.each([
    ["198.51.100.1", "WAN"],
    ["fe80::12", "link-local"],
    ["169.254.1.1", "link-local v4"],
    ["192.168.1.1", "the router"],
    ["fd00::1", "the router (v6)"],
    ["192.168.1.255", "broadcast"],
    ["ff02::1", "all-nodes"],
    ["127.0.0.1", "loopback"],
  ])("an event for %s (%s) is nothing (null)", (address) => {
    expect(planEvent(base, ev({ source: "neigh", key: M2, address }), know())).toBeNull();
    expect(planEvent(base, ev({ key: M3, address, hostname: "x" }), know())).toBeNull();
  });

  test("an IPv6 event with IPv6 off is nothing (null)", () => {
    expect(planEvent(base, ev({ source: "neigh", key: M2, address: "fd00::12" }), know({ ipv6: false }))).toBeNull();
  });

  test("a DHCPv6 event (no MAC, a DUID) finds the MAC inside a DUID-LLT", () => {
    const hosts = planEvent(base, ev({ key: null, duid: "00:01:00:01:2c:00:00:00:02:00:00:00:00:02", address: "fd00::12", hostname: "phone" }), know());
    expect(byKey(hosts, M2)?.addresses).toEqual(["192.168.1.12", "fd00::12"]);
    expect(hosts).toHaveLength(2);
  });

  test("a DHCPv6 event finds the MAC in the neighbour table", () => {
    const k = know({ neighbours: [neigh(M2, "fd00::12")] });
    const hosts = planEvent(base, ev({ key: null, duid: "00:02:00:00:ab:11:01:02:03:04", address: "fd00::12", hostname: "phone" }), k);
    expect(byKey(hosts, M2)?.addresses).toEqual(["192.168.1.12", "fd00::12"]);
  });

  test("a DHCPv6 event with no MAC to be found keys the host by DUID", () => {
    const hosts = planEvent(base, ev({ key: null, duid: "00:02:00:00:ab:11:01:02:03:04", address: "fd00::19", hostname: "vv" }), know());
    expect(byKey(hosts, "duid:00020000ab1101020304")).toEqual({ key: "duid:00020000ab1101020304", name: "vv", addresses: ["fd00::19"] });
  });

  test("a duplicate keeps its suffix when its base is unchanged", () => {
    const cur = applied([
      { key: M1, name: "android", addresses: ["192.168.1.11"] },
      { key: M2, name: "android-2", addresses: ["192.168.1.12"] },
    ]);
    expect(names(planEvent(cur, ev({ key: M2, address: "192.168.1.12", hostname: "android" }), know()))).toEqual({ [M1]: "android", [M2]: "android-2" });
  });

  test("the event's address is taken in canonical form", () => {
    const hosts = planEvent(base, ev({ source: "neigh", key: M2, address: "FD00:0:0:0:0:0:0:0012" }), know());
    expect(byKey(hosts, M2)?.addresses).toEqual(["192.168.1.12", "fd00::12"]);
  });
});

test("a lease that lost its name (hostname null) drops it; a nameless replay (undefined) keeps it", () => {
  const lan = { subnets: [parseSubnet("192.168.1.0/24")!], own: new Set<string>(), ipv6: true, warnings: [] };
  const k: Knowledge = { configHosts: [], staticLeases: [], hostsEntries: [], leases: [], neighbours: [], domain: null, lan };
  const current: FullState = { read: "full", complete: true, hosts: [{ key: "02:00:00:00:00:02", name: "phone", addresses: ["192.168.1.12"], rx: { packets: 1, bytes: 1 }, tx: { packets: 1, bytes: 1 } }] };
  const ev = (hostname: string | null | undefined): HostEvent => ({ action: "add", source: "dhcp", key: "02:00:00:00:00:02", address: "192.168.1.12", hostname });
  expect(planEvent(current, ev(null), k)?.[0]?.name).toBe("192.168.1.12");
  expect(planEvent(current, ev(undefined), k)?.[0]?.name).toBe("phone");
});

describe("planEvent: neighbours against leases", () => {
  const PHONE: Host = { key: M2, name: "phone", addresses: ["192.168.1.12"] };
  test("a neighbour that goes (a phone asleep) does not remove an address its lease still holds", () => {
    const k = know({ leases: [lease(M2, "192.168.1.12", "phone")] });
    expect(planEvent(applied([PHONE]), { action: "del", source: "neigh", key: M2, address: "192.168.1.12" }, k)).toBeNull();
    // the lease's own `del` does
    expect(planEvent(applied([PHONE]), { action: "del", source: "dhcp", key: M2, address: "192.168.1.12" }, k)).toEqual([]);
  });
  test("a stale IPv4 neighbour entry of a MAC never takes an address another host has", () => {
    const k = know({ neighbours: [neigh(M1, "192.168.1.12"), neigh(M1, "fd00::11")] });
    const laptop: Host = { key: M1, name: "laptop", addresses: ["192.168.1.11"] };
    const hosts = planEvent(applied([laptop, PHONE]), { action: "add", source: "dhcp", key: M1, address: "192.168.1.11", hostname: "laptop" }, k);
    expect(byKey(hosts, M2)?.addresses).toEqual(["192.168.1.12"]);
    expect(byKey(hosts, M1)?.addresses).toEqual(["192.168.1.11", "fd00::11"]);
  });
  test("init keys a DHCPv6 lease by the host that holds its address now, so init and events agree", () => {
    const tablet: Host = { key: M3, name: "tablet", addresses: ["fd00::33"] };
    const hosts = planInit(know({ leases: [lease(null, "fd00::33", "tablet", { duid: "00:04:aa:bb:cc:dd:ee:ff:00:11:22:33:44:55:66:77:88:99" })] }), applied([tablet]).hosts);
    expect(hosts).toEqual([tablet]);
  });
});

describe("planEvent: what it needs and why it does nothing", () => {
  const laptop: Host = { key: M1, name: "laptop", addresses: ["192.168.1.11"] };
  const nas = { key: null, name: "nas", addresses: ["192.168.1.50"] };
  const layout = { read: "layout" as const, hosts: [laptop, nas] };
  const dhcp = (key: string | null, address: string, hostname?: string | null, duid?: string): HostEvent => ({ action: "add", source: "dhcp", key, address, hostname, duid });

  test("against the maps only: a new MAC host is planned, the keyless host kept as it is", () => {
    const p = planEventIn(layout, dhcp(M2, "192.168.1.12", "phone"), M2, know());
    expect(p).toEqual({
      kind: "change",
      hosts: [
        { key: M1, name: "laptop", addresses: ["192.168.1.11"], counters: "keep" },
        { key: null, name: "nas", addresses: ["192.168.1.50"], counters: "keep" },
        { key: M2, name: "phone", addresses: ["192.168.1.12"], counters: { rx: { packets: 0, bytes: 0 }, tx: { packets: 0, bytes: 0 } } },
      ],
    });
  });

  test("against the maps only: taking the keyless host's address needs no key, it only loses the address", () => {
    const p = planEventIn(layout, dhcp(M2, "192.168.1.50", "phone"), M2, know());
    expect(p.kind === "change" && p.hosts.map((h) => h.name)).toEqual(["laptop", "phone"]);
  });

  test("against the maps only: a rename asks for the counters", () => {
    expect(planEventIn(layout, dhcp(M1, "192.168.1.11", "workstation"), M1, know())).toEqual({ kind: "need-full", why: "a renamed host carries its counters over" });
  });

  test("against the maps only: a host with no MAC may be the keyless one, so it asks for the full read", () => {
    const duid = "00:02:00:00:ab:11:01:02:03:04";
    const key = resolveEventKey(dhcp(null, "fd00::19", "vv", duid), know())!;
    expect(planEventIn(layout, dhcp(null, "fd00::19", "vv", duid), key, know()).kind).toBe("need-full");
  });

  test("against the full read: a rename carries the numbers over", () => {
    const cur = applied([laptop]);
    const p = planEventIn(cur, dhcp(M1, "192.168.1.11", "workstation"), M1, know());
    expect(p).toEqual({ kind: "change", hosts: [{ key: M1, name: "workstation", addresses: ["192.168.1.11"], counters: { rx: cur.hosts[0]!.rx, tx: cur.hosts[0]!.tx } }] });
  });

  test("every ignored event says why", () => {
    const cur = applied([laptop]);
    const why = (e: HostEvent, k = know()) => {
      const p = planEventIn(cur, e, resolveEventKey(e, k)!, k);
      return p.kind === "ignore" ? p.reason : p.kind;
    };
    expect(why(dhcp(M2, "198.51.100.7", "x"))).toBe("198.51.100.7 is outside the LAN subnets");
    expect(why(dhcp(M2, "192.168.1.1", "x"))).toBe("192.168.1.1 is the router's own address");
    expect(why(dhcp(M2, "192.168.1.12", "x"), know({ configHosts: [cfgHost({ mac: M2, ignore: true })] }))).toBe(`${M2} is ignored by config (option ignore)`);
    expect(why({ action: "del", source: "dhcp", key: M2, address: "192.168.1.12" })).toBe(`192.168.1.12 is not tracked for ${M2}`);
    expect(why({ action: "del", source: "dhcp", key: M1, address: "192.168.1.11" }, know({ configHosts: [cfgHost({ mac: M1, addresses: ["192.168.1.11"] })] }))).toBe(
      `192.168.1.11 is a static address of ${M1} in config`,
    );
    expect(why({ action: "del", source: "neigh", key: M1, address: "192.168.1.11" }, know({ leases: [lease(M1, "192.168.1.11", "laptop")] }))).toBe(`192.168.1.11 is still leased to ${M1}`);
  });
});

describe("planCounters", () => {
  const laptop: Host = { key: M1, name: "laptop", addresses: ["192.168.1.11"] };
  test("kept under the same name, carried over on a rename, zero for a newcomer", () => {
    const cur = applied([laptop]);
    expect(planCounters(cur, [laptop, { key: M2, name: "phone", addresses: ["192.168.1.12"] }])).toEqual([
      { ...laptop, counters: "keep" },
      { key: M2, name: "phone", addresses: ["192.168.1.12"], counters: { rx: { packets: 0, bytes: 0 }, tx: { packets: 0, bytes: 0 } } },
    ]);
    expect(planCounters(cur, [{ ...laptop, name: "workstation" }])).toEqual([{ ...laptop, name: "workstation", counters: { rx: cur.hosts[0]!.rx, tx: cur.hosts[0]!.tx } }]);
  });
  test("a rename with no counters read is null: the caller reads them", () => {
    expect(planCounters({ read: "layout", hosts: [laptop] }, [{ ...laptop, name: "workstation" }])).toBeNull();
  });
});

describe("planCounters: floors (a snapshot, another placement's counts)", () => {
  const laptop: Host = { key: M1, name: "laptop", addresses: ["192.168.1.11"] };
  const c = (bytes: number, packets = bytes / 100) => ({ packets, bytes });
  const floor = (rx: number, tx: number) => new Map([[M1, { rx: c(rx), tx: c(tx) }]]);
  const state = (rx: number, tx: number): FullState => ({ read: "full", complete: true, hosts: [{ ...laptop, rx: c(rx), tx: c(tx) }] });

  test("a new host starts from its floor", () => {
    expect(planCounters({ read: "absent" }, [laptop], floor(500, 700))).toEqual([{ ...laptop, counters: { rx: c(500), tx: c(700) } }]);
  });
  test("counters at or above the floor are kept", () => {
    expect(planCounters(state(500, 900), [laptop], floor(500, 700))).toEqual([{ ...laptop, counters: "keep" }]);
  });
  test("a counter below its floor (a flush recreated it) is created anew from the higher of the two, per direction", () => {
    expect(planCounters(state(100, 900), [laptop], floor(500, 700))).toEqual([{ ...laptop, counters: { rx: c(500), tx: c(900) } }]);
  });
  test("a rename carries the higher of counters and floor", () => {
    expect(planCounters(state(100, 900), [{ ...laptop, name: "notebook" }], floor(500, 700))).toEqual([{ ...laptop, name: "notebook", counters: { rx: c(500), tx: c(900) } }]);
  });
  test("without counters read (maps only) a kept host is not compared with its floor", () => {
    expect(planCounters({ read: "layout", hosts: [laptop] }, [laptop], floor(500, 700))).toEqual([{ ...laptop, counters: "keep" }]);
  });
});
