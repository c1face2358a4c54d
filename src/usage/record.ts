/**
 * How a sample of the kernel's counters becomes usage. Pure.
 *
 * - Usage is the growth of a host's counters between samples. A counter lower
 *   than at the last sample was reset (created anew): it counts from zero,
 *   never negative.
 * - A host's first sample in a state that has none before (a new state file,
 *   one set aside) is its baseline: what it counted before is not this
 *   period's. A host new to an existing state counts from zero.
 * - Usage goes to the newest period. A sample opens a new period only when
 *   its clock is set (at or after 2020) and its time is at or after the
 *   newest period's end (or the period setting changed). So a clock stepped
 *   back, or one not yet set (a router without RTC boots in 1970), never
 *   creates or rewrites a past period: its usage goes to the open one; with
 *   no period open yet, it is held for the first one opened. A period that
 *   starts after the (set) clock is a clock's mistake and is folded back
 *   into the period the clock is in (foldFuture).
 */
import type { CountedHost, SplitCount } from "../model.ts";
import type { HostRecord, Period, State, Usage } from "../snapshot/state.ts";
import { isSaneTime, periodAt, specText, type PeriodSpec, type ZoneOffset } from "./periods.ts";
import { addUsage, growth } from "./growth.ts";
import { splitSample } from "../split/record.ts";

export { addUsage, growth };

export interface UsageSettings {
  spec: PeriodSpec;
  /** Periods kept, the open one included. */
  kept: number;
  zone: ZoneOffset;
}

/** A host's usage since its last sample: what its counters grew by, each counted from zero if reset. */
const usageSince = (h: CountedHost, last: HostRecord | undefined): Usage => {
  const [rb, rp] = growth(h.rx, last?.rx);
  const [tb, tp] = growth(h.tx, last?.tx);
  return [rb, rp, tb, tp];
};

/** A state with no sample in it yet: its first sample is only a baseline. */
const isNewState = (s: State) => s.periods.length === 0 && Object.keys(s.hosts).length === 0 && Object.keys(s.held).length === 0;

/**
 * A period that begins after `t` was opened by a clock ahead (a bad RTC, a
 * wrong NTP answer, a clock that ran fast past a period's start, later
 * corrected): time has not reached it, so it cannot be current. Its usage
 * is folded into the period `t` is in, which is opened (or taken up) in its
 * place, and hosts seen in that future are seen now. The period opens again
 * when the clock really reaches it.
 */
function foldFuture(s: State, t: number, set: UsageSettings): void {
  const future = s.periods.filter((p) => p.start > t);
  if (future.length === 0) return;
  const here = periodAt(t, set.spec, set.zone);
  s.periods = s.periods.filter((p) => p.start <= t);
  const spec = specText(set.spec);
  let into = s.periods.find((p) => p.name === here.name && p.spec === spec);
  if (!into) {
    into = { name: here.name, spec, start: here.start, end: here.end, hosts: {} };
    s.periods.push(into);
    s.periods.sort((a, b) => a.start - b.start);
  }
  for (const p of future) {
    for (const [k, u] of Object.entries(p.hosts)) addUsage(into.hosts, k, u);
    for (const [k, parts] of Object.entries(p.split ?? {})) for (const [part, u] of Object.entries(parts)) addUsage(((into.split ??= {})[k] ??= {}), part, u);
  }
  for (const h of Object.values(s.hosts)) h.seen = Math.min(h.seen, t);
}

/** Opens the period `t` falls in when the rules above allow; returns the period usage goes to, if any. */
function openPeriod(s: State, t: number, set: UsageSettings): Period | undefined {
  if (!isSaneTime(t)) return s.periods.at(-1);
  foldFuture(s, t, set);
  const newest = s.periods.at(-1);
  const spec = specText(set.spec);
  if (newest && t < newest.end && (newest.spec === spec || t < newest.start)) return newest;
  const b = periodAt(t, set.spec, set.zone);
  // A changed setting: the new period must not reach back over the old one.
  if (newest && b.start < newest.end && newest.spec !== spec) b.start = Math.max(b.start, t);
  const p: Period = { name: b.name, spec, start: b.start, end: b.end, hosts: {} };
  if (newest?.name === p.name) p.name = `${p.name}+${spec}`;
  for (const [k, u] of Object.entries(s.held)) addUsage(p.hosts, k, u);
  s.held = {};
  s.periods.push(p);
  return p;
}

