/**
 * Accounting periods: a month from a given day, a week from a given weekday,
 * or a day, in the router's local time. Pure: the clock and the time zone
 * come in as arguments, so every boundary is unit-tested.
 */

export type PeriodKind = "month" | "week" | "day";

export const isPeriodKind = (v: unknown): v is PeriodKind => v === "month" || v === "week" || v === "day";

export interface PeriodSpec {
  kind: PeriodKind;
  /** month: day of the month it starts (1..28); week: weekday it starts (1 = Monday .. 7 = Sunday); day: unused. */
  start: number;
}

export interface PeriodBounds {
  /** `2026-12` for a month (the month it starts in), `2026-11-30` (its first day) for a week or a day. */
  name: string;
  /** Seconds since the epoch: the first second in, and the first second after. */
  start: number;
  end: number;
}

/** The first time a router's clock is believed: anything earlier is a clock that has not been set (no RTC, no NTP yet). */
export const SANE_EPOCH = 1_577_836_800; // 2020-01-01T00:00:00Z

export const isSaneTime = (t: number) => Number.isFinite(t) && t >= SANE_EPOCH;

/** Seconds east of UTC at time `t` (local time = UTC + offset). */
export type ZoneOffset = (t: number) => number;

/** The process's own zone (TZ); UTC where none is set. */
export const localOffset: ZoneOffset = (t) => -new Date(t * 1000).getTimezoneOffset() * 60;

const pad = (n: number, w = 2) => String(n).padStart(w, "0");
const DAY = 86_400;

/** Local midnight of the local calendar day (y, m 0-based, d), as epoch seconds. */
function localMidnight(y: number, m: number, d: number, zone: ZoneOffset): number {
  const wall = Date.UTC(y, m, d) / 1000;
  // The offset at the instant itself, which may differ from the guess around a DST change.
  const guess = wall - zone(wall);
  return wall - zone(guess);
}

/** The period that contains time `t`. */
export function periodAt(t: number, spec: PeriodSpec, zone: ZoneOffset): PeriodBounds {
  const local = new Date((t + zone(t)) * 1000);
  const y = local.getUTCFullYear();
  const m = local.getUTCMonth();
  const d = local.getUTCDate();
  if (spec.kind === "month") {
    const first = spec.start;
    const [sy, sm] = d >= first ? [y, m] : m === 0 ? [y - 1, 11] : [y, m - 1];
    const [ey, em] = sm === 11 ? [sy + 1, 0] : [sy, sm + 1];
    return { name: `${sy}-${pad(sm + 1)}`, start: localMidnight(sy, sm, first, zone), end: localMidnight(ey, em, first, zone) };
  }
  let back = 0;
  if (spec.kind === "week") {
    const weekday = local.getUTCDay() === 0 ? 7 : local.getUTCDay(); // 1 = Monday
    back = (weekday - spec.start + 7) % 7;
  }
  const s = new Date(Date.UTC(y, m, d - back));
  const e = new Date(Date.UTC(y, m, d - back + (spec.kind === "week" ? 7 : 1)));
  return {
    name: `${s.getUTCFullYear()}-${pad(s.getUTCMonth() + 1)}-${pad(s.getUTCDate())}`,
    start: localMidnight(s.getUTCFullYear(), s.getUTCMonth(), s.getUTCDate(), zone),
    end: localMidnight(e.getUTCFullYear(), e.getUTCMonth(), e.getUTCDate(), zone),
  };
}

/** `month/1`, `week/1`, `day`: how a period's spec is written down beside it. */
export function specText(spec: PeriodSpec): string {
  return spec.kind === "day" ? "day" : `${spec.kind}/${spec.start}`;
}

export { DAY };
