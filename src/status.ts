/** `iptmon status`: the hosts and their counters, for people and for scripts. */
import type { BackendName } from "./config.ts";
import { readHosts, type Runtime } from "./core.ts";
import { snapshotsOf } from "./snapshot/store.ts";
import { macOf, sortHosts, type CountedHost, type HostCounters } from "./model.ts";
import { humanBytes } from "./top/format.ts";
import { busiestFirst, topOf, type Ranking } from "./snapshot/ranking.ts";
import { growth } from "./usage/growth.ts";
import { splitView, type SplitView } from "./split/view.ts";
import type { State } from "./snapshot/state.ts";

export { humanBytes, topOf };

export interface StatusHost {
  name: string;
  mac: string | null;
  key: string;
  addresses: string[];
  rx_bytes: number;
  rx_packets: number;
  tx_bytes: number;
  tx_packets: number;
  /**
   * Bytes of the current accounting period, where periods are kept. Readers
   * (the web page, `top --json`) show it when present and ignore fields they
   * do not know, so hosts may grow more optional fields like this one.
   */
  usage?: HostUsage;
  /** Where `breakdown` splits the totals: by IP family and by service (see src/split/view.ts). */
  families?: SplitView["families"];
  services?: SplitView["services"];
}

export interface HostUsage {
  /** Seconds since the epoch when the period began. */
  since: number;
  rx_bytes: number;
  tx_bytes: number;
}

/** The open accounting period, as `usage` names it. */
export interface StatusPeriod {
  name: string;
  /** Seconds since the epoch: its first second, and the first second after it. */
  start: number;
  end: number;
}

/** Sums over every host (not only those a `--busiest` list shows). */
export interface StatusTotals {
  rx_bytes: number;
  rx_packets: number;
  tx_bytes: number;
  tx_packets: number;
  /** This period's usage; zero where no period is open. */
  usage: { rx_bytes: number; tx_bytes: number };
}

export interface Status {
  backend: BackendName;
  /** Where the counting happens: `ports` (the LAN ports, by MAC) or `forward` (the forward hook, by address). */
  hook: "ports" | "forward";
  /** The open usage period; null before one is open (a clock not yet set, no state yet). */
  period: StatusPeriod | null;
  /** How many hosts are counted: all of them, however many `hosts` lists. */
  count: number;
  totals: StatusTotals;
  hosts: StatusHost[];
  /**
   * `--busiest` only: when the ranking was made (seconds since the epoch).
   * The time of this read, or of the last full sample, whose ranking the
   * poll then builds on (see readBusiest).
   */
  ranked_at?: number;
}

const noTotals = (): StatusTotals => ({ rx_bytes: 0, rx_packets: 0, tx_bytes: 0, tx_packets: 0, usage: { rx_bytes: 0, tx_bytes: 0 } });

/** Adds a host's counts (or what they grew by) and its usage, if any, to `t`. */
function addToTotals(t: StatusTotals, rxBytes: number, rxPackets: number, txBytes: number, txPackets: number, usage: { rx_bytes: number; tx_bytes: number } | undefined): void {
  t.rx_bytes += rxBytes;
  t.rx_packets += rxPackets;
  t.tx_bytes += txBytes;
  t.tx_packets += txPackets;
  t.usage.rx_bytes += usage?.rx_bytes ?? 0;
  t.usage.tx_bytes += usage?.tx_bytes ?? 0;
}

/** How many hosts `status --json --busiest` lists. */
export const BUSIEST = 100;

/** The open period, and a host's usage in it (undefined: none recorded, or no period). */
export interface UsageView {
  period: StatusPeriod | null;
  usage(h: CountedHost): HostUsage | undefined;
}

const NO_USAGE: UsageView = { period: null, usage: () => undefined };

const statusHost = (h: CountedHost, addresses: string[]): StatusHost => ({
  name: h.name,
  mac: macOf(h.key),
  key: h.key,
  addresses,
  rx_bytes: h.rx.bytes,
  rx_packets: h.rx.packets,
  tx_bytes: h.tx.bytes,
  tx_packets: h.tx.packets,
});

