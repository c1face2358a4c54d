/** OpenWrt hotplug: `iptmon hotplug dhcp|neigh` with ACTION, MACADDR, IPADDR, HOSTNAME set. */
import { runEvent } from "../core.ts";
import { parseHotplugEvent } from "../events.ts";
import type { Command } from "./command.ts";

export const hotplugCommand: Command = {
  command: "hotplug <subsystem>",
  describe: "handle an OpenWrt hotplug event (dhcp or neigh) from the environment",
  builder: (y) => y.positional("subsystem", { choices: ["dhcp", "neigh"] as const }),
  run(args, app) {
    runEvent(app.runtime(), parseHotplugEvent(args.subsystem as "dhcp" | "neigh", app.sys.env));
    return 0;
  },
};
