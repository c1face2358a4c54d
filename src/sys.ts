import { constants as os } from "node:os";
import { existsSync, readdirSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { DEFAULTS } from "./defaults.ts";
import { NfTables } from "./netlink/nftables.ts";
import { RtNetlink } from "./netlink/rtnetlink.ts";
import { openNetfilterSocket, openRouteSocket } from "./netlink/socket.ts";
import { describeErrno, ensurePrivateDir, readRegularFile, writeFileAtomic, type ReadOptions } from "./sys/files.ts";
import { lockFds, takeLock } from "./sys/lock.ts";

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
   * `timeoutMs` (default DEFAULTS.runTimeoutMs). A command run under the lock
   * holds it with this process (it inherits the lock's descriptor): an
   * iptmon killed meanwhile does not let the next one in before the command
   * is done. What went wrong is in stderr,
   * as a shell would say it: a missing binary is code 127, one that cannot be
   * executed 126, a child killed by a signal 128+N.
   */
  run(cmd: string, args: string[], input?: string, opts?: { timeoutMs?: number }): RunResult;
  /**
   * A regular file's contents, or null when it does not exist. Anything else
   * (a directory, a FIFO that would block, no permission) throws a FileError.
   */
  readFile(path: string, opts?: ReadOptions): string | null;
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
  /**
   * Makes sure a directory exists and only this user (root) can change it
   * (ensurePrivateDir); throws a UserError saying what is wrong otherwise.
   */
  ensurePrivateDir(path: string): void;
  /** Renames a file within its filesystem. */
  rename(from: string, to: string): void;
  /** Removes a file; nothing when it is not there. Absent in fakes. */
  remove?(path: string): void;
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
        // The child inherits the lock held now (as its fd 3), and nothing
        // else: killed, iptmon leaves the lock held until the child is done.
        stdio: [input === undefined ? "ignore" : new TextEncoder().encode(input), "pipe", "pipe", ...lockFds()],
        timeout: timeoutMs,
        // A tool that ignores SIGTERM would be waited for past its limit (with the lock held).
        killSignal: "SIGKILL",
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
  writeFile: writeFileAtomic,
  ensurePrivateDir,
  rename: (from, to) => renameSync(from, to),
  remove(path) {
    try {
      unlinkSync(path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
    }
  },
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
