import type { BackendChoice, Config } from "../config.ts";
import { DEFAULTS } from "../defaults.ts";
import type { Sys } from "../sys.ts";
import type { Backend } from "./backend.ts";
import { createIptBackend } from "./ipt/index.ts";
import { createNftBackend, nftAvailable } from "./nft/index.ts";

/**
 * The backend named by --backend, else by the config. `auto` prefers
 * nftables wherever nft is installed (fw4, plain Linux) and falls back
 * to iptables (fw3 routers); the iptables backend reports missing tools itself.
 */
export function selectBackend(sys: Sys, cfg: Config, override: BackendChoice | undefined, warn: (message: string) => void = () => {}): Backend {
  const choice = override ?? cfg.backend;
  if (choice === "nftables") return createNftBackend(sys, cfg, DEFAULTS.nftPriority, warn);
  if (choice === "iptables") return createIptBackend(sys, cfg);
  if (nftAvailable(sys, cfg)) return createNftBackend(sys, cfg, DEFAULTS.nftPriority, warn);
  return createIptBackend(sys, cfg);
}
