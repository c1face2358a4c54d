import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { parseSubnet } from "../../src/addr.ts";
import type { ApplyOptions } from "../../src/backends/backend.ts";
import { createNftBackend } from "../../src/backends/nft/index.ts";
import { COMMENT_PREFIX, nameKeyBytes, nameKeyText, type NftOptions, type NftState } from "../../src/backends/nft/layout.ts";
import { keyBytes } from "../../src/backends/nft/netlink.ts";
import { parseNftJson, parseNftMapsJson } from "../../src/backends/nft/parse.ts";
import { planNft } from "../../src/backends/nft/plan.ts";
import { renderNft as renderChange } from "../../src/backends/nft/render.ts";
import { parseConfig } from "../../src/config.ts";
import { macOf, sanitizeName, type CountedHost, type FullState, type Host, type LaidOutHost } from "../../src/model.ts";
import { planCounters, planEvent, planInit, resolveEventKey, type HostEvent, type Knowledge } from "../../src/plan.ts";
import type { Lease } from "../../src/sources/leases.ts";
import { LAPTOP_REMOVED, NFT_TABLE_DECLARATION, userError } from "../helpers/builders.ts";
import { fakeSys, ok } from "../helpers/fakesys.ts";
import { prng } from "../helpers/prng.ts";

const O: NftOptions = { table: "iptmon", priority: -1, placement: "forward" };
const REBUILD = { rebuild: true };
const EVENT = { rebuild: false };
const ABSENT: NftState = { read: "absent" };

const counted = (h: Host, rx = { packets: 0, bytes: 0 }, tx = { packets: 0, bytes: 0 }): CountedHost => ({ ...h, rx, tx });
const present = (hosts: CountedHost[], strays: string[] = []): NftState => ({ read: "full", complete: true, hosts, strays, parts: new Map() });

function fullOf(s: NftState | { shortfall: string }): Extract<NftState, { read: "full" }> {
  if (!("read" in s) || s.read !== "full") throw new Error(`expected a full read, got ${JSON.stringify(s)}`);
  return s;
}
function layoutOf(s: NftState | { shortfall: string }): Extract<NftState, { read: "layout" }> {
  if (!("read" in s) || s.read !== "layout") throw new Error(`expected a layout read, got ${JSON.stringify(s)}`);
  return s;
}

/** What the core does: counters planned against `current`, then the change planned and rendered. */
function renderNft(current: NftState, desired: LaidOutHost[], o: NftOptions, opts: ApplyOptions): string {
  const planned = planCounters(current, desired);
  if (!planned) throw new Error("counters needed");
  return renderChange(planNft(current, planned, opts), o);
}

const LAPTOP: Host = { key: "02:00:00:00:00:01", name: "laptop", addresses: ["192.168.1.101", "fd00::aaaa", "fd00::1:65"] };
const PHONE: Host = { key: "02:00:00:00:00:02", name: "phone", addresses: ["192.168.1.102"] };
const NAS: Host = { key: "host:nas", name: "nas", addresses: ["fd00::32"] };

// Every statement renderNft may emit; anything else in a script is a bug.
const NAME = "[A-Za-z0-9._-]{1,63}";
const V4 = "\\d{1,3}(?:\\.\\d{1,3}){3}";
const V6 = "[0-9a-f]*:[0-9a-f:]*";
const MAC = "[0-9a-f]{2}(?::[0-9a-f]{2}){5}";
/** A names map key: four IPv6 addresses, each all-zero one `::`. */
const NAME_KEY = "(?:::|[0-9a-f]{1,4}(?::[0-9a-f]{1,4}){7})(?: \\. (?:::|[0-9a-f]{1,4}(?::[0-9a-f]{1,4}){7})){3}";
const KEY = `(?:${MAC}|duid:[0-9a-f]{1,100}|host:${NAME})`;
/** A carry counter's name: its key with each `:` as `-`. */
const CARRY = `carry_(?:rx|tx)_(?:[0-9a-f]{2}(?:-[0-9a-f]{2}){5}|duid-[0-9a-f]{1,100}|host-${NAME})`;
const T = "inet iptmon";
const list = (item: string) => `${item}(?:, ${item})*`;
const WHITELIST = [
  `table ${T} \\{`,
  "\\tmap (?:rx|tx)4 \\{ type ipv4_addr : counter; \\}",
  "\\tmap (?:rx|tx)6 \\{ type ipv6_addr : counter; \\}",
  "\\tmap keys \\{ type ether_addr : counter; \\}",
  "\\tmap names \\{ type ipv6_addr \\. ipv6_addr \\. ipv6_addr \\. ipv6_addr : counter; \\}",
  "\\tchain forward \\{ type filter hook forward priority -1; policy accept; \\}",
  "\\tchain forward6 \\{ \\}",
  "\\}",
  `flush chain ${T} forward6?`,
  `add rule ${T} forward meta nfproto ipv6 goto forward6`,
  `add rule ${T} forward counter name (?:ip saddr map @rx4|ip daddr map @tx4)`,
  `add rule ${T} forward6 counter name (?:ip6 saddr map @rx6|ip6 daddr map @tx6)`,
  `flush map ${T} (?:(?:rx|tx)[46]|keys|names)`,
  // the other placement's table goes at every declare
  "(?:add|delete) table netdev iptmon",
  `delete element ${T} (?:rx|tx)4 \\{ ${list(V4)} \\}`,
  `delete element ${T} (?:rx|tx)6 \\{ ${list(V6)} \\}`,
  `delete element ${T} keys \\{ ${list(MAC)} \\}`,
  `delete element ${T} names \\{ ${list(NAME_KEY)} \\}`,
  `delete counter ${T} (?:rx|tx)_${NAME}`,
  `add counter ${T} (?:rx|tx)_${NAME} \\{ packets \\d+ bytes \\d+; comment "iptmon: ${KEY}"; \\}`,
  // a key's carry: what its earlier names counted
  `delete counter ${T} ${CARRY}`,
  `add counter ${T} ${CARRY} \\{ packets \\d+ bytes \\d+; comment "iptmon: ${KEY}"; \\}`,
  `add element ${T} rx4 \\{ ${list(`${V4} : "rx_${NAME}"`)} \\}`,
  `add element ${T} tx4 \\{ ${list(`${V4} : "tx_${NAME}"`)} \\}`,
  `add element ${T} rx6 \\{ ${list(`${V6} : "rx_${NAME}"`)} \\}`,
  `add element ${T} tx6 \\{ ${list(`${V6} : "tx_${NAME}"`)} \\}`,
  // the keys map names a host's rx counter only
  `add element ${T} keys \\{ ${list(`${MAC} : "rx_${NAME}"`)} \\}`,
  // and so does the names map
  `add element ${T} names \\{ ${list(`${NAME_KEY} : "rx_${NAME}"`)} \\}`,
].map((s) => new RegExp(`^${s}$`));

