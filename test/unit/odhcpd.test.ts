import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { parseOdhcpdState } from "../../src/sources/odhcpd.ts";

// Written to the format of odhcpd's statefiles.c:
//   # <iface> <hex duid> <hex iaid> <[broken\x20]hostname|-> <valid-until> <host-id> <prefix-len> [<addr>/<len>...]
const fixture = (name: string) => readFileSync(`${import.meta.dir}/../fixtures/sources/${name}`, "utf8");

describe("parseOdhcpdState", () => {
  const leases = parseOdhcpdState(fixture("odhcpd.state"));

  test("reads the IA_NA leases with every address, DUID in colon form", () => {
    expect(leases).toEqual([
      {
        duid: "00:01:00:01:2b:3c:4d:5e:02:77:00:00:00:0a",
        hostname: "laptop",
        addresses: ["fd77::1a2", "2001:db8:5:1::1a2"],
      },
      { duid: "00:04:01:23:45:67:89:ab:cd:ef:01:23:45:67:89:ab:cd:ef", hostname: null, addresses: ["fd77::77"] },
      { duid: "00:03:00:01:02:77:00:00:00:0b", hostname: null, addresses: ["fd77::1b7"] },
    ]);
  });

  test("`-` and names odhcpd marked broken become null", () => {
    expect(leases.map((l) => l.hostname)).toEqual(["laptop", null, null]);
  });

  test("skips prefix delegations, expired leases, DHCPv4 leases and hosts lines", () => {
    const duids = leases.map((l) => l.duid);
    expect(duids).not.toContain("00:03:00:01:02:77:00:00:00:cc"); // PD /62
    expect(duids).not.toContain("00:03:00:01:02:77:00:00:00:dd"); // expired: no addresses
    expect(leases.some((l) => l.addresses.includes("192.168.77.142"))).toBe(false);
  });

  test("canonicalises addresses and lists each once", () => {
    const [lease] = parseOdhcpdState("# lan 0001aa 1 pc 100 5 128 2001:DB8:0:0::5/128 2001:db8::5/128\n");
    expect(lease?.addresses).toEqual(["2001:db8::5"]);
  });

  test("keeps hostile names raw, even one with spaces (read from both ends)", () => {
    const long = "n".repeat(300);
    for (const name of ["$(reboot)", "a;b", "*", "Ünïcødé", long, "two words"]) {
      const [lease] = parseOdhcpdState(`# br-lan 0001aa 1 ${name} 1795749800 1a2 128 fd77::1a2/128\n`);
      expect(lease?.hostname).toBe(name);
    }
  });

  test("skips malformed lines without throwing", () => {
    const text = [
      "#br-lan 0001aa 1 x 100 5 128 fd00::5/128", // no space after #
      "# br-lan 0001aa 1 x", // too short
      "# br-lan zz11 1 x 100 5 128 fd00::5/128", // DUID not hex
      "# br-lan 0001a 1 x 100 5 128 fd00::5/128", // odd number of hex digits
      "# br-lan 0001aa 1 x soon 5 128 fd00::5/128", // bad validity
      "# br-lan 0001aa nothex x 100 5 128 fd00::5/128", // bad IAID
      "# br-lan 0001aa 1 x 100 5 128 not/an/addr 10.0.0.1/128", // nothing usable
      "fd00::5 x.lan x",
      "",
    ].join("\n");
    expect(parseOdhcpdState(text)).toEqual([]);
  });

  test("an empty file has no leases", () => {
    expect(parseOdhcpdState("")).toEqual([]);
  });
});
