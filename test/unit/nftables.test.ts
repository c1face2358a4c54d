import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { parseSubnet } from "../../src/addr.ts";
import { COMMENT_PREFIX, createNftBackend, parseNftJson, renderNft, type NftOptions } from "../../src/backends/nftables.ts";
import { parseConfig } from "../../src/config.ts";
import { UserError } from "../../src/errors.ts";
import { sanitizeName, type Applied, type CountedHost, type Host } from "../../src/model.ts";
import { planEvent, planInit, type Knowledge } from "../../src/plan.ts";
import type { Lease } from "../../src/sources/leases.ts";
import { fakeSys, ok } from "../helpers/fakesys.ts";

const O: NftOptions = { table: "iptmon", priority: -1 };
const REBUILD = { rebuild: true };
const EVENT = { rebuild: false };
const ABSENT: Applied = { present: false, hosts: [] };

const counted = (h: Host, rx = { packets: 0, bytes: 0 }, tx = { packets: 0, bytes: 0 }): CountedHost => ({ ...h, rx, tx });
const present = (hosts: CountedHost[], strayCounters: string[] = []): Applied => ({ present: true, hosts, strayCounters });

const LAPTOP: Host = { key: "02:00:00:00:00:01", name: "laptop", addresses: ["192.168.1.101", "fd00::aaaa", "fd00::1:65"] };
const PHONE: Host = { key: "02:00:00:00:00:02", name: "phone", addresses: ["192.168.1.102"] };
const NAS: Host = { key: "host:nas", name: "nas", addresses: ["fd00::32"] };

