/**
 * What the page's poll (`status --json --busiest`) costs at N hosts, paired
 * in one run with its yardsticks: an event (`add` of a new host, then its
 * `del`) and the full list (`status --json`). Each round runs them in turn,
 * so a busy machine slows them alike: the event, the full list (a full
 * sample, as cron's takes, which leaves the ranking), the poll (built on
 * that ranking), then the poll once more with the ranking removed (what a
 * poll costs when the ranking does not hold: every counter is read, and with
 * nftables over netlink that read is a full sample, which leaves a new ranking). CPU is the child's user+system
 * time (the `ip netns exec` wrapper included, the same for all); bytes are
 * what the poll prints.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { digestOf, serializeJournal } from "../src/snapshot/journal.ts";
import { parseState, serializeState, type Usage } from "../src/snapshot/state.ts";
import { BIN, sh, SUFFIX, summarise, type Sample } from "./common.ts";

type Cmd = "event" | "status" | "busiest" | "unranked";

export interface PollRow {
  placement: string;
  hosts: number;
  /** Wall and CPU ms per command. */
  wall: Record<Cmd, Sample>;
  cpu: Record<Cmd, Sample>;
  bytes: { status: number; busiest: number };
}

const mac = (i: number) => `02:${[i >> 24, i >> 16, i >> 8, i].map((b) => (b & 255).toString(16).padStart(2, "0")).join(":")}:03`;
const ip = (i: number) => `10.65.${Math.floor(i / 250)}.${(i % 250) + 1}`;

/** One run in the namespace: wall ms, CPU ms (user + system of it and its children), stdout. */
function timed(ns: string, argv: string[], env: Record<string, string>): { wall: number; cpu: number; out: string } {
  const t = performance.now();
  const p = Bun.spawnSync(["ip", "netns", "exec", ns, ...argv], { env: { ...process.env, ...env }, stdout: "pipe", stderr: "pipe" });
  const wall = performance.now() - t;
  if (p.exitCode !== 0) throw new Error(`${argv.join(" ")}: exit ${p.exitCode}: ${p.stderr.toString().slice(0, 300)}`);
  const u = p.resourceUsage.cpuTime;
  return { wall, cpu: Number(u.user + u.system) / 1000, out: p.stdout.toString() };
}

