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

/** The benchmarks' IPv6 prefixes (/64) for a LAN `lan` ("10.66" → fd00:10:66::) and for the WAN link. */
export const lan6 = (lan: string) => `fd00:${lan.replace(".", ":")}:`;
export const WAN6 = "fd00:198:18:";

/**
 * The benchmarks' router: namespaces R (a `br-lan` bridge with C's veth
 * `lan1` as its port, `wan` to W, forwarding on), C (the client, `eth0`) and
 * W (the WAN host, routing `<lan>.0.0/16` back, and a `sink` table that
 * counts and drops UDP to port `sinkPort`, 40100 unless told). `lan` is the
 * LAN's first two octets. With `ipv6`, the same again over IPv6: R has
 * `<lan6>:ffff` on br-lan and `<WAN6>:1` on wan, W `<WAN6>:2`, forwarding
 * on, no duplicate address detection anywhere (nothing waits for it); the
 * client's IPv6 address is its caller's to add.
 */
export function buildBenchRouter(R: string, C: string, W: string, lan: string, o: { sinkPort?: number; ipv6?: boolean } = {}): void {
  for (const ns of [R, C, W]) sh(["ip", "netns", "add", ns]);
  // Links made (or moved) here after this have no duplicate address detection: their link-local address is usable at once.
  if (o.ipv6) for (const ns of [R, C, W]) inNs(ns, ["sysctl", "-qw", "net.ipv6.conf.default.accept_dad=0", "net.ipv6.conf.all.accept_dad=0"]);
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
  if (o.ipv6) {
    sh(["ip", "-n", R, "addr", "add", `${lan6(lan)}:ffff/64`, "dev", "br-lan", "nodad"]);
    sh(["ip", "-n", R, "addr", "add", `${WAN6}:1/64`, "dev", "wan", "nodad"]);
    sh(["ip", "-n", W, "addr", "add", `${WAN6}:2/64`, "dev", "eth0", "nodad"]);
    sh(["ip", "-n", W, "-6", "route", "add", `${lan6(lan)}:/64`, "via", `${WAN6}:1`]);
    inNs(R, ["sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"]);
  }
  const port = o.sinkPort ?? 40100;
  inNs(W, ["nft", `add table inet sink; add counter inet sink in; add chain inet sink input { type filter hook input priority 0; udp dport ${port} counter name in drop; }`]);
}
