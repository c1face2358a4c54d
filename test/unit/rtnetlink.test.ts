/**
 * The routing netlink's messages, against the kernel and `ip` themselves
 * (test/fixtures/rtnetlink, made by its capture.ts): the kernel's replies for
 * one namespace decode to what the sources read from `ip`'s text for the
 * same namespace at the same moment, and the requests are what the kernel
 * takes (headers laid out as linux/rtnetlink.h says).
 */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { attrs, parseMessages, type NlMessage } from "../../src/netlink/message.ts";
import { decodeAddress, decodeNeighbour, nudName, requests, RTM, RtError, RtNetlink } from "../../src/netlink/rtnetlink.ts";
import { EAGAIN, NetlinkError } from "../../src/netlink/socket.ts";
import { interfaceSubnets, parseInterfaceSubnets } from "../../src/sources/ifaddr.ts";
import { ownAddresses, parseOwnAddresses } from "../../src/sources/iflink.ts";
import { isUsableNeighbour, neighbourFromKernel, parseNeighbours } from "../../src/sources/neigh.ts";
import { replaySocket, replies, requestType } from "../helpers/rtnl-replay.ts";

const ipText = (name: string) => readFileSync(`${import.meta.dir}/../fixtures/rtnetlink/ip-${name}.txt`, "utf8");
const messages = (name: string): NlMessage[] => replies(name).flatMap((d) => parseMessages(d));
const BR_LAN = 2;

function errorOf(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error("no error thrown");
}

/** A kernel that answers every request from the fixtures. */
function fixtureKernel() {
  return replaySocket((req) => {
    const type = requestType(req);
    if (type === RTM.GETADDR) return replies("addresses");
    if (type === RTM.GETNEIGH) return replies("neighbours");
    const name = attrs(req.subarray(32)).get(3)?.[0];
    return replies(name && Buffer.from(name).toString() === "br-lan\0" ? "link-br-lan" : "link-missing");
  });
}

describe("addresses (RTM_NEWADDR)", () => {
  const all = messages("addresses").flatMap((m) => decodeAddress(m) ?? []);

  test("decode as ip prints them: the local address, a point-to-point one's peer, the prefix length", () => {
    const brLan = all.filter((a) => a.index === BR_LAN);
    expect(brLan.find((a) => a.local === "100.64.0.1")).toEqual({ index: BR_LAN, family: 4, local: "100.64.0.1", peer: "100.64.0.2", prefixlen: 31 });
    expect(brLan.find((a) => a.local === "fd00:9::1")).toEqual({ index: BR_LAN, family: 6, local: "fd00:9::1", peer: "fd00:9::2", prefixlen: 128 });
    // Deprecated and tentative addresses are listed as ip lists them.
    expect(brLan.find((a) => a.local === "fd00:8::1")).toEqual({ index: BR_LAN, family: 6, local: "fd00:8::1", peer: null, prefixlen: 48 });
    expect(brLan.map((a) => a.local)).toEqual(["192.168.7.1", "10.9.0.1", "100.64.0.1", "fd00:9::1", "2001:db8::1", "fd00:8::1", "fd00:7::1", "fe80::ff:fe00:ff01"]);
  });

  test("a LAN device's subnets and own addresses are what parseInterfaceSubnets and parseOwnAddresses read from `ip addr show dev`", () => {
    const brLan = all.filter((a) => a.index === BR_LAN);
    const text = ipText("addr-show-dev-br-lan");
    expect(interfaceSubnets(brLan)).toEqual(parseInterfaceSubnets(text));
    expect(interfaceSubnets(brLan)).toEqual(["192.168.7.0/24", "10.9.0.0/16", "100.64.0.2/31", "fd00:9::2/128", "2001:db8::/64", "fd00:8::/48", "fd00:7::/64"]);
    expect(ownAddresses(brLan)).toEqual(parseOwnAddresses(text));
  });

  test("the router's own addresses are what parseOwnAddresses reads from `ip addr show`", () => {
    const own = ownAddresses(all);
    expect(own).toEqual(parseOwnAddresses(ipText("addr-show")));
    expect(own.own4).toEqual(["127.0.0.1", "192.168.7.1", "10.9.0.1", "100.64.0.1", "192.168.8.1"]);
  });

  test("a message of another type or too short to be one is no address", () => {
    const m = messages("addresses")[0]!;
    expect(decodeAddress({ ...m, type: RTM.NEWLINK })).toBeNull();
    expect(decodeAddress({ ...m, body: m.body.subarray(0, 4) })).toBeNull();
  });
});