function expectWhitelisted(script: string) {
  expect(script === "" || script.endsWith("\n")).toBe(true);
  for (const line of script.split("\n").slice(0, -1)) {
    if (!WHITELIST.some((re) => re.test(line))) throw new Error(`line outside the whitelist: ${JSON.stringify(line)}`);
  }
}

describe("renderNft", () => {
  test("a rebuild declares the table, the rule and every host; counters start at zero", () => {
    const script = renderNft(ABSENT, [LAPTOP, PHONE], O, REBUILD);
    expect(script).toBe(
      [
        ...NFT_TABLE_DECLARATION,
        "flush chain inet iptmon forward",
        "flush chain inet iptmon forward6",
        "add rule inet iptmon forward meta nfproto ipv6 goto forward6",
        "add rule inet iptmon forward counter name ip saddr map @rx4",
        "add rule inet iptmon forward counter name ip daddr map @tx4",
        "add rule inet iptmon forward6 counter name ip6 saddr map @rx6",
        "add rule inet iptmon forward6 counter name ip6 daddr map @tx6",
        "flush map inet iptmon rx4",
        "flush map inet iptmon tx4",
        "flush map inet iptmon rx6",
        "flush map inet iptmon tx6",
        "flush map inet iptmon keys",
        "flush map inet iptmon names",
        "add table netdev iptmon",
        "delete table netdev iptmon",
        'add counter inet iptmon rx_laptop { packets 0 bytes 0; comment "iptmon: 02:00:00:00:00:01"; }',
        'add counter inet iptmon tx_laptop { packets 0 bytes 0; comment "iptmon: 02:00:00:00:00:01"; }',
        'add counter inet iptmon rx_phone { packets 0 bytes 0; comment "iptmon: 02:00:00:00:00:02"; }',
        'add counter inet iptmon tx_phone { packets 0 bytes 0; comment "iptmon: 02:00:00:00:00:02"; }',
        'add element inet iptmon rx4 { 192.168.1.101 : "rx_laptop", 192.168.1.102 : "rx_phone" }',
        'add element inet iptmon tx4 { 192.168.1.101 : "tx_laptop", 192.168.1.102 : "tx_phone" }',
        'add element inet iptmon rx6 { fd00::aaaa : "rx_laptop", fd00::1:65 : "rx_laptop" }',
        'add element inet iptmon tx6 { fd00::aaaa : "tx_laptop", fd00::1:65 : "tx_laptop" }',
        'add element inet iptmon keys { 02:00:00:00:00:01 : "rx_laptop", 02:00:00:00:00:02 : "rx_phone" }',
        'add element inet iptmon names { 6c61:7074:6f70:0:0:0:0:0 . :: . :: . :: : "rx_laptop", 7068:6f6e:6500:0:0:0:0:0 . :: . :: . :: : "rx_phone" }',
        "",
      ].join("\n"),
    );
  });

  test("the table name and priority come from the options", () => {
    const script = renderNft(ABSENT, [PHONE], { table: "acct", priority: -5, placement: "forward" }, REBUILD);
    expect(script).toContain("table inet acct {\n");
    expect(script).toContain("priority -5;");
    expect(script).not.toContain("iptmon ");
  });

  test("an event that changes nothing renders nothing", () => {
    const cur = present([counted(LAPTOP, { packets: 5, bytes: 500 }), counted(PHONE)]);
    expect(renderNft(cur, [LAPTOP, PHONE], O, EVENT)).toBe("");
    expect(renderNft(present([]), [], O, EVENT)).toBe("");
  });

  test("an event on a missing table rebuilds it", () => {
    expect(renderNft(ABSENT, [PHONE], O, EVENT)).toStartWith("table inet iptmon {\n");
  });

  test("a rebuild over existing hosts keeps their counters (no delete, no re-add)", () => {
    const cur = present([counted(LAPTOP, { packets: 5, bytes: 500 }), counted(PHONE)]);
    const script = renderNft(cur, [LAPTOP, PHONE], O, REBUILD);
    expect(script).not.toContain("add counter");
    expect(script).not.toContain("delete counter");
    // the maps were flushed, so every element is added again
    expect(script).toContain('add element inet iptmon rx4 { 192.168.1.101 : "rx_laptop", 192.168.1.102 : "rx_phone" }');
    expect(script).toContain('add element inet iptmon keys { 02:00:00:00:00:01 : "rx_laptop", 02:00:00:00:00:02 : "rx_phone" }\n');
    expect(script).not.toContain("delete element");
  });

  test("a rebuild deletes stray counters in iptmon's table; an event leaves them", () => {
    const cur = present([counted(PHONE)], ["handmade"]);
    expect(renderNft(cur, [PHONE], O, REBUILD)).toContain("delete counter inet iptmon handmade\n");
    expect(renderNft(cur, [PHONE], O, EVENT)).toBe("");
  });

  test("a new host: counters before the elements naming them", () => {
    const script = renderNft(present([counted(LAPTOP)]), [LAPTOP, PHONE], O, EVENT);
    expect(script.split("\n")).toEqual([
      'add counter inet iptmon rx_phone { packets 0 bytes 0; comment "iptmon: 02:00:00:00:00:02"; }',
      'add counter inet iptmon tx_phone { packets 0 bytes 0; comment "iptmon: 02:00:00:00:00:02"; }',
      'add element inet iptmon rx4 { 192.168.1.102 : "rx_phone" }',
      'add element inet iptmon tx4 { 192.168.1.102 : "tx_phone" }',
      'add element inet iptmon keys { 02:00:00:00:00:02 : "rx_phone" }',
      'add element inet iptmon names { 7068:6f6e:6500:0:0:0:0:0 . :: . :: . :: : "rx_phone" }',
      "",
    ]);
  });

  test("a removed host: elements deleted before the counters they name", () => {
    const script = renderNft(present([counted(LAPTOP), counted(PHONE)]), [PHONE], O, EVENT);
    expect(script.split("\n")).toEqual([...LAPTOP_REMOVED, ""]);
  });

  test("one address less: only that element goes", () => {
    const script = renderNft(present([counted(LAPTOP)]), [{ ...LAPTOP, addresses: ["192.168.1.101", "fd00::aaaa"] }], O, EVENT);
    expect(script).toBe("delete element inet iptmon rx6 { fd00::1:65 }\ndelete element inet iptmon tx6 { fd00::1:65 }\n");
  });

  test("a renamed host: its old pair stays (named by no element from the commit on), the new one starts from nothing", () => {
    const cur = present([counted(PHONE, { packets: 10, bytes: 12345 }, { packets: 20, bytes: 67890 })]);
    const script = renderNft(cur, [{ ...PHONE, name: "newphone" }], O, EVENT);
    expect(script.split("\n")).toEqual([
      "delete element inet iptmon rx4 { 192.168.1.102 }",
      "delete element inet iptmon tx4 { 192.168.1.102 }",
      "delete element inet iptmon keys { 02:00:00:00:00:02 }",
      "delete element inet iptmon names { 7068:6f6e:6500:0:0:0:0:0 . :: . :: . :: }",
      'add counter inet iptmon rx_newphone { packets 0 bytes 0; comment "iptmon: 02:00:00:00:00:02"; }',
      'add counter inet iptmon tx_newphone { packets 0 bytes 0; comment "iptmon: 02:00:00:00:00:02"; }',
      'add element inet iptmon rx4 { 192.168.1.102 : "rx_newphone" }',
      'add element inet iptmon tx4 { 192.168.1.102 : "tx_newphone" }',
      'add element inet iptmon keys { 02:00:00:00:00:02 : "rx_newphone" }',
      'add element inet iptmon names { 6e65:7770:686f:6e65:0:0:0:0 . :: . :: . :: : "rx_newphone" }',
      "",
    ]);
  });

  test("an address moving between hosts is deleted, then added to its new counter", () => {
    const desired = [
      { ...LAPTOP, addresses: ["192.168.1.101", "fd00::aaaa"] },
      { ...PHONE, addresses: ["192.168.1.102", "fd00::1:65"] },
    ];
    const script = renderNft(present([counted(LAPTOP), counted(PHONE)]), desired, O, EVENT);
    const lines = script.split("\n");
    expect(lines.indexOf("delete element inet iptmon rx6 { fd00::1:65 }")).toBeGreaterThanOrEqual(0);
    expect(lines.indexOf('add element inet iptmon rx6 { fd00::1:65 : "rx_phone" }')).toBeGreaterThan(lines.indexOf("delete element inet iptmon rx6 { fd00::1:65 }"));
    expect(script).not.toContain("counter inet iptmon");
    expect(script).not.toContain("element inet iptmon keys");
  });

  test("a static host's key goes into the comment, and no MAC into the keys map", () => {
    const script = renderNft(ABSENT, [NAS], O, REBUILD);
    expect(script).toContain('add counter inet iptmon rx_nas { packets 0 bytes 0; comment "iptmon: host:nas"; }');
    expect(script).not.toContain("element inet iptmon keys");
  });

  test("a DUID host has no keys element; a MAC host next to it has one", () => {
    const duid: Host = { key: "duid:000200000ab1", name: "tablet", addresses: ["fd00::77"] };
    const script = renderNft(present([counted(PHONE)]), [PHONE, duid], O, EVENT);
    expect(script).toContain('add counter inet iptmon rx_tablet { packets 0 bytes 0; comment "iptmon: duid:000200000ab1"; }');
    expect(script).not.toContain("element inet iptmon keys");
    expect(renderNft(present([counted(PHONE), counted(duid)]), [duid], O, EVENT)).toContain("delete element inet iptmon keys { 02:00:00:00:00:02 }\n");
  });

  test.each([
    ["a space", "living room"],
    ["a quote", 'tv"'],
    ["a semicolon", "a;b"],
    ["a brace", "a}"],
    ["a newline", "a\nb"],
    ["non-ASCII", "müller"],
    ["64 characters", "x".repeat(64)],
    ["nothing", ""],
  ])("refuses a host name with %s", (_what, name) => {
    expect(() => renderNft(ABSENT, [{ ...PHONE, name }], O, REBUILD)).toThrow(/unsafe host name/);
    expect(() => renderNft(present([]), [{ ...PHONE, name }], O, EVENT)).toThrow(/unsafe host name/);
  });

  test("refuses a host key that would break out of the comment", () => {
    expect(() => renderNft(ABSENT, [{ ...PHONE, key: 'x"; flush ruleset; "' }], O, REBUILD)).toThrow(/unsafe host key/);
    expect(() => renderNft(ABSENT, [{ ...PHONE, key: "a\nb" }], O, REBUILD)).toThrow(/unsafe host key/);
  });

  test("a 63-character name is the longest allowed", () => {
    expectWhitelisted(renderNft(ABSENT, [{ ...PHONE, name: "x".repeat(63) }], O, REBUILD));
  });
});


