import { describe, expect, test } from "bun:test";
import { UserError } from "../../src/errors.ts";
import { userError } from "../helpers/builders.ts";
import { DNSMASQ_ACTIONS, parseDnsmasqEvent, parseHotplugEvent } from "../../src/events.ts";

const MAC = "02:00:00:00:00:05";
const DUID = "00:01:00:01:2c:00:00:00:02:00:00:00:00:01";


describe("parseDnsmasqEvent: actions", () => {
  test("every dnsmasq action is known", () => {
    expect([...DNSMASQ_ACTIONS].sort()).toEqual(["add", "arp-add", "arp-del", "del", "old"]);
  });

  test("add: a DHCP add with its hostname; MAC and address canonical", () => {
    expect(parseDnsmasqEvent("add", "02-00-00-00-00-0A", "192.168.1.5", "laptop", {})).toEqual({
      action: "add",
      source: "dhcp",
      key: "02:00:00:00:00:0a",
      address: "192.168.1.5",
      hostname: "laptop",
    });
  });

  test("old: a renewal or replay is an add", () => {
    expect(parseDnsmasqEvent("old", MAC, "192.168.1.5", "laptop", {})).toEqual({ action: "add", source: "dhcp", key: MAC, address: "192.168.1.5", hostname: "laptop" });
  });

  test("del: a DHCP del", () => {
    const ev = parseDnsmasqEvent("del", MAC, "192.168.1.5", "laptop", {});
    expect(ev).toMatchObject({ action: "del", source: "dhcp", key: MAC, address: "192.168.1.5" });
  });

  test("arp-add: a neighbour add, which carries no hostname at all", () => {
    const ev = parseDnsmasqEvent("arp-add", MAC, "FD00:0000::0005", undefined, { DNSMASQ_SUPPLIED_HOSTNAME: "ignored" });
    expect(ev).toEqual({ action: "add", source: "neigh", key: MAC, address: "fd00::5" });
    expect("hostname" in ev).toBe(false);
  });

  test("arp-del: a neighbour del", () => {
    expect(parseDnsmasqEvent("arp-del", MAC, "192.168.1.5", undefined, {})).toEqual({ action: "del", source: "neigh", key: MAC, address: "192.168.1.5" });
  });
});

describe("parseDnsmasqEvent: hostnames", () => {
  test("the argument wins over DNSMASQ_SUPPLIED_HOSTNAME", () => {
    expect(parseDnsmasqEvent("add", MAC, "192.168.1.5", "arg", { DNSMASQ_SUPPLIED_HOSTNAME: "env" }).hostname).toBe("arg");
  });

  test("DNSMASQ_SUPPLIED_HOSTNAME is used when dnsmasq dropped the argument, raw bytes and all", () => {
    expect(parseDnsmasqEvent("add", MAC, "192.168.1.5", undefined, { DNSMASQ_SUPPLIED_HOSTNAME: 'tv;rm -rf "$(x)"' }).hostname).toBe('tv;rm -rf "$(x)"');
    expect(parseDnsmasqEvent("old", MAC, "192.168.1.5", "", { DNSMASQ_SUPPLIED_HOSTNAME: "*" }).hostname).toBe("*");
  });

  test("DNSMASQ_OLD_HOSTNAME with no argument means the lease lost its name (null)", () => {
    const ev = parseDnsmasqEvent("old", MAC, "192.168.1.5", undefined, { DNSMASQ_OLD_HOSTNAME: "tv", DNSMASQ_SUPPLIED_HOSTNAME: "tv" });
    expect(ev.hostname).toBeNull();
  });

  test("DNSMASQ_OLD_HOSTNAME does not hide a new name in the argument", () => {
    expect(parseDnsmasqEvent("old", MAC, "192.168.1.5", "new-tv", { DNSMASQ_OLD_HOSTNAME: "tv" }).hostname).toBe("new-tv");
  });

  test("no name anywhere says nothing about the name (undefined), as opposed to null", () => {
    const ev = parseDnsmasqEvent("old", MAC, "192.168.1.5", undefined, {});
    expect(ev.hostname).toBeUndefined();
    expect(parseDnsmasqEvent("old", MAC, "192.168.1.5", "", { DNSMASQ_SUPPLIED_HOSTNAME: "" }).hostname).toBeUndefined();
  });
});

