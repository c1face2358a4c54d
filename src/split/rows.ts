/**
 * `--by family|service`: a host's parts of one kind as rows of their own, so
 * the text tables and `top` show them with the code that shows hosts. A
 * part's row is the host's, named `<host>/<part>`, with the part's counts.
 */
import { badInput, quoteInput } from "../errors.ts";
import { BY, partsBy, type By, type Breakdown, type Part, type SplitView } from "./view.ts";

/** The `--by` asked for (undefined: none), checked against what the config splits. */
export function checkBy(by: unknown, breakdown: Breakdown, file: string, verb: string): By | undefined {
  if (by === undefined) return undefined;
  if (typeof by !== "string" || !(BY as readonly string[]).includes(by)) throw badInput(`cannot ${verb} by ${quoteInput(String(by))}`, "use --by family or --by service");
  if (!breakdown.includes(by as By)) throw badInput(`cannot ${verb} by ${by}: the split by ${by} is off`, `list breakdown '${by}' in ${file}, then run iptmon init`);
  return by as By;
}

/** Each host's parts of one kind as rows (in the host's order, then the parts'); a host without that split is one row, as it is. */
export function partRows<T extends SplitView & { name: string; key: string }>(hosts: readonly T[], by: By, make: (h: T, p: Part) => T): T[] {
  const out: T[] = [];
  for (const h of hosts) {
    const parts = partsBy(h, by);
    if (parts.length === 0) out.push(h);
    for (const [name, p] of parts) out.push({ ...make(h, p), name: `${h.name}/${name}`, key: `${h.key}/${name}`, families: undefined, services: undefined });
  }
  return out;
}
