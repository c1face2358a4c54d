/** The nftables backend: reads with `nft -j`, applies one `nft -f -` transaction per change. */
import type { Config } from "../../config.ts";
import { failure } from "../../errors.ts";
import { findProgram, type Sys } from "../../sys.ts";
import type { Backend } from "../backend.ts";
import type { NftOptions, NftState } from "./layout.ts";
import { parseNftJson, parseNftMapsJson } from "./parse.ts";
import { nftChangeIsEmpty, planNft, type NftChange } from "./plan.ts";
import { renderNft } from "./render.ts";

export function createNftBackend(sys: Sys, cfg: Config, priority: number): Backend<NftState, NftChange> {
  const o: NftOptions = { table: cfg.table, priority };
  const nft = (args: string[], input?: string) => sys.run(cfg.nft, args, input);
  const fail = (verb: string, r: { code: number; stderr: string }) => {
    if (r.code === 127) return failure(`cannot ${verb}: ${cfg.nft} not found`, "install nftables or choose --backend iptables");
    return failure(`cannot ${verb}: ${r.stderr.trim().split("\n")[0] || `nft exited with ${r.code}`}`);
  };
  const readFull = (): NftState => {
    const r = nft(["-j", "list", "table", "inet", o.table]);
    if (r.code !== 0) {
      if (/No such file or directory/.test(r.stderr)) return { read: "absent" };
      throw fail(`read table inet ${o.table}`, r);
    }
    return parseNftJson(r.stdout, o.table);
  };
  return {
    name: "nftables",
    read(detail) {
      if (detail === "full") return readFull();
      const r = nft(["-j", "list", "maps", "inet"]);
      if (r.code !== 0) throw fail(`read maps of table inet ${o.table}`, r);
      const m = parseNftMapsJson(r.stdout, o.table);
      return "shortfall" in m ? readFull() : m;
    },
    plan: planNft,
    render: (change) => renderNft(change, o),
    apply(change) {
      if (nftChangeIsEmpty(change)) return;
      const r = nft(["-f", "-"], renderNft(change, o));
      if (r.code !== 0) throw fail(`apply ruleset to table inet ${o.table}`, r);
    },
    check(change) {
      const r = nft(["-c", "-f", "-"], renderNft(change, o));
      if (r.code !== 0) throw fail(`check ruleset for table inet ${o.table}`, r);
    },
    remove() {
      // add+delete in one transaction: idempotent even when the table is gone.
      const r = nft(["-f", "-"], `add table inet ${o.table}\ndelete table inet ${o.table}\n`);
      if (r.code !== 0) throw fail(`remove table inet ${o.table}`, r);
    },
  };
}

/**
 * Whether nftables is the way here (for `backend auto`): nft is installed
 * (fw4 routers, current Linux), not on fw3 routers. Not by running nft:
 * nft 1.0 fetches the whole ruleset even for `list tables` (~50 ms at 5000
 * hosts), and that would be paid on every event.
 */
export function nftAvailable(sys: Sys, cfg: Config): boolean {
  return findProgram(sys, cfg.nft) !== null;
}
