import { describe, expect, test } from "bun:test";
import { macOf, NAME_MAX, nameFromAddresses, sanitizeName, sortAddresses, sortHosts, uniqueName } from "../../src/model.ts";

const SAFE = /^[A-Za-z0-9._-]{1,63}$/;

describe("sanitizeName", () => {
  test("a plain name passes unchanged, case kept", () => {
    expect(sanitizeName("Laptop-01", null)).toBe("Laptop-01");
    expect(sanitizeName("my_host.example", null)).toBe("my_host.example");
  });

  test.each([
    ['tv";rm -rf /', "tv-rm--rf"],
    ["tv'; reboot; '", "tv-reboot"],
    ["$(reboot)", "reboot"],
    ["`id`", "id"],
    ["a;b", "a-b"],
    ["*", null],
    ["a*b", "a-b"],
    ["a\nb", "a-b"],
    ["a\r\nb", "a-b"],
    ["a\tb", "a-b"],
    ["name with space", "name-with-space"],
    ["a{b}c", "a-b-c"],
    ["a\0b", "a-b"],
    ["Müller-PC", "M-ller-PC"],
    ["名前", null],
    ["😀phone😀", "phone"],
    ["", null],
    [";;;", null],
    ["--..--", null],
    ["-x-", "x"],
    [".hidden.", "hidden"],
  ])("%j becomes %j", (raw, want) => {
    // A run of bad characters becomes one `-`; at either end it goes.
    const got = sanitizeName(raw, null);
    expect(got).toBe(want);
    if (got !== null) expect(got).toMatch(SAFE);
  });

  test("null, undefined and the empty string give null", () => {
    expect(sanitizeName(null, "lan")).toBeNull();
    expect(sanitizeName(undefined, "lan")).toBeNull();
    expect(sanitizeName("", "lan")).toBeNull();
  });

  test("300 characters are cut to at most 63, with no trailing separator", () => {
    const got = sanitizeName("x".repeat(300), null)!;
    expect(got).toBe("x".repeat(63));
    const cut = sanitizeName(`${"a".repeat(62)}-b${"c".repeat(200)}`, null)!;
    expect(cut.length).toBeLessThanOrEqual(NAME_MAX);
    expect(cut).toBe("a".repeat(62));
    expect(sanitizeName(`${"a".repeat(62)}.${"b".repeat(10)}`, null)).toBe("a".repeat(62));
  });

  test("a hostile 300-byte name is safe and short", () => {
    const raw = `${'";$(reboot)*\n\t'.repeat(20)}host${"\u00ff".repeat(100)}`;
    const got = sanitizeName(raw, null)!;
    expect(got).toMatch(SAFE);
    expect(got.length).toBeLessThanOrEqual(63);
  });

  test("the domain suffix is stripped, case-insensitively", () => {
    expect(sanitizeName("myhost.lan", "lan")).toBe("myhost");
    expect(sanitizeName("myhost.LAN", "lan")).toBe("myhost");
    expect(sanitizeName("MyHost.Lan", "LAN")).toBe("MyHost");
    expect(sanitizeName("myhost.home.arpa", "home.arpa")).toBe("myhost");
    // `myhost` and `myhost.lan` are the same host
    expect(sanitizeName("myhost.lan", "lan")).toBe(sanitizeName("myhost", "lan"));
  });

  test("a domain given with a leading dot works the same", () => {
    expect(sanitizeName("myhost.lan", ".lan")).toBe("myhost");
  });

  test("trailing dots (a fully qualified name) go, before and after the suffix", () => {
    expect(sanitizeName("myhost.", "lan")).toBe("myhost");
    expect(sanitizeName("myhost.lan.", "lan")).toBe("myhost");
    expect(sanitizeName("myhost.lan..", "lan")).toBe("myhost");
  });

  test("only a whole-label suffix is stripped, and only once", () => {
    expect(sanitizeName("myhost.wlan", "lan")).toBe("myhost.wlan");
    expect(sanitizeName("myhostlan", "lan")).toBe("myhostlan");
    expect(sanitizeName("a.lan.lan", "lan")).toBe("a.lan");
    expect(sanitizeName("myhost.other", "lan")).toBe("myhost.other");
  });

  test("a name that is the domain itself is kept, not emptied", () => {
    expect(sanitizeName("lan", "lan")).toBe("lan");
    expect(sanitizeName(".lan", "lan")).toBe("lan");
  });

  test("without a domain nothing is stripped", () => {
    expect(sanitizeName("myhost.lan", null)).toBe("myhost.lan");
  });
});