describe("neighbours (RTM_NEWNEIGH)", () => {
  const kernel = messages("neighbours").flatMap((m) => decodeNeighbour(m) ?? []);
  // ip's display filter: an entry with no NUD bit but NOARP is not printed (the kernel lists 192.168.7.14, nud noarp).
  const printed = kernel.filter((n) => n.state & ~0x40);

  test("every neighbour ip prints reads as parseNeighbours reads its line: address, MAC, state", () => {
    expect(kernel.map((n) => n.address)).toContain("192.168.7.14");
    expect(printed.map(neighbourFromKernel)).toEqual(parseNeighbours(ipText("neigh-show")));
  });

  test("the usable ones are the same: no FAILED, INCOMPLETE, lladdr-less or all-zero MAC; PERMANENT and IPv4-mapped kept", () => {
    const usable = kernel.map(neighbourFromKernel).filter(isUsableNeighbour);
    expect(usable).toEqual(parseNeighbours(ipText("neigh-show")).filter(isUsableNeighbour));
    expect(usable.map((n) => `${n.address} ${n.state}`).sort()).toEqual(
      ["192.168.7.10 REACHABLE", "192.168.7.11 STALE", "192.168.7.12 PERMANENT", "192.168.7.15 PROBE", "192.168.7.16 PROBE", "192.168.8.20 REACHABLE", "::ffff:c0a8:71e PERMANENT", "fd00:7::10 REACHABLE", "fd00:7::11 STALE"].sort(),
    );
  });

  test("the state word is the last one ip prints for the NUD bits", () => {
    expect(nudName(0)).toBe("");
    expect(nudName(0x02)).toBe("REACHABLE");
    expect(nudName(0x20)).toBe("FAILED");
    expect(nudName(0x02 | 0x40)).toBe("NOARP");
    expect(nudName(0x80)).toBe("PERMANENT");
  });
});

describe("requests and replies", () => {
  test("dumps carry an all-zero family header: every family, every device, no proxies", () => {
    const addr = requests.addresses(7);
    expect(Buffer.from(addr).toString("hex")).toBe("18000000" + "1600" + "0103" + "07000000" + "00000000" + "0000000000000000");
    const neigh = requests.neighbours(8);
    expect(Buffer.from(neigh).toString("hex")).toBe("1c000000" + "1e00" + "0103" + "08000000" + "00000000" + "000000000000000000000000");
  });

  test("a link is asked for by name, with its statistics left out", () => {
    const [m] = parseMessages(requests.link(9, "br-lan"));
    expect(m).toMatchObject({ type: RTM.GETLINK, flags: 0x5, seq: 9 });
    const a = attrs(m!.body.subarray(16));
    expect(Buffer.from(a.get(3)![0]!).toString()).toBe("br-lan\0");
    expect(new DataView(a.get(29)![0]!.buffer, a.get(29)![0]!.byteOffset).getUint32(0, true)).toBe(8);
  });

  test("over a socket: a device's index, null for a missing one, and the dumps whole (several datagrams)", () => {
    const sock = fixtureKernel();
    const rt = new RtNetlink(sock);
    expect(rt.linkIndex("br-lan")).toBe(BR_LAN);
    expect(rt.linkIndex("nosuch0")).toBeNull();
    expect(replies("addresses").length).toBeGreaterThan(1);
    expect(rt.addresses().length).toBe(messages("addresses").filter((m) => m.type === RTM.NEWADDR).length);
    expect(rt.neighbours().map((n) => n.address)).toContain("fd00:7::12");
  });

  test("a refusal is an RtError with the kernel's errno; a reply that does not come is the socket's EAGAIN", () => {
    // The missing link's error (ENODEV) as the answer to a dump.
    const refused = new RtNetlink(replaySocket(() => replies("link-missing")));
    expect(errorOf(() => refused.neighbours())).toMatchObject({ name: "RtError", errno: 19 });
    const silent = new RtNetlink(replaySocket(() => "timeout"));
    expect(errorOf(() => silent.linkIndex("br-lan"))).toMatchObject({ errno: EAGAIN, message: "no answer from rtnetlink in 5000 ms" });
    expect(errorOf(() => silent.addresses())).toBeInstanceOf(NetlinkError);
  });

  test("a dump that ends with an error in NLMSG_DONE is refused, not read as complete", () => {
    const done = new Uint8Array(20);
    const v = new DataView(done.buffer);
    v.setUint32(0, 20, true);
    v.setUint16(4, 3, true); // NLMSG_DONE
    v.setUint16(6, 0x2, true);
    v.setInt32(16, -4, true); // EINTR: the dump was interrupted
    const rt = new RtNetlink(replaySocket(() => [done]));
    expect(() => rt.addresses()).toThrow("rtnetlink could not finish the dump: errno 4");
  });
});