/**
 * The status of these hosts: every one sorted by name, or (`busiest`) only
 * the BUSIEST by this period's usage, then by total bytes, then by name.
 * Count and totals always cover them all.
 */
export function buildStatus(
  backend: BackendName,
  hosts: readonly CountedHost[],
  hook: Status["hook"] = "forward",
  view: UsageView = NO_USAGE,
  busiest = false,
  /** A host's addresses, where the read left them to be looked up for the hosts shown. */
  addressesOf: (h: CountedHost) => string[] = (h) => h.addresses,
  /** A host's split, where it is on. */
  splitOf?: (h: CountedHost) => SplitView,
): Status {
  const totals = noTotals();
  const usage = new Map<CountedHost, HostUsage>();
  for (const h of hosts) {
    const u = view.usage(h);
    addToTotals(totals, h.rx.bytes, h.rx.packets, h.tx.bytes, h.tx.packets, u);
    if (u) usage.set(h, u);
  }
  let shown: CountedHost[];
  if (busiest) {
    const used = (h: CountedHost) => {
      const u = usage.get(h);
      return u ? u.rx_bytes + u.tx_bytes : 0;
    };
    const ranked = hosts.map((h) => ({ h, used: used(h), total: h.rx.bytes + h.tx.bytes, name: h.name }));
    shown = topOf(ranked, BUSIEST, busiestFirst).map((r) => r.h);
  } else shown = sortHosts([...hosts]);
  return {
    backend,
    hook,
    period: view.period,
    count: hosts.length,
    totals,
    hosts: shown.map((h) => {
      const out = statusHost(h, addressesOf(h));
      const u = usage.get(h);
      if (u) out.usage = u;
      if (splitOf) Object.assign(out, splitOf(h));
      return out;
    }),
  };
}

/** A status of hosts already in their JSON shape, listed as given (all of them), with their count and totals. */
export function statusOfHosts(backend: BackendName, hook: Status["hook"], hosts: StatusHost[], period: StatusPeriod | null = null): Status {
  const totals = noTotals();
  for (const h of hosts) addToTotals(totals, h.rx_bytes, h.rx_packets, h.tx_bytes, h.tx_packets, h.usage);
  return { backend, hook, period, count: hosts.length, totals, hosts };
}

const periodOf = (p: { name: string; start: number; end: number } | undefined): StatusPeriod | null => (p ? { name: p.name, start: p.start, end: p.end } : null);

/**
 * Reads the kernel's counters once: what `status`, `metrics`, `push`, `top`
 * and the web page's CGI (through `status --json`) all show, so they never
 * disagree. The read is a sample: it brings the open period up to date.
 */
export function readStatus(rt: Runtime, busiest = false): Status {
  const hosts = readHosts(rt);
  const snaps = snapshotsOf(rt);
  const p = snaps.current().periods.at(-1);
  const view: UsageView = {
    period: periodOf(p),
    usage(h) {
      if (!p) return undefined;
      const u = p.hosts[h.key];
      return { since: p.start, rx_bytes: u?.[0] ?? 0, tx_bytes: u?.[2] ?? 0 };
    },
  };
  return buildStatus(rt.backend.name, hosts, rt.backend.hook, view, busiest, undefined, hostSplit(rt, snaps.current()));
}

/** Each host's split of its totals as the state keeps it, where `breakdown` asks for one. */
function hostSplit(rt: Runtime, state: State): ((h: CountedHost) => SplitView) | undefined {
  const { breakdown } = rt.cfg;
  if (breakdown.length === 0) return undefined;
  const services = rt.cfg.services.map((c) => c.name);
  return (h) => splitView([h.rx.bytes, h.rx.packets, h.tx.bytes, h.tx.packets], state.hosts[h.key]?.split, breakdown, services);
}

