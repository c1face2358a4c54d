import { dlopen, FFIType } from "bun:ffi";
import { constants, closeSync, existsSync, fstatSync, fsyncSync, ftruncateSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync, writeSync } from "node:fs";
import { constants as os } from "node:os";
import { dirname } from "node:path";
import { DEFAULTS } from "./defaults.ts";
import { failure, shorten, UserError } from "./errors.ts";
import { NfTables } from "./netlink/nftables.ts";
import { RtNetlink } from "./netlink/rtnetlink.ts";
import { openNetfilterSocket, openRouteSocket } from "./netlink/socket.ts";

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
  /**
   * Spawns a command with an argument array (never a shell), killed after
   * `timeoutMs` (default DEFAULTS.runTimeoutMs). What went wrong is in stderr,
   * as a shell would say it: a missing binary is code 127, one that cannot be
   * executed 126, a child killed by a signal 128+N.
   */
  run(cmd: string, args: string[], input?: string, opts?: { timeoutMs?: number }): RunResult;
  /**
   * A regular file's contents, or null when it does not exist. Anything else
   * (a directory, a FIFO that would block, no permission) throws a FileError.
   */
  readFile(path: string): string | null;
  /** Names in a directory, or null when it does not exist. */
  listDir(path: string): string[] | null;
  /** Whether a file or directory exists. */
  exists(path: string): boolean;
  /**
   * Atomic replace (write to a temporary name, then rename): a failed write
   * (a full filesystem) leaves the old file and no temporary one. `durable`:
   * the data and the rename reach the disk before it returns (flash).
   */
  writeFile(path: string, data: string, opts?: { durable?: boolean }): void;
  /** Renames a file within its filesystem. */
  rename(from: string, to: string): void;
  env: Record<string, string | undefined>;
  /** The parent process's pid (who ran us: dnsmasq, hotplug, a shell). */
  ppid: number;
  stdout(text: string): void;
  stderr(text: string): void;
  /** Seconds since the epoch. */
  now(): number;
  /**
   * Takes an exclusive lock; returns its release. Throws a UserError when it
   * cannot be had in time (held: by which pid) or at all (which error), its
   * message the cause only, its hint what to do.
   */
  lock(path: string, timeoutMs: number): () => void;
  fetch(url: string, init: RequestInit & { timeoutMs: number }): Promise<{ status: number; body: string }>;
  /**
   * nf_tables over netlink, opened on first use; null where it cannot be had
   * (no libc for the FFI, no permission, IPTMON_NETLINK=0): then nft does
   * everything. Absent in fakes.
   */
  netfilter?(): NfTables | null;
  /**
   * The routing netlink (addresses, neighbours), opened on first use; null
   * where it cannot be had (no libc for the FFI, IPTMON_NETLINK=0): then the
   * sources run `ip`. A reply that takes DEFAULTS.sourceTimeoutMs is given up
   * on, as a source's `ip` would be. Absent in fakes.
   */
  rtnetlink?(): RtNetlink | null;
}

/** A file that exists but cannot be read as one: a user error naming what it is. */
export class FileError extends UserError {
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    super(`cannot read ${shorten(path)}: ${reason}`, 1);
    this.name = "FileError";
  }
}

/** What an errno code means, in the words a person would use. */
export function describeErrno(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  const words: Record<string, string> = {
    ENOENT: "no such file or directory",
    EACCES: "permission denied",
    EPERM: "operation not permitted",
    EISDIR: "is a directory",
    ENOTDIR: "a parent is not a directory",
    ENOSPC: "no space left on device",
    EROFS: "read-only file system",
    ENXIO: "no such device (a FIFO nobody reads?)",
    ELOOP: "too many symbolic links",
    ENAMETOOLONG: "name too long",
    EMFILE: "too many open files",
  };
  return (err?.code && words[err.code]) ?? (err?.code ? `${err.code.toLowerCase()}` : String(err?.message ?? e));
}

function fileKind(st: { isDirectory(): boolean; isFIFO(): boolean; isSocket(): boolean; isCharacterDevice(): boolean; isBlockDevice(): boolean }): string {
  if (st.isDirectory()) return "a directory";
  if (st.isFIFO()) return "a FIFO";
  if (st.isSocket()) return "a socket";
  if (st.isCharacterDevice() || st.isBlockDevice()) return "a device";
  return "not a regular file";
}

/** Reads a regular file without ever blocking on a FIFO or device (opened non-blocking, checked before reading). */
export function readRegularFile(path: string): string | null {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return null;
    throw new FileError(path, describeErrno(e));
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new FileError(path, `is ${fileKind(st)}, not a regular file`);
    return readFileSync(fd, "utf8");
  } catch (e) {
    if (e instanceof FileError) throw e;
    throw new FileError(path, describeErrno(e));
  } finally {
    closeSync(fd);
  }
}

const SIGNALS = os.signals as Record<string, number>;

