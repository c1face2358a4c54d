/** Load: files, `ip` output and rtnetlink replies through a fake process boundary. */
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { parseConfig } from "../../src/config.ts";
import { RTM, RtNetlink } from "../../src/netlink/rtnetlink.ts";
import { loadLan, loadNeighbours, loadOdhcpdLeases, loadStatic, readHostsFiles } from "../../src/sources/load.ts";
import { fakeSys, ok } from "../helpers/fakesys.ts";
import { replaySocket, replies, requestType } from "../helpers/rtnl-replay.ts";

const IP = (name: string) => readFileSync(`${import.meta.dir}/../fixtures/rtnetlink/ip-${name}.txt`, "utf8");
/** `ip` as it answered for the namespace test/fixtures/rtnetlink was captured in (nosuch0: no such device). */
const IP_COMMANDS = {
  "ip addr show dev br-lan": ok(IP("addr-show-dev-br-lan")),
  "ip addr show dev nosuch0": { code: 1, stdout: "", stderr: 'Device "nosuch0" does not exist.\n' },
  "ip addr show": ok(IP("addr-show")),
  "ip neigh show": ok(IP("neigh-show")),
};
/** The kernel of that namespace; `refuse`: request types it refuses (EINVAL, as an old kernel might), `silent`: those it never answers. */
function kernel(o: { refuse?: number[]; silent?: number[] } = {}) {
  const sock = replaySocket((req) => {
    const type = requestType(req);
    if (o.silent?.includes(type)) return "timeout";
    if (o.refuse?.includes(type)) {
      const err = Uint8Array.from(replies("link-missing")[0]!);
      new DataView(err.buffer).setInt32(16, -22, true);
      return [err];
    }
    if (type === RTM.GETADDR) return replies("addresses");
    if (type === RTM.GETNEIGH) return replies("neighbours");
    return replies(Buffer.from(req.subarray(36, 42)).toString() === "br-lan" ? "link-br-lan" : "link-missing");
  });
  return { sock, rt: new RtNetlink(sock) };
}
const LAN_CONFIGS = [
  "config iptmon\n\tlist lan_interface 'br-lan'\n",
  "config iptmon\n\tlist lan_interface 'br-lan'\n\tlist lan_interface 'nosuch0'\n\tlist lan_subnet '10.99.0.0/16'\n",
  "config iptmon\n\tlist lan_subnet '192.168.7.0/24'\n",
  "config iptmon\n\tlist lan_interface 'nosuch0'\n",
];
const lanOf = (sys: ReturnType<typeof fakeSys>, conf: string) => {
  const lan = loadLan(sys, parseConfig(conf, "/c"));
  return { subnets: lan.subnets.map((n) => n.text), own: [...lan.own], warnings: lan.warnings };
};

test("loadLan over rtnetlink: what it reads through `ip` for the same kernel, with no `ip` run", () => {
  for (const conf of LAN_CONFIGS) {
    const viaNetlink = fakeSys({ commands: IP_COMMANDS, rtnetlink: kernel().rt });
    const viaIp = fakeSys({ commands: IP_COMMANDS });
    expect(lanOf(viaNetlink, conf)).toEqual(lanOf(viaIp, conf));
    expect(viaNetlink.calls).toEqual([]);
    expect(viaIp.calls.length).toBeGreaterThan(0);
  }
  expect(lanOf(fakeSys({ rtnetlink: kernel().rt }), LAN_CONFIGS[1]!).warnings).toEqual(['cannot read addresses of LAN interface nosuch0: Device "nosuch0" does not exist.']);
});

test("loadLan over rtnetlink: one address dump serves every LAN interface", () => {
  const k = kernel();
  lanOf(fakeSys({ rtnetlink: k.rt }), "config iptmon\n\tlist lan_interface 'br-lan'\n\tlist lan_interface 'br-lan'\n\tlist lan_interface 'nosuch0'\n");
  expect(k.sock.sent.map(requestType).filter((t) => t === RTM.GETADDR)).toEqual([RTM.GETADDR]);
});

test("loadNeighbours over rtnetlink: the usable neighbours `ip neigh show` gives, with no `ip` run", () => {
  const cfg = parseConfig("", "/c");
  const viaNetlink = fakeSys({ commands: IP_COMMANDS, rtnetlink: kernel().rt });
  const fromIp = loadNeighbours(fakeSys({ commands: IP_COMMANDS }), cfg);
  expect(loadNeighbours(viaNetlink, cfg)).toEqual(fromIp);
  expect(fromIp.length).toBe(9);
  expect(viaNetlink.calls).toEqual([]);
});

