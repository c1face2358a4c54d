import { describe, expect, test } from "bun:test";
import { inSubnet, isSubnetBroadcast, parseAddress, parseDuid, parseMac, parseSubnet, untrackableReason } from "../../src/addr.ts";

const addr = (s: string) => {
  const a = parseAddress(s);
  if (!a) throw new Error(`test address does not parse: ${s}`);
  return a;
};
const net = (s: string) => {
  const n = parseSubnet(s);
  if (!n) throw new Error(`test subnet does not parse: ${s}`);
  return n;
};

describe("parseMac", () => {
  test("lower-cases and keeps colons", () => {
    expect(parseMac("AA:BB:CC:DD:EE:0F")).toBe("aa:bb:cc:dd:ee:0f");
  });

  test("accepts `-` separators, even mixed with `:`, and surrounding whitespace", () => {
    expect(parseMac("AA-BB-CC-DD-EE-0F")).toBe("aa:bb:cc:dd:ee:0f");
    expect(parseMac("aa:bb-cc:dd-ee:0f")).toBe("aa:bb:cc:dd:ee:0f");
    expect(parseMac(" aa:bb:cc:dd:ee:0f\n")).toBe("aa:bb:cc:dd:ee:0f");
  });

  test("refuses the broadcast and the all-zero MAC in any spelling", () => {
    expect(parseMac("ff:ff:ff:ff:ff:ff")).toBeNull();
    expect(parseMac("FF-FF-FF-FF-FF-FF")).toBeNull();
    expect(parseMac("00:00:00:00:00:00")).toBeNull();
    expect(parseMac("00-00-00-00-00-00")).toBeNull();
  });

  test("refuses garbage", () => {
    for (const s of [
      "",
      "aabbccddeeff", // no separators
      "aa:bb:cc:dd:ee", // five octets
      "aa:bb:cc:dd:ee:ff:00", // seven octets
      "a:b:c:d:e:f", // single digits
      "aa:bb:cc:dd:ee:fg",
      "aa.bb.cc.dd.ee.ff",
      "aa:bb:cc:dd:ee:ff;reboot",
      "$(reboot)",
      "00:01:00:01:2c:00:00:00:02:00:00:00:00:01", // a DUID
    ])
      expect(parseMac(s)).toBeNull();
  });
});

