/**
 * `make bench` (root): the datapath (ports vs forward vs no accounting), then
 * events, init, status and memory at several sizes, each with its baselines
 * measured in the same run. Prints the tables and writes them into
 * BENCHMARKS.md between the `bench:begin` and `bench:end` markers.
 *
 *   bun bench/bench.ts [--quick] [--no-write] [--only datapath|events|split-events|poll|imports [--write]]
 *   BENCH_SIZES="10 1000 4000 5000" BENCH_DATAPATH_SIZES="10 4000" BENCH_SPLIT_SIZES="10 4000" BENCH_REPS=15
 *
 * `events` includes the split's event bench; `split-events` runs only that.
 * With `--only … --write`, only the tables that ran are replaced (each with
 * the machine line of its own run under its heading); the others stay.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { machine, ROOT } from "./common.ts";
import { benchDatapath, DATAPATH_NOTES, datapathTable } from "./datapath.ts";
import { benchEvents, benchSplitEvents, eventsTables, SPLIT_CLASSES, splitEventsTable } from "./events.ts";
import { benchImports, importsTable } from "./imports.ts";
import { benchPoll, POLL_STATE, pollTable } from "./poll.ts";

const args = process.argv.slice(2);
const quick = args.includes("--quick");
const only = args.includes("--only") ? args[args.indexOf("--only") + 1] : null;
const nums = (v: string | undefined, d: number[]) => (v ? v.split(/[\s,]+/).map(Number).filter((n) => n > 0) : d);
const sizes = nums(process.env.BENCH_SIZES, quick ? [10, 1000] : [10, 1000, 4000, 5000]);
const dpSizes = nums(process.env.BENCH_DATAPATH_SIZES, quick ? [10] : [10, 4000]);
const splitSizes = nums(process.env.BENCH_SPLIT_SIZES, quick ? [10] : [10, 4000]);
const reps = Number(process.env.BENCH_REPS) || (quick ? 5 : 15);
const dpReps = Number(process.env.BENCH_DATAPATH_REPS) || (quick ? 1 : 12);
const dpMs = Number(process.env.BENCH_DATAPATH_MS) || (quick ? 1000 : 700);
const placements = (process.env.BENCH_PLACEMENTS ?? "ports forward").split(/\s+/).filter(Boolean);


/** The tables' order in BENCHMARKS.md, by the start of their headings. */
const ORDER = ["### Datapath", "### Events, init, status", "### Events with the split", "### The page's poll", "### Start-up"];
const keyOf = (heading: string) => ORDER.find((k) => heading.startsWith(k)) ?? heading;

/**
 * The block between the markers with `fresh` tables in place of the ones of
 * the same heading (or added in ORDER), each stamped with the machine line
 * of this run: the block's own line is the full run's.
 */
function replaceSections(block: string, fresh: string[][], only: string, machineLine: string): string {
  const chunks: string[][] = [[]];
  for (const line of block.trim().split("\n")) {
    if (line.startsWith("### ")) chunks.push([]);
    chunks.at(-1)!.push(line);
  }
  const [preamble, ...tables] = chunks as [string[], ...string[][]];
  for (const f of fresh) {
    const stamped = [f[0]!, "", `This table is from a run of its own (\`--only ${only}\`). ${machineLine}`, ...f.slice(1)];
    const key = keyOf(f[0]!);
    const at = tables.findIndex((t) => keyOf(t[0]!) === key);
    if (at >= 0) tables[at] = stamped;
    else {
      const later = tables.findIndex((t) => ORDER.indexOf(keyOf(t[0]!)) > ORDER.indexOf(key));
      tables.splice(later < 0 ? tables.length : later, 0, stamped);
    }
  }
  return [...preamble, ...tables.flat()].join("\n");
}

