/** `iptmon top`: who is using the line right now. The code lives in src/top and loads only when this runs. */
import type { Command } from "./command.ts";

export const topCommand: Command = {
  command: "top",
  describe: "live per-host download/upload rates and totals (q quits; without a terminal: one sample)",
  builder: (y) =>
    y
      .option("interval", { type: "number", default: 2, describe: "seconds between readings" })
      .option("by", { type: "string", describe: "family or service: a row per host and part (option breakdown)" })
      .option("once", { type: "boolean", describe: "print one sample taken over one interval, then exit" })
      .option("json", { type: "boolean", describe: "one sample as JSON (rates in bits/s: rx_bps upload, tx_bps download)" }),
  async run(args, app) {
    const { runTop } = await import("../top/run.ts");
    return runTop(args, app);
  },
};
