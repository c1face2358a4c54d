import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { readDnsmasqSettings, readStaticLeases } from "../../src/sources/ucidhcp.ts";
import { parseUci } from "../../src/uci.ts";

const fixture = (name: string) => readFileSync(`${import.meta.dir}/../fixtures/sources/${name}`, "utf8");
const dhcp = parseUci(fixture("dhcp"), "/etc/config/dhcp");
const uci = (text: string) => parseUci(text, "/etc/config/dhcp");

describe("readStaticLeases", () => {
  const { leases, warnings } = readStaticLeases(dhcp);

  test("reads every host section of OpenWrt's dhcp config", () => {
    expect(leases).toEqual([
      { macs: ["00:11:32:aa:bb:cc"], address: "192.168.1.10", name: "nas", line: 48 },
      { macs: ["3c:2a:f4:01:02:03", "3c:2a:f4:01:02:04"], address: "192.168.1.11", name: "printer", line: 55 },
      { macs: ["a4:83:e7:11:22:33", "a4:83:e7:11:22:34"], address: "192.168.1.12", name: "laptop", line: 60 },
      { macs: ["02:de:ad:be:ef:01"], address: null, name: "blocked", line: 68 },
      { macs: ["00:11:22:33:44:56"], address: null, name: "typo", line: 73 },
      { macs: ["02:00:00:00:00:aa"], address: "192.168.1.13", name: "kid$(reboot);*", line: 78 },
    ]);
  });

  test("warns with file:line about each invalid MAC and address, keeping the valid ones", () => {
    expect(warnings).toEqual([
      '/etc/config/dhcp:75: host (unnamed): ignoring invalid MAC "00:11:22:33:44"',
      '/etc/config/dhcp:75: host (unnamed): ignoring invalid MAC "00:11:22:*:*:*"',
      '/etc/config/dhcp:76: host (unnamed): ignoring invalid address "192.168.1.300"',
    ]);
  });

  test("a `list mac` item holding several MACs is split too, duplicates once", () => {
    const { leases } = readStaticLeases(uci(`config host 'h'\n list mac 'aa:aa:aa:aa:aa:01  aa:aa:aa:aa:aa:02'\n list mac AA:AA:AA:AA:AA:01\n`));
    expect(leases[0]?.macs).toEqual(["aa:aa:aa:aa:aa:01", "aa:aa:aa:aa:aa:02"]);
  });

  test("a named section is named in warnings; hostile values are quoted and cut short", () => {
    const bad = `$(reboot);\u001b[2J${"x".repeat(300)}`;
    const { leases, warnings } = readStaticLeases(uci(`config host 'evil'\n option mac '${bad}'\n`));
    expect(leases[0]?.macs).toEqual([]);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toStartWith("/etc/config/dhcp:2: host evil: ignoring invalid MAC ");
    expect(warnings[0]).not.toContain("\u001b");
    expect(warnings[0]!.length).toBeLessThan(160);
  });

  test("a host without MAC, IP or name still comes back, empty", () => {
    expect(readStaticLeases(uci(`config host\n option dns 1\n`)).leases).toEqual([{ macs: [], address: null, name: null, line: 1 }]);
  });

  test("an IPv6 or non-canonical address is canonicalised; the first valid one of a list wins", () => {
    const { leases } = readStaticLeases(uci(`config host\n list ip bogus\n list ip 2001:DB8::0:5\n list ip 10.0.0.1\n`));
    expect(leases[0]?.address).toBe("2001:db8::5");
  });

  test("other section types are not hosts", () => {
    expect(readStaticLeases(uci(`config domain\n option name x\n option ip 10.0.0.1\n`)).leases).toEqual([]);
  });
});

describe("readDnsmasqSettings", () => {
  test("reads leasefile, domain and addnhosts from the dnsmasq section", () => {
    expect(readDnsmasqSettings(dhcp)).toEqual({
      leasefile: "/tmp/dhcp.leases",
      domain: "lan",
      addnHosts: ["/etc/hosts.blocklist", "/tmp/hosts.extra"],
    });
  });

  test("uses the first dnsmasq section only", () => {
    const pkg = uci(`config dnsmasq\n option domain first\nconfig dnsmasq 'second'\n option domain second\n option leasefile /x\n`);
    expect(readDnsmasqSettings(pkg)).toEqual({ leasefile: null, domain: "first", addnHosts: [] });
  });

  test("unset, empty or missing section gives nulls and []", () => {
    expect(readDnsmasqSettings(uci(""))).toEqual({ leasefile: null, domain: null, addnHosts: [] });
    expect(readDnsmasqSettings(uci(`config dnsmasq\n option leasefile ''\n option addnhosts /one\n`))).toEqual({
      leasefile: null,
      domain: null,
      addnHosts: ["/one"],
    });
  });
});
