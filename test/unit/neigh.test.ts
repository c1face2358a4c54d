import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { isUsableNeighbour, parseNeighbours, type Neighbour } from "../../src/sources/neigh.ts";

// Captured on this machine (iproute2 6.1.0, BusyBox 1.35.0) from a bridge with
// entries added in every state.
const fixture = (name: string) => readFileSync(`${import.meta.dir}/../fixtures/sources/${name}`, "utf8");

const summary = (ns: Neighbour[]) => ns.map((n) => `${n.address} ${n.mac ?? "-"} ${n.state || "(none)"}`);

const EXPECTED = [
  "192.168.1.9 - INCOMPLETE",
  "10.0.0.9 - FAILED",
  "192.168.1.10 02:00:00:00:00:10 PROBE",
  "192.168.1.5 aa:bb:cc:dd:ee:ff REACHABLE",
  "10.0.0.3 00:11:22:33:44:55 PERMANENT",
  "192.168.1.12 02:00:00:00:00:12 STALE",
  "fe80::1 02:00:00:00:00:01 STALE",
  "fd12:3456::99 02:00:00:00:00:99 STALE",
];

describe("parseNeighbours", () => {
  test("reads iproute2 output (flags such as router and extern_learn between MAC and state)", () => {
    expect(summary(parseNeighbours(fixture("neigh-iproute2.txt")))).toEqual(EXPECTED);
  });

  test("reads busybox output the same (it adds ref/used/probes counters)", () => {
    expect(summary(parseNeighbours(fixture("neigh-busybox.txt")))).toEqual(EXPECTED);
  });

  test("reads a proxy entry: no MAC, no state", () => {
    expect(parseNeighbours(fixture("neigh-iproute2-proxy.txt"))).toEqual([
      { address: "192.168.1.77", family: 4, mac: null, state: "" },
    ]);
  });

  test("`nud all` shows NOARP multicast entries and a NONE entry printed with no state", () => {
    const all = parseNeighbours(fixture("neigh-iproute2-nud-all.txt"));
    expect(all).toHaveLength(22);
    expect(all.find((n) => n.address === "192.168.1.13")).toMatchObject({ mac: null, state: "" });
    expect(all.find((n) => n.address === "224.0.0.22")).toMatchObject({ mac: "01:00:5e:00:00:16", state: "NOARP" });
    expect(all.filter((n) => n.family === 6 && n.address.startsWith("ff02:")).every((n) => n.state === "NOARP")).toBe(true);
  });

  test("canonicalises addresses and MACs", () => {
    expect(parseNeighbours("2001:DB8::0:1 dev eth0 lladdr AA:BB:CC:DD:EE:0F REACHABLE\n")).toEqual([
      { address: "2001:db8::1", family: 6, mac: "aa:bb:cc:dd:ee:0f", state: "REACHABLE" },
    ]);
  });

  test("skips lines that do not start with an address", () => {
    const text = "Error: something\n\nDevice \"x\" does not exist.\n10.0.0.1 dev eth0 lladdr 02:00:00:00:00:01 STALE\n";
    expect(summary(parseNeighbours(text))).toEqual(["10.0.0.1 02:00:00:00:00:01 STALE"]);
  });

  test("an upper-case device name is not taken for the state", () => {
    expect(parseNeighbours("10.0.0.1 dev WAN lladdr 02:00:00:00:00:01 STALE\n")[0]?.state).toBe("STALE");
    expect(parseNeighbours("10.0.0.1 dev LAN FAILED\n")[0]?.state).toBe("FAILED");
    expect(parseNeighbours("10.0.0.1 dev LAN\n")[0]?.state).toBe("");
  });

  test("a link-layer address that is not a MAC (a tunnel) gives mac null", () => {
    expect(parseNeighbours("10.9.0.2 dev gre1 lladdr 192.0.2.7 REACHABLE\n")[0]?.mac).toBeNull();
  });
});

describe("isUsableNeighbour", () => {
  const usable = (file: string) =>
    parseNeighbours(fixture(file))
      .filter(isUsableNeighbour)
      .map((n) => n.address);

  test("keeps entries with a MAC in a live state", () => {
    const live = ["192.168.1.10", "192.168.1.5", "10.0.0.3", "192.168.1.12", "fe80::1", "fd12:3456::99"];
    expect(usable("neigh-iproute2.txt")).toEqual(live);
    expect(usable("neigh-busybox.txt")).toEqual(live);
  });

  test("drops FAILED, INCOMPLETE, NOARP, NONE and proxy entries", () => {
    expect(usable("neigh-iproute2-proxy.txt")).toEqual([]);
    const all = usable("neigh-iproute2-nud-all.txt");
    expect(all).not.toContain("192.168.1.11"); // NOARP with a MAC
    expect(all).not.toContain("192.168.1.13"); // NONE
    expect(all).not.toContain("224.0.0.22");
    const mac = "02:00:00:00:00:01";
    expect(isUsableNeighbour({ address: "10.0.0.1", family: 4, mac, state: "NONE" })).toBe(false);
    // iproute2 prints NUD_NONE as no state word at all.
    expect(isUsableNeighbour({ address: "10.0.0.1", family: 4, mac, state: "" })).toBe(false);
    expect(isUsableNeighbour({ address: "10.0.0.1", family: 4, mac, state: "DELAY" })).toBe(true);
    expect(isUsableNeighbour({ address: "10.0.0.1", family: 4, mac: null, state: "REACHABLE" })).toBe(false);
  });
});
