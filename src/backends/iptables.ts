/**
 * iptables (fw3 routers, and what collectd's iptables plugin reads): chains
 * `iptmon_rx` and `iptmon_tx` in table mangle, jumped to from FORWARD, one
 * RETURN rule per host address commented `rx_<name>` / `tx_<name>`; the same
 * chains in ip6tables for IPv6. A host's counters are the sum of its rules.
 *
 * Where the host key lives: in a third chain, `iptmon_hosts`, that nothing
 * jumps to: one rule per host commented `iptmon: <key> <name>`, in both
 * families. Why not the alternatives:
 * - a second comment match on each counting rule: collectd's plugin
 *   dispatches one value per comment match of a rule (it iterates every
 *   match), so every host would grow a second, bogus type instance
 *   (`iptmon: aa:bb:…`) next to `rx_<name>` in the graphs;
 * - a state file under /var/run: it and the kernel go out of step whenever
 *   something else changes the rules (a fw3 restart flushes mangle, someone
 *   runs `iptables -F`), and it needs its own atomic update. A chain in the
 *   same table is written by the same restore transaction as the counting
 *   rules, is flushed together with them, and is read by the same
 *   `iptables-save`: the kernel stays the only state, as with nftables.
 * collectd reads only the chains it is configured with, so it never sees
 * `iptmon_hosts`, and a chain nothing jumps to costs no packet any time.
 *
 * Every change is one `iptables-restore --noflush --counters` per family.
 * Events change single rules (`-D` of the exact rule, `-A` with `[p:b]`):
 * libiptc carries the counters of untouched rules across the table swap
 * exactly, so an event loses no packets. Init re-declares the chains, which
 * flushes them, and re-adds every rule with the counters just read.
 */
import { parseAddress, type Family } from "../addr.ts";
import type { Config } from "../config.ts";
import { badInput, failure } from "../errors.ts";
import { familyOf, SAFE_NAME, sortAddresses, sortHosts, type Applied, type CountedHost, type Counter, type Host } from "../model.ts";
import type { RunResult, Sys } from "../sys.ts";
import type { ApplyOptions, Backend } from "./backend.ts";

/** iptmon's chains: `<prefix>_hosts`, `<prefix>_rx`, `<prefix>_tx` (prefix: option table, default iptmon). */
export interface IptChains {
  hosts: string;
  rx: string;
  tx: string;
}
type Role = keyof IptChains;
/** Declaration order in restore input: the keys before the counters, for a person reading it. */
const ROLES = ["hosts", "rx", "tx"] as const;
/** iptables allows 28 characters in a chain name; `_hosts` takes 6. */
const PREFIX_RE = /^[A-Za-z0-9_.-]{1,22}$/;

export function chainsFor(prefix: string): IptChains {
  return { hosts: `${prefix}_hosts`, rx: `${prefix}_rx`, tx: `${prefix}_tx` };
}
export const DEFAULT_CHAINS = chainsFor("iptmon");
export const KEY_PREFIX = "iptmon: ";

type Dir = "rx" | "tx";
const DIRS = ["rx", "tx"] as const;
// rx: the router received it from the host, so the host is the source.
const MATCH_OF: Record<Dir, string> = { rx: "-s", tx: "-d" };

// Names and keys are already reduced to these characters by the core; the
// guards make sure nothing else can ever reach a restore batch, where one bad
// line would abort every change of the table.
const SAFE_KEY = /^[A-Za-z0-9:._-]{1,200}$/;

/** One counting rule: `-A iptmon_<dir> -s|-d <addr> -m comment --comment "<dir>_<name>" -j RETURN`. */
export interface IptRule {
  dir: Dir;
  /** Canonical address text, without the /32 or /128. */
  addr: string;
  name: string;
  packets: number;
  bytes: number;
}

