/** `iptmon snapshot`: read the counters into the snapshot (cron runs it when there is nothing to push). */
import { runtimeCommand } from "./command.ts";

export const snapshotCommand = runtimeCommand(
  "snapshot",
  "read every host's counters into the snapshot (and to persist_dir when persist_interval has passed)",
  async () => (await import("../core.ts")).readHosts,
);
