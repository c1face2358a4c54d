/**
 * Counting at the LAN ports (option hook 'ports') on the virtual router:
 * - a software fast path, emulated as a flowtable's direct transmit does it
 *   (a netdev ingress chain on the client's port and on the WAN device that
 *   rewrites the Ethernet addresses and `fwd`s the test flows straight to the
 *   other device): the forward hook sees none of it, the ports see all of it;
 * - a fresh IPv6 address counted from its first packet, with no event;
 * - traffic to the router itself left out;
 * - a port that comes (a USB adapter, a wifi interface) hooked by `hotplug net`;
 * - switching placement keeps every host's counters.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Status, StatusHost } from "../../src/status.ts";
import { iptmonBin, iptmonConfig, skipReason, SYS_PATH } from "./harness.ts";
import { addTallies, exec, execOk, LAN_BRIDGE, LAN6_PREFIX, ROUTER_LAN4, ROUTER_LAN6, udpL3Bytes, VRouter, VROUTER_NEEDS, WAN4, WAN6, WAN_IFACE, waitFor, type Tally } from "./vrouter.ts";

const skip = skipReason("ports placement", VROUTER_NEEDS);
const UDP_SEND = resolve(import.meta.dir, "../helpers/udp-send.ts");

describe.skipIf(skip !== null)("counting at the LAN ports", () => {
  let vr: VRouter;
  let dir: string;
  let conf: string;
  let BIN: string;
  const setHook = (hook: "ports" | "forward") => writeFileSync(conf, iptmonConfig(dir, { backend: "nftables", leasefile: vr.leaseFile, options: [`\toption hook '${hook}'`] }));
  const iptmon = (args: string[], env: Record<string, string> = {}) => exec(vr.routerNs, [BIN, ...args], { env: { IPTMON_CONFIG: conf, ...env } });
  const status = (): Status => {
    const r = iptmon(["status", "--json"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    return JSON.parse(r.stdout) as Status;
  };
  const host = (mac: string): StatusHost => {
    const h = status().hosts.find((x) => x.mac === mac);
    if (!h) throw new Error(`no host ${mac} in ${JSON.stringify(status())}`);
    return h;
  };
  const counts = (mac: string) => {
    const h = host(mac);
    return { rx: h.rx_bytes, rxp: h.rx_packets, tx: h.tx_bytes, txp: h.tx_packets };
  };
  const delta = (a: ReturnType<typeof counts>, b: ReturnType<typeof counts>) => ({ rx: b.rx - a.rx, rxp: b.rxp - a.rxp, tx: b.tx - a.tx, txp: b.txp - a.txp });
  const macOf = (ns: string, dev: string) => (JSON.parse(execOk(ns, ["ip", "-j", "link", "show", "dev", dev]).stdout) as { address: string }[])[0]!.address;
  /** Datagrams from a namespace to any address (the helper checks they all left). */
  const sendRaw = (ns: string, family: 4 | 6, dst: string, count: number, size: number, bind?: string) =>
    execOk(ns, [process.execPath, UDP_SEND, String(family), dst, "40077", String(count), String(size), ...(bind ? [bind] : [])], { env: { PATH: SYS_PATH } });
  /** Traffic of known size between a client and the WAN host (IPv4, and IPv6 from its SLAAC address): what the router should count. */
  const traffic = async (c: VRouter["clients"][number], k: number, v6 = true): Promise<Tally> => {
    const v4 = await vr.exchange(c, 4, { count: k, size: 1000 }, { count: k, size: 1200 });
    return v6 ? addTallies(v4, await vr.exchange(c, 6, { count: k, size: 700, bind: c.slaac }, { count: k, size: 1300 })) : addTallies(v4);
  };

  beforeAll(async () => {
    BIN = iptmonBin();
    dir = mkdtempSync(join(tmpdir(), "iptmon-ports-"));
    conf = join(dir, "iptmon.conf");
    vr = await VRouter.create({ clients: [{ ipv6: true }, { ipv6: true }], dhcpScript: BIN, scriptEnv: { IPTMON_CONFIG: conf }, startDnsmasq: false });
    setHook("ports");
    await vr.startDnsmasq();
    for (const [i, c] of vr.clients.entries()) await vr.takeLease(c, `host${i + 1}`);
    for (const c of vr.clients) await vr.waitForIpv6(c);
    const r = iptmon(["init"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
  });

  afterAll(() => {
    vr?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test("status says it counts at the LAN ports, and every client is a host", () => {
    const s = status();
    expect(s.hook).toBe("ports");
    for (const c of vr.clients) expect(s.hosts.map((h) => h.mac)).toContain(c.mac);
    const table = execOk(vr.routerNs, ["nft", "list", "chain", "netdev", "iptmon", "ingress"]).stdout;
    expect(table).toContain(`devices = { ${vr.clients.map((c) => c.port).sort().join(", ")} }`);
  });

  test("plain routed traffic is counted exactly, on the IP packet basis, both directions and families", async () => {
    const c = vr.clients[0]!;
    const before = counts(c.mac);
    const sent = await traffic(c, 30);
    expect(delta(before, counts(c.mac))).toEqual(sent);
  });

  test("traffic to the router's own addresses is not usage", async () => {
    const c = vr.clients[0]!;
    const R = vr.routerNs;
    // A server on the router: what reaches it is counted here, and dropped.
    execOk(R, ["nft", "-f", "-"], { input: 'table inet vrserver {\n  counter rx { }\n  chain input { type filter hook input priority -10; policy accept; udp dport 40077 counter name "rx" drop; }\n}\n' });
    const served = () => Number(/packets (\d+)/.exec(execOk(R, ["nft", "list", "counter", "inet", "vrserver", "rx"]).stdout)![1]);
    try {
      const before = status().hosts;
      sendRaw(c.ns, 4, ROUTER_LAN4, 20, 500);
      sendRaw(c.ns, 6, ROUTER_LAN6, 20, 500, c.slaac);
      await waitFor(() => served() >= 40, "40 datagrams at the router's server", 5000);
      expect(status().hosts).toEqual(before);
    } finally {
      execOk(R, ["nft", "delete", "table", "inet", "vrserver"]);
    }
  });

  test("a software fast path (flowtable-like direct transmit): the ports count every byte, the forward hook none", async () => {
    const c = vr.clients[0]!;
    const R = vr.routerNs;
    const [v4] = vr.clientAddresses(c).ipv4;
    const lanMac = macOf(R, LAN_BRIDGE);
    const wanMac = macOf(R, WAN_IFACE);
    const wanHostMac = macOf(vr.wanNs, "eth0");
    const sink = "udp dport 40000-40999";
    execOk(R, ["nft", "-f", "-"], {
      input: `table netdev vrfast {
  chain lan {
    type filter hook ingress device "${c.port}" priority 0; policy accept;
    ip saddr ${v4} ip daddr ${WAN4} ${sink} ether saddr set ${wanMac} ether daddr set ${wanHostMac} fwd to "${WAN_IFACE}"
    ip6 saddr ${c.slaac} ip6 daddr ${WAN6} ${sink} ether saddr set ${wanMac} ether daddr set ${wanHostMac} fwd to "${WAN_IFACE}"
  }
  chain wan {
    type filter hook ingress device "${WAN_IFACE}" priority 0; policy accept;
    ip daddr ${v4} ${sink} ether saddr set ${lanMac} ether daddr set ${c.mac} fwd to "${c.port}"
    ip6 daddr ${c.slaac} ${sink} ether saddr set ${lanMac} ether daddr set ${c.mac} fwd to "${c.port}"
  }
}
`,
    });
    try {
      // At the ports: every byte of the fast-pathed flows.
      let before = counts(c.mac);
      let sent = await traffic(c, 25);
      expect(delta(before, counts(c.mac))).toEqual(sent);

      // In the forward hook (switching placement keeps the totals): nothing of them.
      const kept = counts(c.mac);
      setHook("forward");
      expect(iptmon(["init"]).code).toBe(0);
      expect(status().hook).toBe("forward");
      expect(counts(c.mac)).toEqual(kept);
      before = counts(c.mac);
      await traffic(c, 25);
      expect(delta(before, counts(c.mac))).toEqual({ rx: 0, rxp: 0, tx: 0, txp: 0 });

      // Back at the ports, from the same totals on.
      setHook("ports");
      expect(iptmon(["init"]).code).toBe(0);
      expect(status().hook).toBe("ports");
      expect(counts(c.mac)).toEqual(before);
      expect(exec(R, ["nft", "list", "table", "inet", "iptmon"]).code).not.toBe(0);
      sent = await traffic(c, 10);
      expect(delta(before, counts(c.mac))).toEqual(sent);
    } finally {
      execOk(R, ["nft", "delete", "table", "netdev", "vrfast"]);
      setHook("ports");
    }
  });

  test("a fresh IPv6 address (privacy, temporary) is counted from its first packet, with no event", async () => {
    const c = vr.clients[1]!;
    const fresh = `${LAN6_PREFIX}7e57:1:2:3`;
    const callsBefore = vr.scriptCalls().length;
    const before = counts(c.mac);
    execOk(c.ns, ["ip", "addr", "add", `${fresh}/64`, "dev", "eth0", "nodad"]);
    sendRaw(c.ns, 6, WAN6, 40, 900, fresh);
    const sinkBefore = vr.sinkCounter(c.ns).packets;
    sendRaw(vr.wanNs, 6, fresh, 30, 1100);
    await waitFor(() => vr.sinkCounter(c.ns).packets >= sinkBefore + 30, "30 datagrams at the fresh address", 5000);
    await waitFor(() => vr.sinkCounter(vr.wanNs).packets > 0, "the upload at the WAN host", 5000);
    expect(delta(before, counts(c.mac))).toEqual({ rx: udpL3Bytes(6, 900, 40), rxp: 40, tx: udpL3Bytes(6, 1100, 30), txp: 30 });
    // Nothing told iptmon of the address: no script call names it, no host has it.
    expect(vr.scriptCalls().slice(callsBefore).some((call) => call.args.includes(fresh))).toBe(false);
    expect(host(c.mac).addresses).not.toContain(fresh);
  });

  test("a port that comes (a new adapter), and one deleted and re-created, are counted once `hotplug net` has hooked them; no other host's counters move", async () => {
    const [c1, c2] = vr.clients as [VRouter["clients"][number], VRouter["clients"][number]];
    const R = vr.routerNs;
    const [v4] = vr.clientAddresses(c2).ipv4;
    vr.stopDhcpClient(c2);
    /** The client's link goes (its port deleted) and comes back on a port of that name. */
    const replug = (from: string, to: string) => {
      execOk(R, ["ip", "link", "del", from]);
      execOk(R, ["ip", "link", "add", to, "type", "veth", "peer", "name", "eth0", "netns", c2.ns, "address", c2.mac]);
      execOk(c2.ns, ["ip", "link", "set", "eth0", "up"]);
      execOk(c2.ns, ["ip", "addr", "add", `${v4}/24`, "dev", "eth0"]);
      execOk(c2.ns, ["ip", "route", "add", "default", "via", ROUTER_LAN4]);
      execOk(R, ["ip", "link", "set", to, "master", LAN_BRIDGE, "up"]);
    };
    /** Traffic before the port's event (not counted), the event, traffic after (counted exactly). */
    const hooked = async (port: string) => {
      const other = counts(c1.mac);
      let before = counts(c2.mac);
      await traffic(c2, 10, false);
      expect(delta(before, counts(c2.mac))).toEqual({ rx: 0, rxp: 0, tx: 0, txp: 0 });
      const r = iptmon(["hotplug", "net", "--verbose"], { ACTION: "add", INTERFACE: port });
      expect([r.code, r.stderr]).toEqual([0, ""]);
      expect(execOk(R, ["nft", "list", "chain", "netdev", "iptmon", "egress"]).stdout).toContain(port);
      expect(counts(c1.mac)).toEqual(other);
      before = counts(c2.mac);
      const sent = await traffic(c2, 10, false);
      expect(delta(before, counts(c2.mac))).toEqual(sent);
      expect(counts(c1.mac)).toEqual(other);
    };
    // A port of a new name: no device of the chains until its event.
    const usb = `usb0-${vr.suffix}`;
    replug(c2.port, usb);
    await hooked(usb);
    // The old port re-created: the last declare left it out (it was gone), so
    // it too counts from its event on.
    replug(usb, c2.port);
    await hooked(c2.port);

    // Another device's event changes nothing, and says why when asked.
    const quiet = iptmon(["hotplug", "net", "--verbose"], { ACTION: "add", INTERFACE: "lo" });
    expect(quiet.code).toBe(0);
    expect(quiet.stderr).toContain("lo: not a LAN port");
  });

});
