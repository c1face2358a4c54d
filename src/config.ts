/**
 * /etc/config/iptmon: options are declared once, as a table of specs. A bad
 * value is reported with file, line and option; a bad `config host` section is
 * skipped with a warning; an unknown option is warned about.
 */
import { parseAddress, parseMac, parseSubnet, type Subnet } from "./addr.ts";
import { DEFAULTS } from "./defaults.ts";
import { DEVICE_NAME } from "./model.ts";
import { badInput, quoteValue, shorten, UserError } from "./errors.ts";
import type { Sys } from "./sys.ts";
import { parseUci, type UciSection, type UciValue } from "./uci.ts";
import { defaultServices, readServices, type ServiceClass } from "./split/services.ts";

export type BackendName = "nftables" | "iptables";
export type BackendChoice = BackendName | "auto";

/**
 * `table` is also the nft table's name, and nft's scanner turns its keywords
 * into tokens wherever they stand: `table inet counter` is a syntax error, so
 * every command would fail. These are the words nft (up to 1.1) reads as
 * keywords at the start of a table name; test/unit/config.test.ts checks them
 * against the installed `nft -c`. A name must also start with a letter, `_` or
 * `.` (nft reads `1x` as a number).
 */
export const NFT_RESERVED_TABLE_NAMES: readonly string[] = [
  "accept", "add", "ah", "all", "and", "arp", "auto-merge", "bridge", "cgroup", "chain", "comment", "comp",
  "constant", "continue", "counter", "cpu", "create", "ct", "day", "dccp", "define", "delete", "describe", "destroy",
  "device", "devices", "dnat", "drop", "dst", "dup", "dynamic", "ecn", "element", "elements", "eq", "esp", "ether",
  "exists", "expires", "export", "exthdr", "fib", "flags", "flow", "flowtable", "flush", "frag", "fwd",
  "gc-interval", "ge", "geneve", "get", "goto", "gre", "gretap", "gt", "handle", "hbh", "hook", "hour", "ibriport",
  "ibrname", "icmp", "icmpv6", "igmp", "iif", "iifgroup", "iifname", "iiftype", "import", "include", "index", "inet",
  "insert", "interval", "ip", "ip6", "ipsec", "jhash", "jump", "last", "le", "limit", "list", "log", "lshift", "lt",
  "map", "mark", "masquerade", "meta", "meter", "mh", "missing", "monitor", "ne", "netdev", "nftrace", "not",
  "notrack", "numgen", "obriport", "obrname", "offload", "oif", "oifgroup", "oifname", "oiftype", "or", "osf",
  "pkttype", "policy", "position", "priority", "queue", "quota", "random", "redefine", "redirect", "reject",
  "rename", "replace", "reset", "return", "rshift", "rt", "rt0", "rt2", "rtclassid", "rule", "ruleset", "sctp",
  "secmark", "set", "size", "skgid", "skuid", "snat", "socket", "srh", "symhash", "synproxy", "table", "tcp", "th",
  "time", "timeout", "tproxy", "tunnel", "type", "typeof", "udp", "udplite", "undefine", "update", "vlan", "vmap",
  "vni", "vxlan", "xor", "xt",
];

type Kind = "string" | "bool" | "int" | "path" | "name" | "device" | "subnet" | "table";

/**
 * One option: its kind, whether it is a list, and its default (in defaults.ts).
 * Without a default a single value is null when unset, a list is empty. The
 * typed field is the option's name in camelCase unless `field` says otherwise.
 */
interface Spec {
  kind: Kind;
  list?: true;
  choices?: readonly string[];
  min?: number;
  max?: number;
  default?: unknown;
  field?: string;
}

/** Options that share one spec (several program paths, several strings). */
function sameSpec<const K extends string, const S extends Spec>(names: readonly K[], spec: S): Record<K, S> {
  return Object.fromEntries(names.map((n) => [n, spec])) as Record<K, S>;
}

