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
/** Each [input, canonical text] pair: what `parse` makes of the input. */
const expectTexts = (parse: (s: string) => { text: string }, pairs: [string, string][]) => {
  for (const [input, text] of pairs) expect(parse(input).text).toBe(text);
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
    expectTexts(addr, [
      [" 10.0.0.1 ", "10.0.0.1"],
      ["0.0.0.0", "0.0.0.0"],
      ["255.255.255.255", "255.255.255.255"],
    ]);
  });

  test("IPv4: leading zeros (octal in inet_aton) and malformed quads are refused", () => {
    for (const s of ["192.168.01.1", "00.1.2.3", "010.0.0.1", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1.2.3.-4", "1.2.3.4/24", "1..2.3", "0x1.2.3.4", "1.2.3.4 5"])
      expect(parseAddress(s)).toBeNull();
  });

  test("IPv6: lower case, leading zeros dropped, the longest zero run compressed (RFC 5952)", () => {
    expectTexts(addr, [
      ["2001:0DB8:0000:0000:0000:0000:0000:0001", "2001:db8::1"],
      ["2001:db8::0:1", "2001:db8::1"],
      ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"],
      ["2001:db8:0:1:0:0:0:1", "2001:db8:0:1::1"],
      ["fd00:0:0:0:0:0:1:65", "fd00::1:65"],
    ]);
  });

  test("IPv6: on a tie between zero runs the first one is compressed", () => {
    expectTexts(addr, [
      ["1:0:0:2:0:0:3:4", "1::2:0:0:3:4"],
      ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"],
    ]);
  });

  test("IPv6: a single zero group is never shortened to `::`", () => {
    expectTexts(addr, [
      ["1:2:3:4:5:6:7:0", "1:2:3:4:5:6:7:0"],
      ["1:2:3:4:5:6:7::", "1:2:3:4:5:6:7:0"],
      ["::2:3:4:5:6:7:8", "0:2:3:4:5:6:7:8"],
      ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"],
    ]);
  });

  test("IPv6: the unspecified and loopback addresses, runs at either end", () => {
    expectTexts(addr, [
      ["0:0:0:0:0:0:0:0", "::"],
      ["::", "::"],
      ["0:0:0:0:0:0:0:1", "::1"],
      ["1::", "1::"],
      ["fe80:0:0:0:0:0:0:0", "fe80::"],
    ]);
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
    expectTexts(net, [
      ["10.255.255.255/9", "10.128.0.0/9"],
      ["FD00:0:0:0:1234::1/64", "fd00::/64"],
      ["2001:db8:abcd:12ff::1/56", "2001:db8:abcd:1200::/56"],
    ]);
  });

  test("no prefix means a single host; /0 is everything", () => {
    expectTexts(net, [
      ["10.0.0.1", "10.0.0.1/32"],
      ["fd00::1", "fd00::1/128"],
      ["1.2.3.4/0", "0.0.0.0/0"],
      ["fd00::1/0", "::/0"],
    ]);
  });

  test("refuses bad prefixes and addresses", () => {
    for (const s of ["10.0.0.0/33", "fd00::/129", "10.0.0.0/x", "10.0.0.0/", "10.0.0.0/-1", "10/8", "10.0.0.0/8/1", "10.0.0.0/1000", "", "/24"]) expect(parseSubnet(s)).toBeNull();
  });
});

describe("inSubnet", () => {
  /** Every address of `inside` is in `subnet`, none of `outside` is. */
  const expectMembers = (subnet: string, inside: string[], outside: string[]) => {
    for (const a of inside) expect(inSubnet(addr(a), net(subnet))).toBe(true);
    for (const a of outside) expect(inSubnet(addr(a), net(subnet))).toBe(false);
  };

  test("matches exactly the addresses under the prefix", () => {
    expectMembers("192.168.1.0/24", ["192.168.1.0", "192.168.1.255"], ["192.168.2.1", "192.168.0.255"]);
  });

  test("prefixes that are not byte aligned", () => {
    expectMembers("10.0.0.64/27", ["10.0.0.64", "10.0.0.95"], ["10.0.0.96", "10.0.0.63"]);
    expectMembers("fd00:0:0:8000::/49", ["fd00:0:0:ffff::1"], ["fd00:0:0:7fff::1"]);
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
