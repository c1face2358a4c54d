/**
 * The crontab line that runs `iptmon push` while a push target is enabled,
 * else `iptmon snapshot`: exactly one (both refresh the snapshot, which
 * bounds what a firewall flush or a power loss can cost). Lines are ours by
 * their trailing marker; every other line is left exactly as it was.
 */
import { resolve } from "node:path";
import type { Config } from "../config.ts";
import { DEFAULTS } from "../defaults.ts";
import type { Sys } from "../sys.ts";
import { enabledPushSections, pushIntervalMinutes } from "./push.ts";

export const CRON_MARKER = "# iptmon";

const OURS = /\s#\s*iptmon\s*$/;

const shQuote = (s: string) => (/^[A-Za-z0-9_./:=@%+-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`);

/** `*\/N * * * * /usr/sbin/iptmon push # iptmon`; a config other than the default is passed on. */
export function cronLine(intervalMin: number, configFile: string, command: "push" | "snapshot" = "push"): string {
  const config = configFile === DEFAULTS.config ? "" : ` --config ${shQuote(configFile)}`;
  return `*/${intervalMin} * * * * ${DEFAULTS.binary}${config} ${command} ${CRON_MARKER}`;
}

/**
 * The crontab with `want` as its only iptmon line (null: none), or null when
 * nothing changes. The first iptmon line is replaced in place, later ones go.
 */
export function updateCrontab(current: string | null, want: string | null): string | null {
  const text = current ?? "";
  const lines = text === "" ? [] : text.replace(/\n$/, "").split("\n");
  const out: string[] = [];
  let placed = false;
  let touched = false;
  for (const l of lines) {
    if (!OURS.test(l)) out.push(l);
    else if (want !== null && !placed) {
      out.push(want);
      placed = true;
      touched ||= l !== want;
    } else touched = true;
  }
  if (want !== null && !placed) {
    out.push(want);
    touched = true;
  }
  // cron wants the last line terminated; a file we do not change keeps its form.
  return touched ? (out.length ? `${out.join("\n")}\n` : "") : null;
}

export function crontabPath(cfg: Config): string {
  return cfg.crontab;
}

export interface CronResult {
  crontab: string;
  line: string | null;
  changed: boolean;
}

/** `sync`: the push line when a push target is enabled, else the snapshot line. `remove`: none. */
export function syncCron(sys: Sys, cfg: Config, action: "sync" | "remove"): CronResult {
  const crontab = crontabPath(cfg);
  const command = enabledPushSections(cfg).length > 0 ? "push" : "snapshot";
  const line = action === "sync" ? cronLine(pushIntervalMinutes(cfg), resolve(cfg.file), command) : null;
  const next = updateCrontab(sys.readFile(crontab), line);
  if (next !== null) sys.writeFile(crontab, next);
  return { crontab, line, changed: next !== null };
}
