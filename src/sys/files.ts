/** Files as iptmon reads and writes them: regular files only, replaced atomically. */
import { closeSync, constants, fstatSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, unlinkSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
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


/** Sys.writeFile: a temporary file, then rename (see Sys). */
export function writeFileAtomic(path: string, data: string, opts?: { durable?: boolean }): void {
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
}