const HOSTILE = ['"', "'", "`", "{", "}", ";", "\n", "\r", "\t", " ", "$", "(", ")", "*", "\\", "\0", "#", "@", ":", ",", ".", "-", "_", "/", "|", "&", "<", ">", "ü", "名", "😀", "\u202e", "\u00a0", "."];

function hostileName(rnd: () => number): string {
  const len = Math.floor(rnd() * 300);
  let s = "";
  for (let i = 0; i < len; i++) {
    const r = rnd();
    if (r < 0.45) s += HOSTILE[Math.floor(rnd() * HOSTILE.length)];
    else if (r < 0.85) s += "abcXYZ019".charAt(Math.floor(rnd() * 9));
    else if (r < 0.95) s += String.fromCharCode(Math.floor(rnd() * 256));
    else s += String.fromCodePoint(0x80 + Math.floor(rnd() * 0x2ff00));
  }
  // Sometimes a domain suffix, sometimes nothing usable at all.
  if (rnd() < 0.2) s += ".lan";
  if (rnd() < 0.05) s = '";{}\n';
  return s;
}

describe("nameKeyText", () => {
  test("a name's key as nft writes it: 16 bytes per address, lower case, every group written, `::` past the name", () => {
    expect(nameKeyText("Living-Room-TV-17")).toBe("6c69:7669:6e67:2d72:6f6f:6d2d:7476:2d31 . 3700:0:0:0:0:0:0:0 . :: . ::");
    expect(nameKeyText("ab")).toBe("6162:0:0:0:0:0:0:0 . :: . :: . ::");
  });

  test("at every length, and at every chunk boundary, it reads back as the key's bytes", () => {
    for (let n = 1; n <= 63; n++) {
      const name = "Ab0._-Z9".repeat(8).slice(0, n);
      expect(keyBytes(nameKeyText(name))).toEqual(nameKeyBytes(name));
    }
  });

  test("an unsafe name never becomes a key", () => {
    for (const bad of ["", "a b", 'x"; flush ruleset', "ä", "a".repeat(64)]) expect(() => nameKeyText(bad)).toThrow(/unsafe host name/);
  });
});

