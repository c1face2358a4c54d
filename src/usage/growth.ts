/** Growth of counters between two samples, and usage added up. Pure. */
import type { Usage } from "../snapshot/state.ts";

/** What a counter counted since it read `last` ([bytes, packets]); one lower than then was created anew and counts from zero. */
export const growth = (cur: { bytes: number; packets: number }, last: readonly [number, number] | undefined): [number, number] => {
  if (!last) return [cur.bytes, cur.packets];
  if (cur.bytes < last[0] || cur.packets < last[1]) return [cur.bytes, cur.packets];
  return [cur.bytes - last[0], cur.packets - last[1]];
};

export function addUsage(into: Record<string, Usage>, key: string, u: Usage): void {
  if (u.every((x) => x === 0)) return;
  const t = (into[key] ??= [0, 0, 0, 0]);
  for (let i = 0; i < 4; i++) t[i]! += u[i]!;
}

