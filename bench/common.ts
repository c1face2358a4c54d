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

/**
 * The benchmarks' router: namespaces R (a `br-lan` bridge with C's veth
 * `lan1` as its port, `wan` to W, forwarding on), C (the client, `eth0`) and
 * W (the WAN host, routing `<lan>.0.0/16` back, and a `sink` table that
 * counts and drops UDP to port 40100). `lan` is the LAN's first two octets.
 */
export function buildBenchRouter(R: string, C: string, W: string, lan: string): void {
  for (const ns of [R, C, W]) sh(["ip", "netns", "add", ns]);
  sh(["ip", "-n", R, "link", "add", "br-lan", "type", "bridge"]);
  sh(["ip", "-n", R, "link", "add", "lan1", "type", "veth", "peer", "name", "eth0", "netns", C]);
  sh(["ip", "-n", R, "link", "add", "wan", "type", "veth", "peer", "name", "eth0", "netns", W]);
  sh(["ip", "-n", R, "link", "set", "lan1", "master", "br-lan"]);
  for (const [ns, dev] of [[R, "br-lan"], [R, "lan1"], [R, "wan"], [C, "eth0"], [W, "eth0"], [R, "lo"], [C, "lo"], [W, "lo"]] as const) sh(["ip", "-n", ns, "link", "set", dev, "up"]);
  sh(["ip", "-n", R, "addr", "add", `${lan}.255.254/16`, "dev", "br-lan"]);
  sh(["ip", "-n", R, "addr", "add", "198.18.0.1/24", "dev", "wan"]);
  sh(["ip", "-n", W, "addr", "add", "198.18.0.2/24", "dev", "eth0"]);
  sh(["ip", "-n", W, "route", "add", `${lan}.0.0/16`, "via", "198.18.0.1"]);
  inNs(R, ["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
  inNs(W, ["nft", "add table inet sink; add counter inet sink in; add chain inet sink input { type filter hook input priority 0; udp dport 40100 counter name in drop; }"]);
}