describe("renderNft: hostile hostnames (property test)", () => {
  const rnd = prng(0x1b7e0);
  const raw = Array.from({ length: 200 }, () => hostileName(rnd));
  const mac = (i: number) => `02:00:00:00:${((i >> 8) & 0xff).toString(16).padStart(2, "0")}:${(i & 0xff).toString(16).padStart(2, "0")}`;
  const v4 = (i: number) => `10.0.1.${i + 2}`;
  const k: Knowledge = {
    // Each name reaches planning through another source: a lease, the lease
    // file's v6 part, a hosts file, iptmon's config, a UCI static lease.
    leases: raw.flatMap((name, i): Lease[] =>
      i % 5 === 0
        ? [{ expires: 1_900_000_000, mac: mac(i), duid: null, address: v4(i), family: 4 as const, hostname: name }]
        : i % 5 === 1
          ? [{ expires: 1_900_000_000, mac: null, duid: `00:02:00:00:ab:11:${mac(i)}`, address: `fd00::${i.toString(16)}`, family: 6 as const, hostname: name }]
          : [],
    ),
    hostsEntries: raw.flatMap((name, i) => (i % 5 === 2 ? [{ address: v4(i), family: 4 as const, names: [name] }] : [])),
    configHosts: raw.flatMap((name, i) => (i % 5 === 3 ? [{ mac: mac(i), name, ignore: false, addresses: [v4(i), `fd00::${i.toString(16)}`], line: i }] : [])),
    staticLeases: raw.flatMap((name, i) => (i % 5 === 4 ? [{ macs: [mac(i)], address: v4(i), name, line: i }] : [])),
    neighbours: [],
    domain: "lan",
    lan: { subnets: [parseSubnet("10.0.0.0/16")!, parseSubnet("fd00::/64")!], own: new Set(["10.0.0.1"]), ipv6: true, warnings: [] },
  };

  test("sanitizeName reduces every one of them to a safe name or null", () => {
    for (const r of raw) {
      const s = sanitizeName(r, "lan");
      if (s !== null) expect(s).toMatch(/^[A-Za-z0-9._-]{1,63}$/);
    }
    // the generator does produce names that sanitise to nothing
    expect(raw.some((r) => sanitizeName(r, "lan") === null)).toBe(true);
  });

  test("planInit gives unique safe names and every address to one host", () => {
    const hosts = planInit(k, []);
    expect(hosts.length).toBeGreaterThan(150);
    const lower = hosts.map((h) => h.name.toLowerCase());
    expect(new Set(lower).size).toBe(hosts.length);
    for (const h of hosts) expect(h.name).toMatch(/^[A-Za-z0-9._-]{1,63}$/);
    const addrs = hosts.flatMap((h) => h.addresses);
    expect(new Set(addrs).size).toBe(addrs.length);
  });

  test("the init script has only whitelisted lines", () => {
    const script = renderNft(ABSENT, planInit(k, []), O, REBUILD);
    expect(script.split("\n").length).toBeGreaterThan(400);
    expectWhitelisted(script);
  });

  test("event scripts for hostile names, against that state, have only whitelisted lines", () => {
    const hosts = planInit(k, []);
    const cur = present(hosts.map((h) => counted(h, { packets: 1, bytes: 2 })));
    const r2 = prng(42);
    let rendered = 0;
    for (let i = 0; i < 200; i++) {
      const target = i % 2 === 0 ? hosts[Math.floor(r2() * hosts.length)]! : { key: mac(1000 + i), addresses: [`10.0.9.${(i % 250) + 2}`] };
      const ev: HostEvent = { action: "add", source: "dhcp", key: target.key.startsWith("02:") ? target.key : mac(2000 + i), address: target.addresses[0]!, hostname: hostileName(r2) };
      const p = planEvent(cur as FullState, ev, resolveEventKey(ev, k)!, k);
      if (p.kind !== "change") continue;
      const script = renderChange(planNft(cur, p.hosts, EVENT), O);
      expectWhitelisted(script);
      rendered++;
    }
    expect(rendered).toBeGreaterThan(150);
  });

  test("the same events against the maps-only read (a full read where planning asks): whitelisted, and an unknown key never reaches nft", () => {
    const hosts = planInit(k, []);
    // What `nft -j list maps inet` prints for that state.
    const maps = (name: string, family: 4 | 6, dir: "rx" | "tx") => ({
      map: {
        family: "inet",
        table: "iptmon",
        name,
        elem: hosts.flatMap((h) => h.addresses.filter((a) => (a.includes(":") ? 6 : 4) === family).map((a) => [a, `${dir}_${h.name}`])),
      },
    });
    const keys = { map: { family: "inet", table: "iptmon", name: "keys", elem: hosts.filter((h) => macOf(h.key)).map((h) => [h.key, `rx_${h.name}`]) } };
    const names = { map: { family: "inet", table: "iptmon", name: "names" } };
    const cur = parseNftMapsJson(JSON.stringify({ nftables: [maps("rx4", 4, "rx"), maps("tx4", 4, "tx"), maps("rx6", 6, "rx"), maps("tx6", 6, "tx"), keys, names] }), "iptmon");
    if (!("read" in cur) || cur.read !== "layout") throw new Error("expected a layout read");
    expect(cur.hosts.map((h) => h.key ?? `(none) ${h.name}`).sort()).toEqual(hosts.map((h) => (macOf(h.key) ? h.key : `(none) ${h.name}`)).sort());
    const full = present(hosts.map((h) => counted(h, { packets: 1, bytes: 2 })));
    const macHosts = hosts.filter((h) => macOf(h.key));
    const r2 = prng(7);
    let rendered = 0;
    let fullReads = 0;
    for (let i = 0; i < 200; i++) {
      const target = macHosts[Math.floor(r2() * macHosts.length)]!;
      const ev: HostEvent = { action: i % 4 === 3 ? "del" : "add", source: "dhcp", key: i % 3 === 0 ? mac(3000 + i) : target.key, address: target.addresses[0]!, hostname: hostileName(r2) };
      const key = resolveEventKey(ev, k)!;
      let state: NftState = cur;
      let p = planEvent(cur, ev, key, k);
      if (p.kind === "need-full") {
        fullReads++;
        state = full;
        p = planEvent(full as FullState, ev, key, k);
      }
      if (p.kind !== "change") continue;
      const script = renderChange(planNft(state, p.hosts, EVENT), O);
      expectWhitelisted(script);
      rendered++;
    }
    expect(rendered).toBeGreaterThan(100);
    expect(fullReads).toBeGreaterThan(0);
  });

  test("the whitelist itself rejects an injected statement", () => {
    expect(() => expectWhitelisted('add counter inet iptmon rx_a { packets 0 bytes 0; comment "iptmon: x"; }; flush ruleset\n')).toThrow(/whitelist/);
    expect(() => expectWhitelisted("flush ruleset\n")).toThrow(/whitelist/);
  });
});

