/**
 * A bare network namespace for the iptables backend's end-to-end tests: the
 * real dist/iptmon and the real iptables-legacy run inside it, so nothing
 * touches the host's own tables. A NetnsRun of test/e2e/harness.ts (per-run
 * random name, removed by `destroy()` or the harness's safety net).
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { BIN, exec, type ExecResult, iptmonBin, iptmonConfig, NETNS_NEEDS, NetnsRun, skipReason } from "./harness.ts";

export { BIN };

export type Ran = ExecResult;

/** Runs argv in this namespace with a clean environment (PATH plus `env`). */
export function run(argv: string[], opts: { input?: string; env?: Record<string, string> } = {}): Ran {
  return exec(null, argv, { ...opts, cleanEnv: true });
}

/** What iptables tests need besides namespaces. */
export const IPTNS_NEEDS = [...NETNS_NEEDS, "iptables-legacy-restore", "ip6tables-legacy-restore", "iptables-legacy-save", "ip6tables-legacy-save"];

/**
 * Why these tests cannot run here (printed as a counted skip's reason), or
 * null; then dist/iptmon is built if it is stale (a failed build throws).
 */
export function cannotRun(tools: string[] = [], suite = "iptables"): string | null {
  const reason = skipReason(suite, [...IPTNS_NEEDS, ...tools]);
  if (reason === null) iptmonBin();
  return reason;
}

export class IptNs {
  readonly name: string;
  readonly dir: string;
  readonly config: string;
  private readonly run = new NetnsRun("ipt", { tmpPrefix: "iptmon-ipt" });

  constructor() {
    this.name = this.run.ns("n");
    this.dir = this.run.tmpDir;
    this.config = join(this.dir, "iptmon.conf");
    try {
      this.run.addNamespaces([this.name]);
    } catch (e) {
      this.run.destroy();
      throw e;
    }
  }

  exec(argv: string[], opts: { input?: string; env?: Record<string, string> } = {}): Ran {
    return exec(this.name, argv, { ...opts, cleanEnv: true });
  }

  ok(argv: string[], opts: { input?: string; env?: Record<string, string> } = {}): Ran {
    const r = this.exec(argv, opts);
    if (r.code !== 0) throw new Error(`[${this.name}] ${argv.join(" ")} exited ${r.code}: ${r.stderr.trim()}`);
    return r;
  }

  /** Starts a long-running process in the namespace, stopped by destroy(); output to `<dir>/<log>`. */
  spawn(argv: string[], log?: string) {
    return this.run.spawn(this.name, argv, { cleanEnv: true, ...(log ? { log } : {}) });
  }

  /** The built binary inside the namespace with this run's config. */
  iptmon(...args: string[]): Ran {
    return this.exec([BIN, ...args], { env: { IPTMON_CONFIG: this.config } });
  }

  save(family: 4 | 6): string {
    return this.ok([family === 4 ? "iptables-legacy-save" : "ip6tables-legacy-save", "-c", "-t", "mangle"]).stdout;
  }

  restore(family: 4 | 6, input: string, args = ["--noflush", "--counters"]): Ran {
    return this.exec([family === 4 ? "iptables-legacy-restore" : "ip6tables-legacy-restore", ...args], { input });
  }

  /** Sets the counters of iptmon's rule for `addr` in `chain`, as traffic would (a -R with [p:b]). */
  setCounters(family: 4 | 6, chain: string, addr: string, packets: number, bytes: number): void {
    const rules = this.save(family)
      .split("\n")
      .map((l) => l.replace(/^\[\d+:\d+\] /, ""))
      .filter((l) => l.startsWith(`-A ${chain} `));
    const i = rules.findIndex((l) => l.includes(` ${addr}/`));
    if (i < 0) throw new Error(`no rule for ${addr} in ${chain}`);
    const r = this.restore(family, `*mangle\n[${packets}:${bytes}] -R ${chain} ${i + 1} ${rules[i]!.slice(`-A ${chain} `.length)}\nCOMMIT\n`);
    if (r.code !== 0) throw new Error(`cannot set counters: ${r.stderr}`);
  }

  /** Empties mangle in both families: flushes every chain, deletes user chains, zeroes counters. */
  resetMangle(): void {
    for (const t of ["iptables-legacy", "ip6tables-legacy"]) {
      this.ok([t, "-t", "mangle", "-F"]);
      this.ok([t, "-t", "mangle", "-X"]);
      this.ok([t, "-t", "mangle", "-Z"]);
    }
  }

  /** Writes this run's iptmon config: iptables backend, temp paths everywhere, `lines` in the global section, `extra` appended. */
  writeConfig(lines: string[], extra = ""): void {
    writeFileSync(this.config, iptmonConfig(this.dir, { backend: "iptables", options: lines, extra }));
  }

  destroy(): void {
    this.run.destroy();
  }
}

const OURS = /^(:iptmon_(hosts|rx|tx) |(\[\d+:\d+\] )?-A (iptmon_(hosts|rx|tx) |FORWARD -j iptmon_(rx|tx)$))/;

/** What of an iptables-save is not iptmon's, without counters or the save's own # lines. */
export function foreignPart(save: string): string {
  return save
    .split("\n")
    .filter((l) => l !== "" && !l.startsWith("#") && !OURS.test(l))
    .map((l) => l.replace(/^\[\d+:\d+\] /, "").replace(/^(:\S+ \S+) \[\d+:\d+\]$/, "$1"))
    .join("\n");
}

/** iptmon's own lines of an iptables-save, counters kept. */
export function ourPart(save: string): string[] {
  return save.split("\n").filter((l) => OURS.test(l));
}
