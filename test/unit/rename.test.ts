/**
 * Renames on nftables lose nothing: a live counter's value cannot be moved
 * exactly, so a renamed host's old pair is kept (its elements move to the new
 * pair in the same transaction) and folded into the key's carry pair once no
 * element names it. Planning, reading (every part added to the host), the
 * fold, a change cut short between the two, and what deletion and reset do
 * with the parts.
 */
import { describe, expect, test } from "bun:test";
import { createNftBackend } from "../../src/backends/nft/index.ts";
import { carryName, nameKeyBytes, nameKeyText, type KeyParts, type NftState } from "../../src/backends/nft/layout.ts";
import { keyBytes, readPartsNetlink, readScopeNetlink } from "../../src/backends/nft/netlink.ts";
import { parseNftJson } from "../../src/backends/nft/parse.ts";
import { planFolds, planNft } from "../../src/backends/nft/plan.ts";
import { renderNft as render } from "../../src/backends/nft/render.ts";
import { parseConfig } from "../../src/config.ts";
import type { Host, HostCounters, PlannedHost } from "../../src/model.ts";
import type { NfCounter, NfTables } from "../../src/netlink/nftables.ts";
import { planCounters } from "../../src/plan.ts";
import { fakeSys, ok } from "../helpers/fakesys.ts";

const MAC = "02:00:00:00:00:01";
const OTHER = "02:00:00:00:00:02";
const O = { table: "iptmon", priority: -1, placement: "forward" as const };
const EVENT = { rebuild: false };
const c = (rxp: number, rx: number, txp: number, tx: number): HostCounters => ({ rx: { packets: rxp, bytes: rx }, tx: { packets: txp, bytes: tx } });
const ZERO = c(0, 0, 0, 0);
const laptop: Host = { key: MAC, name: "laptop", addresses: ["192.168.1.101"] };
const notebook: Host = { ...laptop, name: "notebook" };
const renderOf = (state: NftState, desired: PlannedHost[], rebuild = false) => render(planNft(state, desired, { rebuild }, "forward"), O);

/** `nft -j list table inet iptmon` of counter pairs (name, key, counts) and the hosts the maps name (host name → addresses). */
function tableJson(pairs: [string, string, HostCounters][], live: Record<string, string[]>): string {
  const counter = (name: string, key: string, x: { packets: number; bytes: number }) => ({ counter: { family: "inet", table: "iptmon", name, comment: `iptmon: ${key}`, ...x } });
  const map = (name: string, elem: unknown[]) => ({ map: { family: "inet", table: "iptmon", name, type: "ipv4_addr", map: "counter", elem } });
  const hosts = Object.entries(live);
  return JSON.stringify({
    nftables: [
      { table: { family: "inet", name: "iptmon" } },
      ...["forward", "forward6"].map((name) => ({ chain: { family: "inet", table: "iptmon", name } })),
      ...pairs.flatMap(([name, key, n]) => {
        const [rx, tx] = name.startsWith("carry_") ? [carryName("rx", key), carryName("tx", key)] : [`rx_${name}`, `tx_${name}`];
        return [counter(rx, key, n.rx), counter(tx, key, n.tx)];
      }),
      map("rx4", hosts.flatMap(([h, as]) => as.map((a) => [a, `rx_${h}`]))),
      map("tx4", hosts.flatMap(([h, as]) => as.map((a) => [a, `tx_${h}`]))),
      map("rx6", []),
      map("tx6", []),
      map("keys", []),
      map("names", hosts.map(([h]) => [{ concat: nameKeyText(h).split(" . ") }, `rx_${h}`])),
    ],
  });
}
const full = (json: string) => {
  const s = parseNftJson(json, "iptmon");
  if (s.read !== "full") throw new Error("expected a full read");
  return s;
};

