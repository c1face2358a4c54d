/**
 * Where the state lives: a file in RAM (`statefile`, under /tmp), refreshed
 * whenever iptmon reads the counters anyway, and a copy on flash
 * (`persist_dir`) written at most every `persist_interval` and when iptmon
 * stops. Counters an event creates go to a small journal beside the RAM file
 * (see journal.ts), which the next whole read folds in: so an event's cost
 * does not grow with the hosts remembered. Every file is replaced atomically
 * (temporary file, then rename), so a full filesystem or a crash leaves the
 * previous one whole. A file that cannot be used is reported in one line and
 * set aside (renamed, never deleted); counting goes on from the kernel.
 */
import { dirname, join } from "node:path";
import type { Runtime } from "../core.ts";
import type { CountedHost, HostCounters, SplitCount } from "../model.ts";
import type { Sys } from "../sys.ts";
import { previewSample, recordSample } from "../usage/record.ts";
import { reason, SnapshotFiles } from "./files.ts";
import { copyDue, JOURNAL_MAX, JOURNAL_SUFFIX, PERSIST_NAME, snapshotSettings, STATE_READ_MAX, type SnapshotSettings } from "./settings.ts";
import { digestOf, hostRecordIn, newestPeriodOnly, parseJournal, serializeJournal, stateHead, type Journal, type JournalSample } from "./journal.ts";
import { parseRanking, rankingOf, RANKING_SUFFIX, serializeRanking, type Ranking, type RankingSource } from "./ranking.ts";
import { specText } from "../usage/periods.ts";
import { BadState, emptyState, floorOf, floorsOf, parseState, serializeState, type State } from "./state.ts";

/** How many hosts' floors are looked up in the state's text before it is read whole. */
const QUICK_LOOKUPS = 16;

/**
 * What an event needs of the snapshot without reading it whole: the RAM
 * file's text, trusted because the journal names its digest, and the
 * journal's samples on top of it.
 */
interface Quick {
  text: string;
  head: NonNullable<ReturnType<typeof stateHead>>;
  journal: Journal;
  /** The newest journaled totals per key: they stand over the state's. */
  newer: Map<string, HostCounters>;
}

/** Floors looked up one at a time from wherever is cheapest; walking them all reads the whole state. */
class SnapshotFloors implements ReadonlyMap<string, HostCounters> {
  constructor(
    private readonly one: (key: string) => HostCounters | undefined,
    private readonly all: () => ReadonlyMap<string, HostCounters>,
  ) {}
  get(key: string) {
    return this.one(key);
  }
  has(key: string) {
    return this.one(key) !== undefined;
  }
  get size() {
    return this.all().size;
  }
  entries() {
    return this.all().entries();
  }
  keys() {
    return this.all().keys();
  }
  values() {
    return this.all().values();
  }
  forEach(fn: (value: HostCounters, key: string, map: ReadonlyMap<string, HostCounters>) => void, thisArg?: unknown) {
    for (const [k, v] of this.all()) fn.call(thisArg, v, k, this);
  }
  [Symbol.iterator]() {
    return this.all()[Symbol.iterator]();
  }
}

export class Snapshots {
  private state: State | undefined;
  /** The RAM file's text as this run last read or wrote it. */
  private seen: string | null = null;
  /** The journal's text as this run last read or wrote it (undefined: not looked at). */
  private journalSeen: string | null | undefined;
  private quick: Quick | null | undefined;
  /** Whether the state changed since it was last copied to persistent storage. */
  private unpersisted = false;
  /** The digest of the state text this run last saved with an empty journal; null: the last save did not. */
  private saved: string | null = null;
  private readonly files: SnapshotFiles;

  constructor(
    readonly sys: Sys,
    readonly settings: SnapshotSettings,
    /** One line for the user (stderr): a file set aside, a save that failed. */
    private readonly report: (line: string) => void,
    /** What counts the hosts, for the ranking each full sample writes (null: none is written). */
    private readonly source: RankingSource | null = null,
  ) {
    this.files = new SnapshotFiles(sys, this.journalFile, report);
  }

  get persistFile(): string | null {
    return this.settings.persistDir ? join(this.settings.persistDir, PERSIST_NAME) : null;
  }

  get journalFile(): string {
    return `${this.settings.statefile}${JOURNAL_SUFFIX}`;
  }

  get rankingFile(): string {
    return `${this.settings.statefile}${RANKING_SUFFIX}`;
  }

