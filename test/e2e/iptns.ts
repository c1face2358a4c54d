/**
 * A bare network namespace for the iptables backend's end-to-end tests: the
 * real dist/iptmon and the real iptables-legacy run inside it, so nothing
 * touches the host's own tables. Per-run random name; `destroy()` is
 * idempotent and also runs from a process 'exit' handler as a safety net.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

export const BIN = resolve(import.meta.dir, "../../dist/iptmon");
const PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

export interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

export function run(argv: string[], opts: { input?: string; env?: Record<string, string> } = {}): Ran {
  try {
    const p = Bun.spawnSync(argv, {
      env: { PATH, ...opts.env },
      stdin: opts.input === undefined ? "ignore" : Buffer.from(opts.input),
      stdout: "pipe",
      stderr: "pipe",
      timeout: 30_000,
    });
    return { code: p.exitCode ?? 128, stdout: p.stdout.toString(), stderr: p.stderr.toString() };
  } catch (e) {
    return { code: 127, stdout: "", stderr: (e as Error).message };
  }
}

/** Why these tests cannot run here, or null. */
export function cannotRun(tools: string[] = []): string | null {
  if (process.getuid?.() !== 0) return "not root";
  for (const t of ["ip", "iptables-legacy-restore", "ip6tables-legacy-restore", ...tools]) if (run(["sh", "-c", `command -v ${t}`]).code !== 0) return `${t} missing`;
  if (run([BIN, "--version"]).code !== 0) return "dist/iptmon missing: run make build";
  return null;
}

const live = new Set<IptNs>();
process.on("exit", () => {
  for (const n of live) n.destroy();
});

export class IptNs {
  readonly name = `iptmon-ipt-${randomBytes(4).toString("hex")}`;
  readonly dir = mkdtempSync(join(tmpdir(), "iptmon-ipt-"));
  readonly config = join(this.dir, "iptmon.conf");
  private gone = false;

  constructor() {
    const r = run(["ip", "netns", "add", this.name]);
    if (r.code !== 0) throw new Error(`ip netns add ${this.name}: ${r.stderr}`);
    live.add(this);
    this.ok(["ip", "link", "set", "lo", "up"]);
  }

  exec(argv: string[], opts: { input?: string; env?: Record<string, string> } = {}): Ran {
    return run(["ip", "netns", "exec", this.name, ...argv], opts);
  }

  ok(argv: string[], opts: { input?: string; env?: Record<string, string> } = {}): Ran {
    const r = this.exec(argv, opts);
    if (r.code !== 0) throw new Error(`[${this.name}] ${argv.join(" ")} exited ${r.code}: ${r.stderr.trim()}`);
    return r;
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

  /** Writes this run's iptmon config: iptables backend, temp paths everywhere, `extra` appended. */
  writeConfig(lines: string[], extra = ""): void {
    const d = this.dir;
    writeFileSync(
      this.config,
      [
        "config iptmon 'global'",
        "\toption backend 'iptables'",
        ...lines,
        `\toption leasefile '${d}/dhcp.leases'`,
        `\toption hostsfile '${d}/hosts'`,
        `\toption hostsdir '${d}/hosts.d'`,
        `\toption dhcp_config '${d}/dhcp'`,
        `\toption dnsmasq_confdir '${d}/none'`,
        `\toption lockfile '${d}/iptmon.lock'`,
        "",
        extra,
      ].join("\n"),
    );
  }

  destroy(): void {
    if (this.gone) return;
    this.gone = true;
    live.delete(this);
    run(["ip", "netns", "del", this.name]);
    rmSync(this.dir, { recursive: true, force: true });
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
