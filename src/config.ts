/**
 * /etc/config/iptmon: options are declared once, as a table of specs. A bad
 * value is reported with file, line and option; a bad `config host` section is
 * skipped with a warning; an unknown option is warned about.
 */
import { parseAddress, parseMac, parseSubnet, type Subnet } from "./addr.ts";
import { DEFAULTS } from "./defaults.ts";
import { badInput } from "./errors.ts";
import type { Sys } from "./sys.ts";
import { parseUci, type UciSection, type UciValue } from "./uci.ts";

export type BackendName = "nftables" | "iptables";
export type BackendChoice = BackendName | "auto";

type Kind = "string" | "bool" | "int" | "path" | "name";

interface Spec {
  kind: Kind;
  list?: true;
  choices?: readonly string[];
  min?: number;
  max?: number;
}

/** `config iptmon` options. Defaults live in defaults.ts; absent means default. */
export const GLOBAL_OPTIONS = {
  enabled: { kind: "bool" },
  backend: { kind: "string", choices: ["auto", "nftables", "iptables"] },
  ipv6: { kind: "bool" },
  domain: { kind: "name" },
  leasefile: { kind: "path" },
  hostsfile: { kind: "path", list: true },
  hostsdir: { kind: "path", list: true },
  dhcp_config: { kind: "path" },
  dnsmasq_confdir: { kind: "path" },
  odhcpd_statefile: { kind: "path" },
  lan_interface: { kind: "name", list: true },
  lan_subnet: { kind: "string", list: true },
  table: { kind: "name" },
  lockfile: { kind: "path" },
  nft: { kind: "path" },
  ip: { kind: "path" },
  // iptables backend
  iptables: { kind: "path" },
  ip6tables: { kind: "path" },
  iptables_restore: { kind: "path" },
  ip6tables_restore: { kind: "path" },
  iptables_save: { kind: "path" },
  ip6tables_save: { kind: "path" },
  // exporters (src/exporters/): how often cron runs `iptmon push`, and which crontab
  push_interval: { kind: "int", min: 1, max: 60 },
  crontab: { kind: "path" },
} as const satisfies Record<string, Spec>;

export const HOST_OPTIONS = {
  mac: { kind: "string" },
  name: { kind: "string" },
  ignore: { kind: "bool" },
  ip: { kind: "string", list: true },
} as const satisfies Record<string, Spec>;

export interface HostConfig {
  mac: string | null;
  name: string | null;
  ignore: boolean;
  addresses: string[];
  line: number;
}

export interface Config {
  file: string;
  /** False when the file did not exist and defaults apply. */
  present: boolean;
  enabled: boolean;
  backend: BackendChoice;
  ipv6: boolean;
  domain: string | null;
  leasefile: string | null;
  hostsfiles: string[];
  hostsdirs: string[];
  dhcpConfig: string;
  dnsmasqConfDir: string;
  /** null: from UCI dhcp's `config odhcpd`, if any. */
  odhcpdState: string | null;
  lanInterfaces: string[];
  lanSubnets: Subnet[];
  table: string;
  lockfile: string;
  nft: string;
  ip: string;
  /** Options of other parts (backends, exporters), validated by their spec. */
  options: Map<string, string | string[]>;
  hosts: HostConfig[];
  /** Other sections (e.g. exporters' `config influxdb`), for their own readers. */
  sections: UciSection[];
  warnings: string[];
}

const NAME_RE = /^[A-Za-z0-9_.-]{1,64}$/;

function checkValue(file: string, opt: string, v: UciValue, spec: Spec): string | string[] {
  const where = `${file}:${v.line}`;
  if (v.isList && !spec.list) throw badInput(`cannot read ${where}: option '${opt}' is not a list`);
  const values = Array.isArray(v.value) ? v.value : [v.value];
  for (const s of values) {
    const bad = (why: string) => badInput(`cannot read ${where}: option '${opt}' ${why}: '${s}'`);
    if (spec.kind === "bool" && !/^(0|1|on|off|yes|no|true|false|enabled|disabled)$/.test(s))
      throw bad("must be a boolean (0 or 1)");
    if (spec.kind === "int" && !/^-?\d+$/.test(s)) throw bad("must be an integer");
    if (spec.kind === "int" && ((spec.min !== undefined && Number(s) < spec.min) || (spec.max !== undefined && Number(s) > spec.max)))
      throw bad(`must be within ${spec.min}..${spec.max}`);
    if (spec.kind === "path" && (s === "" || s.includes("\0"))) throw bad("must be a path");
    if (spec.kind === "name" && !NAME_RE.test(s)) throw bad("must be a name of [A-Za-z0-9_.-]");
    if (spec.choices && !spec.choices.includes(s)) throw bad(`must be one of ${spec.choices.join(", ")}`);
  }
  return spec.list ? values : values[0]!;
}

export function parseBool(s: string | undefined, dflt: boolean): boolean {
  if (s === undefined) return dflt;
  return /^(1|on|yes|true|enabled)$/.test(s);
}

function readSection(file: string, sec: UciSection, specs: Record<string, Spec>, warnings: string[]) {
  const out = new Map<string, string | string[]>();
  for (const [opt, v] of sec.options) {
    const spec = specs[opt];
    if (!spec) {
      warnings.push(`${file}:${v.line}: unknown option '${opt}' in config ${sec.type} (ignored)`);
      continue;
    }
    out.set(opt, checkValue(file, opt, v, spec));
  }
  return out;
}

/** Option specs added by other modules (exporters) for their own sections. */
export const SECTION_SPECS = new Map<string, Record<string, Spec>>();

