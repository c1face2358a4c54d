import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { parseLeases } from "../../src/sources/leases.ts";

const fixture = (name: string) => readFileSync(`${import.meta.dir}/../fixtures/sources/${name}`, "utf8");

describe("parseLeases on a lease file", () => {
  // The IPv4 part was written by dnsmasq 2.90 for busybox udhcpc clients that sent
  // hostile hostnames (option 12: "tv;rm -rf", "$(reboot)", "*", "name with space",
  // quotes, non-ASCII, a 200-char label): dnsmasq stored each of them as `*`.
  // The IPv6 part follows dnsmasq's lease.c format (no DHCPv6 client here).
  const { leases, warnings } = parseLeases(fixture("dhcp.leases"));

  test("reads every lease and warns about nothing", () => {
    expect(warnings).toEqual([]);
    expect(leases).toHaveLength(16);
    expect(leases.filter((l) => l.family === 4)).toHaveLength(12);
  });

  test("an IPv4 lease has a MAC and no DUID", () => {
    expect(leases[0]).toEqual({
      expires: 1795749771,
      mac: "02:77:00:00:00:0b",
      duid: null,
      address: "192.168.77.143",
      family: 4,
      hostname: "laptop",
    });
  });

  test("`*` hostnames become null (dnsmasq drops illegal names)", () => {
    const named = leases.filter((l) => l.family === 4 && l.hostname !== null).map((l) => l.hostname);
    expect(named).toEqual(["laptop", "nas", "phone"]);
    // A client id of `*` is fine too.
    expect(leases.find((l) => l.mac === "02:77:00:00:00:20")?.hostname).toBeNull();
  });

  test("an IPv6 lease has a DUID, no MAC", () => {
    expect(leases[12]).toEqual({
      expires: 1795749790,
      mac: null,
      duid: "00:04:8a:1f:e3:2c:9b:40:11:22:33:44:55:66:77:88:99:aa",
      address: "fd77::1a2",
      family: 6,
      hostname: "laptop",
    });
  });

  test("a temporary address (T-prefixed IAID) is read, and expiry 0 (infinite) is kept", () => {
    expect(leases[14]).toMatchObject({ mac: null, family: 6 });
    expect(parseLeases("1795749790 T317890 fd77::9 tmp *\n").leases).toHaveLength(1);
    expect(leases[15]).toMatchObject({ expires: 0, address: "2001:db8::44", hostname: "printer" });
  });
});

describe("parseLeases on odd input", () => {
  test("addresses and MACs are canonicalised", () => {
    const { leases } = parseLeases("100 AA-BB-CC-DD-EE-01 192.168.1.5 x *\n200 7 2001:DB8:0:0::0044 * 00:01:AB\n");
    expect(leases.map((l) => [l.mac, l.address, l.duid])).toEqual([
      ["aa:bb:cc:dd:ee:01", "192.168.1.5", null],
      [null, "2001:db8::44", "00:01:ab"],
    ]);
  });

  test("hostile hostnames are kept raw, never interpreted", () => {
    const long = "a".repeat(300);
    const names = ['"quoted"', "$(reboot)", "a;b", "*x", "Ünïcødé", long, "`id`", "'", "-rf"];
    const text = names.map((n, i) => `1000 02:00:00:00:00:${(i + 16).toString(16)} 10.0.0.${i + 1} ${n} *`).join("\n");
    const { leases, warnings } = parseLeases(text);
    expect(warnings).toEqual([]);
    expect(leases.map((l) => l.hostname)).toEqual(names);
  });

  test("malformed lines are warned about by line number and skipped, never thrown", () => {
    const text = [
      "1000 02:00:00:00:00:01 10.0.0.1 good *", // 1
      "garbage", // 2
      "1000 02:00:00:00:00:02 10.0.0.2 name with space *", // 3
      "soon 02:00:00:00:00:03 10.0.0.3 x *", // 4
      "1000 02:00:00:00:00:04 10.0.0.300 x *", // 5
      "1000 20-00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff:00:11:22:33 10.0.0.5 ib *", // 6
      "1000 00:00:00:00:00:00 10.0.0.6 zero *", // 7
      "duid 00:01:00:01:32:9b:0b:13:ca:68:29:f4:5e:ff", // 8
      "1000 notanumber fd00::1 x 00:01", // 9
      "1000 5 fd00::2 x not-a-duid", // 10
      "1000 6 fd00::3 fine 00:01:02", // 11
      "", // 12
    ].join("\n");
    const { leases, warnings } = parseLeases(text);
    expect(leases.map((l) => l.address)).toEqual(["10.0.0.1", "fd00::3"]);
    expect(warnings.map((w) => w.match(/line (\d+):/)?.[1])).toEqual(["2", "3", "4", "5", "6", "7", "9", "10"]);
    expect(warnings[0]).toBe("lease file line 2: expected 5 fields, found 1, skipped");
    expect(warnings[4]).toContain("not an Ethernet MAC address");
  });

  test("warnings quote hostile fields escaped and cut short", () => {
    const { warnings } = parseLeases(`1000 ${"\u001b[31m".repeat(30)} 10.0.0.1 x *\n`);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).not.toContain("\u001b");
    expect(warnings[0]!.length).toBeLessThan(200);
  });

  test("an empty file has no leases", () => {
    expect(parseLeases("")).toEqual({ leases: [], warnings: [] });
  });
});
