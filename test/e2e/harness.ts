/**
 * What every end-to-end test stands on: running programs inside network
 * namespaces, long-running processes, one run's namespaces and temp dir that
 * are removed whatever happens, the one availability probe, the one `waitFor`,
 * and the built binary.
 *
 * A `NetnsRun` owns a set of namespaces named `<prefix><SFX>-<name>` (SFX: 6
 * random hex chars, so parallel runs never collide), a temp dir, and every
 * process it spawned. `destroy()` (synchronous, idempotent, never throws)
 * stops those processes (SIGTERM, then SIGKILL), kills anything else left
 * inside the namespaces, deletes them and the temp dir (kept when
 * IPTMON_E2E_KEEP=1 or VROUTER_KEEP=1). A process 'exit' handler and
 * SIGINT/SIGTERM/SIGHUP handlers destroy every live run as a safety net.
 *
 * Availability: `probe(needs)` says what this machine lacks for a suite (not
 * root, no network namespaces, a program or file missing), every missing
 * thing at once; the answer depends only on the machine, never on which test
 * ran before. `skipReason(suite, needs)` also prints it as
 * `e2e skip: <suite>: <reason>` (scripts/run-tests lists those lines), and
 * the suite's `describe.skipIf` makes its tests counted skips.
 *
 * The binary is a build step, not a skip: `iptmonBin()` runs `make build`
 * when dist/iptmon is missing or older than the sources, once per process,
 * and throws (a failing test) when the build fails.
 */
import { randomBytes } from "node:crypto";
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { constants as osConstants, tmpdir } from "node:os";
import { isAbsolute, join, resolve } from "node:path";
import type { Subprocess } from "bun";

export const ROOT = resolve(import.meta.dir, "../..");
export const BIN = join(ROOT, "dist/iptmon");
export const SYS_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// ---------------------------------------------------------------- exec

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
  /** Wall time of the run. */
  ms: number;
}

export interface ExecOptions {
  /** Added to (and overriding) this process's environment. */
  env?: Record<string, string>;
  /** Replaces the environment entirely instead (PATH plus `env`). */
  cleanEnv?: boolean;
  input?: string | Uint8Array;
  /** Killed (SIGKILL) after this long; default 30 s. */
  timeoutMs?: number;
}

export function argvFor(ns: string | null, argv: string[]): string[] {
  return ns ? ["ip", "netns", "exec", ns, ...argv] : argv;
}

export function envFor(opts: { env?: Record<string, string>; cleanEnv?: boolean }): Record<string, string | undefined> {
  return opts.cleanEnv ? { PATH: SYS_PATH, ...opts.env } : { ...process.env, ...opts.env };
}

/**
 * Runs argv (no shell) inside network namespace `ns` (null: this one) and
 * waits for it. Never throws for a failing command: a missing program gives
 * code 127, a timeout or signal 128+signal.
 */
export function exec(ns: string | null, argv: string[], opts: ExecOptions = {}): ExecResult {
  const cmd = argvFor(ns, argv);
  const t0 = Date.now();
  const timeout = opts.timeoutMs ?? 30_000;
  try {
    const r = Bun.spawnSync({
      cmd,
      env: envFor(opts),
      stdin: opts.input === undefined ? "ignore" : typeof opts.input === "string" ? Buffer.from(opts.input) : opts.input,
      stdout: "pipe",
      stderr: "pipe",
      timeout,
      killSignal: "SIGKILL",
    });
    let stderr = r.stderr.toString();
    let code = r.exitCode;
    if (r.exitedDueToTimeout) stderr += `\n(killed after ${timeout} ms)`;
    if (r.signalCode != null || code === null) {
      const sig = r.signalCode;
      code = 128 + (typeof sig === "number" ? sig : ((sig && osConstants.signals[sig]) ?? 9));
    }
    return { code, stdout: r.stdout.toString(), stderr, ms: Date.now() - t0 };
  } catch (e) {
    return { code: 127, stdout: "", stderr: `${cmd[0]}: ${(e as Error).message}`, ms: Date.now() - t0 };
  }
}

