/**
 * What iptmon's commands cost at N hosts, on the real kernel in a namespace
 * of its own, with baselines from the same run:
 * - the start-up floor: a print-only program built with iptmon's build flags;
 * - the shell way: one `nft` process per rule (two counters and two map
 *   elements per host), as the original shell iptmon adds a host;
 * - the transaction floor: the very ruleset `iptmon print` renders, applied
 *   by one `nft -f`.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { BIN, buildLikeIptmon, inNs, peakRss, sh, summarise, SUFFIX, timeOnce, timeRuns, type Sample } from "./common.ts";

export interface EventRow {
  placement: string;
  hosts: number;
  floor: Sample;
  floorRss: number;
  add: Sample;
  addKnown: Sample;
  del: Sample;
  shellEvent: Sample;
  status: Sample;
  metrics: Sample;
  init: Sample;
  txFloor: Sample;
  perRuleEst: number;
  rss: number;
  rssStatus: number;
}

export interface BigSourceRow {
  placement: string;
  what: string;
  add: Sample;
  del: Sample;
  rss: number;
}

const mac = (i: number) => `02:${[i >> 24, i >> 16, i >> 8, i].map((b) => (b & 255).toString(16).padStart(2, "0")).join(":")}:01`;
const ip = (i: number) => `10.64.${Math.floor(i / 250)}.${(i % 250) + 1}`;

/** `extra`: more `config iptmon` options (tab-indented lines), and sections after it. */
function config(dir: string, name: string, placement: string, leasefile: string, hostsfile = `${dir}/none`, extra: { options?: string[]; sections?: string[] } = {}): Record<string, string> {
  const f = join(dir, `ev-${name}.conf`);
  writeFileSync(
    f,
    [
      "config iptmon",
      "\toption backend 'nftables'",
      `\toption hook '${placement}'`,
      "\toption lan_interface 'br-lan'",
      `\toption leasefile '${leasefile}'`,
      `\toption hostsfile '${hostsfile}'`,
      ...["hostsdir", "dhcp_config", "dnsmasq_confdir"].map((o) => `\toption ${o} '${dir}/none'`),
      `\toption lockfile '${dir}/ev.lock'`,
      // One per config: iptmon's snapshot remembers every host it saw, and reads it at each event.
      `\toption statefile '${dir}/ev-state-${name}.json'`,
      ...(extra.options ?? []),
      "",
      ...(extra.sections ?? []),
    ].join("\n"),
  );
  return { IPTMON_CONFIG: f };
}

/** The namespace's LAN the events name: br-lan with one port and the router's address. */
function buildLan(run: (argv: string[]) => unknown): void {
  run(["ip", "link", "add", "br-lan", "type", "bridge"]);
  run(["ip", "link", "add", "lan1", "type", "veth", "peer", "name", "lan1p"]);
  run(["ip", "link", "set", "lan1", "master", "br-lan"]);
  for (const d of ["br-lan", "lan1", "lan1p", "lo"]) run(["ip", "link", "set", d, "up"]);
  run(["ip", "addr", "add", "10.64.255.254/16", "dev", "br-lan"]);
}

