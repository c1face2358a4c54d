/**
 * Cost of iptmon's work at different numbers of hosts, on the real kernel in
 * a network namespace of its own: one event (add / del of a host), init with
 * every host, status. Baselines measured in the same run: the start-up of a
 * print-only binary compiled the same way, and one `nft list tables`.
 *
 *   bun bench/events.ts [hosts...]      (root; default 10 1000 5000)
 *   IPTMON_BENCH_BACKEND=iptables bun bench/events.ts 10 1000
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const BIN = resolve(import.meta.dir, "../dist/iptmon");
const BUN = resolve(import.meta.dir, "../node_modules/.bin/bun");
const sizes = process.argv.slice(2).map(Number).filter((n) => n > 0);
const N = sizes.length ? sizes : [10, 1000, 5000];
const REPS = 20;
const BACKEND = process.env.IPTMON_BENCH_BACKEND ?? "nftables";

const dir = mkdtempSync(join(tmpdir(), "iptmon-bench-"));
const ns = `iptb${Math.random().toString(16).slice(2, 8)}`;
const sh = (argv: string[], env: Record<string, string> = {}) => {
  const p = Bun.spawnSync(argv, { env: { ...process.env, ...env }, stdout: "pipe", stderr: "pipe" });
  if (p.exitCode !== 0) throw new Error(`${argv.join(" ")}: ${p.stderr.toString()}`);
  return p.stdout.toString();
};
const inNs = (argv: string[], env: Record<string, string> = {}) => sh(["ip", "netns", "exec", ns, ...argv], env);

/** Median wall time of `fn` in milliseconds. */
function median(fn: () => void, reps = REPS): number {
  const t: number[] = [];
  for (let i = 0; i < reps; i++) {
    const s = performance.now();
    fn();
    t.push(performance.now() - s);
  }
  t.sort((a, b) => a - b);
  return t[Math.floor(t.length / 2)]!;
}

function maxRss(argv: string[], env: Record<string, string>): number {
  const out = Bun.spawnSync(["/usr/bin/time", "-f", "%M", "ip", "netns", "exec", ns, ...argv], { env: { ...process.env, ...env }, stderr: "pipe", stdout: "ignore" });
  return Number(out.stderr.toString().trim().split("\n").pop());
}

const mac = (i: number) => `02:${[i >> 24, i >> 16, i >> 8, i].map((b) => (b & 255).toString(16).padStart(2, "0")).join(":")}:01`;
const ip = (i: number) => `10.64.${Math.floor(i / 250)}.${(i % 250) + 1}`;

try {
  sh(["ip", "netns", "add", ns]);
  inNs(["ip", "link", "add", "br-lan", "type", "bridge"]);
  inNs(["ip", "link", "set", "br-lan", "up"]);
  inNs(["ip", "addr", "add", "10.64.255.254/16", "dev", "br-lan"]);

  writeFileSync(join(dir, "hello.ts"), 'console.log("hello")\n');
  sh([BUN, "build", "--compile", "--bytecode", "--minify", join(dir, "hello.ts"), "--outfile", join(dir, "hello")]);
  const startup = median(() => sh([join(dir, "hello")]));
  const nftCall = median(() => inNs(["nft", "list", "tables"]));
  console.log(`machine: ${sh(["uname", "-srm"]).trim()}, ${navigator.hardwareConcurrency} cores`);
  console.log(`baseline: print-only compiled binary ${startup.toFixed(1)} ms; nft list tables ${nftCall.toFixed(1)} ms; iptmon --version ${median(() => sh([BIN, "--version"])).toFixed(1)} ms`);
  console.log(`backend: ${BACKEND}`);
  console.log("hosts | init (new) | init (again) | event add | event del | status --json | RSS event / status | event ÷ print-only start");
  for (const n of N) {
    const conf = join(dir, `iptmon-${n}.conf`);
    const leases = Array.from({ length: n }, (_, i) => `0 ${mac(i + 1)} ${ip(i + 1)} host${i + 1} *`).join("\n");
    writeFileSync(join(dir, `leases-${n}`), `${leases}\n`);
    writeFileSync(
      conf,
      `config iptmon\n\toption backend '${BACKEND}'\n\toption lan_subnet '10.64.0.0/16'\n\toption leasefile '${dir}/leases-${n}'\n\toption hostsfile '${dir}/none'\n\toption hostsdir '${dir}/none'\n\toption dhcp_config '${dir}/none'\n\toption dnsmasq_confdir '${dir}/none'\n\toption lockfile '${dir}/lock'\n\toption lan_interface 'lo'\n`,
    );
    const env = { IPTMON_CONFIG: conf };
    inNs([BIN, "stop"], env);
    const t0 = performance.now();
    inNs([BIN, "init"], env);
    const initNew = performance.now() - t0;
    const initAgain = median(() => inNs([BIN, "init"], env), 5);
    const extra = 60000;
    let k = 0;
    const add = median(() => inNs([BIN, "add", mac(extra + ++k), ip(n + k), `new${k}`], env));
    let d = 0;
    const del = median(() => inNs([BIN, "del", mac(extra + ++d), ip(n + d)], env));
    const status = median(() => inNs([BIN, "status", "--json"], env), 10);
    const count = JSON.parse(inNs([BIN, "status", "--json"], env)).hosts.length;
    if (count !== n) throw new Error(`expected ${n} hosts, status shows ${count}`);
    const rssEvent = maxRss([BIN, "add", mac(extra + 1), ip(n + 1), "x"], env);
    const rssStatus = maxRss([BIN, "status", "--json"], env);
    console.log(
      `${n} | ${initNew.toFixed(0)} ms | ${initAgain.toFixed(0)} ms | ${add.toFixed(1)} ms | ${del.toFixed(1)} ms | ${status.toFixed(1)} ms | ${(rssEvent / 1024).toFixed(0)} / ${(rssStatus / 1024).toFixed(0)} MB | ${(add / startup).toFixed(1)}×`,
    );
  }
} finally {
  Bun.spawnSync(["ip", "netns", "del", ns]);
  rmSync(dir, { recursive: true, force: true });
}
