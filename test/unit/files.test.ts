/**
 * The files iptmon trusts (its state) on the real filesystem: a private
 * directory, temporary files no one can plant, reads that never follow a
 * link nor take more than iptmon could have written. Ownership cases need
 * root (the suite runs as root, as the end-to-end tier does).
 */
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensurePrivateDir, FileError, readRegularFile, writeFileAtomic } from "../../src/sys/files.ts";

const root = mkdtempSync(join(tmpdir(), "iptmon-files-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const asRoot = process.getuid?.() === 0;
let n = 0;
const fresh = () => join(root, `d${n++}`);

describe("ensurePrivateDir", () => {
  test("creates the directory (and parents) 0700", () => {
    const d = join(fresh(), "iptmon");
    ensurePrivateDir(d);
    expect(statSync(d).mode & 0o7777).toBe(0o700);
  });

  test("one of this user's that others may read (an older iptmon's 0755) is kept and narrowed to 0700", () => {
    const d = fresh();
    mkdirSync(d, { mode: 0o755 });
    chmodSync(d, 0o755);
    ensurePrivateDir(d);
    expect(statSync(d).mode & 0o7777).toBe(0o700);
  });

  for (const [mode, why] of [
    [0o777, "writable by anyone (mode 777)"],
    [0o1777, "writable by anyone (mode 1777)"],
    [0o775, "writable by its group (mode 775)"],
  ] as const) {
    test(`mode ${mode.toString(8)} is refused: ${why}`, () => {
      const d = fresh();
      mkdirSync(d);
      chmodSync(d, mode);
      expect(() => ensurePrivateDir(d)).toThrow(`cannot use state directory ${d}: ${why}`);
      expect(statSync(d).mode & 0o7777).toBe(mode);
    });
  }

  test.skipIf(!asRoot)("another user's directory is refused", () => {
    const d = fresh();
    mkdirSync(d, { mode: 0o700 });
    chownSync(d, 65534, 65534);
    expect(() => ensurePrivateDir(d)).toThrow(`cannot use state directory ${d}: owned by uid 65534, not by uid 0 (root)`);
  });

  test("a symbolic link or a file in its place is refused", () => {
    const target = fresh();
    mkdirSync(target, { mode: 0o700 });
    const link = fresh();
    symlinkSync(target, link);
    expect(() => ensurePrivateDir(link)).toThrow("is a symbolic link");
    const file = fresh();
    writeFileSync(file, "");
    expect(() => ensurePrivateDir(file)).toThrow(`cannot use state directory ${file}: is a file, not a directory`);
  });

  test.skipIf(!asRoot)("a directory above it that someone else controls is refused", () => {
    const above = fresh();
    mkdirSync(above, { mode: 0o755 });
    chownSync(above, 65534, 65534);
    const d = join(above, "iptmon");
    mkdirSync(d, { mode: 0o700 });
    expect(() => ensurePrivateDir(d)).toThrow(`${above} above it is owned by uid 65534`);
    const open = fresh();
    mkdirSync(open);
    chmodSync(open, 0o777);
    mkdirSync(join(open, "iptmon"), { mode: 0o700 });
    expect(() => ensurePrivateDir(join(open, "iptmon"))).toThrow(`${open} above it is writable by others and not sticky`);
    // sticky and world-writable, as /tmp is: fine
    chmodSync(open, 0o1777);
    ensurePrivateDir(join(open, "iptmon"));
  });
});

describe("writeFileAtomic", () => {
  test("a new file is 0600; a planted symlink under the old temporary name is neither followed nor written through", () => {
    const d = fresh();
    mkdirSync(d, { mode: 0o700 });
    const victim = join(root, `victim${n}`);
    writeFileSync(victim, "precious");
    symlinkSync(victim, join(d, `state.json.tmp.${process.pid}`));
    writeFileAtomic(join(d, "state.json"), "new", { durable: true });
    expect(readFileSync(join(d, "state.json"), "utf8")).toBe("new");
    expect(statSync(join(d, "state.json")).mode & 0o777).toBe(0o600);
    expect(readFileSync(victim, "utf8")).toBe("precious");
    // a symlink in the file's own place is replaced, not written through
    symlinkSync(victim, join(d, "other.json"));
    writeFileAtomic(join(d, "other.json"), "mine");
    expect(lstatSync(join(d, "other.json")).isSymbolicLink()).toBe(false);
    expect(readFileSync(victim, "utf8")).toBe("precious");
  });

  test("temporary files of writers that died go; a live writer's and other files' stay; no temporary is left", () => {
    const d = fresh();
    mkdirSync(d, { mode: 0o700 });
    const names = ["s.json.tmp.999999.0011223344aa", "s.json.tmp.999998", `s.json.tmp.${process.pid}.aabbccddeeff`, "s.json.tmpx.999999", "t.json.tmp.999999"];
    for (const f of names) writeFileSync(join(d, f), "");
    writeFileAtomic(join(d, "s.json"), "x");
    expect(readdirSync(d).sort()).toEqual([`s.json.tmp.${process.pid}.aabbccddeeff`, "s.json", "s.json.tmpx.999999", "t.json.tmp.999999"].sort());
  });
});

describe("readRegularFile with the state's rules", () => {
  test("noFollow refuses a symbolic link, saying so; without it the link is read", () => {
    const d = fresh();
    mkdirSync(d);
    writeFileSync(join(d, "real"), "text");
    symlinkSync(join(d, "real"), join(d, "link"));
    expect(readRegularFile(join(d, "link"))).toBe("text");
    expect(() => readRegularFile(join(d, "link"), { noFollow: true })).toThrow(new FileError(join(d, "link"), "is a symbolic link, not followed"));
  });

  test("maxBytes: up to it is read, one byte more is refused unread (a 300 MB sparse file at once)", () => {
    const d = fresh();
    mkdirSync(d);
    const f = join(d, "f");
    writeFileSync(f, "x".repeat(100));
    expect(readRegularFile(f, { maxBytes: 100 })).toBe("x".repeat(100));
    expect(() => readRegularFile(f, { maxBytes: 99 })).toThrow("is longer than the 99 bytes iptmon reads of it");
    truncateSync(f, 300 * 1024 * 1024);
    const t = performance.now();
    expect(() => readRegularFile(f, { maxBytes: 1024 })).toThrow("is longer than the 1024 bytes");
    expect(performance.now() - t).toBeLessThan(1000);
    expect(existsSync(f)).toBe(true);
  });
});
