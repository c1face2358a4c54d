/**
 * `iptmon reset HOST... | --all`: zero hosts' totals on purpose (restarts,
 * upgrades and reboots keep them). Every host only when asked for by name
 * (`--all`): no host named is a usage error, never "every host". Words
 * after `--` are hosts too (`reset -- -odd-name`).
 */
import { badInput } from "../errors.ts";
import type { Command } from "./command.ts";

export const resetCommand: Command = {
  command: "reset [hosts..]",
  describe: "zero the totals of the hosts named (name, MAC or key), or of every host with --all; usage periods already counted stay",
  options: { all: { type: "boolean", describe: "zero every host's totals (instead of naming hosts)" } },
  async run(args, app) {
    const hosts = [...((args.hosts as string[] | undefined) ?? []), ...args._.slice(1).map(String)];
    if (args.all && hosts.length > 0) throw badInput("cannot reset: name hosts or give --all, not both", "iptmon reset HOST... or iptmon reset --all");
    if (!args.all && hosts.length === 0) throw badInput("cannot reset: no host named", "name hosts as iptmon status shows them (name, MAC or key), or --all for every host");
    const { runReset } = await import("../snapshot/reset.ts");
    const r = runReset(await app.runtime(), args.all ? "all" : hosts);
    if (app.args.verbose) app.sys.stderr(`iptmon: totals zeroed: ${r.keys.join(" ") || "(no host)"}\n`);
    return 0;
  },
};