describe("parseAddress", () => {
  test("IPv4: dotted quad, trimmed", () => {
    expect(parseAddress("192.168.1.5")).toEqual({ family: 4, text: "192.168.1.5", bytes: Uint8Array.from([192, 168, 1, 5]) });
    expect(addr(" 10.0.0.1 ").text).toBe("10.0.0.1");
    expect(addr("0.0.0.0").text).toBe("0.0.0.0");
    expect(addr("255.255.255.255").text).toBe("255.255.255.255");
  });

  test("IPv4: leading zeros (octal in inet_aton) and malformed quads are refused", () => {
    for (const s of ["192.168.01.1", "00.1.2.3", "010.0.0.1", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1.2.3.-4", "1.2.3.4/24", "1..2.3", "0x1.2.3.4", "1.2.3.4 5"])
      expect(parseAddress(s)).toBeNull();
  });

  test("IPv6: lower case, leading zeros dropped, the longest zero run compressed (RFC 5952)", () => {
    expect(addr("2001:0DB8:0000:0000:0000:0000:0000:0001").text).toBe("2001:db8::1");
    expect(addr("2001:db8::0:1").text).toBe("2001:db8::1");
    expect(addr("2001:db8:0:0:1:0:0:1").text).toBe("2001:db8::1:0:0:1");
    expect(addr("2001:db8:0:1:0:0:0:1").text).toBe("2001:db8:0:1::1");
    expect(addr("fd00:0:0:0:0:0:1:65").text).toBe("fd00::1:65");
  });

  test("IPv6: on a tie between zero runs the first one is compressed", () => {
    expect(addr("1:0:0:2:0:0:3:4").text).toBe("1::2:0:0:3:4");
    expect(addr("2001:db8:0:0:1:0:0:1").text).toBe("2001:db8::1:0:0:1");
  });

  test("IPv6: a single zero group is never shortened to `::`", () => {
    expect(addr("1:2:3:4:5:6:7:0").text).toBe("1:2:3:4:5:6:7:0");
    expect(addr("1:2:3:4:5:6:7::").text).toBe("1:2:3:4:5:6:7:0");
    expect(addr("::2:3:4:5:6:7:8").text).toBe("0:2:3:4:5:6:7:8");
    expect(addr("2001:db8:0:1:1:1:1:1").text).toBe("2001:db8:0:1:1:1:1:1");
  });

  test("IPv6: the unspecified and loopback addresses, runs at either end", () => {
    expect(addr("0:0:0:0:0:0:0:0").text).toBe("::");
    expect(addr("::").text).toBe("::");
    expect(addr("0:0:0:0:0:0:0:1").text).toBe("::1");
    expect(addr("1::").text).toBe("1::");
    expect(addr("fe80:0:0:0:0:0:0:0").text).toBe("fe80::");
  });

  test("IPv6 with an embedded IPv4 tail gets the right bytes", () => {
    const nat64 = addr("64:ff9b::10.0.0.1");
    expect(nat64.family).toBe(6);
    expect(Array.from(nat64.bytes.slice(12))).toEqual([10, 0, 0, 1]);
    expect(nat64.text).toBe("64:ff9b::a00:1");
    expect(Array.from(addr("1:2:3:4:5:6:1.2.3.4").bytes)).toEqual([0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 1, 2, 3, 4]);
    const mapped = addr("::ffff:192.168.1.1");
    expect(mapped.family).toBe(6);
    expect(Array.from(mapped.bytes)).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 168, 1, 1]);
  });

  test("IPv6 with a bad embedded IPv4 tail is refused", () => {
    for (const s of ["::ffff:1.2.3.04", "::ffff:1.2.3", "::ffff:1.2.3.256", "1:2:3:4:5:6:7:1.2.3.4", "::1.2.3.4:5", "1.2.3.4::"]) expect(parseAddress(s)).toBeNull();
  });

  test("IPv6: zone ids are refused", () => {
    expect(parseAddress("fe80::1%eth0")).toBeNull();
    expect(parseAddress("fe80::1%br-lan")).toBeNull();
    expect(parseAddress("fe80::1%2")).toBeNull();
  });

  test("IPv6: malformed texts are refused", () => {
    for (const s of ["1:2:3:4:5:6:7:8:9", "1::2::3", "12345::", ":1:2:3:4:5:6:7", "1:2:3:4:5:6:7:", ":::", "1::2:3:4:5:6:7:8", "g::1", "[::1]", "::1/128", "fd00:: 1", "1:2:3:4:5:6:7"])
      expect(parseAddress(s)).toBeNull();
    // Whitespace around a valid address is trimmed, inside it is not.
    expect(addr("fd00::1 ").text).toBe("fd00::1");
  });

  test("the canonical text parses back to itself", () => {
    for (const s of ["2001:db8::1:0:0:1", "1::2:0:0:3:4", "fd00::1:65", "::", "::1", "1:2:3:4:5:6:7:0", "192.168.1.5"]) expect(addr(s).text).toBe(s);
  });
});

describe("parseSubnet", () => {
  test("masks host bits and prints the canonical network", () => {
    const n = net("192.168.1.77/24");
    expect(n.text).toBe("192.168.1.0/24");
    expect(n.family).toBe(4);
    expect(n.prefix).toBe(24);
    expect(Array.from(n.bytes)).toEqual([192, 168, 1, 0]);
    expect(net("10.255.255.255/9").text).toBe("10.128.0.0/9");
    expect(net("FD00:0:0:0:1234::1/64").text).toBe("fd00::/64");
    expect(net("2001:db8:abcd:12ff::1/56").text).toBe("2001:db8:abcd:1200::/56");
  });

  test("no prefix means a single host; /0 is everything", () => {
    expect(net("10.0.0.1").text).toBe("10.0.0.1/32");
    expect(net("fd00::1").text).toBe("fd00::1/128");
    expect(net("1.2.3.4/0").text).toBe("0.0.0.0/0");
    expect(net("fd00::1/0").text).toBe("::/0");
  });

  test("refuses bad prefixes and addresses", () => {
    for (const s of ["10.0.0.0/33", "fd00::/129", "10.0.0.0/x", "10.0.0.0/", "10.0.0.0/-1", "10/8", "10.0.0.0/8/1", "10.0.0.0/1000", "", "/24"]) expect(parseSubnet(s)).toBeNull();
  });
});

