import { dlopen, FFIType } from "bun:ffi";
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync, writeSync } from "node:fs";
import { dirname } from "node:path";

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * The process boundary. Everything that touches the outside world goes through
 * here, so unit tests hand `main` a fake and end-to-end tests use the real one.
 */
export interface Sys {
  /** Spawns a command with an argument array (never a shell). Missing binary: code 127. */
  run(cmd: string, args: string[], input?: string): RunResult;
  /** File contents, or null when the file does not exist. */
  readFile(path: string): string | null;
  /** Names in a directory, or null when it does not exist. */
  listDir(path: string): string[] | null;
  /** Whether a file or directory exists. */
  exists(path: string): boolean;
  /** Atomic replace (write to a temporary name, then rename). */
  writeFile(path: string, data: string): void;
  env: Record<string, string | undefined>;
  /** The parent process's pid (who ran us: dnsmasq, hotplug, a shell). */
  ppid: number;
  stdout(text: string): void;
  stderr(text: string): void;
  /** Seconds since the epoch. */
  now(): number;
  /** Takes an exclusive lock; returns its release. Throws when it cannot be had in time. */
  lock(path: string, timeoutMs: number): () => void;
  fetch(url: string, init: RequestInit & { timeoutMs: number }): Promise<{ status: number; body: string }>;
}

function decode(b: Uint8Array | undefined | null): string {
  return b ? new TextDecoder().decode(b) : "";
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

type Flock = (fd: number, op: number) => number;
const LOCK_EX = 2;
const LOCK_NB = 4;

/**
 * flock(2) from the C library, or null where it cannot be loaded. The kernel
 * drops such a lock when its holder dies, so a crash never wedges events.
 */
function loadFlock(): Flock | null {
  const arch = process.arch === "arm64" ? "aarch64" : "x86_64";
  for (const name of ["libc.so.6", "libc.so", `libc.musl-${arch}.so.1`, `/lib/ld-musl-${arch}.so.1`]) {
    try {
      const lib = dlopen(name, { flock: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 } });
      return (fd, op) => lib.symbols.flock(fd, op);
    } catch {
      // not this libc
    }
  }
  return null;
}

function takeLock(path: string, timeoutMs: number): () => void {
  mkdirSync(dirname(path), { recursive: true });
  const flock = loadFlock();
  if (!flock) return takeLockFile(path, timeoutMs);
  const fd = openSync(path, "a", 0o600);
  const deadline = Date.now() + timeoutMs;
  while (flock(fd, LOCK_EX | LOCK_NB) !== 0) {
    if (Date.now() > deadline) {
      closeSync(fd);
      throw new Error(`still held by another iptmon after ${timeoutMs} ms`);
    }
    Bun.sleepSync(5);
  }
  return () => closeSync(fd);
}

/**
 * Fallback without flock: an O_EXCL file holding the owner's pid. A lock
 * whose owner died, or that stayed empty (a crash before the pid was
 * written), is taken over.
 */
export function takeLockFile(path: string, timeoutMs: number): () => void {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const fd = openSync(path, "wx", 0o600);
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      return () => {
        try {
          unlinkSync(path);
        } catch {
          // already gone: nothing to release
        }
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    }
    let owner = NaN;
    let ageMs = 0;
    try {
      owner = Number.parseInt(readFileSync(path, "utf8"), 10);
      ageMs = Date.now() - statSync(path).mtimeMs;
    } catch {
      continue; // released between our open and read
    }
    const stale = Number.isInteger(owner) ? !pidAlive(owner) : ageMs > 10_000;
    if (stale) {
      try {
        unlinkSync(path);
      } catch {
        // someone else removed it first
      }
      continue;
    }
    if (Date.now() > deadline) throw new Error(`held by pid ${owner}`);
    Bun.sleepSync(5);
  }
}

export const realSys: Sys = {
  run(cmd, args, input) {
    try {
      const p = Bun.spawnSync([cmd, ...args], {
        stdin: input === undefined ? "ignore" : new TextEncoder().encode(input),
        stdout: "pipe",
        stderr: "pipe",
      });
      return { code: p.exitCode ?? 1, stdout: decode(p.stdout), stderr: decode(p.stderr) };
    } catch (e) {
      return { code: 127, stdout: "", stderr: `${cmd}: ${(e as Error).message}` };
    }
  },
  readFile(path) {
    try {
      return readFileSync(path, "utf8");
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "ENOENT" || code === "ENOTDIR" || code === "EISDIR") return null;
      throw e;
    }
  },
  listDir(path) {
    if (!existsSync(path)) return null;
    try {
      return readdirSync(path).sort();
    } catch {
      return null;
    }
  },
  exists: (path) => existsSync(path),
  writeFile(path, data) {
    mkdirSync(dirname(path), { recursive: true });
    const tmp = `${path}.tmp.${process.pid}`;
    writeFileSync(tmp, data);
    renameSync(tmp, path);
  },
  env: process.env,
  ppid: process.ppid,
  stdout: (t) => void process.stdout.write(t),
  stderr: (t) => void process.stderr.write(t),
  now: () => Math.floor(Date.now() / 1000),
  lock: takeLock,
  async fetch(url, init) {
    const { timeoutMs, ...rest } = init;
    const res = await fetch(url, { ...rest, signal: AbortSignal.timeout(timeoutMs) });
    return { status: res.status, body: await res.text() };
  },
};

/** The path of a program as the spawner would find it on PATH, or null. */
export function findProgram(sys: Sys, name: string): string | null {
  if (name.includes("/")) return sys.exists(name) ? name : null;
  for (const dir of (sys.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin").split(":")) {
    if (dir && sys.exists(`${dir}/${name}`)) return `${dir}/${name}`;
  }
  return null;
}
