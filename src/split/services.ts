/**
 * Service classes: what a host's traffic is, told by the remote side's
 * protocol and port (the destination port of what a host sends, the source
 * port of what it receives), from `config service` sections. Without any,
 * the built-in list below applies (an older config kept across an upgrade
 * has none). Each port belongs to one class; what no class lists is `other`.
 */
import { badInput, quoteValue } from "../errors.ts";
import { sanitizeName } from "../model.ts";
import type { UciSection } from "../uci.ts";

export type Proto = "tcp" | "udp";

export interface PortRange {
  proto: Proto;
  lo: number;
  hi: number;
}

export interface ServiceClass {
  name: string;
  /** The class's number in the kernel's counting (see serviceId). */
  id: number;
  matches: PortRange[];
}

/**
 * Part names that are not services: a host's traffic outside every class,
 * the two families, and what it counted before the split began.
 */
export const OTHER = "other";
export const UNSPLIT = "unsplit";
export const RESERVED = [OTHER, UNSPLIT, "ipv4", "ipv6"] as const;

/** How many classes the kernel's layout takes. */
export const MAX_SERVICES = 64;

/**
 * Built in, after nlbwmon's protocol list and what luci-app-nlbwmon shows:
 * `list match` lines an owner recognises, one class per kind of use.
 */
export const DEFAULT_SERVICES: readonly { name: string; match: readonly string[] }[] = [
  { name: "web", match: ["tcp/80", "tcp/443", "tcp/8080", "tcp/8443"] },
  { name: "quic", match: ["udp/443", "udp/80"] },
  { name: "dns", match: ["udp/53", "tcp/53"] },
  { name: "dns-tls", match: ["tcp/853", "udp/853"] },
  { name: "mail", match: ["tcp/25", "tcp/465", "tcp/587", "tcp/110", "tcp/995", "tcp/143", "tcp/993"] },
  { name: "ssh", match: ["tcp/22"] },
  { name: "vpn", match: ["udp/1194", "tcp/1194", "udp/51820", "udp/500", "udp/4500", "tcp/1723", "udp/1701"] },
  { name: "ntp", match: ["udp/123"] },
  { name: "streaming", match: ["tcp/1935", "tcp/554", "udp/554", "tcp/4070"] },
  { name: "calls", match: ["udp/3478-3481", "udp/5060", "tcp/5060", "udp/8801-8810", "udp/19302-19309"] },
  { name: "games", match: ["udp/3074", "tcp/3074", "tcp/25565", "udp/27000-27100", "tcp/27015-27030"] },
  { name: "p2p", match: ["tcp/6881-6889", "udp/6881-6889"] },
];

const MATCH_RE = /^(tcp|udp)\/([0-9]{1,5})(?:-([0-9]{1,5}))?$/;

/** A `list match` value (`tcp/443`, `udp/27000-27100`), or null when it is not one. */
export function parseMatch(s: string): PortRange | null {
  const m = MATCH_RE.exec(s);
  if (!m) return null;
  const lo = Number(m[2]);
  const hi = m[3] === undefined ? lo : Number(m[3]);
  if (lo < 1 || hi > 65535 || lo > hi) return null;
  return { proto: m[1] as Proto, lo, hi };
}

/**
 * A class's number: FNV-1a of its lower-cased name, so a class keeps it
 * whatever is added or removed around it (the kernel's counts are keyed by
 * it). 0 and 6 are not classes' (6 is all of a host's IPv6).
 */
export function serviceId(name: string): number {
  let h = 0x811c9dc5;
  for (const c of name.toLowerCase()) h = Math.imul(h ^ c.charCodeAt(0), 0x01000193) >>> 0;
  return h;
}
export const IPV6_ID = 6;

interface Source {
  name: string;
  match: readonly { value: string; line: number }[];
  line: number;
}

