import { describe, expect, test } from "bun:test";
import type { RunResult } from "../../src/sys.ts";
import { COMMANDS, main, optionParser } from "../../src/main.ts";
import { fastArgs, optionWords, parseSyntax, type Args, type Command } from "../../src/commands/command.ts";
import { dnsmasqCommands } from "../../src/commands/dnsmasq.ts";
import { hotplugCommand } from "../../src/commands/hotplug.ts";
import { fakeSys, ok, type FakeSys } from "../helpers/fakesys.ts";

const NFT_CONFIG = "config iptmon 'global'\n\toption backend 'nftables'\n";
const IP_ADDR = "4: br-lan: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500\n    inet 192.168.1.1/24 brd 192.168.1.255 scope global br-lan\n    inet6 fd00::1/64 scope global\n";
const NO_TABLE: RunResult = { code: 1, stdout: "", stderr: "Error: No such file or directory\nlist table inet iptmon\n" };
const METAINFO = { metainfo: { version: "1.0.6", release_name: "Lester Gooch #5", json_schema_version: 1 } };
/** iptmon's table as `nft -j list table` prints it right after an init with no hosts. */
const EMPTY_TABLE = JSON.stringify({
  nftables: [
    METAINFO,
    { table: { family: "inet", name: "iptmon", handle: 1 } },
    ...[["rx4", "ipv4_addr"], ["tx4", "ipv4_addr"], ["rx6", "ipv6_addr"], ["tx6", "ipv6_addr"], ["keys", "ether_addr"], ["names", ["ipv6_addr", "ipv6_addr", "ipv6_addr", "ipv6_addr"]]].map(([name, type], i) => ({
      map: { family: "inet", name, table: "iptmon", type, handle: i + 2, map: "counter" },
    })),
    { chain: { family: "inet", table: "iptmon", name: "forward", handle: 7, type: "filter", hook: "forward", prio: -1, policy: "accept" } },
  ],
});

type Answer = RunResult | ((input?: string) => RunResult);
/**
 * `nft -j list maps inet` prints the same map objects as `list table` does (no
 * table: none), so the fake derives its answer from the `list table` one.
 */
function mapsFrom(listTable: Answer): Answer {
  return () => {
    const r = typeof listTable === "function" ? listTable() : listTable;
    if (r.code !== 0) return ok(JSON.stringify({ nftables: [METAINFO] }));
    let doc: { nftables: Record<string, unknown>[] };
    try {
      doc = JSON.parse(r.stdout);
    } catch {
      return r; // garbled stays garbled
    }
    return ok(JSON.stringify({ nftables: doc.nftables.filter((o) => "metainfo" in o || "map" in o) }));
  };
}

/** A router with nft and ip, no iptmon table yet; `applied` collects what `nft -f -` got. */
function router(o: { config?: string; env?: Record<string, string>; commands?: Record<string, Answer> } = {}) {
  const applied: string[] = [];
  const listTable = o.commands?.["nft -j list table inet iptmon"] ?? NO_TABLE;
  const sys = fakeSys({
    files: { "/etc/config/iptmon": o.config ?? NFT_CONFIG },
    env: o.env ?? {},
    commands: {
      "ip addr show dev br-lan": ok(IP_ADDR),
      "ip neigh show": ok(""),
      "nft list tables": ok(),
      "nft -j list table inet iptmon": listTable,
      "nft -j list maps inet": mapsFrom(listTable),
      "nft -f -": (input) => {
        applied.push(input ?? "");
        return ok();
      },
      "nft -c -f -": ok(),
      ...o.commands,
    },
  });
  return { sys, applied };
}

const commandLines = (sys: FakeSys) => sys.calls.map((c) => [c.cmd, ...c.args].join(" "));
const nftApplies = (sys: FakeSys) => commandLines(sys).filter((c) => c === "nft -f -");
/** User-facing errors are one line (a hint after "; hint: "), as the README says; never a stack. */
function expectShortError(err: string) {
  expect(err).toEndWith("\n");
  const lines = err.trimEnd().split("\n");
  expect(lines[0]).toStartWith("iptmon: ");
  expect(lines).toHaveLength(1);
  expect(err).not.toMatch(/^\s+at /m);
}