// Exporters' sections: validated here, read by src/exporters/*.ts.
const TIMEOUT: Spec = { kind: "int", min: 1, max: 300 };
SECTION_SPECS.set("influxdb", {
  enabled: { kind: "bool" },
  url: { kind: "string" },
  version: { kind: "string", choices: ["1", "2"] },
  database: { kind: "string" },
  retention_policy: { kind: "string" },
  username: { kind: "string" },
  password: { kind: "string" },
  org: { kind: "string" },
  bucket: { kind: "string" },
  token: { kind: "string" },
  timeout: TIMEOUT,
  measurement: { kind: "name" },
});
SECTION_SPECS.set("collectd", {
  enabled: { kind: "bool" },
  socket: { kind: "path" },
  hostname: { kind: "string" },
  timeout: TIMEOUT,
});
SECTION_SPECS.set("prometheus", { enabled: { kind: "bool" } });

export function loadConfig(sys: Sys, file: string, explicit: boolean): Config {
  const text = sys.readFile(file);
  if (text === null && explicit) throw badInput(`cannot read config ${file}: no such file`, "pass an existing file with --config or IPTMON_CONFIG");
  return parseConfig(text ?? "", file, text !== null);
}

export function parseConfig(text: string, file: string, present = true): Config {
  const pkg = parseUci(text, file);
  const warnings: string[] = [];
  let global = new Map<string, string | string[]>();
  let globalSection: UciSection | undefined;
  let seenGlobal = false;
  const hosts: HostConfig[] = [];
  const sections: UciSection[] = [];
  for (const sec of pkg.sections) {
    if (sec.type === "iptmon") {
      if (seenGlobal) warnings.push(`${file}:${sec.line}: a second 'config iptmon' section (ignored)`);
      else {
        global = readSection(file, sec, GLOBAL_OPTIONS, warnings);
        globalSection = sec;
      }
      seenGlobal = true;
    } else if (sec.type === "host") {
      try {
        const h = readHost(file, sec, warnings);
        if (h) hosts.push(h);
      } catch (e) {
        warnings.push(`${(e as Error).message} (section skipped)`);
      }
    } else if (SECTION_SPECS.has(sec.type)) {
      // A bad exporter section must not stop host accounting: skip it, warn.
      try {
        readSection(file, sec, SECTION_SPECS.get(sec.type)!, warnings);
        sections.push(sec);
      } catch (e) {
        warnings.push(`${(e as Error).message} (section skipped)`);
      }
    } else {
      warnings.push(`${file}:${sec.line}: unknown section type '${sec.type}' (ignored)`);
    }
  }
  const str = (k: keyof typeof GLOBAL_OPTIONS) => global.get(k) as string | undefined;
  const list = (k: keyof typeof GLOBAL_OPTIONS) => global.get(k) as string[] | undefined;
  const lanSubnets: Subnet[] = [];
  for (const s of list("lan_subnet") ?? []) {
    const n = parseSubnet(s);
    if (!n) throw badInput(`cannot read ${file}:${globalSection?.options.get("lan_subnet")?.line ?? 0}: option 'lan_subnet' is not a subnet: '${s}'`, "use address/prefix, e.g. 192.168.1.0/24");
    lanSubnets.push(n);
  }
  const lanIfs = list("lan_interface");
  return {
    file,
    present,
    enabled: parseBool(str("enabled"), true),
    backend: (str("backend") as BackendChoice | undefined) ?? DEFAULTS.backend,
    ipv6: parseBool(str("ipv6"), DEFAULTS.ipv6),
    domain: str("domain") ?? null,
    leasefile: str("leasefile") ?? null,
    hostsfiles: list("hostsfile") ?? [...DEFAULTS.hostsfiles],
    hostsdirs: list("hostsdir") ?? [...DEFAULTS.hostsdirs],
    dhcpConfig: str("dhcp_config") ?? DEFAULTS.dhcpConfig,
    dnsmasqConfDir: str("dnsmasq_confdir") ?? DEFAULTS.dnsmasqConfDir,
    odhcpdState: str("odhcpd_statefile") ?? null,
    // Subnets given alone replace the br-lan default; both given add up.
    lanInterfaces: lanIfs ?? (lanSubnets.length ? [] : [...DEFAULTS.lanInterfaces]),
    lanSubnets,
    table: str("table") ?? DEFAULTS.table,
    lockfile: str("lockfile") ?? DEFAULTS.lockfile,
    nft: str("nft") ?? DEFAULTS.nft,
    ip: str("ip") ?? DEFAULTS.ip,
    options: global,
    hosts,
    sections,
    warnings,
  };
}

function readHost(file: string, sec: UciSection, warnings: string[]): HostConfig | null {
  const o = readSection(file, sec, HOST_OPTIONS, warnings);
  const where = `${file}:${sec.line}`;
  const rawMac = o.get("mac") as string | undefined;
  const mac = rawMac === undefined ? null : parseMac(rawMac);
  if (rawMac !== undefined && !mac) throw badInput(`${where}: config host: option 'mac' is not a MAC address: '${rawMac}'`);
  const addresses: string[] = [];
  for (const s of (o.get("ip") as string[] | undefined) ?? []) {
    const a = parseAddress(s);
    if (!a) throw badInput(`${where}: config host: option 'ip' is not an address: '${s}'`);
    addresses.push(a.text);
  }
  const name = (o.get("name") as string | undefined) ?? null;
  if (!mac && !name) throw badInput(`${where}: config host needs option 'mac' or option 'name'`);
  return { mac, name, ignore: parseBool(o.get("ignore") as string | undefined, false), addresses, line: sec.line };
}
