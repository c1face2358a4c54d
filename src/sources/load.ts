/**
 * Load: every file iptmon reads (leases, hosts files, UCI dhcp, dnsmasq's
 * generated conf) and the neighbour table become one typed picture. Unreadable
 * or odd third-party files are warnings, never fatal: they are not ours.
 */
import { parseAddress, parseSubnet } from "../addr.ts";
import type { Config } from "../config.ts";
import type { Lan } from "../lan.ts";
import { parseInterfaceSubnets } from "./ifaddr.ts";
import { parseOwnAddresses } from "./iflink.ts";
import { resolveLan } from "./netifd.ts";
import { failure, oneLine, shorten } from "../errors.ts";
import { FileError, type RunResult, type Sys } from "../sys.ts";
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
  /** The hosts files to read (readHostsFiles): only what needs a name from them reads them. */
  hostsFiles: string[];
  leasefile: string;
  /** odhcpd's lease state (OpenWrt's DHCPv6 server), or "" for none. */
  odhcpdState: string;
  domain: string | null;
  warnings: string[];
}

/**
 * A third-party file, or null when it is absent or cannot be read; the latter
 * (a directory, a FIFO, no permission) is a warning, never a hang or a crash.
 */
function readSource(sys: Sys, path: string, warnings: string[], what = ""): string | null {
  try {
    return sys.readFile(path);
  } catch (e) {
    if (!(e instanceof FileError)) throw e;
    warnings.push(`cannot read ${what}${shorten(path)}: ${e.reason}`);
    return null;
  }
}

export function loadStatic(sys: Sys, cfg: Config): StaticSources {
  const warnings: string[] = [];
  let staticLeases: StaticLease[] = [];
  let uciLeasefile: string | null = null;
  let uciOdhcpd: string | null = null;
  let uciDomain: string | null = null;
  const addn: string[] = [];
  const dhcpText = readSource(sys, cfg.dhcpConfig, warnings);
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
    const text = readSource(sys, `${cfg.dnsmasqConfDir}/${f}`, warnings);
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
  const hostsFiles = [...new Set(files)];
  // A lease file someone named but that is not there drops every DHCP host:
  // say so (whether it is readable is found when it is read, see loadLeases).
  const named = cfg.leasefile !== null ? `option leasefile in ${cfg.file}` : uciLeasefile !== null ? `option leasefile in ${cfg.dhcpConfig}` : confLeasefile !== null ? `dhcp-leasefile in ${cfg.dnsmasqConfDir}` : null;
  const leasefile = cfg.leasefile ?? uciLeasefile ?? confLeasefile ?? DEFAULTS.leasefile;
  if (named && !sys.exists(leasefile)) warnings.push(`lease file ${shorten(leasefile)} (${named}) does not exist: no DHCP host is known from it`);
  return {
    staticLeases,
    hostsFiles,
    leasefile,
    odhcpdState: cfg.odhcpdState ?? uciOdhcpd ?? "",
    domain: cfg.domain ?? uciDomain ?? confDomain,
    warnings,
  };
}

/** The entries of hosts files (a 10 MB one takes a while: read only when a name is needed). */
export function readHostsFiles(sys: Sys, files: readonly string[]): { entries: HostsEntry[]; warnings: string[] } {
  const warnings: string[] = [];
  const entries: HostsEntry[] = [];
  for (const f of files) {
    const text = readSource(sys, f, warnings, "hosts file ");
    if (text !== null) entries.push(...parseHostsFile(text));
  }
  return { entries, warnings };
}

export function loadLeases(sys: Sys, path: string, now: number): { leases: Lease[]; warnings: string[] } {
  const warnings: string[] = [];
  const text = readSource(sys, path, warnings, "lease file ");
  if (text === null) return { leases: [], warnings: warnings.map((w) => `${w}: no DHCP host is known from it`) };
  const r = parseLeases(text);
  // expiry 0 means an infinite lease
  return { leases: r.leases.filter((l) => l.expires === 0 || l.expires >= now), warnings: r.warnings.map((w) => `${path}: ${w}`) };
}

/** `config odhcpd` … `option leasefile` of UCI dhcp, where OpenWrt's odhcpd keeps its leases. */
function readOdhcpdLeasefile(pkg: UciPackage): string | null {
  return uciOption(pkg.sections.find((s) => s.type === "odhcpd"), "leasefile");
}