  /**
   * The state: the RAM file with its journal replayed on top, else the
   * persisted copy (after a reboot), else a new one. Read once.
   */
  current(): State {
    if (!this.state) {
      this.quick = undefined;
      const ram = this.settings.statefile;
      const persist = this.persistFile;
      let s = this.read(ram);
      if (s) this.replay(s, this.readJournal(this.seen!));
      else this.journalSeen = this.files.peek(this.journalFile);
      s ??= (persist ? this.read(persist) : null) ?? emptyState(this.sys.now());
      this.state = s;
    }
    return this.state;
  }

  private quickLookups = 0;

  floors(): ReadonlyMap<string, HostCounters> {
    return new SnapshotFloors(
      (key) => this.floor(key),
      () => floorsOf(this.current()),
    );
  }

  private floor(key: string): HostCounters | undefined {
    // Each quick lookup reads through the state's text: for more than an
    // event's few hosts (init, print), reading it whole once is cheaper.
    if (!this.state && this.quickLookups++ < QUICK_LOOKUPS) {
      const q = this.quickView();
      if (q) {
        const newer = q.newer.get(key);
        if (newer) return newer;
        const h = hostRecordIn(q.text, key, q.head);
        if (h !== null) return h && floorOf(h);
      }
    }
    const hosts = this.current().hosts;
    return Object.hasOwn(hosts, key) ? floorOf(hosts[key]!) : undefined;
  }

  /** A sample of counters (`all`: every host, from a full read) goes into the state, which is saved. */
  remember(hosts: readonly CountedHost[], scope: "all" | "some", split?: readonly SplitCount[]): void {
    const counted = hosts.filter((h): h is CountedHost & { key: string } => h.key !== null);
    if (scope === "some" && counted.length === 0) return;
    if (scope === "some" && this.journal(counted)) return;
    this.catchUp();
    const now = this.sys.now();
    recordSample(this.current(), counted, now, this.settings.usage, scope === "all", split);
    this.unpersisted = true;
    this.save(false);
    if (scope === "all") this.rank(counted, now);
  }

  /**
   * Writes the ranking of a full sample just saved, for the page's poll (see
   * ranking.ts); removes the last one when there is nothing to rank by or
   * the state could not be saved (it would name a state not on disk).
   */
  private rank(hosts: readonly CountedHost[], t: number): void {
    if (!this.source) return;
    const r = this.saved === null ? null : rankingOf(this.current(), hosts, t, this.settings.usage.spec, this.source, this.saved);
    if (r) this.write(this.rankingFile, serializeRanking(r), false);
    else this.dropRanking();
  }

  /** The hosts in the kernel are about to change (an event, init, stop): the ranking would list them as they were. */
  dropRanking(): void {
    const path = this.rankingFile;
    if (this.files.leftAlone(path) || !this.sys.exists(path)) return;
    try {
      if (this.sys.remove) this.sys.remove(path);
      else this.sys.writeFile(path, "");
    } catch (e) {
      // A ranking that cannot be removed must not be read either.
      this.files.setAside(path, `cannot be removed (${reason(e)})`, "the page's poll reads every counter");
    }
  }

  /**
   * The last full sample's ranking, when the page's poll may build on it:
   * written with the state iptmon last wrote (the journal names that text,
   * with no sample since),
   * by this backend, table and placement, under this period setting, with
   * its period still open at `now`, and at most `maxAge` seconds old. Null
   * otherwise (a missing or empty file is no ranking; an unusable one is set
   * aside and said, as the state's files are).
   */
  ranking(now: number, maxAge: number): Ranking | null {
    const path = this.rankingFile;
    if (!this.source || this.files.leftAlone(path)) return null;
    let text: string | null;
    try {
      text = this.files.read(path);
    } catch (e) {
      this.files.setAside(path, `cannot be read (${reason(e)})`, "the page's poll reads every counter");
      return null;
    }
    if (text === null || text === "") return null;
    let r: Ranking;
    try {
      r = parseRanking(text);
    } catch (e) {
      if (!(e instanceof BadState)) throw e;
      this.files.setAside(path, `is unusable (${e.message})`, "the page's poll reads every counter");
      return null;
    }
    const src = this.source;
    if (r.backend !== src.backend || r.table !== src.table || r.hook !== src.hook) return null;
    if (!r.period || r.spec !== specText(this.settings.usage.spec) || now < r.t || now - r.t > maxAge || now >= r.period.end) return null;
    const jtext = this.files.peek(this.journalFile);
    if (jtext === null) return null;
    try {
      const j = parseJournal(jtext);
      return j.state === r.state && j.samples.length === 0 ? r : null;
    } catch {
      return null; // the next whole read sets it aside and says so
    }
  }

