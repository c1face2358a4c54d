/** OpenWrt hotplug: `iptmon hotplug dhcp|neigh` with ACTION, MACADDR, IPADDR, HOSTNAME set. */
import { runEvent } from "../core.ts";
import { parseHotplugEvent } from "../events.ts";
import type { Args, Command } from "./command.ts";

const SUBSYSTEMS = ["dhcp", "neigh"] as const;
type Subsystem = (typeof SUBSYSTEMS)[number];

export const hotplugCommand: Command = {
  command: "hotplug <subsystem>",
  describe: "handle an OpenWrt hotplug event (dhcp or neigh) from the environment",
  builder: (y) => y.positional("subsystem", { choices: SUBSYSTEMS }),
  run(args, app) {
    runEvent(app.runtime(), parseHotplugEvent(args.subsystem as Subsystem, app.sys.env));
    return 0;
  },
};

/**
 * `hotplug dhcp|neigh` exactly as OpenWrt's hotplug wrappers run it: handled
 * without the option parser, like dnsmasq's events. Anything else goes
 * through yargs.
 */
export function fastHotplugArgs(argv: string[]): { command: Command; args: Args } | null {
  const [name, subsystem, ...rest] = argv;
  if (name !== "hotplug" || rest.length > 0 || !SUBSYSTEMS.includes(subsystem as Subsystem)) return null;
  return { command: hotplugCommand, args: { _: [name], subsystem } };
}