/*
 * test/fixtures/core, captured from nft 1.0.6 in a network namespace:
 * test/golden/init-basic/expected.nft applied (laptop's counters created with
 * packets 12 bytes 3456 / packets 34 bytes 56789), then three counters iptmon
 * did not make: `handmade` (no comment), `rx_nocomment` (comment "someone
 * else") and `tx_nocomment`, and a foreign `table inet other` holding
 * `counter rx_ghost { comment "iptmon: 02:00:00:00:00:99"; }`, a map rx4
 * { 192.168.1.200 : "rx_ghost" } and a map keys { 02:00:00:00:00:99 : "rx_ghost" };
 * then `nft -j list table inet iptmon` (nft-list.json) and `nft -j list maps
 * inet` (nft-maps.json). The `-nokeys` pair is the same with the table laid out
 * by iptmon before the keys map (init-basic/expected.nft of commit 6573b3b).
 */
const fixture = (name: string) => readFileSync(`${import.meta.dir}/../fixtures/core/${name}`, "utf8");

describe("parseNftJson", () => {
  const json = fixture("nft-list.json");
  const zero = { packets: 0, bytes: 0 };
  const EXPECTED: CountedHost[] = [
    { key: "02:00:00:00:00:05", name: "192.168.1.105", addresses: ["192.168.1.105"], rx: zero, tx: zero },
    { key: "02:00:00:00:00:0a", name: "Living-Room-TV", addresses: ["192.168.1.110"], rx: zero, tx: zero },
    { key: "02:00:00:00:00:02", name: "android", addresses: ["192.168.1.102"], rx: zero, tx: zero },
    { key: "02:00:00:00:00:03", name: "android-2", addresses: ["192.168.1.103"], rx: zero, tx: zero },
    { key: "02:00:00:00:00:0d", name: "camera", addresses: ["192.168.1.113"], rx: zero, tx: zero },
    { key: "02:00:00:00:00:04", name: "desk", addresses: ["192.168.1.104"], rx: zero, tx: zero },
    { key: "02:00:00:00:00:01", name: "laptop", addresses: ["192.168.1.101", "fd00::aaaa", "fd00::1:65"], rx: { packets: 12, bytes: 3456 }, tx: { packets: 34, bytes: 56789 } },
    { key: "host:nas", name: "nas", addresses: ["192.168.1.50", "fd00::32"], rx: zero, tx: zero },
  ];

  test("finds the table and every host with its key, addresses and counters", () => {
    const a = fullOf(parseNftJson(json, "iptmon"));
    expect(a.complete).toBe(true);
    const sortAddrs = (h: CountedHost) => ({ ...h, addresses: [...h.addresses].sort() });
    expect(a.hosts.map(sortAddrs).sort((x, y) => x.name.localeCompare(y.name))).toEqual(EXPECTED.map(sortAddrs).sort((x, y) => x.name.localeCompare(y.name)));
  });

  test("counters without the `iptmon: ` comment are strays, not hosts", () => {
    const a = fullOf(parseNftJson(json, "iptmon"));
    expect(a.hosts.map((h) => h.name)).not.toContain("nocomment");
    expect([...a.strays].sort()).toEqual(["handmade", "rx_nocomment", "tx_nocomment"]);
  });

  test("round trip: rendering the parsed state as desired is empty; a rebuild only removes the strays", () => {
    const a = fullOf(parseNftJson(json, "iptmon"));
    const desired: Host[] = a.hosts.map(({ key, name, addresses }) => ({ key, name, addresses }));
    expect(renderNft(a, desired, O, EVENT)).toBe("");
    const rebuild = renderNft(a, desired, O, REBUILD);
    expect(rebuild).not.toContain("add counter");
    expect(rebuild.split("\n").filter((l) => l.startsWith("delete counter")).sort()).toEqual([
      "delete counter inet iptmon handmade",
      "delete counter inet iptmon rx_nocomment",
      "delete counter inet iptmon tx_nocomment",
    ]);
  });

  test("the comment prefix is what renderNft writes", () => {
    expect(COMMENT_PREFIX).toBe("iptmon: ");
    expect(json).toContain('"comment": "iptmon: 02:00:00:00:00:01"');
  });

  test("another table's objects are not iptmon's", () => {
    expect(parseNftJson(json, "other")).toEqual({ read: "absent" });
  });

  test("an rx counter without its tx partner is no host", () => {
    const doc = {
      nftables: [
        { table: { family: "inet", name: "iptmon", handle: 1 } },
        { counter: { family: "inet", name: "rx_lonely", table: "iptmon", handle: 2, comment: "iptmon: 02:00:00:00:00:09", packets: 1, bytes: 2 } },
      ],
    };
    expect(parseNftJson(JSON.stringify(doc), "iptmon")).toEqual({ read: "full", complete: false, hosts: [], strays: ["rx_lonely"], parts: new Map() });
  });

  test("an empty listing is an absent table", () => {
    expect(parseNftJson('{"nftables": [{"metainfo": {"version": "1.0.6"}}]}', "iptmon")).toEqual({ read: "absent" });
  });
});