  /**
   * The open period and each host's usage in it as a sample of these hosts
   * (a full read) would leave them, recording nothing: the state is read,
   * never written.
   */
  preview(hosts: readonly CountedHost[]): ReturnType<typeof previewSample> {
    return previewSample(this.recent(), hosts, this.sys.now(), this.settings.usage);
  }

  /**
   * The state with only its newest period, for a reader of the open period
   * that writes nothing: the older periods (most of a kept year's text) are
   * not parsed. The RAM file as serializeState wrote it, checked as a whole
   * read checks it, with its journal replayed; anything else takes the whole
   * read (current). Not kept: a later current() reads it all.
   */
  recent(): State {
    if (this.state || this.files.leftAlone(this.settings.statefile)) return this.current();
    const text = this.files.peek(this.settings.statefile);
    const cut = text === null ? null : newestPeriodOnly(text);
    if (cut === null) return this.current();
    let s: State;
    try {
      s = parseState(cut);
    } catch (e) {
      if (e instanceof BadState) return this.current();
      throw e;
    }
    this.replay(s, this.readJournal(text!));
    return s;
  }

  /**
   * Puts a sample of some hosts in the journal, when the state is not read
   * whole in this run and nothing else is due (a copy to flash, a journal
   * grown long): those take the whole way. False: not journaled.
   */
  private journal(hosts: readonly CountedHost[]): boolean {
    if (this.state) return false;
    const q = this.quickView();
    if (!q) return false;
    const now = this.sys.now();
    const { persisted, tried } = q.head;
    if (this.persistFile && (copyDue(persisted, tried, now, this.settings.persistInterval) || now < persisted)) return false;
    const sample: JournalSample = {
      t: now,
      spec: { ...this.settings.usage.spec },
      hosts: hosts.map((h) => [h.key, h.name, h.rx.bytes, h.rx.packets, h.tx.bytes, h.tx.packets]),
    };
    const next: Journal = { state: q.journal.state, samples: [...q.journal.samples, sample] };
    const text = serializeJournal(next);
    if (text.length > JOURNAL_MAX) return false;
    this.unpersisted = true;
    if (this.write(this.journalFile, text, false)) {
      q.journal = next;
      for (const h of hosts) q.newer.set(h.key, { rx: { ...h.rx }, tx: { ...h.tx } });
    }
    return true;
  }

  /** The RAM file's text and its journal, when the journal vouches for the text; null: read it whole. */
  private quickView(): Quick | null {
    if (this.quick !== undefined) return this.quick;
    this.quick = null;
    const ram = this.settings.statefile;
    const jf = this.journalFile;
    if (this.files.leftAlone(ram) || this.files.leftAlone(jf)) return null;
    const text = this.files.peek(ram);
    const jtext = text === null ? null : this.files.peek(jf);
    if (text === null || jtext === null) return null;
    let journal: Journal;
    try {
      journal = parseJournal(jtext);
    } catch {
      return null; // the whole read sets it aside and says so
    }
    const head = stateHead(text);
    if (!head || journal.state !== digestOf(text)) return null;
    const newer = new Map<string, HostCounters>();
    for (const s of journal.samples) for (const [k, , rb, rp, tb, tp] of s.hosts) newer.set(k, { rx: { bytes: rb, packets: rp }, tx: { bytes: tb, packets: tp } });
    this.journalSeen = jtext;
    this.quick = { text, head, journal, newer };
    return this.quick;
  }

  /** The journal's samples that follow this RAM text; a journal that cannot be used is set aside. */
  private readJournal(ramText: string): JournalSample[] {
    const path = this.journalFile;
    if (this.files.leftAlone(path)) return [];
    let text: string | null;
    try {
      text = this.files.read(path);
    } catch (e) {
      this.files.setAside(path, `cannot be read (${reason(e)})`, "its samples are not counted");
      return [];
    }
    this.journalSeen = text;
    if (text === null) return [];
    let j: Journal;
    try {
      j = parseJournal(text);
    } catch (e) {
      if (!(e instanceof BadState)) throw e;
      this.files.setAside(path, `is unusable (${e.message})`, "its samples are not counted");
      return [];
    }
    // Another state's (the journal outlived a crash after its state was written whole): already in it.
    return j.state === digestOf(ramText) ? j.samples : [];
  }

  private replay(s: State, samples: readonly JournalSample[]): void {
    for (const { t, spec, hosts } of samples) {
      const counted = hosts.map(([key, name, rb, rp, tb, tp]) => ({ key, name, addresses: [], rx: { bytes: rb, packets: rp }, tx: { bytes: tb, packets: tp } }));
      recordSample(s, counted, t, { ...this.settings.usage, spec }, false);
    }
  }

