/** What iptmon needs from the UCI `dhcp` package (/etc/config/dhcp). */
import { parseAddress, parseMac } from "../addr.ts";
import { quoteInput } from "../errors.ts";
import { uciList, uciOption, type UciPackage } from "../uci.ts";

export interface StaticLease {
  /** Valid MACs only, lower case; may be empty (a host matched by name or DUID). */
  macs: string[];
  /** Canonical address, or null when unset, `ignore`, or invalid (warned). */
  address: string | null;
  name: string | null;
  /** Line of the `config host` statement. */
  line: number;
}


/** The `config host` sections (static leases). Bad values are warned about and skipped. */
export function readStaticLeases(pkg: UciPackage): { leases: StaticLease[]; warnings: string[] } {
  const leases: StaticLease[] = [];
  const warnings: string[] = [];
  for (const section of pkg.sections) {
    if (section.type !== "host") continue;
    const warn = (line: number, cause: string) =>
      warnings.push(`${pkg.file}:${line}: host ${section.name ?? "(unnamed)"}: ${cause}`);

    // OpenWrt allows several MACs in one option, separated by spaces, as well as a list.
    const macOption = section.options.get("mac");
    const macs: string[] = [];
    for (const word of uciList(section, "mac").flatMap((m) => m.split(/[\t\n\v\f\r ]+/)).filter((w) => w !== "")) {
      const mac = parseMac(word);
      if (!mac) warn(macOption!.line, `ignoring invalid MAC ${quoteInput(word)}`);
      else if (!macs.includes(mac)) macs.push(mac);
    }

    const ipOption = section.options.get("ip");
    let address: string | null = null;
    for (const ip of uciList(section, "ip")) {
      // `option ip ignore` tells dnsmasq to ignore the client: not an address, not a mistake.
      if (ip === "ignore") continue;
      const parsed = parseAddress(ip);
      if (!parsed) warn(ipOption!.line, `ignoring invalid address ${quoteInput(ip)}`);
      else address ??= parsed.text;
    }

    leases.push({ macs, address, name: uciOption(section, "name"), line: section.line });
  }
  return { leases, warnings };
}

/** Settings of the first `config dnsmasq` section; nulls and [] where unset (defaults are decided elsewhere). */
export function readDnsmasqSettings(pkg: UciPackage): { leasefile: string | null; domain: string | null; addnHosts: string[] } {
  const section = pkg.sections.find((s) => s.type === "dnsmasq");
  if (!section) return { leasefile: null, domain: null, addnHosts: [] };
  return {
    leasefile: uciOption(section, "leasefile"),
    domain: uciOption(section, "domain"),
    addnHosts: uciList(section, "addnhosts"),
  };
}