/**
 * Adds a sample of the kernel's counters, taken at time `t`, to the state:
 * usage into the right period, each host's totals remembered. `all`: the
 * sample is every host (a full read), so what is no longer kept is dropped;
 * otherwise only the hosts given (counters an event just created).
 * Changes `s` in place.
 */
export function recordSample(s: State, hosts: readonly CountedHost[], t: number, set: UsageSettings, all = true, split?: readonly SplitCount[]): void {
  const baseline = isNewState(s);
  const period = openPeriod(s, t, set);
  const into = period ? period.hosts : s.held;
  // Only a full read says whether the split is on (a few hosts' counters an event made do not).
  const parts = all ? splitSample(s, hosts, split, period, baseline) : undefined;
  for (const h of hosts) {
    const last = s.hosts[h.key];
    if (!baseline) addUsage(into, h.key, usageSince(h, last));
    const rec: HostRecord = { name: h.name, rx: [h.rx.bytes, h.rx.packets], tx: [h.tx.bytes, h.tx.packets], seen: Math.max(t, last?.seen ?? t) };
    const p = parts === undefined ? last?.split : parts?.get(h.key);
    if (p) rec.split = p;
    s.hosts[h.key] = rec;
  }
  if (parts === null) for (const r of Object.values(s.hosts)) delete r.split;
  s.time = t;
  if (all) prune(s, new Set(hosts.map((h) => h.key)), set.kept);
}

/**
 * Keeps the newest `kept` periods, and forgets a host that is not in the
 * kernel, has no usage in any kept period and was last seen before the
 * oldest kept period began: so the state stays bounded however many hosts
 * come and go.
 */
export function prune(s: State, present: ReadonlySet<string>, kept: number): void {
  if (s.periods.length > kept) s.periods.splice(0, s.periods.length - kept);
  const oldest = s.periods[0]?.start;
  if (oldest === undefined) return;
  const used = new Set<string>(Object.keys(s.held));
  for (const p of s.periods) for (const k of Object.keys(p.hosts)) used.add(k);
  for (const [k, h] of Object.entries(s.hosts) as [string, HostRecord][]) {
    if (!present.has(k) && !used.has(k) && h.seen < oldest) delete s.hosts[k];
  }
}

/** Which periods a `--period` choice names: `current`, `previous`, `all`, or a period's name. */
export function selectPeriods(s: State, which: string): Period[] {
  if (which === "all") return [...s.periods];
  if (which === "current") return s.periods.slice(-1);
  if (which === "previous") return s.periods.length > 1 ? [s.periods.at(-2)!] : [];
  return s.periods.filter((p) => p.name === which);
}

/**
 * The open period and each host's usage in it as `recordSample` would leave
 * them after this sample, without changing `s`: for a reader that only shows
 * usage (the page's poll), so it neither writes the state nor needs the lock.
 * Usually the sample goes to the newest period, whose usage plus each host's
 * growth is the answer; a sample that would open or fold a period is
 * recorded into a copy instead, so the rules live in one place.
 */
export function previewSample(s: State, hosts: readonly CountedHost[], t: number, set: UsageSettings): { period: Period | undefined; usage: (h: CountedHost) => Usage | undefined } {
  const newest = s.periods.at(-1);
  const simple = !isSaneTime(t) || (newest !== undefined && t < newest.end && (newest.spec === specText(set.spec) || t < newest.start) && s.periods.every((p) => p.start <= t));
  if (!simple) {
    const copy = structuredClone(s);
    recordSample(copy, hosts, t, set);
    const p = copy.periods.at(-1);
    return { period: p, usage: (h) => p?.hosts[h.key] };
  }
  const baseline = isNewState(s);
  if (!newest) return { period: undefined, usage: () => undefined };
  return {
    period: newest,
    usage(h) {
      const have = newest.hosts[h.key];
      if (baseline) return have;
      const u = usageSince(h, s.hosts[h.key]);
      if (u.every((x) => x === 0)) return have;
      return have ? [have[0] + u[0], have[1] + u[1], have[2] + u[2], have[3] + u[3]] : u;
    },
  };
}
