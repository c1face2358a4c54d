import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { parseDnsmasqConf } from "../../src/sources/dnsmasqconf.ts";

const fixture = (name: string) => readFileSync(`${import.meta.dir}/../fixtures/sources/${name}`, "utf8");

describe("parseDnsmasqConf", () => {
  test("reads the conf OpenWrt generates, keeping every addn-hosts", () => {
    expect(parseDnsmasqConf(fixture("dnsmasq.conf.cfg01411c"))).toEqual({
      leasefile: "/tmp/dhcp.leases",
      addnHosts: ["/etc/hosts.blocklist", "/tmp/hosts.extra", "/tmp/hosts"],
      domain: "lan",
    });
  });

  test("an empty conf sets nothing", () => {
    expect(parseDnsmasqConf("")).toEqual({ leasefile: null, addnHosts: [], domain: null });
  });

  // The cases below were checked against dnsmasq 2.90 (which file names it reads).
  test("# starts a comment only at the start or after whitespace", () => {
    const conf = parseDnsmasqConf("#addn-hosts=/no\naddn-hosts=/tmp/h1 # comment\naddn-hosts=/tmp/h#3\naddn-hosts=/tmp/h2\t#tab\n");
    expect(conf.addnHosts).toEqual(["/tmp/h1", "/tmp/h#3", "/tmp/h2"]);
  });

  test("; and backslashes are literal outside quotes (unlike ini)", () => {
    expect(parseDnsmasqConf("addn-hosts=/tmp/h;2\naddn-hosts=/tmp/h\\5\n").addnHosts).toEqual(["/tmp/h;2", "/tmp/h\\5"]);
  });

  test("double quotes may sit anywhere, protect # and take escapes", () => {
    const conf = parseDnsmasqConf('addn-hosts="/tmp/h 4"\naddn-hosts=/tmp/"h #4"\naddn-hosts="/tmp/a\\\\b\\"c"\n');
    expect(conf.addnHosts).toEqual(["/tmp/h 4", "/tmp/h #4", '/tmp/a\\b"c']);
  });

  test("whitespace around key and value is ignored, CRLF too", () => {
    expect(parseDnsmasqConf("  dhcp-leasefile = /tmp/x.leases \r\n").leasefile).toBe("/tmp/x.leases");
  });

  test("values ini would turn into booleans, sections or prototypes stay plain", () => {
    const conf = parseDnsmasqConf("[lan]\ndomain=true\ninterface=__proto__\naddn-hosts[]=/x\n");
    expect(conf.domain).toBe("true");
    expect(conf.addnHosts).toEqual([]);
  });

  test("the domain is the first field; an unconditional domain wins over ranged ones", () => {
    expect(parseDnsmasqConf("domain=lan,192.168.1.0/24,local\n").domain).toBe("lan");
    expect(parseDnsmasqConf("domain=guest,192.168.2.0/24\ndomain=home\ndomain=other\n").domain).toBe("home");
    expect(parseDnsmasqConf("domain=a\ndomain=b\n").domain).toBe("a");
  });

  test("the last dhcp-leasefile wins; empty values and bare keys are ignored", () => {
    const conf = parseDnsmasqConf("dhcp-leasefile=/a\ndhcp-leasefile=/b\naddn-hosts=\naddn-hosts\ninterface=,br-lan,,br-lan\n");
    expect(conf.leasefile).toBe("/b");
    expect(conf.addnHosts).toEqual([]);
  });

  test("other options and garbage lines are ignored", () => {
    const conf = parseDnsmasqConf("dhcp-host=aa:bb,1.2.3.4,$(reboot)\n=novalue\n\u0000\nserver=/lan/\n");
    expect(conf).toEqual({ leasefile: null, addnHosts: [], domain: null });
  });
});
