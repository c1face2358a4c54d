/** Load: files and `ip` output through a fake process boundary. */
import { expect, test } from "bun:test";
import { parseConfig } from "../../src/config.ts";
import { loadLan, loadOdhcpdLeases, loadStatic, readHostsFiles } from "../../src/sources/load.ts";
import { fakeSys, ok } from "../helpers/fakesys.ts";

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
