/** Files as iptmon reads and writes them: regular files only, replaced atomically. */
import { chmodSync, closeSync, constants, fstatSync, fsyncSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, realpathSync, renameSync, statSync, unlinkSync, writeFileSync, type Stats } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { shorten, UserError } from "../errors.ts";

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

export function fileKind(st: { isDirectory(): boolean; isFIFO(): boolean; isSocket(): boolean; isCharacterDevice(): boolean; isBlockDevice(): boolean }): string {
  if (st.isDirectory()) return "a directory";
  if (st.isFIFO()) return "a FIFO";
  if (st.isSocket()) return "a socket";
  if (st.isCharacterDevice() || st.isBlockDevice()) return "a device";
  return "not a regular file";
}

/** What a read may ask for beyond the defaults. */
export interface ReadOptions {
  /** A symbolic link as the last component is refused (ELOOP), never followed: files only iptmon writes. */
  noFollow?: boolean;
  /** A file longer than this is refused, unread (a FileError saying so). */
  maxBytes?: number;
}

/** Reads a regular file without ever blocking on a FIFO or device (opened non-blocking, checked before reading). */
export function readRegularFile(path: string, opts: ReadOptions = {}): string | null {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY | (opts.noFollow ? constants.O_NOFOLLOW : 0));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return null;
    if (code === "ELOOP" && opts.noFollow) throw new FileError(path, "is a symbolic link, not followed");
    throw new FileError(path, describeErrno(e));
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new FileError(path, `is ${fileKind(st)}, not a regular file`);
    if (opts.maxBytes === undefined) return readFileSync(fd, "utf8");
    return readCapped(fd, path, st.size, opts.maxBytes);
  } catch (e) {
    if (e instanceof FileError) throw e;
    throw new FileError(path, describeErrno(e));
  } finally {
    closeSync(fd);
  }
}

const tooLong = (path: string, max: number) => new FileError(path, `is longer than the ${max} bytes iptmon reads of it`);

/** At most `max` bytes, checked before reading and while reading (a file that grows meanwhile). */
function readCapped(fd: number, path: string, size: number, max: number): string {
  if (size > max) throw tooLong(path, max);
  const buf = Buffer.allocUnsafe(Math.min(max, size) + 1);
  let len = 0;
  for (;;) {
    if (len === buf.length) throw tooLong(path, max);
    const n = readSync(fd, buf, len, buf.length - len, null);
    if (n === 0) break;
    len += n;
  }
  return buf.toString("utf8", 0, len);
}

/** Whether a process exists (EPERM: it does, someone else's). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Temporary files: `<file>.tmp.<pid>.<random>`, created O_EXCL|O_NOFOLLOW
 * (never through a name someone planted) and 0600. Those of a writer that
 * died (kill -9 between create and rename) go at the next write of the file;
 * a name of the older `<file>.tmp.<pid>` form too.
 */
const TMP_OF = (base: string) => new RegExp(`^${base.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\.tmp\\.(\\d+)(\\.[0-9a-f]+)?$`);

function removeDeadTemps(path: string): void {
  const dir = dirname(path);
  const re = TMP_OF(basename(path));
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const n of names) {
    const m = re.exec(n);
    if (!m || pidAlive(Number(m[1]))) continue;
    try {
      unlinkSync(join(dir, n));
    } catch {
      // gone already, or not ours to remove: the write goes on
    }
  }
}

/** Sys.writeFile: a temporary file, then rename (see Sys). */
export function writeFileAtomic(path: string, data: string, opts?: { durable?: boolean }): void {
  mkdirSync(dirname(path), { recursive: true });
  removeDeadTemps(path);
  const tmp = `${path}.tmp.${process.pid}.${Buffer.from(crypto.getRandomValues(new Uint8Array(6))).toString("hex")}`;
  try {
    const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW | constants.O_NOCTTY, 0o600);
    try {
      writeFileSync(fd, data);
      if (opts?.durable) fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
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
}

/**
 * A directory only this user (root) can change, for files that are read
 * back and trusted (the RAM state under world-writable /tmp): created 0700;
 * one that exists must be a real directory owned by this user and not
 * writable by group or others (it is then narrowed to 0700), and every
 * directory above it owned by root or this user and writable by no one
 * else unless sticky (/tmp). Anything else: a FileError-like UserError
 * saying what is wrong, before anything is read or written there.
 */
export function ensurePrivateDir(dir: string): void {
  const fail = (why: string) =>
    new UserError(`cannot use state directory ${shorten(dir)}: ${why}`, 1, "remove it or set option statefile elsewhere; iptmon creates the directory itself, mode 0700");
  const uid = process.geteuid?.() ?? 0;
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== "EEXIST") throw fail(describeErrno(e));
  }
  let st: Stats;
  try {
    st = lstatSync(dir);
  } catch (e) {
    throw fail(describeErrno(e));
  }
  if (st.isSymbolicLink()) throw fail("is a symbolic link");
  if (!st.isDirectory()) throw fail(st.isFile() ? "is a file, not a directory" : `is ${fileKind(st)}, not a directory`);
  if (st.uid !== uid) throw fail(`owned by uid ${st.uid}, not by uid ${uid} (root)`);
  if (st.mode & 0o022) throw fail(`writable by ${st.mode & 0o002 ? "anyone" : "its group"} (mode ${(st.mode & 0o7777).toString(8)})`);
  if (st.mode & 0o077) chmodSync(dir, 0o700);
  // Above it, resolved: a directory someone else controls could swap it.
  let up: string;
  try {
    up = realpathSync(dirname(resolve(dir)));
  } catch (e) {
    throw fail(describeErrno(e));
  }
  for (;;) {
    const s = statSync(up);
    if (s.uid !== 0 && s.uid !== uid) throw fail(`${shorten(up)} above it is owned by uid ${s.uid}`);
    if (s.mode & 0o022 && !(s.mode & 0o1000)) throw fail(`${shorten(up)} above it is writable by others and not sticky`);
    if (up === "/") break;
    up = dirname(up);
  }
}
