/** The per-host split's pure parts: service classes from UCI, a sample's attribution, the parts readers get, `--by` rows, element keys. */
import { describe, expect, test } from "bun:test";
import { parseConfig } from "../../src/config.ts";
import { UserError } from "../../src/errors.ts";
import type { CountedHost, SplitCount } from "../../src/model.ts";
import { decodeSplitKey, partName, splitCounts } from "../../src/backends/nft/split.ts";
import { listCountedElements } from "../../src/netlink/nftables.ts";
import { parseNftJson } from "../../src/backends/nft/parse.ts";
import { emptyState, parseState, serializeState, type State } from "../../src/snapshot/state.ts";
import { splitSample } from "../../src/split/record.ts";
import { checkBy, partRows } from "../../src/split/rows.ts";
import { DEFAULT_SERVICES, defaultServices, MAX_SERVICES, parseMatch, serviceId } from "../../src/split/services.ts";
import { splitView } from "../../src/split/view.ts";
import { recordSample, type UsageSettings } from "../../src/usage/record.ts";

const FILE = "/etc/config/iptmon";
const svc = (body: string) => parseConfig(`config iptmon\n\tlist breakdown 'service'\n${body}`, FILE);
const refused = (body: string): UserError => {
  try {
    svc(body);
  } catch (e) {
    if (e instanceof UserError) return e;
    throw e;
  }
  throw new Error("accepted");
};

describe("config service", () => {
  test("the built-in classes are valid, disjoint, and apply where the config has none", () => {
    expect(parseConfig("config iptmon\n", FILE).services).toEqual([]);
    const c = svc("");
    expect(c.services.map((s) => s.name)).toEqual(DEFAULT_SERVICES.map((s) => s.name));
    expect(c.services).toEqual(defaultServices());
    expect(c.breakdown).toEqual(["service"]);
    for (const name of ["web", "quic", "dns", "dns-tls", "mail", "ssh", "vpn", "ntp", "streaming", "games"]) expect(c.services.some((s) => s.name === name)).toBe(true);
  });

  test("sections replace the built-in list, in file order, with their ranges", () => {
    const c = svc("config service\n\toption name 'web'\n\tlist match 'tcp/443'\n\tlist match 'tcp/8000-8999'\nconfig service\n\toption name 'dns'\n\tlist match 'udp/53'\n");
    expect(c.services).toEqual([
      { name: "web", id: serviceId("web"), matches: [{ proto: "tcp", lo: 443, hi: 443 }, { proto: "tcp", lo: 8000, hi: 8999 }] },
      { name: "dns", id: serviceId("dns"), matches: [{ proto: "udp", lo: 53, hi: 53 }] },
    ]);
  });

  test("a class keeps its number whatever is added or removed around it, and case does not change it", () => {
    const a = svc("config service\n\toption name 'web'\n\tlist match 'tcp/443'\n").services[0]!.id;
    const b = svc("config service\n\toption name 'x'\n\tlist match 'tcp/1'\nconfig service\n\toption name 'Web'\n\tlist match 'tcp/443'\n").services[1]!.id;
    expect(a).toBe(b);
  });

  test("a malformed match is exit 2 naming its own line", () => {
    for (const bad of ["tcp:443", "tcp/0", "tcp/65536", "tcp/9-1", "icmp/1", "tcp/443 ", "443", "tcp/1-2-3", "TCP/443"]) {
      const e = refused(`config service\n\toption name 'x'\n\tlist match 'tcp/1'\n\tlist match '${bad}'\n`);
      expect(e.exitCode).toBe(2);
      expect(e.message).toContain(`${FILE}:6:`);
      expect(e.message).toContain("is not protocol/port");
    }
    expect(parseMatch("udp/27000-27100")).toEqual({ proto: "udp", lo: 27000, hi: 27100 });
  });

  test("hostile names are cleaned like host names, with a warning; what cannot be a name is refused", () => {
    const c = svc("config service\n\toption name '$(reboot); rm -rf /'\n\tlist match 'tcp/1'\nconfig service\n\toption name 'a\"b<script>'\n\tlist match 'tcp/2'\n");
    expect(c.services.map((s) => s.name)).toEqual(["reboot-rm--rf", "a-b-script"]);
    expect(c.warnings.join("\n")).toContain("is used as 'reboot-rm--rf'");
    expect(refused("config service\n\toption name '$$$'\n\tlist match 'tcp/1'\n").message).toContain("no usable character");
    expect(refused("config service\n\tlist match 'tcp/1'\n").message).toContain("needs option 'name'");
    expect(refused("config service\n\toption name 'x'\n").message).toContain("needs at least one list match");
  });

  test("names iptmon gives parts itself, a name twice (ignoring case), overlapping ports and too many classes are refused", () => {
    for (const name of ["other", "IPv6", "ipv4", "unsplit"]) expect(refused(`config service\n\toption name '${name}'\n\tlist match 'tcp/1'\n`).message).toContain("iptmon names that part itself");
    expect(refused("config service\n\toption name 'a'\n\tlist match 'tcp/1'\nconfig service\n\toption name 'A'\n\tlist match 'tcp/2'\n").message).toContain("is named again (first at line 3)");
    const over = refused("config service\n\toption name 'a'\n\tlist match 'tcp/100-200'\nconfig service\n\toption name 'b'\n\tlist match 'udp/150'\n\tlist match 'tcp/200-300'\n");
    expect(over.message).toContain(`${FILE}:9:`);
    expect(over.message).toContain("overlaps tcp/100-200 of 'a' (line 5)");
    const many = Array.from({ length: MAX_SERVICES + 1 }, (_, i) => `config service\n\toption name 's${i}'\n\tlist match 'tcp/${i + 1}'\n`).join("");
    expect(refused(many).message).toContain(`more than ${MAX_SERVICES}`);
  });

  test("option breakdown takes family and service only", () => {
    expect(parseConfig("config iptmon\n\tlist breakdown 'family'\n\tlist breakdown 'service'\n", FILE).breakdown).toEqual(["family", "service"]);
    expect(() => parseConfig("config iptmon\n\tlist breakdown 'port'\n", FILE)).toThrow("must be one of family, service");
  });
});