/** `exec`, but throws (with the command and its stderr) unless it exits 0. */
export function execOk(ns: string | null, argv: string[], opts: ExecOptions = {}): ExecResult {
  const r = exec(ns, argv, opts);
  if (r.code !== 0) {
    throw new Error(`${ns ? `[${ns}] ` : ""}${argv.join(" ")} exited ${r.code}: ${r.stderr.trim() || r.stdout.trim()}`);
  }
  return r;
}

/** Polls `fn` every `intervalMs` until it returns something other than undefined/false. */
export async function waitFor<T>(
  fn: () => T | undefined | false | Promise<T | undefined | false>,
  what: string,
  timeoutMs = 10_000,
  intervalMs = 20,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await Bun.sleep(intervalMs);
  }
}

// ---------------------------------------------------------------- processes

/** Whether pid has exited (a zombie counts: it only waits to be reaped). */
export function isGone(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // "pid (comm) S ..." — comm may contain spaces or parens.
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) === "Z";
  } catch {
    return true;
  }
}

function kill(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    /* already gone */
  }
}

/** Terminates pids: SIGTERM, up to `graceMs` for them to go, then SIGKILL. Synchronous. */
export function terminate(pids: number[], graceMs = 1000): void {
  pids = pids.filter((p) => p > 0 && !isGone(p));
  for (const p of pids) kill(p, "SIGTERM");
  const deadline = Date.now() + graceMs;
  while (pids.some((p) => !isGone(p)) && Date.now() < deadline) Bun.sleepSync(10);
  for (const p of pids) if (!isGone(p)) kill(p, "SIGKILL");
}

// ---------------------------------------------------------------- availability

/**
 * What a suite needs: "root", "netns" (ip netns add works), "udhcpc" (busybox
 * with that applet), a program name (found on PATH) or an absolute path (a
 * file that must exist).
 */
export type Need = string;

const verdicts = new Map<Need, string | null>();

function check(need: Need): string | null {
  if (need === "root") return process.getuid?.() === 0 ? null : "not root (network namespaces need root)";
  if (need === "netns") {
    const probe = `e2eprobe${randomBytes(3).toString("hex")}`;
    const add = exec(null, ["ip", "netns", "add", probe]);
    if (add.code !== 0) return `ip netns unavailable: ${add.stderr.trim()}`;
    exec(null, ["ip", "netns", "del", probe]);
    return null;
  }
  if (need === "udhcpc") {
    return exec(null, ["busybox", "udhcpc", "--help"], { cleanEnv: true }).stderr.includes("Usage: udhcpc") ? null : "busybox has no udhcpc";
  }
  if (isAbsolute(need)) return existsSync(need) ? null : `${need} missing`;
  return Bun.which(need, { PATH: SYS_PATH }) ? null : `${need} not installed`;
}

/** Everything of `needs` this machine lacks, as one reason; null when nothing is. */
export function probe(needs: readonly Need[]): string | null {
  if (process.platform !== "linux") return "not Linux";
  // Without root, "netns" would only fail for the same reason.
  const list = process.getuid?.() === 0 ? needs : needs.filter((n) => n !== "netns");
  const reasons: string[] = [];
  for (const n of list) {
    if (!verdicts.has(n)) verdicts.set(n, check(n));
    const v = verdicts.get(n);
    if (v) reasons.push(v);
  }
  return reasons.length ? reasons.join("; ") : null;
}

/** `probe`, and when something is missing says so once: `e2e skip: <suite>: <reason>`. */
export function skipReason(suite: string, needs: readonly Need[]): string | null {
  const reason = probe(needs);
  if (reason) console.warn(`e2e skip: ${suite}: ${reason}`);
  return reason;
}

/** Namespaces, iproute2 and nft: what every namespace suite needs. */
export const NETNS_NEEDS: readonly Need[] = ["root", "ip", "nft", "netns"];

// ---------------------------------------------------------------- the binary

let built: string | null = null;

