import { formatStatus, readStatus, statusJson } from "../status.ts";
import type { Command } from "./command.ts";

export const statusCommand: Command = {
  command: "status",
  describe: "show every host with its counters (rx: received from the host, tx: sent to it)",
  options: { json: { type: "boolean", describe: "machine-readable output" } },
  run(args, app) {
    const s = readStatus(app.runtime());
    app.out(args.json ? statusJson(s) : formatStatus(s));
    return 0;
  },
};
