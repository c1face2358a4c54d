/**
 * What start-up costs, module by module: for each entry below, a program
 * that imports it and prints one line, built with iptmon's build flags and
 * timed against the print-only floor (same flags, no import). An entry's
 * cost includes what it imports in turn.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { buildLikeIptmon, ROOT, sh, summarise, timeOnce, type Sample } from "./common.ts";

/** Each module, and what loads it. */
export const MODULES: [string, string][] = [
  ["src/main.ts", "every command's declaration (the binary's entry, src/cli.ts); a command's code loads when it runs"],
  ["src/events.ts", "what a dnsmasq or hotplug event runs"],
  ["src/app.ts", "config, backend choice, snapshots (loaded on first use)"],
  ["src/core.ts", "load, plan, apply"],
  ["src/backends/nft/index.ts", "the nft backend"],
  ["src/netlink/nftables.ts", "nf_tables over netlink"],
  ["src/netlink/rtnetlink.ts", "addresses and neighbours over netlink"],
  ["src/backends/ipt/index.ts", "the iptables backend"],
  ["src/snapshot/store.ts", "snapshots"],
  ["src/config.ts", "config parsing"],
  ["src/sys.ts", "the process boundary (spawn, files, lock, netlink sockets)"],
  ["src/sources/load.ts", "leases, hosts files, neighbours, the LAN"],
  ["src/status.ts", "iptmon status and metrics"],
  ["src/top/run.ts", "iptmon top"],
  ["src/exporters/push.ts", "the exporters' push"],
  ["src/usage/report.ts", "iptmon usage"],
  ["yargs", "the option parser (not for events, status --json or metrics)"],
];

export interface ImportRow {
  module: string;
  what: string;
  run: Sample;
}

export function benchImports(dir: string, reps: number, log: (s: string) => void): { floor: Sample; rows: ImportRow[] } {
  const bins: [string, string, string][] = [];
  const make = (name: string, source: string) => {
    const file = join(dir, `imp-${name}.ts`);
    writeFileSync(file, source);
    const out = join(dir, `imp-${name}`);
    buildLikeIptmon(file, out);
    return out;
  };
  const floorBin = make("floor", 'console.log("hello");\n');
  for (const [i, [m, what]] of MODULES.entries()) {
    const spec = m.startsWith("src/") ? join(ROOT, m) : Bun.resolveSync(m, ROOT);
    // Every export touched, so the bundler keeps the whole module.
    bins.push([m, what, make(`m${i}`, `import * as m from ${JSON.stringify(spec)};\nconsole.log(Object.keys(m).length);\n`)]);
  }
  // Interleaved, so drift on a shared machine spreads evenly.
  const times = new Map<string, number[]>([["floor", []], ...bins.map(([m]) => [m, []] as [string, number[]])]);
  for (let r = 0; r < reps; r++) {
    times.get("floor")!.push(timeOnce(() => sh([floorBin])));
    for (const [m, , bin] of bins) times.get(m)!.push(timeOnce(() => sh([bin])));
  }
  const sum = (xs: number[]) => summarise(xs);
  const floor = sum(times.get("floor")!);
  const rows = bins.map(([m, what]) => ({ module: m, what, run: sum(times.get(m)!) }));
  for (const r of rows) log(`  import ${r.module}: +${(r.run.median - floor.median).toFixed(1)} ms`);
  return { floor, rows };
}

export function importsTable(r: { floor: Sample; rows: ImportRow[] }): string {
  const out = [
    `Start-up floor (print-only, same build flags): ${r.floor.median.toFixed(1)} ms median, ${r.floor.min.toFixed(1)} ms min.`,
    "",
    "| module | what | start-up (median / min) | over the floor (median) |",
    "|---|---|---:|---:|",
  ];
  for (const x of r.rows) out.push(`| \`${x.module}\` | ${x.what} | ${x.run.median.toFixed(1)} / ${x.run.min.toFixed(1)} ms | +${(x.run.median - r.floor.median).toFixed(1)} ms |`);
  return out.join("\n");
}
