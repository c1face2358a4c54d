/** The subnets on an interface, from `ip addr show dev <if>` (iproute2 and busybox) or from the kernel's list. */
import { inSubnet, parseAddress, parseSubnet } from "../addr.ts";
import type { RtAddress } from "../netlink/rtnetlink.ts";

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
    const subnet = lanSubnetOf(words[0] === "inet" ? 4 : 6, spec);
    if (subnet !== null && !out.includes(subnet)) out.push(subnet);
  }
  return out;
}

/** The same from the kernel's list (RTM_NEWADDR, src/netlink/rtnetlink.ts): each address as `ip` prints it. */
export function interfaceSubnets(addrs: readonly RtAddress[]): string[] {
  const out: string[] = [];
  for (const a of addrs) {
    const subnet = lanSubnetOf(a.family, `${a.peer ?? a.local}/${a.prefixlen}`);
    if (subnet !== null && !out.includes(subnet)) out.push(subnet);
  }
  return out;
}

/** The network an `inet`/`inet6` spec (`192.168.1.1/24`) puts on the LAN, or null (link-local, not that family, not an address). */
function lanSubnetOf(family: 4 | 6, spec: string): string | null {
  const subnet = parseSubnet(spec);
  if (!subnet || subnet.family !== family) return null;
  const address = parseAddress(spec.split("/")[0]!)!;
  return inSubnet(address, LINK_LOCAL) ? null : subnet.text;
}
