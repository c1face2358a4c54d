import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { parseHostsFile } from "../../src/sources/hostsfile.ts";

const fixture = (name: string) => readFileSync(`${import.meta.dir}/../fixtures/sources/${name}`, "utf8");

describe("parseHostsFile", () => {
  test("reads OpenWrt's /etc/hosts, localhost and multicast included (filtering is not its job)", () => {
    expect(parseHostsFile(fixture("hosts"))).toEqual([
      { address: "127.0.0.1", family: 4, names: ["localhost"] },
      { address: "::1", family: 6, names: ["localhost", "ip6-localhost", "ip6-loopback"] },
      { address: "ff02::1", family: 6, names: ["ip6-allnodes"] },
      { address: "ff02::2", family: 6, names: ["ip6-allrouters"] },
    ]);
  });

  test("reads a /tmp/hosts file with tabs, aliases and a trailing comment", () => {
    expect(parseHostsFile(fixture("hosts.dhcp.cfg01411c"))).toEqual([
      { address: "192.168.1.10", family: 4, names: ["nas.lan", "nas"] },
      { address: "192.168.1.20", family: 4, names: ["media", "media.lan"] },
      { address: "fd77::10", family: 6, names: ["nas.lan", "nas"] },
    ]);
  });

  test("reads the hosts-format lines of odhcpd's state file and ignores its # lines", () => {
    const entries = parseHostsFile(fixture("odhcpd.state"));
    expect(entries.map((e) => [e.address, e.names[1]])).toEqual([
      ["fd77::1a2", "laptop"],
      ["2001:db8:5:1::1a2", "laptop"],
      ["192.168.77.142", "phone"],
    ]);
  });

  test("canonicalises addresses", () => {
    expect(parseHostsFile("2001:DB8:0:0:0:0:0:0001 a\n010.0.0.1 bad\n")).toEqual([
      { address: "2001:db8::1", family: 6, names: ["a"] },
    ]);
  });

  test("skips lines whose address does not parse, or that name nothing, without throwing", () => {
    const text = [
      "not-an-ip host",
      "fe80::1%eth0 zoned",
      "192.168.1.300 over",
      "192.168.1.7",
      "   # only a comment",
      "\t192.168.1.8\tok\r",
      "#192.168.1.9 commented",
      "192.168.1.10#glued",
    ].join("\n");
    expect(parseHostsFile(text)).toEqual([{ address: "192.168.1.8", family: 4, names: ["ok"] }]);
  });

  test("keeps hostile names raw", () => {
    const long = "h".repeat(300);
    const text = `10.0.0.1 $(reboot) a;b * "q" 'q' Ünïcødé ${long} \`id\`\n`;
    expect(parseHostsFile(text)[0]?.names).toEqual(["$(reboot)", "a;b", "*", '"q"', "'q'", "Ünïcødé", long, "`id`"]);
  });

  test("an empty file has no entries", () => {
    expect(parseHostsFile("")).toEqual([]);
  });
});
