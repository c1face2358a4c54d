/**
 * `iptmon top` on the virtual router: one client sends at a steady, known
 * rate (test/helpers/udp-pace.ts) while the other is quiet. In a tmux pane
 * (a real terminal) the busy host is listed first with its upload within 20%
 * of the rate the sender measured; q, Ctrl-C and SIGTERM each leave the pane
 * exactly as it was; a resize redraws. `--once --json` is checked the same
 * way without a terminal. tmux runs on its own socket in the run's temp dir
 * and is killed at the end, whatever failed.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Subprocess } from "bun";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { StatusHost } from "../../src/status.ts";
import type { HostRate } from "../../src/top/rates.ts";
import { exec, execOk, iptmonBin, iptmonConfig, skipReason, SYS_PATH } from "./harness.ts";
import { VRouter, VROUTER_NEEDS, WAN4, waitFor } from "./vrouter.ts";

const skip = skipReason("iptmon top", [...VROUTER_NEEDS, "tmux"]);
const BIN = skip ? "" : iptmonBin();
const PACE = resolve(import.meta.dir, "../helpers/udp-pace.ts");
/** 4 Mbit/s of 1400-byte datagrams (about 350 a second). */
const RATE = 500_000;
const SIZE = 1400;
const BUSY = "upstairs-pc";
const QUIET = "attic-nas";