describe("uniqueName", () => {
  test("a free name is returned unchanged", () => {
    expect(uniqueName("android", new Set())).toBe("android");
    expect(uniqueName("android", new Set(["phone"]))).toBe("android");
  });

  test("taken names get -2, -3, …", () => {
    expect(uniqueName("android", new Set(["android"]))).toBe("android-2");
    expect(uniqueName("android", new Set(["android", "android-2"]))).toBe("android-3");
    expect(uniqueName("android", new Set(["android", "android-3"]))).toBe("android-2");
  });

  test("comparison is case-insensitive (the taken set is lower case); the case of the base is kept", () => {
    expect(uniqueName("Android", new Set(["android"]))).toBe("Android-2");
    expect(uniqueName("Android", new Set(["android", "android-2"]))).toBe("Android-3");
  });

  test("a 63-character base is cut so base+suffix stays within 63", () => {
    const base = "x".repeat(63);
    const two = uniqueName(base, new Set([base]));
    expect(two).toBe(`${"x".repeat(61)}-2`);
    expect(two.length).toBe(63);
    const ten = uniqueName(base, new Set([base, ...Array.from({ length: 8 }, (_, i) => `${"x".repeat(61)}-${i + 2}`)]));
    expect(ten).toBe(`${"x".repeat(60)}-10`);
    expect(ten.length).toBe(63);
  });
});

describe("nameFromAddresses", () => {
  test("the first address, colons as dashes", () => {
    expect(nameFromAddresses(["192.168.1.5", "fd00::5"])).toBe("192.168.1.5");
    expect(nameFromAddresses(["fd00::1:5"])).toBe("fd00--1-5");
    expect(nameFromAddresses(["2001:db8::"])).toBe("2001-db8");
  });

  test("the result is always a safe name", () => {
    for (const a of ["fd00::1", "::1", "1::", "2001:db8:1234:5678:9abc:def0:1234:5678", "10.0.0.1"]) expect(nameFromAddresses([a])).toMatch(SAFE);
  });

  test("no address gives `unknown`", () => {
    expect(nameFromAddresses([])).toBe("unknown");
  });
});

describe("sortAddresses", () => {
  test("IPv4 before IPv6, numeric (not text) order, duplicates removed", () => {
    expect(sortAddresses(["fd00::10", "192.168.1.10", "fd00::2", "192.168.1.9", "10.0.0.1", "192.168.1.10"])).toEqual([
      "10.0.0.1",
      "192.168.1.9",
      "192.168.1.10",
      "fd00::2",
      "fd00::10",
    ]);
  });

  test("compares IPv6 by bytes, not by compressed text", () => {
    // fd00::aaaa is fd00:0:0:0:0:0:0:aaaa, smaller than fd00::1:65
    expect(sortAddresses(["fd00::1:65", "fd00::aaaa"])).toEqual(["fd00::aaaa", "fd00::1:65"]);
  });

  test("accepts any iterable", () => {
    expect(sortAddresses(new Set(["fd00::1", "1.2.3.4"]))).toEqual(["1.2.3.4", "fd00::1"]);
  });
});

describe("macOf and sortHosts", () => {
  test("only MAC keys have a MAC", () => {
    expect(macOf("02:00:00:00:00:01")).toBe("02:00:00:00:00:01");
    expect(macOf("duid:000100012c")).toBeNull();
    expect(macOf("host:nas")).toBeNull();
  });

  test("hosts sort by name", () => {
    const hs = sortHosts([
      { key: "b", name: "tv", addresses: [] },
      { key: "a", name: "laptop", addresses: [] },
      { key: "c", name: "nas", addresses: [] },
    ]);
    expect(hs.map((h) => h.name)).toEqual(["laptop", "nas", "tv"]);
  });
});
