/**
 * A backend turns planned hosts into kernel objects. The core only sees this
 * interface, so nftables and iptables are interchangeable; each backend's
 * state (S) and change (C) types are its own, and the core only passes them
 * from one call to the next (`Backend` with the defaults is any backend).
 */
import type { BackendName } from "../config.ts";
import type { EventScope, HostCounters, KernelState, PlannedHost } from "../model.ts";

export interface ApplyOptions {
  /** Re-declare everything iptmon owns (init): also fixes objects someone edited. */
  rebuild: boolean;
}

export interface Backend<S extends KernelState = KernelState, C = unknown> {
  readonly name: BackendName;
  /** Where it counts: at the LAN ports (by MAC) or in the forward hook (by address). */
  readonly hook: "ports" | "forward";
  /**
   * `full`: every host with key and counters. `event`: the cheapest read that
   * serves an event; it may leave counters (and non-MAC keys) out, and says so.
   */
  read(detail: "full" | "event"): S;
  /**
   * Every host with key and counters, for a reader that shows only some of
   * them (the page's poll): addresses are left empty in the state and looked
   * up by host name for the hosts shown. Not for planning (`complete` is not
   * known). Null where this backend cannot read that way: use read("full").
   */
  readCounts?(): { state: S; addresses(name: string): string[] } | null;
  /**
   * These hosts' counters now, looked up by name and key, at a cost that
   * grows with how many are asked, not with the table: what a full read
   * would say of each (null: that name is not that key's live pair now).
   * Null where this backend cannot look them up so.
   */
  readNamed?(hosts: readonly { key: string; name: string }[]): (HostCounters | null)[] | null;
  /**
   * Only the hosts an event touches, looked up by key (a `scoped` state), at
   * a cost that does not grow with the number of hosts; null where this
   * backend, or the table as it is, cannot tell them that way.
   */
  readScope?(scope: EventScope): S | null;
  /**
   * Right after a full read that a sample took, under the same lock: removes
   * the split's counters of no host's (they count nothing more, and the
   * sample took their last counts), so they do not pile up between inits.
   */
  pruneSplit?(state: S): void;
  /** Pure: the objects that bring the kernel from `current` to `desired`. */
  plan(current: S, desired: PlannedHost[], opts: ApplyOptions): C;
  /** Pure: the input(s) that carry out a change, for `print`. */
  render(change: C): string;
  /**
   * Carries out a change in one transaction per family; nothing when it is
   * empty. (nftables follows a rename with a second one, which folds the
   * renamed hosts' old counters once nothing counts into them.)
   */
  apply(change: C): void;
  /**
   * Whether applying the change alters the hosts in the kernel (their names,
   * addresses or counters); absent: take it that it may.
   */
  changesHosts?(change: C): boolean;
  /** Dry run in the kernel's own parser, applying nothing. */
  check(change: C): void;
  /** Removes everything iptmon created, and nothing else. */
  remove(): void;
  /**
   * What iptmon's other layout in the kernel counted, by host key (a
   * placement being switched): counters created now start from it, and the
   * next declare removes that layout.
   */
  carried?(): ReadonlyMap<string, HostCounters>;
  /**
   * Whether the backend counts on this network device (a LAN port), as the
   * router is now: a port that came back or was added is hooked by
   * re-declaring the layout. Absent where counting does not follow devices.
   */
  countsOn?(device: string): boolean;
}