const HOST = (key: string, addresses: string[], rx: [number, number], tx: [number, number], name = "h"): CountedHost => ({
  key,
  name,
  addresses,
  rx: { bytes: rx[0], packets: rx[1] },
  tx: { bytes: tx[0], packets: tx[1] },
});
const count = (dir: "rx" | "tx", handle: string, part: string, bytes: number, packets: number, gen = "1.1"): SplitCount => ({ dir, handle, part, bytes, packets, gen });
const SET: UsageSettings = { spec: { kind: "month", start: 1 }, kept: 12, zone: () => 0 };
const T = 1_767_225_600; // 2026-01-01

describe("a sample's split", () => {
  test("what each kernel counter grew by goes to the host with that MAC, address or key; other traffic is what is left", () => {
    const s: State = emptyState(T);
    const a = HOST("02:00:00:00:00:01", ["192.168.1.10", "fd00::10"], [1000, 10], [5000, 20], "a");
    recordSample(s, [a], T, SET, true, [count("rx", "mac:02:00:00:00:00:01", "web", 600, 6), count("tx", "addr:fd00::10", "ipv6", 800, 4), count("rx", "addr:10.9.9.9", "web", 99, 1)]);
    expect(s.hosts[a.key]!.split).toEqual({ web: [600, 6, 0, 0], ipv6: [0, 0, 800, 4] });
    const v = splitView([1000, 10, 5000, 20], s.hosts[a.key]!.split, ["family", "service"], ["web", "dns"]);
    expect(v.families).toEqual({ ipv4: { rx_bytes: 1000, rx_packets: 10, tx_bytes: 4200, tx_packets: 16 }, ipv6: { rx_bytes: 0, rx_packets: 0, tx_bytes: 800, tx_packets: 4 } });
    expect(v.services).toEqual({ web: { rx_bytes: 600, rx_packets: 6, tx_bytes: 0, tx_packets: 0 }, other: { rx_bytes: 400, rx_packets: 4, tx_bytes: 5000, tx_packets: 20 } });
    // The next sample adds only growth; a counter made anew (another `gen`) counts from zero.
    recordSample(s, [{ ...a, rx: { bytes: 1700, packets: 17 } }], T + 60, SET, true, [count("rx", "mac:02:00:00:00:00:01", "web", 900, 9), count("rx", "mac:02:00:00:00:00:01", "web", 100, 1, "2.1")]);
    expect(s.hosts[a.key]!.split!.web).toEqual([1000, 10, 0, 0]);
    // The tx ipv6 counter is gone from the read: the part stays, its seen value goes.
    expect(s.hosts[a.key]!.split!.ipv6).toEqual([0, 0, 800, 4]);
    expect(Object.keys(s.splitSeen!)).toEqual(["rx mac:02:00:00:00:00:01 web 1.1", "rx mac:02:00:00:00:00:01 web 2.1"]);
  });

  test("a host that counted before its split began has it as `unsplit`, in its totals and in the open period", () => {
    const s: State = emptyState(T);
    const h = HOST("02:00:00:00:00:02", ["192.168.1.11"], [100, 1], [200, 2]);
    recordSample(s, [h], T, SET); // baseline, no split
    recordSample(s, [{ ...h, rx: { bytes: 300, packets: 3 } }], T + 60, SET); // 200 bytes of usage, still no split
    recordSample(s, [{ ...h, rx: { bytes: 450, packets: 4 } }], T + 120, SET, true, [count("rx", "addr:192.168.1.11", "ipv6", 0, 0), count("rx", "addr:192.168.1.11", "dns", 50, 1)]);
    // Its totals at the last sample before (300 rx, 200 tx) are unsplit; its period usage before this sample (200 rx) too.
    expect(s.hosts[h.key]!.split).toEqual({ unsplit: [300, 3, 200, 2], dns: [50, 1, 0, 0] });
    const p = s.periods.at(-1)!;
    expect(p.split![h.key]).toEqual({ unsplit: [200, 2, 0, 0], dns: [50, 1, 0, 0] });
    const v = splitView([450, 4, 200, 2], s.hosts[h.key]!.split, ["service"], ["dns"]);
    expect(v.services).toEqual({ dns: { rx_bytes: 50, rx_packets: 1, tx_bytes: 0, tx_packets: 0 }, other: { rx_bytes: 100, rx_packets: 0, tx_bytes: 0, tx_packets: 0 }, unsplit: { rx_bytes: 300, rx_packets: 3, tx_bytes: 200, tx_packets: 2 } });
    const pu = p.hosts[h.key]!;
    const pv = splitView(pu, p.split![h.key], ["family"], []);
    expect(pv.families!.unsplit).toEqual({ rx_bytes: 200, rx_packets: 2, tx_bytes: 0, tx_packets: 0 });
  });

  test("a class no longer configured is watched but given to no one; the split turned off drops what the state kept", () => {
    const s: State = emptyState(T);
    const h = HOST("02:00:00:00:00:03", [], [10, 1], [0, 0]);
    const parts = splitSample(s, [h], [count("rx", "mac:02:00:00:00:00:03", "#deadbeef", 10, 1)], undefined, false)!;
    expect(parts.get(h.key)).toEqual({});
    expect(s.splitSeen).toEqual({ "rx mac:02:00:00:00:00:03 #deadbeef 1.1": [10, 1] });
    recordSample(s, [h], T, SET, true, [count("rx", "mac:02:00:00:00:00:03", "web", 10, 1)]);
    expect(s.hosts[h.key]!.split).toBeDefined();
    recordSample(s, [h], T + 60, SET, true, undefined);
    expect(s.hosts[h.key]!.split).toBeUndefined();
    expect(s.splitSeen).toBeUndefined();
  });

  test("an event's sample (some hosts) keeps the parts the state has", () => {
    const s: State = emptyState(T);
    const h = HOST("02:00:00:00:00:04", ["192.168.1.14"], [10, 1], [0, 0]);
    recordSample(s, [h], T, SET, true, [count("rx", "addr:192.168.1.14", "web", 10, 1)]);
    recordSample(s, [{ ...h, name: "renamed" }], T + 1, SET, false);
    expect(s.hosts[h.key]!.split).toEqual({ web: [10, 1, 0, 0] });
  });

  test("the state file keeps parts, period parts and seen counters, and reads them back", () => {
    const s: State = emptyState(T);
    recordSample(s, [HOST("02:00:00:00:00:05", ["192.168.1.15"], [0, 0], [0, 0])], T, SET, true, []);
    recordSample(s, [HOST("02:00:00:00:00:05", ["192.168.1.15"], [70, 2], [0, 0])], T + 60, SET, true, [count("rx", "addr:192.168.1.15", "web", 70, 2)]);
    const back = parseState(serializeState(s));
    expect(back).toEqual(s);
    expect(back.periods.at(-1)!.split).toEqual({ "02:00:00:00:00:05": { web: [70, 2, 0, 0] } });
    expect(() => parseState(serializeState(s).replace('"web":[70,2,0,0]', '"web":[70,-2,0,0]'))).toThrow("is not 4 counts");
  });
});