describe("parseDnsmasqEvent: DHCPv6", () => {
  test("the DUID in the MAC position, with DNSMASQ_MAC giving the MAC", () => {
    expect(parseDnsmasqEvent("add", DUID.toUpperCase(), "fd00::5", "v6host", { DNSMASQ_MAC: "02:00:00:00:00:09" })).toEqual({
      action: "add",
      source: "dhcp",
      key: "02:00:00:00:00:09",
      duid: DUID,
      address: "fd00::5",
      hostname: "v6host",
    });
  });

  test("without DNSMASQ_MAC (or with a bad one) the key is left for planning to find", () => {
    expect(parseDnsmasqEvent("add", DUID, "fd00::5", "v6host", {})).toMatchObject({ key: null, duid: DUID });
    expect(parseDnsmasqEvent("del", DUID, "fd00::5", undefined, { DNSMASQ_MAC: "bogus" })).toMatchObject({ action: "del", key: null, duid: DUID });
  });
});

describe("parseDnsmasqEvent: refusals are user errors (exit 2)", () => {
  test.each([
    ["a bad MAC", "add", "zz:zz:zz:zz:zz:zz", "192.168.1.5", "not a MAC"],
    ["the broadcast MAC", "arp-add", "ff:ff:ff:ff:ff:ff", "192.168.1.5", "not a MAC"],
    ["a bad IP", "add", MAC, "192.168.1.500", "not an IP address"],
    ["an IP with leading zeros", "del", MAC, "192.168.001.5", "not an IP address"],
    ["a zone id", "arp-add", MAC, "fe80::1%br-lan", "not an IP address"],
    ["a DUID on IPv4", "add", DUID, "192.168.1.5", "not a MAC"],
    ["a DUID on a neighbour event", "arp-add", DUID, "fd00::5", "not a MAC"],
    ["garbage in the DUID position", "add", "00:01:zz", "fd00::5", "not a MAC address or DUID"],
  ] as const)("%s", (_what, action, who, ip, message) => {
    const e = userError(() => parseDnsmasqEvent(action, who, ip, undefined, {}));
    expect(e.exitCode).toBe(2);
    expect(e.message).toStartWith(`cannot handle ${action}: `);
    expect(e.message).toContain(message);
  });

  test("a huge hostile argument is quoted and cut in the message", () => {
    const e = userError(() => parseDnsmasqEvent("add", `x\n${"y".repeat(500)}`, "192.168.1.5", undefined, {}));
    expect(e.exitCode).toBe(2);
    expect(e.message).not.toContain("\n");
    expect(e.message.length).toBeLessThan(200);
  });
});