describe("main: usage errors exit 2", () => {
  test("no command", async () => {
    const { sys } = router();
    expect(await main([], sys)).toBe(2);
    expect(sys.err).toContain("a command is required");
    expectShortError(sys.err);
    expect(sys.calls).toEqual([]);
  });

  test("an unknown command", async () => {
    const { sys } = router();
    expect(await main(["frobnicate"], sys)).toBe(2);
    expect(sys.err).toContain("frobnicate");
    expectShortError(sys.err);
    expect(sys.calls).toEqual([]);
  });

  test("an unknown option", async () => {
    const { sys } = router();
    expect(await main(["status", "--colour"], sys)).toBe(2);
    expectShortError(sys.err);
  });

  test("`add` with a bad MAC: exit 2, nothing applied", async () => {
    const { sys, applied } = router();
    expect(await main(["add", "zz:zz:zz:zz:zz:zz", "192.168.1.5", "laptop"], sys)).toBe(2);
    expect(sys.err).toContain("not a MAC address");
    expectShortError(sys.err);
    expect(nftApplies(sys)).toEqual([]);
    expect(applied).toEqual([]);
  });

  test("`add` with a bad IP: exit 2, nothing applied", async () => {
    const { sys } = router();
    expect(await main(["add", "02:00:00:00:00:05", "192.168.1.500"], sys)).toBe(2);
    expect(sys.err).toContain("not an IP address");
    expect(nftApplies(sys)).toEqual([]);
  });

  test("`add` with too few arguments", async () => {
    const { sys } = router();
    expect(await main(["add", "02:00:00:00:00:05"], sys)).toBe(2);
    expectShortError(sys.err);
    expect(nftApplies(sys)).toEqual([]);
  });

  test("hotplug with no ACTION in the environment", async () => {
    const { sys } = router({ env: { MACADDR: "02:00:00:00:00:05", IPADDR: "192.168.1.5" } });
    expect(await main(["hotplug", "dhcp"], sys)).toBe(2);
    expect(sys.err).toContain("unknown ACTION");
    expect(nftApplies(sys)).toEqual([]);
  });

  test("hotplug of an unknown subsystem", async () => {
    const { sys } = router();
    expect(await main(["hotplug", "wifi"], sys)).toBe(2);
    expect(sys.err).toStartWith("iptmon: ");
    expect(sys.err).toContain("wifi");
    expect(sys.err).not.toMatch(/^\s+at /m);
    expect(sys.calls).toEqual([]);
  });

  test("`--config` naming a missing file", async () => {
    const { sys } = router();
    expect(await main(["status", "--config", "/missing"], sys)).toBe(2);
    expect(sys.err).toContain("/missing");
    expectShortError(sys.err);
    expect(sys.calls).toEqual([]);
  });

  test("IPTMON_CONFIG naming a missing file", async () => {
    const { sys } = router({ env: { IPTMON_CONFIG: "/missing/iptmon" } });
    expect(await main(["init"], sys)).toBe(2);
    expect(sys.err).toContain("/missing/iptmon");
    expect(nftApplies(sys)).toEqual([]);
  });

  test("a bad config value: exit 2 naming file and line, nothing applied", async () => {
    const { sys } = router({ config: "config iptmon\n\toption backend 'nftables'\n\toption ipv6 'maybe'\n" });
    expect(await main(["init"], sys)).toBe(2);
    expect(sys.err).toContain("/etc/config/iptmon:3");
    expect(nftApplies(sys)).toEqual([]);
  });
});

describe("main: backends", () => {
  test("`--backend iptables` fails with a short message, not a crash", async () => {
    // The iptables backend may or may not exist in this build; either way this
    // fake has no iptables, so it must fail cleanly.
    const { sys } = router();
    const code = await main(["init", "--backend", "iptables"], sys);
    expect(code).not.toBe(0);
    expect(sys.err).toMatch(/iptables/);
    expect(sys.err).not.toContain("internal error");
    expectShortError(sys.err);
    expect(nftApplies(sys)).toEqual([]);
  });

  test("nft missing (backend nftables): exit 1, `not found` and a hint", async () => {
    const { sys } = router({ commands: {} });
    for (const k of [...sys.commands.keys()]) if (k.startsWith("nft ")) sys.commands.delete(k);
    expect(await main(["init"], sys)).toBe(1);
    expect(sys.err).toContain("nft not found");
    expect(sys.err).toContain("hint: ");
    expectShortError(sys.err);
  });

  test("nft missing (backend auto): exit 1 with a short message", async () => {
    const { sys } = router({ config: "" });
    for (const k of [...sys.commands.keys()]) if (k.startsWith("nft ")) sys.commands.delete(k);
    expect(await main(["init"], sys)).toBe(1);
    expect(sys.err).toContain("nft");
    expectShortError(sys.err);
  });

  test("`--backend nftables` overrides the config", async () => {
    const { sys } = router({ config: "config iptmon\n\toption backend 'iptables'\n" });
    expect(await main(["status", "--json", "--backend", "nftables"], sys)).toBe(0);
    expect(JSON.parse(sys.out)).toMatchObject({ backend: "nftables", hook: "forward", count: 0, hosts: [] });
  });
});

