/**
 * Writes a planned change as iptables-restore input, one per family. Pure.
 * Names, keys and addresses are checked again here: one bad line would abort
 * every change of the table.
 */
import { parseAddress, type Family } from "../../addr.ts";
import { SAFE_NAME, type Counter } from "../../model.ts";
import { DEFAULT_CHAINS, DIRS, KEY_PREFIX, MATCH_OF, ROLES, SAFE_KEY, type Dir, type IptChains, type IptFamilyState } from "./layout.ts";
import type { IptChange, IptFamilyChange } from "./plan.ts";

export interface IptRender {
  v4: string;
  v6: string;
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

function renderFamily(c: IptFamilyChange, ch: IptChains): string {
  const out: string[] = [];
  if (c.rebuild) {
    // Declaring a chain in --noflush input flushes it: the whole of iptmon's
    // part is re-declared, and nothing else of mangle is named.
    for (const role of ROLES) out.push(`:${ch[role]} - [0:0]`);
    for (const dir of DIRS) for (let n = c.extraJumps[dir]; n > 0; n--) out.push(`-D FORWARD -j ${ch[dir]}`);
    // First in FORWARD, so no verdict of another package's rule hides a packet.
    for (const dir of c.missingJumps) out.push(`-I FORWARD 1 -j ${ch[dir]}`);
  }
  for (const k of c.deleteKeys) out.push(deleted(keySpec(k, ch)));
  for (const r of c.deleteRules) out.push(deleted(ruleSpec(r, ch)));
  for (const k of c.addKeys) out.push(keySpec(k, ch));
  for (const r of c.addRules) out.push(`${counted(r)} ${ruleSpec(r, ch)}`);
  return out.length ? `*mangle\n${out.join("\n")}\nCOMMIT\n` : "";
}

/** The restore input of each family ("" for nothing to do). */
export function renderIptables(change: IptChange, ch: IptChains = DEFAULT_CHAINS): IptRender {
  const r = (f: Family) => (change[f] ? renderFamily(change[f], ch) : "");
  return { v4: r(4), v6: r(6) };
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
