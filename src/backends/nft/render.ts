/**
 * Writes a planned change as one nft script. Pure. Ordering matters inside
 * the one transaction: elements go before the counters they name are
 * deleted, and counters exist before elements name them.
 */
import { DEVICE_NAME, SAFE_NAME, type Counter } from "../../model.ts";
import { carryName, COMMENT_PREFIX, FAMILY, KEYS_MAP, FAMILY_CHAINS, MAPS, mapsOf, nameKeyText, NAMES_MAP, NAMES_TYPE, OLD_PORT_SETS, PORT_SETS, TXKEYS_MAP, type NftOptions, type Placement, type PortsEnv } from "./layout.ts";
import { SAFE_STRAY, type NftChange } from "./plan.ts";
import { declareSplitObjects, fillSplit, splitKeyText, splitOn, splitRules } from "./split.ts";

// Names and keys are already reduced to these characters; the guards make
// sure nothing else can ever reach nft syntax.
const SAFE_COMMENT = /^[A-Za-z0-9:._ -]{1,127}$/;
const SAFE_ELEMENT = /^[0-9a-fA-F:.]{2,45}$/;

export function counterName(dir: "rx" | "tx", name: string): string {
  if (!SAFE_NAME.test(name)) throw new Error(`unsafe host name reached the nft renderer: ${JSON.stringify(name)}`);
  return `${dir}_${name}`;
}

export function counterComment(key: string): string {
  const c = `${COMMENT_PREFIX}${key}`.slice(0, 127);
  if (!SAFE_COMMENT.test(c)) throw new Error(`unsafe host key reached the nft renderer: ${JSON.stringify(key)}`);
  return c;
}

/** A kernel interface name, quoted (nft reads some bare names as keywords). */
function device(d: string): string {
  if (!DEVICE_NAME.test(d)) throw new Error(`unsafe device name reached the nft renderer: ${JSON.stringify(d)}`);
  return `"${d}"`;
}

export function element(e: string): string {
  if (!SAFE_ELEMENT.test(e)) throw new Error(`unsafe map element reached the nft renderer: ${JSON.stringify(e)}`);
  return e;
}

export function counted(c: Counter): string {
  if (!Number.isSafeInteger(c.packets) || !Number.isSafeInteger(c.bytes) || c.packets < 0 || c.bytes < 0)
    throw new Error(`bad counter reached the nft renderer: ${JSON.stringify(c)}`);
  return `packets ${c.packets} bytes ${c.bytes}`;
}

/**
 * The `forward` table: a chain on the forward hook counting by address. An
 * IPv6 packet goes to `forward6` at the first rule, so a packet meets one
 * check of its family and one lookup per direction, and never a rule of the
 * other family (IPv4: the check, rx4, tx4; IPv6: the check, rx6, tx6).
 */
function declareForward(t: string, o: NftOptions, c: NftChange, out: string[]): void {
  out.push(`table ${t} {`);
  for (const m of MAPS) out.push(`\tmap ${m.name} { type ${m.type} : counter; }`);
  out.push(`\tmap ${KEYS_MAP} { type ether_addr : counter; }`);
  out.push(`\tmap ${NAMES_MAP} { type ${NAMES_TYPE} : counter; }`);
  if (splitOn(o.split)) declareSplitObjects("forward", o.split, out);
  out.push(`\tchain forward { type filter hook forward priority ${o.priority}; policy accept; }`);
  out.push("\tchain forward6 { }");
  out.push("}");
  out.push(`flush chain ${t} forward`, `flush chain ${t} forward6`);
  fillSplit(t, "forward", o.split ?? null, c.splitChains ?? [], c.splitPresent ?? false, out);
  deleteSplit(t, o, c, out);
  out.push(`add rule ${t} forward meta nfproto ipv6 goto forward6`);
  // The split's rules (none without it) go before the counters; neither ends the chain.
  for (const fam of [4, 6] as const) {
    const chain = fam === 6 ? "forward6" : "forward";
    for (const dir of ["rx", "tx"] as const) for (const r of splitRules(o.split, dir, fam === 6 ? "6" : "4", fam)) out.push(`add rule ${t} ${chain} ${r}`);
  }
  for (const m of MAPS) out.push(`add rule ${t} ${m.family === 6 ? "forward6" : "forward"} counter name ${m.match} map @${m.name}`);
}

/**
 * The `ports` table. Its chains are deleted and added again (the first `add`
 * makes the delete safe when they do not exist yet), because re-declaring a
 * netdev chain keeps the devices it had: this is how ports that came or went
 * are hooked anew. Counters and maps are separate objects and stay.
 */