describe("inSubnet", () => {
  test("matches exactly the addresses under the prefix", () => {
    const lan = net("192.168.1.0/24");
    expect(inSubnet(addr("192.168.1.0"), lan)).toBe(true);
    expect(inSubnet(addr("192.168.1.255"), lan)).toBe(true);
    expect(inSubnet(addr("192.168.2.1"), lan)).toBe(false);
    expect(inSubnet(addr("192.168.0.255"), lan)).toBe(false);
  });

  test("prefixes that are not byte aligned", () => {
    const n = net("10.0.0.64/27");
    expect(inSubnet(addr("10.0.0.64"), n)).toBe(true);
    expect(inSubnet(addr("10.0.0.95"), n)).toBe(true);
    expect(inSubnet(addr("10.0.0.96"), n)).toBe(false);
    expect(inSubnet(addr("10.0.0.63"), n)).toBe(false);
    const v6 = net("fd00:0:0:8000::/49");
    expect(inSubnet(addr("fd00:0:0:ffff::1"), v6)).toBe(true);
    expect(inSubnet(addr("fd00:0:0:7fff::1"), v6)).toBe(false);
  });

  test("never across families, even for v4-mapped addresses", () => {
    expect(inSubnet(addr("::ffff:192.168.1.5"), net("192.168.1.0/24"))).toBe(false);
    expect(inSubnet(addr("192.168.1.5"), net("::/0"))).toBe(false);
  });

  test("/0 holds everything of its family", () => {
    expect(inSubnet(addr("8.8.8.8"), net("0.0.0.0/0"))).toBe(true);
    expect(inSubnet(addr("2001:db8::1"), net("::/0"))).toBe(true);
  });
});

describe("untrackableReason", () => {
  test.each([
    ["127.0.0.1", "loopback"],
    ["127.255.0.9", "loopback"],
    ["169.254.10.20", "link-local v4"],
    ["fe80::1", "link-local v6"],
    ["febf:ffff::1", "link-local v6, end of fe80::/10"],
    ["224.0.0.1", "multicast v4"],
    ["239.255.255.250", "multicast v4 (SSDP)"],
    ["ff02::1", "all-nodes"],
    ["ff02::2", "all-routers"],
    ["ff05::1:3", "multicast v6"],
    ["::", "unspecified v6"],
    ["::1", "loopback v6"],
    ["255.255.255.255", "limited broadcast"],
    ["0.0.0.0", "unspecified v4"],
    ["0.1.2.3", "this network"],
    ["240.0.0.1", "reserved"],
    ["::ffff:192.168.1.5", "v4-mapped"],
  ])("%s (%s) is never a host", (s) => {
    const why = untrackableReason(addr(s));
    expect(why).not.toBeNull();
    expect(why).toContain(addr(s).text);
  });

  test.each(["192.168.1.5", "10.0.0.1", "100.64.0.1", "8.8.8.8", "fd00::1", "2001:db8::5", "fec0::1", "fc00::1"])("%s may be tracked", (s) => {
    expect(untrackableReason(addr(s))).toBeNull();
  });
});

describe("isSubnetBroadcast", () => {
  const lan = net("192.168.1.0/24");
  test("the all-ones host part of an IPv4 subnet", () => {
    expect(isSubnetBroadcast(addr("192.168.1.255"), lan)).toBe(true);
    expect(isSubnetBroadcast(addr("10.0.0.3"), net("10.0.0.0/30"))).toBe(true);
    expect(isSubnetBroadcast(addr("10.0.0.127"), net("10.0.0.0/25"))).toBe(true);
  });

  test("not other addresses, not outside the subnet", () => {
    expect(isSubnetBroadcast(addr("192.168.1.254"), lan)).toBe(false);
    expect(isSubnetBroadcast(addr("192.168.1.0"), lan)).toBe(false);
    expect(isSubnetBroadcast(addr("192.168.2.255"), lan)).toBe(false);
  });

  test("/31 and /32 have no broadcast address (RFC 3021), IPv6 has none", () => {
    expect(isSubnetBroadcast(addr("10.0.0.1"), net("10.0.0.0/31"))).toBe(false);
    expect(isSubnetBroadcast(addr("10.0.0.1"), net("10.0.0.1/32"))).toBe(false);
    expect(isSubnetBroadcast(addr("fd00::ffff:ffff:ffff:ffff"), net("fd00::/64"))).toBe(false);
  });
});

describe("parseDuid", () => {
  test("hex bytes with colons, lower-cased and trimmed", () => {
    expect(parseDuid("00:01:00:01:2C:00:00:00:02:00:00:00:00:01")).toBe("00:01:00:01:2c:00:00:00:02:00:00:00:00:01");
    expect(parseDuid(" 00:03:00:01:02:00:00:00:00:01\n")).toBe("00:03:00:01:02:00:00:00:00:01");
    expect(parseDuid("00:01")).toBe("00:01");
  });

  test("at most 130 bytes (DUID 128 + type)", () => {
    expect(parseDuid(Array(130).fill("ab").join(":"))).not.toBeNull();
    expect(parseDuid(Array(131).fill("ab").join(":"))).toBeNull();
  });

  test("refuses a single byte, missing colons, single digits, garbage", () => {
    for (const s of ["00", "0001", "0:1", "00:01:", ":00:01", "00:0g", "00-01-02", "00:01;reboot", ""]) expect(parseDuid(s)).toBeNull();
  });
});