/** What one family's `iptables-save -c -t mangle` says about iptmon. */
export interface IptFamilyState {
  /** Which of iptmon's chains exist. */
  chains: Role[];
  /** How many plain `-A FORWARD -j iptmon_<dir>` rules there are. */
  jumps: Record<Dir, number>;
  rules: IptRule[];
  /** The `iptmon_hosts` entries, in chain order. */
  keys: { key: string; name: string }[];
  /** Rules in iptmon's chains that are not of iptmon's making (removed on init). */
  strays: string[];
}

/** What the iptables backend read: the hosts, plus each family's rules for the renderer. */
export interface IptApplied extends Applied {
  families: Partial<Record<Family, IptFamilyState>>;
}

export interface IptRender {
  v4: string;
  v6: string;
}

// ------------------------------------------------------------------ parse

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

function emptyFamily(): IptFamilyState {
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
function familyComplete(st: IptFamilyState | undefined): boolean {
  return st !== undefined && ROLES.every((c) => st.chains.includes(c)) && st.jumps.rx > 0 && st.jumps.tx > 0;
}

/**
 * name -> key over every family's key chain, IPv4 first; a name claimed twice
 * keeps its first key. A key may have two names when the families disagree
 * (one family's restore failed in a rename): both names' rules stay the
 * host's, and the next change renames them all.
 */
function keyByName(families: Partial<Record<Family, IptFamilyState>>): Map<string, string> {
  const m = new Map<string, string>();
  for (const f of [4, 6] as const) for (const k of families[f]?.keys ?? []) if (!m.has(k.name)) m.set(k.name, k.key);
  return m;
}

/** The hosts of the managed families: keys from `iptmon_hosts`, counters summed over each host's rules. Pure. */
export function combineFamilies(families: Partial<Record<Family, IptFamilyState>>): IptApplied {
  const managed = ([4, 6] as const).filter((f) => families[f] !== undefined);
  const present = managed.length > 0 && managed.every((f) => familyComplete(families[f]));
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
  return { present, hosts: list, strayCounters: strays, families };
}

// ------------------------------------------------------------------ render

function isIptApplied(a: Applied): a is IptApplied {
  return "families" in a && typeof (a as IptApplied).families === "object";
}

/** An argument as iptables-restore reads it: always quoted, `"` and `\` escaped. */
function quote(s: string): string {
  return `"${s.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

function safeName(name: string): string {
  if (!SAFE_NAME.test(name)) throw new Error(`unsafe host name reached the iptables renderer: ${JSON.stringify(name)}`);
  return name;
}

function ruleSpec(r: { dir: Dir; addr: string; name: string }, ch: IptChains): string {
  const a = parseAddress(r.addr);
  if (!a || a.text !== r.addr) throw new Error(`unsafe address reached the iptables renderer: ${JSON.stringify(r.addr)}`);
  return `-A ${ch[r.dir]} ${MATCH_OF[r.dir]} ${a.text}/${a.family === 4 ? 32 : 128} -m comment --comment ${quote(`${r.dir}_${safeName(r.name)}`)} -j RETURN`;
}

function keySpec(k: { key: string; name: string }, ch: IptChains): string {
  if (!SAFE_KEY.test(k.key)) throw new Error(`unsafe host key reached the iptables renderer: ${JSON.stringify(k.key)}`);
  return `-A ${ch.hosts} -m comment --comment ${quote(`${KEY_PREFIX}${k.key} ${safeName(k.name)}`)} -j RETURN`;
}

function counted(c: Counter): string {
  if (!Number.isSafeInteger(c.packets) || !Number.isSafeInteger(c.bytes) || c.packets < 0 || c.bytes < 0)
    throw new Error(`bad counter reached the iptables renderer: ${JSON.stringify(c)}`);
  return `[${c.packets}:${c.bytes}]`;
}

const deleted = (spec: string) => `-D ${spec.slice(3)}`;

/**
 * The rules `desired` needs, each with the counters it starts from. An
 * address that stays with its host (found by key, so a rename too) keeps its
 * rule's counters. An address a host loses hands its counters to another of
 * that host's rules (same family first), so a host's totals never drop while
 * it exists. A rule left by a keyless iptmon (the shell one: same chains and
 * comments) is adopted by name. Pure.
 */
export function planRules(current: IptApplied, desired: Host[], families: Family[]): (IptRule & { family: Family })[] {
  const byName = keyByName(current.families);
  const pool = new Map<string, Counter>();
  const tag = (f: Family, dir: Dir, addr: string, owner: string) => `${f}|${dir}|${addr}|${owner}`;
  const retiredOf = new Map<string, { family: Family; dir: Dir; c: Counter }[]>(); // key -> leftovers
  const poolOwner = new Map<string, { key: string | null; family: Family; dir: Dir }>();
  for (const f of families)
    for (const r of current.families[f]?.rules ?? []) {
      const key = byName.get(r.name) ?? null;
      const t = tag(f, r.dir, r.addr, key ?? `name:${r.name}`);
      const c = pool.get(t) ?? { packets: 0, bytes: 0 };
      pool.set(t, { packets: c.packets + r.packets, bytes: c.bytes + r.bytes });
      poolOwner.set(t, { key, family: f, dir: r.dir });
    }
  const out: (IptRule & { family: Family })[] = [];
  for (const h of desired)
    for (const addr of h.addresses) {
      const f = familyOf(addr);
      if (!families.includes(f)) continue;
      for (const dir of DIRS) {
        let c: Counter = { packets: 0, bytes: 0 };
        for (const t of [tag(f, dir, addr, h.key), tag(f, dir, addr, `name:${h.name}`)]) {
          const got = pool.get(t);
          if (!got) continue;
          c = { packets: c.packets + got.packets, bytes: c.bytes + got.bytes };
          pool.delete(t);
        }
        out.push({ family: f, dir, addr, name: h.name, ...c });
      }
    }
  for (const [t, c] of pool) {
    const o = poolOwner.get(t)!;
    if (o.key === null || (c.packets === 0 && c.bytes === 0)) continue;
    retiredOf.set(o.key, [...(retiredOf.get(o.key) ?? []), { family: o.family, dir: o.dir, c }]);
  }
  for (const h of desired) {
    for (const { family, dir, c } of retiredOf.get(h.key) ?? []) {
      const mine = out.filter((r) => r.name === h.name && r.dir === dir);
      const target = mine.find((r) => r.family === family) ?? mine[0];
      if (!target) continue; // the host kept no address iptmon can count: nothing to carry into
      target.packets += c.packets;
      target.bytes += c.bytes;
    }
  }
  return out;
}

function renderFamily(
  f: Family,
  st: IptFamilyState,
  want: (IptRule & { family: Family })[],
  desired: Host[],
  owned: Map<string, string>,
  rebuild: boolean,
  ch: IptChains,
): string {
  const out: string[] = [];
  const wantKeys = desired.map((h) => ({ key: h.key, name: h.name }));
  const rules = want.filter((r) => r.family === f);
  if (rebuild) {
    // Declaring a chain in --noflush input flushes it: the whole of iptmon's
    // part is re-declared, and nothing else of mangle is named.
    for (const c of ROLES) out.push(`:${ch[c]} - [0:0]`);
    for (const dir of DIRS) for (let n = st.jumps[dir]; n > 1; n--) out.push(`-D FORWARD -j ${ch[dir]}`);
    // First in FORWARD, so no verdict of another package's rule hides a packet.
    for (const dir of ["tx", "rx"] as const) if (st.jumps[dir] === 0) out.push(`-I FORWARD 1 -j ${ch[dir]}`);
    for (const k of wantKeys) out.push(keySpec(k, ch));
    for (const r of rules) out.push(`${counted(r)} ${ruleSpec(r, ch)}`);
  } else {
    const dels: string[] = [];
    const adds: string[] = [];
    const wantKey = new Set(wantKeys.map((k) => keySpec(k, ch)));
    const haveKey = new Set<string>();
    for (const k of st.keys) {
      const s = keySpec(k, ch);
      if (wantKey.has(s) && !haveKey.has(s)) haveKey.add(s);
      else dels.push(deleted(s));
    }
    for (const s of wantKey) if (!haveKey.has(s)) adds.push(s);
    const wantRule = new Map(rules.map((r) => [ruleSpec(r, ch), r]));
    const kept = new Set<string>();
    for (const r of st.rules) {
      const s = ruleSpec(r, ch);
      const w = wantRule.get(s);
      if (w && !kept.has(s) && w.packets === r.packets && w.bytes === r.bytes) kept.add(s);
      // A rule of no known host is not an event's business: init clears it.
      else if (owned.has(r.name)) dels.push(deleted(s));
    }
    for (const [s, r] of wantRule) if (!kept.has(s)) adds.push(`${counted(r)} ${s}`);
    out.push(...dels, ...adds);
  }
  return out.length ? `*mangle\n${out.join("\n")}\nCOMMIT\n` : "";
}

/**
 * The iptables-restore input (one per family, "" for nothing to do) that
 * turns `current` into `desired`. Pure. Rebuilds when asked to, or when a
 * family lacks a chain or a jump.
 */
export function renderIptables(current: Applied, desired: Host[], opts: ApplyOptions, families: Family[] = [4, 6], ch: IptChains = DEFAULT_CHAINS): IptRender {
  const cur: IptApplied = isIptApplied(current) ? current : { ...current, families: {} };
  const want = planRules(cur, desired, families);
  const owned = keyByName(cur.families);
  const res: IptRender = { v4: "", v6: "" };
  for (const f of families) {
    const st = cur.families[f] ?? emptyFamily();
    const rebuild = opts.rebuild || !cur.present || !familyComplete(cur.families[f]);
    res[f === 4 ? "v4" : "v6"] = renderFamily(f, st, want, desired, owned, rebuild, ch);
  }
  return res;
}

/** Input that deletes the jumps and iptmon's chains of one family; "" when none is there. Pure. */
export function renderIptablesRemove(st: IptFamilyState, ch: IptChains = DEFAULT_CHAINS): string {
  const out: string[] = [];
  for (const dir of DIRS) for (let n = st.jumps[dir]; n > 0; n--) out.push(`-D FORWARD -j ${ch[dir]}`);
  const chains = ROLES.filter((c) => st.chains.includes(c)).map((c) => ch[c]);
  // Flushed first (by declaring them): a chain must be empty to be deleted.
  for (const c of chains) out.push(`:${c} - [0:0]`);
  for (const c of chains) out.push(`-X ${c}`);
  return out.length ? `*mangle\n${out.join("\n")}\nCOMMIT\n` : "";
}

/** Both families' inputs as one text, for `iptmon print`; iptables-restore skips the # lines. */
export function joinRender(r: IptRender): string {
  const parts: string[] = [];
  if (r.v4) parts.push(`# iptables-restore --noflush --counters\n${r.v4}`);
  if (r.v6) parts.push(`# ip6tables-restore --noflush --counters\n${r.v6}`);
  return parts.join("");
}

// ------------------------------------------------------------------ apply

type Tool = "restore" | "save";

/** How long iptables-restore waits for the xtables lock (fw3 holds it while it runs). */
const XTABLES_WAIT_S = "10";

/**
 * The binaries: an explicit option wins; `option iptables` names the family
 * whose -restore/-save are used; else the -legacy variants (collectd's plugin
 * reads the legacy tables only), else plain iptables-restore/-save.
 */
function toolCandidates(cfg: Config, f: Family, tool: Tool): string[] {
  const base = f === 4 ? "iptables" : "ip6tables";
  const explicit = cfg.options.get(`${base}_${tool}`);
  if (typeof explicit === "string") return [explicit];
  const main = cfg.options.get(base);
  if (typeof main === "string") return [`${main}-${tool}`];
  return [`${base}-legacy-${tool}`, `${base}-${tool}`];
}

export function createIptBackend(sys: Sys, cfg: Config): Backend {
  const families: Family[] = cfg.ipv6 ? [4, 6] : [4];
  if (!PREFIX_RE.test(cfg.table))
    throw badInput(`cannot use option table '${cfg.table}' as a prefix of iptables chain names: over 22 characters`, "choose a shorter option table");
  const ch = chainsFor(cfg.table);
  const resolved = new Map<string, string>();
  const label = (f: Family) => (f === 4 ? "IPv4" : "IPv6");

  /** Runs a tool, falling back to the next candidate while one is missing. */
  const run = (f: Family, tool: Tool, args: string[], input?: string): RunResult & { bin: string } => {
    const id = `${f}${tool}`;
    const cands = resolved.has(id) ? [resolved.get(id)!] : toolCandidates(cfg, f, tool);
    let r: RunResult = { code: 127, stdout: "", stderr: "" };
    for (const bin of cands) {
      r = sys.run(bin, args, input);
      if (r.code !== 127) {
        resolved.set(id, bin);
        return { ...r, bin };
      }
    }
    throw failure(
      `cannot run ${cands.join(" or ")}: not found`,
      `install iptables${f === 6 ? " (ip6tables)" : ""}, set option ${f === 4 ? "iptables" : "ip6tables"}_${tool}${f === 6 ? ", or set option ipv6 '0'" : ""}, or choose --backend nftables`,
    );
  };
  const cause = (r: RunResult) => {
    const lines = r.stderr.split("\n").map((l) => l.trim()).filter((l) => l && !/^Try `/.test(l));
    return lines.slice(0, 2).join("; ") || `exited with ${r.code}`;
  };
  const readFamily = (f: Family): IptFamilyState => {
    const r = run(f, "save", ["-c", "-t", "mangle"]);
    if (r.code !== 0)
      throw failure(`cannot read table mangle (${label(f)}) with ${r.bin}: ${cause(r)}`, f === 6 ? "run as root; without IPv6 here, set option ipv6 '0'" : "run as root");
    return parseIptablesSave(r.stdout, f, ch);
  };
  const restore = (f: Family, input: string, verb: string, test: boolean) => {
    if (input === "") return;
    const args = ["-w", XTABLES_WAIT_S, "--noflush", "--counters", ...(test ? ["--test"] : [])];
    const r = run(f, "restore", args, input);
    if (r.code !== 0) throw failure(`cannot ${verb} (${label(f)}) with ${r.bin}: ${cause(r)}`);
  };
  const render = (current: Applied, desired: Host[], opts: ApplyOptions) => renderIptables(current, desired, opts, families, ch);

  return {
    name: "iptables",
    read() {
      const fams: Partial<Record<Family, IptFamilyState>> = {};
      for (const f of families) fams[f] = readFamily(f);
      return combineFamilies(fams);
    },
    render: (current, desired, opts) => joinRender(render(current, desired, opts)),
    apply(current, desired, opts) {
      const r = render(current, desired, opts);
      // Two families are two transactions: have both checked before either
      // commits, so a refused IPv6 batch cannot leave IPv4 changed alone.
      if (families.includes(6) && r.v4 !== "" && r.v6 !== "") {
        restore(4, r.v4, "check rules for table mangle", true);
        restore(6, r.v6, "check rules for table mangle", true);
      }
      restore(4, r.v4, "apply rules to table mangle", false);
      if (families.includes(6)) restore(6, r.v6, "apply rules to table mangle", false);
    },
    check(current, desired, opts) {
      const r = render(current, desired, opts);
      restore(4, r.v4, "check rules for table mangle", true);
      if (families.includes(6)) restore(6, r.v6, "check rules for table mangle", true);
    },
    remove() {
      // IPv6 too when it is not tracked (option ipv6 '0' set after a start),
      // as long as ip6tables is there at all.
      for (const f of [4, 6] as const) {
        let st: IptFamilyState;
        try {
          st = readFamily(f);
        } catch (e) {
          if (f === 6 && !families.includes(6)) continue;
          throw e;
        }
        restore(f, renderIptablesRemove(st, ch), "remove iptmon's chains from table mangle", false);
      }
    },
  };
}
