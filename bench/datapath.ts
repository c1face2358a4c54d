/**
 * The datapath's cost: 64-byte UDP frames (18-byte payload) and one bulk TCP
 * stream from a client through a router namespace to a WAN namespace, with
 * iptmon counting at the LAN ports, in the forward hook, or not at all,
 * taking turns within each repeat so that every ratio pairs runs made
 * seconds apart. The client's MAC and address are those of the last of N
 * leases, so `ports` counts it by MAC and every placement tracks N hosts.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { BIN, BUN, buildBenchRouter, inNs, sh, summarise, SUFFIX, waitFor, type Sample } from "./common.ts";

const FLOOD = resolve(import.meta.dir, "flood.ts");
const TCP = resolve(import.meta.dir, "tcp.ts");
/** A placement counted by a binary: iptmon's own, or another build to compare with (`@…`). */
export interface Mode {
  name: string;
  hook: "none" | "forward" | "ports";
  bin: string;
  /** Instead of iptmon: a hand-written ruleset (the hooks' own cost, with chains that do nothing). */
  nft?: string;
}

/** Base chains with no rule, where each placement hooks: what a hook costs before any rule. */
const EMPTY_CHAINS = {
  forward: "add table inet benchfloor; add chain inet benchfloor forward { type filter hook forward priority -1; policy accept; }",
  ports: 'add table netdev benchfloor; add chain netdev benchfloor ingress { type filter hook ingress devices = { "lan1" } priority -1; policy accept; }; add chain netdev benchfloor egress { type filter hook egress devices = { "lan1" } priority -1; policy accept; }',
};

export interface DatapathRow {
  hosts: number;
  mode: string;
  udp: Sample; // packets/s
  tcp: Sample; // Mbit/s
  /** Paired with the no-accounting run of the same repeat. */
  udpRatio: Sample;
  tcpRatio: Sample;
  /** Best run ÷ best run with no accounting: the least disturbed by the machine's other work. */
  udpBest: number;
  tcpBest: number;
}

const ip = (i: number) => `10.66.${Math.floor(i / 250)}.${(i % 250) + 1}`;
const mac = (i: number) => `02:00:${[i >> 16, i >> 8, i].map((b) => (b & 255).toString(16).padStart(2, "0")).join(":")}:03`;

