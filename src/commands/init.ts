/** `iptmon init`: (re)build accounting for every known host. */
import type { Sys } from "../sys.ts";
import type { Command } from "./command.ts";

/**
 * dnsmasq runs `init` (with --leasefile-ro) expecting the lease database on
 * stdout. That is not iptmon's job: answer nothing rather than rebuild.
 */
function calledByDnsmasq(sys: Sys): boolean {
  const comm = sys.readFile(`/proc/${sys.ppid}/comm`);
  return comm?.trim() === "dnsmasq";
}

export const initCommand: Command = {
  command: "init",
  scripted: true,
  describe: "rebuild accounting for every known host (idempotent; counters are kept)",
  async run(_args, app) {
    if (calledByDnsmasq(app.sys)) return 0;
    const { runInit } = await import("../core.ts");
    const rt = await app.runtime();
    if (!rt.cfg.enabled) {
      app.sys.stderr(`iptmon: disabled (option enabled '0' in ${rt.cfg.file}): nothing built; 'iptmon stop' removes what exists\n`);
      return 0;
    }
    runInit(rt, "apply");
    return 0;
  },
};

export const printCommand: Command = {
  command: "print",
  describe: "show the ruleset init would apply, applying nothing",
  async run(_args, app) {
    const { runInit } = await import("../core.ts");
    app.out(runInit(await app.runtime(), "print").script);
    return 0;
  },
};

export const checkCommand: Command = {
  command: "check",
  describe: "render the ruleset init would apply and have the kernel's parser check it",
  async run(_args, app) {
    const { runInit } = await import("../core.ts");
    runInit(await app.runtime(), "check");
    app.out("ruleset ok\n");
    return 0;
  },
};
