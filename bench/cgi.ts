/**
 * What a flood of requests to the metrics CGI costs in memory, run the way
 * OpenWrt's uhttpd runs CGI scripts: `-n 3`, at most three at once. Each
 * request is `sh files/www/cgi-bin/iptmon-metrics` with the CGI environment
 * (REQUEST_METHOD=GET, …) in a router namespace with N hosts counted by
 * nftables; its stdout is read whole, as uhttpd reads it. A sampler adds up
 * the RSS of every running request's process tree (the script and whatever it
 * started: awk, mktemp, iptmon) every ~2 ms. Cases, in one run:
 * - opt-in off: no `config prometheus` section; the script refuses by itself;
 * - iptmon decides the 403 (the baseline): `option enabled` with a value only
 *   iptmon judges, so every request starts iptmon for the refusal, as every
 *   request did before the script's own check;
 * - opt-in on: `iptmon metrics`, the real data.
 * Summed RSS counts the pages concurrent iptmons share (the binary's text)
 * once per process, as `top` and `ps` do.
 *
 *   bun bench/cgi.ts [requests] [hosts]      (root; default 1000 requests, 20 hosts)
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BIN, inNs, machine, ratio, ROOT, sh, SUFFIX } from "./common.ts";

const CGI = join(ROOT, "files/www/cgi-bin/iptmon-metrics");
const CONCURRENCY = 3;
const SAMPLE_MS = 2;
const PAGE = 4096;

const [requests, hosts] = [Number(process.argv[2]) || 1000, Number(process.argv[3]) || 20];

/** Every process of the tree under `pid` (pid included), through /proc's children lists. */
function tree(pid: number, out: number[] = []): number[] {
  out.push(pid);
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const t of tasks) {
    let kids = "";
    try {
      kids = readFileSync(`/proc/${pid}/task/${t}/children`, "utf8");
    } catch {
      continue;
    }
    for (const k of kids.split(" ")) if (k) tree(Number(k), out);
  }
  return out;
}

/** Resident bytes of one process (0 once it is gone). */
function rss(pid: number): number {
  try {
    return Number(readFileSync(`/proc/${pid}/statm`, "utf8").split(" ")[1]) * PAGE;
  } catch {
    return 0;
  }
}

interface Result {
  name: string;
  statuses: Map<string, number>;
  wallS: number;
  peak: number;
  mean: number;
  peakProcs: number;
  iptmons: number;
}

