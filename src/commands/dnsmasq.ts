/** The dnsmasq `--dhcp-script` interface: `iptmon ACTION MAC IP [HOSTNAME]`. */
import { runEvent } from "../core.ts";
import { DNSMASQ_ACTIONS, parseDnsmasqEvent, type DnsmasqAction } from "../events.ts";
import type { Command } from "./command.ts";

function eventCommand(action: DnsmasqAction): Command {
  return {
    command: `${action} <mac> <ip> [hostname]`,
    describe: `dnsmasq event: ${action} (MAC, or DUID for DHCPv6)`,
    event: true,
    run(args, app) {
      const ev = parseDnsmasqEvent(action, String(args.mac), String(args.ip), args.hostname === undefined ? undefined : String(args.hostname), app.sys.env);
      runEvent(app.runtime(), ev);
      return 0;
    },
  };
}

export const dnsmasqCommands: Command[] = DNSMASQ_ACTIONS.map(eventCommand);

/** dnsmasq runs `tftp SIZE ADDR FILE` after a transfer: nothing to account. */
export const tftpCommand: Command = {
  command: "tftp [args..]",
  describe: "dnsmasq event after a TFTP transfer (ignored)",
  hidden: true,
  event: true,
  run: () => 0,
};
