/** dnsmasq's lease file (OpenWrt: /tmp/dhcp.leases). */
import { parseAddress, parseDuid, parseMac } from "../addr.ts";
import { quoteInput } from "../errors.ts";

export interface Lease {
  /** Seconds since the epoch; 0 for an infinite lease. */
  expires: number;
  mac: string | null;
  /** The client DUID of a DHCPv6 lease. */
  duid: string | null;
  /** Canonical text from parseAddress. */
  address: string;
  family: 4 | 6;
  /** null for `*`: no name, or one dnsmasq found illegal. */
  hostname: string | null;
}

const SEPARATORS = /[\t\v\f\r ]+/;

/**
 * Reads every lease; a line that does not parse becomes a warning and is
 * skipped, so one bad line cannot hide the other hosts.
 *
 * IPv4 lines are `<expiry> <mac> <ipv4> <hostname|*> <client-id|*>`; after a
 * `duid <server-duid>` line come IPv6 lines `<expiry> <iaid> <ipv6> <hostname|*>
 * <client-duid|*>`. The address tells the two apart.
 */
export function parseLeases(text: string): { leases: Lease[]; warnings: string[] } {
  const leases: Lease[] = [];
  const warnings: string[] = [];
  const lines = text.split("\n");
  for (let n = 0; n < lines.length; n++) {
    const fields = lines[n]!.split(SEPARATORS);
    // Separators at either end leave an empty field there, and only there.
    if (fields[0] === "") fields.shift();
    if (fields[fields.length - 1] === "") fields.pop();
    if (fields.length === 0 || fields[0] === "duid") continue;
    const warn = (cause: string) => warnings.push(`lease file line ${n + 1}: ${cause}, skipped`);
    if (fields.length !== 5) {
      warn(`expected 5 fields, found ${fields.length}`);
      continue;
    }
    const [expiry, id, addr, name, client] = fields as [string, string, string, string, string];
    if (!/^\d{1,12}$/.test(expiry)) {
      warn(`bad expiry time ${quoteInput(expiry)}`);
      continue;
    }
    const address = parseAddress(addr);
    if (!address) {
      warn(`bad address ${quoteInput(addr)}`);
      continue;
    }
    const hostname = name === "*" ? null : name;
    if (address.family === 4) {
      // dnsmasq writes non-Ethernet hardware as `<type>-<hex>`; such a host has no MAC to count by.
      const mac = parseMac(id);
      if (!mac) {
        warn(`not an Ethernet MAC address ${quoteInput(id)}`);
        continue;
      }
      leases.push({ expires: Number(expiry), mac, duid: null, address: address.text, family: 4, hostname });
    } else {
      // The IAID, decimal; a temporary address (IA_TA) has a "T" prefix.
      if (!/^T?\d{1,10}$/.test(id)) {
        warn(`bad IAID ${quoteInput(id)}`);
        continue;
      }
      const duid = client === "*" ? null : parseDuid(client);
      if (client !== "*" && !duid) {
        warn(`bad client DUID ${quoteInput(client)}`);
        continue;
      }
      leases.push({ expires: Number(expiry), mac: null, duid, address: address.text, family: 6, hostname });
    }
  }
  return { leases, warnings };
}
