/**
 * How a sample's split counts (model.ts SplitCount) become each host's parts.
 * Pure.
 *
 * - A kernel counter of the split counts from when the kernel made it; what
 *   it grew by since the last sample (`State.splitSeen`; one lower than then
 *   was made anew and counts from zero) goes to the host that has its MAC,
 *   address or key now. A counter of no host's grows for nobody.
 * - A host's parts are kept beside its totals. The part a host had counted
 *   before its split began (the split turned on, a host the state did not
 *   split yet) is its `unsplit`, and so is its usage in the open period up to
 *   then: the split shows only what it saw.
 * - IPv4 and `other` are never counted on their own: they are the totals
 *   less the parts (src/split/view.ts), so the parts always add up to them.
 * - Without split counts (the split is off) the hosts' parts and the seen
 *   counters go: turned on again, it begins again. Periods keep theirs.
 */
import { macOf, type CountedHost, type SplitCount } from "../model.ts";
import type { Period, State, Usage } from "../snapshot/state.ts";
import { addUsage, growth } from "../usage/growth.ts";
import { UNSPLIT } from "./services.ts";

/**
 * The owner of each handle a host has (see SplitCount): its key, its MAC (a
 * MAC host's key) and its addresses. A host whose key a read does not say
 * owns its addresses only.
 */
export function splitOwners(hosts: readonly { key: string | null; addresses: readonly string[] }[]): Map<string, string | null> {
  const out = new Map<string, string | null>();
  for (const h of hosts) {
    if (h.key !== null) {
      out.set(`key:${h.key}`, h.key);
      const mac = macOf(h.key);
      if (mac) out.set(`mac:${mac}`, h.key);
    }
    for (const a of h.addresses) out.set(`addr:${a}`, h.key);
  }
  return out;
}

/** A part's usage: its growth in one direction, the other zero. */
const oneWay = (dir: "rx" | "tx", [b, p]: [number, number]): Usage => (dir === "rx" ? [b, p, 0, 0] : [0, 0, b, p]);

/**
 * The parts each host of the sample has after it (null: the split is off,
 * and what the state kept of it is dropped), and the open period's parts
 * brought up to date (not at the state's first sample, whose usage is a
 * baseline). Call before the sample replaces the hosts' records: a host's
 * `unsplit` is its totals at its last sample.
 */
export function splitSample(s: State, hosts: readonly CountedHost[], counts: readonly SplitCount[] | undefined, period: Period | undefined, baseline: boolean): Map<string, Record<string, Usage>> | null {
  if (!counts) {
    delete s.splitSeen;
    return null;
  }
  const owner = splitOwners(hosts);
  const seen = s.splitSeen ?? {};
  const nowSeen: Record<string, [number, number]> = {};
  const grown = new Map<string, Record<string, Usage>>();
  for (const c of counts) {
    const id = `${c.dir} ${c.handle} ${c.part}${c.gen ? ` ${c.gen}` : ""}`;
    const g = growth(c, seen[id]);
    nowSeen[id] = [c.bytes, c.packets];
    const key = owner.get(c.handle);
    // A class no longer configured: watched (its counts must not look new if it comes back), given to no one.
    if (key === undefined || key === null || c.part.startsWith("#") || (g[0] === 0 && g[1] === 0)) continue;
    let parts = grown.get(key);
    if (!parts) grown.set(key, (parts = {}));
    addUsage(parts, c.part, oneWay(c.dir, g));
  }
  s.splitSeen = nowSeen;
  const out = new Map<string, Record<string, Usage>>();
  for (const h of hosts) {
    const rec = s.hosts[h.key];
    let parts: Record<string, Usage>;
    if (rec?.split) parts = structuredClone(rec.split);
    else {
      parts = {};
      if (rec) addUsage(parts, UNSPLIT, [rec.rx[0], rec.rx[1], rec.tx[0], rec.tx[1]]);
      const used = period?.hosts[h.key];
      if (period && used && !baseline) addUsage(((period.split ??= {})[h.key] ??= {}), UNSPLIT, [...used]);
    }
    const g = grown.get(h.key);
    if (g) {
      for (const [part, u] of Object.entries(g)) addUsage(parts, part, u);
      if (period && !baseline) for (const [part, u] of Object.entries(g)) addUsage(((period.split ??= {})[h.key] ??= {}), part, u);
    }
    out.set(h.key, parts);
  }
  return out;
}
