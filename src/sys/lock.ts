/** The lock every change takes: flock(2) where libc can be loaded, else an O_EXCL pid file. */
import { dlopen, FFIType } from "bun:ffi";
import { closeSync, constants, fstatSync, ftruncateSync, mkdirSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import { failure, UserError } from "../errors.ts";
import { describeErrno, fileKind, pidAlive } from "./files.ts";

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

/**
 * A lock that cannot be had: what actually happened (the message; the caller
 * names the lock), and what to do about it (the hint).
 */
function lockError(e: unknown): UserError {
  if (e instanceof UserError) return e;
  return failure(describeErrno(e), "set option lockfile to a writable file path (default /var/run/iptmon.lock)");
}

const heldBy = (owner: string, timeoutMs: number) =>
  failure(
    `still held by ${owner} after ${timeoutMs} ms`,
    "another iptmon is still running; IPTMON_LOCK_TIMEOUT_MS waits longer",
  );

export function takeLock(path: string, timeoutMs: number): () => void {
  const flock = loadFlock();
  if (!flock) return takeLockFile(path, timeoutMs);
  let fd: number;
  try {
    try {
      mkdirSync(dirname(path), { recursive: true });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "EEXIST" || code === "ENOTDIR") throw failure("a parent is not a directory", "set option lockfile to a file path");
      throw e;
    }
    // Non-blocking: a FIFO named as lock file must not hang us.
    fd = openSync(path, constants.O_RDWR | constants.O_CREAT | constants.O_NONBLOCK | constants.O_NOCTTY, 0o600);
    const st = fstatSync(fd);
    if (!st.isFile()) {
      closeSync(fd);
      throw failure(`is ${fileKind(st)}, not a regular file`, "set option lockfile to a file path");
    }
  } catch (e) {
    throw lockError(e);
  }
  const deadline = Date.now() + timeoutMs;
  while (flock(fd, LOCK_EX | LOCK_NB) !== 0) {
    if (Date.now() > deadline) {
      let owner = "another iptmon";
      try {
        const pid = Number.parseInt(readFileSync(fd, "utf8"), 10);
        if (Number.isInteger(pid)) owner = `pid ${pid}`;
      } catch {
        // unknown holder
      }
      closeSync(fd);
      throw heldBy(owner, timeoutMs);
    }
    Bun.sleepSync(5);
  }
  try {
    // Who holds it, for the message of whoever waits.
    ftruncateSync(fd, 0);
    writeSync(fd, `${process.pid}\n`, 0);
  } catch (e) {
    closeSync(fd);
    throw lockError(e);
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
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw lockError(e);
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
    if (Date.now() > deadline) throw heldBy(Number.isInteger(owner) ? `pid ${owner}` : "another iptmon", timeoutMs);
    Bun.sleepSync(5);
  }
}

