/**
 * Which addresses count as LAN hosts. dnsmasq's arp events fire for every
 * neighbour of the router (WAN gateway, link-locals, the router itself) with
 * no interface named, so iptmon decides by subnet.
 */
import { inSubnet, isSubnetBroadcast, parseAddress, parseSubnet, untrackableReason, type Address, type Subnet } from "./addr.ts";
import type { Config } from "./config.ts";
import type { Sys } from "./sys.ts";
import { parseInterfaceSubnets } from "./sources/ifaddr.ts";

export interface Lan {
  subnets: Subnet[];
  /** The router's own addresses on the LAN interfaces: never hosts. */
  own: Set<string>;
  ipv6: boolean;
  warnings: string[];
}

export function loadLan(sys: Sys, cfg: Config): Lan {
  const subnets = [...cfg.lanSubnets];
  const own = new Set<string>();
  const warnings: string[] = [];
  for (const dev of cfg.lanInterfaces) {
    const r = sys.run(cfg.ip, ["addr", "show", "dev", dev]);
    if (r.code !== 0) {
      warnings.push(`cannot read addresses of LAN interface ${dev}: ${r.stderr.trim() || `ip exited with ${r.code}`}`);
      continue;
    }
    for (const s of parseInterfaceSubnets(r.stdout)) {
      const n = parseSubnet(s);
      if (n && !subnets.some((x) => x.text === n.text)) subnets.push(n);
    }
    for (const m of r.stdout.matchAll(/\binet6?\s+([0-9a-fA-F.:]+)\//g)) {
      const a = parseAddress(m[1]!);
      if (a) own.add(a.text);
    }
  }
  if (subnets.length === 0) warnings.push("no LAN subnets known: every host is ignored (set lan_interface or lan_subnet)");
  return { subnets, own, ipv6: cfg.ipv6, warnings };
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
  return null;
}
