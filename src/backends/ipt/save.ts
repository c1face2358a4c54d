/** Reading `iptables-save -c -t mangle` into the backend's state. Pure. */
import { parseAddress, type Family } from "../../addr.ts";
import { SAFE_NAME, sortAddresses, sortHosts, type CountedHost, type Counter } from "../../model.ts";
import { DEFAULT_CHAINS, KEY_PREFIX, MATCH_OF, ROLES, SAFE_KEY, type Dir, type IptChains, type IptFamilyState, type IptState, type Role } from "./layout.ts";


/**
 * Splits one iptables-save line into arguments. iptables-save quotes an
 * argument holding spaces, quotes or backslashes as "…" with \" and \\.
 */
export function splitArgs(line: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < line.length) {
    if (line[i] === " " || line[i] === "\t") {
      i++;
      continue;
    }
    let tok = "";
    let quoted = false;
    while (i < line.length && (quoted || (line[i] !== " " && line[i] !== "\t"))) {
      const c = line[i]!;
      if (c === '"') quoted = !quoted;
      else if (c === "\\" && i + 1 < line.length) tok += line[++i]!;
      else tok += c;
      i++;
    }
    out.push(tok);
  }
  return out;
}

function hostAddress(spec: string, family: Family): string | null {
  const [a, prefix, extra] = spec.split("/");
  if (a === undefined || extra !== undefined) return null;
  const addr = parseAddress(a);
  const full = family === 4 ? "32" : "128";
  if (!addr || addr.family !== family || (prefix !== undefined && prefix !== full)) return null;
  return addr.text;
}

export function emptyFamily(): IptFamilyState {
  return { chains: [], jumps: { rx: 0, tx: 0 }, rules: [], keys: [], strays: [] };
}

/** Parses `iptables-save -c -t mangle` (or ip6tables-save) of one family. Pure. */
export function parseIptablesSave(text: string, family: Family, ch: IptChains = DEFAULT_CHAINS): IptFamilyState {
  const st = emptyFamily();
  const roleOf = (chain: string): Role | undefined => ROLES.find((r) => ch[r] === chain);
  let inMangle = false;
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    if (line.startsWith("*")) {
      inMangle = line === "*mangle";
      continue;
    }
    if (!inMangle) continue;
    if (line.startsWith(":")) {
      const chain = line.slice(1).split(/\s+/)[0]!;
      const role = roleOf(chain);
      if (role) st.chains.push(role);
      continue;
    }
    let counter: Counter = { packets: 0, bytes: 0 };
    let rest = line;
    const m = /^\[(\d+):(\d+)\]\s+(.*)$/.exec(line);
    if (m) {
      counter = { packets: Number(m[1]), bytes: Number(m[2]) };
      rest = m[3]!;
    }
    const a = splitArgs(rest);
    if (a[0] !== "-A" || a.length < 2) continue;
    const chain = a[1]!;
    if (chain === "FORWARD") {
      const target = a.length === 4 && a[2] === "-j" ? roleOf(a[3]!) : undefined;
      if (target === "rx" || target === "tx") st.jumps[target]++;
      continue;
    }
    const role = roleOf(chain);
    if (!role) continue;
    const stray = () => st.strays.push(rest);
    if (role === "hosts") {
      const ok = a.length === 8 && a[2] === "-m" && a[3] === "comment" && a[4] === "--comment" && a[6] === "-j" && a[7] === "RETURN";
      const c = ok ? a[5]! : "";
      const parts = c.startsWith(KEY_PREFIX) ? c.slice(KEY_PREFIX.length).split(" ") : [];
      if (parts.length === 2 && SAFE_KEY.test(parts[0]!) && SAFE_NAME.test(parts[1]!)) st.keys.push({ key: parts[0]!, name: parts[1]! });
      else stray();
      continue;
    }
    const dir: Dir = role;
    const ok =
      a.length === 10 && a[2] === MATCH_OF[dir] && a[4] === "-m" && a[5] === "comment" && a[6] === "--comment" && a[8] === "-j" && a[9] === "RETURN";
    const addr = ok ? hostAddress(a[3]!, family) : null;
    const c = ok ? a[7]! : "";
    const name = c.startsWith(`${dir}_`) ? c.slice(3) : "";
    if (addr && SAFE_NAME.test(name)) st.rules.push({ dir, addr, name, ...counter });
    else stray();
  }
  return st;
}

/** Whether a family has everything iptmon needs: its three chains and both jumps. */
export function familyComplete(st: IptFamilyState | undefined): boolean {
  return st !== undefined && ROLES.every((c) => st.chains.includes(c)) && st.jumps.rx > 0 && st.jumps.tx > 0;
}

/**
 * name -> key over every family's key chain, IPv4 first; a name claimed twice
 * keeps its first key. A key may have two names when the families disagree
 * (one family's restore failed in a rename): both names' rules stay the
 * host's, and the next change renames them all.
 */
export function keyByName(families: Partial<Record<Family, IptFamilyState>>): Map<string, string> {
  const m = new Map<string, string>();
  for (const f of [4, 6] as const) for (const k of families[f]?.keys ?? []) if (!m.has(k.name)) m.set(k.name, k.key);
  return m;
}

/**
 * The hosts of the managed families: keys from `iptmon_hosts`, counters summed
 * over each host's rules. Absent when no family has any of iptmon's chains. Pure.
 */
export function combineFamilies(families: Partial<Record<Family, IptFamilyState>>): IptState {
  const managed = ([4, 6] as const).filter((f) => families[f] !== undefined);
  if (managed.every((f) => families[f]!.chains.length === 0)) return { read: "absent" };
  const complete = managed.every((f) => familyComplete(families[f]));
  const byName = keyByName(families);
  const hosts = new Map<string, CountedHost>(); // by key; named by its first entry
  for (const [name, key] of byName)
    if (!hosts.has(key)) hosts.set(key, { key, name, addresses: [], rx: { packets: 0, bytes: 0 }, tx: { packets: 0, bytes: 0 } });
  const strays: string[] = [];
  for (const f of managed) {
    const st = families[f]!;
    for (const s of st.strays) strays.push(s);
    for (const r of st.rules) {
      const key = byName.get(r.name);
      const h = key === undefined ? undefined : hosts.get(key);
      if (!h) {
        strays.push(`${r.dir}_${r.name} ${r.addr}`);
        continue;
      }
      if (!h.addresses.includes(r.addr)) h.addresses.push(r.addr);
      h[r.dir].packets += r.packets;
      h[r.dir].bytes += r.bytes;
    }
  }
  const list = sortHosts([...hosts.values()].map((h) => ({ ...h, addresses: sortAddresses(h.addresses) })));
  return { read: "full", complete, hosts: list, strays, families };
}
