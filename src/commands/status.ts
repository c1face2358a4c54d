import type { Command } from "./command.ts";

export const statusCommand: Command = {
  command: "status",
  scripted: true,
  describe: "show every host with its counters (rx: received from the host, tx: sent to it)",
  options: {
    json: { type: "boolean", describe: "machine-readable output" },
    busiest: { type: "boolean", describe: "only the 100 busiest hosts this period (count and totals over all); builds on the last sample's ranking where it holds (reads only those hosts), else takes a full sample that leaves one" },
  },
  async run(args, app) {
    const { formatStatus, readBusiest, readStatus, statusJson } = await import("../status.ts");
    const rt = await app.runtime();
    const s = args.busiest ? readBusiest(rt) : readStatus(rt);
    app.out(args.json ? statusJson(s) : formatStatus(s));
    return 0;
  },
};