describe("parseHotplugEvent", () => {
  const env = (o: Record<string, string>) => ({ MACADDR: MAC, IPADDR: "192.168.1.5", ...o });

  test("dhcp add", () => {
    expect(parseHotplugEvent("dhcp", env({ ACTION: "add", HOSTNAME: "laptop" }))).toEqual({ action: "add", source: "dhcp", key: MAC, address: "192.168.1.5", hostname: "laptop" });
  });

  test("dhcp update is a renewal (add)", () => {
    expect(parseHotplugEvent("dhcp", env({ ACTION: "update", HOSTNAME: "laptop" }))).toMatchObject({ action: "add", source: "dhcp", hostname: "laptop" });
  });

  test("dhcp remove", () => {
    expect(parseHotplugEvent("dhcp", env({ ACTION: "remove" }))).toMatchObject({ action: "del", source: "dhcp", key: MAC, address: "192.168.1.5" });
  });

  test("dhcp with an empty HOSTNAME says nothing of the name", () => {
    expect(parseHotplugEvent("dhcp", env({ ACTION: "update", HOSTNAME: "" })).hostname).toBeUndefined();
  });

  test("neigh add and remove carry no hostname", () => {
    const add = parseHotplugEvent("neigh", env({ ACTION: "add", IPADDR: "fd00::5", HOSTNAME: "x" }));
    expect(add).toEqual({ action: "add", source: "neigh", key: MAC, address: "fd00::5" });
    expect(parseHotplugEvent("neigh", env({ ACTION: "remove" }))).toEqual({ action: "del", source: "neigh", key: MAC, address: "192.168.1.5" });
  });

  // OpenWrt's dispatcher exports ACTION, MACADDR, IPADDR, HOSTNAME and execs
  // hotplug-call, so dnsmasq's own DNSMASQ_* variables are still there.
  test("hotplug reads dnsmasq's variables like the dhcp-script path", () => {
    expect(parseHotplugEvent("dhcp", env({ ACTION: "add", HOSTNAME: "", DNSMASQ_SUPPLIED_HOSTNAME: "a b" })).hostname).toBe("a b");
    expect(parseHotplugEvent("dhcp", env({ ACTION: "update", HOSTNAME: "", DNSMASQ_OLD_HOSTNAME: "phone" })).hostname).toBeNull();
    expect(parseHotplugEvent("dhcp", env({ ACTION: "update", HOSTNAME: "" })).hostname).toBeUndefined();
  });

  test.each([
    ["dhcp", { ACTION: "add", IPADDR: "192.168.1.5" }, "MACADDR is not set"],
    ["dhcp", { ACTION: "add", MACADDR: MAC }, "IPADDR is not set"],
    ["neigh", { ACTION: "add", MACADDR: "", IPADDR: "192.168.1.5" }, "MACADDR is not set"],
    ["dhcp", { MACADDR: MAC, IPADDR: "192.168.1.5" }, "unknown ACTION"],
    ["dhcp", { ACTION: "bound", MACADDR: MAC, IPADDR: "192.168.1.5" }, "unknown ACTION"],
    ["neigh", { ACTION: "update", MACADDR: MAC, IPADDR: "192.168.1.5" }, "unknown ACTION"],
    ["dhcp", { ACTION: "add", MACADDR: "nope", IPADDR: "192.168.1.5" }, "not a MAC"],
    ["neigh", { ACTION: "add", MACADDR: MAC, IPADDR: "nope" }, "not an IP address"],
  ] as const)("%s %j is refused: %s", (subsystem, e, message) => {
    const err = userError(() => parseHotplugEvent(subsystem, { ...e }));
    expect(err.exitCode).toBe(2);
    expect(err.message).toContain(message);
  });

  test("an unknown ACTION's error hints at the valid ones", () => {
    expect(userError(() => parseHotplugEvent("dhcp", { ACTION: "bound", MACADDR: MAC, IPADDR: "192.168.1.5" })).hint).toBe("expected add, update, remove");
    expect(userError(() => parseHotplugEvent("neigh", { ACTION: "x", MACADDR: MAC, IPADDR: "192.168.1.5" })).hint).toBe("expected add, remove");
  });
});

describe("hotplug ACTION names that are object properties", () => {
  for (const action of ["toString", "constructor", "__proto__", "hasOwnProperty"]) {
    test(`ACTION=${action} is an unknown action (exit 2)`, () => {
      let err: unknown;
      try {
        parseHotplugEvent("dhcp", { ACTION: action, MACADDR: "02:00:00:00:00:01", IPADDR: "192.168.1.5" });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(UserError);
      expect((err as UserError).exitCode).toBe(2);
      expect((err as UserError).message).toContain("unknown ACTION");
    });
  }
});