if (process.getuid?.() !== 0) {
  console.error("bench: needs root (network namespaces, nftables)");
  process.exit(2);
}
const log = (s: string) => console.error(s);
const dir = mkdtempSync(join(tmpdir(), "iptmon-bench-"));
let cleaned = false;
const cleanup = () => {
  if (cleaned) return;
  cleaned = true;
  rmSync(dir, { recursive: true, force: true });
};
for (const sig of ["SIGINT", "SIGTERM"] as const) process.on(sig, () => (cleanup(), process.exit(130)));
try {
  const started = new Date().toISOString().slice(0, 16).replace("T", " ");
  const machineLine = `Machine: ${machine()}; load average before the run: ${readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ")}; ${started} UTC.`;
  /** Each table with its heading first. */
  const sections: string[][] = [];
  if (only === null || only === "datapath") {
    log(`datapath: ${dpSizes.join(", ")} hosts, ${dpReps} repeats of ${dpMs} ms per placement`);
    // BENCH_COMPARE_BIN: another build's placements in the same run (its rules against these).
    const cmp = process.env.BENCH_COMPARE_BIN;
    const rows = await benchDatapath(dir, dpSizes, dpReps, dpMs, log, cmp ? { bin: cmp, label: process.env.BENCH_COMPARE_LABEL ?? "(compared build)" } : undefined);
    const table = [
      `### Datapath (${dpReps} repeats of ${dpMs / 1000} s per test, placements taking turns)`,
      "",
      DATAPATH_NOTES,
      "",
      datapathTable(rows),
      "",
    ];
    console.log(table.join("\n"));
    sections.push(table);
  }
  if (only === null || only === "events") {
    log(`events: ${sizes.join(", ")} hosts, ${reps} repeats, placements ${placements.join(", ")}`);
    const { rows, big } = benchEvents(dir, sizes, placements, reps, log);
    const table = [`### Events, init, status (${reps} repeats; init ${Math.max(3, reps >> 2)})`, "", eventsTables(rows, big)];
    console.log(table.join("\n"));
    sections.push(table);
  }
  if (only === null || only === "events" || only === "split-events") {
    log(`split events: ${splitSizes.join(", ")} hosts, ${reps} pairs, placements ${placements.join(", ")}`);
    const table = [`### Events with the split: ${SPLIT_CLASSES} service classes against none (${reps} pairs; init and status ${Math.max(5, reps >> 1)})`, "", splitEventsTable(benchSplitEvents(dir, splitSizes, placements, reps, log)), ""];
    console.log(table.join("\n"));
    sections.push(table);
  }
  if (only === null || only === "poll") {
    const pollSizes = nums(process.env.BENCH_POLL_SIZES, quick ? [10, 1000] : [10, 1000, 5000]);
    log(`poll: ${pollSizes.join(", ")} hosts, ${reps} rounds, placements ${placements.join(", ")}`);
    const table = [`### The page's poll (${reps} rounds, each an event, status --json and the poll in turn; ${POLL_STATE})`, "", pollTable(benchPoll(dir, pollSizes, placements, reps, log))];
    console.log(table.join("\n"));
    sections.push(table);
  }
  if (only === null || only === "imports") {
    log("start-up: each import's cost");
    const table = ["### Start-up: what each import costs", "", importsTable(benchImports(dir, reps * 2, log)), ""];
    console.log(table.join("\n"));
    sections.push(table);
  }
  if (!args.includes("--no-write") && !quick && (!only || args.includes("--write"))) {
    const file = join(ROOT, "BENCHMARKS.md");
    const md = readFileSync(file, "utf8");
    const [b, e] = ["<!-- bench:begin -->", "<!-- bench:end -->"];
    if (md.includes(b) && md.includes(e)) {
      const block = md.slice(md.indexOf(b) + b.length, md.indexOf(e));
      const text = only ? replaceSections(block, sections, only, machineLine) : [machineLine, "", ...sections.flat()].join("\n");
      writeFileSync(file, `${md.slice(0, md.indexOf(b) + b.length)}\n${text.trim()}\n\n${md.slice(md.indexOf(e))}`);
      log("bench: BENCHMARKS.md updated");
    } else log("bench: BENCHMARKS.md has no bench:begin/bench:end markers; not written");
  }
} finally {
  cleanup();
}