/** `config iptmon` options: adding one is one line here (and its default in defaults.ts). */
export const GLOBAL_OPTIONS = {
  enabled: { kind: "bool", default: DEFAULTS.enabled },
  backend: { kind: "string", choices: ["auto", "nftables", "iptables"], default: DEFAULTS.backend },
  ipv6: { kind: "bool", default: DEFAULTS.ipv6 },
  domain: { kind: "name" },
  leasefile: { kind: "path" },
  hostsfile: { kind: "path", list: true, default: DEFAULTS.hostsfiles, field: "hostsfiles" },
  hostsdir: { kind: "path", list: true, default: DEFAULTS.hostsdirs, field: "hostsdirs" },
  dhcp_config: { kind: "path", default: DEFAULTS.dhcpConfig },
  dnsmasq_confdir: { kind: "path", default: DEFAULTS.dnsmasqConfDir, field: "dnsmasqConfDir" },
  odhcpd_statefile: { kind: "path", field: "odhcpdState" },
  // Subnets given alone replace the br-lan default (see parseConfig).
  lan_interface: { kind: "device", list: true, default: DEFAULTS.lanInterfaces, field: "lanInterfaces" },
  lan_subnet: { kind: "subnet", list: true, field: "lanSubnets" },
  // OpenWrt's logical networks ('lan'), resolved with ifstatus; lan_interface is the fallback.
  network: { kind: "name", list: true, field: "networks" },
  ifstatus: { kind: "path", default: DEFAULTS.ifstatus },
  table: { kind: "table", default: DEFAULTS.table },
  // Where nftables counts: at the LAN ports (by MAC; sees offloaded flows) or in the forward hook.
  hook: { kind: "string", choices: ["auto", "ports", "forward"], default: DEFAULTS.hook },
  port: { kind: "device", list: true, field: "ports" },
  lockfile: { kind: "path", default: DEFAULTS.lockfile },
  nft: { kind: "path", default: DEFAULTS.nft },
  ip: { kind: "path", default: DEFAULTS.ip },
  // iptables backend: the programs it runs
  ...sameSpec(["iptables", "ip6tables", "iptables_restore", "ip6tables_restore", "iptables_save", "ip6tables_save"], { kind: "path" }),
  // exporters (src/exporters/): how often cron runs `iptmon push`, and which crontab
  push_interval: { kind: "int", min: 1, max: 60, default: DEFAULTS.pushIntervalMin },
  crontab: { kind: "path", default: DEFAULTS.crontab },
  // snapshots and usage periods (src/snapshot/, src/usage/)
  statefile: { kind: "path", default: DEFAULTS.statefile },
  persist_dir: { kind: "path" },
  persist_interval: { kind: "int", min: 1, max: 44640, default: DEFAULTS.persistIntervalMin },
  period: { kind: "string", choices: ["month", "week", "day"], default: DEFAULTS.period },
  period_start: { kind: "int", min: 1, max: 28, default: DEFAULTS.periodStart },
  periods_kept: { kind: "int", min: 1, max: 1000, default: DEFAULTS.periodsKept },
  // per-host split of the totals (src/split/): by IP family, by service (config service)
  breakdown: { kind: "string", list: true, choices: ["family", "service"], default: DEFAULTS.breakdown },
} as const satisfies Record<string, Spec>;

export const HOST_OPTIONS = {
  mac: { kind: "string" },
  name: { kind: "string" },
  ignore: { kind: "bool", default: false },
  ip: { kind: "string", list: true },
} as const satisfies Record<string, Spec>;

const TIMEOUT = { kind: "int", min: 1, max: 300, default: DEFAULTS.pushTimeoutS } as const satisfies Spec;

/** The exporters' sections (src/exporters/): validated and typed here, used there. */
export const SECTION_SPECS = {
  influxdb: {
    enabled: { kind: "bool", default: true },
    version: { kind: "string", choices: ["1", "2"], default: "1" },
    ...sameSpec(["url", "database", "retention_policy", "username", "password", "org", "bucket", "token"], { kind: "string" }),
    timeout: TIMEOUT,
    measurement: { kind: "name", default: DEFAULTS.influxMeasurement },
  },
  collectd: {
    enabled: { kind: "bool", default: true },
    socket: { kind: "path" },
    hostname: { kind: "string" },
    timeout: TIMEOUT,
  },
  prometheus: { enabled: { kind: "bool", default: true } },
} as const satisfies Record<string, Record<string, Spec>>;

type Camel<S extends string> = S extends `${infer A}_${infer B}` ? `${A}${Capitalize<Camel<B>>}` : S;
type FieldOf<K extends string, S> = S extends { field: infer F extends string } ? F : Camel<K>;
type ScalarOf<S> = S extends { kind: "bool" }
  ? boolean
  : S extends { kind: "int" }
    ? number
    : S extends { kind: "subnet" }
      ? Subnet
      : S extends { choices: readonly (infer C)[] }
        ? C
        : string;
type ValueOf<S> = S extends { list: true } ? ScalarOf<S>[] : S extends { default: unknown } ? ScalarOf<S> : ScalarOf<S> | null;
/** The typed values of a spec table. */
export type Typed<T extends Record<string, Spec>> = { -readonly [K in keyof T & string as FieldOf<K, T[K]>]: ValueOf<T[K]> };

