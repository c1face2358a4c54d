/** Hosts-format files: /etc/hosts, and every file in /tmp/hosts/ (dnsmasq addn-hosts). */
import { parseAddress } from "../addr.ts";

export interface HostsEntry {
  /** Canonical text from parseAddress. */
  address: string;
  family: 4 | 6;
  /** As written, in order; they may hold any bytes but whitespace and `#`. */
  names: string[];
}

/**
 * Reads `address name [alias...]` lines. A line whose address does not parse
 * (or that names nothing) is skipped: these files are shared with other
 * programs and one odd line must not stop the rest. Which entries matter
 * (not localhost, not the router itself) is decided elsewhere.
 */
export function parseHostsFile(text: string): HostsEntry[] {
  const entries: HostsEntry[] = [];
  for (const raw of text.split("\n")) {
    const hash = raw.indexOf("#");
    const line = hash < 0 ? raw : raw.slice(0, hash);
    const [addr, ...names] = line.split(/[\t\v\f\r ]+/).filter((f) => f !== "");
    if (addr === undefined || names.length === 0) continue;
    const address = parseAddress(addr);
    if (!address) continue;
    entries.push({ address: address.text, family: address.family, names });
  }
  return entries;
}