/**
 * `status --json --busiest`, which a page left open polls every few
 * seconds: the busiest hosts with counts and totals over all.
 *
 * Where the last full sample left a ranking that still holds (see
 * Snapshots.ranking: at most twice push_interval old, the same period, no
 * change to the hosts since), only the hosts it lists are read, by name
 * (rankedStatus): it records nothing, takes no lock and writes nothing.
 * Otherwise every counter is read, and, where the backend can look hosts
 * up by name, that read is a full sample (as `status --json` is), which
 * leaves a new ranking: after a change to the hosts one poll pays for the
 * whole read, not every poll until the next cron sample. Without lookups by
 * name (iptables) it only reads: usage is what a sample would record now.
 */
export function readBusiest(rt: Runtime): Status {
  const now = rt.sys.now();
  const r = rt.backend.readNamed ? snapshotsOf(rt).ranking(now, 2 * rt.cfg.pushInterval * 60) : null;
  const counts = r ? rt.backend.readNamed!(r.hosts) : null;
  if (r && counts && counts.every((c) => c !== null)) return rankedStatus(rt.backend.name, rt.backend.hook, r, counts as HostCounters[]);
  // A ranking that could not be looked up at all (no netlink) would not hold after a new sample either.
  if (rt.backend.readNamed && rt.remember && !(r && counts === null)) return { ...readStatus(rt, true), ranked_at: now };
  return { ...readAllBusiest(rt), ranked_at: now };
}

/**
 * The poll from the last full sample's ranking and its hosts' counters now
 * (`now`, in the ranking's order): each one's usage is its usage at the
 * sample plus its growth since (a counter lower than then counts from zero,
 * as a sample's does), and they are ranked again. Count and totals are the
 * sample's, the totals plus the change of the listed hosts' counters and
 * their usage's growth since. A host the ranking does not list (beyond the
 * first RANKED) enters it at the next sample.
 */
export function rankedStatus(backend: BackendName, hook: Status["hook"], r: Ranking, now: readonly HostCounters[]): Status {
  const period = r.period;
  const t = r.totals;
  const totals: StatusTotals = { ...t, usage: { ...t.usage } };
  const hosts = r.hosts.map((h, i) => {
    const c = now[i]!;
    const rx = growth(c.rx, h.rx);
    const tx = growth(c.tx, h.tx);
    addToTotals(totals, c.rx.bytes - h.rx[0], c.rx.packets - h.rx[1], c.tx.bytes - h.tx[0], c.tx.packets - h.tx[1], { rx_bytes: rx[0], tx_bytes: tx[0] });
    const usage = { rx_bytes: h.usage[0] + rx[0], tx_bytes: h.usage[1] + tx[0] };
    return { h, c, usage, used: usage.rx_bytes + usage.tx_bytes, total: c.rx.bytes + c.tx.bytes, name: h.name };
  });
  return {
    backend,
    hook,
    period: period ? { name: period.name, start: period.start, end: period.end } : null,
    count: r.count,
    totals,
    hosts: topOf(hosts, BUSIEST, busiestFirst).map(({ h, c, usage }) => {
      const out: StatusHost = {
        name: h.name,
        mac: macOf(h.key),
        key: h.key,
        addresses: h.addresses,
        rx_bytes: c.rx.bytes,
        rx_packets: c.rx.packets,
        tx_bytes: c.tx.bytes,
        tx_packets: c.tx.packets,
      };
      if (period) out.usage = { since: period.start, ...usage };
      return out;
    }),
    ranked_at: r.t,
  };
}

/** The poll from every host's counters now (no ranking to build on). */
function readAllBusiest(rt: Runtime): Status {
  // Where the backend can, the addresses of the hosts not shown are not written out.
  const counts = rt.backend.readCounts?.() ?? null;
  const s = counts ? counts.state : rt.backend.read("full");
  const hosts = s.read === "full" ? s.hosts : [];
  const { period, usage } = snapshotsOf(rt).preview(hosts);
  const view: UsageView = {
    period: periodOf(period),
    usage(h) {
      if (!period) return undefined;
      const u = usage(h);
      return { since: period.start, rx_bytes: u?.[0] ?? 0, tx_bytes: u?.[2] ?? 0 };
    },
  };
  return buildStatus(rt.backend.name, hosts, rt.backend.hook, view, true, counts ? (h) => counts.addresses(h.name) : undefined);
}
