/**
 * The datapath's cost: UDP with an 18-byte payload (64-byte frames over
 * IPv4, 84 over IPv6) and one bulk TCP stream (IPv4) from a client through a
 * router namespace to a WAN namespace, with iptmon counting at the LAN
 * ports, in the forward hook, or not at all, each placement also with the
 * per-host split (`breakdown`: family, service, both), taking turns within
 * each repeat so that every ratio pairs runs made seconds apart. The
 * client's MAC and address are those of the last of N leases, so `ports`
 * counts it by MAC and every placement tracks N hosts; its IPv6 address is
 * given by a `config host` section (`forward` counts IPv6 by address).
 *
 * Every packet goes to port 443 (UDP: class `quic`, TCP: `web`, in the
 * built-in classes), so with the service split each one is classed and
 * counted in its class: the split's worst case. A port no class lists pays
 * the guard and the verdict-map lookup only.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { BIN, BUN, buildBenchRouter, inNs, lan6, sh, summarise, SUFFIX, WAN6, waitFor, type Sample } from "./common.ts";

const FLOOD = resolve(import.meta.dir, "flood.ts");
const TCP = resolve(import.meta.dir, "tcp.ts");
/** A placement counted by a binary: iptmon's own, or another build to compare with (`@…`). */
export interface Mode {
  name: string;
  hook: "none" | "forward" | "ports";
  bin: string;
  /** Instead of iptmon: a hand-written ruleset (the hooks' own cost, with chains that do nothing). */
  nft?: string;
  /** The per-host split (`list breakdown`); none: off. */
  split?: readonly Split[];
}

type Split = "family" | "service";
const SPLITS: readonly (readonly Split[])[] = [["family"], ["service"], ["family", "service"]];
/** The port every flood goes to: UDP 443 is the built-in class `quic`, TCP 443 `web`. */
const PORT = 443;
const SERVICE = { udp: "quic", tcp: "web" };

/** Base chains with no rule, where each placement hooks: what a hook costs before any rule. */
const EMPTY_CHAINS = {
  forward: "add table inet benchfloor; add chain inet benchfloor forward { type filter hook forward priority -1; policy accept; }",
  ports: 'add table netdev benchfloor; add chain netdev benchfloor ingress { type filter hook ingress devices = { "lan1" } priority -1; policy accept; }; add chain netdev benchfloor egress { type filter hook egress devices = { "lan1" } priority -1; policy accept; }',
};

/** What each run measures: UDP over IPv4 and IPv6 (packets/s), TCP over IPv4 (Mbit/s). */
const FLOWS = ["udp", "udp6", "tcp"] as const;
type Flow = (typeof FLOWS)[number];

export interface FlowResult {
  rate: Sample;
  /** Paired with the no-accounting run of the same repeat. */
  ratio: Sample;
  /** Best run ÷ best run with no accounting: the least disturbed by the machine's other work. */
  best: number;
  /** A split mode's, paired with the same placement without the split in the same repeat. */
  vsOff?: Sample;
}

export interface DatapathRow {
  hosts: number;
  mode: string;
  flows: Record<Flow, FlowResult>;
}

const ip = (i: number) => `10.66.${Math.floor(i / 250)}.${(i % 250) + 1}`;
const mac = (i: number) => `02:00:${[i >> 16, i >> 8, i].map((b) => (b & 255).toString(16).padStart(2, "0")).join(":")}:03`;
const LAN = "10.66";
const ip6 = (i: number) => `${lan6(LAN)}:${i.toString(16)}`;
const DEST6 = `${WAN6}:2`;