describe("main: internal errors", () => {
  const garbled = () => router({ commands: { "nft -j list table inet iptmon": ok("{this is not json") } });

  test("show one line and no stack without --verbose; exit 1", async () => {
    const { sys } = garbled();
    expect(await main(["init"], sys)).toBe(1);
    expect(sys.err).toStartWith("iptmon: internal error: ");
    expect(sys.err).toContain("hint: run again with --verbose");
    expectShortError(sys.err);
    expect(nftApplies(sys)).toEqual([]);
  });

  test("show the stack with --verbose", async () => {
    const { sys } = garbled();
    expect(await main(["init", "--verbose"], sys)).toBe(1);
    expect(sys.err).toStartWith("iptmon: internal error: ");
    expect(sys.err).toMatch(/^\s+at /m);
  });
});

describe("main: commands that work", () => {
  test("`tftp 1 2 3` (dnsmasq after a transfer): exit 0, touches nothing", async () => {
    const { sys } = router();
    expect(await main(["tftp", "1", "2", "3"], sys)).toBe(0);
    expect(sys.calls).toEqual([]);
    expect(sys.err).toBe("");
  });

  test("`add` applies one transaction for the new host", async () => {
    const { sys, applied } = router();
    expect(await main(["add", "02:00:00:00:00:05", "192.168.1.5", "laptop"], sys)).toBe(0);
    expect(applied).toHaveLength(1);
    // the table was missing, so the event rebuilt it
    expect(applied[0]).toStartWith("table inet iptmon {\n");
    expect(applied[0]).toContain('add counter inet iptmon rx_laptop { packets 0 bytes 0; comment "iptmon: 02:00:00:00:00:05"; }');
    expect(applied[0]).toContain('add element inet iptmon rx4 { 192.168.1.5 : "rx_laptop" }');
    expect(sys.err).toBe("");
  });

  test("a numeric hostname stays a string (`0123`, not 123)", async () => {
    const { sys, applied } = router();
    expect(await main(["add", "02:00:00:00:00:05", "192.168.1.5", "0123"], sys)).toBe(0);
    expect(applied[0]).toContain("rx_0123 ");
  });

  test("a hostile hostname from dnsmasq never reaches nft raw", async () => {
    const { sys, applied } = router({ env: { DNSMASQ_SUPPLIED_HOSTNAME: 'x"; flush ruleset; $(reboot) *' } });
    expect(await main(["add", "02:00:00:00:00:05", "192.168.1.5"], sys)).toBe(0);
    expect(applied[0]).toContain("rx_x-flush-ruleset-reboot ");
    expect(applied[0]).not.toContain("flush ruleset");
  });

  test("an event for a non-LAN address applies nothing; the reason only with --verbose", async () => {
    const table = { commands: { "nft -j list table inet iptmon": ok(EMPTY_TABLE) } };
    const quiet = router(table);
    expect(await main(["arp-add", "02:00:00:00:00:09", "198.51.100.1"], quiet.sys)).toBe(0);
    expect(nftApplies(quiet.sys)).toEqual([]);
    expect(quiet.sys.err).toBe("");
    const loud = router(table);
    expect(await main(["--verbose", "arp-add", "02:00:00:00:00:09", "198.51.100.1"], loud.sys)).toBe(0);
    expect(nftApplies(loud.sys)).toEqual([]);
    expect(loud.sys.err).toContain("198.51.100.1 is outside the LAN subnets");
    // maps without elements (an empty table) are confirmed by the full read
    expect(commandLines(loud.sys).filter((c) => c.startsWith("nft -j"))).toEqual(["nft -j list maps inet", "nft -j list table inet iptmon"]);
  });

  test("an event on a table of an older iptmon (no keys map) reads it whole and re-declares it", async () => {
    const old = JSON.parse(EMPTY_TABLE) as { nftables: { map?: { name: string } }[] };
    const noKeys = JSON.stringify({ nftables: old.nftables.filter((o) => o.map?.name !== "keys") });
    const { sys, applied } = router({ commands: { "nft -j list table inet iptmon": ok(noKeys) } });
    expect(await main(["add", "02:00:00:00:00:05", "192.168.1.5", "tv"], sys)).toBe(0);
    expect(commandLines(sys).filter((c) => c.startsWith("nft -j"))).toEqual(["nft -j list maps inet", "nft -j list table inet iptmon"]);
    expect(applied).toHaveLength(1);
    expect(applied[0]).toStartWith("table inet iptmon {\n");
    expect(applied[0]).toContain("\tmap keys { type ether_addr : counter; }\n");
    expect(applied[0]).toContain('add element inet iptmon keys { 02:00:00:00:00:05 : "rx_tv" }\n');
  });

  test("any event while the table is missing (a firewall flush) rebuilds it", async () => {
    const { sys, applied } = router();
    expect(await main(["arp-add", "02:00:00:00:00:09", "198.51.100.1"], sys)).toBe(0);
    expect(applied).toHaveLength(1);
    expect(applied[0]).toStartWith("table inet iptmon {\n");
    expect(applied[0]).not.toContain("198.51.100.1");
  });

  test("hotplug dhcp add from the environment", async () => {
    const { sys, applied } = router({ env: { ACTION: "add", MACADDR: "02:00:00:00:00:05", IPADDR: "192.168.1.5", HOSTNAME: "tv" } });
    expect(await main(["hotplug", "dhcp"], sys)).toBe(0);
    expect(applied[0]).toContain('add element inet iptmon rx4 { 192.168.1.5 : "rx_tv" }');
  });

  describe("hotplug dhcp for a DHCPv6 lease, as both dialects of OpenWrt's dhcp-script pass it", () => {
    const LEASES = "/tmp/dhcp.leases";
    const config = `${NFT_CONFIG}\toption leasefile '${LEASES}'\n`;
    // A lease file with a DHCPv6 lease whose DUID is a DUID-LL of 02:00:00:00:00:08;
    // iptmon's table is there and empty, so an event adds its host only.
    const leases = "duid 00:01:00:01:2c:00:00:00:02:00:00:00:00:ff\n1900000000 1 fd00::8 tablet 00:03:00:01:02:00:00:00:00:08\n";
    const run = async (env: Record<string, string>, neigh = "") => {
      const r = router({ config, env, commands: { "ip neigh show": ok(neigh), "nft -j list table inet iptmon": ok(EMPTY_TABLE) } });
      r.sys.files.set(LEASES, leases);
      const code = await main(["hotplug", "dhcp", "--verbose"], r.sys);
      return { ...r, code };
    };

    test("the classic one: the DUID as MACADDR (a DUID-LLT with the client's MAC inside)", async () => {
      const { code, applied } = await run({ ACTION: "add", MACADDR: "00:01:00:01:2c:00:00:00:02:00:00:00:00:07", IPADDR: "fd00::7", HOSTNAME: "phone" });
      expect(code).toBe(0);
      expect(applied[0]).toMatch(/add element inet iptmon keys {[^}]*02:00:00:00:00:07 : "rx_phone"/);
    });

    test("the newer one: no MACADDR, DNSMASQ_IAID set; the lease file's DUID names the host", async () => {
      const { code, applied, sys } = await run({ ACTION: "add", IPADDR: "fd00::8", HOSTNAME: "tablet", DNSMASQ_IAID: "1", DNSMASQ_INTERFACE: "br-lan" });
      expect(sys.err).toBe("");
      expect(code).toBe(0);
      expect(applied[0]).toStartWith('add counter inet iptmon rx_tablet { packets 0 bytes 0; comment "iptmon: 02:00:00:00:00:08"; }\n');
      expect(applied[0]).toMatch(/add element inet iptmon rx6 {[^}]*fd00::8 : "rx_tablet"/);
      expect(applied[0]).toMatch(/add element inet iptmon keys {[^}]*02:00:00:00:00:08 : "rx_tablet"/);
    });

    test("the newer one: the neighbour table's MAC for the address first, DNSMASQ_MAC before both", async () => {
      const neigh = "fd00::9 dev br-lan lladdr 02:00:00:00:00:09 REACHABLE\n";
      const byNeigh = await run({ ACTION: "add", IPADDR: "fd00::9", HOSTNAME: "watch", DNSMASQ_IAID: "7" }, neigh);
      expect(byNeigh.applied[0]).toMatch(/add element inet iptmon keys {[^}]*02:00:00:00:00:09 : "rx_watch"/);
      const byEnv = await run({ ACTION: "add", IPADDR: "fd00::9", HOSTNAME: "watch", DNSMASQ_IAID: "7", DNSMASQ_MAC: "02:00:00:00:00:0a" }, neigh);
      expect(byEnv.applied[0]).toMatch(/add element inet iptmon keys {[^}]*02:00:00:00:00:0a : "rx_watch"/);
    });

    test("the newer one with nothing that names the client: exit 0, nothing applied, and why (with --verbose)", async () => {
      const { code, applied, sys } = await run({ ACTION: "add", IPADDR: "fd00::99", HOSTNAME: "ghost", DNSMASQ_IAID: "3" });
      expect(code).toBe(0);
      expect(applied).toEqual([]);
      expect(sys.err).toContain("no MAC or DUID is known for fd00::99");
    });

    test("an IPv4 address with DNSMASQ_IAID, or no MACADDR without it, is still refused (exit 2)", async () => {
      expect((await run({ ACTION: "add", IPADDR: "192.168.1.9", DNSMASQ_IAID: "1" })).code).toBe(2);
      expect((await run({ ACTION: "add", IPADDR: "fd00::9" })).code).toBe(2);
    });
  });

  test("`print` writes the script and applies nothing", async () => {
    const { sys } = router();
    expect(await main(["print"], sys)).toBe(0);
    expect(sys.out).toStartWith("table inet iptmon {\n");
    expect(nftApplies(sys)).toEqual([]);
  });

  test("`check` has nft check the script and applies nothing", async () => {
    const { sys } = router();
    expect(await main(["check"], sys)).toBe(0);
    expect(commandLines(sys)).toContain("nft -c -f -");
    expect(nftApplies(sys)).toEqual([]);
    expect(sys.out).toBe("ruleset ok\n");
  });

  test("`stop` removes iptmon's tables (both placements) and nothing else", async () => {
    const { sys, applied } = router();
    expect(await main(["stop"], sys)).toBe(0);
    expect(applied).toEqual(["add table inet iptmon\ndelete table inet iptmon\nadd table netdev iptmon\ndelete table netdev iptmon\n"]);
  });

  test("`status --json` reads the kernel once and prints the hosts", async () => {
    const table = {
      nftables: [
        { table: { family: "inet", name: "iptmon", handle: 1 } },
        { counter: { family: "inet", name: "rx_tv", table: "iptmon", handle: 2, comment: "iptmon: 02:00:00:00:00:05", packets: 3, bytes: 300 } },
        { counter: { family: "inet", name: "tx_tv", table: "iptmon", handle: 3, comment: "iptmon: 02:00:00:00:00:05", packets: 4, bytes: 400 } },
        { map: { family: "inet", name: "rx4", table: "iptmon", type: "ipv4_addr", handle: 4, map: "counter", elem: [["192.168.1.5", "rx_tv"]] } },
      ],
    };
    const { sys } = router({ commands: { "nft -j list table inet iptmon": ok(JSON.stringify(table)) } });
    expect(await main(["status", "--json"], sys)).toBe(0);
    const since = new Date(2027, 0, 1).getTime() / 1000;
    expect(JSON.parse(sys.out)).toEqual({
      backend: "nftables",
      hook: "forward",
      period: { name: "2027-01", start: since, end: new Date(2027, 1, 1).getTime() / 1000 },
      count: 1,
      totals: { rx_bytes: 300, rx_packets: 3, tx_bytes: 400, tx_packets: 4, usage: { rx_bytes: 0, tx_bytes: 0 } },
      hosts: [
        {
          name: "tv",
          mac: "02:00:00:00:00:05",
          key: "02:00:00:00:00:05",
          addresses: ["192.168.1.5"],
          rx_bytes: 300,
          rx_packets: 3,
          tx_bytes: 400,
          tx_packets: 4,
          // This first reading opens the month (by local time) it falls in (the fake clock: January 2027).
          usage: { since, rx_bytes: 0, tx_bytes: 0 },
        },
      ],
    });
    expect(commandLines(sys).filter((c) => c.startsWith("nft -j"))).toHaveLength(1);
    // The poll: the same reading, one host of one; nothing written.
    const before = new Map(sys.files);
    sys.out = "";
    expect(await main(["status", "--json", "--busiest"], sys)).toBe(0);
    expect(JSON.parse(sys.out)).toMatchObject({ count: 1, hosts: [{ name: "tv", usage: { since, rx_bytes: 0, tx_bytes: 0 } }] });
    expect(new Map(sys.files)).toEqual(before);
  });
});