export function benchEvents(dir: string, sizes: number[], placements: string[], reps: number, log: (s: string) => void): { rows: EventRow[]; big: BigSourceRow[] } {
  const ns = `iptmonb${SUFFIX}e`;
  const rows: EventRow[] = [];
  const big: BigSourceRow[] = [];
  const run = (argv: string[], env: Record<string, string> = {}, input?: string) => inNs(ns, argv, env, input);
  try {
    sh(["ip", "netns", "add", ns]);
    buildLan(run);
    const hello = join(dir, "hello.ts");
    writeFileSync(hello, 'console.log("hello")\n');
    buildLikeIptmon(hello, join(dir, "hello"));
    const floorRun = () => run([join(dir, "hello")]);
    for (const placement of placements) {
      for (const n of sizes) {
        const leasefile = join(dir, `leases-${n}`);
        writeFileSync(leasefile, `${Array.from({ length: n }, (_, i) => `0 ${mac(i + 1)} ${ip(i + 1)} host${i + 1} *`).join("\n")}\n`);
        const env = config(dir, `${placement}-${n}`, placement, leasefile);
        const iptmon = (args: string[]) => run([BIN, ...args], env);
        const floor = timeRuns(reps, floorRun);
        // init on an empty namespace, and the same transaction by one nft -f.
        iptmon(["stop"]);
        const script = iptmon(["print"]);
        writeFileSync(join(dir, "init.nft"), script);
        const txFloor = timeRuns(Math.max(3, reps >> 2), () => run(["nft", "-f", join(dir, "init.nft")]), () => iptmon(["stop"]));
        const init = timeRuns(Math.max(3, reps >> 2), () => iptmon(["init"]), () => iptmon(["stop"]));
        // The shell way, beside iptmon's table: a table of the same shape
        // with n hosts, then hosts added one nft process per rule.
        const shellTable = (k: number) =>
          `add table inet shellb\nadd map inet shellb rx4 { type ipv4_addr : counter; }\nadd map inet shellb tx4 { type ipv4_addr : counter; }\n` +
          Array.from({ length: k }, (_, i) => `add counter inet shellb rx_h${i}\nadd counter inet shellb tx_h${i}\nadd element inet shellb rx4 { ${ip(i + 1)} : "rx_h${i}" }\nadd element inet shellb tx4 { ${ip(i + 1)} : "tx_h${i}" }\n`).join("");
        const shellHost = (i: number) => {
          const a = `10.99.${Math.floor(i / 250)}.${(i % 250) + 1}`;
          run(["nft", "add", "counter", "inet", "shellb", `rx_s${i}`]);
          run(["nft", "add", "counter", "inet", "shellb", `tx_s${i}`]);
          run(["nft", "add", "element", "inet", "shellb", "rx4", `{ ${a} : "rx_s${i}" }`]);
          run(["nft", "add", "element", "inet", "shellb", "tx4", `{ ${a} : "tx_s${i}" }`]);
        };
        const shellAt = (k: number, tag: number) => {
          run(["nft", "-f", "-"], {}, `${shellTable(k)}`);
          try {
            return timeRuns(Math.max(5, reps >> 1), (i) => shellHost(tag + i));
          } finally {
            run(["nft", "delete", "table", "inet", "shellb"]);
          }
        };
        const shellEvent = shellAt(n, 0);
        const shellEmpty = n > 10 ? shellAt(10, 0) : shellEvent;
        // n hosts added one by one: the per-host cost grows linearly from the empty table to n.
        const perRuleEst = (n * (shellEmpty.median + shellEvent.median)) / 2;
        const extra = 1 << 20;
        const add = timeRuns(reps, (i) => iptmon(["add", mac(extra + i), ip(n + 1 + i), `new${i}`]));
        const addKnown = timeRuns(reps, (i) => iptmon(["add", mac(1 + (i % n)), ip(n + 1 + reps + i)]));
        const del = timeRuns(reps, (i) => iptmon(["del", mac(extra + i), ip(n + 1 + i)]));
        const status = timeRuns(Math.max(5, reps >> 1), () => iptmon(["status", "--json"]));
        const metrics = timeRuns(Math.max(5, reps >> 1), () => iptmon(["metrics"]));
        const count = JSON.parse(iptmon(["status", "--json"])).hosts.length;
        if (count !== n) throw new Error(`expected ${n} hosts, status shows ${count}`);
        const rss = peakRss(["ip", "netns", "exec", ns, BIN, "add", mac(extra + 99), ip(n + 3 * reps + 1), "rss"], env);
        iptmon(["del", mac(extra + 99), ip(n + 3 * reps + 1)]);
        const rssStatus = peakRss(["ip", "netns", "exec", ns, BIN, "status", "--json"], env);
        const floorRss = peakRss(["ip", "netns", "exec", ns, join(dir, "hello")]);
        const row: EventRow = { placement, hosts: n, floor, floorRss, add, addKnown, del, shellEvent, status, metrics, init, txFloor, perRuleEst, rss, rssStatus };
        rows.push(row);
        log(`  events ${placement} ${n} hosts: add ${add.median.toFixed(1)} ms, known ${addKnown.median.toFixed(1)}, del ${del.median.toFixed(1)}, shell ${shellEvent.median.toFixed(1)}, init ${init.median.toFixed(0)} / nft -f ${txFloor.median.toFixed(0)}`);
      }
      // The last size's table goes first: a stop hands its hosts to the snapshot of the config that stops it.
      run([BIN, "stop"], config(dir, `${placement}-${sizes.at(-1)}`, placement, join(dir, `leases-${sizes.at(-1)}`)));
      // Big third-party files: a 20,000-line lease file, a 10 MB hosts file, with 10 hosts counted.
      const small = join(dir, "leases-small");
      writeFileSync(small, `${Array.from({ length: 10 }, (_, i) => `0 ${mac(i + 1)} ${ip(i + 1)} host${i + 1} *`).join("\n")}\n`);
      run([BIN, "init"], config(dir, `small-${placement}`, placement, small));
      const bigLeases = join(dir, "leases-20000");
      writeFileSync(bigLeases, `${Array.from({ length: 20000 }, (_, i) => `${4102444800 + i} ${mac(i + 100)} 10.${100 + (i >> 16)}.${(i >> 8) & 255}.${i & 255} lease${i} *`).join("\n")}\n`);
      const bigHosts = join(dir, "hosts-10M");
      const hostsLines: string[] = [];
      for (let i = 0, size = 0; size < 10 * 1024 * 1024; i++) {
        const l = `10.${110 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}\tsomewhat-long-hostname-number-${i}.example.lan alias${i}`;
        hostsLines.push(l);
        size += l.length + 1;
      }
      writeFileSync(bigHosts, `${hostsLines.join("\n")}\n`);
      const extra = 1 << 21;
      for (const [what, env] of [
        ["10 hosts, small files", config(dir, `small-${placement}`, placement, small)],
        ["20,000-line lease file", config(dir, `bigleases-${placement}`, placement, bigLeases)],
        ["10 MB hosts file", config(dir, `bighosts-${placement}`, placement, small, bigHosts)],
      ] as const) {
        const off = big.length * 1000;
        const add = timeRuns(reps, (i) => run([BIN, "add", mac(extra + off + i), ip(200 + i), `b${i}`], env));
        const del = timeRuns(reps, (i) => run([BIN, "del", mac(extra + off + i), ip(200 + i)], env));
        const rss = peakRss(["ip", "netns", "exec", ns, BIN, "add", mac(extra + off + 999), ip(250), "rss"], env);
        run([BIN, "del", mac(extra + off + 999), ip(250)], env);
        big.push({ placement, what, add, del, rss });
        log(`  events ${placement}, ${what}: add ${add.median.toFixed(1)} ms, del ${del.median.toFixed(1)} ms, RSS ${(rss / 1024).toFixed(0)} MB`);
      }
      run([BIN, "stop"], config(dir, `small-${placement}`, placement, small));
    }
  } finally {
    Bun.spawnSync(["ip", "netns", "del", ns]);
  }
  return { rows, big };
}

