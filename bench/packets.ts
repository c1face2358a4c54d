/**
 * The per-packet cost of counting: UDP from a client through a router
 * namespace to a WAN namespace, with N other hosts tracked, for no
 * accounting (baseline), the nftables backend (one map lookup per packet) and
 * the iptables backend (a walk along one rule per address). The client's
 * address is the last one in the lease file, so iptables walks every rule.
 *
 *   bun bench/packets.ts [hosts...]      (root; default 10 1000 5000)
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { buildBenchRouter } from "./common.ts";

const BIN = resolve(import.meta.dir, "../dist/iptmon");
const BUN = resolve(import.meta.dir, "../node_modules/.bin/bun");
const FLOOD = resolve(import.meta.dir, "flood.ts");
const sizes = process.argv.slice(2).map(Number).filter((n) => n > 0);
const N = sizes.length ? sizes : [10, 1000, 5000];
const MS = 2000;
const sfx = Math.random().toString(16).slice(2, 8);
const [R, C, W] = ["r", "c", "w"].map((x) => `ipk${sfx}${x}`) as [string, string, string];
const dir = mkdtempSync(join(tmpdir(), "iptmon-pkt-"));

const sh = (argv: string[], env: Record<string, string> = {}) => {
  const p = Bun.spawnSync(argv, { env: { ...process.env, ...env }, stdout: "pipe", stderr: "pipe" });
  if (p.exitCode !== 0) throw new Error(`${argv.join(" ")}: ${p.stderr.toString()}`);
  return p.stdout.toString();
};
const inNs = (ns: string, argv: string[], env: Record<string, string> = {}) => sh(["ip", "netns", "exec", ns, ...argv], env);
const ip = (i: number) => `10.65.${Math.floor(i / 250)}.${(i % 250) + 1}`;
const mac = (i: number) => `02:00:${[i >> 16, i >> 8, i].map((b) => (b & 255).toString(16).padStart(2, "0")).join(":")}:02`;

function sinkCount(): number {
  const out = JSON.parse(inNs(W, ["nft", "-j", "list", "counter", "inet", "sink", "in"]));
  return out.nftables.find((o: { counter?: { packets: number } }) => o.counter)?.counter.packets ?? 0;
}

try {
  buildBenchRouter(R, C, W, "10.65");
  console.log(`machine: ${sh(["uname", "-srm"]).trim()}, ${navigator.hardwareConcurrency} cores; UDP 32-byte payload, ${MS} ms per run`);
  console.log("hosts | no accounting | nftables | iptables (legacy) | nftables ÷ none | iptables ÷ none");
  for (const n of N) {
    const clientIp = ip(n);
    sh(["ip", "-n", C, "addr", "flush", "dev", "eth0"]);
    sh(["ip", "-n", C, "addr", "add", `${clientIp}/16`, "dev", "eth0"]);
    sh(["ip", "-n", C, "route", "replace", "default", "via", "10.65.255.254"]);
    writeFileSync(join(dir, "leases"), `${Array.from({ length: n }, (_, i) => `0 ${mac(i + 1)} ${ip(i + 1)} h${i + 1} *`).join("\n")}\n`);
    const rate: Record<string, number> = {};
    for (const backend of ["none", "nftables", "iptables"]) {
      const conf = join(dir, `c-${backend}`);
      writeFileSync(conf, `config iptmon\n\toption backend '${backend === "none" ? "nftables" : backend}'\n\toption lan_subnet '10.65.0.0/16'\n\toption leasefile '${dir}/leases'\n\toption hostsfile '${dir}/x'\n\toption hostsdir '${dir}/x'\n\toption dhcp_config '${dir}/x'\n\toption dnsmasq_confdir '${dir}/x'\n\toption lockfile '${dir}/lock'\n\toption lan_interface 'lo'\n\toption hook 'forward'\n`);
      for (const b of ["nftables", "iptables"]) inNs(R, [BIN, "--backend", b, "stop"], { IPTMON_CONFIG: conf });
      if (backend !== "none") inNs(R, [BIN, "init"], { IPTMON_CONFIG: conf });
      const before = sinkCount();
      inNs(C, [BUN, FLOOD, "198.18.0.2", "40100", String(MS)]);
      Bun.sleepSync(200);
      rate[backend] = ((sinkCount() - before) * 1000) / MS;
      if (backend !== "none") {
        const host = JSON.parse(inNs(R, [BIN, "status", "--json"], { IPTMON_CONFIG: conf })).hosts.find((h: { addresses: string[] }) => h.addresses.includes(clientIp));
        if (!host || host.rx_packets < (sinkCount() - before) * 0.99) throw new Error(`${backend}: the client's packets were not counted`);
      }
    }
    const k = (x: number) => `${(x / 1000).toFixed(0)}k pkt/s`;
    console.log(`${n} | ${k(rate.none!)} | ${k(rate.nftables!)} | ${k(rate.iptables!)} | ${(rate.nftables! / rate.none!).toFixed(2)} | ${(rate.iptables! / rate.none!).toFixed(2)}`);
  }
} finally {
  for (const ns of [R, C, W]) Bun.spawnSync(["ip", "netns", "del", ns]);
  rmSync(dir, { recursive: true, force: true });
}
