/**
 * The LuCI views read numbers the way the binary writes them: common.js's
 * bytes() and rate() give the same text as src/top/format.ts (what `iptmon
 * status` and `top` print), and its CSV cells cannot start a formula.
 */
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { humanBits, humanBytes } from "../../src/top/format.ts";
import { prng } from "../helpers/prng.ts";

const ROOT = resolve(import.meta.dir, "../..");
const text = readFileSync(join(ROOT, "luci/htdocs/luci-static/resources/iptmon/common.js"), "utf8");
const baseclass = { extend: (o: object) => o };
const common = new Function("baseclass", "fs", "_", text)(baseclass, {}, (s: string) => s) as {
  bytes(n: number): string;
  rate(n: number | null): string;
  csv(rows: unknown[][]): string;
};

test("bytes and rates read as the binary prints them", () => {
  const r = prng(7);
  const values = [0, 1, 999, 1000, 1023, 1024, 1048575, 1048576, 999_999, 1_000_000, 2 ** 40, 2 ** 53 - 1];
  for (let i = 0; i < 500; i++) values.push(Math.floor(r() ** 4 * 2 ** (r() * 50)));
  for (const v of values) {
    expect(common.bytes(v)).toBe(humanBytes(v));
    expect(common.rate(v)).toBe(humanBits(v));
  }
  expect(common.rate(null)).toBe("-");
});

test("CSV: quoted text, bare numbers, and no cell that starts a formula", () => {
  const csv = common.csv([["=1+1", "+x", "-x", "@x", "\tx", 'a "q"', "plain", 42, -5]]);
  expect(csv).toBe(`"'=1+1","'+x","'-x","'@x","'\tx","a ""q""","plain",42,-5\r\n`);
});
