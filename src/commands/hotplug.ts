/** OpenWrt hotplug: `iptmon hotplug dhcp|neigh` with ACTION, MACADDR, IPADDR, HOSTNAME set. */
import { runEvent } from "../core.ts";
import { parseHotplugEvent } from "../events.ts";
import type { Command } from "./command.ts";

const SUBSYSTEMS = ["dhcp", "neigh"] as const;
type Subsystem = (typeof SUBSYSTEMS)[number];

export const hotplugCommand: Command = {
  command: "hotplug <subsystem>",
  describe: "handle an OpenWrt hotplug event (dhcp or neigh) from the environment",
  event: true,
  positionals: { subsystem: { choices: SUBSYSTEMS } },
  run(args, app) {
    runEvent(app.runtime(), parseHotplugEvent(args.subsystem as Subsystem, app.sys.env));
    return 0;
  },
};
