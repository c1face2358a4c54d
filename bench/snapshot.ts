/**
 * What the snapshot costs one host event (one new host's floor looked up,
 * then its created counters remembered) with 10 and with 5,000 hosts
 * remembered, in-process on the real filesystem (a temporary directory):
 * each repeat is a fresh Snapshots, as each event is a fresh process.
 * `--rss N`: one event in a process of its own, printing its peak RSS.
 *
 *   bun bench/snapshot.ts [repeats]
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { CountedHost } from "../src/model.ts";
import type { SnapshotSettings } from "../src/snapshot/settings.ts";
import { Snapshots } from "../src/snapshot/store.ts";
import { emptyState, serializeState } from "../src/snapshot/state.ts";
import { recordSample } from "../src/usage/record.ts";
import { realSys } from "../src/sys.ts";

const T0 = Date.parse("2026-12-15T06:00:00Z") / 1000;
const KEPT = 3;
const mac = (i: number) => `02:${[i >> 24, i >> 16, i >> 8, i].map((b) => (b & 255).toString(16).padStart(2, "0")).join(":")}:01`;
const host = (i: number, bytes: number): CountedHost => ({ key: mac(i), name: `host-${i}`, addresses: [], rx: { bytes, packets: bytes >> 6 }, tx: { bytes: bytes * 7, packets: bytes >> 4 } });

function settings(dir: string): SnapshotSettings {
  return { statefile: join(dir, "state.json"), persistDir: join(dir, "flash"), persistInterval: 1440 * 60, usage: { spec: { kind: "month", start: 1 }, kept: KEPT, zone: () => 0 } };
}

/** A state remembering `n` hosts, each with usage in `KEPT` months, written as iptmon writes it. */
function prepare(dir: string, n: number): void {
  const set = settings(dir);
  const s = emptyState(T0 - 70 * 86_400);
  for (let m = KEPT - 1; m >= 0; m--) {
    const t = T0 - m * 31 * 86_400;
    recordSample(s, Array.from({ length: n }, (_, i) => host(i, 1000 * (KEPT - m) + i)), t, set.usage);
  }
  s.persisted = T0;
  realSys.writeFile(set.statefile, serializeState(s));
  realSys.writeFile(join(set.persistDir!, "state.json"), serializeState(s));
  // one event's worth of runs first, as a router that has been up a while has
  const snaps = new Snapshots({ ...realSys, now: () => T0 }, set, (l) => console.error(l));
  snaps.remember([host(n + 1, 5)], "some");
}

/** One event: a new host's floor, then its counters remembered. */
function event(dir: string, n: number, i: number): void {
  const snaps = new Snapshots({ ...realSys, now: () => T0 + 1 + i }, settings(dir), (l) => console.error(l));
  const h = host(n + 10 + i, 0);
  const f = snaps.floors().get(h.key);
  if (f) throw new Error("a new host has no floor");
  if (!snaps.floors().get(mac(3))) throw new Error("a remembered host has a floor");
  snaps.remember([h], "some");
}

if (process.argv[2] === "--rss") {
  const n = Number(process.argv[3]);
  const dir = process.argv[4]!;
  const hwm = () => Number(/VmHWM:\s+(\d+) kB/.exec(realSys.readFile("/proc/self/status")!)![1]);
  const before = hwm();
  if (n > 0) event(dir, n, Number(process.argv[5]));
  console.log(JSON.stringify({ before, after: hwm() }));
} else {
  const reps = Number(process.argv[2] ?? 60);
  for (const n of [10, 5000]) {
    const dir = mkdtempSync(join(tmpdir(), "iptmon-bench-snap-"));
    try {
      prepare(dir, n);
      const bytes = realSys.readFile(join(dir, "state.json"))!.length;
      const t: number[] = [];
      for (let i = 0; i < reps; i++) {
        const s = performance.now();
        event(dir, n, i);
        t.push(performance.now() - s);
      }
      t.sort((a, b) => a - b);
      const rss = (k: number) => {
        const p = Bun.spawnSync([process.execPath, import.meta.path, "--rss", String(k), dir, String(reps + k)], { stdout: "pipe", stderr: "pipe" });
        if (p.exitCode !== 0) throw new Error(p.stderr.toString());
        const r = JSON.parse(p.stdout.toString()) as { before: number; after: number };
        return r.after - r.before;
      };
      // the event's own growth of peak RSS, less a process that does nothing
      const grown = Math.max(0, rss(n) - rss(0));
      console.log(`${String(n).padStart(5)} hosts (state ${(bytes / 1024).toFixed(0)} KiB): min ${t[0]!.toFixed(2)} ms, median ${t[Math.floor((reps - 1) / 2)]!.toFixed(2)} ms, max ${t.at(-1)!.toFixed(2)} ms (${reps} events); peak RSS +${(grown / 1024).toFixed(1)} MiB`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
}