export type GlobalOptions = Typed<typeof GLOBAL_OPTIONS>;
export type SectionType = keyof typeof SECTION_SPECS;

/** A `config influxdb|collectd|prometheus` section, its values typed. */
export type ExporterSection<T extends SectionType = SectionType> = {
  [K in T]: { type: K; name: string | null; line: number; options: Typed<(typeof SECTION_SPECS)[K]> };
}[T];

export interface HostConfig {
  mac: string | null;
  name: string | null;
  ignore: boolean;
  addresses: string[];
}

export interface Config extends GlobalOptions {
  file: string;
  /** False when the file did not exist and defaults apply. */
  present: boolean;
  /** The `config iptmon` options as set (validated, untyped), for the backends' tool options. */
  options: Map<string, string | string[]>;
  hosts: HostConfig[];
  /** The exporters' sections (`config influxdb`, …), in file order. */
  sections: ExporterSection[];
  /** Service classes: the `config service` sections, or the built-in ones where there are none and `breakdown` has `service` (else none). */
  services: ServiceClass[];
  warnings: string[];
}

/** The config's sections of one type, typed. */
export function sectionsOf<T extends SectionType>(cfg: Pick<Config, "sections">, type: T): ExporterSection<T>[] {
  return cfg.sections.filter((s) => s.type === type) as unknown as ExporterSection<T>[];
}

const NAME_RE = /^[A-Za-z0-9_.-]{1,64}$/;

function checkValue(file: string, opt: string, v: UciValue, spec: Spec): string | string[] {
  const where = `${file}:${v.line}`;
  if (v.isList && !spec.list) throw badInput(`cannot read ${where}: option '${opt}' is not a list`);
  const values = Array.isArray(v.value) ? v.value : [v.value];
  for (const s of values) {
    const bad = (why: string, hint?: string) => badInput(`cannot read ${where}: option '${opt}' ${why}: ${quoteValue(s)}`, hint);
    if (spec.kind === "bool" && !/^(0|1|on|off|yes|no|true|false|enabled|disabled)$/.test(s))
      throw bad("must be a boolean (0 or 1)");
    if (spec.kind === "int" && !/^-?\d+$/.test(s)) throw bad("must be an integer");
    if (spec.kind === "int" && ((spec.min !== undefined && Number(s) < spec.min) || (spec.max !== undefined && Number(s) > spec.max)))
      throw bad(`must be within ${spec.min}..${spec.max}`);
    if (spec.kind === "path" && (s === "" || s.includes("\0"))) throw bad("must be a path");
    if ((spec.kind === "name" || spec.kind === "table") && !NAME_RE.test(s)) throw bad("must be a name of [A-Za-z0-9_.-]");
    if (spec.kind === "device" && !DEVICE_NAME.test(s)) throw bad("must be a network device's name: [A-Za-z0-9_.-], at most 15 characters");
    if (spec.kind === "table" && !/^[A-Za-z_.]/.test(s)) throw bad("must start with a letter", "choose another name, e.g. 'iptmon'");
    if (spec.kind === "table" && NFT_RESERVED_TABLE_NAMES.includes(s.toLowerCase()))
      throw bad("is a word of nft's syntax, which cannot name a table", "choose another name, e.g. 'iptmon'");
    if (spec.kind === "subnet" && !parseSubnet(s)) throw bad("is not a subnet", "use address/prefix, e.g. 192.168.1.0/24");
    if (spec.choices && !spec.choices.includes(s)) throw bad(`must be one of ${spec.choices.join(", ")}`);
  }
  return spec.list ? values : values[0]!;
}

export function parseBool(s: string | undefined, dflt: boolean): boolean {
  if (s === undefined) return dflt;
  return /^(1|on|yes|true|enabled)$/.test(s);
}

function convert(spec: Spec, s: string): unknown {
  if (spec.kind === "bool") return parseBool(s, false);
  if (spec.kind === "int") return Number(s);
  if (spec.kind === "subnet") return parseSubnet(s)!;
  return s;
}

const camel = (s: string) => s.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());

/** The typed values of validated options: defaults where unset (lists copied), null or [] without one. */
export function typedOptions<T extends Record<string, Spec>>(specs: T, set: Map<string, string | string[]>): Typed<T> {
  const out: Record<string, unknown> = {};
  for (const [opt, spec] of Object.entries(specs) as [string, Spec][]) {
    const v = set.get(opt);
    const field = spec.field ?? camel(opt);
    if (v === undefined) out[field] = spec.list ? [...((spec.default as readonly unknown[] | undefined) ?? [])] : (spec.default ?? null);
    else out[field] = Array.isArray(v) ? v.map((s) => convert(spec, s)) : convert(spec, v);
  }
  return out as Typed<T>;
}

