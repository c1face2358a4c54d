/**
 * `iptmon top`, loaded only when that command runs. One reading per interval;
 * interactive on a terminal (alternate screen, raw keys), one sample otherwise.
 */
import type { App } from "../app.ts";
import type { Args } from "../commands/command.ts";
import { badInput } from "../errors.ts";
import { readStatus, type Status } from "../status.ts";
import { statusByPart } from "../status-format.ts";
import { checkBy } from "../split/rows.ts";
import { computeRates, type Sample, type SortKey } from "./rates.ts";
import { formatRates, ratesJson, renderScreen } from "./screen.ts";

export const MIN_INTERVAL_S = 0.1;
export const MAX_INTERVAL_S = 3600;

/** The interval in seconds, or a usage error. */
export function parseInterval(v: unknown): number {
  const n = typeof v === "number" ? v : Number(v);
  if (!Number.isFinite(n) || n < MIN_INTERVAL_S || n > MAX_INTERVAL_S) {
    throw badInput(`cannot run top: --interval must be a number of seconds from ${MIN_INTERVAL_S} to ${MAX_INTERVAL_S}`);
  }
  return n;
}

/** What a key press does: a new sort, quit, or nothing. */
export function keyAction(key: string): SortKey | "quit" | null {
  switch (key) {
    case "q":
    case "Q":
    case "\x03": // Ctrl-C: raw mode delivers it as a byte, not a signal
    case "\x04": // Ctrl-D
      return "quit";
    case "r":
      return "rate";
    case "d":
      return "down";
    case "u":
      return "up";
    case "t":
      return "total";
    case "n":
      return "name";
    default:
      return null;
  }
}

/** One reading, stamped with the middle of the time it took. */
function sample(read: () => Status): Sample {
  const t0 = performance.now();
  const status = read();
  return { at: (t0 + performance.now()) / 2, status };
}

export async function runTop(args: Args, app: App): Promise<number> {
  const interval = parseInterval(args.interval ?? 2);
  const rt = await app.runtime();
  const by = checkBy(args.by, rt.cfg.breakdown, rt.cfg.file, "show rates");
  const read = () => (by ? statusByPart(readStatus(rt), by) : readStatus(rt));
  const first = sample(read); // a broken setup fails here, before the terminal changes
  const tty = process.stdout.isTTY === true && process.stdin.isTTY === true;
  if (args.once || args.json || !tty) {
    await Bun.sleep(interval * 1000);
    const rates = computeRates(first, sample(read));
    app.out(args.json ? ratesJson(rates) : formatRates(rates));
    return 0;
  }
  return interactive(read, first, interval);
}

// Alternate screen + hidden cursor, and back.
const ENTER = "\x1b[?1049h\x1b[?25l\x1b[H\x1b[2J";
const LEAVE = "\x1b[?25h\x1b[?1049l";

function interactive(read: () => Status, first: Sample, interval: number): Promise<number> {
  const out = process.stdout;
  const input = process.stdin;
  let sort: SortKey = "rate";
  let prev: Sample | null = null;
  let cur = first;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let done = false;

  return new Promise<number>((resolve, reject) => {
    const draw = () => {
      const lines = renderScreen({
        rates: computeRates(prev, cur),
        sort,
        intervalS: interval,
        width: out.columns || 80,
        height: out.rows || 24,
      });
      // Home, each line cleared to its end, the rest of the screen cleared: no flicker.
      out.write(`\x1b[H${lines.join("\x1b[K\r\n")}\x1b[K\x1b[J`);
    };
    const restore = () => {
      if (timer) clearTimeout(timer);
      input.off("data", onKey);
      out.off("resize", draw);
      for (const [sig, fn] of handlers) process.off(sig, fn);
      process.off("exit", onExit);
      try {
        input.setRawMode(false);
      } catch {
        // the terminal is gone (SIGHUP): nothing to restore
      }
      input.pause();
      out.write(LEAVE);
    };
    const finish = (code: number, err?: unknown) => {
      if (done) return;
      done = true;
      restore();
      if (err === undefined) resolve(code);
      else reject(err);
    };
    const onKey = (data: Buffer | string) => {
      for (const ch of data.toString()) {
        const a = keyAction(ch);
        if (a === "quit") return finish(0);
        if (a) {
          sort = a;
          draw();
        }
      }
    };
    const tick = () => {
      const started = performance.now();
      try {
        prev = cur;
        cur = sample(read);
        draw();
      } catch (e) {
        return finish(1, e);
      }
      timer = setTimeout(tick, Math.max(0, interval * 1000 - (performance.now() - started)));
    };
    const handlers: [NodeJS.Signals, () => void][] = [
      ["SIGTERM", () => finish(128 + 15)],
      ["SIGINT", () => finish(128 + 2)],
      ["SIGHUP", () => finish(128 + 1)],
    ];
    // Last resort: whatever ends the process leaves the terminal usable.
    const onExit = () => {
      if (!done) out.write(LEAVE);
    };

    for (const [sig, fn] of handlers) process.on(sig, fn);
    process.on("exit", onExit);
    out.write(ENTER);
    input.setRawMode(true);
    input.resume();
    input.on("data", onKey);
    out.on("resize", draw);
    draw();
    timer = setTimeout(tick, interval * 1000);
  });
}