describe("dnsmasq's event arguments are data, never options", () => {
  const MAC = "02:00:00:00:00:01";
  const IP = "192.168.1.5";
  const ALT = "config iptmon 'global'\n\toption backend 'nftables'\n\toption table 'alt'\n";
  const applies = (sys: FakeSys) => sys.calls.filter((c) => c.cmd === "nft" && c.args[0] === "-f").map((c) => c.input ?? "");
  const ran = (sys: FakeSys, prefix: string) => commandLines(sys).filter((c) => c.startsWith(prefix));
  /** A router with a second config, /etc/alt, whose table is `alt`. */
  const altRouter = (o: { env?: Record<string, string> } = {}) => {
    const r = router({ ...o, commands: { "nft -j list table inet alt": NO_TABLE } });
    r.sys.files.set("/etc/alt", ALT);
    return r;
  };

  test.each([
    ["--help", "help"],
    ["-v", "v"],
    ["--verbose", "verbose"],
    ["--backend=iptables", "backend-iptables"],
    ["--config=/x", "config-x"],
    ["--version", "version"],
    ["-h", "h"],
  ])("a hostname %p is a hostname (named %p), applied by the config's backend", async (hostname, name) => {
    const { sys, applied } = altRouter({ env: { IPTMON_CONFIG: "/etc/alt" } });
    expect(await main(["add", MAC, IP, hostname], sys)).toBe(0);
    expect(sys.out).toBe("");
    expect(sys.err).toBe("");
    expect(applied).toHaveLength(1);
    expect(applied[0]).toContain(`add element inet alt rx4 { ${IP} : "rx_${name}" }`);
    expect(ran(sys, "iptables")).toEqual([]);
  });

  test("the MAC and IP are data too: an option there is a bad MAC or address (exit 2, nothing changed)", async () => {
    for (const argv of [["add", "--backend=iptables", IP, "laptop"], ["add", MAC, "--config=/x"], ["del", "--help", "--help"]]) {
      const { sys } = router();
      expect(await main(argv, sys)).toBe(2);
      expectShortError(sys.err);
      expect(sys.out).toBe("");
      expect(applies(sys)).toEqual([]);
      expect(ran(sys, "iptables")).toEqual([]);
    }
  });

  test.each([
    [["add", MAC, IP, "laptop", "extra"], /cannot run add: 4 arguments after add, 2 to 3 expected; hint: usage: iptmon .* add MAC IP \[HOSTNAME\]/],
    [["add", MAC, IP, "laptop", "--verbose"], /cannot run add: 4 arguments after add/],
    [["arp-del", MAC], /cannot run arp-del: 1 argument after arp-del, 2 to 3 expected/],
    [["old"], /cannot run old: 0 arguments after old/],
    [["--frob", "add", MAC, IP], /cannot run add: unknown option "--frob" before add/],
    [["--backend=bogus", "add", MAC, IP], /cannot run add: --backend must be one of auto, nftables, iptables, not "bogus"/],
  ])("%p: a usage error, exit 2, nothing run", async (argv, message) => {
    const sys = fakeSys();
    expect(await main(argv as string[], sys)).toBe(2);
    expectShortError(sys.err);
    expect(sys.err).toMatch(message as RegExp);
    expect(sys.calls).toEqual([]);
  });

  test("global options before the action are options", async () => {
    const alt = altRouter();
    expect(await main(["--config", "/etc/alt", "add", MAC, IP, "laptop"], alt.sys)).toBe(0);
    expect(alt.applied[0]).toContain(`add element inet alt rx4 { ${IP} : "rx_laptop" }`);
    const eq = altRouter();
    expect(await main(["--config=/etc/alt", "-v", "--", "add", MAC, IP, "-v"], eq.sys)).toBe(0);
    expect(eq.applied[0]).toContain(`add element inet alt rx4 { ${IP} : "rx_v" }`);
    const ipt = router();
    expect(await main(["--backend", "iptables", "add", MAC, IP, "laptop"], ipt.sys)).toBe(1);
    expect(ran(ipt.sys, "iptables-legacy-save")).not.toEqual([]);
    expect(applies(ipt.sys)).toEqual([]);
  });

  test("--verbose before the action shows the event's warnings; a hostname -v does not", async () => {
    const table = { commands: { "nft -j list table inet iptmon": ok(EMPTY_TABLE) } };
    const quiet = router(table);
    expect(await main(["arp-add", MAC, "198.51.100.1", "-v"], quiet.sys)).toBe(0);
    expect(quiet.sys.err).toBe("");
    const loud = router(table);
    expect(await main(["-v", "arp-add", MAC, "198.51.100.1", "x"], loud.sys)).toBe(0);
    expect(loud.sys.err).toContain("198.51.100.1 is outside the LAN subnets");
  });

  test("help asked for before the action shows the action's help and runs nothing; the words after it are not read", async () => {
    const argv = ["--help", "add", MAC, IP, "--backend=iptables"];
    expect(optionWords(argv, COMMANDS)).toEqual(["--help", "add"]);
    expect(optionWords(["status", "--json"], COMMANDS)).toEqual(["status", "--json"]);
    const sys = fakeSys();
    // yargs prints the help itself (to the process's stdout).
    expect(await main(argv, sys)).toBe(0);
    expect(sys.calls).toEqual([]);
  });

  test("tftp's words are data too", async () => {
    expect(fastArgs(["tftp", "1024", "192.168.1.5", "--help"], COMMANDS)?.args.args).toEqual(["1024", "192.168.1.5", "--help"]);
    const sys = fakeSys();
    expect(await main(["tftp", "1024", "192.168.1.5", "--help"], sys)).toBe(0);
    expect(sys.out).toBe("");
    expect(sys.calls).toEqual([]);
  });
});

