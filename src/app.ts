/** What a command handler gets: the process boundary and a lazily built runtime. */
import { selectBackend } from "./backends/index.ts";
import { loadConfig, type BackendChoice, type Config } from "./config.ts";
import type { Runtime } from "./core.ts";
import { DEFAULTS } from "./defaults.ts";
import type { Sys } from "./sys.ts";

export interface GlobalArgs {
  config?: string;
  backend?: BackendChoice;
  verbose?: boolean;
}

export interface App {
  sys: Sys;
  args: GlobalArgs;
  config(): Config;
  runtime(): Runtime;
  out(text: string): void;
  warn(text: string): void;
}

export function createApp(sys: Sys, args: GlobalArgs): App {
  let cfg: Config | undefined;
  let rt: Runtime | undefined;
  const app: App = {
    sys,
    args,
    config() {
      if (!cfg) {
        const explicit = args.config ?? sys.env.IPTMON_CONFIG;
        cfg = loadConfig(sys, explicit ?? DEFAULTS.config, explicit !== undefined);
      }
      return cfg;
    },
    runtime() {
      if (!rt) {
        const c = app.config();
        rt = { sys, cfg: c, backend: selectBackend(sys, c, args.backend), warn: app.warn };
      }
      return rt;
    },
    out: (t) => sys.stdout(t),
    // Events run with stdio at /dev/null or in dnsmasq's log: warnings only when asked for.
    warn: (t) => {
      if (args.verbose) sys.stderr(`iptmon: warning: ${t}\n`);
    },
  };
  return app;
}
