/** The subnets on an interface, from `ip addr show dev <if>` (iproute2 and busybox). */
import { inSubnet, parseAddress, parseSubnet } from "../addr.ts";

const LINK_LOCAL = parseSubnet("fe80::/10")!;

/**
 * Reads the `inet`/`inet6` lines, e.g.
 *   inet 192.168.1.1/24 brd 192.168.1.255 scope global br-lan
 *   inet 100.64.0.1 peer 100.64.0.2/31 scope global wg0
 *   inet6 fd12:3456::1/48 scope global
 * and returns each network once, in order (`192.168.1.0/24`). Link-local IPv6
 * is left out: every link has it, so it says nothing about the LAN. /32 and
 * /128 are kept. On a point-to-point address the network is the peer's.
 */
export function parseInterfaceSubnets(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split("\n")) {
    const words = line.split(/[\t\v\f\r ]+/).filter((w) => w !== "");
    if (words[0] !== "inet" && words[0] !== "inet6") continue;
    let spec = words[1];
    if (spec === undefined) continue;
    if (words[2] === "peer" && words[3] !== undefined) spec = words[3];
    const subnet = parseSubnet(spec);
    if (!subnet) continue;
    if (subnet.family !== (words[0] === "inet" ? 4 : 6)) continue;
    const address = parseAddress(spec.split("/")[0]!)!;
    if (inSubnet(address, LINK_LOCAL)) continue;
    if (!out.includes(subnet.text)) out.push(subnet.text);
  }
  return out;
}
