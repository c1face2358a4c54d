/**
 * `iptmon reset`'s grammar through main: every host only with --all, a
 * name that matches nothing (also after `--`) is exit 2 and changes
 * nothing, and a snapshot that cannot be saved is exit 1, not success.
 */
import { describe, expect, test } from "bun:test";
import { main } from "../../src/main.ts";
import { emptyState, parseState, serializeState } from "../../src/snapshot/state.ts";
import type { RunResult } from "../../src/sys.ts";
import { fakeSys, ok } from "../helpers/fakesys.ts";

const CONFIG = "/etc/config/iptmon";
const RAM = "/tmp/iptmon/state.json";
const FLASH = "/etc/iptmon/state.json";
const NO_TABLE: RunResult = { code: 1, stdout: "", stderr: "Error: No such file or directory\n" };

/** A router whose table is gone (nothing in the kernel) and whose snapshot remembers two hosts. */
function router(persist = false) {
  const s = emptyState(1_799_000_000);
  s.hosts["02:00:00:00:00:01"] = { name: "laptop", rx: [1000, 10], tx: [2000, 20], seen: 1_799_000_000 };
  s.hosts["02:00:00:00:00:02"] = { name: "-v", rx: [5, 1], tx: [6, 1], seen: 1_799_000_000 };
  const state = serializeState(s);
  const config = `config iptmon\n\toption backend 'nftables'\n${persist ? "\toption persist_dir '/etc/iptmon'\n" : ""}`;
  const sys = fakeSys({
    files: { [CONFIG]: config, [RAM]: state, ...(persist ? { [FLASH]: state } : {}) },
    commands: { "nft -j list table inet iptmon": NO_TABLE, "nft -j list maps inet": ok('{"nftables":[]}'), "ip neigh show": ok(""), "ip addr show dev br-lan": ok("") },
  });
  return { sys, state, remembered: () => Object.values(parseState(sys.files.get(RAM)!).hosts).map((h) => h.name) };
}

describe("reset: what it zeroes is always what was asked for", () => {
  test("no host named is a usage error (exit 2), not every host", async () => {
    const r = router();
    expect(await main(["reset"], r.sys)).toBe(2);
    expect(r.sys.err).toContain("cannot reset: no host named; hint: name hosts as iptmon status shows them (name, MAC or key), or --all for every host");
    expect(r.sys.files.get(RAM)).toBe(r.state);
  });

  for (const argv of [["reset", "--", "nosuchhost"], ["reset", "nosuchhost"], ["reset", "laptop", "--", "nosuchhost"]]) {
    test(`${argv.join(" ")}: exit 2 naming the host, nothing changed`, async () => {
      const r = router();
      expect(await main(argv, r.sys)).toBe(2);
      expect(r.sys.err).toContain('cannot reset "nosuchhost": no such host');
      expect(r.sys.files.get(RAM)).toBe(r.state);
    });
  }

  test("words after -- are host names, even one that looks like an option", async () => {
    const r = router();
    expect(await main(["reset", "--", "-v"], r.sys)).toBe(0);
    expect(r.remembered()).toEqual(["laptop"]);
    const other = router();
    expect(await main(["reset", "--", "-x"], other.sys)).toBe(2);
    expect(other.sys.err).toContain('cannot reset "-x": no such host');
    expect(other.sys.files.get(RAM)).toBe(other.state);
  });

  test("--all zeroes every host; --all with names is a usage error", async () => {
    const both = router();
    expect(await main(["reset", "--all", "laptop"], both.sys)).toBe(2);
    expect(both.sys.err).toContain("cannot reset: name hosts or give --all, not both");
    expect(both.sys.files.get(RAM)).toBe(both.state);
    const r = router();
    expect(await main(["reset", "--all"], r.sys)).toBe(0);
    expect(r.remembered()).toEqual([]);
  });

  test("a named host is zeroed and the others kept", async () => {
    const r = router();
    expect(await main(["reset", "laptop"], r.sys)).toBe(0);
    expect(r.remembered()).toEqual(["-v"]);
  });

  test("a copy on flash that cannot be written: exit 1 and says the totals come back after a reboot", async () => {
    const r = router(true);
    const write = r.sys.writeFile;
    r.sys.writeFile = (p, d, o) => {
      if (p.startsWith("/etc/iptmon/")) throw Object.assign(new Error("EROFS: read-only file system, open"), { code: "EROFS" });
      write(p, d, o);
    };
    expect(await main(["reset", "laptop"], r.sys)).toBe(1);
    expect(r.sys.err).toContain(`cannot save snapshot ${FLASH}: read-only file system (EROFS)`);
    expect(r.sys.err).toContain('cannot reset "laptop" for good: the totals are zeroed in the kernel but the snapshot could not be saved (said above), so they come back after a reboot');
    expect(r.sys.files.get(FLASH)).toBe(r.state);
  });
});