/** A spawn that failed, or a child that did not exit by itself, as a RunResult that says so. */
export function spawnFailure(cmd: string, e: unknown): RunResult {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === "ENOENT") return { code: 127, stdout: "", stderr: `${cmd}: not found` };
  if (code === "EACCES" || code === "EPERM" || code === "ENOEXEC") return { code: 126, stdout: "", stderr: `${cmd}: cannot execute: ${describeErrno(e)}` };
  return { code: 126, stdout: "", stderr: `${cmd}: cannot run: ${describeErrno(e)}` };
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

function takeLock(path: string, timeoutMs: number): () => void {
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

/**
 * Writes to stdout or stderr directly: the streams cost a command ~7 ms to
 * set up, and a CGI runs `status` every 2 s. A descriptor someone left
 * non-blocking gets the rest through the stream; a reader that went away
 * (`iptmon status | head`) ends the output quietly, as it would the stream's.
 */
const streamed = new Set<number>();

function writeOut(fd: number, text: string, stream: () => NodeJS.WriteStream): void {
  // Once the stream has part of the output, the rest goes after it, in order.
  if (streamed.has(fd)) return void stream().write(text);
  const buf = Buffer.from(text);
  for (let off = 0; off < buf.length; ) {
    try {
      off += writeSync(fd, buf, off);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "EAGAIN") {
        streamed.add(fd);
        return void stream().write(buf.subarray(off));
      }
      if (code === "EPIPE") return;
      throw e;
    }
  }
}

export const realSys: Sys = {
  run(cmd, args, input, opts) {
    const timeoutMs = opts?.timeoutMs ?? DEFAULTS.runTimeoutMs;
    let p: ReturnType<typeof Bun.spawnSync>;
    try {
      p = Bun.spawnSync([cmd, ...args], {
        stdin: input === undefined ? "ignore" : new TextEncoder().encode(input),
        stdout: "pipe",
        stderr: "pipe",
        timeout: timeoutMs,
      });
    } catch (e) {
      return spawnFailure(cmd, e);
    }
    const stdout = decode(p.stdout);
    const stderr = decode(p.stderr);
    if (p.exitCode !== null) return { code: p.exitCode, stdout, stderr };
    const sig = p.signalCode ?? "SIGKILL";
    const what = (p as { exitedDueToTimeout?: boolean }).exitedDueToTimeout
      ? `${cmd}: timed out after ${timeoutMs} ms (killed)`
      : `${cmd}: killed by signal ${SIGNALS[sig] ?? "?"} (${sig})`;
    return { code: 128 + (SIGNALS[sig] ?? 0), stdout, stderr: `${what}\n${stderr}` };
  },
  readFile: readRegularFile,
  listDir(path) {
    if (!existsSync(path)) return null;
    try {
      return readdirSync(path).sort();
    } catch {
      return null;
    }
  },
  exists: (path) => existsSync(path),
  writeFile(path, data, opts) {
    mkdirSync(dirname(path), { recursive: true });
    const tmp = `${path}.tmp.${process.pid}`;
    try {
      if (opts?.durable) {
        const fd = openSync(tmp, "w", 0o600);
        try {
          writeFileSync(fd, data);
          fsyncSync(fd);
        } finally {
          closeSync(fd);
        }
      } else writeFileSync(tmp, data);
      renameSync(tmp, path);
    } catch (e) {
      try {
        unlinkSync(tmp);
      } catch {
        // never created
      }
      throw e;
    }
    if (opts?.durable) {
      // The rename itself is only on disk once the directory is.
      const dir = openSync(dirname(path), "r");
      try {
        fsyncSync(dir);
      } finally {
        closeSync(dir);
      }
    }
  },
  rename: (from, to) => renameSync(from, to),
  env: process.env,
  ppid: process.ppid,
  stdout: (t) => writeOut(1, t, () => process.stdout),
  stderr: (t) => writeOut(2, t, () => process.stderr),
  now: () => Math.floor(Date.now() / 1000),
  lock: takeLock,
  async fetch(url, init) {
    const { timeoutMs, ...rest } = init;
    const res = await fetch(url, { ...rest, signal: AbortSignal.timeout(timeoutMs) });
    return { status: res.status, body: await res.text() };
  },
  netfilter() {
    if (netfilter === undefined) {
      netfilter = null;
      if (process.env.IPTMON_NETLINK !== "0")
        try {
          netfilter = new NfTables(openNetfilterSocket());
        } catch {
          // nft does it all, as on a system without FFI.
        }
    }
    return netfilter;
  },
  rtnetlink() {
    if (rtnetlink === undefined) {
      rtnetlink = null;
      if (process.env.IPTMON_NETLINK !== "0")
        try {
          rtnetlink = new RtNetlink(openRouteSocket(DEFAULTS.sourceTimeoutMs));
        } catch {
          // `ip` reads it all, as on a system without FFI.
        }
    }
    return rtnetlink;
  },
};
let netfilter: NfTables | null | undefined;
let rtnetlink: RtNetlink | null | undefined;

/** The path of a program as the spawner would find it on PATH, or null. */
export function findProgram(sys: Sys, name: string): string | null {
  if (name.includes("/")) return sys.exists(name) ? name : null;
  for (const dir of (sys.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin").split(":")) {
    if (dir && sys.exists(`${dir}/${name}`)) return `${dir}/${name}`;
  }
  return null;
}
