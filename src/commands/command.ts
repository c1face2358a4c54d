/**
 * One definition per command, read two ways: the option parser (yargs) builds
 * usage, help and errors from it, and the event fast path (dnsmasq and hotplug
 * run iptmon for every event) reads the same positionals without loading yargs.
 *
 * Every command is declared at start-up, so a command module holds only its
 * declaration and a thin handler: what the handler calls (core, status,
 * exporters, …) it imports when it runs. An event then evaluates its own code
 * and no other command's. `bun build --compile` still bundles those modules
 * into the binary; a dynamic import there only delays their evaluation.
 */
import type { Argv } from "yargs";
import type { App, GlobalArgs } from "../app.ts";
import type { Runtime } from "../core.ts";
import { quoteInput, UserError } from "../errors.ts";

export type Args = Record<string, unknown> & { _: (string | number)[] };

export interface OptionSpec {
  type?: "string" | "boolean";
  choices?: readonly string[];
  alias?: string;
  describe: string;
}

export interface PositionalSpec {
  choices?: readonly string[];
  describe?: string;
}

/** One module per command: its syntax, and a thin handler returning the exit code (it imports what it calls). */
export interface Command {
  /** yargs syntax: the name, then `<required>` and `[optional]` positionals; `[rest..]` takes any number. */
  command: string;
  describe: string;
  /** Left out of --help (still runs). */
  hidden?: true;
  /** Run by dnsmasq or hotplug: argv of exactly its positionals is parsed without the option parser. */
  event?: true;
  /**
   * Run by dnsmasq with what DHCP clients sent: every word after the name is
   * a positional, never an option (a hostname `--help` is a hostname); the
   * global options go before the name. Never seen by the option parser.
   */
  dataArgs?: true;
  /**
   * Run by scripts, often: a CGI for every request (the web page every 2 s,
   * a Prometheus scrape), the init script and every firewall reload. Argv of
   * exactly its positionals and its own boolean options is parsed without
   * the option parser too.
   */
  scripted?: true;
  positionals?: Record<string, PositionalSpec>;
  options?: Record<string, OptionSpec>;
  /** Anything else yargs should know; a command with a builder never takes the fast path. */
  builder?: (y: Argv) => Argv;
  run(args: Args, app: App): number | Promise<number>;
}

/** A command that does one thing to the runtime (`load` imports it), takes no arguments and exits 0. */
export function runtimeCommand(command: string, describe: string, load: () => Promise<(rt: Runtime) => unknown>): Command {
  return {
    command,
    describe,
    async run(_args, app) {
      const act = await load();
      act(await app.runtime());
      return 0;
    },
  };
}

/** Options every command takes. */
export const GLOBAL_OPTIONS: Record<string, OptionSpec> = {
  config: { type: "string", describe: "config file (default /etc/config/iptmon, or $IPTMON_CONFIG)" },
  backend: { choices: ["auto", "nftables", "iptables"], describe: "override the config's backend" },
  verbose: { alias: "v", type: "boolean", describe: "warnings, and stack traces of internal errors" },
};

interface Positional {
  name: string;
  required: boolean;
  variadic: boolean;
}

/** The name and positionals of a yargs command string. */
export function parseSyntax(command: string): { name: string; positionals: Positional[] } {
  const [name, ...words] = command.split(/\s+/);
  return {
    name: name!,
    positionals: words.map((w) => {
      const m = /^([<[])([\w-]+)(\.\.)?[>\]]$/.exec(w);
      if (!m) throw new Error(`bad command syntax: ${command}`);
      return { name: m[2]!, required: m[1] === "<", variadic: m[3] !== undefined };
    }),
  };
}

// Short options yargs knows: the aliases above, and -h for help.
const SHORT = new Set(["-h", ...Object.values(GLOBAL_OPTIONS).flatMap((o) => (o.alias ? [`-${o.alias}`] : []))]);
const isFlag = (arg: string) => arg.startsWith("--") || SHORT.has(arg);

/** A global option's spec by how it is written: `--name` or its alias `-a`. */
const GLOBAL_BY_FLAG = new Map<string, { name: string; o: OptionSpec }>(
  Object.entries(GLOBAL_OPTIONS).flatMap(([name, o]) => [[`--${name}`, { name, o }] as const, ...(o.alias ? [[`-${o.alias}`, { name, o }] as const] : [])]),
);

/**
 * The global options written before a command's name, read as the option
 * parser reads GLOBAL_OPTIONS (`--config F`, `--config=F`, a boolean's
 * `--verbose` or alias `-v`), up to the first word that is not one (`--`
 * ends them too): `at` is the index of the name. Help and version asked
 * for, and any other option, are said apart.
 */
function leadingOptions(argv: string[]): { globals: GlobalArgs; at: number; help: boolean; unknown: string[] } {
  const globals: Record<string, unknown> = {};
  const unknown: string[] = [];
  let help = false;
  let i = 0;
  for (; i < argv.length; i++) {
    const w = argv[i]!;
    if (w === "--") {
      i++;
      break;
    }
    if (!w.startsWith("-") || w === "-") break;
    if (w === "--help" || w === "-h" || w === "--version") {
      help = true;
      continue;
    }
    const eq = w.startsWith("--") ? w.indexOf("=") : -1;
    const spec = GLOBAL_BY_FLAG.get(eq < 0 ? w : w.slice(0, eq));
    if (!spec) unknown.push(w);
    else if (spec.o.type === "boolean") {
      if (eq < 0) globals[spec.name] = true;
      else unknown.push(w);
    } else {
      const value = eq < 0 ? argv[++i] : w.slice(eq + 1);
      if (value === undefined) unknown.push(w);
      else globals[spec.name] = value;
    }
  }
  return { globals: globals as GlobalArgs, at: i, help, unknown };
}

