/** Entry point: `main(argv, sys)` returns the exit code; nothing here exits the process. */
import { createApp, type App, type GlobalArgs } from "./app.ts";
import type { Argv } from "yargs";
import { fastArgs, GLOBAL_OPTIONS, optionWords, parseSyntax, type Args, type Command } from "./commands/command.ts";
import { cronCommand } from "./commands/cron.ts";
import { dnsmasqCommands, tftpCommand } from "./commands/dnsmasq.ts";
import { hotplugCommand } from "./commands/hotplug.ts";
import { checkCommand, initCommand, printCommand } from "./commands/init.ts";
import { metricsCommand } from "./commands/metrics.ts";
import { pushCommand } from "./commands/push.ts";
import { resetCommand } from "./commands/reset.ts";
import { snapshotCommand } from "./commands/snapshot.ts";
import { serviceCommand } from "./commands/service.ts";
import { statusCommand } from "./commands/status.ts";
import { stopCommand } from "./commands/stop.ts";
import { topCommand } from "./commands/top.ts";
import { usageCommand } from "./commands/usage.ts";
import { formatUserError, oneLine, shorten, UserError } from "./errors.ts";
import type { Sys } from "./sys.ts";

declare const IPTMON_VERSION: string | undefined;
export const VERSION = typeof IPTMON_VERSION === "string" ? IPTMON_VERSION : "dev";

export const COMMANDS: Command[] = [
  initCommand,
  stopCommand,
  statusCommand,
  printCommand,
  checkCommand,
  hotplugCommand,
  ...dnsmasqCommands,
  tftpCommand,
  metricsCommand,
  pushCommand,
  cronCommand,
  topCommand,
  usageCommand,
  resetCommand,
  snapshotCommand,
  serviceCommand,
];

/**
 * The option parser, built from COMMANDS: usage, --help, usage errors. `handle`
 * gets the command and its arguments (it runs the command, or a test looks).
 */
export async function optionParser(argv: string[], handle: (c: Command, args: Args) => Promise<void>) {
  const { default: yargs } = await import("yargs");
  const y = yargs(argv)
    .scriptName("iptmon")
    .usage("$0 <command> [options]\n\nPer-host bandwidth accounting (rx: received from the host, tx: sent to it).")
    .options(GLOBAL_OPTIONS)
    // dnsmasq passes a hostname like "0123": a string, not the number 123
    .parserConfiguration({ "parse-positional-numbers": false })
    .version(VERSION)
    .strict()
    .demandCommand(1, "a command is required")
    .recommendCommands()
    .exitProcess(false)
    .wrap(Math.min(100, process.stdout.columns || 80))
    .fail((msg, err) => {
      if (err) throw err;
      // yargs repeats the offending argument: cut a long one short.
      throw new UserError((msg ?? "bad usage").replace(/\S{65,}/g, shorten), 2, "see iptmon --help");
    })
    .help();
  for (const c of COMMANDS) {
    y.command({
      command: c.command,
      describe: c.hidden ? false : c.describe,
      builder: (b: Argv) => {
        for (const { name } of parseSyntax(c.command).positionals) b.positional(name, { type: "string", ...c.positionals?.[name] });
        if (c.options) b.options(c.options);
        return c.builder ? c.builder(b) : b;
      },
      handler: (a: Record<string, unknown>) => handle(c, a as Args),
    });
  }
  return y;
}

export async function main(argv: string[], sys: Sys): Promise<number> {
  let code = 0;
  // A guess until the options are read: an event's hostname may be "-v".
  let verbose = optionWords(argv, COMMANDS).some((w) => w === "--verbose" || w === "-v");
  const report = (e: unknown): number => {
    // One line, hint included: on a router stderr often ends up in syslog, line by line.
    if (e instanceof UserError) {
      sys.stderr(`iptmon: ${formatUserError(e)}\n`);
      return e.exitCode;
    }
    const err = e as Error;
    const what = oneLine(`internal error: ${err?.message ?? String(e)}`, 1000);
    if (verbose && err?.stack) sys.stderr(`iptmon: ${what}\n${err.stack}\n`);
    else sys.stderr(`iptmon: ${what}; hint: run again with --verbose for details\n`);
    return 1;
  };
  let app: App | undefined;
  const run = async (c: Command, args: Args, g: GlobalArgs) => {
    app = createApp(sys, g, { event: c.event });
    return c.run(args, app);
  };
  try {
    // dnsmasq and the hotplug wrappers run us for every event with plain
    // positional arguments: skip loading the option parser for those.
    // dnsmasq's words after the action are data, whatever they look like.
    const fast = fastArgs(argv, COMMANDS);
    if (fast) {
      verbose = Boolean(fast.globals.verbose);
      code = await run(fast.command, fast.args, fast.globals);
    } else {
      const y = await optionParser(optionWords(argv, COMMANDS), async (c, a) => {
        const g = a as GlobalArgs;
        verbose = Boolean(g.verbose);
        code = await run(c, a, g);
      });
      await y.parseAsync();
    }
  } catch (e) {
    code = report(e);
  } finally {
    app?.finish();
  }
  return code;
}