/** `config service` sections, checked: each a clear error with file and line (exit 2), nothing half-taken. */
export function readServices(file: string, sections: readonly UciSection[], warnings: string[]): ServiceClass[] {
  const sources: Source[] = [];
  for (const sec of sections) {
    const where = `${file}:${sec.line}`;
    let raw: string | null = null;
    const match: { value: string; line: number }[] = [];
    for (const [opt, v] of sec.options) {
      if (opt === "name") {
        if (Array.isArray(v.value)) throw badInput(`cannot read ${file}:${v.line}: option 'name' is not a list`);
        raw = v.value;
      } else if (opt === "match") {
        const values = Array.isArray(v.value) ? v.value : [v.value];
        values.forEach((s, i) => match.push({ value: s, line: v.lines?.[i] ?? v.line }));
      } else warnings.push(`${file}:${v.line}: unknown option ${quoteValue(opt)} in config service (ignored)`);
    }
    if (raw === null) throw badInput(`cannot read ${where}: config service needs option 'name'`);
    const name = sanitizeName(raw, null);
    if (!name) throw badInput(`cannot read ${where}: config service: option 'name' has no usable character: ${quoteValue(raw)}`, "use letters, digits, '.', '_' and '-'");
    if (name !== raw) warnings.push(`${where}: config service name ${quoteValue(raw)} is used as ${quoteValue(name)}`);
    if (match.length === 0) throw badInput(`cannot read ${where}: config service '${name}' needs at least one list match (e.g. 'tcp/443')`);
    sources.push({ name, match, line: sec.line });
  }
  return checkServices(file, sources);
}

/** The built-in classes. */
export function defaultServices(): ServiceClass[] {
  return checkServices("(built-in)", DEFAULT_SERVICES.map((s) => ({ name: s.name, line: 0, match: s.match.map((value) => ({ value, line: 0 })) })));
}

function checkServices(file: string, sources: readonly Source[]): ServiceClass[] {
  if (sources.length > MAX_SERVICES)
    throw badInput(`cannot read ${file}:${sources[MAX_SERVICES]!.line}: more than ${MAX_SERVICES} config service sections`, "merge some classes");
  const byName = new Map<string, Source>();
  const byId = new Map<number, Source>();
  const claimed: { range: PortRange; name: string; line: number }[] = [];
  const out: ServiceClass[] = [];
  for (const s of sources) {
    const where = `${file}:${s.line}`;
    const lower = s.name.toLowerCase();
    if ((RESERVED as readonly string[]).includes(lower)) throw badInput(`cannot read ${where}: config service cannot be named '${s.name}': iptmon names that part itself`);
    const dup = byName.get(lower);
    if (dup) throw badInput(`cannot read ${where}: config service '${s.name}' is named again (first at line ${dup.line})`, "names are unique, ignoring case");
    byName.set(lower, s);
    const id = serviceId(s.name);
    const clash = byId.get(id);
    if (id === 0 || id === IPV6_ID || clash)
      throw badInput(`cannot read ${where}: config service '${s.name}' hashes to the same number as ${clash ? `'${clash.name}'` : "a part of iptmon's"}`, "rename one of them");
    byId.set(id, s);
    const matches: PortRange[] = [];
    for (const m of s.match) {
      const r = parseMatch(m.value);
      if (!r) throw badInput(`cannot read ${file}:${m.line}: config service '${s.name}': match ${quoteValue(m.value)} is not protocol/port`, "use tcp/PORT, udp/PORT or tcp/LOW-HIGH, e.g. 'tcp/443' or 'udp/27000-27100'");
      const over = claimed.find((c) => c.range.proto === r.proto && c.range.lo <= r.hi && r.lo <= c.range.hi);
      if (over)
        throw badInput(
          `cannot read ${file}:${m.line}: config service '${s.name}': match ${quoteValue(m.value)} overlaps ${rangeText(over.range)} of '${over.name}'${over.line ? ` (line ${over.line})` : ""}`,
          "each port belongs to one service",
        );
      claimed.push({ range: r, name: s.name, line: m.line });
      matches.push(r);
    }
    out.push({ name: s.name, id, matches });
  }
  return out;
}

export const rangeText = (r: PortRange) => `${r.proto}/${r.lo === r.hi ? r.lo : `${r.lo}-${r.hi}`}`;