/** What the split's event bench times, in this order. */
const SPLIT_OPS = [
  ["init", "init (empty table)"],
  ["add", "add (new host)"],
  ["addKnown", "add (known MAC, new address)"],
  ["del", "del"],
  ["status", "status --json"],
] as const;
type SplitOp = (typeof SPLIT_OPS)[number][0];

export interface SplitEventRow {
  placement: string;
  hosts: number;
  op: SplitOp;
  off: Sample;
  on: Sample;
  /** on ÷ off, each pair timed back to back. */
  ratio: Sample;
}

/** How many classes the split's event bench configures. */
export const SPLIT_CLASSES = 30;

/**
 * `config service` sections: `svc1` … `svc<k>`, each its own TCP and UDP
 * port (20001 …), none overlapping.
 */
export function serviceSections(k: number): string[] {
  return Array.from({ length: k }, (_, i) => ["config service", `\toption name 'svc${i + 1}'`, `\tlist match 'tcp/${20001 + i}'`, `\tlist match 'udp/${20001 + i}'`, ""]).flat();
}

/**
 * The split's cost to an event: the same events at N hosts on two tables in
 * one namespace, one without the split (no `breakdown`, no classes) and one
 * with `breakdown` family and service and SPLIT_CLASSES classes, timed in
 * pairs back to back (which goes first alternates), so a busy moment of the
 * machine slows both. The split adds no per-host object (its sets fill from
 * the datapath), so an event should cost the same; init declares the
 * classes' chains and verdict maps, status reads the (here empty) sets.
 */