export async function benchDatapath(dir: string, sizes: number[], reps: number, ms: number, log: (s: string) => void, compare?: { bin: string; label: string }): Promise<DatapathRow[]> {
  const MODES: Mode[] = [
    { name: "none", hook: "none", bin: BIN },
    { name: "forward", hook: "forward", bin: BIN },
    { name: "ports", hook: "ports", bin: BIN },
    ...(compare ? (["forward", "ports"] as const).map((hook) => ({ name: `${hook} ${compare.label}`, hook, bin: compare.bin })) : []),
    { name: "forward hook, empty chain", hook: "none", bin: BIN, nft: EMPTY_CHAINS.forward },
    { name: "ports hooks, empty chains", hook: "none", bin: BIN, nft: EMPTY_CHAINS.ports },
  ];
  const [R, C, W] = ["r", "c", "w"].map((x) => `iptmonb${SUFFIX}${x}`) as [string, string, string];
  const rows: DatapathRow[] = [];
  let receiver: ReturnType<typeof Bun.spawn> | undefined;
  try {
    buildBenchRouter(R, C, W, "10.66");
    const tcpOut = join(dir, "tcp.out");
    receiver = Bun.spawn(["ip", "netns", "exec", W, BUN, TCP, "recv", "5201", tcpOut], { stdout: "ignore", stderr: "inherit" });
    await waitFor("the TCP receiver", () => existsSync(`${tcpOut}.ready`));
    const sinkCount = (): number => {
      const out = JSON.parse(inNs(W, ["nft", "-j", "list", "counter", "inet", "sink", "in"]));
      return out.nftables.find((o: { counter?: { packets: number } }) => o.counter)?.counter.packets ?? 0;
    };
    const settledSink = async () => {
      let last = -1;
      let now = sinkCount();
      // Packets still queued on the way arrive within milliseconds.
      await waitFor("the sink to settle", () => {
        [last, now] = [now, sinkCount()];
        return last === now;
      });
      return now;
    };
    let tcpLines = 0;
    for (const n of sizes) {
      const client = n; // the last lease
      sh(["ip", "-n", C, "link", "set", "eth0", "address", mac(client)]);
      sh(["ip", "-n", C, "addr", "flush", "dev", "eth0"]);
      sh(["ip", "-n", C, "addr", "add", `${ip(client)}/16`, "dev", "eth0"]);
      sh(["ip", "-n", C, "route", "replace", "default", "via", "10.66.255.254"]);
      writeFileSync(join(dir, `dp-leases`), `${Array.from({ length: n }, (_, i) => `0 ${mac(i + 1)} ${ip(i + 1)} h${i + 1} *`).join("\n")}\n`);
      const conf = (m: Mode) => {
        const f = join(dir, `dp-${m.hook}.conf`);
        writeFileSync(
          f,
          [
            "config iptmon",
            "\toption backend 'nftables'",
            `\toption hook '${m.hook === "ports" ? "ports" : "forward"}'`,
            "\toption lan_interface 'br-lan'",
            `\toption leasefile '${dir}/dp-leases'`,
            ...["hostsfile", "hostsdir", "dhcp_config", "dnsmasq_confdir"].map((o) => `\toption ${o} '${dir}/none'`),
            `\toption lockfile '${dir}/dp.lock'`,
            `\toption statefile '${dir}/dp-state.json'`,
            "",
          ].join("\n"),
        );
        return { IPTMON_CONFIG: f };
      };
      const udp = new Map<string, number[]>(MODES.map((m) => [m.name, []]));
      const tcp = new Map<string, number[]>(MODES.map((m) => [m.name, []]));
      for (let r = 0; r < reps; r++) {
        // Each repeat starts with a different placement: drift on a shared machine spreads evenly.
        const order = MODES.map((_, i) => MODES[(i + r) % MODES.length]!);
        for (const m of order) {
          const env = conf(m);
          for (const b of new Set([BIN, m.bin])) inNs(R, [b, "stop"], env);
          inNs(R, ["nft", "add table inet benchfloor; delete table inet benchfloor; add table netdev benchfloor; delete table netdev benchfloor"]);
          if (m.nft) inNs(R, ["nft", m.nft]);
          if (m.hook !== "none") inNs(R, [m.bin, "init"], env);
          const counted = () => {
            if (m.hook === "none") return 0;
            const h = JSON.parse(inNs(R, [m.bin, "status", "--json"], env)).hosts.find((x: { mac?: string }) => x.mac === mac(client));
            if (!h) throw new Error(`${m.name}: the client is not a host`);
            return h.rx_packets as number;
          };
          const c0 = counted();
          const s0 = await settledSink();
          inNs(C, [BUN, FLOOD, "198.18.0.2", "40100", String(ms), "18"]);
          const got = (await settledSink()) - s0;
          udp.get(m.name)!.push((got * 1000) / ms);
          // Every datagram that reached the WAN passed the router's counters.
          if (m.hook !== "none" && counted() - c0 < got) throw new Error(`${m.name}: ${got} datagrams arrived, ${counted() - c0} counted`);
          inNs(C, [BUN, TCP, "send", "198.18.0.2", "5201", String(ms)]);
          await waitFor("the TCP receiver's report", () => existsSync(tcpOut) && readFileSync(tcpOut, "utf8").trim().split("\n").length > tcpLines);
          const line = readFileSync(tcpOut, "utf8").trim().split("\n")[tcpLines++]!;
          const { bytes, ms: took } = JSON.parse(line) as { bytes: number; ms: number };
          tcp.get(m.name)!.push((bytes * 8) / took / 1000);
          log(`  datapath ${n} hosts, repeat ${r + 1}, ${m.name}: ${(udp.get(m.name)!.at(-1)! / 1000).toFixed(0)}k pkt/s, ${tcp.get(m.name)!.at(-1)!.toFixed(0)} Mbit/s`);
        }
      }
      const none = { udp: udp.get("none")!, tcp: tcp.get("none")! };
      for (const m of MODES) {
        const u = udp.get(m.name)!;
        const t = tcp.get(m.name)!;
        rows.push({
          hosts: n,
          mode: m.name,
          udp: summarise(u),
          tcp: summarise(t),
          udpRatio: summarise(u.map((v, i) => v / none.udp[i]!)),
          tcpRatio: summarise(t.map((v, i) => v / none.tcp[i]!)),
          udpBest: Math.max(...u) / Math.max(...none.udp),
          tcpBest: Math.max(...t) / Math.max(...none.tcp),
        });
      }
    }
  } finally {
    receiver?.kill();
    await receiver?.exited;
    for (const ns of [R, C, W]) Bun.spawnSync(["ip", "netns", "del", ns]);
  }
  return rows;
}

export function datapathTable(rows: DatapathRow[]): string {
  const k = (s: Sample) => `${(s.median / 1000).toFixed(0)}k (${(s.max / 1000).toFixed(0)}k)`;
  const g = (s: Sample) => `${(s.median / 1000).toFixed(2)} (${(s.max / 1000).toFixed(2)})`;
  const r = (s: Sample) => `${s.median.toFixed(2)} (${s.min.toFixed(2)}–${s.max.toFixed(2)})`;
  const out = [
    "| hosts | counting | UDP pkt/s, median (best) | ÷ none: best | ÷ none: paired, median (range) | TCP Gbit/s, median (best) | ÷ none: best | ÷ none: paired, median (range) |",
    "|---:|---|---:|---:|---:|---:|---:|---:|",
  ];
  for (const x of rows) {
    if (x.mode === "none") out.push(`| ${x.hosts} | none | ${k(x.udp)} | | | ${g(x.tcp)} | | |`);
    else out.push(`| ${x.hosts} | ${x.mode} | ${k(x.udp)} | **${x.udpBest.toFixed(2)}** | ${r(x.udpRatio)} | ${g(x.tcp)} | **${x.tcpBest.toFixed(2)}** | ${r(x.tcpRatio)} |`);
  }
  return out.join("\n");
}