describe("parseNftMapsJson", () => {
  const maps = fixture("nft-maps.json");
  const byName = (x: LaidOutHost, y: LaidOutHost) => x.name.localeCompare(y.name);
  const sortAddrs = <H extends LaidOutHost>(h: H) => ({ ...h, addresses: [...h.addresses].sort() });

  test("the same hosts as the full listing of that kernel: names, addresses, MAC keys; no counters", () => {
    const full = fullOf(parseNftJson(fixture("nft-list.json"), "iptmon"));
    const a = layoutOf(parseNftMapsJson(maps, "iptmon"));
    const expected = full.hosts.map(({ key, name, addresses }) => ({ key: macOf(key) ? key : null, name, addresses }));
    expect(a.hosts.map(sortAddrs).sort(byName)).toEqual(expected.map(sortAddrs).sort(byName));
  });

  test("a host the keys map does not name (static, DUID) has no key in this read", () => {
    const a = layoutOf(parseNftMapsJson(maps, "iptmon"));
    expect(a.hosts.find((h) => h.name === "nas")).toEqual({ key: null, name: "nas", addresses: ["192.168.1.50", "fd00::32"] });
    expect(a.hosts.find((h) => h.name === "laptop")?.key).toBe("02:00:00:00:00:01");
    const duid = {
      nftables: [
        { map: { family: "inet", name: "rx4", table: "iptmon", type: "ipv4_addr", handle: 2, map: "counter" } },
        { map: { family: "inet", name: "rx6", table: "iptmon", type: "ipv6_addr", handle: 4, map: "counter", elem: [["fd00::77", "rx_tablet"]] } },
        { map: { family: "inet", name: "tx6", table: "iptmon", type: "ipv6_addr", handle: 5, map: "counter", elem: [["fd00::77", "tx_tablet"]] } },
        { map: { family: "inet", name: "keys", table: "iptmon", type: "ether_addr", handle: 6, map: "counter" } },
        { map: { family: "inet", name: "names", table: "iptmon", type: ["ipv6_addr", "ipv6_addr", "ipv6_addr", "ipv6_addr"], handle: 7, map: "counter" } },
      ],
    };
    expect(parseNftMapsJson(JSON.stringify(duid), "iptmon")).toEqual({ read: "layout", hosts: [{ key: null, name: "tablet", addresses: ["fd00::77"] }] });
  });

  test("another table's maps are ignored, its keys map included", () => {
    const a = layoutOf(parseNftMapsJson(maps, "iptmon"));
    expect(a.hosts.map((h) => h.name)).not.toContain("ghost");
    expect(a.hosts.flatMap((h) => h.addresses)).not.toContain("192.168.1.200");
    // ...and read as that table's own, they are its hosts
    expect(layoutOf(parseNftMapsJson(maps, "other")).hosts).toEqual([{ key: "02:00:00:00:00:99", name: "ghost", addresses: ["192.168.1.200"] }]);
  });

  test("a shortfall when iptmon's maps exist but the keys map does not (a table of an older iptmon), even if another table has one", () => {
    const old = fixture("nft-maps-nokeys.json");
    expect(old).toContain('"name": "keys", "table": "other"');
    expect(parseNftMapsJson(old, "iptmon")).toEqual({ shortfall: "no keys map" });
  });

  test("a shortfall when iptmon has no rx map: nothing listed, or only another table's maps", () => {
    const NONE = { shortfall: "no maps" as const };
    expect(parseNftMapsJson('{"nftables": [{"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5", "json_schema_version": 1}}]}', "iptmon")).toEqual(NONE);
    expect(parseNftMapsJson("{}", "iptmon")).toEqual(NONE);
    expect(parseNftMapsJson(maps, "acct")).toEqual(NONE);
  });

  test("maps without a single element cannot be told from an nft that leaves elements out: a shortfall (read it whole)", () => {
    const m = (name: string, type: string, handle: number) => ({ map: { family: "inet", name, table: "iptmon", type, handle, map: "counter" } });
    const doc = { nftables: [m("rx4", "ipv4_addr", 2), m("tx4", "ipv4_addr", 3), m("rx6", "ipv6_addr", 4), m("tx6", "ipv6_addr", 5), m("keys", "ether_addr", 6), m("names", "ipv6_addr", 7)] };
    expect(parseNftMapsJson(JSON.stringify(doc), "iptmon")).toEqual({ shortfall: "no elements" });
  });

  test("a shortfall when the names map is not there (a table of an earlier iptmon): a change must declare it", () => {
    const doc = JSON.parse(maps) as { nftables: { map?: { name: string } }[] };
    const without = JSON.stringify({ nftables: doc.nftables.filter((o) => o.map?.name !== "names") });
    expect(parseNftMapsJson(without, "iptmon")).toEqual({ shortfall: "no names map" });
  });

  test("round trip: the layout planned against itself is empty", () => {
    const a = layoutOf(parseNftMapsJson(maps, "iptmon"));
    expect(renderNft(a, a.hosts, O, EVENT)).toBe("");
  });
});