describe("event argv that skip the option parser", () => {
  const fastDnsmasqArgs = (argv: string[]) => fastArgs(argv, dnsmasqCommands);
  const fastHotplugArgs = (argv: string[]) => fastArgs(argv, [hotplugCommand]);
  test("dnsmasq's ACTION MAC IP [HOSTNAME], nothing else", () => {
    expect(fastDnsmasqArgs(["add", "02:00:00:00:00:01", "192.168.1.5", "laptop"])?.args).toEqual({
      _: ["add"],
      mac: "02:00:00:00:00:01",
      ip: "192.168.1.5",
      hostname: "laptop",
    });
    expect(fastDnsmasqArgs(["add", "02:00:00:00:00:01", "192.168.1.5", "--verbose"])?.args.hostname).toBe("--verbose");
    expect(fastDnsmasqArgs(["--verbose", "add", "02:00:00:00:00:01", "192.168.1.5"])?.globals).toEqual({ verbose: true });
    expect(() => fastDnsmasqArgs(["add", "02:00:00:00:00:01"])).toThrow(/1 argument after add/);
    for (const argv of [["status"], ["hotplug", "dhcp"], ["--help", "add", "02:00:00:00:00:01", "192.168.1.5"]]) {
      expect(fastDnsmasqArgs(argv)).toBeNull();
    }
  });

  test("hotplug dhcp|neigh exactly as the wrappers run it, nothing else", () => {
    expect(fastHotplugArgs(["hotplug", "neigh"])?.args).toEqual({ _: ["hotplug"], subsystem: "neigh" });
    expect(fastHotplugArgs(["hotplug", "dhcp"])?.command.command).toBe("hotplug <subsystem>");
    for (const argv of [["hotplug"], ["hotplug", "wifi"], ["hotplug", "dhcp", "--verbose"], ["hotplug", "--help"], ["add", "02:00:00:00:00:01", "192.168.1.5"]]) {
      expect(fastHotplugArgs(argv)).toBeNull();
    }
  });
});

