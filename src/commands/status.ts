import type { Command } from "./command.ts";

export const statusCommand: Command = {
  command: "status",
  scripted: true,
  describe: "show every host with its counters (rx: received from the host, tx: sent to it)",
  options: { json: { type: "boolean", describe: "machine-readable output" } },
  async run(args, app) {
    const { formatStatus, readStatus, statusJson } = await import("../status.ts");
    const s = readStatus(await app.runtime());
    app.out(args.json ? statusJson(s) : formatStatus(s));
    return 0;
  },
};
