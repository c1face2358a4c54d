/**
 * The state file: every host's last totals (the floors its counters are
 * restored from) and its usage per accounting period. Parsing is strict: a
 * file that is not exactly this shape is refused whole, never half-read.
 */
import type { HostCounters } from "../model.ts";

export const STATE_FORMAT = "iptmon-state";
export const STATE_VERSION = 1;

/** bytes and packets received from the host (rx, its upload), then sent to it (tx, its download). */
export type Usage = [rxBytes: number, rxPackets: number, txBytes: number, txPackets: number];

export interface HostRecord {
  name: string;
  /** The host's totals at the last sample: [bytes, packets] per direction. */
  rx: [number, number];
  tx: [number, number];
  /** Sample time it was last seen in the kernel. */
  seen: number;
  /**
   * Its totals split into parts (src/split/): `ipv6`, each service class it
   * used, and `unsplit`, what it had counted before the split began; the
   * rest of the totals is IPv4, and `other` service. Absent: not split.
   */
  split?: Record<string, Usage>;
}

export interface Period {
  name: string;
  /** `month/1`, `week/1` or `day`: the spec it was opened under. */
  spec: string;
  start: number;
  end: number;
  hosts: Record<string, Usage>;
  /** Each host's usage in parts, as HostRecord.split is of its totals; absent for a host (or a period) not split. */
  split?: Record<string, Record<string, Usage>>;
}

export interface State {
  /** When this state began (its first sample). */
  since: number;
  /** The time of the last sample. */
  time: number;
  /** When it was last copied to persistent storage; 0 for never. */
  persisted: number;
  /** When a copy last failed (a read-only or full flash); 0 for none since the last copy. The next try waits the interval. */
  tried: number;
  hosts: Record<string, HostRecord>;
  /** Oldest first; the last one is open and takes new usage. */
  periods: Period[];
  /** Usage seen while the clock was not yet set and no period was open: it goes to the first period opened. */
  held: Record<string, Usage>;
  /**
   * The split's kernel counters at the last sample ([bytes, packets]) by
   * `<dir> <handle> <part>`: what each grew by since is what a sample adds.
   */
  splitSeen?: Record<string, [number, number]>;
}

export const emptyState = (t: number): State => ({ since: t, time: t, persisted: 0, tried: 0, hosts: {}, periods: [], held: {} });

export function serializeState(s: State): string {
  return `${JSON.stringify({ format: STATE_FORMAT, version: STATE_VERSION, ...s })}\n`;
}

export class BadState extends Error {}

export const isObj = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
export const isCount = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
export const isTime = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v);

export function need(ok: boolean, what: string): asserts ok {
  if (!ok) throw new BadState(what);
}

/** `what` names the value in the error, and is only worked out for one (a state has tens of thousands of these). */
function counts(v: unknown, n: number, what: string | (() => string)): number[] {
  if (!(Array.isArray(v) && v.length === n && v.every(isCount))) throw new BadState(`${typeof what === "string" ? what : what()} is not ${n} counts`);
  return v as number[];
}

function usageMap(v: unknown, what: string): Record<string, Usage> {
  need(isObj(v), `${what} is not an object`);
  const out: Record<string, Usage> = {};
  for (const [k, u] of Object.entries(v)) out[k] = counts(u, 4, () => `${what}[${JSON.stringify(k).slice(0, 40)}]`) as Usage;
  return out;
}

/** One host's record, checked as a state file's are. */
export function checkHostRecord(h: unknown): HostRecord {
  need(isObj(h) && typeof h.name === "string" && isTime(h.seen), "bad host record");
  const out: HostRecord = { name: h.name, rx: counts(h.rx, 2, "rx") as [number, number], tx: counts(h.tx, 2, "tx") as [number, number], seen: h.seen as number };
  if (h.split !== undefined) out.split = usageMap(h.split, "host split");
  return out;
}

/**
 * A file of iptmon's (`what`: "state file", "journal") as JSON whose format
 * and version are this iptmon's; throws BadState saying what is wrong.
 */
export function parseVersioned(text: string, format: string, version: number, what: string): Record<string, unknown> {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new BadState(text.length === 0 ? "empty file" : "not JSON (truncated or corrupt)");
  }
  need(isObj(raw) && raw.format === format, `not an iptmon ${what}`);
  need(raw.version === version, `version ${JSON.stringify(raw.version)?.slice(0, 20)}, this iptmon reads version ${version}`);
  return raw;
}

/** A state file's text, checked field by field; throws BadState saying what is wrong. */
export function parseState(text: string): State {
  const raw = parseVersioned(text, STATE_FORMAT, STATE_VERSION, "state file");
  // `tried` is newer than the format: a state without it has not failed a copy.
  const tried = raw.tried ?? 0;
  need(isTime(raw.since) && isTime(raw.time) && isTime(raw.persisted) && isTime(tried), "bad times");
  need(isObj(raw.hosts), "hosts is not an object");
  const hosts: Record<string, HostRecord> = {};
  for (const [k, h] of Object.entries(raw.hosts)) hosts[k] = checkHostRecord(h);
  need(Array.isArray(raw.periods), "periods is not a list");
  const periods: Period[] = raw.periods.map((p: unknown) => {
    need(isObj(p) && typeof p.name === "string" && typeof p.spec === "string" && isTime(p.start) && isTime(p.end), "bad period");
    const out: Period = { name: p.name, spec: p.spec, start: p.start as number, end: p.end as number, hosts: usageMap(p.hosts, "period hosts") };
    if (p.split !== undefined) {
      need(isObj(p.split), "period split is not an object");
      out.split = {};
      for (const [k, parts] of Object.entries(p.split)) out.split[k] = usageMap(parts, "period split");
    }
    return out;
  });
  const out: State = { since: raw.since, time: raw.time, persisted: raw.persisted, tried, hosts, periods, held: usageMap(raw.held, "held") };
  if (raw.splitSeen !== undefined) {
    need(isObj(raw.splitSeen), "splitSeen is not an object");
    const seen: Record<string, [number, number]> = {};
    for (const [k, v] of Object.entries(raw.splitSeen)) seen[k] = counts(v, 2, () => `splitSeen[${JSON.stringify(k).slice(0, 40)}]`) as [number, number];
    out.splitSeen = seen;
  }
  return out;
}

/** A remembered host's totals: the floor its counters are created from. */
export const floorOf = (h: Pick<HostRecord, "rx" | "tx">): HostCounters => ({ rx: { bytes: h.rx[0], packets: h.rx[1] }, tx: { bytes: h.tx[0], packets: h.tx[1] } });

/** Every remembered host's totals: the floors its counters are created from. */
export function floorsOf(s: State): Map<string, HostCounters> {
  const out = new Map<string, HostCounters>();
  for (const [k, h] of Object.entries(s.hosts)) out.set(k, floorOf(h));
  return out;
}