/** Laptop renamed to notebook, cut short before the fold: the live pair, the old one no element names, and a carry. */
const CUT_SHORT = tableJson(
  [
    ["notebook", MAC, c(1, 100, 2, 200)],
    ["laptop", MAC, c(10, 1000, 20, 2000)],
    ["carry_", MAC, c(5, 500, 6, 600)],
  ],
  { notebook: ["192.168.1.101"] },
);

describe("a rename plans the old pair kept and a new one from nothing", () => {
  const before = full(tableJson([["laptop", MAC, c(10, 1000, 20, 2000)]], { laptop: ["192.168.1.101"] }));

  test("no counter is deleted; the elements move; the old pair is retired for the fold", () => {
    const change = planNft(before, planCounters(before, [notebook])!, EVENT);
    expect(change.deleteHosts).toEqual([]);
    expect(change.createHosts).toEqual([{ key: MAC, name: "notebook", start: ZERO }]);
    expect(change.retire).toEqual([{ key: MAC, name: "laptop" }]);
    expect(change.deleteElements.rx4).toEqual(["192.168.1.101"]);
    expect(change.addElements.rx4).toEqual([["192.168.1.101", "notebook"]]);
    expect(change.createCarries).toEqual([]);
  });

  test("a floor above the total: the new pair starts from the difference only", () => {
    const floors = new Map([[MAC, c(10, 5000, 20, 2000)]]);
    const change = planNft(before, planCounters(before, [notebook], floors)!, EVENT);
    expect(change.createHosts[0]!.start).toEqual(c(0, 4000, 0, 0));
    expect(change.retire).toEqual([{ key: MAC, name: "laptop" }]);
  });

  test("a host kept under its name whose total must rise: the difference goes into its carry, the live pair stays", () => {
    const floors = new Map([[MAC, c(12, 1500, 20, 2000)]]);
    const desired = planCounters(before, [laptop], floors)!;
    expect(desired[0]!.counters).not.toBe("keep");
    const change = planNft(before, desired, EVENT);
    expect([change.deleteHosts, change.createHosts, change.retire]).toEqual([[], [], []]);
    expect(change.createCarries).toEqual([{ key: MAC, counts: c(2, 500, 0, 0) }]);
    expect(renderOf(before, desired)).toBe(
      [
        `add counter inet iptmon carry_rx_02-00-00-00-00-01 { packets 0 bytes 0; comment "iptmon: ${MAC}"; }`,
        "delete counter inet iptmon carry_rx_02-00-00-00-00-01",
        `add counter inet iptmon carry_tx_02-00-00-00-00-01 { packets 0 bytes 0; comment "iptmon: ${MAC}"; }`,
        "delete counter inet iptmon carry_tx_02-00-00-00-00-01",
        `add counter inet iptmon carry_rx_02-00-00-00-00-01 { packets 2 bytes 500; comment "iptmon: ${MAC}"; }`,
        `add counter inet iptmon carry_tx_02-00-00-00-00-01 { packets 0 bytes 0; comment "iptmon: ${MAC}"; }`,
        "",
      ].join("\n"),
    );
  });

  test("a name retired and taken by another host in the same change: that old pair goes, its counts as read into its carry", () => {
    const two = full(
      tableJson(
        [
          ["laptop", MAC, c(10, 1000, 20, 2000)],
          ["phone", OTHER, c(1, 1, 1, 1)],
        ],
        { laptop: ["192.168.1.101"], phone: ["192.168.1.102"] },
      ),
    );
    const desired = planCounters(two, [notebook, { key: OTHER, name: "laptop", addresses: ["192.168.1.102"] }])!;
    const change = planNft(two, desired, EVENT);
    // phone's old pair is retired; laptop's pair cannot be: its name is phone's now.
    expect(change.retire).toEqual([{ key: OTHER, name: "phone" }]);
    expect(change.deleteHosts).toEqual(["laptop"]);
    expect(change.createCarries).toEqual([{ key: MAC, counts: c(10, 1000, 20, 2000) }]);
    expect(change.createHosts.map((h) => [h.name, h.start])).toEqual([
      ["notebook", ZERO],
      ["laptop", ZERO],
    ]);
    const script = render(change, O);
    expect(script.indexOf("delete counter inet iptmon rx_laptop")).toBeLessThan(script.indexOf("add counter inet iptmon rx_laptop"));
  });
});

