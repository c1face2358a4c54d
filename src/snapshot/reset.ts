/**
 * The one way totals go back to zero: `iptmon reset HOST...|--all`. The hosts'
 * counters are created anew from zero and the snapshot forgets their totals,
 * in RAM and on flash, so no restart or reboot brings them back. Usage
 * already counted in periods stays: it was used.
 */
import { applyChange, readHosts, withLock, type Runtime } from "../core.ts";
import { badInput, failure, quoteInput } from "../errors.ts";
import { zeroCounter, type PlannedHost } from "../model.ts";
import { snapshotsOf } from "./store.ts";

export interface ResetResult {
  /** Host keys whose totals were zeroed. */
  keys: string[];
}

/**
 * `which`: host names, MACs or keys, or "all". A name that matches no host
 * is an error and changes nothing; so is a copy on flash that cannot be
 * written (exit 1: the kernel and RAM are zeroed, flash would bring the
 * totals back at the next boot).
 */
export function runReset(rt: Runtime, which: readonly string[] | "all"): ResetResult {
  return withLock(rt, () => {
    const snaps = snapshotsOf(rt);
    const hosts = readHosts(rt);
    const state = snaps.current();
    let keys: string[];
    if (which === "all") keys = [...new Set([...hosts.map((h) => h.key), ...Object.keys(state.hosts)])];
    else if (which.length === 0) throw new Error("reset of no host");
    else {
      keys = [];
      for (const w of which) {
        const l = w.toLowerCase();
        const found = new Set<string>();
        for (const h of hosts) if (h.key === l || h.name === w) found.add(h.key);
        for (const [k, h] of Object.entries(state.hosts)) if (k === l || h.name === w) found.add(k);
        if (found.size === 0) throw badInput(`cannot reset ${quoteInput(w)}: no such host`, "name a host as iptmon status shows it (name, MAC or key)");
        keys.push(...found);
      }
    }
    const zero = new Set(keys);
    if (hosts.some((h) => zero.has(h.key))) {
      // One change: the hosts' counters are created anew from zero.
      const current = rt.backend.read("full");
      if (current.read !== "full") throw new Error("iptmon's counters went away during a reset");
      const desired: PlannedHost[] = current.hosts.map(({ key, name, addresses }) =>
        zero.has(key) ? { key, name, addresses, counters: { rx: zeroCounter(), tx: zeroCounter() }, reset: true } : { key, name, addresses, counters: "keep" },
      );
      applyChange(rt, rt.backend.plan(current, desired, { rebuild: !current.complete }));
    }
    // What the ranking says of these hosts' totals and usage is no more.
    snaps.dropRanking();
    snaps.forget(which === "all" ? null : keys);
    if (!snaps.save(true)) {
      const what = which === "all" ? "every host" : which.map(quoteInput).join(" ");
      throw failure(
        `cannot reset ${what} for good: the totals are zeroed in the kernel but the snapshot could not be saved (said above), so they come back after a reboot`,
        "make persist_dir (and the state file's directory) writable, then run the same reset again",
      );
    }
    return { keys: [...zero].sort() };
  });
}
