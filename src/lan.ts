/**
 * Which addresses count as LAN hosts. dnsmasq's arp events fire for every
 * neighbour of the router (WAN gateway, link-locals, the router itself) with
 * no interface named, so iptmon decides by subnet.
 */
import { inSubnet, isSubnetBroadcast, untrackableReason, type Address, type Subnet } from "./addr.ts";

export interface Lan {
  subnets: Subnet[];
  /** The router's own addresses on the LAN interfaces: never hosts. */
  own: Set<string>;
  ipv6: boolean;
  warnings: string[];
}

/**
 * The subnet's own address (host part all zero): IPv4's network address, and
 * IPv6's subnet-router anycast address (RFC 4291), where the subnet has room
 * for hosts beside it.
 */
export function isNetworkAddress(a: Address, n: Subnet): boolean {
  if (a.family !== n.family || n.prefix >= (a.family === 4 ? 31 : 127)) return false;
  for (let i = 0; i < a.bytes.length; i++) if (a.bytes[i] !== n.bytes[i]) return false;
  return true;
}

/** Why `a` is not a LAN host address, or null when it is. */
export function notLanReason(lan: Lan, a: Address): string | null {
  const never = untrackableReason(a);
  if (never) return never;
  if (a.family === 6 && !lan.ipv6) return `${a.text}: IPv6 is not tracked (option ipv6)`;
  if (lan.own.has(a.text)) return `${a.text} is the router's own address`;
  const net = lan.subnets.find((n) => inSubnet(a, n));
  if (!net) return `${a.text} is outside the LAN subnets`;
  if (isSubnetBroadcast(a, net)) return `${a.text} is the broadcast address of ${net.text}`;
  if (isNetworkAddress(a, net)) return `${a.text} is the network address of ${net.text}`;
  return null;
}