// Every statement renderNft may emit; anything else in a script is a bug.
const NAME = "[A-Za-z0-9._-]{1,63}";
const V4 = "\\d{1,3}(?:\\.\\d{1,3}){3}";
const V6 = "[0-9a-f]*:[0-9a-f:]*";
const KEY = `(?:[0-9a-f]{2}(?::[0-9a-f]{2}){5}|duid:[0-9a-f]{1,100}|host:${NAME})`;
const T = "inet iptmon";
const list = (item: string) => `${item}(?:, ${item})*`;
const WHITELIST = [
  `table ${T} \\{`,
  "\\tmap (?:rx|tx)4 \\{ type ipv4_addr : counter; \\}",
  "\\tmap (?:rx|tx)6 \\{ type ipv6_addr : counter; \\}",
  "\\tchain forward \\{ type filter hook forward priority -1; policy accept; \\}",
  "\\}",
  `flush chain ${T} forward`,
  `add rule ${T} forward counter name (?:ip saddr map @rx4|ip daddr map @tx4|ip6 saddr map @rx6|ip6 daddr map @tx6)`,
  `flush map ${T} (?:rx|tx)[46]`,
  `delete element ${T} (?:rx|tx)4 \\{ ${list(V4)} \\}`,
  `delete element ${T} (?:rx|tx)6 \\{ ${list(V6)} \\}`,
  `delete counter ${T} (?:rx|tx)_${NAME}`,
  `add counter ${T} (?:rx|tx)_${NAME} \\{ packets \\d+ bytes \\d+; comment "iptmon: ${KEY}"; \\}`,
  `add element ${T} rx4 \\{ ${list(`${V4} : "rx_${NAME}"`)} \\}`,
  `add element ${T} tx4 \\{ ${list(`${V4} : "tx_${NAME}"`)} \\}`,
  `add element ${T} rx6 \\{ ${list(`${V6} : "rx_${NAME}"`)} \\}`,
  `add element ${T} tx6 \\{ ${list(`${V6} : "tx_${NAME}"`)} \\}`,
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
        "table inet iptmon {",
        "\tmap rx4 { type ipv4_addr : counter; }",
        "\tmap tx4 { type ipv4_addr : counter; }",
        "\tmap rx6 { type ipv6_addr : counter; }",
        "\tmap tx6 { type ipv6_addr : counter; }",
        "\tchain forward { type filter hook forward priority -1; policy accept; }",
        "}",
        "flush chain inet iptmon forward",
        "add rule inet iptmon forward counter name ip saddr map @rx4",
        "add rule inet iptmon forward counter name ip daddr map @tx4",
        "add rule inet iptmon forward counter name ip6 saddr map @rx6",
        "add rule inet iptmon forward counter name ip6 daddr map @tx6",
        "flush map inet iptmon rx4",
        "flush map inet iptmon tx4",
        "flush map inet iptmon rx6",
        "flush map inet iptmon tx6",
        'add counter inet iptmon rx_laptop { packets 0 bytes 0; comment "iptmon: 02:00:00:00:00:01"; }',
        'add counter inet iptmon tx_laptop { packets 0 bytes 0; comment "iptmon: 02:00:00:00:00:01"; }',
        'add counter inet iptmon rx_phone { packets 0 bytes 0; comment "iptmon: 02:00:00:00:00:02"; }',
        'add counter inet iptmon tx_phone { packets 0 bytes 0; comment "iptmon: 02:00:00:00:00:02"; }',
        'add element inet iptmon rx4 { 192.168.1.101 : "rx_laptop", 192.168.1.102 : "rx_phone" }',
        'add element inet iptmon tx4 { 192.168.1.101 : "tx_laptop", 192.168.1.102 : "tx_phone" }',
        'add element inet iptmon rx6 { fd00::aaaa : "rx_laptop", fd00::1:65 : "rx_laptop" }',
        'add element inet iptmon tx6 { fd00::aaaa : "tx_laptop", fd00::1:65 : "tx_laptop" }',
        "",
      ].join("\n"),
    );
  });

  test("the table name and priority come from the options", () => {
    const script = renderNft(ABSENT, [PHONE], { table: "acct", priority: -5 }, REBUILD);
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
      "",
    ]);
  });

  test("a removed host: elements deleted before the counters they name", () => {
    const script = renderNft(present([counted(LAPTOP), counted(PHONE)]), [PHONE], O, EVENT);
    expect(script.split("\n")).toEqual([
      "delete element inet iptmon rx4 { 192.168.1.101 }",
      "delete element inet iptmon tx4 { 192.168.1.101 }",
      "delete element inet iptmon rx6 { fd00::aaaa, fd00::1:65 }",
      "delete element inet iptmon tx6 { fd00::aaaa, fd00::1:65 }",
      "delete counter inet iptmon rx_laptop",
      "delete counter inet iptmon tx_laptop",
      "",
    ]);
  });

  test("one address less: only that element goes", () => {
    const script = renderNft(present([counted(LAPTOP)]), [{ ...LAPTOP, addresses: ["192.168.1.101", "fd00::aaaa"] }], O, EVENT);
    expect(script).toBe("delete element inet iptmon rx6 { fd00::1:65 }\ndelete element inet iptmon tx6 { fd00::1:65 }\n");
  });

  test("a renamed host carries its counters over to the new name", () => {
    const cur = present([counted(PHONE, { packets: 10, bytes: 12345 }, { packets: 20, bytes: 67890 })]);
    const script = renderNft(cur, [{ ...PHONE, name: "newphone" }], O, EVENT);
    expect(script.split("\n")).toEqual([
      "delete element inet iptmon rx4 { 192.168.1.102 }",
      "delete element inet iptmon tx4 { 192.168.1.102 }",
      "delete counter inet iptmon rx_phone",
      "delete counter inet iptmon tx_phone",
      'add counter inet iptmon rx_newphone { packets 10 bytes 12345; comment "iptmon: 02:00:00:00:00:02"; }',
      'add counter inet iptmon tx_newphone { packets 20 bytes 67890; comment "iptmon: 02:00:00:00:00:02"; }',
      'add element inet iptmon rx4 { 192.168.1.102 : "rx_newphone" }',
      'add element inet iptmon tx4 { 192.168.1.102 : "tx_newphone" }',
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
  });

  test("a static host's key goes into the comment", () => {
    expect(renderNft(ABSENT, [NAS], O, REBUILD)).toContain('add counter inet iptmon rx_nas { packets 0 bytes 0; comment "iptmon: host:nas"; }');
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

/** A small deterministic PRNG (mulberry32), so a failure can be reproduced. */
function prng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

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
        ? [{ expires: 1_900_000_000, mac: mac(i), duid: null, iaid: null, address: v4(i), family: 4 as const, hostname: name }]
        : i % 5 === 1
          ? [{ expires: 1_900_000_000, mac: null, duid: `00:02:00:00:ab:11:${mac(i)}`, iaid: "1", address: `fd00::${i.toString(16)}`, family: 6 as const, hostname: name }]
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
    const hosts = planInit(k, ABSENT);
    expect(hosts.length).toBeGreaterThan(150);
    const lower = hosts.map((h) => h.name.toLowerCase());
    expect(new Set(lower).size).toBe(hosts.length);
    for (const h of hosts) expect(h.name).toMatch(/^[A-Za-z0-9._-]{1,63}$/);
    const addrs = hosts.flatMap((h) => h.addresses);
    expect(new Set(addrs).size).toBe(addrs.length);
  });

  test("the init script has only whitelisted lines", () => {
    const script = renderNft(ABSENT, planInit(k, ABSENT), O, REBUILD);
    expect(script.split("\n").length).toBeGreaterThan(400);
    expectWhitelisted(script);
  });

  test("event scripts for hostile names, against that state, have only whitelisted lines", () => {
    const hosts = planInit(k, ABSENT);
    const cur = present(hosts.map((h) => counted(h, { packets: 1, bytes: 2 })));
    const r2 = prng(42);
    let rendered = 0;
    for (let i = 0; i < 200; i++) {
      const target = i % 2 === 0 ? hosts[Math.floor(r2() * hosts.length)]! : { key: mac(1000 + i), addresses: [`10.0.9.${(i % 250) + 2}`] };
      const desired = planEvent(cur, { action: "add", source: "dhcp", key: target.key.startsWith("02:") ? target.key : mac(2000 + i), address: target.addresses[0]!, hostname: hostileName(r2) }, k);
      if (!desired) continue;
      const script = renderNft(cur, desired, O, EVENT);
      expectWhitelisted(script);
      rendered++;
    }
    expect(rendered).toBeGreaterThan(150);
  });

  test("the whitelist itself rejects an injected statement", () => {
    expect(() => expectWhitelisted('add counter inet iptmon rx_a { packets 0 bytes 0; comment "iptmon: x"; }; flush ruleset\n')).toThrow(/whitelist/);
    expect(() => expectWhitelisted("flush ruleset\n")).toThrow(/whitelist/);
  });
});

