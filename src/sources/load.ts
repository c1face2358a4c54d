/**
 * Load: every file iptmon reads (leases, hosts files, UCI dhcp, dnsmasq's
 * generated conf) and the neighbour table become one typed picture. Unreadable
 * or odd third-party files are warnings, never fatal: they are not ours.
 */
import { parseAddress, parseSubnet } from "../addr.ts";
import type { Config } from "../config.ts";
import type { Lan } from "../lan.ts";
import { interfaceSubnets, parseInterfaceSubnets } from "./ifaddr.ts";
import { ownAddresses, parseOwnAddresses } from "./iflink.ts";
import type { RtAddress } from "../netlink/rtnetlink.ts";
import { EAGAIN, NetlinkError } from "../netlink/socket.ts";
import { resolveLan } from "./netifd.ts";
import { failure, oneLine, shorten } from "../errors.ts";
import type { RunResult, Sys } from "../sys.ts";
import { FileError } from "../sys/files.ts";
import { parseUci, uciOption, type UciPackage } from "../uci.ts";
import { parseDnsmasqConf } from "./dnsmasqconf.ts";
import { parseHostsFile, type HostsEntry } from "./hostsfile.ts";
import { parseLeases, type Lease } from "./leases.ts";
import { isUsableNeighbour, neighbourFromKernel, parseNeighbours, type Neighbour } from "./neigh.ts";
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

/**
 * A read over the routing netlink where Sys has it, else `ip`'s. A refusal
 * (a kernel that takes the request differently) falls back to `ip` too; a
 * reply that does not come within the sources' time limit is the source
 * failing, as an `ip` that times out is, and runs no `ip` after it.
 */
function routed<T>(read: () => T, ip: () => T, timedOut: (why: string) => T): T {
  try {
    return read();
  } catch (e) {
    if (!(e instanceof NetlinkError)) throw e;
    return e.errno === EAGAIN ? timedOut(e.message) : ip();
  }
}

export function loadNeighbours(sys: Sys, cfg: Config): Neighbour[] {
  const rt = sys.rtnetlink?.() ?? null;
  if (!rt) return ipNeighbours(sys, cfg);
  return routed(
    () => rt.neighbours().map(neighbourFromKernel).filter(isUsableNeighbour),
    () => ipNeighbours(sys, cfg),
    () => [],
  );
}

function ipNeighbours(sys: Sys, cfg: Config): Neighbour[] {
  const r = runIp(sys, cfg, ["neigh", "show"]);
  if (r.code === 127) throw failure(`cannot read the neighbour table: ${shorten(cfg.ip)} not found`, "install ip (ip-full or busybox ip)");
  if (r.code !== 0) return [];
  return parseNeighbours(r.stdout).filter(isUsableNeighbour);
}

/**
 * The LAN: configured subnets plus those of the LAN interfaces (one `ip addr`
 * each, or one rtnetlink dump for all), and the router's own addresses,
 * which are never hosts. With subnets given alone no LAN interface is read,
 * so the router's addresses come from every interface's and from its own
 * name in /tmp/hosts/dhcp.* (OpenWrt writes `192.168.1.1 OpenWrt.lan` there).
 */
export function loadLan(sys: Sys, cfg: Config): Lan {
  const subnets = [...cfg.lanSubnets];
  const own = new Set<string>();
  const warnings: string[] = [];
  const read = addressReader(sys, cfg);
  const lan = resolveLan(sys, cfg);
  warnings.push(...lan.warnings);
  for (const n of lan.subnets) if (!subnets.some((x) => x.text === n.text)) subnets.push(n);
  for (const dev of lan.devices) {
    const r = read.device(dev);
    if ("error" in r) {
      warnings.push(`cannot read addresses of LAN interface ${shorten(dev)}: ${r.error}`);
      continue;
    }
    for (const s of r.subnets) {
      const n = parseSubnet(s);
      if (n && !subnets.some((x) => x.text === n.text)) subnets.push(n);
    }
    for (const a of r.own) own.add(a);
  }
  if (lan.devices.length === 0 && subnets.length > 0) {
    // Best effort: an `ip` that cannot run is reported by the neighbour read.
    for (const a of read.all() ?? []) own.add(a);
    for (const a of routerAddressesInHostsFiles(sys, cfg)) own.add(a);
  }
  if (subnets.length === 0) warnings.push("no LAN subnets known: every host is ignored (set lan_interface or lan_subnet)");
  return { subnets, own, ipv6: cfg.ipv6, warnings };
}

/** A device's subnets (as parseInterfaceSubnets) and own addresses, or why they cannot be read. */
type DeviceAddresses = { subnets: string[]; own: string[] } | { error: string };

interface AddressReader {
  device(dev: string): DeviceAddresses;
  /** Every address of the router, or null when they cannot be read. */
  all(): string[] | null;
}

const flat = (o: { own4: string[]; own6: string[] }) => [...o.own4, ...o.own6];

/** `ip addr show [dev X]`, one run each. */
function ipAddressReader(sys: Sys, cfg: Config): AddressReader {
  return {
    device(dev) {
      const r = runIp(sys, cfg, ["addr", "show", "dev", dev]);
      if (r.code !== 0) return { error: oneLine(r.stderr) || `ip exited with ${r.code}` };
      return { subnets: parseInterfaceSubnets(r.stdout), own: flat(parseOwnAddresses(r.stdout)) };
    },
    all() {
      const r = runIp(sys, cfg, ["addr", "show"]);
      return r.code === 0 ? flat(parseOwnAddresses(r.stdout)) : null;
    },
  };
}

/** The same over the routing netlink where Sys has it: one dump of every address, and a device's index by its name. */
function addressReader(sys: Sys, cfg: Config): AddressReader {
  const ip = ipAddressReader(sys, cfg);
  const rt = sys.rtnetlink?.() ?? null;
  if (!rt) return ip;
  let dump: RtAddress[] | undefined;
  return {
    device: (dev) =>
      routed<DeviceAddresses>(
        () => {
          const index = rt.linkIndex(dev);
          // What `ip addr show dev` says for it.
          if (index === null) return { error: `Device "${dev}" does not exist.` };
          const mine = (dump ??= rt.addresses()).filter((a) => a.index === index);
          return { subnets: interfaceSubnets(mine), own: flat(ownAddresses(mine)) };
        },
        () => ip.device(dev),
        (why) => ({ error: why }),
      ),
    all: () =>
      routed(
        () => flat(ownAddresses((dump ??= rt.addresses()))),
        () => ip.all(),
        () => null,
      ),
  };
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
