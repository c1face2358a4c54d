/** The dnsmasq `--dhcp-script` interface: `iptmon ACTION MAC IP [HOSTNAME]`. */
import { runEvent } from "../core.ts";
import { DNSMASQ_ACTIONS, parseDnsmasqEvent, type DnsmasqAction } from "../events.ts";
import type { Args, Command } from "./command.ts";

function eventCommand(action: DnsmasqAction): Command {
  return {
    command: `${action} <mac> <ip> [hostname]`,
    describe: `dnsmasq event: ${action} (MAC, or DUID for DHCPv6)`,
    builder: (y) =>
      y
        .positional("mac", { type: "string" })
        .positional("ip", { type: "string" })
        .positional("hostname", { type: "string" })
        // dnsmasq passes a hostname like "0123" as a number otherwise
        .parserConfiguration({ "parse-positional-numbers": false }),
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
  describe: false as unknown as string,
  run: () => 0,
};

/**
 * `ACTION MAC IP [HOSTNAME]` exactly as dnsmasq passes it (no options, 3 or 4
 * arguments): handled without the option parser. Anything else goes through
 * yargs, which also gives usage errors.
 */
const GLOBAL_FLAGS = /^(-v|--verbose|--help|--version|--config(=.*)?|--backend(=.*)?)$/;

export function fastDnsmasqArgs(argv: string[]): { command: Command; args: Args } | null {
  const [action, mac, ip, hostname, ...rest] = argv;
  const i = DNSMASQ_ACTIONS.indexOf(action as DnsmasqAction);
  if (i < 0 || mac === undefined || ip === undefined || rest.length > 0) return null;
  if ([mac, ip].some((a) => a.startsWith("-")) || (hostname !== undefined && GLOBAL_FLAGS.test(hostname))) return null;
  return { command: dnsmasqCommands[i]!, args: { _: [action!], mac, ip, hostname } };
}
