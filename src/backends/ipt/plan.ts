/**
 * What a change does to iptmon's chains, family by family: which rules and
 * key entries go, which are added and with what counters. Pure; the renderer
 * only writes this down.
 */
import type { Family } from "../../addr.ts";
import { familyOf, type Counter, type PlannedHost } from "../../model.ts";
import type { ApplyOptions } from "../backend.ts";
import { DIRS, type Dir, type IptFamilyState, type IptRule, type IptState } from "./layout.ts";
import { emptyFamily, familyComplete, keyByName } from "./save.ts";

export type PlannedRule = IptRule & { family: Family };

export interface IptFamilyChange {
  /** Re-declare iptmon's chains (flushing them) and fix the FORWARD jumps. */
  rebuild: boolean;
  /** With rebuild: surplus jumps to delete, missing ones to insert. */
  extraJumps: Record<Dir, number>;
  missingJumps: Dir[];
  deleteKeys: { key: string; name: string }[];
  deleteRules: IptRule[];
  addKeys: { key: string; name: string }[];
  addRules: IptRule[];
}

export type IptChange = Partial<Record<Family, IptFamilyChange>>;

const add = (a: Counter, b: Counter): Counter => ({ packets: a.packets + b.packets, bytes: a.bytes + b.bytes });

/**
 * The rules `desired` needs, each with the counters it starts from. An
 * address that stays with its host (found by key, so a rename too) keeps its
 * rule's counters. An address a host loses hands its counters to another of
 * that host's rules (same family first), so a host's totals never drop while
 * it exists. A rule left by a keyless iptmon (the shell one: same chains and
 * comments) is adopted by name. A host planned to start from given counters
 * gets what its rules lack of them on its first rule per direction; a reset
 * host's rules start over from exactly them.
 */
export function planRules(current: IptState, desired: PlannedHost[], families: Family[]): PlannedRule[] {
  const fams = current.read === "full" ? current.families : {};
  const byName = keyByName(fams);
  const pool = new Map<string, Counter>();
  const tag = (f: Family, dir: Dir, addr: string, owner: string) => `${f}|${dir}|${addr}|${owner}`;
  const poolOwner = new Map<string, { key: string | null; family: Family; dir: Dir }>();
  for (const f of families)
    for (const r of fams[f]?.rules ?? []) {
      const key = byName.get(r.name) ?? null;
      const t = tag(f, r.dir, r.addr, key ?? `name:${r.name}`);
      pool.set(t, add(pool.get(t) ?? { packets: 0, bytes: 0 }, r));
      poolOwner.set(t, { key, family: f, dir: r.dir });
    }
  const out: PlannedRule[] = [];
  for (const h of desired)
    for (const addr of h.addresses) {
      const f = familyOf(addr);
      if (!families.includes(f)) continue;
      for (const dir of DIRS) {
        let c: Counter = { packets: 0, bytes: 0 };
        for (const t of [h.key === null ? null : tag(f, dir, addr, h.key), tag(f, dir, addr, `name:${h.name}`)]) {
          const got = t === null ? undefined : pool.get(t);
          if (!got) continue;
          c = add(c, got);
          pool.delete(t!);
        }
        out.push({ family: f, dir, addr, name: h.name, ...c });
      }
    }
  const retiredOf = new Map<string, { family: Family; dir: Dir; c: Counter }[]>(); // key -> leftovers
  for (const [t, c] of pool) {
    const o = poolOwner.get(t)!;
    if (o.key === null || (c.packets === 0 && c.bytes === 0)) continue;
    retiredOf.set(o.key, [...(retiredOf.get(o.key) ?? []), { family: o.family, dir: o.dir, c }]);
  }
  for (const h of desired) {
    const mine = (dir: Dir) => out.filter((r) => r.name === h.name && r.dir === dir);
    for (const { family, dir, c } of h.key === null ? [] : (retiredOf.get(h.key) ?? [])) {
      const rules = mine(dir);
      const target = rules.find((r) => r.family === family) ?? rules[0];
      if (!target) continue; // the host kept no address iptmon can count: nothing to carry into
      Object.assign(target, add(target, c));
    }
    if (h.counters === "keep") continue;
    for (const dir of DIRS) {
      const rules = mine(dir);
      const have = rules.reduce((s, r) => add(s, r), { packets: 0, bytes: 0 });
      const start = h.counters[dir];
      const first = rules[0];
      if (!first) continue;
      if (h.reset) {
        for (const r of rules) Object.assign(r, { packets: 0, bytes: 0 });
        Object.assign(first, start);
      } else Object.assign(first, add(first, { packets: Math.max(0, start.packets - have.packets), bytes: Math.max(0, start.bytes - have.bytes) }));
    }
  }
  return out;
}

const ruleId = (r: { dir: Dir; addr: string; name: string }) => `${r.dir}|${r.addr}|${r.name}`;
const keyId = (k: { key: string; name: string }) => `${k.key}|${k.name}`;

function planFamily(st: IptFamilyState, rules: PlannedRule[], keys: { key: string; name: string }[], owned: Map<string, string>, rebuild: boolean): IptFamilyChange {
  const c: IptFamilyChange = { rebuild, extraJumps: { rx: 0, tx: 0 }, missingJumps: [], deleteKeys: [], deleteRules: [], addKeys: [], addRules: [] };
  if (rebuild) {
    for (const dir of DIRS) c.extraJumps[dir] = Math.max(0, st.jumps[dir] - 1);
    // Inserted at the top in this order, so rx ends up first.
    c.missingJumps = (["tx", "rx"] as const).filter((dir) => st.jumps[dir] === 0);
    c.addKeys = keys;
    c.addRules = rules;
    return c;
  }
  const wantKey = new Map(keys.map((k) => [keyId(k), k]));
  const haveKey = new Set<string>();
  for (const k of st.keys) {
    const id = keyId(k);
    if (wantKey.has(id) && !haveKey.has(id)) haveKey.add(id);
    else c.deleteKeys.push(k);
  }
  for (const [id, k] of wantKey) if (!haveKey.has(id)) c.addKeys.push(k);
  const wantRule = new Map(rules.map((r) => [ruleId(r), r]));
  const kept = new Set<string>();
  for (const r of st.rules) {
    const id = ruleId(r);
    const w = wantRule.get(id);
    if (w && !kept.has(id) && w.packets === r.packets && w.bytes === r.bytes) kept.add(id);
    // A rule of no known host is not an event's business: init clears it.
    else if (owned.has(r.name)) c.deleteRules.push(r);
  }
  for (const [id, r] of wantRule) if (!kept.has(id)) c.addRules.push(r);
  return c;
}

/**
 * From `current` to `desired`, per family. A family is rebuilt when asked to,
 * or when it lacks a chain or a jump.
 */
export function planIpt(current: IptState, desired: PlannedHost[], opts: ApplyOptions, families: Family[]): IptChange {
  const fams = current.read === "full" ? current.families : {};
  const rules = planRules(current, desired, families);
  const keys = desired.flatMap((h) => (h.key === null ? [] : [{ key: h.key, name: h.name }]));
  const owned = keyByName(fams);
  const change: IptChange = {};
  for (const f of families) {
    const st = fams[f];
    // One family incomplete rebuilds both, so their keys stay in step.
    const rebuild = opts.rebuild || current.read === "absent" || !current.complete || !familyComplete(st);
    change[f] = planFamily(
      st ?? emptyFamily(),
      rules.filter((r) => r.family === f),
      keys,
      owned,
      rebuild,
    );
  }
  return change;
}
