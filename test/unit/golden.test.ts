/**
 * Golden files: each folder under test/golden is a command run on one router
 * (test/fixtures/golden-router: config, files, `ip` output, the kernel's
 * current table), which a case may change: its own `config`, files under its
 * `fs/`, its own `nft-current.json`, or `no-table` for a kernel without
 * iptmon's table. The nft script iptmon applies, the nft reads it makes and
 * the warnings it prints are compared with expected.nft / expected.reads /
 * expected.warnings. IPTMON_UPDATE_GOLDEN=1 rewrites them.
 */
import { describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { main } from "../../src/main.ts";
import { fakeSys, ok } from "../helpers/fakesys.ts";

const ROOT = join(import.meta.dir, "../golden");
const ROUTER = join(import.meta.dir, "../fixtures/golden-router");
const update = process.env.IPTMON_UPDATE_GOLDEN === "1";

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? walk(p) : [p];
  });
}

function read(dir: string, name: string): string | null {
  const p = join(dir, name);
  return existsSync(p) ? readFileSync(p, "utf8") : null;
}

describe("golden rulesets", () => {
  for (const name of readdirSync(ROOT).sort()) {
    const dir = join(ROOT, name);
    test(name, async () => {
      const files: Record<string, string> = { "/etc/config/iptmon": read(dir, "config") ?? read(ROUTER, "config") ?? "" };
      for (const root of [ROUTER, dir])
        if (existsSync(join(root, "fs"))) for (const f of walk(join(root, "fs"))) files[`/${relative(join(root, "fs"), f)}`] = readFileSync(f, "utf8");
      let applied = "";
      const current = existsSync(join(dir, "no-table")) ? null : (read(dir, "nft-current.json") ?? read(ROUTER, "nft-current.json"));
      const sys = fakeSys({
        files,
        commands: {
          "ip addr show dev br-lan": ok(read(dir, "ip-addr.txt") ?? read(ROUTER, "ip-addr.txt") ?? ""),
          "ip neigh show": ok(read(dir, "ip-neigh.txt") ?? read(ROUTER, "ip-neigh.txt") ?? ""),
          "nft list tables": ok(),
          "nft -j list table inet iptmon": current ? ok(current) : { code: 1, stdout: "", stderr: "Error: No such file or directory\n" },
          // `list maps` prints the map objects of the same listing.
          "nft -j list maps inet": ok(JSON.stringify({ nftables: current ? (JSON.parse(current).nftables as object[]).filter((o) => "map" in o || "metainfo" in o) : [] })),
          "nft -f -": (input) => {
            applied += input ?? "";
            return ok();
          },
        },
      });
      const argv = (read(dir, "command") ?? "init").trim().split(/\s+/);
      const code = await main(["--verbose", ...argv], sys);
      const warnings = sys.err;
      const reads = sys.calls.filter((c) => c.cmd === "nft" && c.args[0] === "-j").map((c) => `${[c.cmd, ...c.args].join(" ")}\n`).join("");
      if (update) {
        writeFileSync(join(dir, "expected.reads"), reads);
        writeFileSync(join(dir, "expected.nft"), applied);
        writeFileSync(join(dir, "expected.warnings"), warnings);
        writeFileSync(join(dir, "expected.code"), `${code}\n`);
      }
      expect(`${code}\n`).toBe(read(dir, "expected.code") ?? "0\n");
      expect(applied).toBe(read(dir, "expected.nft") ?? "(missing expected.nft)");
      expect(reads).toBe(read(dir, "expected.reads") ?? "(missing expected.reads)");
      expect(warnings).toBe(read(dir, "expected.warnings") ?? "(missing expected.warnings)");
    });
  }
});
