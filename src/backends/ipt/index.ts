/**
 * The iptables backend (fw3 routers, and what collectd's iptables plugin
 * reads): reads with `iptables-save -c -t mangle`, applies one
 * `iptables-restore --noflush --counters` per family. Layout in layout.ts.
 */
import type { Family } from "../../addr.ts";
import type { Config } from "../../config.ts";
import { badInput, failure } from "../../errors.ts";
import type { RunResult, Sys } from "../../sys.ts";
import type { Backend } from "../backend.ts";
import type { SplitCount } from "../../model.ts";
import { chainsFor, PREFIX_RE, type IptFamilyState, type IptState } from "./layout.ts";
import { planIpt, type IptChange } from "./plan.ts";
import { joinRender, renderIptables, renderIptablesRemove } from "./render.ts";
import { combineFamilies, parseIptablesSave } from "./save.ts";
import { iptRunner, XTABLES_WAIT_S } from "./tools.ts";

export function createIptBackend(sys: Sys, cfg: Config): Backend<IptState, IptChange> {
  const families: Family[] = cfg.ipv6 ? [4, 6] : [4];
  if (!PREFIX_RE.test(cfg.table))
    throw badInput(`cannot use option table '${cfg.table}' as a prefix of iptables chain names: over 22 characters`, "choose a shorter option table");
  // A rule per class and address would make a packet's cost grow with both.
  if (cfg.breakdown.includes("service"))
    throw badInput("cannot split hosts' traffic by service with the iptables backend: it would check every class's rule for every packet", "use the nftables backend, or set breakdown to 'family' only");
  const splitFamilies = cfg.breakdown.includes("family") && families.includes(6);
  const ch = chainsFor(cfg.table);
  const run = iptRunner(sys, cfg);
  const label = (f: Family) => (f === 4 ? "IPv4" : "IPv6");
  const cause = (r: RunResult) => {
    const lines = r.stderr.split("\n").map((l) => l.trim()).filter((l) => l && !/^Try `/.test(l));
    return lines.slice(0, 2).join("; ") || `exited with ${r.code}`;
  };
  const readFamily = (f: Family): IptFamilyState => {
    const r = run(f, "save", ["-c", "-t", "mangle"]);
    if (r.code !== 0)
      throw failure(`cannot read table mangle (${label(f)}) with ${r.bin}: ${cause(r)}`, f === 6 ? "run as root; without IPv6 here, set option ipv6 '0'" : "run as root");
    return parseIptablesSave(r.stdout, f, ch);
  };
  const restore = (f: Family, input: string, verb: string, test: boolean) => {
    if (input === "") return;
    const args = ["-w", XTABLES_WAIT_S, "--noflush", "--counters", ...(test ? ["--test"] : [])];
    const r = run(f, "restore", args, input);
    if (r.code !== 0) throw failure(`cannot ${verb} (${label(f)}) with ${r.bin}: ${cause(r)}`);
  };

  return {
    name: "iptables",
    hook: "forward",
    // One save per family is all there is to read: every read is full.
    read() {
      const fams: Partial<Record<Family, IptFamilyState>> = {};
      for (const f of families) fams[f] = readFamily(f);
      const state = combineFamilies(fams);
      // A host's IPv6 is its ip6tables rules' counts: the split's counters are those rules.
      if (state.read !== "full" || !splitFamilies) return state;
      const split: SplitCount[] = (fams[6]?.rules ?? []).map((r) => ({ dir: r.dir, handle: `addr:${r.addr}`, part: "ipv6", packets: r.packets, bytes: r.bytes }));
      return { ...state, split };
    },
    plan: (current, desired, opts) => planIpt(current, desired, opts, families),
    render: (change) => joinRender(renderIptables(change, ch)),
    apply(change) {
      const r = renderIptables(change, ch);
      // Two families are two transactions: have both checked before either
      // commits, so a refused IPv6 batch cannot leave IPv4 changed alone.
      if (families.includes(6) && r.v4 !== "" && r.v6 !== "") {
        restore(4, r.v4, "check rules for table mangle", true);
        restore(6, r.v6, "check rules for table mangle", true);
      }
      restore(4, r.v4, "apply rules to table mangle", false);
      if (families.includes(6)) restore(6, r.v6, "apply rules to table mangle", false);
    },
    check(change) {
      const r = renderIptables(change, ch);
      restore(4, r.v4, "check rules for table mangle", true);
      if (families.includes(6)) restore(6, r.v6, "check rules for table mangle", true);
    },
    remove() {
      // IPv6 too when it is not tracked (option ipv6 '0' set after a start),
      // as long as ip6tables is there at all.
      for (const f of [4, 6] as const) {
        let st: IptFamilyState;
        try {
          st = readFamily(f);
        } catch (e) {
          if (f === 6 && !families.includes(6)) continue;
          throw e;
        }
        restore(f, renderIptablesRemove(st, ch), "remove iptmon's chains from table mangle", false);
      }
    },
  };
}
