/**
 * Where the state lives: a file in RAM (`statefile`, under /tmp), refreshed
 * whenever iptmon reads the counters anyway, and a copy on flash
 * (`persist_dir`) written at most every `persist_interval` and when iptmon
 * stops. Both are replaced atomically (temporary file, then rename), so a
 * full filesystem or a crash leaves the previous file whole. A file that
 * cannot be used is reported in one line and set aside (renamed, never
 * deleted); counting goes on from the kernel.
 */
import { join } from "node:path";
import type { Config } from "../config.ts";
import type { Runtime } from "../core.ts";
import { oneLine, shorten } from "../errors.ts";
import type { CountedHost, HostCounters } from "../model.ts";
import type { Sys } from "../sys.ts";
import { localOffset, type PeriodKind } from "../usage/periods.ts";
import { recordSample, type UsageSettings } from "../usage/record.ts";
import { BadState, emptyState, floorsOf, parseState, serializeState, type State } from "./state.ts";

export interface SnapshotSettings {
  statefile: string;
  /** Directory on persistent storage; null: RAM only. */
  persistDir: string | null;
  /** Seconds between copies to persistent storage. */
  persistInterval: number;
  usage: UsageSettings;
}

export const PERSIST_NAME = "state.json";

export function snapshotSettings(cfg: Config): SnapshotSettings {
  return {
    statefile: cfg.statefile,
    persistDir: cfg.persistDir,
    persistInterval: cfg.persistInterval * 60,
    usage: { spec: { kind: cfg.period as PeriodKind, start: cfg.periodStart }, kept: cfg.periodsKept, zone: localOffset },
  };
}

/** `ENOSPC: no space left on device, write` → `no space left on device (ENOSPC)`. */
const reason = (e: unknown) => {
  const err = e as NodeJS.ErrnoException;
  const msg = String(err?.message ?? e);
  const m = err?.code ? new RegExp(`^${err.code}: ([^,]*)`).exec(msg) : null;
  return oneLine(m ? `${m[1]} (${err.code})` : msg, 120);
};

export class Snapshots {
  private state: State | undefined;
  /** The RAM file's text as this run last read or wrote it. */
  private seen: string | null = null;
  /** Whether the state changed since it was last copied to persistent storage. */
  private unpersisted = false;
  /** Files that could not be set aside (never written over), or whose save failed in this run. */
  private readonly untouchable = new Set<string>();

  constructor(
    readonly sys: Sys,
    readonly settings: SnapshotSettings,
    /** One line for the user (stderr): a file set aside, a save that failed. */
    private readonly report: (line: string) => void,
  ) {}

  get persistFile(): string | null {
    return this.settings.persistDir ? join(this.settings.persistDir, PERSIST_NAME) : null;
  }

  /** The state: the RAM file, else the persisted copy (after a reboot), else a new one. Read once. */
  current(): State {
    if (!this.state) {
      const persist = this.persistFile;
      this.state = this.read(this.settings.statefile) ?? (persist ? this.read(persist) : null) ?? emptyState(this.sys.now());
    }
    return this.state;
  }

  floors(): ReadonlyMap<string, HostCounters> {
    return floorsOf(this.current());
  }

  /** A sample of counters (`all`: every host, from a full read) goes into the state, which is saved. */
  remember(hosts: readonly CountedHost[], scope: "all" | "some"): void {
    const counted = hosts.filter((h): h is CountedHost & { key: string } => h.key !== null);
    if (scope === "some" && counted.length === 0) return;
    this.catchUp();
    recordSample(this.current(), counted, this.sys.now(), this.settings.usage, scope === "all");
    this.unpersisted = true;
    this.save(false);
  }

  /**
   * A long-running reader (`top`) takes up what other runs wrote since (an
   * event, a reset), rather than write its own older state over it.
   */
  private catchUp(): void {
    if (!this.state || this.untouchable.has(this.settings.statefile)) return;
    let text: string | null;
    try {
      text = this.sys.readFile(this.settings.statefile);
    } catch {
      return; // read (and reported) again when it is loaded
    }
    if (text !== null && text !== this.seen) this.state = undefined;
  }

