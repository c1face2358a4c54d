import type { Command } from "./command.ts";

export const statusCommand: Command = {
  command: "status",
  scripted: true,
  describe: "show every host with its counters (rx: received from the host, tx: sent to it)",
  options: {
    json: { type: "boolean", describe: "machine-readable output" },
    by: { type: "string", describe: "family or service: a row per host and part (option breakdown); --json always has every split" },
    busiest: { type: "boolean", describe: "only the 100 busiest hosts this period (count and totals over all); builds on the last sample's ranking where it holds (reads only those hosts), else takes a full sample that leaves one" },
  },
  async run(args, app) {
    const { readBusiest, readStatus } = await import("../status.ts");
    const { formatStatus, statusByPart, statusJson } = await import("../status-format.ts");
    const { checkBy } = await import("../split/rows.ts");
    const rt = await app.runtime();
    const by = checkBy(args.by, rt.cfg.breakdown, rt.cfg.file, "show status");
    const s = args.busiest ? readBusiest(rt) : readStatus(rt);
    app.out(args.json ? statusJson(s) : formatStatus(by ? statusByPart(s, by) : s));
    return 0;
  },
};