describe("parseNftJson", () => {
  // Captured from nft 1.0.6: test/golden/init-basic/expected.nft applied in a
  // network namespace (laptop's counters created with non-zero values), plus
  // three counters iptmon did not make: `handmade` (no comment), `rx_nocomment`
  // (another comment) and `tx_nocomment`; then `nft -j list table inet iptmon`.
  const json = readFileSync(`${import.meta.dir}/../fixtures/core/nft-list.json`, "utf8");
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
    const a = parseNftJson(json, "iptmon");
    expect(a.present).toBe(true);
    const sortAddrs = (h: CountedHost) => ({ ...h, addresses: [...h.addresses].sort() });
    expect(a.hosts.map(sortAddrs).sort((x, y) => x.name.localeCompare(y.name))).toEqual(EXPECTED.map(sortAddrs).sort((x, y) => x.name.localeCompare(y.name)));
  });

  test("counters without the `iptmon: ` comment are strays, not hosts", () => {
    const a = parseNftJson(json, "iptmon");
    expect(a.hosts.map((h) => h.name)).not.toContain("nocomment");
    expect([...(a.strayCounters ?? [])].sort()).toEqual(["handmade", "rx_nocomment", "tx_nocomment"]);
  });

  test("round trip: rendering the parsed state as desired is empty; a rebuild only removes the strays", () => {
    const a = parseNftJson(json, "iptmon");
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
    const a = parseNftJson(json, "other");
    expect(a).toEqual({ present: false, hosts: [], strayCounters: [] });
  });

  test("an rx counter without its tx partner is no host", () => {
    const doc = {
      nftables: [
        { table: { family: "inet", name: "iptmon", handle: 1 } },
        { counter: { family: "inet", name: "rx_lonely", table: "iptmon", handle: 2, comment: "iptmon: 02:00:00:00:00:09", packets: 1, bytes: 2 } },
      ],
    };
    const a = parseNftJson(JSON.stringify(doc), "iptmon");
    expect(a.hosts).toEqual([]);
    expect(a.strayCounters).toEqual(["rx_lonely"]);
  });

  test("an empty listing is an absent table", () => {
    expect(parseNftJson('{"nftables": [{"metainfo": {"version": "1.0.6"}}]}', "iptmon")).toEqual({ present: false, hosts: [], strayCounters: [] });
  });
});