describe("createNftBackend", () => {
  const cfg = parseConfig("config iptmon\n\toption backend 'nftables'\n", "/etc/config/iptmon");
  const LIST = "nft -j list table inet iptmon";
  const MAPS = "nft -j list maps inet";
  const commandLines = (sys: ReturnType<typeof fakeSys>) => sys.calls.map((c) => [c.cmd, ...c.args].join(" "));
  const NO_TABLE = { code: 1, stdout: "", stderr: "Error: No such file or directory\nlist table inet iptmon\n" };
  const plannedPhone = planCounters(ABSENT, [PHONE])!;

  test("read full: a missing table is absent, not an error", () => {
    const sys = fakeSys({ commands: { [LIST]: NO_TABLE } });
    expect(createNftBackend(sys, cfg, -1).read("full")).toEqual({ read: "absent" });
  });

  test("read full: parses nft's JSON", () => {
    const sys = fakeSys({ commands: { [LIST]: ok(fixture("nft-list.json")) } });
    expect(fullOf(createNftBackend(sys, cfg, -1).read("full")).hosts).toHaveLength(8);
  });

  test("read for an event: one `nft -j list maps inet`, parsed without counters", () => {
    const sys = fakeSys({ commands: { [MAPS]: ok(fixture("nft-maps.json")) } });
    const a = createNftBackend(sys, cfg, -1).read("event");
    expect(a.read).toBe("layout");
    expect(commandLines(sys)).toEqual([MAPS]);
  });

  test("read for an event: where the maps fall short, the whole table is read", () => {
    const nokeys = fakeSys({ commands: { [MAPS]: ok(fixture("nft-maps-nokeys.json")), [LIST]: ok(fixture("nft-list-nokeys.json")) } });
    expect(fullOf(createNftBackend(nokeys, cfg, -1).read("event")).complete).toBe(false);
    expect(commandLines(nokeys)).toEqual([MAPS, LIST]);
    const empty = '{"nftables": [{"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5", "json_schema_version": 1}}]}';
    const gone = fakeSys({ commands: { [MAPS]: ok(empty), [LIST]: NO_TABLE } });
    expect(createNftBackend(gone, cfg, -1).read("event")).toEqual({ read: "absent" });
  });

  test("read for an event: nft failing is a short user error; missing nft says `not found`", () => {
    const denied = fakeSys({ commands: { [MAPS]: { code: 1, stdout: "", stderr: "Error: Operation not permitted\n" } } });
    expect(() => createNftBackend(denied, cfg, -1).read("event")).toThrow("cannot read maps of table inet iptmon: Error: Operation not permitted");
    expect(() => createNftBackend(fakeSys(), cfg, -1).read("event")).toThrow("cannot read maps of table inet iptmon: nft not found");
  });
  test("a missing nft binary is a user error saying `not found`", () => {
    const err = userError(() => createNftBackend(fakeSys(), cfg, -1).read("full"));
    expect(err.exitCode).toBe(1);
    expect(err.message).toBe("cannot read table inet iptmon: nft not found");
  });

  test("apply: feeds the script to `nft -f -`, and nothing when there is nothing to do", () => {
    const sys = fakeSys({ commands: { "nft -f -": ok() } });
    const b = createNftBackend(sys, cfg, -1);
    const cur = present([counted(PHONE)]);
    b.apply(b.plan(cur, planCounters(cur, [PHONE])!, EVENT));
    expect(sys.calls).toEqual([]);
    b.apply(b.plan(ABSENT, plannedPhone, REBUILD));
    expect(sys.calls).toHaveLength(1);
    expect(sys.calls[0]!.input).toBe(renderNft(ABSENT, [PHONE], O, REBUILD));
  });

  test("apply: nft's first error line becomes the message", () => {
    const sys = fakeSys({ commands: { "nft -f -": { code: 1, stdout: "", stderr: "/dev/stdin:3:1-5: Error: Could not process rule: Device or resource busy\nmore\n" } } });
    expect(() => createNftBackend(sys, cfg, -1).apply(planNft(ABSENT, plannedPhone, REBUILD))).toThrow(
      "cannot apply ruleset to table inet iptmon: /dev/stdin:3:1-5: Error: Could not process rule: Device or resource busy",
    );
  });

  test("remove: an idempotent add+delete of iptmon's tables (both placements) only", () => {
    const sys = fakeSys({ commands: { "nft -f -": ok() } });
    createNftBackend(sys, cfg, -1).remove();
    expect(sys.calls[0]!.input).toBe("add table inet iptmon\ndelete table inet iptmon\nadd table netdev iptmon\ndelete table netdev iptmon\n");
  });

  test("check: runs `nft -c -f -` with the rendered script", () => {
    const sys = fakeSys({ commands: { "nft -c -f -": ok() } });
    createNftBackend(sys, cfg, -1).check(planNft(ABSENT, plannedPhone, REBUILD));
    expect(sys.calls.map((c) => [c.cmd, ...c.args].join(" "))).toEqual(["nft -c -f -"]);
    expect(sys.calls[0]!.input).toContain("add counter inet iptmon rx_phone");
  });
});