export function benchSplitEvents(dir: string, sizes: number[], placements: string[], reps: number, log: (s: string) => void): SplitEventRow[] {
  const ns = `iptmonb${SUFFIX}s`;
  const rows: SplitEventRow[] = [];
  const run = (argv: string[], env: Record<string, string> = {}) => inNs(ns, argv, env);
  /** `k` pairs; `setup` untimed before each. */
  const paired = (k: number, off: (i: number) => void, on: (i: number) => void, setup?: (i: number) => void) => {
    const a: number[] = [];
    const b: number[] = [];
    for (let i = 0; i < k; i++) {
      setup?.(i);
      if (i % 2 === 0) a.push(timeOnce(() => off(i))), b.push(timeOnce(() => on(i)));
      else b.push(timeOnce(() => on(i))), a.push(timeOnce(() => off(i)));
    }
    return { off: summarise(a), on: summarise(b), ratio: summarise(b.map((v, i) => v / a[i]!)) };
  };
  try {
    sh(["ip", "netns", "add", ns]);
    buildLan(run);
    for (const placement of placements) {
      for (const n of sizes) {
        const leasefile = join(dir, `split-leases-${n}`);
        writeFileSync(leasefile, `${Array.from({ length: n }, (_, i) => `0 ${mac(i + 1)} ${ip(i + 1)} host${i + 1} *`).join("\n")}\n`);
        const offEnv = config(dir, `split-off-${placement}-${n}`, placement, leasefile, undefined, { options: ["\toption table 'iptmonoff'"] });
        const onEnv = config(dir, `split-on-${placement}-${n}`, placement, leasefile, undefined, {
          options: ["\toption table 'iptmonsplit'", "\tlist breakdown 'family'", "\tlist breakdown 'service'"],
          sections: serviceSections(SPLIT_CLASSES),
        });
        const off = (args: string[]) => run([BIN, ...args], offEnv);
        const on = (args: string[]) => run([BIN, ...args], onEnv);
        const both = (args: string[]) => (off(args), on(args));
        both(["stop"]);
        const t: Record<SplitOp, ReturnType<typeof paired>> = {} as never;
        t.init = paired(Math.max(5, reps >> 1), () => off(["init"]), () => on(["init"]), () => both(["stop"]));
        // The split's table is the one asked for: its classes' chains, one per class, direction and kind of host.
        const family = placement === "ports" ? "netdev" : "inet";
        const chains = (run(["nft", "list", "table", family, "iptmonsplit"]).match(/chain svc_/g) ?? []).length;
        const want = SPLIT_CLASSES * 2 * (placement === "ports" ? 3 : 2);
        if (chains !== want) throw new Error(`${placement}: the split's table has ${chains} class chains, not ${want}`);
        if (/chain svc_|split_/.test(run(["nft", "list", "table", family, "iptmonoff"]))) throw new Error(`${placement}: the table without the split has its objects`);
        const extra = 1 << 20;
        t.add = paired(reps, (i) => off(["add", mac(extra + i), ip(n + 1 + i), `new${i}`]), (i) => on(["add", mac(extra + i), ip(n + 1 + i), `new${i}`]));
        t.addKnown = paired(reps, (i) => off(["add", mac(1 + (i % n)), ip(n + 1 + reps + i)]), (i) => on(["add", mac(1 + (i % n)), ip(n + 1 + reps + i)]));
        t.del = paired(reps, (i) => off(["del", mac(extra + i), ip(n + 1 + i)]), (i) => on(["del", mac(extra + i), ip(n + 1 + i)]));
        t.status = paired(Math.max(5, reps >> 1), () => off(["status", "--json"]), () => on(["status", "--json"]));
        for (const e of [off, on]) {
          const hosts = JSON.parse(e(["status", "--json"])).hosts.length;
          if (hosts !== n) throw new Error(`${placement}: expected ${n} hosts, status shows ${hosts}`);
        }
        for (const [op] of SPLIT_OPS) rows.push({ placement, hosts: n, op, ...t[op] });
        log(`  split events ${placement} ${n} hosts: ${SPLIT_OPS.map(([op]) => `${op} ${t[op].off.median.toFixed(1)} → ${t[op].on.median.toFixed(1)} ms (${t[op].ratio.median.toFixed(2)})`).join(", ")}`);
        both(["stop"]);
      }
    }
  } finally {
    Bun.spawnSync(["ip", "netns", "del", ns]);
  }
  return rows;
}

