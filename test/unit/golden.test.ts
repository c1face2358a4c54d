/**
 * Golden files: each folder under test/golden is a config + environment
 * (files, `ip` output, the kernel's current table) and a command; the nft
 * script iptmon applies and the warnings it prints are compared with
 * expected.nft / expected.warnings. IPTMON_UPDATE_GOLDEN=1 rewrites them.
 */
import { describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { main } from "../../src/main.ts";
import { fakeSys, ok } from "../helpers/fakesys.ts";

const ROOT = join(import.meta.dir, "../golden");
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
      const files: Record<string, string> = { "/etc/config/iptmon": read(dir, "config") ?? "" };
      if (existsSync(join(dir, "fs"))) for (const f of walk(join(dir, "fs"))) files[`/${relative(join(dir, "fs"), f)}`] = readFileSync(f, "utf8");
      let applied = "";
      const current = read(dir, "nft-current.json");
      const sys = fakeSys({
        files,
        commands: {
          "ip addr show dev br-lan": ok(read(dir, "ip-addr.txt") ?? ""),
          "ip neigh show": ok(read(dir, "ip-neigh.txt") ?? ""),
          "nft list tables": ok(),
          "nft -j list table inet iptmon": current ? ok(current) : { code: 1, stdout: "", stderr: "Error: No such file or directory\n" },
          // Same JSON: the maps in it are what `list maps` prints.
          "nft -j list maps inet": ok(current ?? '{"nftables": []}'),
          "nft -f -": (input) => {
            applied += input ?? "";
            return ok();
          },
        },
      });
      const argv = (read(dir, "command") ?? "init").trim().split(/\s+/);
      const code = await main([...argv, "--verbose"], sys);
      const warnings = sys.err;
      if (update) {
        writeFileSync(join(dir, "expected.nft"), applied);
        writeFileSync(join(dir, "expected.warnings"), warnings);
        writeFileSync(join(dir, "expected.code"), `${code}\n`);
      }
      expect(`${code}\n`).toBe(read(dir, "expected.code") ?? "0\n");
      expect(applied).toBe(read(dir, "expected.nft") ?? "(missing expected.nft)");
      expect(warnings).toBe(read(dir, "expected.warnings") ?? "(missing expected.warnings)");
    });
  }
});