/** `ip` run as a source: stopped after DEFAULTS.sourceTimeoutMs, like every program a source runs. */
export function runIp(sys: Sys, cfg: Config, args: string[]): RunResult {
  return sys.run(cfg.ip, args, undefined, { timeoutMs: DEFAULTS.sourceTimeoutMs });
}

/** odhcpd's DHCPv6 leases, as leases of the dnsmasq kind (one per address). */
export function loadOdhcpdLeases(sys: Sys, path: string): Lease[] {
  // Unreadable: as absent (odhcpd's state is optional, and this read has no warning channel).
  const text = path ? readSource(sys, path, []) : null;
  if (text === null) return [];
  return parseOdhcpdState(text).flatMap((l: Odhcpd6Lease) =>
    l.addresses.map((address) => ({ expires: 0, mac: null, duid: l.duid, address, family: 6 as const, hostname: l.hostname })),
  );
}

export function loadNeighbours(sys: Sys, cfg: Config): Neighbour[] {
  const r = runIp(sys, cfg, ["neigh", "show"]);
  if (r.code === 127) throw failure(`cannot read the neighbour table: ${shorten(cfg.ip)} not found`, "install ip (ip-full or busybox ip)");
  if (r.code !== 0) return [];
  return parseNeighbours(r.stdout).filter(isUsableNeighbour);
}

/**
 * The LAN: configured subnets plus those of the LAN interfaces (one `ip addr`
 * each), and the router's own addresses, which are never hosts. With subnets
 * given alone no LAN interface is read, so the router's addresses come from
 * `ip addr` of every interface and from its own name in /tmp/hosts/dhcp.*
 * (OpenWrt writes `192.168.1.1 OpenWrt.lan` there).
 */
export function loadLan(sys: Sys, cfg: Config): Lan {
  const subnets = [...cfg.lanSubnets];
  const own = new Set<string>();
  const warnings: string[] = [];
  const ip = (args: string[]) => runIp(sys, cfg, args);
  const addOwn = (text: string) => {
    const { own4, own6 } = parseOwnAddresses(text);
    for (const a of [...own4, ...own6]) own.add(a);
  };
  const lan = resolveLan(sys, cfg);
  warnings.push(...lan.warnings);
  for (const n of lan.subnets) if (!subnets.some((x) => x.text === n.text)) subnets.push(n);
  for (const dev of lan.devices) {
    const r = ip(["addr", "show", "dev", dev]);
    if (r.code !== 0) {
      warnings.push(`cannot read addresses of LAN interface ${shorten(dev)}: ${oneLine(r.stderr) || `ip exited with ${r.code}`}`);
      continue;
    }
    for (const s of parseInterfaceSubnets(r.stdout)) {
      const n = parseSubnet(s);
      if (n && !subnets.some((x) => x.text === n.text)) subnets.push(n);
    }
    addOwn(r.stdout);
  }
  if (lan.devices.length === 0 && subnets.length > 0) {
    // Best effort: an `ip` that cannot run is reported by the neighbour read.
    const r = ip(["addr", "show"]);
    if (r.code === 0) addOwn(r.stdout);
    for (const a of routerAddressesInHostsFiles(sys, cfg)) own.add(a);
  }
  if (subnets.length === 0) warnings.push("no LAN subnets known: every host is ignored (set lan_interface or lan_subnet)");
  return { subnets, own, ipv6: cfg.ipv6, warnings };
}

/** Addresses OpenWrt's dnsmasq config gives the router's own name (`add_local_hostname`) in the hosts dirs' dhcp.* files. */
function routerAddressesInHostsFiles(sys: Sys, cfg: Config): string[] {
  const hostname = readSource(sys, "/proc/sys/kernel/hostname", [])?.trim().toLowerCase();
  if (!hostname) return [];
  const out: string[] = [];
  for (const dir of cfg.hostsdirs) {
    for (const f of sys.listDir(dir) ?? []) {
      if (!f.startsWith("dhcp.")) continue;
      const text = readSource(sys, `${dir.replace(/\/$/, "")}/${f}`, []);
      for (const e of text === null ? [] : parseHostsFile(text)) {
        if (e.names.some((n) => n.toLowerCase() === hostname || n.toLowerCase().startsWith(`${hostname}.`))) out.push(e.address);
      }
    }
  }
  return out;
}