describe("every read adds a key's parts to its host", () => {
  test("a pair the names map does not name is retired, a carry pair is the key's; both add to the live pair, and neither is a stray", () => {
    const s = full(CUT_SHORT);
    // Marked: a lookup of its pair by name would miss the retired part.
    expect(s.hosts).toEqual([{ key: MAC, name: "notebook", addresses: ["192.168.1.101"], ...c(16, 1600, 28, 2800), unfolded: true }]);
    expect(s.strays).toEqual([]);
    expect(s.parts.get(MAC)).toEqual({ carry: c(5, 500, 6, 600), retired: [{ name: "laptop", counters: c(10, 1000, 20, 2000) }] });
  });

  test("a table with no names map (an earlier iptmon's) has only live pairs", () => {
    const doc = JSON.parse(CUT_SHORT) as { nftables: { map?: { name: string } }[] };
    doc.nftables = doc.nftables.filter((o) => o.map?.name !== "names");
    const s = full(JSON.stringify(doc));
    expect(s.hosts.map((h) => h.name).sort()).toEqual(["laptop", "notebook"]);
  });
});

describe("the fold, and a change cut short before it", () => {
  test("planFolds: the carry is created anew from its counts plus the retired pairs', which go; a key with nothing retired is left alone", () => {
    const parts = new Map<string, KeyParts>([
      [MAC, { carry: c(5, 500, 6, 600), retired: [{ name: "laptop", counters: c(10, 1000, 20, 2000) }] }],
      [OTHER, { carry: c(1, 1, 1, 1), retired: [] }],
    ]);
    expect(render(planFolds(parts, "forward"), O)).toBe(
      [
        "delete counter inet iptmon rx_laptop",
        "delete counter inet iptmon tx_laptop",
        `add counter inet iptmon carry_rx_02-00-00-00-00-01 { packets 0 bytes 0; comment "iptmon: ${MAC}"; }`,
        "delete counter inet iptmon carry_rx_02-00-00-00-00-01",
        `add counter inet iptmon carry_tx_02-00-00-00-00-01 { packets 0 bytes 0; comment "iptmon: ${MAC}"; }`,
        "delete counter inet iptmon carry_tx_02-00-00-00-00-01",
        `add counter inet iptmon carry_rx_02-00-00-00-00-01 { packets 15 bytes 1500; comment "iptmon: ${MAC}"; }`,
        `add counter inet iptmon carry_tx_02-00-00-00-00-01 { packets 26 bytes 2600; comment "iptmon: ${MAC}"; }`,
        "",
      ].join("\n"),
    );
  });

  test("cut short: the next change (here, a host kept as it is) folds the retired pair; the total is the same before and after", () => {
    const s = full(CUT_SHORT);
    const change = planNft(s, planCounters(s, [notebook])!, EVENT);
    expect(change.deleteHosts).toEqual(["laptop"]);
    expect(change.createCarries).toEqual([{ key: MAC, counts: c(15, 1500, 26, 2600) }]);
    const after = full(
      tableJson(
        [
          ["notebook", MAC, c(1, 100, 2, 200)],
          ["carry_", MAC, c(15, 1500, 26, 2600)],
        ],
        { notebook: ["192.168.1.101"] },
      ),
    );
    // The same total, and nothing left unfolded.
    expect(after.hosts).toEqual(s.hosts.map(({ unfolded: _, ...h }) => h));
  });

  test("cut short, then renamed back to the retired pair's name: that pair is folded first, the new one made after", () => {
    const s = full(CUT_SHORT);
    const script = renderOf(s, planCounters(s, [laptop])!);
    expect(script.indexOf("delete counter inet iptmon rx_laptop")).toBeGreaterThanOrEqual(0);
    expect(script.indexOf("delete counter inet iptmon rx_laptop")).toBeLessThan(script.indexOf("add counter inet iptmon rx_laptop { packets 0 bytes 0;"));
    expect(script).toContain("add counter inet iptmon carry_rx_02-00-00-00-00-01 { packets 15 bytes 1500;");
  });

  test("the nft -f backend reads the table again after the commit and folds what the rename retired", () => {
    const afterRename = tableJson(
      [
        ["notebook", MAC, c(3, 300, 4, 400)],
        ["laptop", MAC, c(11, 1100, 21, 2100)],
      ],
      { notebook: ["192.168.1.101"] },
    );
    const applied: string[] = [];
    const before = tableJson([["laptop", MAC, c(10, 1000, 20, 2000)]], { laptop: ["192.168.1.101"] });
    const sys = fakeSys({
      commands: {
        "nft -j list table inet iptmon": () => ok(applied.length === 0 ? before : afterRename),
        "nft -f -": (input) => (applied.push(input ?? ""), ok()),
      },
    });
    const b = createNftBackend(sys, parseConfig("config iptmon\n\toption backend 'nftables'\n", "/etc/config/iptmon"), -1);
    const cur = b.read("full");
    b.apply(b.plan(cur, planCounters(cur, [notebook])!, EVENT));
    expect(applied).toHaveLength(2);
    expect(applied[0]).not.toContain("delete counter");
    // What the old pair counted up to the commit, exactly: 11/1100 and 21/2100, not the 10/1000 and 20/2000 read before.
    expect(applied[1]).toContain("add counter inet iptmon carry_rx_02-00-00-00-00-01 { packets 11 bytes 1100;");
    expect(applied[1]).toContain("add counter inet iptmon carry_tx_02-00-00-00-00-01 { packets 21 bytes 2100;");
    expect(applied[1]).toContain("delete counter inet iptmon rx_laptop\n");
  });

  test("over netlink: only pairs that no element names (nf_tables' use count) and that are the key's are read for the fold, with the key's carry", () => {
    const counters = new Map<string, NfCounter>([
      ["rx_laptop", { name: "rx_laptop", packets: 10, bytes: 1000, comment: `iptmon: ${MAC}`, use: 0 }],
      ["tx_laptop", { name: "tx_laptop", packets: 20, bytes: 2000, comment: `iptmon: ${MAC}`, use: 0 }],
      ["rx_busy", { name: "rx_busy", packets: 1, bytes: 1, comment: `iptmon: ${MAC}`, use: 2 }],
      ["tx_busy", { name: "tx_busy", packets: 1, bytes: 1, comment: `iptmon: ${MAC}`, use: 1 }],
      [carryName("rx", MAC), { name: carryName("rx", MAC), packets: 5, bytes: 500, comment: `iptmon: ${MAC}`, use: 0 }],
      [carryName("tx", MAC), { name: carryName("tx", MAC), packets: 6, bytes: 600, comment: `iptmon: ${MAC}`, use: 0 }],
    ]);
    const nf = { counter: (_f: string, _t: string, n: string) => counters.get(n) ?? null } as unknown as NfTables;
    const parts = readPartsNetlink(nf, O, [
      { key: MAC, name: "laptop" },
      { key: MAC, name: "busy" },
      { key: OTHER, name: "laptop" },
      { key: MAC, name: "gone" },
    ]);
    expect(parts).toEqual(new Map([[MAC, { carry: c(5, 500, 6, 600), retired: [{ name: "laptop", counters: c(10, 1000, 20, 2000) }] }]]));
  });
});

