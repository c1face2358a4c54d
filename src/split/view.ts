/**
 * A host's split as readers get it (`status --json`, `usage --json`,
 * `metrics`, `--by`): every part with the host's four fields, the parts of
 * each kind adding up to exactly the totals they split. Pure.
 */
import type { Usage } from "../snapshot/state.ts";
import { OTHER, UNSPLIT } from "./services.ts";

export interface Part {
  rx_bytes: number;
  rx_packets: number;
  tx_bytes: number;
  tx_packets: number;
}

export interface SplitView {
  /** `ipv4`, `ipv6`, and `unsplit` where the host counted before its split began. */
  families?: Record<string, Part>;
  /** Each class the host used (in the config's order), `other`, and `unsplit` as above. */
  services?: Record<string, Part>;
}

export type Breakdown = readonly ("family" | "service")[];
export const BY = ["family", "service"] as const;
export type By = (typeof BY)[number];

const part = (u: Usage): Part => ({ rx_bytes: u[0], rx_packets: u[1], tx_bytes: u[2], tx_packets: u[3] });
const ZERO: Usage = [0, 0, 0, 0];
const isZero = (u: Usage) => u[0] === 0 && u[1] === 0 && u[2] === 0 && u[3] === 0;

/**
 * What is left of `total` once `parts` are taken out, per field. Never below
 * zero: parts are taken before the totals they split (see the backends'
 * reads), so only a state someone edited could ask for less.
 */
function rest(total: Usage, parts: readonly Usage[]): Usage {
  const out: Usage = [...total];
  for (const p of parts) for (let i = 0; i < 4; i++) out[i] = out[i]! - p[i]!;
  for (let i = 0; i < 4; i++) if (out[i]! < 0) out[i] = 0;
  return out;
}

/**
 * `total` (a host's totals, or its usage in a period) split as `breakdown`
 * asks, from the parts kept for it (undefined: not split yet, so it is all
 * `unsplit`). `services` are the classes configured now, in order: a class
 * removed is `other` again.
 */
export function splitView(total: Usage, parts: Readonly<Record<string, Usage>> | undefined, breakdown: Breakdown, services: readonly string[]): SplitView {
  const out: SplitView = {};
  if (breakdown.length === 0) return out;
  const p = parts ?? { [UNSPLIT]: total };
  const unsplit = p[UNSPLIT] ?? ZERO;
  if (breakdown.includes("family")) {
    const v6 = p.ipv6 ?? ZERO;
    out.families = { ipv4: part(rest(total, [v6, unsplit])), ipv6: part(v6) };
    if (!isZero(unsplit)) out.families[UNSPLIT] = part(unsplit);
  }
  if (breakdown.includes("service")) {
    const used: [string, Usage][] = [];
    for (const name of services) {
      const u = p[name];
      if (u && !isZero(u)) used.push([name, u]);
    }
    out.services = {};
    for (const [name, u] of used) out.services[name] = part(u);
    out.services[OTHER] = part(rest(total, [unsplit, ...used.map(([, u]) => u)]));
    if (!isZero(unsplit)) out.services[UNSPLIT] = part(unsplit);
  }
  return out;
}

/** The parts of one kind (`by`) of a split, in order; none where that kind is off. */
export function partsBy(v: SplitView, by: By): [string, Part][] {
  return Object.entries((by === "family" ? v.families : v.services) ?? {});
}
