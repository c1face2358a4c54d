/** Which iptables binaries to run, and running them with a fallback while one is missing. */
import type { Family } from "../../addr.ts";
import type { Config } from "../../config.ts";
import { failure } from "../../errors.ts";
import type { RunResult, Sys } from "../../sys.ts";

export type Tool = "restore" | "save";

/** How long iptables-restore waits for the xtables lock (fw3 holds it while it runs). */
export const XTABLES_WAIT_S = "10";

/**
 * The binaries: an explicit option wins; `option iptables` names the family
 * whose -restore/-save are used; else the -legacy variants (collectd's plugin
 * reads the legacy tables only), else plain iptables-restore/-save.
 */
function toolCandidates(cfg: Config, f: Family, tool: Tool): string[] {
  const base = f === 4 ? "iptables" : "ip6tables";
  const explicit = cfg.options.get(`${base}_${tool}`);
  if (typeof explicit === "string") return [explicit];
  const main = cfg.options.get(base);
  if (typeof main === "string") return [`${main}-${tool}`];
  return [`${base}-legacy-${tool}`, `${base}-${tool}`];
}

export type IptRunner = (f: Family, tool: Tool, args: string[], input?: string) => RunResult & { bin: string };

/** Runs a tool, falling back to the next candidate while one is missing; remembers what was found. */
export function iptRunner(sys: Sys, cfg: Config): IptRunner {
  const resolved = new Map<string, string>();
  return (f, tool, args, input) => {
    const id = `${f}${tool}`;
    const cands = resolved.has(id) ? [resolved.get(id)!] : toolCandidates(cfg, f, tool);
    let r: RunResult = { code: 127, stdout: "", stderr: "" };
    for (const bin of cands) {
      r = sys.run(bin, args, input);
      if (r.code !== 127) {
        resolved.set(id, bin);
        return { ...r, bin };
      }
    }
    throw failure(
      `cannot run ${cands.join(" or ")}: not found`,
      `install iptables${f === 6 ? " (ip6tables)" : ""}, set option ${f === 4 ? "iptables" : "ip6tables"}_${tool}${f === 6 ? ", or set option ipv6 '0'" : ""}, or choose --backend nftables`,
    );
  };
}
