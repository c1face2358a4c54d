import { runStop } from "../core.ts";
import type { Command } from "./command.ts";

export const stopCommand: Command = {
  command: "stop",
  describe: "remove everything iptmon created, and nothing else",
  run(_args, app) {
    runStop(app.runtime());
    return 0;
  },
};