function readSection(file: string, sec: UciSection, specs: Record<string, Spec>, warnings: string[]) {
  const out = new Map<string, string | string[]>();
  for (const [opt, v] of sec.options) {
    const spec = Object.hasOwn(specs, opt) ? specs[opt] : undefined;
    if (!spec) {
      warnings.push(`${file}:${v.line}: unknown option ${quoteValue(opt)} in config ${sec.type} (ignored)`);
      continue;
    }
    out.set(opt, checkValue(file, opt, v, spec));
  }
  return out;
}

const isSectionType = (t: string): t is SectionType => Object.hasOwn(SECTION_SPECS, t);

export function loadConfig(sys: Sys, file: string, explicit: boolean): Config {
  let text: string | null;
  try {
    text = sys.readFile(file);
  } catch (e) {
    // A directory or FIFO named as config: bad input, like a bad value in it.
    if (e instanceof UserError) throw badInput(e.message, "pass a config file with --config or IPTMON_CONFIG");
    throw e;
  }
  if (text === null && explicit) throw badInput(`cannot read config ${shorten(file)}: no such file`, "pass an existing file with --config or IPTMON_CONFIG");
  return parseConfig(text ?? "", file, text !== null);
}

export function parseConfig(text: string, file: string, present = true): Config {
  const pkg = parseUci(text, file);
  const warnings: string[] = [];
  let global = new Map<string, string | string[]>();
  let seenGlobal = false;
  const hosts: HostConfig[] = [];
  const sections: ExporterSection[] = [];
  const serviceSections: UciSection[] = [];
  for (const sec of pkg.sections) {
    if (sec.type === "iptmon") {
      if (seenGlobal) warnings.push(`${file}:${sec.line}: a second 'config iptmon' section (ignored)`);
      else global = readSection(file, sec, GLOBAL_OPTIONS, warnings);
      seenGlobal = true;
    } else if (sec.type === "host") {
      try {
        const h = readHost(file, sec, warnings);
        if (h) hosts.push(h);
      } catch (e) {
        warnings.push(`${(e as Error).message} (section skipped)`);
      }
    } else if (sec.type === "service") {
      serviceSections.push(sec);
    } else if (isSectionType(sec.type)) {
      // A bad exporter section must not stop host accounting: skip it, warn.
      try {
        const options = typedOptions(SECTION_SPECS[sec.type], readSection(file, sec, SECTION_SPECS[sec.type], warnings));
        sections.push({ type: sec.type, name: sec.name, line: sec.line, options } as ExporterSection);
      } catch (e) {
        warnings.push(`${(e as Error).message} (section skipped)`);
      }
    } else {
      warnings.push(`${file}:${sec.line}: unknown section type ${quoteValue(sec.type)} (ignored)`);
    }
  }
  const typed = typedOptions(GLOBAL_OPTIONS, global);
  // Subnets given alone replace the br-lan default; both given add up.
  if (!global.has("lan_interface") && typed.lanSubnets.length > 0) typed.lanInterfaces = [];
  // A bad class is an error, not a skipped section: the split would shift under the owner's feet.
  // The built-in ones are checked only where they are used (a process that reads no split pays nothing).
  const services = serviceSections.length ? readServices(file, serviceSections, warnings) : typed.breakdown.includes("service") ? defaultServices() : [];
  return { ...typed, file, present, options: global, hosts, sections, services, warnings };
}

function readHost(file: string, sec: UciSection, warnings: string[]): HostConfig | null {
  const o = typedOptions(HOST_OPTIONS, readSection(file, sec, HOST_OPTIONS, warnings));
  const where = `${file}:${sec.line}`;
  const mac = o.mac === null ? null : parseMac(o.mac);
  if (o.mac !== null && !mac) throw badInput(`${where}: config host: option 'mac' is not a MAC address: ${quoteValue(o.mac)}`);
  const addresses: string[] = [];
  for (const s of o.ip) {
    const a = parseAddress(s);
    if (!a) throw badInput(`${where}: config host: option 'ip' is not an address: ${quoteValue(s)}`);
    addresses.push(a.text);
  }
  if (!mac && !o.name) throw badInput(`${where}: config host needs option 'mac' or option 'name'`);
  return { mac, name: o.name, ignore: o.ignore, addresses };
}
