/**
 * The lock every change takes: flock(2) where libc can be loaded, else an
 * O_EXCL pid file.
 *
 * A tool iptmon runs under the lock (nft, iptables-restore, ip) inherits the
 * lock's descriptor (Sys.run passes lockFds()), so a killed iptmon does not
 * free the lock while its tool is still applying: the flock is on the open
 * file description, held until the last descriptor on it closes, and the
 * next command waits for the orphan to finish instead of being undone by it.
 * The pid file has no such hold; there a dead owner's file is taken over only
 * once no process has it open (its tools keep it open as the flock's do).
 * A tool that left a daemon behind would keep the lock as long: none of
 * those run under it (nft, iptables-*, ip, ifstatus) does.
 */
import { dlopen, FFIType } from "bun:ffi";
import { closeSync, constants, fstatSync, ftruncateSync, mkdirSync, openSync, readdirSync, readFileSync, statSync, unlinkSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import { failure, UserError } from "../errors.ts";
import { describeErrno, fileKind, pidAlive } from "./files.ts";

/** Descriptors of the locks this process holds now: what the tools it runs inherit. */
const held = new Set<number>();

/** The descriptors a tool run now must inherit: the locks held (none when none is). */
export function lockFds(): number[] {
  return [...held];
}

/**
 * Whether a process other than this one has `path` open (a tool a dead
 * owner ran, still at work). Where /proc cannot be read, none is seen.
 */
function openElsewhere(path: string): boolean {
  let target: { dev: number; ino: number };
  let pids: string[];
  try {
    target = statSync(path);
    pids = readdirSync("/proc").filter((p) => /^\d+$/.test(p) && Number(p) !== process.pid);
  } catch {
    return false;
  }
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue; // gone, or not ours to read
    }
    for (const fd of fds) {
      try {
        const st = statSync(`/proc/${pid}/fd/${fd}`);
        if (st.ino === target.ino && st.dev === target.dev) return true;
      } catch {
        // closed meanwhile, or a socket or pipe
      }
    }
  }
  return false;
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

/**
 * A lock that cannot be had: what actually happened (the message; the caller
 * names the lock), and what to do about it (the hint).
 */
function lockError(e: unknown): UserError {
  if (e instanceof UserError) return e;
  return failure(describeErrno(e), "set option lockfile to a writable file path (default /var/run/iptmon.lock)");
}

/**
 * The lock is still held after the wait: by the pid its file names, or, when
 * that process is gone, by a program it ran (which inherited the lock).
 */
function heldBy(pid: number, timeoutMs: number): UserError {
  if (Number.isInteger(pid) && pid > 0 && !pidAlive(pid))
    return failure(
      `still held after ${timeoutMs} ms by a program pid ${pid} ran (pid ${pid} has exited)`,
      "a tool a killed iptmon started is still running; it frees the lock when it ends; IPTMON_LOCK_TIMEOUT_MS waits longer",
    );
  return failure(
    `still held by ${Number.isInteger(pid) ? `pid ${pid}` : "another iptmon"} after ${timeoutMs} ms`,
    "another iptmon is still running; IPTMON_LOCK_TIMEOUT_MS waits longer",
  );
}

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
      let pid = NaN;
      try {
        pid = Number.parseInt(readFileSync(fd, "utf8"), 10);
      } catch {
        // unknown holder
      }
      closeSync(fd);
      throw heldBy(pid, timeoutMs);
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
  held.add(fd);
  // Released by closing, never by LOCK_UN: that would free the lock under a
  // tool still holding the descriptor (one that outlived a timeout's kill).
  return () => {
    held.delete(fd);
    closeSync(fd);
  };
}

/**
 * Fallback without flock: an O_EXCL file holding the owner's pid, kept open
 * while held so the tools run under it have it open too. A lock whose owner
 * died, or that stayed empty (a crash before the pid was written), is taken
 * over once no process has it open.
 */
export function takeLockFile(path: string, timeoutMs: number): () => void {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let fd: number | undefined;
    try {
      fd = openSync(path, "wx", 0o600);
      writeSync(fd, `${process.pid}\n`);
      const mine = fd;
      held.add(mine);
      return () => {
        held.delete(mine);
        try {
          unlinkSync(path);
        } catch {
          // already gone: nothing to release
        }
        closeSync(mine);
      };
    } catch (e) {
      if (fd !== undefined) {
        closeSync(fd);
        try {
          unlinkSync(path);
        } catch {
          // nothing to undo
        }
      }
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
    const abandoned = Number.isInteger(owner) ? !pidAlive(owner) : ageMs > 10_000;
    // Its owner's tools may still be at work: they have the file open.
    const stale = abandoned && !openElsewhere(path);
    if (stale) {
      try {
        unlinkSync(path);
      } catch {
        // someone else removed it first
      }
      continue;
    }
    if (Date.now() > deadline) throw heldBy(owner, timeoutMs);
    // Looking through /proc costs more than a pid check: not every 5 ms.
    Bun.sleepSync(abandoned ? 50 : 5);
  }
}

