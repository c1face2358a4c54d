/**
 * Counting at the LAN ports (nftables `ports` placement): what the router's
 * links and addresses say, which placement `auto` picks, and the netdev
 * layout planned and rendered. Fixtures: `ip -o link show` / `ip -o addr
 * show` of an OpenWrt-like router (DSA ports lan1/lan2 and a wifi AP in
 * br-lan, a guest bridge without ports, wg0 and pppoe without MAC).
 */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { createNftBackend, loadPortsEnv, resolvePlacement } from "../../src/backends/nft/index.ts";
import type { NftOptions, NftState, PortsEnv } from "../../src/backends/nft/layout.ts";
import { parseNftJson } from "../../src/backends/nft/parse.ts";
import { planFolds, planNft } from "../../src/backends/nft/plan.ts";
import { renderNft } from "../../src/backends/nft/render.ts";
import { parseConfig } from "../../src/config.ts";
import { runDeviceEvent, type Runtime } from "../../src/core.ts";
import { parseDeviceEvent } from "../../src/events.ts";
import type { CountedHost, Host } from "../../src/model.ts";
import { planCounters } from "../../src/plan.ts";
import { parseLinks, parseOwnAddresses } from "../../src/sources/iflink.ts";
import { userError } from "../helpers/builders.ts";
import { fakeSys, ok } from "../helpers/fakesys.ts";

const fixture = (name: string) => readFileSync(`${import.meta.dir}/../fixtures/ports/${name}`, "utf8");
const LINKS = fixture("ip-link.txt");
const ADDRS = fixture("ip-addr.txt");
const config = (extra = "") => parseConfig(`config iptmon 'global'\n\toption backend 'nftables'\n${extra}`, "/etc/config/iptmon");
const router = (extra = "", commands: Record<string, ReturnType<typeof ok>> = {}) =>
  fakeSys({ commands: { "ip -o link show": ok(LINKS), "ip -o addr show": ok(ADDRS), ...commands }, files: { "/proc/sys/kernel/osrelease": "6.6.73\n" } });

const LAPTOP: Host = { key: "02:00:00:00:00:01", name: "laptop", addresses: ["192.168.1.101", "fd00::aaaa"] };
const NAS: Host = { key: "host:nas", name: "nas", addresses: ["192.168.1.50"] };
const O: NftOptions = { table: "iptmon", priority: -1, placement: "ports" };
const ENV: PortsEnv = { ports: ["lan1", "lan2", "phy0-ap0"], routerMacs: ["02:10:00:00:00:01"], own4: ["192.168.1.1"], own6: ["fd00::1", "fe80::10:ff:fe00:1"] };