  /** Drops what is remembered of these hosts' totals (all of them: null); usage already counted stays. */
  forget(keys: readonly string[] | null): void {
    const s = this.current();
    this.unpersisted = true;
    if (keys === null) s.hosts = {};
    else for (const k of keys) delete s.hosts[k];
  }

  /**
   * Writes the RAM file, and the persistent copy when `persistNow` or when
   * the interval has passed since the last one. A clock found before the
   * last copy (stepped back) starts the interval again rather than write.
   */
  save(persistNow: boolean): void {
    const s = this.current();
    const now = this.sys.now();
    const persist = this.persistFile;
    if (persist) {
      // Stop copies what changed since: in this run, or in earlier ones (a
      // sample newer than the last copy), even when it reads nothing itself.
      const changed = this.unpersisted || s.time > s.persisted || s.persisted === 0;
      const due = persistNow ? changed : s.persisted === 0 || now >= s.persisted + this.settings.persistInterval;
      if (due) {
        const before = s.persisted;
        s.persisted = now;
        if (this.write(persist, serializeState(s), true)) this.unpersisted = false;
        else s.persisted = before;
      } else if (now < s.persisted) s.persisted = now;
    }
    this.write(this.settings.statefile, serializeState(s), false);
  }

  private write(path: string, text: string, durable: boolean): boolean {
    if (this.untouchable.has(path)) return false;
    try {
      this.sys.writeFile(path, text, { durable });
      if (path === this.settings.statefile) this.seen = text;
      return true;
    } catch (e) {
      this.report(`cannot save snapshot ${shorten(path)}: ${reason(e)} (the previous one is kept)`);
      // Once is enough for one run: the next run tries again.
      this.untouchable.add(path);
      return false;
    }
  }

  private read(path: string): State | null {
    let text: string | null;
    try {
      text = this.sys.readFile(path);
    } catch (e) {
      this.setAside(path, `cannot be read (${reason(e)})`);
      return null;
    }
    if (text === null) return null;
    if (path === this.settings.statefile) this.seen = text;
    try {
      return parseState(text);
    } catch (e) {
      if (!(e instanceof BadState)) throw e;
      this.setAside(path, `is unusable (${e.message})`);
      return null;
    }
  }

  private setAside(path: string, why: string): void {
    let aside = `${path}.bad-${this.sys.now()}`;
    for (let i = 2; this.sys.exists(aside); i++) aside = `${path}.bad-${this.sys.now()}-${i}`;
    try {
      this.sys.rename(path, aside);
      this.report(`snapshot ${shorten(path)} ${why}: set aside as ${shorten(aside)}; counting goes on from the kernel`);
    } catch (e) {
      this.untouchable.add(path);
      this.report(`snapshot ${shorten(path)} ${why} and cannot be set aside (${reason(e)}): left as it is, not written over; counting goes on from the kernel`);
    }
  }
}

const attached = new WeakMap<Runtime, Snapshots>();

/** Gives a runtime its memory: floors for counters it creates, and a state that every read refreshes. */
export function withSnapshots(rt: Runtime, report: (line: string) => void): Runtime {
  const snaps = new Snapshots(rt.sys, snapshotSettings(rt.cfg), report);
  const out: Runtime = {
    ...rt,
    floors: () => snaps.floors(),
    remember: (hosts, scope) => snaps.remember(hosts, scope),
    persist: () => snaps.save(true),
  };
  attached.set(out, snaps);
  return out;
}

/** The snapshots of a runtime built with `withSnapshots`. */
export function snapshotsOf(rt: Runtime): Snapshots {
  const s = attached.get(rt);
  if (!s) throw new Error("this runtime keeps no snapshots");
  return s;
}
