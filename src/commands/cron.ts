/** `iptmon cron sync|remove`: the init script keeps the push line in the crontab with these. */
import type { Command } from "./command.ts";

export const cronCommand: Command = {
  command: "cron <action>",
  describe: "sync: one crontab line running `iptmon push` while a push target is enabled, else `iptmon snapshot`; remove: none",
  positionals: { action: { choices: ["sync", "remove"] } },
  async run(args, app) {
    const { syncCron } = await import("../exporters/cron.ts");
    const r = syncCron(app.sys, await app.config(), args.action as "sync" | "remove");
    if (app.args.verbose) app.sys.stderr(`iptmon: ${r.crontab}: ${r.changed ? (r.line ? `now runs: ${r.line}` : "iptmon line removed") : "unchanged"}\n`);
    return 0;
  },
};
