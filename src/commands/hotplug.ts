/**
 * OpenWrt hotplug: `iptmon hotplug dhcp|neigh` with ACTION, MACADDR, IPADDR,
 * HOSTNAME set; `iptmon hotplug net` with ACTION and INTERFACE (a network
 * device came or went); `iptmon hotplug iface` with ACTION and INTERFACE (a
 * logical network came up or changed).
 */
import { runDeviceEvent, runEvent, runIfaceEvent } from "../core.ts";
import { parseDeviceEvent, parseHotplugEvent, parseIfaceEvent } from "../events.ts";
import type { Command } from "./command.ts";

const SUBSYSTEMS = ["dhcp", "neigh", "net", "iface"] as const;
type Subsystem = (typeof SUBSYSTEMS)[number];

export const hotplugCommand: Command = {
  command: "hotplug <subsystem>",
  describe: "handle an OpenWrt hotplug event (dhcp, neigh, net or iface) from the environment",
  event: true,
  positionals: { subsystem: { choices: SUBSYSTEMS } },
  run(args, app) {
    const subsystem = args.subsystem as Subsystem;
    if (subsystem === "net") {
      const ev = parseDeviceEvent(app.sys.env);
      runDeviceEvent(app.runtime(), ev.action, ev.device);
    } else if (subsystem === "iface") {
      const ev = parseIfaceEvent(app.sys.env);
      runIfaceEvent(app.runtime(), ev.action, ev.network);
    } else runEvent(app.runtime(), parseHotplugEvent(subsystem, app.sys.env));
    return 0;
  },
};
