/** Addresses: parsing, canonical forms, and which ones iptmon may track. */

export type Family = 4 | 6;

export interface Address {
  family: Family;
  /** Canonical text: dotted quad, or RFC 5952 compressed IPv6 (as nft prints it). */
  text: string;
  bytes: Uint8Array;
}

export interface Subnet {
  family: Family;
  bytes: Uint8Array;
  prefix: number;
  text: string;
}

const DOT = 0x2e;
const ZERO = 0x30;

const MAC_RE = /^[0-9a-f]{2}([:-][0-9a-f]{2}){5}$/i;

/** `aa:bb:cc:dd:ee:ff` in lower case, or null. Accepts `-` as separator. */
export function parseMac(s: string): string | null {
  const t = s.trim();
  if (!MAC_RE.test(t)) return null;
  const mac = t.toLowerCase().replaceAll("-", ":");
  if (mac === "00:00:00:00:00:00" || mac === "ff:ff:ff:ff:ff:ff") return null;
  return mac;
}

/** Four dot-separated decimal bytes of 1–3 digits, no leading zero; read character by character (a lease file has thousands). */
function parseV4(s: string): Uint8Array | null {
  const out = new Uint8Array(4);
  let part = 0;
  let start = 0;
  let n = 0;
  for (let i = 0; i <= s.length; i++) {
    const c = i < s.length ? s.charCodeAt(i) : DOT;
    if (c === DOT) {
      const len = i - start;
      if (part === 4 || len < 1 || len > 3 || (len > 1 && s.charCodeAt(start) === ZERO) || n > 255) return null;
      out[part++] = n;
      n = 0;
      start = i + 1;
    } else if (c >= ZERO && c <= ZERO + 9) n = n * 10 + (c - ZERO);
    else return null;
  }
  return part === 4 ? out : null;
}

function parseV6(s: string): Uint8Array | null {
  if (!/^[0-9a-fA-F:.]+$/.test(s) || s.length > 45) return null;
  let tail: Uint8Array | null = null;
  let body = s;
  if (s.includes(".")) {
    const i = s.lastIndexOf(":");
    tail = parseV4(s.slice(i + 1));
    if (!tail) return null;
    body = `${s.slice(0, i + 1)}0:0`;
  }
  const halves = body.split("::");
  if (halves.length > 2) return null;
  const groups = (h: string) => (h === "" ? [] : h.split(":"));
  const head = groups(halves[0]!);
  const rest = halves.length === 2 ? groups(halves[1]!) : [];
  const total = head.length + rest.length;
  if (halves.length === 1 ? total !== 8 : total > 7) return null;
  const all = [...head, ...Array<string>(8 - total).fill("0"), ...rest];
  const out = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    const g = all[i]!;
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
    const n = Number.parseInt(g, 16);
    out[2 * i] = n >> 8;
    out[2 * i + 1] = n & 0xff;
  }
  if (tail) out.set(tail, 12);
  return out;
}

function formatV6(b: Uint8Array): string {
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push((b[2 * i]! << 8) | b[2 * i + 1]!);
  // RFC 5952: compress the longest run (>= 2) of zero groups, the first on ties.
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (xs: number[]) => xs.map((x) => x.toString(16)).join(":");
  if (bestStart < 0) return hex(g);
  return `${hex(g.slice(0, bestStart))}::${hex(g.slice(bestStart + bestLen))}`;
}

/** An address's canonical text from its 4 or 16 bytes (as parseAddress writes it), or null for another length. */
export function addressText(b: Uint8Array): string | null {
  if (b.length === 4) return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
  return b.length === 16 ? formatV6(b) : null;
}

/** Parses an IPv4 or IPv6 address (a `%zone` suffix is refused). */
export function parseAddress(s: string): Address | null {
  const t = s.trim();
  if (t.includes(":")) {
    const b = parseV6(t);
    return b ? { family: 6, bytes: b, text: formatV6(b) } : null;
  }
  const b = parseV4(t);
  return b ? { family: 4, bytes: b, text: `${b[0]}.${b[1]}.${b[2]}.${b[3]}` } : null;
}

export function parseSubnet(s: string): Subnet | null {
  const [a, p, extra] = s.trim().split("/");
  if (a === undefined || extra !== undefined) return null;
  const addr = parseAddress(a);
  if (!addr) return null;
  const max = addr.family === 4 ? 32 : 128;
  const prefix = p === undefined ? max : /^\d{1,3}$/.test(p) ? Number(p) : NaN;
  if (!(prefix >= 0 && prefix <= max)) return null;
  const bytes = Uint8Array.from(addr.bytes);
  for (let bit = prefix; bit < max; bit++) bytes[bit >> 3]! &= ~(0x80 >> (bit & 7));
  const base = parseAddress(addr.family === 4 ? Array.from(bytes).join(".") : formatV6(bytes))!;
  return { family: addr.family, bytes, prefix, text: `${base.text}/${prefix}` };
}

export function inSubnet(a: Address, n: Subnet): boolean {
  if (a.family !== n.family) return false;
  // Whole bytes of the prefix, then the bits of a byte it ends inside.
  const whole = n.prefix >> 3;
  for (let i = 0; i < whole; i++) if (a.bytes[i] !== n.bytes[i]) return false;
  const m = (0xff00 >> (n.prefix & 7)) & 0xff;
  return m === 0 || (a.bytes[whole]! & m) === (n.bytes[whole]! & m);
}

const NEVER_TRACKED = [
  "0.0.0.0/8", // unspecified / "this network"
  "127.0.0.0/8", // loopback
  "169.254.0.0/16", // link-local
  "224.0.0.0/4", // multicast
  "240.0.0.0/4", // reserved, and 255.255.255.255 broadcast
  "::/128",
  "::1/128",
  "::ffff:0:0/96", // v4-mapped: the packet is counted as IPv4
  "fe80::/10",
  "ff00::/8",
].map((s) => parseSubnet(s)!);

/** Why an address can never be tracked, or null when it can. */
export function untrackableReason(a: Address): string | null {
  for (const n of NEVER_TRACKED) if (inSubnet(a, n)) return `${a.text} is not a unicast host address`;
  return null;
}

/** The broadcast address of a subnet is not a host either. */
export function isSubnetBroadcast(a: Address, n: Subnet): boolean {
  if (a.family !== 4 || n.family !== 4 || n.prefix >= 31 || !inSubnet(a, n)) return false;
  // Every host bit set: those of the byte the prefix ends in, then whole bytes.
  const at = n.prefix >> 3;
  const m = 0xff >> (n.prefix & 7);
  if ((a.bytes[at]! & m) !== m) return false;
  for (let i = at + 1; i < 4; i++) if (a.bytes[i] !== 0xff) return false;
  return true;
}

/** A DHCPv6 client DUID as dnsmasq prints it: hex bytes separated by colons. */
export function parseDuid(s: string): string | null {
  const t = s.trim().toLowerCase();
  return /^[0-9a-f]{2}(:[0-9a-f]{2}){1,129}$/.test(t) ? t : null;
}