export function benchPoll(dir: string, sizes: number[], placements: string[], reps: number, log: (s: string) => void): PollRow[] {
  const ns = `iptmonb${SUFFIX}p`;
  const rows: PollRow[] = [];
  const run = (argv: string[], env: Record<string, string> = {}) => sh(["ip", "netns", "exec", ns, ...argv], env);
  try {
    sh(["ip", "netns", "add", ns]);
    run(["ip", "link", "add", "br-lan", "type", "bridge"]);
    for (const d of ["br-lan", "lo"]) run(["ip", "link", "set", d, "up"]);
    run(["ip", "addr", "add", "10.65.255.254/16", "dev", "br-lan"]);
    for (const placement of placements) {
      for (const n of sizes) {
        const leasefile = join(dir, `poll-leases-${n}`);
        writeFileSync(leasefile, `${Array.from({ length: n }, (_, i) => `0 ${mac(i + 1)} ${ip(i + 1)} host${i + 1} *`).join("\n")}\n`);
        const conf = join(dir, `poll-${placement}-${n}.conf`);
        writeFileSync(
          conf,
          [
            "config iptmon",
            "\toption backend 'nftables'",
            `\toption hook '${placement}'`,
            "\toption lan_interface 'br-lan'",
            `\toption leasefile '${leasefile}'`,
            ...["hostsfile", "hostsdir", "dhcp_config", "dnsmasq_confdir"].map((o) => `\toption ${o} '${dir}/none'`),
            `\toption lockfile '${dir}/poll.lock'`,
            `\toption statefile '${dir}/poll-state-${placement}-${n}.json'`,
            "",
          ].join("\n"),
        );
        const env = { IPTMON_CONFIG: conf };
        run([BIN, "init"], env);
        run([BIN, "status", "--json"], env);
        // A state as a router's is after a year (periods_kept 12): eleven
        // closed periods and the open one, every host with usage in each.
        // Its journal names the new text, as iptmon's own write leaves it.
        const statefile = join(dir, `poll-state-${placement}-${n}.json`);
        const st = parseState(readFileSync(statefile, "utf8"));
        const open = st.periods.at(-1)!;
        const keys = Object.keys(st.hosts);
        const usage = (m: number): Record<string, Usage> => Object.fromEntries(keys.map((k, i) => [k, [1e9 + m * 1e6 + i, 1e6 + i, 3e9 + m * 1e6 + i, 2e6 + i] as Usage]));
        st.periods = [
          ...Array.from({ length: 11 }, (_, m) => ({ name: `old-${m}`, spec: open.spec, start: open.start - (11 - m) * 2_678_400, end: open.start - (10 - m) * 2_678_400, hosts: usage(m) })),
          { ...open, hosts: usage(11) },
        ];
        const text = serializeState(st);
        writeFileSync(statefile, text);
        writeFileSync(`${statefile}.journal`, serializeJournal({ state: digestOf(text), samples: [] }));
        const t: Record<Cmd, { wall: number[]; cpu: number[] }> = { event: { wall: [], cpu: [] }, status: { wall: [], cpu: [] }, busiest: { wall: [], cpu: [] }, unranked: { wall: [], cpu: [] } };
        const bytes = { status: 0, busiest: 0 };
        const extra = 1 << 20;
        for (let i = 0; i < reps; i++) {
          const add = timed(ns, [BIN, "add", mac(extra + i), ip(n + 1 + i), `new${i}`], env);
          t.event.wall.push(add.wall);
          t.event.cpu.push(add.cpu);
          run([BIN, "del", mac(extra + i), ip(n + 1 + i)], env);
          const s = timed(ns, [BIN, "status", "--json"], env);
          t.status.wall.push(s.wall);
          t.status.cpu.push(s.cpu);
          const b = timed(ns, [BIN, "status", "--json", "--busiest"], env);
          t.busiest.wall.push(b.wall);
          t.busiest.cpu.push(b.cpu);
          // The poll above was built on the ranking the full list just left (its time); without it, every counter is read.
          const rankedAt = (JSON.parse(readFileSync(`${statefile}.busiest`, "utf8")) as { t: number }).t;
          run(["rm", "-f", `${statefile}.busiest`]);
          const u = timed(ns, [BIN, "status", "--json", "--busiest"], env);
          t.unranked.wall.push(u.wall);
          t.unranked.cpu.push(u.cpu);
          bytes.status = s.out.length;
          bytes.busiest = b.out.length;
          for (const [what, out] of [["poll", b.out], ["poll without a ranking", u.out]] as const) {
            const parsed = JSON.parse(out) as { count: number; hosts: unknown[]; ranked_at: number };
            if (parsed.count !== n || parsed.hosts.length !== Math.min(n, 100)) throw new Error(`${what} at ${n}: count ${parsed.count}, ${parsed.hosts.length} listed`);
            if (what === "poll" && parsed.ranked_at !== rankedAt) throw new Error(`the poll at ${n} did not use the ranking (ranked_at ${parsed.ranked_at}, ranking of ${rankedAt})`);
          }
        }
        const sum = (k: keyof typeof t) => ({ wall: summarise(t[k].wall), cpu: summarise(t[k].cpu) });
        const [e, s, b, u] = [sum("event"), sum("status"), sum("busiest"), sum("unranked")];
        rows.push({ placement, hosts: n, wall: { event: e.wall, status: s.wall, busiest: b.wall, unranked: u.wall }, cpu: { event: e.cpu, status: s.cpu, busiest: b.cpu, unranked: u.cpu }, bytes });
        log(`  poll ${placement} ${n} hosts: CPU busiest ${b.cpu.median.toFixed(1)} ms (without a ranking ${u.cpu.median.toFixed(1)}), event ${e.cpu.median.toFixed(1)}, status --json ${s.cpu.median.toFixed(1)}; ${bytes.busiest} bytes`);
        run([BIN, "stop"], env);
      }
    }
  } finally {
    Bun.spawnSync(["ip", "netns", "del", ns]);
  }
  return rows;
}

export const POLL_STATE = "a year's state (12 periods, every host with usage in each)";

const ms = (s: Sample) => `${s.median.toFixed(1)} / ${s.min.toFixed(1)}`;
const x = (a: number, b: number) => `${(a / b).toFixed(2)}×`;
const kb = (n: number) => `${(n / 1024).toFixed(1)} KB`;

export function pollTable(rows: PollRow[]): string {
  const out = [
    "CPU ms (user + system) and wall ms, median / min; event: `add` of a new host; poll: `status --json --busiest` right after a full sample (built on its ranking); unranked: the same poll with no ranking to build on (with nftables over netlink a full sample, which leaves a new ranking)",
    "",
    "| placement | hosts | poll CPU | event CPU | poll ÷ event (CPU) | unranked poll CPU | unranked ÷ event | status --json CPU | poll wall | event wall | unranked poll wall | status --json wall | poll bytes | status --json bytes |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
  ];
  for (const r of rows)
    out.push(
      `| ${r.placement} | ${r.hosts} | ${ms(r.cpu.busiest)} | ${ms(r.cpu.event)} | ${x(r.cpu.busiest.median, r.cpu.event.median)} | ${ms(r.cpu.unranked)} | ${x(r.cpu.unranked.median, r.cpu.event.median)} | ${ms(r.cpu.status)} | ${ms(r.wall.busiest)} | ${ms(r.wall.event)} | ${ms(r.wall.unranked)} | ${ms(r.wall.status)} | ${kb(r.bytes.busiest)} | ${kb(r.bytes.status)} |`,
    );
  return `${out.join("\n")}\n`;
}
