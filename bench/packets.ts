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
  for (const ns of [R, C, W]) sh(["ip", "netns", "add", ns]);
  sh(["ip", "-n", R, "link", "add", "br-lan", "type", "bridge"]);
  sh(["ip", "-n", R, "link", "add", "lan1", "type", "veth", "peer", "name", "eth0", "netns", C]);
  sh(["ip", "-n", R, "link", "add", "wan", "type", "veth", "peer", "name", "eth0", "netns", W]);
  sh(["ip", "-n", R, "link", "set", "lan1", "master", "br-lan"]);
  for (const [ns, dev] of [[R, "br-lan"], [R, "lan1"], [R, "wan"], [C, "eth0"], [W, "eth0"], [R, "lo"], [C, "lo"], [W, "lo"]] as const) sh(["ip", "-n", ns, "link", "set", dev, "up"]);
  sh(["ip", "-n", R, "addr", "add", "10.65.255.254/16", "dev", "br-lan"]);
  sh(["ip", "-n", R, "addr", "add", "198.18.0.1/24", "dev", "wan"]);
  sh(["ip", "-n", W, "addr", "add", "198.18.0.2/24", "dev", "eth0"]);
  sh(["ip", "-n", W, "route", "add", "10.65.0.0/16", "via", "198.18.0.1"]);
  inNs(R, ["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
  inNs(W, ["nft", "add table inet sink; add counter inet sink in; add chain inet sink input { type filter hook input priority 0; udp dport 40100 counter name in drop; }"]);
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
      writeFileSync(conf, `config iptmon\n\toption backend '${backend === "none" ? "nftables" : backend}'\n\toption lan_subnet '10.65.0.0/16'\n\toption leasefile '${dir}/leases'\n\toption hostsfile '${dir}/x'\n\toption hostsdir '${dir}/x'\n\toption dhcp_config '${dir}/x'\n\toption dnsmasq_confdir '${dir}/x'\n\toption lockfile '${dir}/lock'\n\toption lan_interface 'lo'\n`);
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
