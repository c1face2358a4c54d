/** `iptmon snapshot`: read the counters into the snapshot (cron runs it when there is nothing to push). */
import { readHosts } from "../core.ts";
import type { Command } from "./command.ts";

export const snapshotCommand: Command = {
  command: "snapshot",
  describe: "read every host's counters into the snapshot (and to persist_dir when persist_interval has passed)",
  run(_args, app) {
    readHosts(app.runtime());
    return 0;
  },
};
