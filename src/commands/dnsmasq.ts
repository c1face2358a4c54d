/** The dnsmasq `--dhcp-script` interface: `iptmon ACTION MAC IP [HOSTNAME]`. */
import type { DnsmasqAction } from "../events.ts";
import type { Command } from "./command.ts";

// Each action the event parser takes (the type keeps the two lists one), without loading it.
const ACTIONS = { add: true, old: true, del: true, "arp-add": true, "arp-del": true } satisfies Record<DnsmasqAction, true>;

function eventCommand(action: DnsmasqAction): Command {
  return {
    command: `${action} <mac> <ip> [hostname]`,
    describe: `dnsmasq event: ${action} (MAC, or DUID for DHCPv6)`,
    event: true,
    dataArgs: true,
    async run(args, app) {
      const { parseDnsmasqEvent } = await import("../events.ts");
      const { runEvent } = await import("../core.ts");
      const ev = parseDnsmasqEvent(action, String(args.mac), String(args.ip), args.hostname === undefined ? undefined : String(args.hostname), app.sys.env);
      runEvent(await app.runtime(), ev);
      return 0;
    },
  };
}

export const dnsmasqCommands: Command[] = (Object.keys(ACTIONS) as DnsmasqAction[]).map(eventCommand);

/** dnsmasq runs `tftp SIZE ADDR FILE` after a transfer: nothing to account. */
export const tftpCommand: Command = {
  command: "tftp [args..]",
  describe: "dnsmasq event after a TFTP transfer (ignored)",
  hidden: true,
  event: true,
  dataArgs: true,
  run: () => 0,
};
