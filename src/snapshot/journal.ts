/**
 * The journal beside the state file: the samples of counters that events
 * created since the state was last written whole, so an event neither reads
 * nor rewrites every host's record. It names the state it follows by a
 * digest of that file's exact text: samples are replayed, in order, only on
 * top of that very text. A state written whole (with the samples folded in)
 * has another digest, so a journal left behind by a crash between writing
 * the state and emptying the journal is never replayed twice.
 *
 * The same digest says a state file is exactly what iptmon serialized from a
 * state it had checked: then one host's record can be read out of the text
 * (hostRecordIn) without parsing the rest, and agrees with the full parse.
 */
import { isPeriodKind, type PeriodSpec } from "../usage/periods.ts";
import { BadState, checkHostRecord, isCount, isObj, isTime, need, parseVersioned, STATE_FORMAT, STATE_VERSION, type HostRecord } from "./state.ts";

export const JOURNAL_FORMAT = "iptmon-journal";
export const JOURNAL_VERSION = 1;

/** key, name, then rx bytes, rx packets, tx bytes, tx packets. */
export type JournalHost = [key: string, name: string, rxBytes: number, rxPackets: number, txBytes: number, txPackets: number];

export interface JournalSample {
  /** The sample's time. */
  t: number;
  /** The period setting it was taken under (a setting changed later does not move it). */
  spec: PeriodSpec;
  hosts: JournalHost[];
}

export interface Journal {
  /** digestOf the state file's text these samples follow. */
  state: string;
  samples: JournalSample[];
}

/** A 64-bit digest of a state file's text. */
export const digestOf = (text: string): string => Bun.hash.wyhash(text, 0n).toString(16).padStart(16, "0");

/** One sample a line, so a person can read it. */
export function serializeJournal(j: Journal): string {
  const head = JSON.stringify({ format: JOURNAL_FORMAT, version: JOURNAL_VERSION, state: j.state });
  return `${head.slice(0, -1)},"samples":[${j.samples.map((s) => `\n${JSON.stringify(s)}`).join(",")}]}\n`;
}

function journalHost(v: unknown): JournalHost {
  need(Array.isArray(v) && v.length === 6 && typeof v[0] === "string" && typeof v[1] === "string" && v.slice(2).every(isCount), "bad sample host");
  return v as JournalHost;
}

function sample(v: unknown): JournalSample {
  need(isObj(v) && isTime(v.t) && isObj(v.spec) && Array.isArray(v.hosts), "bad sample");
  const spec = v.spec;
  need(isPeriodKind(spec.kind) && Number.isSafeInteger(spec.start), "bad sample period");
  return { t: v.t, spec: { kind: spec.kind, start: spec.start as number }, hosts: v.hosts.map(journalHost) };
}

/** A journal's text, checked field by field; throws BadState saying what is wrong. */
export function parseJournal(text: string): Journal {
  const raw = parseVersioned(text, JOURNAL_FORMAT, JOURNAL_VERSION, "journal");
  need(typeof raw.state === "string" && Array.isArray(raw.samples), "bad journal");
  return { state: raw.state, samples: raw.samples.map(sample) };
}

/**
 * What serializeState writes before the hosts: the times, without parsing
 * the rest. Only for a text iptmon wrote itself (its digest checked).
 */
const HEAD = new RegExp(`^\\{"format":"${STATE_FORMAT}","version":${STATE_VERSION},"since":(-?\\d+),"time":(-?\\d+),"persisted":(-?\\d+)(?:,"tried":(-?\\d+))?,"hosts":\\{`);

export function stateHead(text: string): { time: number; persisted: number; tried: number; hosts: number } | null {
  const m = HEAD.exec(text);
  return m ? { time: Number(m[2]), persisted: Number(m[3]), tried: Number(m[4] ?? 0), hosts: m[0].length - 1 } : null;
}

/**
 * A state text that serializeState wrote, with every period but the newest
 * cut out, for a reader of the open period only (a kept year of periods is
 * most of the text); null when the text is not laid out that way (parse it
 * whole). Exact for the same reason as hostRecordIn: the hosts end at the
 * first `},"periods":[`; inside the periods only a period opens with
 * `{"name":"` (a period's hosts are arrays), and `,"held":{` after the last
 * one is the held usage, the last member.
 */
export function newestPeriodOnly(text: string, head = stateHead(text)): string | null {
  if (!head) return null;
  const hostsEnd = text.indexOf('},"periods":[', head.hosts);
  if (hostsEnd < 0) return null;
  const open = hostsEnd + '},"periods":['.length;
  const held = text.lastIndexOf('],"held":{');
  if (held < open - 1) return null;
  const last = text.lastIndexOf('{"name":"', held);
  if (last < open) return text;
  return `${text.slice(0, open)}${text.slice(last)}`;
}

/** Keys whose JSON is themselves in quotes and that cannot follow a closing quote: MACs, `duid:…`, `host:…`. */
const PLAIN_KEY = /^[A-Za-z0-9][A-Za-z0-9:._-]*$/;

/**
 * One host's record out of a state text that serializeState wrote (one
 * line, no spaces), without parsing the rest: undefined when the state has
 * none for the key; null when this key cannot be found this way (parse it
 * all). Why a plain search is exact here: inside a JSON string every `"` is
 * written `\"`, so a `"` after `{` or `,` opens a string; with a plain key,
 * `"key":{` is then a member named exactly the key whose value is an
 * object, and between the hosts' `{` and the first `},"periods":[` (which
 * cannot occur inside a string either) only the host records are such
 * members, each key once.
 */
export function hostRecordIn(text: string, key: string, head = stateHead(text)): HostRecord | undefined | null {
  if (!head || !PLAIN_KEY.test(key)) return null;
  const end = text.indexOf('},"periods":[', head.hosts);
  if (end < 0) return null;
  const needle = `"${key}":{`;
  let at = head.hosts;
  for (;;) {
    at = text.indexOf(needle, at + 1);
    if (at < 0 || at > end) return undefined;
    if (text[at - 1] === "{" || text[at - 1] === ",") break;
  }
  const open = at + needle.length - 1;
  // The record's one string is its name, first: skip it, then its end is the first `}`.
  const name = open + '{"name":"'.length;
  if (!text.startsWith('{"name":"', open)) return null;
  let i = name;
  while (i < end && text[i] !== '"') i += text[i] === "\\" ? 2 : 1;
  const close = text.indexOf("}", i);
  if (close < 0 || close > end) return null;
  try {
    return checkHostRecord(JSON.parse(text.slice(open, close + 1)));
  } catch (e) {
    if (e instanceof BadState || e instanceof SyntaxError) return null;
    throw e;
  }
}