function declarePorts(t: string, o: NftOptions, env: PortsEnv, c: NftChange, out: string[]): void {
  if (env.ports.length === 0) throw new Error("no LAN port to count at reached the nft renderer");
  out.push(`table ${t} {`);
  for (const s of PORT_SETS) out.push(`\tset ${s.name} { type ${s.type}; }`);
  for (const m of MAPS) out.push(`\tmap ${m.name} { type ${m.type} : counter; }`);
  out.push(`\tmap ${KEYS_MAP} { type ether_addr : counter; }`);
  out.push(`\tmap ${TXKEYS_MAP} { type ether_addr : counter; }`);
  out.push(`\tmap ${NAMES_MAP} { type ${NAMES_TYPE} : counter; }`);
  if (splitOn(o.split)) declareSplitObjects("ports", o.split, out);
  for (const ch of FAMILY_CHAINS.ports) out.push(`\tchain ${ch} { }`);
  out.push("}");
  const devices = env.ports.map(device).join(", ");
  for (const c of ["ingress", "egress"]) out.push(`add chain ${t} ${c}`, `delete chain ${t} ${c}`);
  // Gone with the rules that used them (an earlier layout's).
  for (const s of OLD_PORT_SETS) out.push(`add set ${t} ${s.name} { type ${s.type}; }`, `delete set ${t} ${s.name}`);
  for (const ch of FAMILY_CHAINS.ports) out.push(`flush chain ${t} ${ch}`);
  fillSplit(t, "ports", o.split ?? null, c.splitChains ?? [], c.splitPresent ?? false, out);
  deleteSplit(t, o, c, out);
  for (const c of ["ingress", "egress"]) out.push(`add chain ${t} ${c} { type filter hook ${c} devices = { ${devices} } priority ${o.priority}; policy accept; }`);
  // Ingress counts IP that a host sends to the router's MAC, not to one of its
  // own addresses; egress IP that the router sends from its MAC, not from one
  // of them (ARP and other frames to or from the router are no usage). The
  // base chain tells both the router's MAC and the family in one lookup and
  // goes to that family's chain; there a MAC host is counted by its MAC and
  // done with, a host with none by address. The common case, a MAC host's
  // routed packet, meets three rules: the lookup, its family's own-address
  // check, its MAC's counter.
  const sides = [
    { chain: "ingress", router: "daddr", host: "saddr", keys: KEYS_MAP, dir: "rx", to: "in" },
    { chain: "egress", router: "saddr", host: "daddr", keys: TXKEYS_MAP, dir: "tx", to: "out" },
  ] as const;
  for (const x of sides) {
    const macs = env.routerMacs.map(element);
    // No MAC of the router's known: nothing is routed through it here, so nothing is counted.
    if (macs.length)
      out.push(`add rule ${t} ${x.chain} ether ${x.router} . meta protocol vmap { ${macs.flatMap((m) => [`${m} . ip : goto ${x.to}4`, `${m} . ip6 : goto ${x.to}6`]).join(", ")} }`);
    for (const [fam, ip, own] of [["4", "ip", "own4"], ["6", "ip6", "own6"]] as const) {
      const rule = (r: string) => out.push(`add rule ${t} ${x.to}${fam} ${r}`);
      rule(`${ip} ${x.router} @${own} return`);
      for (const r of splitRules(o.split, x.dir, "m", Number(fam) as 4 | 6)) rule(r);
      rule(`counter name ether ${x.host} map @${x.keys} accept`);
      for (const r of splitRules(o.split, x.dir, fam, Number(fam) as 4 | 6)) rule(r);
      rule(`counter name ${ip} ${x.host} map @${x.dir}${fam}`);
    }
  }
  const fill: [string, string[]][] = [["own4", env.own4], ["own6", env.own6]];
  for (const [name, els] of fill) {
    out.push(`flush set ${t} ${name}`);
    if (els.length) out.push(`add element ${t} ${name} { ${els.map(element).join(", ")} }`);
  }
}

/** The split's elements of no host's (see split.ts staleSplit); with the split off its sets go whole. */
function deleteSplit(t: string, o: NftOptions, c: NftChange, out: string[]): void {
  if (!splitOn(o.split)) return;
  for (const d of c.deleteSplit ?? []) {
    if (!/^split_(rx|tx)_[m46]$/.test(d.set)) throw new Error(`not a split set reached the nft renderer: ${JSON.stringify(d.set)}`);
    out.push(`delete element ${t} ${d.set} { ${d.keys.map(splitKeyText).join(", ")} }`);
  }
}

