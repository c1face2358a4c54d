/**
 * `iptmon service <action>`: the one place that decides whether iptmon is on,
 * and what that means, for every caller on the router — the init script
 * (start, stop, reload), the firewall include (reload after every firewall
 * start and reload) and the HTTP endpoints (`http`). They used to read
 * `option enabled` themselves, each with its own idea of a boolean.
 *
 *   start, reload  option enabled on: build the ruleset (counters kept) and
 *                  keep the push line in the crontab; off: remove both
 *   stop           remove the ruleset and the crontab line
 *   enabled        exit 0 when option enabled is on, 1 when it is off
 *   http           exit 0 when a `config prometheus` section allows the HTTP
 *                  export (the CGIs answer 403 otherwise), 1 when none does;
 *                  the CGIs skip asking only where the answer is surely 1 (no
 *                  such section, or each one's enabled off: files/www/cgi-bin)
 *
 * A config that does not parse is exit 2 for every action, as for any command.
 */
import type { App } from "../app.ts";
import type { Command } from "./command.ts";

export const SERVICE_ACTIONS = ["start", "reload", "stop", "enabled", "http"] as const;
type Action = (typeof SERVICE_ACTIONS)[number];

/** Runs every step, then throws the first failure: one failing step does not skip the others. */
async function all(steps: (() => unknown)[]): Promise<void> {
  let first: unknown;
  let failed = false;
  for (const step of steps) {
    try {
      await step();
    } catch (e) {
      if (!failed) first = e;
      failed = true;
    }
  }
  if (failed) throw first;
}

async function remove(app: App): Promise<void> {
  const { syncCron } = await import("../exporters/cron.ts");
  const { runStop } = await import("../core.ts");
  await all([async () => syncCron(app.sys, await app.config(), "remove"), async () => runStop(await app.runtime())]);
}

export const serviceCommand: Command = {
  command: "service <action>",
  describe:
    "what the init script, firewall include and CGIs run: start|reload (build, or remove everything when option enabled is 0), stop, enabled and http (exit 0 if on, 1 if off)",
  builder: (y) => y.positional("action", { choices: SERVICE_ACTIONS }),
  async run(args, app) {
    const action = args.action as Action;
    const cfg = await app.config();
    switch (action) {
      case "enabled":
        return cfg.enabled ? 0 : 1;
      case "http": {
        const { sectionsOf } = await import("../config.ts");
        return sectionsOf(cfg, "prometheus").some((s) => s.options.enabled) ? 0 : 1;
      }
      case "stop":
        await remove(app);
        return 0;
      case "start":
      case "reload": {
        if (!cfg.enabled) {
          if (app.args.verbose) app.sys.stderr(`iptmon: disabled (option enabled '0' in ${cfg.file}): removing the ruleset and the crontab line\n`);
          await remove(app);
          return 0;
        }
        const { runInit } = await import("../core.ts");
        const { syncCron } = await import("../exporters/cron.ts");
        await all([async () => runInit(await app.runtime(), "apply"), () => syncCron(app.sys, cfg, "sync")]);
        return 0;
      }
    }
  },
};
