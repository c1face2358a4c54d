/** Where and how often the state is kept, from the config; the limits of what is read back. */
import type { Config } from "../config.ts";
import { localOffset, type PeriodKind } from "../usage/periods.ts";
import type { UsageSettings } from "../usage/record.ts";

export interface SnapshotSettings {
  statefile: string;
  /** Directory on persistent storage; null: RAM only. */
  persistDir: string | null;
  /** Seconds between copies to persistent storage. */
  persistInterval: number;
  usage: UsageSettings;
}

export const PERSIST_NAME = "state.json";

/** Beside the RAM file: `<statefile>.journal`. */
export const JOURNAL_SUFFIX = ".journal";
/** A journal this long is folded into the state by the next event rather than grow (about 300 one-host samples). */
export const JOURNAL_MAX = 32 * 1024;
/**
 * The most of a state file (RAM or flash) iptmon reads; a longer one is set
 * aside unread, and a state that would be longer loses its oldest periods.
 * 5,000 hosts with 12 periods of usage take about 4 MB.
 */
export const STATE_READ_MAX = 64 * 1024 * 1024;
/** A journal iptmon wrote is never longer than JOURNAL_MAX plus one sample. */
export const JOURNAL_READ_MAX = 1024 * 1024;

/**
 * Whether a copy to flash is due at `now`: there is none yet, or the
 * interval has passed since the last one; but never within the interval
 * after a copy that failed (every reader would retry it and say so).
 */
export function copyDue(persisted: number, tried: number, now: number, interval: number): boolean {
  if (tried > 0 && now >= tried && now < tried + interval) return false;
  return persisted === 0 || now >= persisted + interval;
}

export function snapshotSettings(cfg: Config): SnapshotSettings {
  return {
    statefile: cfg.statefile,
    persistDir: cfg.persistDir,
    persistInterval: cfg.persistInterval * 60,
    usage: { spec: { kind: cfg.period as PeriodKind, start: cfg.periodStart }, kept: cfg.periodsKept, zone: localOffset },
  };
}