describe("deletion, reset and keys with no host", () => {
  test("a host that goes takes its retired pairs and its carry along", () => {
    const s = full(CUT_SHORT);
    const change = planNft(s, [], EVENT);
    expect(change.deleteHosts.sort()).toEqual(["laptop", "notebook"]);
    expect(change.deleteCarries).toEqual([MAC]);
    expect(change.createCarries).toEqual([]);
  });

  test("a reset drops the parts and creates the pair anew from exactly its numbers", () => {
    const s = full(CUT_SHORT);
    const change = planNft(s, [{ ...notebook, counters: ZERO, reset: true }], EVENT);
    expect(change.deleteHosts.sort()).toEqual(["laptop", "notebook"]);
    expect(change.deleteCarries).toEqual([MAC]);
    expect(change.createCarries).toEqual([]);
    expect(change.createHosts).toEqual([{ key: MAC, name: "notebook", start: ZERO }]);
    expect(change.retire).toEqual([]);
  });

  test("a declare removes the parts of a key that has no host any more", () => {
    const s = full(tableJson([["carry_", OTHER, c(1, 1, 1, 1)], ["old", OTHER, c(2, 2, 2, 2)], ["laptop", MAC, c(1, 1, 1, 1)]], { laptop: ["192.168.1.101"] }));
    const change = planNft(s, planCounters(s, [laptop])!, { rebuild: true });
    expect(change.deleteHosts).toEqual(["old"]);
    expect(change.deleteCarries).toEqual([OTHER]);
    expect(change.deleteStrays).toEqual([]);
  });

  test("a host that comes back to its key's parts: its new pair holds only what its floor has beyond them", () => {
    const s = full(tableJson([["carry_", OTHER, c(1, 100, 1, 100)], ["laptop", MAC, c(1, 1, 1, 1)]], { laptop: ["192.168.1.101"] }));
    const phone: Host = { key: OTHER, name: "phone", addresses: ["192.168.1.102"] };
    const change = planNft(s, planCounters(s, [laptop, phone], new Map([[OTHER, c(3, 300, 1, 100)]]))!, EVENT);
    expect(change.createHosts).toEqual([{ key: OTHER, name: "phone", start: c(2, 200, 0, 0) }]);
    expect(change.deleteCarries).toEqual([]);
  });
});

