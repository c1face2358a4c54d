import type { Argv } from "yargs";
import type { App } from "../app.ts";

export type Args = Record<string, unknown> & { _: (string | number)[] };

/** One module per command: what yargs needs, and a thin handler returning the exit code. */
export interface Command {
  command: string | string[];
  describe: string;
  builder?: (y: Argv) => Argv;
  run(args: Args, app: App): number | Promise<number>;
}
