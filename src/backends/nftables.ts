/**
 * nftables: `table inet <table>` of iptmon's own (fw4 reloads never touch it),
 * a named counter per host and direction, and maps from address to counter so
 * a packet costs one lookup whatever the number of hosts.
 */
import type { Config } from "../config.ts";
import { failure } from "../errors.ts";
import { familyOf, macOf, SAFE_NAME, zeroCounter, type Applied, type CountedHost, type Host } from "../model.ts";
import { findProgram, type Sys } from "../sys.ts";
import type { ApplyOptions, Backend } from "./backend.ts";

export const COMMENT_PREFIX = "iptmon: ";

const MAPS = [
  { name: "rx4", type: "ipv4_addr", dir: "rx", family: 4, match: "ip saddr" },
  { name: "tx4", type: "ipv4_addr", dir: "tx", family: 4, match: "ip daddr" },
  { name: "rx6", type: "ipv6_addr", dir: "rx", family: 6, match: "ip6 saddr" },
  { name: "tx6", type: "ipv6_addr", dir: "tx", family: 6, match: "ip6 daddr" },
] as const;

/**
 * MAC → rx counter, used by no rule: it lets an event find a host by MAC
 * from the maps alone, without listing every counter (the slow part of a
 * read at thousands of hosts).
 */
const KEYS_MAP = "keys";

// Names and keys are already reduced to these characters; the guards make
// sure nothing else can ever reach nft syntax.
const SAFE_COMMENT = /^[A-Za-z0-9:._ -]{1,127}$/;

function counterName(dir: "rx" | "tx", name: string): string {
  if (!SAFE_NAME.test(name)) throw new Error(`unsafe host name reached the nft renderer: ${JSON.stringify(name)}`);
  return `${dir}_${name}`;
}

function comment(key: string): string {
  const c = `${COMMENT_PREFIX}${key}`.slice(0, 127);
  if (!SAFE_COMMENT.test(c)) throw new Error(`unsafe host key reached the nft renderer: ${JSON.stringify(key)}`);
  return c;
}

export interface NftOptions {
  table: string;
  priority: number;
}

/**
 * The nft script that turns `current` into `desired`. Pure. Ordering matters
 * inside the one transaction: elements go before the counters they name are
 * deleted, and counters exist before elements name them.
 */