/** One step of a change after any declare; names, keys and numbers already checked. */
export type NftStep =
  | { op: "delete-elements"; map: string; keys: string[] }
  | { op: "delete-counter"; name: string }
  | { op: "add-counter"; name: string; start: Counter; comment: string }
  /** Key (address or MAC) and the counter it names. */
  | { op: "add-elements"; map: string; elements: [string, string][] };

/**
 * The steps of a change in the one order both writers (nft -f, netlink)
 * keep inside the transaction: elements go before the counters they name are
 * deleted, counters exist before elements name them, and a counter of a name
 * that is created again (a carry with its new counts, a host's name) is
 * deleted before it is created.
 */
export function changeSteps(c: NftChange, placement: Placement): NftStep[] {
  const steps: NftStep[] = [];
  const maps = mapsOf(placement);
  // The names map's keys are host names, written as that map's key.
  const keyOf = (m: string) => (m === NAMES_MAP ? nameKeyText : element);
  for (const m of maps) {
    const els = c.deleteElements[m];
    if (!els?.length) continue;
    const key = keyOf(m);
    steps.push({ op: "delete-elements", map: m, keys: els.map((k) => key(k)) });
  }
  for (const n of c.deleteHosts) for (const dir of ["rx", "tx"] as const) steps.push({ op: "delete-counter", name: counterName(dir, n) });
  // A carry may not be there: created (a no-op where it is) so that it can be deleted.
  for (const key of c.deleteCarries) {
    const comment = counterComment(key);
    for (const dir of ["rx", "tx"] as const) {
      const name = carryName(dir, key);
      steps.push({ op: "add-counter", name, start: { packets: 0, bytes: 0 }, comment }, { op: "delete-counter", name });
    }
  }
  for (const n of c.deleteStrays) {
    if (!SAFE_STRAY.test(n)) throw new Error(`unsafe counter name reached the nft renderer: ${JSON.stringify(n)}`);
    steps.push({ op: "delete-counter", name: n });
  }
  for (const h of c.createHosts) {
    const comment = counterComment(h.key);
    for (const dir of ["rx", "tx"] as const) {
      counted(h.start[dir]);
      steps.push({ op: "add-counter", name: counterName(dir, h.name), start: h.start[dir], comment });
    }
  }
  for (const cc of c.createCarries) {
    const comment = counterComment(cc.key);
    for (const dir of ["rx", "tx"] as const) {
      counted(cc.counts[dir]);
      steps.push({ op: "add-counter", name: carryName(dir, cc.key), start: cc.counts[dir], comment });
    }
  }
  for (const m of maps) {
    const els = c.addElements[m];
    if (!els?.length) continue;
    const key = keyOf(m);
    // The keys map names a host's rx counter, the txkeys map its tx counter.
    const dir = m.startsWith("tx") ? "tx" : "rx";
    steps.push({ op: "add-elements", map: m, elements: els.map(([k, n]) => [key(k), counterName(dir, n)]) });
  }
  return steps;
}

export function renderNft(c: NftChange, o: NftOptions): string {
  const t = `${FAMILY[o.placement]} ${o.table}`;
  const out: string[] = [];
  const allMaps = mapsOf(o.placement);
  if (c.declare) {
    if (o.placement === "ports") {
      if (!c.env) throw new Error("a ports declare without its ports reached the nft renderer");
      declarePorts(t, o, c.env, c, out);
    } else declareForward(t, o, c, out);
    // Refilled whole, so elements someone added by hand cannot pin a counter.
    for (const m of allMaps) out.push(`flush map ${t} ${m}`);
    // Only one placement counts: the other's table goes (its counts were carried over).
    const other = `${FAMILY[o.placement === "ports" ? "forward" : "ports"]} ${o.table}`;
    out.push(`add table ${other}`, `delete table ${other}`);
  }
  for (const step of changeSteps(c, o.placement)) {
    if (step.op === "delete-elements") out.push(`delete element ${t} ${step.map} { ${step.keys.join(", ")} }`);
    else if (step.op === "delete-counter") out.push(`delete counter ${t} ${step.name}`);
    else if (step.op === "add-counter") out.push(`add counter ${t} ${step.name} { ${counted(step.start)}; comment "${step.comment}"; }`);
    else {
      let line = `add element ${t} ${step.map} { `;
      for (let i = 0; i < step.elements.length; i++) line += `${i ? ", " : ""}${step.elements[i]![0]} : "${step.elements[i]![1]}"`;
      out.push(`${line} }`);
    }
  }
  return out.length ? `${out.join("\n")}\n` : "";
}