describe("renderNft: a counter name taken over by another key", () => {
  test("its elements are deleted before the counter and added again after", () => {
    const old = counted({ key: "02:00:00:00:00:02", name: "phone", addresses: ["192.168.1.12"] }, { packets: 5, bytes: 500 });
    const next: Host = { key: "02:00:00:00:00:03", name: "phone", addresses: ["192.168.1.12"] };
    const lines = renderNft(present([old]), [next], O, EVENT).trim().split("\n");
    const idx = (re: RegExp) => lines.findIndex((l) => re.test(l));
    expect(idx(/^delete element inet iptmon rx4 \{ 192\.168\.1\.12 \}$/)).toBeGreaterThanOrEqual(0);
    expect(idx(/^delete element/)).toBeLessThan(idx(/^delete counter inet iptmon rx_phone$/));
    expect(idx(/^add counter inet iptmon rx_phone \{ packets 0 bytes 0; comment "iptmon: 02:00:00:00:00:03"; \}$/)).toBeLessThan(idx(/^add element inet iptmon rx4 \{ 192\.168\.1\.12 : "rx_phone" \}$/));
    // the keys map names the counter too: the old MAC goes first, the new one comes after
    expect(idx(/^delete element inet iptmon keys \{ 02:00:00:00:00:02 \}$/)).toBeGreaterThanOrEqual(0);
    expect(idx(/^delete element inet iptmon keys/)).toBeLessThan(idx(/^delete counter inet iptmon rx_phone$/));
    expect(idx(/^add element inet iptmon keys \{ 02:00:00:00:00:03 : "rx_phone" \}$/)).toBeGreaterThan(idx(/^add counter inet iptmon rx_phone /));
  });

  test("the same MAC re-pointed when its name is handed to another key", () => {
    // 02 gives up `phone` (renamed to `old-phone`) and 03 takes it over.
    const cur = present([counted({ key: "02:00:00:00:00:02", name: "phone", addresses: ["192.168.1.12"] }), counted({ key: "02:00:00:00:00:03", name: "phone-2", addresses: ["192.168.1.13"] })]);
    const desired: Host[] = [
      { key: "02:00:00:00:00:02", name: "old-phone", addresses: ["192.168.1.12"] },
      { key: "02:00:00:00:00:03", name: "phone", addresses: ["192.168.1.13"] },
    ];
    const lines = renderNft(cur, desired, O, EVENT).trim().split("\n");
    expect(lines.filter((l) => l.includes(" keys "))).toEqual([
      "delete element inet iptmon keys { 02:00:00:00:00:02, 02:00:00:00:00:03 }",
      'add element inet iptmon keys { 02:00:00:00:00:02 : "rx_old-phone", 02:00:00:00:00:03 : "rx_phone" }',
    ]);
    expect(lines.indexOf("delete element inet iptmon keys { 02:00:00:00:00:02, 02:00:00:00:00:03 }")).toBeLessThan(lines.indexOf("delete counter inet iptmon rx_phone"));
  });
});
