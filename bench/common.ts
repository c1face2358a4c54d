/**
 * What the benchmarks share: running programs (in a namespace), timing them
 * with repeats, and summing repeats up as min / median.
 */
import { copyFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

export const ROOT = resolve(import.meta.dir, "..");
export const BUN = process.execPath;

/** A random suffix for this run's namespaces and files. */
export const SUFFIX = Math.random().toString(16).slice(2, 8);

/**
 * The binary under test (IPTMON_BENCH_BIN: another build, say an older one),
 * copied: a rebuild of dist/ during a run does not change what is measured.
 */
export const BIN = join(tmpdir(), `iptmon-bench-${SUFFIX}`);
copyFileSync(process.env.IPTMON_BENCH_BIN ?? resolve(ROOT, "dist/iptmon"), BIN);
process.on("exit", () => rmSync(BIN, { force: true }));

export function sh(argv: string[], env: Record<string, string> = {}, input?: string): string {
  const p = Bun.spawnSync(argv, { env: { ...process.env, ...env }, stdout: "pipe", stderr: "pipe", stdin: input === undefined ? "ignore" : Buffer.from(input) });
  if (p.exitCode !== 0) throw new Error(`${argv.join(" ")}: exit ${p.exitCode}: ${p.stderr.toString().trim().slice(0, 400)}`);
  return p.stdout.toString();
}

export const inNs = (ns: string, argv: string[], env: Record<string, string> = {}, input?: string) => sh(["ip", "netns", "exec", ns, ...argv], env, input);

/** Wall time of one run of `fn`, in ms. */
export function timeOnce(fn: () => void): number {
  const s = performance.now();
  fn();
  return performance.now() - s;
}

export interface Sample {
  min: number;
  median: number;
  max: number;
  n: number;
}

export function summarise(xs: number[]): Sample {
  const s = [...xs].sort((a, b) => a - b);
  return { min: s[0]!, median: s[Math.floor((s.length - 1) / 2)]!, max: s[s.length - 1]!, n: s.length };
}

/** `reps` timed runs of `fn` (each may prepare untimed first with `setup`). */
export function timeRuns(reps: number, fn: (i: number) => void, setup?: (i: number) => void): Sample {
  const t: number[] = [];
  for (let i = 0; i < reps; i++) {
    setup?.(i);
    t.push(timeOnce(() => fn(i)));
  }
  return summarise(t);
}

/** Peak RSS in KiB of a command, by GNU time. */
export function peakRss(argv: string[], env: Record<string, string> = {}): number {
  const p = Bun.spawnSync(["/usr/bin/time", "-f", "%M", ...argv], { env: { ...process.env, ...env }, stdout: "ignore", stderr: "pipe" });
  if (p.exitCode !== 0) throw new Error(`${argv.join(" ")}: ${p.stderr.toString().slice(0, 300)}`);
  return Number(p.stderr.toString().trim().split("\n").pop());
}

/** A build of `source` with the Makefile's flags (the start-up floor's binary). */
export function buildLikeIptmon(source: string, out: string): void {
  const make = sh(["make", "-s", "-n", "-B", "dist/iptmon"], {}, undefined);
  const line = make.split("\n").find((l) => l.includes("build --compile"));
  if (!line) throw new Error("cannot find the build line in the Makefile");
  const flags = line
    .slice(line.indexOf("build --compile"))
    .replace(/src\/cli\.ts/, source)
    .replace(/--outfile \S+/, `--outfile ${out}`);
  sh(["sh", "-c", `cd ${ROOT} && node_modules/.bin/bun ${flags}`]);
}

export const fmtMs = (x: number) => (x >= 100 ? x.toFixed(0) : x.toFixed(1));
export const ratio = (a: number, b: number) => (a / b).toFixed(2);


export function machine(): string {
  const cpu = (sh(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"]).trim() || "unknown").replace(/\s+/g, " ");
  return `${cpu}, nproc ${sh(["nproc"]).trim()}, Linux ${sh(["uname", "-r"]).trim()}, ${sh(["nft", "--version"]).trim()}, bun ${Bun.version}`;
}

/** Waits (polling) until `cond` holds; throws after `ms`. */
export async function waitFor(what: string, cond: () => boolean, ms = 10000): Promise<void> {
  const end = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(20);
  }
}
