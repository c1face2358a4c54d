/**
 * What a command handler gets: the process boundary, and the config and
 * runtime built on first use. Their code (config parsing, the backends,
 * snapshots) is imported then too: a command that needs neither, or only the
 * config, does not pay for it at start-up.
 */
import type { BackendChoice, Config } from "./config.ts";
import type { Runtime } from "./core.ts";
import { DEFAULTS } from "./defaults.ts";
import { dirname, join } from "node:path";
import { oneLine } from "./errors.ts";
import type { Sys } from "./sys.ts";

export interface GlobalArgs {
  config?: string;
  backend?: BackendChoice;
  verbose?: boolean;
}

export interface App {
  sys: Sys;
  args: GlobalArgs;
  config(): Promise<Config>;
  runtime(): Promise<Runtime>;
  out(text: string): void;
  warn(text: string): void;
  /** After the command: an event's warnings go to syslog. */
  finish(): void;
}

/**
 * Why an event changed nothing (a WAN neighbour, a link-local address, a
 * device that is no LAN port) is routine for events, not a problem to log.
 */
const ROUTINE = /^nothing to change for /;

/**
 * Warnings: an interactive command (init, print, check, status, …) shows them
 * on stderr. An event (dnsmasq, hotplug) runs with stdio at /dev/null or in
 * dnsmasq's log, for every lease and neighbour: it shows them only with
 * --verbose, and sends each to syslog once (until /var/run is cleared).
 */
export function createApp(sys: Sys, args: GlobalArgs, opts: { event?: boolean } = {}): App {
  let cfg: Config | undefined;
  let rt: Promise<Runtime> | undefined;
  const pending: string[] = [];
  const app: App = {
    sys,
    args,
    async config() {
      if (!cfg) {
        const { loadConfig } = await import("./config.ts");
        const explicit = args.config ?? sys.env.IPTMON_CONFIG;
        cfg ??= loadConfig(sys, explicit ?? DEFAULTS.config, explicit !== undefined);
      }
      return cfg;
    },
    runtime() {
      // One build, however many callers ask before it is done.
      rt ??= (async () => {
        const c = await app.config();
        const { selectBackend } = await import("./backends/index.ts");
        const { withSnapshots } = await import("./snapshot/store.ts");
        // Problems with the snapshot are heard of even without --verbose: totals are at stake.
        return withSnapshots({ sys, cfg: c, backend: selectBackend(sys, c, args.backend, app.warn), warn: app.warn }, (line) => sys.stderr(`iptmon: ${line}\n`));
      })();
      return rt;
    },
    out: (t) => sys.stdout(t),
    warn: (t) => {
      const line = oneLine(t, 1000);
      if (!opts.event || args.verbose) sys.stderr(`iptmon: warning: ${line}\n`);
      if (opts.event && !ROUTINE.test(line)) pending.push(line);
    },
    finish() {
      if (pending.length > 0) syslogOnce(sys, join(dirname(cfg?.lockfile ?? DEFAULTS.lockfile), "iptmon.warned"), pending.splice(0));
    },
  };
  return app;
}

/** Sends the warnings not sent before (as recorded in `seenFile`) to syslog, in one `logger` run. */
export function syslogOnce(sys: Sys, seenFile: string, warnings: string[]): void {
  let seen: string[] = [];
  try {
    seen = (sys.readFile(seenFile) ?? "").split("\n").filter((l) => l !== "");
  } catch {
    // unreadable: send again rather than never
  }
  const fresh = [...new Set(warnings)].filter((w) => !seen.includes(w));
  if (fresh.length === 0) return;
  sys.run("logger", ["-t", "iptmon", "-p", "daemon.warning"], fresh.map((w) => `warning: ${w}\n`).join(""), { timeoutMs: 2000 });
  try {
    sys.writeFile(seenFile, `${[...seen, ...fresh].slice(-200).join("\n")}\n`);
  } catch {
    // a read-only /var/run: the warning comes again next time, no harm
  }
}