describe("createNftBackend", () => {
  const cfg = parseConfig("config iptmon\n\toption backend 'nftables'\n", "/etc/config/iptmon");
  const LIST = "nft -j list table inet iptmon";

  test("read: a missing table is `not present`, not an error", () => {
    const sys = fakeSys({ commands: { [LIST]: { code: 1, stdout: "", stderr: "Error: No such file or directory\nlist table inet iptmon\n" } } });
    expect(createNftBackend(sys, cfg, -1).read()).toEqual({ present: false, hosts: [] });
  });

  test("read: parses nft's JSON", () => {
    const sys = fakeSys({ commands: { [LIST]: ok(readFileSync(`${import.meta.dir}/../fixtures/core/nft-list.json`, "utf8")) } });
    expect(createNftBackend(sys, cfg, -1).read().hosts).toHaveLength(8);
  });

  test("a missing nft binary is a user error saying `not found`", () => {
    const sys = fakeSys();
    let err: unknown;
    try {
      createNftBackend(sys, cfg, -1).read();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UserError);
    expect((err as UserError).exitCode).toBe(1);
    expect((err as UserError).message).toBe("cannot read table inet iptmon: nft not found");
  });

  test("apply: feeds the script to `nft -f -`, and nothing when there is nothing to do", () => {
    const sys = fakeSys({ commands: { "nft -f -": ok() } });
    const b = createNftBackend(sys, cfg, -1);
    b.apply(present([counted(PHONE)]), [PHONE], EVENT);
    expect(sys.calls).toEqual([]);
    b.apply(ABSENT, [PHONE], REBUILD);
    expect(sys.calls).toHaveLength(1);
    expect(sys.calls[0]!.input).toBe(renderNft(ABSENT, [PHONE], O, REBUILD));
  });

  test("apply: nft's first error line becomes the message", () => {
    const sys = fakeSys({ commands: { "nft -f -": { code: 1, stdout: "", stderr: "/dev/stdin:3:1-5: Error: Could not process rule: Device or resource busy\nmore\n" } } });
    expect(() => createNftBackend(sys, cfg, -1).apply(ABSENT, [PHONE], REBUILD)).toThrow(
      "cannot apply ruleset to table inet iptmon: /dev/stdin:3:1-5: Error: Could not process rule: Device or resource busy",
    );
  });

  test("remove: an idempotent add+delete of the table only", () => {
    const sys = fakeSys({ commands: { "nft -f -": ok() } });
    createNftBackend(sys, cfg, -1).remove();
    expect(sys.calls[0]!.input).toBe("add table inet iptmon\ndelete table inet iptmon\n");
  });

  test("check: runs `nft -c -f -` with the rendered script", () => {
    const sys = fakeSys({ commands: { "nft -c -f -": ok() } });
    createNftBackend(sys, cfg, -1).check(ABSENT, [PHONE], REBUILD);
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
  });
});