describe("the parts readers get", () => {
  test("each kind adds up to the totals; a host not split yet is all `unsplit`; a part is never below zero", () => {
    const total = [1000, 10, 2000, 20] as [number, number, number, number];
    const sum = (ps: Record<string, { rx_bytes: number; rx_packets: number; tx_bytes: number; tx_packets: number }>) =>
      Object.values(ps).reduce((a, p) => [a[0]! + p.rx_bytes, a[1]! + p.rx_packets, a[2]! + p.tx_bytes, a[3]! + p.tx_packets], [0, 0, 0, 0]);
    const v = splitView(total, { ipv6: [100, 1, 200, 2], web: [300, 3, 0, 0], dns: [1, 1, 1, 1], gone: [5, 5, 5, 5] }, ["family", "service"], ["web", "dns", "ntp"]);
    expect(sum(v.families!)).toEqual(total);
    expect(sum(v.services!)).toEqual(total);
    expect(Object.keys(v.services!)).toEqual(["web", "dns", "other"]);
    expect(splitView(total, undefined, ["family"], []).families).toEqual({ ipv4: { rx_bytes: 0, rx_packets: 0, tx_bytes: 0, tx_packets: 0 }, ipv6: { rx_bytes: 0, rx_packets: 0, tx_bytes: 0, tx_packets: 0 }, unsplit: { rx_bytes: 1000, rx_packets: 10, tx_bytes: 2000, tx_packets: 20 } });
    expect(splitView(total, { ipv6: [5000, 1, 0, 0] }, ["family"], []).families!.ipv4!.rx_bytes).toBe(0);
    expect(splitView(total, {}, [], ["web"])).toEqual({});
  });

  test("--by: a row per host and part; a kind that is off, or no kind, is exit 2", () => {
    const hosts = [{ name: "a", key: "k", rx_bytes: 3, services: { web: { rx_bytes: 1, rx_packets: 0, tx_bytes: 0, tx_packets: 0 }, other: { rx_bytes: 2, rx_packets: 0, tx_bytes: 0, tx_packets: 0 } } }];
    const rows = partRows(hosts, "service", (h, p) => ({ ...h, ...p }));
    expect(rows.map((r) => [r.name, r.key, r.rx_bytes])).toEqual([["a/web", "k/web", 1], ["a/other", "k/other", 2]]);
    expect(checkBy(undefined, [], FILE, "show status")).toBeUndefined();
    expect(checkBy("family", ["family"], FILE, "show status")).toBe("family");
    for (const [by, msg] of [["service", "the split by service is off"], ["port", "--by family or --by service"]] as const) {
      try {
        checkBy(by, ["family"], FILE, "show status");
        throw new Error("accepted");
      } catch (e) {
        expect((e as UserError).exitCode).toBe(2);
        expect(`${(e as UserError).message} ${(e as UserError).hint}`).toContain(msg);
      }
    }
  });
});