  /**
   * A long-running reader (`top`) takes up what other runs wrote since (an
   * event, a reset), rather than write its own older state over it.
   */
  private catchUp(): void {
    if (!this.state || this.files.leftAlone(this.settings.statefile)) return;
    let text: string | null;
    try {
      text = this.files.read(this.settings.statefile);
    } catch {
      return; // read (and reported) again when it is loaded
    }
    // Gone (set aside by another run): what this run holds is written back.
    if (text === null) return;
    const journal = this.journalSeen === undefined ? undefined : this.files.peek(this.journalFile);
    if (text !== this.seen || journal !== this.journalSeen) this.state = undefined;
  }

  /** The split's kernel counters are made anew: what the last sample saw of them goes (see splitSample). */
  splitAnew(): void {
    this.catchUp();
    const s = this.current();
    if (!s.splitSeen) return;
    delete s.splitSeen;
    this.unpersisted = true;
    this.save(false);
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
   * it is due (copyDue). A clock found before the last copy (stepped back)
   * starts the interval again rather than write. False: a write it tried
   * failed (said in one line; the previous file is kept).
   */
  save(persistNow: boolean): boolean {
    const s = this.current();
    const now = this.sys.now();
    const persist = this.persistFile;
    let ok = true;
    if (persist) {
      // Stop copies what changed since: in this run, or in earlier ones (a
      // sample newer than the last copy), even when it reads nothing itself.
      const changed = this.unpersisted || s.time > s.persisted || s.persisted === 0;
      const due = persistNow ? changed : copyDue(s.persisted, s.tried, now, this.settings.persistInterval);
      if (due) {
        const before = s.persisted;
        s.persisted = now;
        s.tried = 0;
        if (this.write(persist, this.serialize(s), true)) this.unpersisted = false;
        else {
          s.persisted = before;
          s.tried = now;
          ok = false;
        }
      } else if (now < s.persisted) s.persisted = now;
    }
    const text = this.serialize(s);
    this.saved = null;
    // The journal's samples are in this text now: a journal for it starts empty.
    if (!this.write(this.settings.statefile, text, false)) return false;
    const digest = digestOf(text);
    if (!this.write(this.journalFile, serializeJournal({ state: digest, samples: [] }), false)) return false;
    this.saved = digest;
    return ok;
  }

  /** The state's text, its oldest periods dropped while it would be longer than a read takes (STATE_READ_MAX). */
  private serialize(s: State): string {
    let text = serializeState(s);
    if (text.length <= STATE_READ_MAX) return text;
    const before = s.periods.length;
    while (text.length > STATE_READ_MAX && s.periods.length > 1) {
      s.periods.shift();
      text = serializeState(s);
    }
    this.report(`snapshot longer than ${STATE_READ_MAX} bytes: ${before - s.periods.length} oldest periods dropped (lower periods_kept)`);
    return text;
  }

  private write(path: string, text: string, durable: boolean): boolean {
    if (!this.files.write(path, text, durable)) return false;
    if (path === this.settings.statefile) this.seen = text;
    if (path === this.journalFile) this.journalSeen = text;
    return true;
  }

  private read(path: string): State | null {
    let text: string | null;
    try {
      text = this.files.read(path);
    } catch (e) {
      this.files.setAside(path, `cannot be read (${reason(e)})`);
      return null;
    }
    if (text === null) return null;
    if (path === this.settings.statefile) this.seen = text;
    try {
      return parseState(text);
    } catch (e) {
      if (!(e instanceof BadState)) throw e;
      this.files.setAside(path, `is unusable (${e.message})`);
      return null;
    }
  }
}

const attached = new WeakMap<Runtime, Snapshots>();

/** Gives a runtime its memory: floors for counters it creates, and a state that every read refreshes. */
export function withSnapshots(rt: Runtime, report: (line: string) => void): Runtime {
  const settings = snapshotSettings(rt.cfg);
  // Under world-writable /tmp: before anything is read or changed, the directory must be root's alone.
  rt.sys.ensurePrivateDir(dirname(settings.statefile));
  // A ranking only serves a backend that can look its hosts up by name.
  const source = rt.backend.readNamed ? { backend: rt.backend.name, table: rt.cfg.table, hook: rt.backend.hook } : null;
  const snaps = new Snapshots(rt.sys, settings, report, source);
  const out: Runtime = {
    ...rt,
    floors: () => snaps.floors(),
    remember: (hosts, scope, split) => snaps.remember(hosts, scope, split),
    changing: () => snaps.dropRanking(),
    persist: () => snaps.save(true),
    splitAnew: () => snaps.splitAnew(),
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