describe("option enabled '0'", () => {
  const disabled = () =>
    fakeSys({
      files: { "/etc/config/iptmon": "config iptmon\n\toption enabled '0'\n\toption backend 'nftables'\n" },
      commands: { "nft -f -": ok(), "nft -j list table inet iptmon": ok('{"nftables": []}'), "nft -j list maps inet": ok('{"nftables": []}') },
    });
  test("events change nothing", async () => {
    const sys = disabled();
    expect(await main(["add", "02:00:00:00:00:01", "192.168.1.5", "laptop"], sys)).toBe(0);
    expect(sys.calls.filter((c) => c.cmd === "nft")).toEqual([]);
  });
  test("init builds nothing and says why", async () => {
    const sys = disabled();
    expect(await main(["init"], sys)).toBe(0);
    expect(sys.calls.filter((c) => c.cmd === "nft")).toEqual([]);
    expect(sys.err).toContain("disabled");
  });
});

test("`init` run by dnsmasq (its --leasefile-ro lease dump) prints and changes nothing", async () => {
  const sys = fakeSys({ files: { "/proc/1/comm": "dnsmasq\n" }, commands: { "nft -f -": ok() } });
  expect(await main(["init"], sys)).toBe(0);
  expect(sys.out).toBe("");
  expect(sys.calls).toEqual([]);
});