export function splitEventsTable(rows: SplitEventRow[]): string {
  const out = [
    `Times are median / min in ms. Split off: no \`breakdown\`, no \`config service\`; split on: \`list breakdown 'family'\` and \`'service'\` with ${SPLIT_CLASSES} \`config service\` sections (each its own TCP and UDP port, 60 port matches). The two are separate tables in one namespace with the same hosts, and each operation is timed on both back to back; on ÷ off is the median (range) of those pairs.`,
    "",
    "| placement | hosts | operation | split off | split on, 30 classes | on ÷ off, paired |",
    "|---|---:|---|---:|---:|---:|",
  ];
  for (const r of rows) {
    const label = SPLIT_OPS.find(([op]) => op === r.op)![1];
    out.push(`| ${r.placement} | ${r.hosts} | ${label} | ${ms(r.off)} | ${ms(r.on)} | ${r.ratio.median.toFixed(2)} (${r.ratio.min.toFixed(2)}–${r.ratio.max.toFixed(2)}) |`);
  }
  return out.join("\n");
}

const ms = (s: Sample) => `${s.median >= 100 ? s.median.toFixed(0) : s.median.toFixed(1)} / ${s.min >= 100 ? s.min.toFixed(0) : s.min.toFixed(1)}`;
const x = (a: number, b: number) => `${(a / b).toFixed(a / b >= 10 ? 0 : 2)}×`;

export function eventsTables(rows: EventRow[], big: BigSourceRow[]): string {
  const out: string[] = [];
  const placements = [...new Set(rows.map((r) => r.placement))];
  for (const p of placements) {
    const rs = rows.filter((r) => r.placement === p);
    const base = rs[0]!;
    out.push(
      `**${p}** placement — times are median / min in ms; floor: print-only binary; shell: one nft process per rule (2 counters + 2 elements), for a new host at that size`,
      "",
      "| hosts | floor | add (new host) | add (known MAC, new address) | del | shell event | add ÷ shell | add ÷ add at " + base.hosts + " | add − floor | status --json | metrics | status ÷ add |",
      "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    );
    for (const r of rs)
      out.push(
        `| ${r.hosts} | ${ms(r.floor)} | ${ms(r.add)} | ${ms(r.addKnown)} | ${ms(r.del)} | ${ms(r.shellEvent)} | ${x(r.add.median, r.shellEvent.median)} | ${x(r.add.median, base.add.median)} | +${(r.add.median - r.floor.median).toFixed(1)} ms | ${ms(r.status)} | ${ms(r.metrics)} | ${x(r.status.median, r.add.median)} |`,
      );
    out.push(
      "",
      "| hosts | init (empty table) | one `nft -f` of the same ruleset | init ÷ nft -f | one process per rule (est.) | per rule ÷ init | RSS event / status / floor | event RSS ÷ floor |",
      "|---:|---:|---:|---:|---:|---:|---:|---:|",
    );
    for (const r of rs)
      out.push(
        `| ${r.hosts} | ${ms(r.init)} | ${ms(r.txFloor)} | ${x(r.init.median, r.txFloor.median)} | ${(r.perRuleEst / 1000).toFixed(1)} s | ${x(r.perRuleEst, r.init.median)} | ${(r.rss / 1024).toFixed(0)} / ${(r.rssStatus / 1024).toFixed(0)} / ${(r.floorRss / 1024).toFixed(0)} MB | ${x(r.rss, r.floorRss)} |`,
      );
    const bs = big.filter((b) => b.placement === p);
    if (bs.length) {
      out.push("", "| 10 hosts counted, with | add | del | add ÷ small files | RSS event |", "|---|---:|---:|---:|---:|");
      for (const b of bs) out.push(`| ${b.what} | ${ms(b.add)} | ${ms(b.del)} | ${x(b.add.median, bs[0]!.add.median)} | ${(b.rss / 1024).toFixed(0)} MB |`);
    }
    out.push("");
  }
  return out.join("\n");
}