describe("the router's links and addresses", () => {
  test("links: name without @lower, MAC where there is one, the bridge a port is in, the device a VLAN is on", () => {
    const links = parseLinks(LINKS);
    expect(links.map((l) => l.name)).toEqual(["lo", "eth0", "lan1", "lan2", "wan", "br-lan", "phy0-ap0", "br-guest", "wg0", "pppoe-wan", "br-vl", "lan3", "br-vl.1"]);
    expect(links.find((l) => l.name === "lan1")).toEqual({ name: "lan1", mac: "02:10:00:00:00:01", master: "br-lan", lower: "eth0" });
    expect(links.find((l) => l.name === "wg0")).toEqual({ name: "wg0", mac: null, master: null, lower: null });
    expect(links.find((l) => l.name === "br-vl.1")?.lower).toBe("br-vl");
    expect(links.find((l) => l.name === "lo")?.mac).toBeNull();
  });

  test("links: a name that is no interface name is skipped", () => {
    expect(parseLinks('7: a"b: <UP> mtu 1500\\    link/ether 02:00:00:00:00:01 brd ff:ff:ff:ff:ff:ff\n')).toEqual([]);
  });

  test("own addresses: every address of every interface, by family, peers' networks not", () => {
    expect(parseOwnAddresses(ADDRS)).toEqual({
      own4: ["127.0.0.1", "198.51.100.7", "192.168.1.1", "192.168.2.1", "10.0.0.1"],
      own6: ["::1", "fd00::1", "fe80::10:ff:fe00:1"],
    });
  });

  test("ports: the LAN bridge's lower ports with a MAC; its MAC is the router's", () => {
    expect(loadPortsEnv(router(), config())).toEqual({
      ports: ["lan1", "lan2", "phy0-ap0"],
      routerMacs: ["02:10:00:00:00:01"],
      ...parseOwnAddresses(ADDRS),
    });
  });

  test("ports: a LAN that is no bridge is its own port; list port overrides", () => {
    expect(loadPortsEnv(router(), config("\tlist lan_interface 'br-lan'\n\tlist lan_interface 'eth0'\n")).ports).toEqual(["lan1", "lan2", "phy0-ap0", "eth0"]);
    // A bridge with no port yet (wifi not up) is hooked itself until its ports come.
    expect(loadPortsEnv(router(), config("\tlist lan_interface 'br-guest'\n")).ports).toEqual(["br-guest"]);
    expect(loadPortsEnv(router(), config("\tlist port 'lan1'\n\tlist port 'phy0-ap0'\n")).ports).toEqual(["lan1", "phy0-ap0"]);
  });

  test("ports: a VLAN of a bridge (LuCI's br-lan.1) is counted at the bridge's ports, where a flowtable transmits", () => {
    expect(loadPortsEnv(router(), config("\tlist lan_interface 'br-vl.1'\n"))).toMatchObject({ ports: ["lan3"], routerMacs: ["02:10:00:00:00:05"] });
  });

  test("ports: a listed port that is not there now is left out and warned about, until hotplug net brings it", () => {
    const warnings: string[] = [];
    expect(loadPortsEnv(router(), config("\tlist port 'lan1'\n\tlist port 'usb0'\n"), (w) => void warnings.push(w)).ports).toEqual(["lan1"]);
    expect(warnings).toEqual(["list port names devices that are not there now (hooked when they come): usb0"]);
    expect(userError(() => loadPortsEnv(router(), config("\tlist port 'usb0'\n"))).message).toBe("cannot count at the LAN ports: no Ethernet port found under list port (usb0)");
  });

  test("ports and LAN interfaces in the config are device names: at most 15 characters, file and line otherwise", () => {
    expect(() => config(`\tlist port '${"x".repeat(16)}'\n`)).toThrow(/\/etc\/config\/iptmon:\d+: option 'port' must be a network device's name/);
    expect(() => config("\tlist lan_interface 'br lan'\n")).toThrow(/option 'lan_interface' must be a network device's name/);
  });

  test("ports: none to be found is a user error naming what to set", () => {
    const err = userError(() => loadPortsEnv(router(), config("\tlist lan_interface 'wg0'\n")));
    expect(err.exitCode).toBe(2);
    expect(err.message).toBe("cannot count at the LAN ports: no Ethernet port found under wg0");
  });
});

describe("which placement", () => {
  const at = (release: string | null, hook = "auto") => resolvePlacement(fakeSys({ files: release === null ? {} : { "/proc/sys/kernel/osrelease": release } }), config(`\toption hook '${hook}'\n`));
  test("auto: ports from kernel 5.16 on (netdev egress), else forward", () => {
    expect(at("6.6.73\n")).toBe("ports");
    expect(at("5.16.0\n")).toBe("ports");
    expect(at("5.15.167\n")).toBe("forward");
    expect(at("4.14.336\n")).toBe("forward");
    expect(at(null)).toBe("forward");
  });
  test("auto: forward for a LAN given by subnets alone (no device to find ports under)", () => {
    const sys = fakeSys({ files: { "/proc/sys/kernel/osrelease": "6.6.73\n" } });
    expect(resolvePlacement(sys, config("\tlist lan_subnet '192.168.1.0/24'\n"))).toBe("forward");
    expect(resolvePlacement(sys, config("\tlist lan_subnet '192.168.1.0/24'\n\tlist lan_interface 'br-lan'\n"))).toBe("ports");
    expect(resolvePlacement(sys, config("\tlist lan_subnet '192.168.1.0/24'\n\tlist port 'lan1'\n"))).toBe("ports");
  });
  test("an explicit choice is taken as it is", () => {
    expect(at("4.14.336\n", "ports")).toBe("ports");
    expect(at("6.6.73\n", "forward")).toBe("forward");
  });
  test("a bad choice is refused with file, line and option", () => {
    expect(() => config("\toption hook 'ingress'\n")).toThrow(/\/etc\/config\/iptmon:\d+: option 'hook'/);
  });
});

describe("the ports layout", () => {
  const ABSENT: NftState = { read: "absent" };
  const counted = (h: Host, rx: [number, number], tx: [number, number]): CountedHost => ({ ...h, rx: { packets: rx[0], bytes: rx[1] }, tx: { packets: tx[0], bytes: tx[1] } });
  const render = (cur: NftState, desired: Host[], rebuild: boolean) => renderNft(planNft(cur, planCounters(cur, desired)!, { rebuild }, "ports", () => ENV), O);

  test("a declare: sets, maps, both chains re-created on the ports, ARP and the router's own traffic left out", () => {
    const lines = render(ABSENT, [LAPTOP, NAS], true).trimEnd().split("\n");
    const T = "netdev iptmon";
    expect(lines.slice(0, 15)).toEqual([
      `table ${T} {`,
      "\tset own4 { type ipv4_addr; }",
      "\tset own6 { type ipv6_addr; }",
      "\tmap rx4 { type ipv4_addr : counter; }",
      "\tmap tx4 { type ipv4_addr : counter; }",
      "\tmap rx6 { type ipv6_addr : counter; }",
      "\tmap tx6 { type ipv6_addr : counter; }",
      "\tmap keys { type ether_addr : counter; }",
      "\tmap txkeys { type ether_addr : counter; }",
      "\tmap names { type ipv6_addr . ipv6_addr . ipv6_addr . ipv6_addr : counter; }",
      "\tchain in4 { }",
      "\tchain in6 { }",
      "\tchain out4 { }",
      "\tchain out6 { }",
      "}",
    ]);
    expect(lines).toContain(`add chain ${T} ingress { type filter hook ingress devices = { "lan1", "lan2", "phy0-ap0" } priority -1; policy accept; }`);
    expect(lines).toContain(`add chain ${T} egress { type filter hook egress devices = { "lan1", "lan2", "phy0-ap0" } priority -1; policy accept; }`);
    // The old chains go first, so a port that went is unhooked and one that came is hooked.
    expect(lines.indexOf(`delete chain ${T} ingress`)).toBeLessThan(lines.indexOf(`add chain ${T} ingress { type filter hook ingress devices = { "lan1", "lan2", "phy0-ap0" } priority -1; policy accept; }`));
    const rules = (chain: string) => lines.filter((l) => l.startsWith(`add rule ${T} ${chain} `)).map((l) => l.slice(`add rule ${T} ${chain} `.length));
    // One lookup tells the router's MAC and the family; each family's chain then counts by MAC, else by address.
    expect(rules("ingress")).toEqual(["ether daddr . meta protocol vmap { 02:10:00:00:00:01 . ip : goto in4, 02:10:00:00:00:01 . ip6 : goto in6 }"]);
    expect(rules("egress")).toEqual(["ether saddr . meta protocol vmap { 02:10:00:00:00:01 . ip : goto out4, 02:10:00:00:00:01 . ip6 : goto out6 }"]);
    expect(rules("in4")).toEqual(["ip daddr @own4 return", "counter name ether saddr map @keys accept", "counter name ip saddr map @rx4"]);
    expect(rules("in6")).toEqual(["ip6 daddr @own6 return", "counter name ether saddr map @keys accept", "counter name ip6 saddr map @rx6"]);
    expect(rules("out4")).toEqual(["ip saddr @own4 return", "counter name ether daddr map @txkeys accept", "counter name ip daddr map @tx4"]);
    expect(rules("out6")).toEqual(["ip6 saddr @own6 return", "counter name ether daddr map @txkeys accept", "counter name ip6 daddr map @tx6"]);
    // The family chains are emptied before their rules go in again; the set of an earlier layout goes.
    expect(lines.indexOf(`flush chain ${T} in4`)).toBeLessThan(lines.indexOf(`add rule ${T} in4 ip daddr @own4 return`));
    expect(lines).toContain(`delete set ${T} routermac`);
    expect(lines).toContain(`add element ${T} own6 { fd00::1, fe80::10:ff:fe00:1 }`);
    // The forward placement's table goes, in the same transaction.
    expect(lines).toContain("delete table inet iptmon");
    // A MAC host is keyed both ways; the static host only by address.
    expect(lines).toContain(`add element ${T} keys { 02:00:00:00:00:01 : "rx_laptop" }`);
    expect(lines).toContain(`add element ${T} txkeys { 02:00:00:00:00:01 : "tx_laptop" }`);
    expect(lines).toContain(`add element ${T} rx4 { 192.168.1.101 : "rx_laptop", 192.168.1.50 : "rx_nas" }`);
  });

  test("an event touches the host's elements only; a MAC host's both keys", () => {
    const cur: NftState = { read: "full", complete: true, hosts: [counted(LAPTOP, [1, 100], [1, 100])], strays: [], parts: new Map() };
    expect(render(cur, [LAPTOP], false)).toBe("");
    const phone: Host = { key: "02:00:00:00:00:02", name: "phone", addresses: ["192.168.1.102"] };
    expect(render(cur, [LAPTOP, phone], false)).toBe(
      [
        'add counter netdev iptmon rx_phone { packets 0 bytes 0; comment "iptmon: 02:00:00:00:00:02"; }',
        'add counter netdev iptmon tx_phone { packets 0 bytes 0; comment "iptmon: 02:00:00:00:00:02"; }',
        'add element netdev iptmon rx4 { 192.168.1.102 : "rx_phone" }',
        'add element netdev iptmon tx4 { 192.168.1.102 : "tx_phone" }',
        'add element netdev iptmon keys { 02:00:00:00:00:02 : "rx_phone" }',
        'add element netdev iptmon txkeys { 02:00:00:00:00:02 : "tx_phone" }',
        'add element netdev iptmon names { 7068:6f6e:6500:0:0:0:0:0 . :: . :: . :: : "rx_phone" }',
        "",
      ].join("\n"),
    );
    expect(render(cur, [], false)).toContain("delete element netdev iptmon txkeys { 02:00:00:00:00:01 }\n");
  });

  test("tx counters: the kernel's include 14 bytes of Ethernet header per packet; read and created on the IP basis", () => {
    const doc = {
      nftables: [
        { table: { family: "netdev", name: "iptmon", handle: 1 } },
        { counter: { family: "netdev", name: "rx_laptop", table: "iptmon", handle: 2, comment: "iptmon: 02:00:00:00:00:01", packets: 10, bytes: 10_000 } },
        { counter: { family: "netdev", name: "tx_laptop", table: "iptmon", handle: 3, comment: "iptmon: 02:00:00:00:00:01", packets: 10, bytes: 15_140 } },
      ],
    };
    const read = parseNftJson(JSON.stringify(doc), "iptmon", "ports");
    expect(read.read === "full" && read.hosts[0]).toMatchObject({ rx: { packets: 10, bytes: 10_000 }, tx: { packets: 10, bytes: 15_000 } });
    // The same numbers moved (a renamed host's old pair folded into its carry) are written back as the kernel counts them.
    if (read.read !== "full") throw new Error("expected a full read");
    const old = read.hosts[0]!;
    const folded = renderNft(planFolds(new Map([[LAPTOP.key, { carry: null, retired: [{ name: "laptop", counters: { rx: old.rx, tx: old.tx } }] }]]), "ports"), O);
    expect(folded).toContain("add counter netdev iptmon carry_tx_02-00-00-00-00-01 { packets 10 bytes 15140;");
    expect(folded).toContain("add counter netdev iptmon carry_rx_02-00-00-00-00-01 { packets 10 bytes 10000;");
    // ...and so are a new host's numbers (a snapshot's, restored).
    const restored = renderNft(planNft({ ...read, complete: true }, [{ ...LAPTOP, counters: { rx: old.rx, tx: old.tx }, reset: true }], { rebuild: false }, "ports"), O);
    expect(restored).toContain("add counter netdev iptmon tx_laptop { packets 10 bytes 15140;");
    // ...and the inet table of the forward placement is not iptmon's netdev one.
    expect(parseNftJson(JSON.stringify(doc), "iptmon", "forward")).toEqual({ read: "absent" });
  });

  test("a declare without ports, or with a device name nft could misread, never renders", () => {
    expect(() => renderNft(planNft(ABSENT, [], { rebuild: true }, "ports"), O)).toThrow(/without its ports/);
    expect(() => renderNft(planNft(ABSENT, [], { rebuild: true }, "ports", () => ({ ...ENV, ports: [] })), O)).toThrow(/no LAN port/);
    expect(() => renderNft(planNft(ABSENT, [], { rebuild: true }, "ports", () => ({ ...ENV, ports: ['lan1" }; flush ruleset; {'] })), O)).toThrow(/unsafe device/);
  });
});

describe("a network device event (hotplug net)", () => {
  const EMPTY_PORTS = JSON.stringify({
    nftables: [
      { table: { family: "netdev", name: "iptmon", handle: 1 } },
      ...["ingress", "egress"].map((name) => ({ chain: { family: "netdev", table: "iptmon", name, handle: 2, type: "filter", hook: name, prio: -1, policy: "accept" } })),
      ...["rx4", "tx4", "rx6", "tx6", "keys", "txkeys"].map((name, i) => ({ map: { family: "netdev", name, table: "iptmon", type: "ipv4_addr", handle: 3 + i, map: "counter" } })),
      { counter: { family: "netdev", name: "rx_laptop", table: "iptmon", handle: 20, comment: "iptmon: 02:00:00:00:00:01", packets: 3, bytes: 300 } },
      { counter: { family: "netdev", name: "tx_laptop", table: "iptmon", handle: 21, comment: "iptmon: 02:00:00:00:00:01", packets: 4, bytes: 456 } },
    ],
  });
  const rt = (cfgExtra = "") => {
    const applied: string[] = [];
    const sys = router("", { "nft -j list table netdev iptmon": ok(EMPTY_PORTS) });
    sys.commands.set("nft -f -", (input) => (applied.push(input ?? ""), ok()));
    const cfg = config(cfgExtra);
    const warnings: string[] = [];
    const r: Runtime = { sys, cfg, backend: createNftBackend(sys, cfg, -1), warn: (m) => void warnings.push(m) };
    return { r, applied, warnings };
  };

  test("a LAN port that came back: the layout declared again, every counter kept", () => {
    const { r, applied } = rt();
    expect(runDeviceEvent(r, "add", "phy0-ap0").kind).toBe("applied");
    expect(applied).toHaveLength(1);
    expect(applied[0]).toContain('add chain netdev iptmon ingress { type filter hook ingress devices = { "lan1", "lan2", "phy0-ap0" } priority -1; policy accept; }');
    expect(applied[0]).not.toContain("add counter");
    expect(applied[0]).not.toContain("delete counter");
    expect(applied[0]).toContain('add element netdev iptmon txkeys { 02:00:00:00:00:01 : "tx_laptop" }');
  });

  test("another device, a device that goes, or the forward placement: nothing changes, and it says why", () => {
    const { r, applied, warnings } = rt();
    expect(runDeviceEvent(r, "add", "wg0")).toEqual({ kind: "ignored", reason: "not a LAN port" });
    expect(runDeviceEvent(r, "remove", "lan1")).toEqual({ kind: "ignored", reason: "a device that goes needs no change" });
    const fwd = rt("\toption hook 'forward'\n");
    expect(runDeviceEvent(fwd.r, "add", "lan1")).toEqual({ kind: "ignored", reason: "iptmon does not count at the LAN ports here" });
    expect([...applied, ...fwd.applied]).toEqual([]);
    expect(warnings).toEqual(["nothing to change for device wg0: not a LAN port", "nothing to change for device lan1: a device that goes needs no change"]);
  });

  test("the event's variables are checked: ACTION add|remove, INTERFACE a device name", () => {
    expect(parseDeviceEvent({ ACTION: "add", INTERFACE: "phy0-ap0" })).toEqual({ action: "add", device: "phy0-ap0" });
    expect(() => parseDeviceEvent({ ACTION: "move", INTERFACE: "lan1" })).toThrow(/unknown ACTION "move"/);
    expect(() => parseDeviceEvent({ ACTION: "add", INTERFACE: "lan1; reboot" })).toThrow(/INTERFACE is not a device name/);
    expect(() => parseDeviceEvent({ ACTION: "add" })).toThrow(/INTERFACE is not a device name/);
  });
});