describe("one definition of the commands serves both parsers", () => {
  const parsed = async (argv: string[]) => {
    let got: { command: Command; args: Args } | null = null;
    await (
      await optionParser(argv, async (command, args) => {
        got = { command, args };
      })
    ).parseAsync();
    return got as { command: Command; args: Args } | null;
  };

  test.each([
    [["add", "02:00:00:00:00:01", "192.168.1.5", "laptop"]],
    [["old", "02:00:00:00:00:01", "192.168.1.5", "0123"]],
    [["del", "02:00:00:00:00:01", "192.168.1.5"]],
    [["arp-add", "02:00:00:00:00:01", "fd00::5"]],
    [["arp-del", "02:00:00:00:00:01", "fd00::5"]],
    [["add", "00:01:00:01:2c:00:00:01:02:00:00:00:00:30", "fd00::1:99", "a b;$(x)"]],
    [["hotplug", "dhcp"]],
    [["hotplug", "neigh"]],
    [["tftp", "1024", "192.168.1.5", "/srv/tftp/x"]],
    [["tftp"]],
    [["status", "--json"]],
    [["status", "--json", "--busiest"]],
    [["status", "--busiest", "--json"]],
    [["status", "--busiest"]],
    [["status"]],
    [["metrics"]],
    [["init"]],
    [["stop"]],
  ])("%p: the fast path reads what the option parser reads", async (argv: string[]) => {
    const fast = fastArgs(argv, COMMANDS);
    const slow = await parsed(argv);
    expect(fast).not.toBeNull();
    expect(slow?.command).toBe(fast!.command);
    for (const { name } of parseSyntax(fast!.command.command).positionals) expect([name, slow!.args[name]]).toEqual([name, fast!.args[name]]);
    for (const name of Object.keys(fast!.command.options ?? {})) expect([name, Boolean(slow!.args[name])]).toEqual([name, Boolean(fast!.args[name])]);
  });

  test.each([
    [["hotplug", "dhcp", "--backend", "nftables"]],
    [["hotplug", "dhcp", "--help"]],
    [["status", "--json", "--json"]],
    [["status", "--json", "--busiest", "--busiest"]],
    [["status", "--json", "--verbose"]],
    [["status", "--js"]],
    [["metrics", "--json"]],
    [["metrics", "x"]],
    [["init", "--verbose"]],
    [["print"]],
  ])("%p: with an option not its own, or not an event or scripted command: left to the option parser", (argv: string[]) => {
    expect(fastArgs(argv, COMMANDS)).toBeNull();
  });

  test("only event and scripted commands take the fast path", () => {
    for (const c of COMMANDS) {
      const name = parseSyntax(c.command).name;
      const argv = [name, ...parseSyntax(c.command).positionals.filter((p) => p.required).map((p) => c.positionals?.[p.name]?.choices?.[0] ?? "x")];
      expect([name, fastArgs(argv, COMMANDS) !== null]).toEqual([name, c.event === true || c.scripted === true]);
    }
  });

  test("tftp runs but is left out of --help", async () => {
    const help = await (await optionParser([], async () => {})).getHelp();
    expect(help).toContain("iptmon add <mac> <ip> [hostname]");
    expect(help).toContain("iptmon hotplug <subsystem>");
    expect(help).not.toContain("tftp");
    const sys = fakeSys();
    expect(await main(["tftp", "1", "2", "3"], sys)).toBe(0);
    expect(sys.calls).toEqual([]);
  });
});
