/**
 * `iptmon push`: one sample of every host's counters, sent to every enabled
 * `config influxdb` and `config collectd` section. Targets are independent:
 * one that fails is reported and the others still get the sample.
 */
import type { Config, ExporterSection } from "../config.ts";
import { oneLine } from "../errors.ts";
import type { StatusHost } from "../status.ts";
import type { Sys } from "../sys.ts";
import { readCollectdTarget, type UnixsockExchange } from "./collectd.ts";
import { readInfluxTarget } from "./influxdb.ts";

export const PUSH_SECTION_TYPES = ["influxdb", "collectd"] as const;

export interface Sample {
  /** Seconds since the epoch, the same for every target. */
  time: number;
  /** Seconds between samples (the cron interval). */
  interval: number;
  hosts: StatusHost[];
}

export interface PushTarget {
  /** Names the target in messages: `influxdb http://nas:8086`. Never holds a secret. */
  label: string;
  /** Resolves when the target took the sample; rejects with the cause otherwise. */
  send(sample: Sample): Promise<void>;
}

export interface PushDeps {
  sys: Sys;
  unixsock?: UnixsockExchange;
}

type PushSection = ExporterSection<(typeof PUSH_SECTION_TYPES)[number]>;

/** `config influxdb` / `config collectd` sections whose `enabled` is not 0 (absent means enabled). */
export function enabledPushSections(cfg: Config): PushSection[] {
  return cfg.sections.filter((s): s is PushSection => (PUSH_SECTION_TYPES as readonly string[]).includes(s.type) && s.options.enabled);
}

export function pushIntervalMinutes(cfg: Config): number {
  return cfg.pushInterval;
}

export interface TargetList {
  targets: PushTarget[];
  /** Enabled sections that cannot be used as they are: label and cause. */
  problems: { label: string; error: string }[];
}

export function listPushTargets(cfg: Config, deps: PushDeps): TargetList {
  const out: TargetList = { targets: [], problems: [] };
  for (const sec of enabledPushSections(cfg)) {
    const r = sec.type === "influxdb" ? readInfluxTarget(cfg.file, sec, deps) : readCollectdTarget(cfg.file, sec, deps);
    if ("error" in r) out.problems.push(r);
    else out.targets.push(r);
  }
  return out;
}

export interface PushResult {
  label: string;
  error: string | null;
}

/** Sends the sample to every target at once, so the slowest one bounds the run. */
export async function pushSample(targets: PushTarget[], sample: Sample): Promise<PushResult[]> {
  return Promise.all(
    targets.map((t) =>
      t.send(sample).then(
        () => ({ label: t.label, error: null }),
        (e: unknown) => ({ label: t.label, error: oneLine(e instanceof Error ? e.message : String(e)) }),
      ),
    ),
  );
}
