/**
 * The LAN by logical network (`option network 'lan'`): `ifstatus` resolved to
 * a device and subnets (delegated prefixes included), lan_interface as the
 * fallback, and iface events (netifd) that scope the LAN again.
 */
import { describe, expect, test } from "bun:test";
import { parseConfig } from "../../src/config.ts";
import { main } from "../../src/main.ts";
import { parseIfstatus, resolveLan } from "../../src/sources/netifd.ts";
import { fakeSys, ok } from "../helpers/fakesys.ts";

const IFSTATUS_LAN = JSON.stringify({
  up: true,
  l3_device: "br-lan",
  device: "br-lan",
  "ipv4-address": [{ address: "192.168.1.1", mask: 24 }],
  "ipv6-address": [{ address: "fd12::1", mask: 64 }],
  "ipv6-prefix-assignment": [{ address: "2001:db8:0:10::", mask: 64, "local-address": { address: "2001:db8:0:10::1", mask: 64 } }],
});
const IFSTATUS_GUEST = JSON.stringify({ up: true, l3_device: "br-guest", "ipv4-address": [{ address: "192.168.2.1", mask: 24 }] });
const config = (extra: string) => parseConfig(`config iptmon 'global'\n\toption backend 'nftables'\n${extra}`, "/etc/config/iptmon");

describe("ifstatus", () => {
  test("device and every subnet: addresses and the delegated prefix assigned to the network", () => {
    const st = parseIfstatus(IFSTATUS_LAN)!;
    expect(st.device).toBe("br-lan");
    expect(st.subnets.map((s) => s.text)).toEqual(["192.168.1.0/24", "fd12::/64", "2001:db8:0:10::/64"]);
  });
  test("not JSON, not an object, or odd fields: nothing taken from them", () => {
    expect(parseIfstatus("Interface lan not found")).toBeNull();
    expect(parseIfstatus("[1]")).toBeNull();
    expect(parseIfstatus('{"l3_device": "br lan; reboot", "ipv4-address": [{"address": 1, "mask": "24"}]}')).toEqual({ device: null, subnets: [] });
  });
});

describe("resolveLan", () => {
  test("networks resolve to their devices and subnets, asked once per run", () => {
    const sys = fakeSys({ commands: { "ifstatus lan": ok(IFSTATUS_LAN), "ifstatus guest": ok(IFSTATUS_GUEST) } });
    const cfg = config("\tlist network 'lan'\n\tlist network 'guest'\n");
    const lan = resolveLan(sys, cfg);
    expect(lan.devices).toEqual(["br-lan", "br-guest"]);
    expect(lan.subnets.map((s) => s.text)).toEqual(["192.168.1.0/24", "fd12::/64", "2001:db8:0:10::/64", "192.168.2.0/24"]);
    expect(lan.warnings).toEqual([]);
    resolveLan(sys, cfg);
    expect(sys.calls.filter((c) => c.cmd === "ifstatus")).toHaveLength(2);
  });
  test("a network netifd does not know (or no ifstatus at all): warned about, lan_interface serves", () => {
    const sys = fakeSys({ commands: { "ifstatus lan": { code: 1, stdout: "", stderr: "Interface lan not found\n" } } });
    const lan = resolveLan(sys, config("\tlist network 'lan'\n\tlist lan_interface 'eth1'\n"));
    expect(lan.devices).toEqual(["eth1"]);
    expect(lan.warnings).toEqual(["cannot resolve network lan with ifstatus: Interface lan not found; the LAN is lan_interface (eth1)"]);
  });
  test("without networks: lan_interface as it is", () => {
    expect(resolveLan(fakeSys(), config(""))).toEqual({ devices: ["br-lan"], subnets: [], warnings: [] });
  });
});

describe("through main", () => {
  const EMPTY = JSON.stringify({
    nftables: [
      { table: { family: "inet", name: "iptmon", handle: 1 } },
      { chain: { family: "inet", table: "iptmon", name: "forward", handle: 7, type: "filter", hook: "forward", prio: -1, policy: "accept" } },
      ...["rx4", "tx4", "rx6", "tx6", "keys"].map((name, i) => ({ map: { family: "inet", name, table: "iptmon", type: "ipv4_addr", handle: i + 2, map: "counter" } })),
    ],
  });
  const router = (env: Record<string, string>, table = EMPTY) => {
    const applied: string[] = [];
    const sys = fakeSys({
      env,
      files: { "/etc/config/iptmon": "config iptmon\n\toption backend 'nftables'\n\toption hook 'forward'\n\tlist network 'lan'\n\toption leasefile '/tmp/dhcp.leases'\n", "/tmp/dhcp.leases": "" },
      commands: {
        "ifstatus lan": ok(IFSTATUS_LAN),
        "ip addr show dev br-lan": ok("6: br-lan: <UP>\n    inet 192.168.1.1/24 scope global br-lan\n"),
        "ip neigh show": ok("2001:db8:0:10::5 dev br-lan lladdr 02:00:00:00:00:05 REACHABLE\n"),
        "nft -j list table inet iptmon": ok(table),
        "nft -j list maps inet": ok(table),
        "nft -f -": (input) => (applied.push(input ?? ""), ok()),
      },
    });
    return { sys, applied };
  };

  test("a host in the network's delegated prefix is LAN (ip addr does not show it, ifstatus does)", async () => {
    const { sys, applied } = router({});
    expect(await main(["add", "02:00:00:00:00:05", "2001:db8:0:10::5", "tv"], sys)).toBe(0);
    expect(applied[0]).toContain('add element inet iptmon rx6 { 2001:db8:0:10::5 : "rx_tv" }');
  });

  test("ifup/ifupdate of a LAN network rebuilds (keeping counters); other networks and actions do nothing", async () => {
    const up = router({ ACTION: "ifupdate", INTERFACE: "lan" });
    expect(await main(["hotplug", "iface"], up.sys)).toBe(0);
    expect(up.applied).toHaveLength(1);
    expect(up.applied[0]).toStartWith("table inet iptmon {\n");
    expect(up.applied[0]).toContain('add element inet iptmon rx6 { 2001:db8:0:10::5 : "rx_2001-db8-0-10--5" }');
    for (const env of [{ ACTION: "ifup", INTERFACE: "wan" }, { ACTION: "ifdown", INTERFACE: "lan" }]) {
      const r = router(env);
      expect(await main(["hotplug", "iface", "--verbose"], r.sys)).toBe(0);
      expect(r.applied).toEqual([]);
      expect(r.sys.err).toContain(`nothing to change for network ${env.INTERFACE}`);
    }
  });

  test("no table (iptmon stopped): an iface event builds nothing", async () => {
    const r = router({ ACTION: "ifup", INTERFACE: "lan" }, JSON.stringify({ nftables: [] }));
    r.sys.commands.set("nft -j list table inet iptmon", { code: 1, stdout: "", stderr: "Error: No such file or directory\n" });
    expect(await main(["hotplug", "iface"], r.sys)).toBe(0);
    expect(r.applied).toEqual([]);
  });

  test("bad variables are refused with exit 2", async () => {
    expect(await main(["hotplug", "iface"], router({ ACTION: "ifup", INTERFACE: "lan; reboot" }).sys)).toBe(2);
    expect(await main(["hotplug", "iface"], router({ ACTION: "", INTERFACE: "lan" }).sys)).toBe(2);
  });
});
