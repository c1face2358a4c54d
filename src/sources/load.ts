/**
 * Load: every file iptmon reads (leases, hosts files, UCI dhcp, dnsmasq's
 * generated conf) and the neighbour table become one typed picture. Unreadable
 * or odd third-party files are warnings, never fatal: they are not ours.
 */
import { parseAddress, parseSubnet } from "../addr.ts";
import type { Config } from "../config.ts";
import type { Lan } from "../lan.ts";
import { parseInterfaceSubnets } from "./ifaddr.ts";
import { failure } from "../errors.ts";
import type { Sys } from "../sys.ts";
import { parseUci, uciOption, type UciPackage } from "../uci.ts";
import { parseDnsmasqConf } from "./dnsmasqconf.ts";
import { parseHostsFile, type HostsEntry } from "./hostsfile.ts";
import { parseLeases, type Lease } from "./leases.ts";
import { isUsableNeighbour, parseNeighbours, type Neighbour } from "./neigh.ts";
import { parseOdhcpdState, type Odhcpd6Lease } from "./odhcpd.ts";
import { readDnsmasqSettings, readStaticLeases, type StaticLease } from "./ucidhcp.ts";
import { DEFAULTS } from "../defaults.ts";

export interface StaticSources {
  staticLeases: StaticLease[];
  hostsEntries: HostsEntry[];
  leasefile: string;
  /** odhcpd's lease state (OpenWrt's DHCPv6 server), or "" for none. */
  odhcpdState: string;
  domain: string | null;
  warnings: string[];
}

export function loadStatic(sys: Sys, cfg: Config): StaticSources {
  const warnings: string[] = [];
  let staticLeases: StaticLease[] = [];
  let uciLeasefile: string | null = null;
  let uciOdhcpd: string | null = null;
  let uciDomain: string | null = null;
  const addn: string[] = [];
  const dhcpText = sys.readFile(cfg.dhcpConfig);
  if (dhcpText !== null) {
    try {
      const pkg = parseUci(dhcpText, cfg.dhcpConfig);
      const r = readStaticLeases(pkg);
      staticLeases = r.leases;
      warnings.push(...r.warnings);
      const d = readDnsmasqSettings(pkg);
      uciLeasefile = d.leasefile;
      uciDomain = d.domain;
      addn.push(...d.addnHosts);
      uciOdhcpd = readOdhcpdLeasefile(pkg);
    } catch (e) {
      warnings.push(`${(e as Error).message} (static leases ignored)`);
    }
  }
  let confLeasefile: string | null = null;
  let confDomain: string | null = null;
  for (const f of sys.listDir(cfg.dnsmasqConfDir) ?? []) {
    if (!f.startsWith("dnsmasq.conf")) continue;
    const text = sys.readFile(`${cfg.dnsmasqConfDir}/${f}`);
    if (text === null) continue;
    const c = parseDnsmasqConf(text);
    confLeasefile ??= c.leasefile;
    confDomain ??= c.domain;
    addn.push(...c.addnHosts);
  }
  const files = [...cfg.hostsfiles];
  for (const dir of cfg.hostsdirs) for (const f of sys.listDir(dir) ?? []) files.push(`${dir}/${f}`);
  // OpenWrt's addn-hosts names the directory /tmp/hosts as well as files.
  for (const f of addn) {
    const inDir = sys.listDir(f);
    if (inDir) for (const g of inDir) files.push(`${f.replace(/\/$/, "")}/${g}`);
    else files.push(f);
  }
  const hostsEntries: HostsEntry[] = [];
  for (const f of new Set(files)) {
    const text = sys.readFile(f);
    if (text !== null) hostsEntries.push(...parseHostsFile(text));
  }
  return {
    staticLeases,
    hostsEntries,
    leasefile: cfg.leasefile ?? uciLeasefile ?? confLeasefile ?? DEFAULTS.leasefile,
    odhcpdState: cfg.odhcpdState ?? uciOdhcpd ?? "",
    domain: cfg.domain ?? uciDomain ?? confDomain,
    warnings,
  };
}

export function loadLeases(sys: Sys, path: string, now: number): { leases: Lease[]; warnings: string[] } {
  const text = sys.readFile(path);
  if (text === null) return { leases: [], warnings: [] };
  const r = parseLeases(text);
  // expiry 0 means an infinite lease
  return { leases: r.leases.filter((l) => l.expires === 0 || l.expires >= now), warnings: r.warnings.map((w) => `${path}: ${w}`) };
}

/** `config odhcpd` … `option leasefile` of UCI dhcp, where OpenWrt's odhcpd keeps its leases. */
function readOdhcpdLeasefile(pkg: UciPackage): string | null {
  return uciOption(pkg.sections.find((s) => s.type === "odhcpd"), "leasefile");
}

/** odhcpd's DHCPv6 leases, as leases of the dnsmasq kind (one per address). */
export function loadOdhcpdLeases(sys: Sys, path: string): Lease[] {
  const text = path ? sys.readFile(path) : null;
  if (text === null) return [];
  return parseOdhcpdState(text).flatMap((l: Odhcpd6Lease) =>
    l.addresses.map((address) => ({ expires: 0, mac: null, duid: l.duid, address, family: 6 as const, hostname: l.hostname })),
  );
}

export function loadNeighbours(sys: Sys, cfg: Config): Neighbour[] {
  const r = sys.run(cfg.ip, ["neigh", "show"]);
  if (r.code === 127) throw failure(`cannot read the neighbour table: ${cfg.ip} not found`, "install ip (ip-full or busybox ip)");
  if (r.code !== 0) return [];
  return parseNeighbours(r.stdout).filter(isUsableNeighbour);
}

/** The LAN: configured subnets plus those of the LAN interfaces (one `ip addr` each). */
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
    for (const m of r.stdout.matchAll(/\binet6?\s+([0-9a-fA-F.:]+)[/\s]/g)) {
      const a = parseAddress(m[1]!);
      if (a) own.add(a.text);
    }
  }
  if (subnets.length === 0) warnings.push("no LAN subnets known: every host is ignored (set lan_interface or lan_subnet)");
  return { subnets, own, ipv6: cfg.ipv6, warnings };
}
