/** This period's usage per host key, for readers that show it beside the totals (status --json, the web page). */
import type { Runtime } from "../core.ts";
import { snapshotsOf } from "../snapshot/store.ts";
import type { HostUsage } from "../status.ts";

/**
 * Call after reading the counters (`readHosts`, `readStatus`): the read has
 * brought the open period up to date. Empty when no period is open yet;
 * `keys` are hosts to report with nothing used yet (zero) when one is.
 */
export function currentUsage(rt: Runtime, keys: Iterable<string> = []): ReadonlyMap<string, HostUsage> {
  const p = snapshotsOf(rt).current().periods.at(-1);
  const out = new Map<string, HostUsage>();
  if (!p) return out;
  for (const key of keys) out.set(key, { since: p.start, rx_bytes: 0, tx_bytes: 0 });
  for (const [key, u] of Object.entries(p.hosts)) out.set(key, { since: p.start, rx_bytes: u[0], tx_bytes: u[2] });
  return out;
}
