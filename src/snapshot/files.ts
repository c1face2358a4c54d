/**
 * The snapshot's files as iptmon reads and writes them: never through a
 * symbolic link, never more than iptmon could have written, replaced
 * atomically; a file that cannot be used is set aside (renamed, never
 * deleted) and one that cannot be set aside or saved is left alone for the
 * rest of the run. Each problem is one line for the user.
 */
import { oneLine, shorten } from "../errors.ts";
import type { Sys } from "../sys.ts";
import { FileError } from "../sys/files.ts";
import { RANKING_READ_MAX, RANKING_SUFFIX } from "./ranking.ts";
import { JOURNAL_READ_MAX, STATE_READ_MAX } from "./settings.ts";

/** `ENOSPC: no space left on device, write` → `no space left on device (ENOSPC)`. */
export const reason = (e: unknown): string => {
  // A FileError already names the file: only why.
  if (e instanceof FileError) return oneLine(e.reason, 120);
  const err = e as NodeJS.ErrnoException;
  const msg = String(err?.message ?? e);
  const m = err?.code ? new RegExp(`^${err.code}: ([^,]*)`).exec(msg) : null;
  return oneLine(m ? `${m[1]} (${err.code})` : msg, 120);
};

export class SnapshotFiles {
  /** Files that could not be set aside (never written over), or whose save failed in this run. */
  private readonly untouchable = new Set<string>();

  constructor(
    private readonly sys: Sys,
    private readonly journalFile: string,
    /** One line for the user (stderr): a file set aside, a save that failed. */
    private readonly report: (line: string) => void,
  ) {}

  /** Whether this run leaves the file alone (it could not be set aside, or a save of it failed). */
  leftAlone(path: string): boolean {
    return this.untouchable.has(path);
  }

  /** A file's text, or null when it is missing; a FileError when it cannot be used. */
  read(path: string): string | null {
    const maxBytes = path === this.journalFile ? JOURNAL_READ_MAX : path.endsWith(RANKING_SUFFIX) ? RANKING_READ_MAX : STATE_READ_MAX;
    return this.sys.readFile(path, { noFollow: true, maxBytes });
  }

  /** A file's text, or null when it is missing or cannot be read (the whole read reports that). */
  peek(path: string): string | null {
    try {
      return this.read(path);
    } catch {
      return null;
    }
  }

  /** Replaces a file; false (said in one line, the previous file kept) when it cannot. */
  write(path: string, text: string, durable: boolean): boolean {
    if (this.untouchable.has(path)) return false;
    try {
      this.sys.writeFile(path, text, { durable });
      return true;
    } catch (e) {
      this.report(`cannot save snapshot ${shorten(path)}: ${reason(e)} (the previous one is kept)`);
      // Once is enough for one run: the next run tries again.
      this.untouchable.add(path);
      return false;
    }
  }

  /** Renames a file that cannot be used out of the way, saying why and what happens `then`. */
  setAside(path: string, why: string, then = "counting goes on from the kernel"): void {
    let aside = `${path}.bad-${this.sys.now()}`;
    for (let i = 2; this.sys.exists(aside); i++) aside = `${path}.bad-${this.sys.now()}-${i}`;
    try {
      this.sys.rename(path, aside);
      this.report(`snapshot ${shorten(path)} ${why}: set aside as ${shorten(aside)}; ${then}`);
    } catch (e) {
      this.untouchable.add(path);
      this.report(`snapshot ${shorten(path)} ${why} and cannot be set aside (${reason(e)}): left as it is, not written over; ${then}`);
    }
  }
}
