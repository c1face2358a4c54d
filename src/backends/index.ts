import type { BackendChoice, Config } from "../config.ts";
import { DEFAULTS } from "../defaults.ts";
import { badInput, failure } from "../errors.ts";
import type { Sys } from "../sys.ts";
import type { Backend } from "./backend.ts";
import { createNftBackend, nftWorks } from "./nftables.ts";

/** The backend named by --backend, else by the config; `auto` prefers nftables. */
export function selectBackend(sys: Sys, cfg: Config, override: BackendChoice | undefined): Backend {
  const choice = override ?? cfg.backend;
  if (choice === "nftables") return createNftBackend(sys, cfg, DEFAULTS.nftPriority);
  if (choice === "iptables") throw badInput("cannot use backend iptables: not available in this build", "use --backend nftables");
  if (nftWorks(sys, cfg)) return createNftBackend(sys, cfg, DEFAULTS.nftPriority);
  throw failure("cannot choose a backend: nft does not work here", "install nftables (and run as root)");
}