test("a request the kernel refuses is read through `ip` instead", () => {
  const cfg = parseConfig("config iptmon\n\tlist lan_interface 'br-lan'\n", "/c");
  const sys = fakeSys({ commands: IP_COMMANDS, rtnetlink: kernel({ refuse: [RTM.GETADDR, RTM.GETNEIGH] }).rt });
  expect(lanOf(sys, LAN_CONFIGS[0]!)).toEqual(lanOf(fakeSys({ commands: IP_COMMANDS }), LAN_CONFIGS[0]!));
  expect(loadNeighbours(sys, cfg)).toEqual(loadNeighbours(fakeSys({ commands: IP_COMMANDS }), cfg));
  expect(sys.calls.map((c) => [c.cmd, ...c.args].join(" "))).toEqual(["ip addr show dev br-lan", "ip neigh show"]);
});

test("a kernel that does not answer in the sources' time limit is that source failing: a warning or no neighbours, and no `ip` after it", () => {
  const sys = fakeSys({ commands: IP_COMMANDS, rtnetlink: kernel({ silent: [RTM.GETADDR, RTM.GETNEIGH] }).rt });
  const lan = lanOf(sys, LAN_CONFIGS[0]!);
  expect(lan.warnings).toEqual(["cannot read addresses of LAN interface br-lan: no answer from rtnetlink in 5000 ms", "no LAN subnets known: every host is ignored (set lan_interface or lan_subnet)"]);
  expect(loadNeighbours(sys, parseConfig("", "/c"))).toEqual([]);
  expect(sys.calls).toEqual([]);
});

test("loadLan: the LAN interface's subnets and the router's own addresses, also a point-to-point one", () => {
  const cfg = parseConfig("config iptmon\n\tlist lan_interface 'br-lan'\n\tlist lan_subnet '10.9.0.0/16'\n", "/c");
  const sys = fakeSys({
    commands: {
      "ip addr show dev br-lan": ok(
        "4: br-lan: <UP>\n    inet 192.168.1.1/24 brd 192.168.1.255 scope global br-lan\n    inet 10.0.0.1 peer 10.0.0.2/31 scope global br-lan\n    inet6 fd00::1/64 scope global\n    inet6 fe80::1/64 scope link\n",
      ),
    },
  });
  const lan = loadLan(sys, cfg);
  expect(lan.subnets.map((n) => n.text)).toEqual(["10.9.0.0/16", "192.168.1.0/24", "10.0.0.2/31", "fd00::/64"]);
  expect([...lan.own].sort()).toEqual(["10.0.0.1", "192.168.1.1", "fd00::1", "fe80::1"]);
  expect(lan.warnings).toEqual([]);
});

test("loadLan: a missing interface is a warning, and no subnet at all says every host is ignored", () => {
  const lan = loadLan(fakeSys({ commands: { "ip addr show dev br-lan": { code: 1, stdout: "", stderr: 'Device "br-lan" does not exist.\n' } } }), parseConfig("", "/c"));
  expect(lan.subnets).toEqual([]);
  expect(lan.warnings.join("\n")).toContain('Device "br-lan" does not exist.');
  expect(lan.warnings.join("\n")).toContain("every host is ignored");
});

test("loadStatic: addn-hosts naming a directory reads its files; paths come from UCI dhcp", () => {
  const sys = fakeSys({
    files: {
      "/etc/config/dhcp": "config dnsmasq\n\toption leasefile '/tmp/my.leases'\n\tlist addnhosts '/tmp/extra'\n\nconfig odhcpd 'odhcpd'\n\toption leasefile '/tmp/hosts/odhcpd'\n",
      "/tmp/extra/a": "192.168.1.60 printer\n",
      "/tmp/extra/b": "192.168.1.61 scanner\n",
    },
  });
  const st = loadStatic(sys, parseConfig("config iptmon\n\tlist hostsdir '/none'\n", "/c"));
  expect(st.leasefile).toBe("/tmp/my.leases");
  expect(st.odhcpdState).toBe("/tmp/hosts/odhcpd");
  expect(readHostsFiles(sys, st.hostsFiles).entries.map((e) => [e.address, e.names])).toEqual([
    ["192.168.1.60", ["printer"]],
    ["192.168.1.61", ["scanner"]],
  ]);
});

test("loadOdhcpdLeases: one IPv6 lease per address, keyed by DUID, with its hostname", () => {
  const sys = fakeSys({ files: { "/s": "# br-lan 000300010200000000aa 1 tablet 1900000000 4 128 fd00::5/128 fd00::6/128\n" } });
  expect(loadOdhcpdLeases(sys, "/s")).toEqual([
    { expires: 0, mac: null, duid: "00:03:00:01:02:00:00:00:00:aa", address: "fd00::5", family: 6, hostname: "tablet" },
    { expires: 0, mac: null, duid: "00:03:00:01:02:00:00:00:00:aa", address: "fd00::6", family: 6, hostname: "tablet" },
  ]);
  expect(loadOdhcpdLeases(sys, "")).toEqual([]);
  expect(loadOdhcpdLeases(sys, "/missing")).toEqual([]);
});