describe("the split's kernel counters", () => {
  test("keys: a MAC with its padding, or an address, then the class id in the host's byte order", () => {
    const mac = Uint8Array.from([2, 0, 0, 0, 0, 1, 0, 0, 0x91, 0xbc, 0xd9, 0x0f]);
    expect(decodeSplitKey("m", mac, true)).toEqual({ handle: "mac:02:00:00:00:00:01", id: 0x0fd9bc91 });
    expect(decodeSplitKey("4", Uint8Array.from([192, 168, 1, 5, 6, 0, 0, 0]), true)).toEqual({ handle: "addr:192.168.1.5", id: 6 });
    const v6 = new Uint8Array(20);
    v6.set([0xfd, 0, 0, 0], 0);
    v6[15] = 0x10;
    v6[16] = 6;
    expect(decodeSplitKey("6", v6, true)).toEqual({ handle: "addr:fd00::10", id: 6 });
    expect(decodeSplitKey("4", new Uint8Array(7), true)).toBeNull();
    const web = defaultServices().find((c) => c.name === "web")!;
    expect(partName(web.id, defaultServices())).toBe("web");
    expect(partName(6, [])).toBe("ipv6");
    expect(partName(0x1234, [])).toBe("#00001234");
  });

  test("an egress set's counts lose the Ethernet header, as the hosts' tx counters do", () => {
    const key = Uint8Array.from([2, 0, 0, 0, 0, 1, 0, 0, 6, 0, 0, 0]);
    expect(splitCounts("tx", "m", "ports", [{ key, packets: 2, bytes: 228 }], [], true, 14)).toEqual([{ dir: "tx", handle: "mac:02:00:00:00:00:01", part: "ipv6", packets: 2, bytes: 200 }]);
    expect(splitCounts("tx", "4", "forward", [{ key: Uint8Array.from([10, 0, 0, 1, 6, 0, 0, 0]), packets: 2, bytes: 228 }], [], true, 14)[0]!.bytes).toBe(228);
  });

  test("nft's JSON listing: the split sets' elements with their counters, the egress header taken off, each set's making told by the table's and set's handles", () => {
    const web = defaultServices().find((c) => c.name === "web")!;
    const json = JSON.stringify({
      nftables: [
        { table: { family: "netdev", name: "iptmon", handle: 7 } },
        { set: { family: "netdev", name: "split_tx_m", table: "iptmon", handle: 12, type: ["ether_addr", "mark"], elem: [{ elem: { val: { concat: ["02:00:00:00:00:01", web.id] }, counter: { packets: 2, bytes: 228 } } }] } },
        { set: { family: "netdev", name: "split_rx_6", table: "iptmon", handle: 13, type: ["ipv6_addr", "mark"], elem: [{ elem: { val: { concat: ["fd00::10", 6] }, counter: { packets: 1, bytes: 100 } } }, { elem: { val: "junk" } }] } },
        { set: { family: "netdev", name: "split_rx_4", table: "other", handle: 14, elem: [{ elem: { val: { concat: ["10.0.0.1", 6] }, counter: { packets: 1, bytes: 1 } } }] } },
      ],
    });
    const st = parseNftJson(json, "iptmon", "ports", { family: true, services: defaultServices() });
    expect(st.read).toBe("full");
    expect(st.read === "full" ? st.split : null).toEqual([
      { dir: "tx", handle: "mac:02:00:00:00:00:01", part: "web", packets: 2, bytes: 200, gen: "7.12" },
      { dir: "rx", handle: "addr:fd00::10", part: "ipv6", packets: 1, bytes: 100, gen: "7.13" },
    ]);
  });

  test("a dump's elements: the key and a counter, sent as one expression or as a list of them", () => {
    const attr = (type: number, payload: Uint8Array) => {
      const len = 4 + payload.length;
      const out = new Uint8Array((len + 3) & ~3);
      new DataView(out.buffer).setUint16(0, len, true);
      new DataView(out.buffer).setUint16(2, type, true);
      out.set(payload, 4);
      return out;
    };
    const cat = (...parts: Uint8Array[]) => Uint8Array.from(parts.flatMap((p) => [...p]));
    const u64 = (n: number) => {
      const b = new Uint8Array(8);
      new DataView(b.buffer).setBigUint64(0, BigInt(n));
      return b;
    };
    const counter = cat(attr(1, new TextEncoder().encode("counter\0")), attr(2, cat(attr(1, u64(1500)), attr(2, u64(3)))));
    const key = attr(1, attr(1, Uint8Array.from([10, 0, 0, 1, 6, 0, 0, 0])));
    const one = attr(1, cat(key, attr(7, counter)));
    const listed = attr(1, cat(key, attr(11, attr(1, counter))));
    const els = listCountedElements(cat(one, listed));
    expect(els.map((e) => [[...e.key], e.packets, e.bytes])).toEqual([
      [[10, 0, 0, 1, 6, 0, 0, 0], 3, 1500],
      [[10, 0, 0, 1, 6, 0, 0, 0], 3, 1500],
    ]);
  });
});