/** "12.3 Mbit/s" -> bits per second; null for "-" or anything else. */
function parseBits(s: string): number | null {
  const m = /^([\d.]+) (bit|kbit|Mbit|Gbit)\/s$/.exec(s.trim());
  if (!m) return null;
  return Number(m[1]) * { bit: 1, kbit: 1e3, Mbit: 1e6, Gbit: 1e9 }[m[2] as "bit"];
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

describe.skipIf(skip !== null)("iptmon top on the virtual router", () => {
  let vr: VRouter;
  let dir: string;
  let conf: string;
  let sock: string;
  let shell: string;
  const tmux = (...args: string[]) => execOk(null, ["tmux", "-S", sock, ...args], { env: { TERM: "xterm-256color" } }).stdout;
  const pane = () => tmux("capture-pane", "-p", "-t", "top").replace(/\n+$/, "");
  const paneFlag = (name: string) => tmux("display-message", "-p", "-t", "top", `#{${name}}`).trim();
  const status = (): StatusHost[] =>
    JSON.parse(execOk(vr.routerNs, [BIN, "status", "--json"], { env: { IPTMON_CONFIG: conf } }).stdout).hosts;

  /** Sends from c1 to the WAN host at RATE for `seconds`; resolves to the sender's own measurement. */
  function pace(seconds: number): { proc: Subprocess; done: Promise<{ bytes: number; ms: number; bps: number }> } {
    const log = `pace-${Date.now()}.out`;
    const proc = vr.spawn(vr.clients[0]!.ns, [process.execPath, PACE, "4", WAN4, "40077", String(SIZE), String(RATE), String(seconds)], { logName: log.replace(/\.out$/, "") });
    const done = proc.exited.then((code) => {
      const out = exec(null, ["cat", join(vr.tmpDir, log)]).stdout.trim();
      if (code !== 0) throw new Error(`udp-pace exited ${code}: ${out}`);
      return JSON.parse(out.split("\n").pop()!) as { bytes: number; ms: number; bps: number };
    });
    return { proc, done };
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "iptmon-top-"));
    conf = join(dir, "iptmon.conf");
    vr = await VRouter.create({ clients: [{ ipv6: false }, { ipv6: false }], dhcpScript: BIN, startDnsmasq: false, scriptEnv: { IPTMON_CONFIG: conf } });
    writeFileSync(conf, iptmonConfig(dir, { backend: "nftables", leasefile: vr.leaseFile }));
    await vr.startDnsmasq();
    // Named so that the busy one comes last by name: first means busiest.
    await Promise.all([vr.takeLease(1, BUSY), vr.takeLease(2, QUIET)]);
    await waitFor(() => status().length === 2, "both hosts in iptmon status", 10_000, 50);
    sock = join(vr.tmpDir, "tmux.sock");
    // A plain shell with a fixed prompt, so the pane's text is predictable.
    shell = `env -i PATH=${SYS_PATH} HOME=${dir} TERM=screen PS1='$ ' IPTMON_CONFIG=${conf} sh`;
    tmux("-f", "/dev/null", "new-session", "-d", "-s", "top", "-x", "150", "-y", "30", shell);
    await waitFor(() => pane() === "$", "the shell's prompt");
  });

  afterAll(() => {
    if (sock) exec(null, ["tmux", "-S", sock, "kill-server"]);
    vr?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const topCmd = () => `ip netns exec ${vr.routerNs} ${BIN} top --interval 1`;

  /** Types `line` at the prompt and waits for `until` in the pane. */
  async function type(line: string, until: (p: string) => boolean, what: string): Promise<string> {
    tmux("send-keys", "-t", "top", "-l", line);
    tmux("send-keys", "-t", "top", "Enter");
    return waitFor(() => {
      const p = pane();
      return until(p) ? p : undefined;
    }, what, 15_000, 50);
  }

  /** Starts top in the pane, returns the pane as it was just before. */
  async function startTop(): Promise<string> {
    const mark = `mark-${Math.random().toString(36).slice(2, 8)}`;
    const before = await type(`echo ${mark}`, (p) => p.endsWith(`\n${mark}\n$`), "the echo");
    await type(topCmd(), (p) => p.startsWith("iptmon top - 2 hosts") && paneFlag("alternate_on") === "1", "top's screen");
    return before;
  }

  /** The pane after top ended: what was there, the command line, a fresh prompt; cursor shown, keys echoed. */
  async function expectRestored(before: string): Promise<void> {
    const after = await waitFor(() => {
      const p = pane();
      return paneFlag("alternate_on") === "0" && p.endsWith("\n$") && p.length > before.length ? p : undefined;
    }, "the shell back", 10_000, 50);
    expect(after).toBe(`${before} ${topCmd()}\n$`);
    expect(paneFlag("cursor_flag")).toBe("1");
    // Echo and line editing are back: the typed line shows, then its output.
    await type("echo still-cooked", (p) => p.endsWith("$ echo still-cooked\nstill-cooked\n$"), "a cooked terminal");
    tmux("send-keys", "-t", "top", "clear", "Enter");
    await waitFor(() => pane() === "$", "a cleared pane");
  }

  test("the busy host is first, its upload within 20% of the sender's rate; q restores the pane", async () => {
    const before = await startTop();
    const sender = pace(7);
    const started = Date.now();
    const seen: { first: string; up: number | null; down: number | null }[] = [];
    while (sender.proc.exitCode === null) {
      const lines = pane().split("\n");
      const elapsed = Date.now() - started;
      // Steady state: two readings (1 s apart) taken after the sender got going, before it stops.
      if (elapsed > 2500 && elapsed < 6000) {
        const row = lines[3]!.split(/ {2,}/);
        seen.push({ first: row[0]!, down: parseBits(row[1]!), up: parseBits(row[2]!) });
      }
      await Bun.sleep(250);
    }
    const sent = await sender.done;
    expect(sent.bps / (RATE * 8)).toBeGreaterThan(0.9); // the sender kept its pace
    expect(seen.length).toBeGreaterThanOrEqual(5);
    expect(seen.every((s) => s.first === BUSY)).toBe(true);
    const up = median(seen.map((s) => s.up ?? 0));
    expect(Math.abs(up / sent.bps - 1)).toBeLessThan(0.2);
    // The WAN host sent nothing back: no download.
    expect(median(seen.map((s) => s.down ?? -1))).toBe(0);
    const header = pane().split("\n")[2]!;
    expect(header).toMatch(/^HOST +DOWN \(tx\) +UP \(rx\) +TOTAL DOWN +TOTAL UP +MAC +ADDRESSES$/);

    tmux("send-keys", "-t", "top", "n");
    await waitFor(() => pane().split("\n")[0]!.includes("sorted by name") && pane().split("\n")[3]!.startsWith(`${QUIET} `), "sorted by name");
    tmux("send-keys", "-t", "top", "q");
    await expectRestored(before);
  }, 60_000);

  test("a resize redraws to the new width", async () => {
    const before = await startTop();
    expect(pane().split("\n")[2]).toContain("ADDRESSES");
    tmux("resize-window", "-t", "top", "-x", "60", "-y", "20");
    await waitFor(() => {
      const lines = pane().split("\n");
      return lines[2]!.startsWith("HOST") && !lines[2]!.includes("MAC") && lines.every((l) => l.length <= 60);
    }, "a narrow redraw");
    tmux("resize-window", "-t", "top", "-x", "150", "-y", "30");
    await waitFor(() => pane().split("\n")[2]!.includes("ADDRESSES"), "a wide redraw");
    tmux("send-keys", "-t", "top", "q");
    await expectRestored(before);
  }, 30_000);

  test("Ctrl-C restores the pane", async () => {
    const before = await startTop();
    tmux("send-keys", "-t", "top", "C-c");
    await expectRestored(before);
  }, 30_000);

  test("SIGTERM restores the pane", async () => {
    const before = await startTop();
    const shellPid = paneFlag("pane_pid");
    // `ip netns exec` execs iptmon: it is the shell's only child.
    const pid = execOk(null, ["ps", "-o", "pid=", "--ppid", shellPid]).stdout.trim();
    expect(execOk(null, ["ps", "-o", "args=", "-p", pid]).stdout).toContain(" top --interval 1");
    execOk(null, ["kill", "-TERM", pid]);
    await expectRestored(before);
  }, 30_000);

  test("--once --json without a terminal: one sample over one interval, the busy host first at the sender's rate", async () => {
    const sender = pace(5);
    await waitFor(() => status().find((h) => h.name === BUSY)!.rx_bytes > RATE, "traffic under way", 5000, 50);
    const r = execOk(vr.routerNs, [BIN, "top", "--once", "--json", "--interval", "2"], { env: { IPTMON_CONFIG: conf } });
    const sent = await sender.done;
    const j = JSON.parse(r.stdout) as { backend: string; interval_s: number; hosts: HostRate[] };
    expect(j.backend).toBe("nftables");
    expect(j.interval_s).toBeGreaterThanOrEqual(2);
    expect(j.interval_s).toBeLessThan(3);
    expect(j.hosts.map((h) => h.name)).toEqual([BUSY, QUIET]);
    expect(Math.abs(j.hosts[0]!.rx_bps! / sent.bps - 1)).toBeLessThan(0.2);
    expect(j.hosts[1]).toMatchObject({ rx_bps: 0, tx_bps: 0 });
    // The same without --json: the table, and no escape sequences in a pipe.
    const text = execOk(vr.routerNs, [BIN, "top", "--interval", "0.5"], { env: { IPTMON_CONFIG: conf } }).stdout;
    expect(text).toMatch(/^backend: nftables, rates over 0\.\d+ s\nHOST +DOWN \(tx\) +UP \(rx\)/);
    expect(text).not.toContain("\x1b");
  }, 30_000);
});
