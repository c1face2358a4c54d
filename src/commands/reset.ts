/** `iptmon reset [HOST...]`: zero hosts' totals on purpose (restarts, upgrades and reboots keep them). */
import type { Command } from "./command.ts";

export const resetCommand: Command = {
  command: "reset [hosts..]",
  describe: "zero the totals of the hosts named (name, MAC or key), or of every host; usage periods already counted stay",
  async run(args, app) {
    const { runReset } = await import("../snapshot/reset.ts");
    const r = runReset(await app.runtime(), (args.hosts as string[] | undefined) ?? []);
    if (app.args.verbose) app.sys.stderr(`iptmon: totals zeroed: ${r.keys.join(" ") || "(no host)"}\n`);
    return 0;
  },
};