/**
 * dist/iptmon, built first when it is missing or older than its sources
 * (once per process). Throws when the build fails: a failed build is a
 * failing test, not a skip.
 */
export function iptmonBin(): string {
  if (built) return built;
  if (exec(null, ["make", "-C", ROOT, "-q", "build"]).code !== 0) {
    const r = exec(null, ["make", "-C", ROOT, "build"], { timeoutMs: 300_000 });
    if (r.code !== 0) throw new Error(`make build failed (${r.code}): ${r.stderr.trim() || r.stdout.trim()}`);
  }
  built = BIN;
  return built;
}

// ---------------------------------------------------------------- a run

const live = new Set<NetnsRun>();
let safetyNetInstalled = false;

function installSafetyNet(): void {
  if (safetyNetInstalled) return;
  safetyNetInstalled = true;
  process.on("exit", () => {
    for (const r of [...live]) r.destroy();
  });
  for (const [sig, n] of [
    ["SIGINT", 2],
    ["SIGTERM", 15],
    ["SIGHUP", 1],
  ] as const) {
    process.on(sig, () => {
      for (const r of [...live]) r.destroy();
      process.exit(128 + n);
    });
  }
}

export interface SpawnOptions {
  env?: Record<string, string>;
  cleanEnv?: boolean;
  /** stdout and stderr appended to this file (relative: inside the run's temp dir); default: dropped. */
  log?: string;
}

/** One run's namespaces, processes and temp dir; see the file comment. */
export class NetnsRun {
  readonly suffix = randomBytes(3).toString("hex");
  readonly tmpDir: string;
  private readonly prefix: string;
  private readonly created: string[] = [];
  private readonly procs = new Set<Subprocess>();
  private destroyed = false;

  /** Makes the temp dir (`<tmpPrefix>-<SFX>-…`) now; namespaces come with addNamespaces. */
  constructor(prefix: string, opts: { tmpPrefix?: string } = {}) {
    this.prefix = prefix;
    this.tmpDir = mkdtempSync(join(tmpdir(), `${opts.tmpPrefix ?? prefix}-${this.suffix}-`));
    installSafetyNet();
    live.add(this);
  }

  /** The full name of this run's namespace `name`. */
  ns(name: string): string {
    return `${this.prefix}${this.suffix}-${name}`;
  }

  /** Every namespace made so far. */
  get namespaces(): string[] {
    return [...this.created];
  }

  get isDestroyed(): boolean {
    return this.destroyed;
  }

  assertLive(): void {
    if (this.destroyed) throw new Error("already destroyed");
  }

  /** Creates namespaces (full names, see ns()) in one go, each with lo up. */
  addNamespaces(names: string[]): void {
    this.assertLive();
    this.created.push(...names);
    this.ipBatch(null, names.map((n) => `netns add ${n}`));
    for (const n of names) this.ipBatch(n, ["link set lo up"]);
  }

  /** `ip [-n ns] -batch -` (null: this namespace). */
  ipBatch(ns: string | null, lines: string[]): void {
    execOk(null, ns ? ["ip", "-n", ns, "-batch", "-"] : ["ip", "-batch", "-"], { input: `${lines.join("\n")}\n` });
  }

  sysctl(ns: string, settings: string[]): void {
    execOk(ns, ["sysctl", "-q", "-w", ...settings]);
  }

  /** Starts a long-running process in `ns` (null: this one), tracked and stopped by destroy(). */
  spawn(ns: string | null, argv: string[], opts: SpawnOptions = {}): Subprocess {
    this.assertLive();
    let fd: number | "ignore" = "ignore";
    if (opts.log) fd = openSync(isAbsolute(opts.log) ? opts.log : join(this.tmpDir, opts.log), "a");
    try {
      const proc = Bun.spawn({ cmd: argvFor(ns, argv), env: envFor(opts), stdin: "ignore", stdout: fd, stderr: fd });
      this.track(proc);
      return proc;
    } finally {
      if (typeof fd === "number") closeSync(fd);
    }
  }

