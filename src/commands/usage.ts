/** `iptmon usage`: bytes and packets per host within each accounting period. */
import { badInput, quoteInput } from "../errors.ts";
import type { Command } from "./command.ts";

const PERIOD = /^(current|previous|all|\d{4}-\d{2}(-\d{2})?)$/;

export const usageCommand: Command = {
  command: "usage",
  describe: "show each host's usage per period (option period: month, week or day)",
  options: {
    period: { type: "string", describe: "current (default), previous, all, or a period's name: YYYY-MM (months), YYYY-MM-DD (weeks, days)" },
    json: { type: "boolean", describe: "machine-readable output" },
    by: { type: "string", describe: "family or service: a row per host and part (option breakdown); --json always has every split" },
  },
  async run(args, app) {
    const which = (args.period as string | undefined) ?? "current";
    if (!PERIOD.test(which)) throw badInput(`cannot show usage: no such period ${quoteInput(which)}`, "use current, previous, all, YYYY-MM or YYYY-MM-DD");
    const { readHosts } = await import("../core.ts");
    const { snapshotsOf } = await import("../snapshot/store.ts");
    const { buildUsage, formatUsage, usageByPart } = await import("../usage/report.ts");
    const { checkBy } = await import("../split/rows.ts");
    const rt = await app.runtime();
    const by = checkBy(args.by, rt.cfg.breakdown, rt.cfg.file, "show usage");
    // The kernel's counters now, so the open period is up to date.
    readHosts(rt);
    const report = buildUsage(snapshotsOf(rt).current(), which, { breakdown: rt.cfg.breakdown, services: rt.cfg.services.map((c) => c.name) });
    app.out(args.json ? `${JSON.stringify(report)}\n` : formatUsage(by ? usageByPart(report, by) : report));
    return 0;
  },
};