/** The data command (dnsmasq's event) argv names after its global options, if any. */
function dataCommand(argv: string[], commands: readonly Command[]): { command: Command; lead: ReturnType<typeof leadingOptions> } | null {
  const lead = leadingOptions(argv);
  const name = argv[lead.at];
  const command = commands.find((c) => c.dataArgs && parseSyntax(c.command).name === name);
  return command ? { command, lead } : null;
}

/**
 * What the option parser is given: argv, cut after a data command's name
 * (help asked for before it shows its help; the words after it are data,
 * never read as options).
 */
export function optionWords(argv: string[], commands: readonly Command[]): string[] {
  const d = dataCommand(argv, commands);
  return d ? argv.slice(0, d.lead.at + 1) : argv;
}

/**
 * A data command's argv (`[options] NAME WORD...`): the global options
 * before its name, and every word after it as a positional, whatever it
 * looks like. Null when argv asks for help or the version before the name
 * (the option parser shows those). A word count that does not fit,
 * or an option before the name that is not a global one, is a usage error.
 */
function dataArgs(argv: string[], d: NonNullable<ReturnType<typeof dataCommand>>): { command: Command; args: Args; globals: GlobalArgs } | null {
  const { command, lead } = d;
  if (lead.help) return null;
  const syntax = parseSyntax(command.command);
  const usage = `iptmon [--config FILE] [--backend B] [--verbose] ${syntax.name} ${syntax.positionals.map((p) => (p.required ? p.name.toUpperCase() : `[${p.name.toUpperCase()}${p.variadic ? "..." : ""}]`)).join(" ")}`;
  const bad = (what: string) => new UserError(`cannot run ${syntax.name}: ${what}`, 2, `usage: ${usage} (options go before ${syntax.name}; every word after it is data)`);
  if (lead.unknown.length > 0) throw bad(`unknown option ${quoteInput(lead.unknown[0]!)} before ${syntax.name}`);
  const choices = GLOBAL_OPTIONS.backend!.choices!;
  if (lead.globals.backend !== undefined && !choices.includes(lead.globals.backend)) throw bad(`--backend must be one of ${choices.join(", ")}, not ${quoteInput(lead.globals.backend)}`);
  const words = argv.slice(lead.at + 1);
  const ps = syntax.positionals;
  const required = ps.filter((p) => p.required).length;
  const variadic = ps.at(-1)?.variadic === true;
  if (words.length < required || (!variadic && words.length > ps.length))
    throw bad(`${words.length} argument${words.length === 1 ? "" : "s"} after ${syntax.name}, ${variadic ? `at least ${required}` : required === ps.length ? `${required}` : `${required} to ${ps.length}`} expected`);
  const args: Args = { _: [syntax.name] };
  for (const [i, p] of ps.entries()) args[p.name] = p.variadic ? words.slice(i) : words[i];
  return { command, args, globals: lead.globals };
}

/**
 * An event command's argv exactly as dnsmasq or hotplug passes it: its name,
 * then its positionals, no option; a scripted command's may add its own
 * boolean options. Anything else (another option, a count or value that
 * does not fit) is left to yargs, which also gives usage errors. A data
 * command's argv is read by its own rule (dataArgs), and its usage errors
 * are thrown.
 */
export function fastArgs(argv: string[], commands: readonly Command[]): { command: Command; args: Args; globals: GlobalArgs } | null {
  const data = dataCommand(argv, commands);
  if (data) return dataArgs(argv, data);
  const [name, ...words] = argv;
  for (const command of commands) {
    if (!(command.event || command.scripted) || command.builder) continue;
    const syntax = parseSyntax(command.command);
    if (syntax.name !== name) continue;
    // A scripted command's own boolean options, each once, spelled out whole.
    const flags = command.scripted ? words.filter((w) => w.startsWith("--") && command.options?.[w.slice(2)]?.type === "boolean") : [];
    if (new Set(flags).size !== flags.length) return null;
    const rest = words.filter((w) => !flags.includes(w));
    if (rest.some(isFlag)) return null;
    const ps = syntax.positionals;
    const variadic = ps.at(-1)?.variadic === true;
    const required = ps.filter((p) => p.required).length;
    if (rest.length < required || (!variadic && rest.length > ps.length)) return null;
    const args: Args = { _: [name], ...Object.fromEntries(flags.map((f) => [f.slice(2), true])) };
    for (const [i, p] of ps.entries()) {
      const value = p.variadic ? rest.slice(i) : rest[i];
      const choices = command.positionals?.[p.name]?.choices;
      if (choices && typeof value === "string" && !choices.includes(value)) return null;
      args[p.name] = value;
    }
    return { command, args, globals: {} };
  }
  return null;
}