export async function benchDatapath(dir: string, sizes: number[], reps: number, ms: number, log: (s: string) => void, compare?: { bin: string; label: string }): Promise<DatapathRow[]> {
  const MODES: Mode[] = [
    { name: "none", hook: "none", bin: BIN },
    ...(["forward", "ports"] as const).flatMap((hook): Mode[] => [{ name: hook, hook, bin: BIN }, ...SPLITS.map((split) => ({ name: `${hook} ${split.map((x) => `+${x}`).join("")}`, hook, bin: BIN, split }))]),
    ...(compare ? (["forward", "ports"] as const).map((hook) => ({ name: `${hook} ${compare.label}`, hook, bin: compare.bin })) : []),
    { name: "forward hook, empty chain", hook: "none", bin: BIN, nft: EMPTY_CHAINS.forward },
    { name: "ports hooks, empty chains", hook: "none", bin: BIN, nft: EMPTY_CHAINS.ports },
  ];
  const [R, C, W] = ["r", "c", "w"].map((x) => `iptmonb${SUFFIX}${x}`) as [string, string, string];
  const rows: DatapathRow[] = [];
  let receiver: ReturnType<typeof Bun.spawn> | undefined;
  try {
    buildBenchRouter(R, C, W, LAN, { sinkPort: PORT, ipv6: true });
    const tcpOut = join(dir, "tcp.out");
    receiver = Bun.spawn(["ip", "netns", "exec", W, BUN, TCP, "recv", String(PORT), tcpOut], { stdout: "ignore", stderr: "inherit" });
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
      sh(["ip", "-n", C, "addr", "add", `${ip6(client)}/64`, "dev", "eth0", "nodad"]);
      sh(["ip", "-n", C, "route", "replace", "default", "via", `${LAN}.255.254`]);
      sh(["ip", "-n", C, "-6", "route", "replace", "default", "via", `${lan6(LAN)}:ffff`]);
      writeFileSync(join(dir, `dp-leases`), `${Array.from({ length: n }, (_, i) => `0 ${mac(i + 1)} ${ip(i + 1)} h${i + 1} *`).join("\n")}\n`);
      const conf = (m: Mode) => {
        const f = join(dir, `dp-${m.hook}-${(m.split ?? []).join("-")}.conf`);
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
            ...(m.split ?? []).map((x) => `\tlist breakdown '${x}'`),
            "",
            // The client's IPv6 address, which no lease gives: `forward` counts IPv6 by address.
            "config host",
            `\toption mac '${mac(client)}'`,
            `\tlist ip '${ip6(client)}'`,
            "",
          ].join("\n"),
        );
        return { IPTMON_CONFIG: f };
      };
      // Neighbours resolved before the first measured run (the client's addresses are new).
      for (const dest of ["198.18.0.2", DEST6]) inNs(C, [BUN, FLOOD, dest, String(PORT), "100", "18"]);
      const runs = new Map<string, Record<Flow, number[]>>(MODES.map((m) => [m.name, { udp: [], udp6: [], tcp: [] }]));
      for (let r = 0; r < reps; r++) {
        // Each repeat starts with a different placement: drift on a shared machine spreads evenly.
        const order = MODES.map((_, i) => MODES[(i + r) % MODES.length]!);
        for (const m of order) {
          const env = conf(m);
          for (const b of new Set([BIN, m.bin])) inNs(R, [b, "stop"], env);
          inNs(R, ["nft", "add table inet benchfloor; delete table inet benchfloor; add table netdev benchfloor; delete table netdev benchfloor"]);
          if (m.nft) inNs(R, ["nft", m.nft]);
          if (m.hook !== "none") inNs(R, [m.bin, "init"], env);
          // The client's received packets: in all, as IPv6 and in the flood's class, where the split counts those.
          const counted = () => {
            if (m.hook === "none") return { all: 0, v6: 0, svc: 0, webBytes: 0 };
            const h = JSON.parse(inNs(R, [m.bin, "status", "--json"], env)).hosts.find((x: { mac?: string }) => x.mac === mac(client));
            if (!h) throw new Error(`${m.name}: the client is not a host`);
            const svc = (name: string) => h.services?.[name] ?? { rx_packets: 0, rx_bytes: 0 };
            return { all: h.rx_packets as number, v6: (h.families?.ipv6?.rx_packets ?? 0) as number, svc: svc(SERVICE.udp).rx_packets as number, webBytes: svc(SERVICE.tcp).rx_bytes as number };
          };
          const rates = runs.get(m.name)!;
          for (const [flow, dest] of [["udp", "198.18.0.2"], ["udp6", DEST6]] as const) {
            const c0 = counted();
            const s0 = await settledSink();
            inNs(C, [BUN, FLOOD, dest, String(PORT), String(ms), "18"]);
            const got = (await settledSink()) - s0;
            rates[flow].push((got * 1000) / ms);
            if (got === 0) throw new Error(`${m.name}: no ${flow} datagram reached the WAN`);
            // Every datagram that reached the WAN passed the router's counters, and the split's where it is on.
            const c1 = counted();
            const short = (what: string, n: number) => {
              if (n < got) throw new Error(`${m.name}, ${flow}: ${got} datagrams arrived, ${n} counted ${what}`);
            };
            if (m.hook !== "none") short("", c1.all - c0.all);
            if (m.split?.includes("family") && flow === "udp6") short("as IPv6", c1.v6 - c0.v6);
            if (m.split?.includes("service")) short(`in '${SERVICE.udp}'`, c1.svc - c0.svc);
          }
          const t0 = counted();
          inNs(C, [BUN, TCP, "send", "198.18.0.2", String(PORT), String(ms)]);
          await waitFor("the TCP receiver's report", () => existsSync(tcpOut) && readFileSync(tcpOut, "utf8").trim().split("\n").length > tcpLines);
          const line = readFileSync(tcpOut, "utf8").trim().split("\n")[tcpLines++]!;
          const { bytes, ms: took } = JSON.parse(line) as { bytes: number; ms: number };
          // The stream's bytes (and more: headers) were counted in its class.
          const web = counted().webBytes - t0.webBytes;
          if (m.split?.includes("service") && web < bytes) throw new Error(`${m.name}, tcp: ${bytes} bytes arrived, ${web} counted in '${SERVICE.tcp}'`);
          rates.tcp.push((bytes * 8) / took / 1000);
          log(`  datapath ${n} hosts, repeat ${r + 1}, ${m.name}: ${(rates.udp.at(-1)! / 1000).toFixed(0)}k pkt/s, IPv6 ${(rates.udp6.at(-1)! / 1000).toFixed(0)}k pkt/s, ${rates.tcp.at(-1)!.toFixed(0)} Mbit/s`);
        }
      }
      const none = runs.get("none")!;
      for (const m of MODES) {
        const x = runs.get(m.name)!;
        const off = m.split ? runs.get(m.hook)! : undefined;
        const flows = Object.fromEntries(
          FLOWS.map((f): [Flow, FlowResult] => [
            f,
            {
              rate: summarise(x[f]),
              ratio: summarise(x[f].map((v, i) => v / none[f][i]!)),
              best: Math.max(...x[f]) / Math.max(...none[f]),
              ...(off ? { vsOff: summarise(x[f].map((v, i) => v / off[f][i]!)) } : {}),
            },
          ]),
        ) as Record<Flow, FlowResult>;
        rows.push({ hosts: n, mode: m.name, flows });
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
  const cells = (x: DatapathRow, f: Flow) => {
    const rate = (f === "tcp" ? g : k)(x.flows[f].rate);
    if (x.mode === "none") return [rate, "", "", ...(f === "tcp" ? [] : [""])];
    const v = x.flows[f];
    return [rate, `**${v.best.toFixed(2)}**`, r(v.ratio), ...(f === "tcp" ? [] : [v.vsOff ? r(v.vsOff) : ""])];
  };
  const out = [
    "| hosts | counting | UDP/IPv4 pkt/s, median (best) | ÷ none: best | ÷ none: paired, median (range) | ÷ split off: paired | UDP/IPv6 pkt/s, median (best) | ÷ none: best | ÷ none: paired, median (range) | ÷ split off: paired | TCP Gbit/s, median (best) | ÷ none: best | ÷ none: paired, median (range) |",
    "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
  ];
  for (const x of rows) out.push(`| ${x.hosts} | ${x.mode} | ${FLOWS.flatMap((f) => cells(x, f)).join(" | ")} |`);
  return out.join("\n");
}

/** What the datapath table's rows are, for the notes under it. */
export const DATAPATH_NOTES =
  "UDP: 18-byte payload (64-byte frames over IPv4, 84 over IPv6), all to port 443, so with `+service` every datagram is classed (`quic`) and counted in its class, the split's worst case; a port no class lists pays only the guard and the verdict-map lookup. `+family` adds rules for IPv6 packets only (an IPv4 packet meets none of them), so its cost is in the UDP/IPv6 columns. TCP: one IPv4 stream to port 443 (`web`), whose data packets the service split classes too. ÷ split off: paired with the same placement without the split in the same repeat. Every run checks that each datagram that reached the WAN was counted, as IPv6 and in its class where the split is on, and the TCP stream's bytes in `web`.";