export function renderNft(current: Applied, desired: Host[], o: NftOptions, opts: ApplyOptions): string {
  const t = `inet ${o.table}`;
  const out: string[] = [];
  const rebuild = opts.rebuild || !current.present;
  if (rebuild) {
    out.push(`table ${t} {`);
    for (const m of MAPS) out.push(`\tmap ${m.name} { type ${m.type} : counter; }`);
    out.push(`\tmap ${KEYS_MAP} { type ether_addr : counter; }`);
    out.push(`\tchain forward { type filter hook forward priority ${o.priority}; policy accept; }`);
    out.push("}");
    out.push(`flush chain ${t} forward`);
    for (const m of MAPS) out.push(`add rule ${t} forward counter name ${m.match} map @${m.name}`);
    // Refilled whole, so elements someone added by hand cannot pin a counter.
    for (const m of [...MAPS, { name: KEYS_MAP }]) out.push(`flush map ${t} ${m.name}`);
  }

  const cur = new Map(current.hosts.map((h) => [h.key, h]));
  const curOwner = new Map<string, string>(); // address -> counter suffix (name)
  if (!rebuild) for (const h of current.hosts) for (const a of h.addresses) curOwner.set(a, h.name);
  const want = new Map<string, string>();
  for (const h of desired) for (const a of h.addresses) want.set(a, h.name);
  const curKey = new Map<string, string>(); // MAC -> name
  if (!rebuild) for (const h of current.hosts) if (macOf(h.key)) curKey.set(h.key, h.name);
  const wantKey = new Map<string, string>();
  for (const h of desired) if (macOf(h.key)) wantKey.set(h.key, h.name);

  const keepCounters = new Set<string>();
  const addCounters: { host: Host; from: CountedHost | undefined }[] = [];
  for (const h of desired) {
    const c = cur.get(h.key);
    if (c && c.name === h.name) keepCounters.add(h.name);
    else addCounters.push({ host: h, from: c });
  }
  // A name reused by another key in the same run is deleted and re-created,
  // so every element naming it is deleted first and added again after.
  const delCounters = current.hosts.filter((h) => !keepCounters.has(h.name)).map((h) => h.name);
  const recreated = new Set(delCounters);
  const stray = rebuild ? current.strayCounters ?? [] : [];

  const delElems: string[] = [];
  const addElems: string[] = [];
  for (const [a, owner] of curOwner) {
    if (want.get(a) !== owner || recreated.has(owner)) delElems.push(a);
  }
  for (const [a, name] of want) {
    if (curOwner.get(a) !== name || recreated.has(name)) addElems.push(a);
  }
  const delKeys = [...curKey].filter(([k, n]) => wantKey.get(k) !== n || recreated.has(n)).map(([k]) => k);
  const addKeys = [...wantKey].filter(([k, n]) => curKey.get(k) !== n || recreated.has(n)).map(([k]) => k);

  for (const m of MAPS) {
    const els = delElems.filter((a) => familyOf(a) === m.family);
    if (els.length) out.push(`delete element ${t} ${m.name} { ${els.join(", ")} }`);
  }
  if (delKeys.length) out.push(`delete element ${t} ${KEYS_MAP} { ${delKeys.join(", ")} }`);
  for (const n of delCounters) for (const dir of ["rx", "tx"] as const) out.push(`delete counter ${t} ${counterName(dir, n)}`);
  for (const n of stray) out.push(`delete counter ${t} ${n}`);
  for (const { host, from } of addCounters) {
    for (const dir of ["rx", "tx"] as const) {
      // A renamed host carries its numbers over to the new counters.
      const c = from?.[dir] ?? zeroCounter();
      out.push(`add counter ${t} ${counterName(dir, host.name)} { packets ${c.packets} bytes ${c.bytes}; comment "${comment(host.key)}"; }`);
    }
  }
  for (const m of MAPS) {
    const els = addElems.filter((a) => familyOf(a) === m.family);
    if (els.length) out.push(`add element ${t} ${m.name} { ${els.map((a) => `${a} : "${counterName(m.dir, want.get(a)!)}"`).join(", ")} }`);
  }
  if (addKeys.length) out.push(`add element ${t} ${KEYS_MAP} { ${addKeys.map((k) => `${k} : "${counterName("rx", wantKey.get(k)!)}"`).join(", ")} }`);
  return out.length ? `${out.join("\n")}\n` : "";
}

interface NftJsonCounter {
  name: string;
  table: string;
  family: string;
  comment?: string;
  packets: number;
  bytes: number;
}
interface NftJsonMap {
  name: string;
  table: string;
  family: string;
  elem?: [string, string][];
}

/** Parses `nft -j list table inet <table>` into hosts. Pure. */
export function parseNftJson(text: string, table: string): Applied {
  const doc = JSON.parse(text) as { nftables?: Record<string, unknown>[] };
  const counters = new Map<string, NftJsonCounter>();
  const owners = new Map<string, string>(); // counter name -> addresses owner
  const addrs = new Map<string, string[]>(); // rx counter name -> addresses
  let present = false;
  for (const obj of doc.nftables ?? []) {
    if ("table" in obj) {
      const tb = obj.table as { name: string; family: string };
      if (tb.name === table && tb.family === "inet") present = true;
    } else if ("counter" in obj) {
      const c = obj.counter as NftJsonCounter;
      if (c.table === table && c.family === "inet") counters.set(c.name, c);
    } else if ("map" in obj) {
      const m = obj.map as NftJsonMap;
      if (m.table !== table || m.family !== "inet" || !m.name.startsWith("rx")) continue;
      for (const e of m.elem ?? []) {
        if (!Array.isArray(e) || typeof e[0] !== "string" || typeof e[1] !== "string") continue;
        owners.set(e[0], e[1]);
        const list = addrs.get(e[1]) ?? [];
        list.push(e[0]);
        addrs.set(e[1], list);
      }
    }
  }
  const hosts: CountedHost[] = [];
  const known = new Set<string>();
  for (const [name, rx] of counters) {
    if (!name.startsWith("rx_") || !rx.comment?.startsWith(COMMENT_PREFIX)) continue;
    const hostName = name.slice(3);
    const tx = counters.get(`tx_${hostName}`);
    if (!tx) continue;
    known.add(name).add(`tx_${hostName}`);
    hosts.push({
      key: rx.comment.slice(COMMENT_PREFIX.length),
      name: hostName,
      addresses: addrs.get(name) ?? [],
      rx: { packets: rx.packets, bytes: rx.bytes },
      tx: { packets: tx.packets, bytes: tx.bytes },
    });
  }
  const strayCounters = [...counters.keys()].filter((n) => !known.has(n));
  return { present, hosts, strayCounters };
}

