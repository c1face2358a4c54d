/**
 * OpenWrt hotplug: `iptmon hotplug dhcp|neigh` with ACTION, MACADDR, IPADDR,
 * HOSTNAME set; `iptmon hotplug net` with ACTION and INTERFACE (a network
 * device came or went); `iptmon hotplug iface` with ACTION and INTERFACE (a
 * logical network came up or changed).
 */
import type { Command } from "./command.ts";

const SUBSYSTEMS = ["dhcp", "neigh", "net", "iface"] as const;
type Subsystem = (typeof SUBSYSTEMS)[number];

export const hotplugCommand: Command = {
  command: "hotplug <subsystem>",
  describe: "handle an OpenWrt hotplug event (dhcp, neigh, net or iface) from the environment",
  event: true,
  positionals: { subsystem: { choices: SUBSYSTEMS } },
  async run(args, app) {
    const subsystem = args.subsystem as Subsystem;
    const events = await import("../events.ts");
    const core = await import("../core.ts");
    if (subsystem === "net") {
      const ev = events.parseDeviceEvent(app.sys.env);
      core.runDeviceEvent(await app.runtime(), ev.action, ev.device);
    } else if (subsystem === "iface") {
      const ev = events.parseIfaceEvent(app.sys.env);
      core.runIfaceEvent(await app.runtime(), ev.action, ev.network);
    } else core.runEvent(await app.runtime(), events.parseHotplugEvent(subsystem, app.sys.env));
    return 0;
  },
};
