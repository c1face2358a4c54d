/** The lock that serialises invocations, on the real filesystem. */
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { realSys } from "../../src/sys.ts";
import { takeLockFile } from "../../src/sys/lock.ts";

const dir = mkdtempSync(join(tmpdir(), "iptmon-lock-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("a held lock makes the next taker wait, then fail after its timeout; released, it can be taken", () => {
  const path = join(dir, "a.lock");
  const release = realSys.lock(path, 1000);
  const t0 = Date.now();
  expect(() => realSys.lock(path, 100)).toThrow(/still held/);
  expect(Date.now() - t0).toBeGreaterThanOrEqual(100);
  release();
  realSys.lock(path, 100)();
});

test("a lock whose holder was killed is free at once", async () => {
  const path = join(dir, "b.lock");
  const child = Bun.spawn([process.execPath, "-e", `const { realSys } = await import(${JSON.stringify(join(import.meta.dir, "../../src/sys.ts"))}); realSys.lock(${JSON.stringify(path)}, 1000); console.log("held"); await Bun.sleep(60000);`], { stdout: "pipe" });
  const reader = child.stdout.getReader();
  expect(new TextDecoder().decode((await reader.read()).value)).toContain("held");
  expect(() => realSys.lock(path, 50)).toThrow(/still held/);
  child.kill("SIGKILL");
  await child.exited;
  realSys.lock(path, 1000)();
});

test("fallback lock file: a dead owner's or an old empty lock is taken over; a live owner's is not", () => {
  const dead = join(dir, "c.lock");
  writeFileSync(dead, "999999999\n");
  takeLockFile(dead, 100)();
  const empty = join(dir, "d.lock");
  writeFileSync(empty, "");
  const old = (Date.now() - 60_000) / 1000;
  utimesSync(empty, old, old);
  takeLockFile(empty, 100)();
  const live = join(dir, "e.lock");
  writeFileSync(live, `${process.pid}\n`);
  expect(() => takeLockFile(live, 50)).toThrow(/held by pid/);
});