/** `requests` runs of the CGI, CONCURRENCY at a time, sampled throughout. */
async function flood(name: string, ns: string, env: Record<string, string>): Promise<Result> {
  const live = new Set<number>();
  const statuses = new Map<string, number>();
  let peak = 0;
  let peakProcs = 0;
  let sum = 0;
  let samples = 0;
  let iptmons = 0;
  const seen = new Set<number>();
  const sample = () => {
    let total = 0;
    let procs = 0;
    for (const root of live) {
      for (const p of tree(root)) {
        total += rss(p);
        procs++;
        // An iptmon process (by its command name), counted once per pid.
        if (!seen.has(p)) {
          try {
            if (readFileSync(`/proc/${p}/comm`, "utf8").startsWith("iptmon")) {
              seen.add(p);
              iptmons++;
            }
          } catch {
            /* gone */
          }
        }
      }
    }
    peak = Math.max(peak, total);
    peakProcs = Math.max(peakProcs, procs);
    sum += total;
    samples++;
  };
  const timer = setInterval(sample, SAMPLE_MS);
  let next = 0;
  const t0 = performance.now();
  const worker = async () => {
    while (next < requests) {
      next++;
      const p = Bun.spawn(["ip", "netns", "exec", ns, "sh", CGI], { env, stdin: "ignore", stdout: "pipe", stderr: "ignore" });
      live.add(p.pid);
      const out = await new Response(p.stdout).text();
      await p.exited;
      live.delete(p.pid);
      const status = out.slice(0, out.indexOf("\r\n")).replace(/^Status: /, "");
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const wallS = (performance.now() - t0) / 1000;
  clearInterval(timer);
  return { name, statuses, wallS, peak, mean: samples ? sum / samples : 0, peakProcs, iptmons };
}

if (process.getuid?.() !== 0) {
  console.error("bench: needs root (network namespaces, nftables)");
  process.exit(2);
}
const log = (s: string) => console.error(s);
const dir = mkdtempSync(join(tmpdir(), "iptmon-bench-cgi-"));
const R = `ipbcgi${SUFFIX}`;
try {
  const conf = join(dir, "iptmon.conf");
  const global = [
    "config iptmon",
    "\toption backend 'nftables'",
    "\toption hook 'forward'",
    "\tlist lan_subnet '10.65.0.0/16'",
    ...["leasefile", "hostsfile", "hostsdir", "dhcp_config", "dnsmasq_confdir"].map((o) => `\toption ${o} '${dir}/none'`),
    `\toption lockfile '${dir}/iptmon.lock'`,
    `\toption statefile '${dir}/state.json'`,
    "",
  ].join("\n");
  const setOptIn = (sections: string) => writeFileSync(conf, `${global}${sections}`);
  mkdirSync(join(dir, "bin"));
  symlinkSync(BIN, join(dir, "bin/iptmon"));
  // uhttpd's own syslog would get what the CGI logs; here nothing is logged in any case.
  writeFileSync(join(dir, "bin/logger"), "#!/bin/sh\ncat >/dev/null\n", { mode: 0o755 });

  sh(["ip", "netns", "add", R]);
  sh(["ip", "-n", R, "link", "add", "br-lan", "type", "bridge"]);
  for (const dev of ["lo", "br-lan"]) sh(["ip", "-n", R, "link", "set", dev, "up"]);
  sh(["ip", "-n", R, "addr", "add", "10.65.255.254/16", "dev", "br-lan"]);
  setOptIn("");
  inNs(R, [BIN, "init"], { IPTMON_CONFIG: conf });
  for (let i = 0; i < hosts; i++) {
    const mac = `02:65:00:00:${(i >> 8).toString(16).padStart(2, "0")}:${(i & 255).toString(16).padStart(2, "0")}`;
    inNs(R, [BIN, "add", mac, `10.65.${i >> 8}.${(i & 255) + 1}`, `host-${i}`], { IPTMON_CONFIG: conf });
  }

  const env = {
    PATH: `${join(dir, "bin")}:/usr/sbin:/usr/bin:/sbin:/bin`,
    IPTMON_CONFIG: conf,
    IPTMON_CGI_LIB: join(ROOT, "files/usr/lib/iptmon/cgi.sh"),
    GATEWAY_INTERFACE: "CGI/1.1",
    SERVER_PROTOCOL: "HTTP/1.1",
    SERVER_SOFTWARE: "uhttpd",
    REQUEST_METHOD: "GET",
    SCRIPT_NAME: "/cgi-bin/iptmon-metrics",
    REMOTE_ADDR: "127.0.0.1",
  };
  const cases: [string, string][] = [
    ["iptmon decides the 403 (baseline)", "config prometheus\n\toption enabled 'maybe'\n"],
    ["opt-in off: refused by the script", ""],
    [`opt-in on: metrics of ${hosts} hosts`, "config prometheus\n\toption enabled '1'\n"],
  ];
  const results: Result[] = [];
  for (const [name, sections] of cases) {
    setOptIn(sections);
    log(`cgi: ${name}: ${requests} requests, ${CONCURRENCY} at once`);
    results.push(await flood(name, R, env));
  }
  const base = results[0]!;
  const mb = (b: number) => (b / 1024 / 1024).toFixed(1);
  const mem = readFileSync("/proc/meminfo", "utf8").match(/MemTotal:\s+(\d+)/)![1]!;
  const lines = [
    `Machine: ${machine()}, ${(Number(mem) / 1024 / 1024).toFixed(1)} GiB RAM; load average before: ${readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ")}; ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC.`,
    "",
    `${requests} GET requests to iptmon-metrics per case, ${CONCURRENCY} at once (uhttpd's \`-n 3\`), ${hosts} hosts; summed RSS of the requests' process trees, sampled every ${SAMPLE_MS} ms.`,
    "",
    "| case | answers | iptmon processes seen | peak summed RSS | ÷ baseline | mean summed RSS | ÷ baseline | peak processes | wall time | requests/s |",
    "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ...results.map((r) =>
      [
        "",
        r.name,
        [...r.statuses].map(([s, n]) => `${n} × ${s}`).join(", "),
        String(r.iptmons),
        `${mb(r.peak)} MB`,
        r === base ? "" : `**${ratio(r.peak, base.peak)}**`,
        `${mb(r.mean)} MB`,
        r === base ? "" : ratio(r.mean, base.mean),
        String(r.peakProcs),
        `${r.wallS.toFixed(1)} s`,
        (requests / r.wallS).toFixed(0),
        "",
      ].join(" | ").trim(),
    ),
    "",
  ];
  console.log(lines.join("\n"));
} finally {
  try {
    sh(["ip", "netns", "del", R]);
  } catch {
    /* not made */
  }
  rmSync(dir, { recursive: true, force: true });
}