/**
 * Parses `nft -j list maps inet`: hosts with names, addresses and MAC keys,
 * no counters. A host known only by a DUID or static name gets a key that
 * matches no event (`?<name>`): events for such keys use the full read.
 * Null when it cannot tell: no keys map, or no element at all.
 */
export function parseNftMapsJson(text: string, table: string): Applied | null {
  const doc = JSON.parse(text) as { nftables?: Record<string, unknown>[] };
  const addrs = new Map<string, string[]>(); // rx counter name -> addresses
  const keyOf = new Map<string, string>(); // rx counter name -> MAC
  let maps = 0;
  let keys = false;
  for (const obj of doc.nftables ?? []) {
    if (!("map" in obj)) continue;
    const m = obj.map as NftJsonMap;
    if (m.table !== table || m.family !== "inet") continue;
    if (m.name === KEYS_MAP) keys = true;
    else if (m.name.startsWith("rx")) maps++;
    else continue;
    for (const e of m.elem ?? []) {
      if (!Array.isArray(e) || typeof e[0] !== "string" || typeof e[1] !== "string") continue;
      if (m.name === KEYS_MAP) keyOf.set(e[1], e[0]);
      else addrs.set(e[1], [...(addrs.get(e[1]) ?? []), e[0]]);
    }
  }
  if (maps === 0) return { present: false, hosts: [], partial: true };
  // No keys map: laid out by an older iptmon. No element at all: an empty
  // table, or an nft whose `list maps` leaves elements out; either way the
  // full read is cheap or necessary.
  if (!keys || addrs.size === 0) return null;
  const hosts: CountedHost[] = [...addrs].map(([counter, addresses]) => {
    const name = counter.slice(3);
    return { key: keyOf.get(counter) ?? `?${name}`, name, addresses, rx: zeroCounter(), tx: zeroCounter() };
  });
  return { present: true, hosts, partial: true };
}

export function createNftBackend(sys: Sys, cfg: Config, priority: number): Backend {
  const o: NftOptions = { table: cfg.table, priority };
  const nft = (args: string[], input?: string) => sys.run(cfg.nft, args, input);
  const fail = (verb: string, r: { code: number; stderr: string }) => {
    if (r.code === 127) return failure(`cannot ${verb}: ${cfg.nft} not found`, "install nftables or choose --backend iptables");
    return failure(`cannot ${verb}: ${r.stderr.trim().split("\n")[0] || `nft exited with ${r.code}`}`);
  };
  const backend: Backend = {
    name: "nftables",
    read() {
      const r = nft(["-j", "list", "table", "inet", o.table]);
      if (r.code !== 0) {
        if (/No such file or directory/.test(r.stderr)) return { present: false, hosts: [] };
        throw fail(`read table inet ${o.table}`, r);
      }
      return parseNftJson(r.stdout, o.table);
    },
    readForEvent() {
      const r = nft(["-j", "list", "maps", "inet"]);
      if (r.code !== 0) throw fail(`read maps of table inet ${o.table}`, r);
      return parseNftMapsJson(r.stdout, o.table);
    },
    render: (current, desired, opts) => renderNft(current, desired, o, opts),
    apply(current, desired, opts) {
      const script = renderNft(current, desired, o, opts);
      if (script === "") return;
      const r = nft(["-f", "-"], script);
      if (r.code !== 0) throw fail(`apply ruleset to table inet ${o.table}`, r);
    },
    check(current, desired, opts) {
      const r = nft(["-c", "-f", "-"], renderNft(current, desired, o, opts));
      if (r.code !== 0) throw fail(`check ruleset for table inet ${o.table}`, r);
    },
    remove() {
      // add+delete in one transaction: idempotent even when the table is gone.
      const r = nft(["-f", "-"], `add table inet ${o.table}\ndelete table inet ${o.table}\n`);
      if (r.code !== 0) throw fail(`remove table inet ${o.table}`, r);
    },
  };
  return backend;
}

/**
 * Whether nftables is the way here (for `backend auto`): nft is installed
 * (fw4 routers, current Linux), not on fw3 routers. Not by running nft:
 * nft 1.0 fetches the whole ruleset even for `list tables` (~50 ms at 5000
 * hosts), and that would be paid on every event.
 */
export function nftAvailable(sys: Sys, cfg: Config): boolean {
  return findProgram(sys, cfg.nft) !== null;
}
