/**
 * The LuCI views' reading of the split (common.js): a host's parts in the
 * JSON's order, and the usage view's parts summed over a period's hosts,
 * which must equal the sums of the binary's own parts (src/split/view.ts)
 * and keep every host's order (the config's classes, then other, then
 * unsplit), though each host lists only the classes it used.
 */
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { DEFAULT_SERVICES } from "../../src/split/services.ts";
import { splitView, type Part, type SplitView } from "../../src/split/view.ts";
import type { Usage } from "../../src/snapshot/state.ts";
import { prng } from "../helpers/prng.ts";

const ROOT = resolve(import.meta.dir, "../..");
const text = readFileSync(join(ROOT, "luci/htdocs/luci-static/resources/iptmon/common.js"), "utf8");
const baseclass = { extend: (o: object) => o };
type Named = Part & { name: string };
type Host = Part & SplitView;
const common = new Function("baseclass", "fs", "_", text)(baseclass, {}, (s: string) => s) as {
  percent(v: number): string;
  splitKinds(objs: unknown[]): string[];
  partsOf(o: unknown, by: string): Named[];
  sumParts(hosts: unknown[], by: string): Named[];
  partLabel(by: string, name: string): string;
};

const SERVICES = DEFAULT_SERVICES.map((s) => s.name);
const FIELDS = ["rx_bytes", "rx_packets", "tx_bytes", "tx_packets"] as const;

/** A host as `usage --json` has it: random totals, split by the binary from random parts (a random subset of the classes, some IPv6, at times some unsplit). */
function host(r: () => number): Host {
  const total: Usage = [Math.floor(r() * 1e9), Math.floor(r() * 1e6), Math.floor(r() * 1e10), Math.floor(r() * 1e7)];
  const cut = (f: number): Usage => total.map((x) => Math.floor(x * f)) as Usage;
  const parts: Record<string, Usage> = { ipv6: cut(r() * 0.5) };
  if (r() < 0.3) parts.unsplit = cut(r() * 0.1);
  for (const s of SERVICES) if (r() < 0.3) parts[s] = cut(r() * 0.07);
  const u = { rx_bytes: total[0], rx_packets: total[1], tx_bytes: total[2], tx_packets: total[3] };
  return { ...u, ...splitView(total, r() < 0.1 ? undefined : parts, ["family", "service"], SERVICES) };
}

/** `order` keeps the order of every list in `lists`. */
const keepsEach = (order: string[], lists: string[][]) => {
  for (const l of lists) expect(order.filter((x) => l.includes(x))).toEqual(l);
};

test("partsOf: a host's parts of one kind in the JSON's order; none where that kind is off", () => {
  const h = host(prng(1));
  expect(common.partsOf(h, "family")).toEqual(Object.entries(h.families!).map(([name, p]) => ({ name, ...p })));
  expect(common.partsOf(h, "service")).toEqual(Object.entries(h.services!).map(([name, p]) => ({ name, ...p })));
  expect(common.partsOf({ rx_bytes: 1 }, "family")).toEqual([]);
  expect(common.splitKinds([{ rx_bytes: 1 }, h])).toEqual(["family", "service"]);
  expect(common.splitKinds([{ services: {} }])).toEqual(["service"]);
  expect(common.splitKinds([{ rx_bytes: 1 }, null])).toEqual([]);
});

test("sumParts: each part summed over the hosts, adding up to their totals, in an order that keeps every host's", () => {
  for (let seed = 1; seed <= 200; seed++) {
    const r = prng(seed);
    const hosts = Array.from({ length: 1 + Math.floor(r() * 12) }, () => host(r));
    for (const [by, field] of [["family", "families"], ["service", "services"]] as const) {
      const got = common.sumParts(hosts, by);
      const want: Record<string, Part> = {};
      for (const h of hosts)
        for (const [name, p] of Object.entries(h[field]!)) {
          const s = (want[name] ??= { rx_bytes: 0, rx_packets: 0, tx_bytes: 0, tx_packets: 0 });
          for (const f of FIELDS) s[f] += p[f];
        }
      expect(Object.fromEntries(got.map(({ name, ...p }) => [name, p]))).toEqual(want);
      for (const f of FIELDS) expect(got.reduce((a, p) => a + p[f], 0)).toBe(hosts.reduce((a, h) => a + h[f], 0));
      const order = got.map((p) => p.name);
      keepsEach(order, hosts.map((h) => Object.keys(h[field]!)));
      // Within the config's order, whatever the hosts left undecided, where one host's list decides all of it.
      const config = [...(by === "family" ? ["ipv4", "ipv6"] : SERVICES), "other", "unsplit"];
      if (hosts.some((h) => Object.keys(h[field]!).length === order.length)) expect(order).toEqual(config.filter((x) => order.includes(x)));
    }
  }
});

test("sumParts: a class one host lists before another comes before it, though the first host to list it saw it later", () => {
  const p = (n: number): Part => ({ rx_bytes: n, rx_packets: 1, tx_bytes: 2 * n, tx_packets: 2 });
  const hosts = [
    { services: { web: p(1), other: p(2) } },
    { services: { dns: p(3), other: p(4), unsplit: p(5) } },
    { services: { web: p(6), quic: p(7), dns: p(8), other: p(9) } },
  ];
  expect(common.sumParts(hosts, "service").map((x) => [x.name, x.rx_bytes])).toEqual([["web", 7], ["quic", 7], ["dns", 11], ["other", 15], ["unsplit", 5]]);
  // Parts keyed by names JavaScript objects know (a class may be named so) are counted like any other.
  const odd = JSON.parse(`{ "services": { "constructor": ${JSON.stringify(p(1))}, "__proto__": ${JSON.stringify(p(2))}, "other": ${JSON.stringify(p(3))} } }`);
  expect(common.sumParts([odd, odd], "service").map((x) => [x.name, x.rx_bytes])).toEqual([["constructor", 2], ["__proto__", 4], ["other", 6]]);
  expect(common.sumParts([], "family")).toEqual([]);
});

test("part labels and shares", () => {
  expect(["ipv4", "ipv6", "unsplit"].map((n) => common.partLabel("family", n))).toEqual(["IPv4", "IPv6", "before the split began"]);
  expect(["web", "other", "unsplit", "ipv4"].map((n) => common.partLabel("service", n))).toEqual(["web", "other", "before the split began", "ipv4"]);
  expect([0, 0.125, 1 / 3, 1].map(common.percent)).toEqual(["0.0 %", "12.5 %", "33.3 %", "100.0 %"]);
});
