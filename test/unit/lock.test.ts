/** The lock that serialises invocations, on the real filesystem. */
import { afterAll, expect, test } from "bun:test";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs";
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

const SYS = JSON.stringify(join(import.meta.dir, "../../src/sys.ts"));
const LOCK = JSON.stringify(join(import.meta.dir, "../../src/sys/lock.ts"));

/** The descriptors a command run through realSys.run has beyond stdio, as `fd file`. */
function extraFdsOfChild(): string[] {
  // The shell's own descriptors, listed by a program it runs (it opens none for that).
  const r = realSys.run("sh", ["-c", "ls -l /proc/$$/fd"]);
  expect(r.code).toBe(0);
  return r.stdout.split("\n").flatMap((l) => {
    const m = / (\d+) -> (.*)$/.exec(l);
    return m && !["0", "1", "2"].includes(m[1]!) ? [`${m[1]} ${m[2]}`] : [];
  });
}

test("a command run under the lock inherits the lock's descriptor (fd 3) and no other; without the lock, none", () => {
  const path = join(dir, "f.lock");
  // This process has more open (the test runner's): none of them leaks.
  const other = openSync(join(dir, "other"), "w");
  try {
    expect(extraFdsOfChild()).toEqual([]);
    const release = realSys.lock(path, 1000);
    try {
      expect(extraFdsOfChild()).toEqual([`3 ${path}`]);
    } finally {
      release();
    }
    expect(extraFdsOfChild()).toEqual([]);
  } finally {
    closeSync(other);
  }
});

/**
 * A holder (a child bun) that takes the lock with `take`, runs a command
 * that leaves a sleeper behind (as a tool outliving a killed iptmon would),
 * and is then killed. Returns the sleeper's pid.
 */
async function killedHolder(path: string, take: string): Promise<number> {
  const script = `const { realSys } = await import(${SYS}); const lock = await import(${LOCK});
    ${take}(${JSON.stringify(path)}, 1000);
    const r = realSys.run("sh", ["-c", "sleep 1 >/dev/null 2>&1 & echo $!"]);
    console.log(r.stdout.trim()); await Bun.sleep(60000);`;
  const child = Bun.spawn([process.execPath, "-e", script], { stdout: "pipe" });
  const reader = child.stdout.getReader();
  const sleeper = Number(new TextDecoder().decode((await reader.read()).value).trim());
  expect(sleeper).toBeGreaterThan(0);
  child.kill("SIGKILL");
  await child.exited;
  return sleeper;
}

/** Whether pid still runs (an orphan's zombie, waiting for init to reap it, does not). */
const alive = (pid: number) => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
};

for (const [kind, take, mine] of [
  ["flock", "realSys.lock", (p: string, t: number) => realSys.lock(p, t)],
  ["fallback lock file", "lock.takeLockFile", takeLockFile],
] as const) {
  test(`${kind}: a killed holder's command keeps the lock until it ends; then it is free`, async () => {
    const path = join(dir, `g-${kind.replace(/ /g, "-")}.lock`);
    const sleeper = await killedHolder(path, take);
    expect(() => mine(path, 50)).toThrow(/still held after 50 ms by a program pid \d+ ran \(pid \d+ has exited\)/);
    while (alive(sleeper)) await Bun.sleep(20);
    mine(path, 1000)();
  });
}
