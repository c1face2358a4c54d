/** odhcpd's lease state file (UCI dhcp.odhcpd.leasefile, e.g. /tmp/hosts/odhcpd). */
import { parseDuid, parseSubnet } from "../addr.ts";

export interface Odhcpd6Lease {
  /** Colon-separated lower-case hex, the form parseDuid gives (odhcpd writes it without colons). */
  duid: string;
  /** null for `-` and for a name odhcpd marked `broken\x20` (invalid). */
  hostname: string | null;
  /** Canonical IPv6 addresses of the lease (IA_NA). */
  addresses: string[];
}

/**
 * Reads the DHCPv6 address leases. odhcpd writes one comment line per lease,
 *   # <iface> <duid> <iaid> <hostname> <valid-until> <host-id> <prefix-len> [<addr>/<len>...]
 * and between them hosts-format lines, which are ignored here. Skipped too:
 * prefix delegations (prefix-len below 128: a downstream router's network,
 * not a host), DHCPv4 leases (iaid `ipv4`, written when odhcpd also serves
 * DHCPv4), and expired leases, which carry no addresses.
 */
export function parseOdhcpdState(text: string): Odhcpd6Lease[] {
  const out: Odhcpd6Lease[] = [];
  for (const line of text.split("\n")) {
    if (!line.startsWith("# ")) continue;
    const words = line.slice(2).split(/[\t\v\f\r ]+/).filter((w) => w !== "");
    if (words.length < 8) continue;
    const [, hexDuid, iaid] = words as [string, string, string];
    if (iaid === "ipv4" || !/^[0-9a-f]{1,8}$/i.test(iaid)) continue;
    // Read from the end: the hostname comes from the client and may not be one word.
    let end = words.length;
    while (end > 3 && words[end - 1]!.includes("/")) end--;
    const [validity, , prefixLen] = words.slice(end - 3, end);
    if (end - 3 < 4 || !/^-?\d+$/.test(validity!) || prefixLen !== "128") continue;
    const duid = /^([0-9a-f]{2})+$/i.test(hexDuid) ? parseDuid(hexDuid.match(/../g)!.join(":")) : null;
    if (!duid) continue;
    const addresses: string[] = [];
    for (const spec of words.slice(end)) {
      const subnet = parseSubnet(spec);
      if (subnet?.family !== 6 || subnet.prefix !== 128) continue;
      const address = subnet.text.replace(/\/128$/, "");
      if (!addresses.includes(address)) addresses.push(address);
    }
    if (addresses.length === 0) continue;
    const name = words.slice(3, end - 3).join(" ");
    const hostname = name === "-" || name.startsWith("broken\\x20") ? null : name;
    out.push({ duid, hostname, addresses });
  }
  return out;
}