  /** Has destroy() stop a process started elsewhere too. */
  track(proc: Subprocess): void {
    this.procs.add(proc);
    proc.exited.then(() => this.procs.delete(proc));
  }

  /** Stops one process: SIGTERM, SIGKILL after `graceMs`; resolves when it has exited. */
  async stop(proc: Subprocess, graceMs = 2000): Promise<void> {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill("SIGTERM");
    const t = setTimeout(() => proc.kill("SIGKILL"), graceMs);
    await proc.exited;
    clearTimeout(t);
  }

  /** Stops every process, kills what else is in the namespaces, deletes them and the temp dir. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    live.delete(this);
    try {
      terminate([...this.procs].map((p) => p.pid), 1000);
    } catch {
      /* keep going */
    }
    this.procs.clear();
    for (const ns of this.created) {
      try {
        const pids = exec(null, ["ip", "netns", "pids", ns]).stdout.split(/\s+/).filter(Boolean).map(Number);
        for (const p of pids) kill(p, "SIGKILL");
        exec(null, ["ip", "netns", "del", ns]);
      } catch {
        /* keep going */
      }
    }
    if (process.env.IPTMON_E2E_KEEP === "1" || process.env.VROUTER_KEEP === "1") {
      process.stderr.write(`e2e: kept ${this.tmpDir}\n`);
    } else {
      try {
        rmSync(this.tmpDir, { recursive: true, force: true });
      } catch {
        /* keep going */
      }
    }
  }
}

// ---------------------------------------------------------------- iptmon's config

export interface ConfigOptions {
  backend?: string;
  lanSubnets?: string[];
  /** Default `<dir>/dhcp.leases`. */
  leasefile?: string;
  /** Further lines of the global section (tab-indented `option …`). */
  options?: string[];
  /** Appended after the global section (host, exporter sections). */
  extra?: string;
}

/**
 * An iptmon config whose every path (leases, hosts, dhcp, dnsmasq conf dir,
 * lock) lies inside `dir`, so a test never reads or locks the machine's own.
 */
export function iptmonConfig(dir: string, o: ConfigOptions = {}): string {
  return [
    "config iptmon 'global'",
    ...(o.backend ? [`\toption backend '${o.backend}'`] : []),
    ...(o.lanSubnets ?? []).map((s) => `\tlist lan_subnet '${s}'`),
    ...(o.options ?? []),
    `\toption leasefile '${o.leasefile ?? join(dir, "dhcp.leases")}'`,
    `\toption hostsfile '${join(dir, "hosts")}'`,
    `\toption hostsdir '${join(dir, "hosts.d")}'`,
    `\toption dhcp_config '${join(dir, "dhcp")}'`,
    `\toption dnsmasq_confdir '${join(dir, "dnsmasq.d")}'`,
    `\toption lockfile '${join(dir, "iptmon.lock")}'`,
    `\toption statefile '${join(dir, "state.json")}'`,
    "",
    o.extra ?? "",
  ].join("\n");
}

// ---------------------------------------------------------------- a browser in a namespace

/** Debian's Chromium (no browser is downloaded). */
export const CHROMIUM = "/usr/bin/chromium";

/**
 * Headless Chromium inside namespace `ns` (its profile and launcher in
 * `dir`), driven by playwright-core through `ip netns exec`. No name lookups
 * but `allowHost`: a page is an address, and Chromium's own DNS queries
 * would go through the router and count as that client's upload.
 */
export async function chromiumIn(ns: string, dir: string, allowHost: string, viewport: { width: number; height: number }): Promise<import("playwright-core").BrowserContext> {
  const launcher = join(dir, "chromium");
  writeFileSync(launcher, `#!/bin/sh\nexec ip netns exec '${ns}' ${CHROMIUM} "$@"\n`, { mode: 0o755 });
  const { chromium } = await import("playwright-core");
  return chromium.launchPersistentContext(join(dir, "profile"), {
    executablePath: launcher,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync", `--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE ${allowHost}`],
    viewport,
  });
}