describe("an event's scoped read over netlink", () => {
  const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
  const elements = new Map<string, string>([
    [`keys ${hex(keyBytes(MAC))}`, "rx_notebook"],
    [`rx4 ${hex(keyBytes("192.168.1.101"))}`, "rx_notebook"],
    [`names ${hex(nameKeyBytes("notebook"))}`, "rx_notebook"],
  ]);
  const counter = (name: string, key: string, packets: number, bytes: number, use: number): [string, NfCounter] => [name, { name, packets, bytes, comment: `iptmon: ${key}`, use }];
  const counters = new Map<string, NfCounter>([
    // one address, its MAC and its name name it
    counter("rx_notebook", MAC, 1, 100, 3),
    counter("tx_notebook", MAC, 2, 200, 1),
    counter(carryName("rx", MAC), MAC, 5, 500, 0),
    counter(carryName("tx", MAC), MAC, 6, 600, 0),
    // left behind by renames cut short: this host's, and another's
    counter("rx_laptop", MAC, 10, 1000, 0),
    counter("tx_laptop", MAC, 20, 2000, 0),
    counter("rx_phone", OTHER, 1, 1, 0),
    counter("tx_phone", OTHER, 1, 1, 0),
  ]);
  const nf = {
    hasSet: () => true,
    element: (_f: string, _t: string, set: string, key: Uint8Array) => elements.get(`${set} ${hex(key)}`) ?? null,
    counter: (_f: string, _t: string, n: string) => counters.get(n) ?? null,
  } as unknown as NfTables;

  test("a host's carry is part of its counters (one lookup); a pair no element names holds its name for another key, not for its own", () => {
    const s = readScopeNetlink(nf, O, { key: MAC, addresses: ["192.168.1.101"] });
    if (s?.read !== "scoped") throw new Error("expected a scoped read");
    expect(s.hosts).toEqual([{ key: MAC, name: "notebook", addresses: ["192.168.1.101"], ...c(6, 600, 8, 800), unseen: 0 }]);
    expect(["notebook", "laptop", "phone", "free"].map((n) => s.nameTaken(n))).toEqual([true, false, true, false]);
  });
});
