/**
 * The LAN's addresses and the neighbour table over rtnetlink against the
 * real kernel: for a router namespace with addresses of every kind (IPv4 and
 * IPv6, several prefixes, a point-to-point one, deprecated, tentative) and
 * neighbours in every state (set by hand, and learned from a client's
 * traffic), the sources read over rtnetlink exactly what they read from
 * `ip`'s text, and spawn no `ip`; an event needs no `ip` at all.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { exec, execOk, iptmonBin, iptmonConfig, NETNS_NEEDS, NetnsRun, skipReason, SYS_PATH, waitFor } from "./harness.ts";
import { SETUP } from "../fixtures/rtnetlink/capture.ts";

const skip = skipReason("rtnetlink", NETNS_NEEDS);
const PROBE = resolve(import.meta.dir, "../helpers/rtnl-probe.ts");
const UDP_SEND = resolve(import.meta.dir, "../helpers/udp-send.ts");

type Read = { subnets: string[]; own: string[]; warnings: string[]; neighbours: { address: string; mac: string | null; state: string }[] };
type Compared = { netlink: Read; ip: Read; netlinkRan: string[]; ipRan: string[]; allNeighbours: { netlink: unknown[]; ip: unknown[]; ipText: string } };

describe.skipIf(skip !== null)("rtnetlink", () => {
  let run: NetnsRun;
  let r: string;
  let c: string;
  const conf = (name: string, lines: string[]) => {
    const f = join(run.tmpDir, `${name}.conf`);
    writeFileSync(f, iptmonConfig(run.tmpDir, { backend: "nftables", options: lines }));
    return f;
  };
  const probe = (config: string): Compared => JSON.parse(execOk(r, [process.execPath, PROBE, "compare", config], { env: { PATH: SYS_PATH } }).stdout);

  beforeAll(async () => {
    run = new NetnsRun("iprt", { tmpPrefix: "iptmon-rtnetlink" });
    r = run.ns("r");
    c = run.ns("c");
    run.addNamespaces([r, c]);
    const [links, rest] = [SETUP.filter((l) => l.startsWith("link ")), SETUP.filter((l) => !l.startsWith("link "))];
    run.ipBatch(r, [...links, `link add lan2 type veth peer name c0 netns ${c}`, "link set lan2 master br-lan", "link set lan2 up"]);
    // Every neighbour timer out of reach: a state seen by one read is the state the other read sees.
    for (const fam of ["ipv4", "ipv6"])
      run.sysctl(r, [`net.${fam}.neigh.br-lan.base_reachable_time_ms=3600000`, `net.${fam}.neigh.br-lan.retrans_time_ms=3600000`, `net.${fam}.neigh.br-lan.delay_first_probe_time=3600`]);
    run.ipBatch(r, rest);
    run.ipBatch(c, ["link set c0 address 02:00:00:00:0c:50", "link set c0 up", "addr add 192.168.7.50/24 dev c0", "addr add 2001:db8::50/64 dev c0 nodad"]);
    // The client's first packets: the router learns it from its ARP request and neighbour solicitation.
    // (Nothing listens: the router's port unreachable makes the sender fail, which is not what is tested.)
    for (const [fam, to] of [["4", "192.168.7.1"], ["6", "2001:db8::1"]]) exec(c, [process.execPath, UDP_SEND, fam!, to!, "9", "1", "16"], { env: { PATH: SYS_PATH } });
    await waitFor(() => {
      const t = execOk(r, ["ip", "neigh", "show"]).stdout;
      return /^192\.168\.7\.50 .*lladdr 02:00:00:00:0c:50/m.test(t) && /^2001:db8::50 .*lladdr 02:00:00:00:0c:50/m.test(t);
    }, "the router to learn the client's addresses");
  });
  afterAll(() => run?.destroy());

  const configs: [string, string[]][] = [
    ["one LAN interface", ["\tlist lan_interface 'br-lan'"]],
    ["several, one missing, and a subnet", ["\tlist lan_interface 'br-lan'", "\tlist lan_interface 'nosuch0'", "\tlist lan_interface 'lan1p'", "\tlist lan_subnet '10.99.0.0/16'"]],
    ["subnets alone (every interface's addresses are the router's)", ["\tlist lan_subnet '192.168.7.0/24'"]],
    ["a missing interface alone", ["\tlist lan_interface 'nosuch0'"]],
  ];
  for (const [what, lines] of configs) {
    test(`${what}: the LAN and the usable neighbours read over rtnetlink are what \`ip\` gives, and no \`ip\` runs`, () => {
      const p = probe(conf(what.split(" ")[0]! + lines.length, lines));
      expect(p.netlink).toEqual(p.ip);
      expect(p.netlinkRan).toEqual([]);
      expect(p.ipRan).toContain("ip neigh show");
    });
  }

  test("what is compared has every kind in it: addresses of each family and prefix, neighbours in every state", () => {
    const p = probe(conf("kinds", ["\tlist lan_interface 'br-lan'"]));
    expect(p.netlink.subnets).toEqual(["192.168.7.0/24", "10.9.0.0/16", "100.64.0.2/31", "fd00:9::2/128", "2001:db8::/64", "fd00:8::/48", "fd00:7::/64"]);
    expect(p.netlink.own).toContain("fe80::ff:fe00:ff01");
    // Each `ip` line read as parseNeighbours reads it, usable or not, next to the kernel's message for it.
    expect(p.allNeighbours.netlink).toEqual(p.allNeighbours.ip);
    for (const state of ["REACHABLE", "STALE", "PERMANENT", "FAILED", "INCOMPLETE", "PROBE"]) expect(p.allNeighbours.ipText).toContain(` ${state}`);
    expect(p.allNeighbours.ipText).toContain("router");
    const usable = p.netlink.neighbours.map((n) => n.address);
    expect(usable).toEqual(expect.arrayContaining(["192.168.7.50", "2001:db8::50", "192.168.7.12", "::ffff:c0a8:71e", "fd00:7::11"]));
    for (const unusable of ["192.168.7.13", "192.168.7.14", "192.168.7.17", "192.168.7.18", "fd00:7::12"]) expect(usable).not.toContain(unusable);
  });

  test("an event reads the LAN and the neighbours without `ip`; IPTMON_NETLINK=0 runs it (and says when it is missing)", () => {
    writeFileSync(join(run.tmpDir, "dhcp.leases"), "");
    const noIp = conf("no-ip", ["\tlist lan_interface 'br-lan'", "\toption hook 'forward'", "\toption ip '/nonexistent/ip'"]);
    const iptmon = (args: string[], netlink: boolean) => exec(r, [iptmonBin(), ...args], { env: { IPTMON_CONFIG: noIp, IPTMON_NETLINK: netlink ? "1" : "0" } });
    try {
      const init = iptmon(["init"], true);
      expect(init.stderr).toBe("");
      expect(init.code).toBe(0);
      // No name given: the host is named from the neighbour table's MAC, read over rtnetlink.
      const add = iptmon(["add", "02:00:00:00:0c:50", "192.168.7.50", "client"], true);
      expect(add.stderr).toBe("");
      expect(add.code).toBe(0);
      const hosts = JSON.parse(iptmon(["status", "--json"], true).stdout).hosts as { name: string; addresses: string[] }[];
      expect(hosts.find((h) => h.name === "client")?.addresses).toEqual(expect.arrayContaining(["192.168.7.50", "2001:db8::50"]));
      // Without rtnetlink the event runs `ip`: here missing, so the LAN is unknown and the host is not counted.
      const without = iptmon(["--verbose", "add", "02:00:00:00:00:0a", "192.168.7.10", "other"], false);
      expect(without.stderr).toContain("cannot read addresses of LAN interface br-lan: /nonexistent/ip: not found");
      expect(JSON.parse(iptmon(["status", "--json"], true).stdout).hosts.map((h: { name: string }) => h.name)).not.toContain("other");
    } finally {
      iptmon(["stop"], true);
    }
  });
});
