import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { parseInterfaceSubnets } from "../../src/sources/ifaddr.ts";

// Captured on this machine with iproute2 6.1.0 and BusyBox 1.35.0.
const fixture = (name: string) => readFileSync(`${import.meta.dir}/../fixtures/sources/${name}`, "utf8");

describe("parseInterfaceSubnets", () => {
  const lan = ["192.168.1.0/24", "10.0.0.1/32", "172.16.0.0/20", "2001:db8:1:2::1/128", "fd12:3456::/48"];

  test("reads iproute2 output: networks, labels and brd ignored, link-local left out", () => {
    expect(parseInterfaceSubnets(fixture("ifaddr-iproute2-br-lan.txt"))).toEqual(lan);
  });

  test("reads busybox output the same", () => {
    expect(parseInterfaceSubnets(fixture("ifaddr-busybox-br-lan.txt"))).toEqual(lan);
  });

  test("keeps loopback's host routes (/8 and /128)", () => {
    expect(parseInterfaceSubnets(fixture("ifaddr-iproute2-lo.txt"))).toEqual(["127.0.0.0/8", "::1/128"]);
    expect(parseInterfaceSubnets(fixture("ifaddr-busybox-lo.txt"))).toEqual(["127.0.0.0/8", "::1/128"]);
  });

  test("a point-to-point address gives the peer's network; deprecated addresses count", () => {
    const expected = ["100.64.0.2/31", "2001:db8:9::/64"];
    expect(parseInterfaceSubnets(fixture("ifaddr-iproute2-peer.txt"))).toEqual(expected);
    expect(parseInterfaceSubnets(fixture("ifaddr-busybox-peer.txt"))).toEqual(expected);
  });

  test("lists a network once when the interface has several addresses in it", () => {
    const text = "    inet 192.168.1.1/24 scope global br-lan\n    inet 192.168.1.2/24 scope global secondary br-lan\n";
    expect(parseInterfaceSubnets(text)).toEqual(["192.168.1.0/24"]);
  });

  test("empty output (interface down or missing) gives nothing", () => {
    expect(parseInterfaceSubnets("")).toEqual([]);
    expect(parseInterfaceSubnets('Device "br-lan" does not exist.\n')).toEqual([]);
  });

  test("skips malformed inet lines and link-local anywhere in fe80::/10", () => {
    const text = ["    inet 300.1.1.1/24", "    inet6 fd00::1/129", "    inet", "    inet6 febf::1/64 scope link", "    inet 10.1.0.1/16"].join("\n");
    expect(parseInterfaceSubnets(text)).toEqual(["10.1.0.0/16"]);
  });
});
