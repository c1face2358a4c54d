/**
 * `make demo`: iptmon's main job on a virtual router. dnsmasq hands out
 * leases to three busybox clients and calls iptmon for every event; the
 * clients send traffic; `iptmon status` shows who used what. Everything the
 * demo creates (namespaces, dnsmasq, temp files) is removed at the end.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { iptmonBin, iptmonConfig } from "./harness.ts";
import { canRunVRouter, exec, VRouter, waitFor } from "./vrouter.ts";

const BIN = iptmonBin();

const can = canRunVRouter();
if (!can.ok) {
  console.error(`cannot run the demo: ${can.reason}`);
  process.exit(1);
}

const dir = mkdtempSync(join(tmpdir(), "iptmon-demo-"));
const conf = join(dir, "iptmon.conf");
let vr: VRouter | undefined;
const say = (s: string) => console.log(`\n== ${s}`);
try {
  vr = await VRouter.create({ clients: 3, dhcpScript: BIN, scriptEnv: { IPTMON_CONFIG: conf }, startDnsmasq: false });
  writeFileSync(conf, iptmonConfig(dir, { backend: "nftables", leasefile: vr.leaseFile }));
  const run = (...args: string[]) => exec(vr!.routerNs, [BIN, ...args], { env: { IPTMON_CONFIG: conf } });
  say(`virtual router ${vr.routerNs}: br-lan 192.168.77.1/24 + fd77:77::1/64, WAN host ${vr.wanNs}`);
  await vr.startDnsmasq();
  const names = ["laptop", "phone", "a b;$(reboot)*"];
  say(`three clients take DHCP leases (hostnames ${names.map((n) => JSON.stringify(n)).join(", ")}); dnsmasq runs iptmon for each`);
  for (const [i, c] of vr.clients.entries()) console.log(`  ${c.mac} -> ${await vr.takeLease(c, names[i])}`);
  for (const c of vr.clients) {
    const [v6] = await vr.waitForIpv6(c);
    exec(vr.routerNs, ["busybox", "ping", "-6", "-c", "1", "-W", "2", v6!]);
  }
  vr.hupDnsmasq(); // dnsmasq replays its leases; iptmon adds each host's SLAAC address
  await waitFor(() => (JSON.parse(run("status", "--json").stdout).hosts.every((h: { addresses: string[] }) => h.addresses.length === 2) ? true : undefined), "IPv6 addresses", 10_000);
  say("traffic: each client uploads and downloads UDP over IPv4 and IPv6");
  for (const [i, c] of vr.clients.entries()) {
    const k = 100 * (i + 1);
    const sent = [
      await vr.upload(c, { family: 4, count: k, size: 1000 }),
      await vr.download(c, { family: 4, count: 2 * k, size: 1400 }),
      await vr.upload(c, { family: 6, count: k, size: 500, bind: c.slaac }),
      await vr.download(c, { family: 6, count: k, size: 1400 }),
    ];
    const up = sent[0]!.bytes + sent[2]!.bytes;
    const down = sent[1]!.bytes + sent[3]!.bytes;
    console.log(`  ${c.mac}: sent ${up} bytes up, ${down} bytes down (IP headers included)`);
  }
  say("iptmon status");
  process.stdout.write(run("status").stdout);
  // Where iptmon counts (the LAN ports where this kernel allows, else the forward hook) names its table.
  const family = (JSON.parse(run("status", "--json").stdout) as { hook: string }).hook === "ports" ? "netdev" : "inet";
  say(`nft list table ${family} iptmon (excerpt)`);
  const table = exec(vr.routerNs, ["nft", "list", "table", family, "iptmon"]).stdout.split("\n");
  console.log(table.filter((l) => /^\t(counter|set|map|chain) |type filter hook|packets \d+ bytes|elements =/.test(l)).slice(0, 30).join("\n"));
  say("a client releases its DHCP lease: its IPv4 address goes; the host stays while its IPv6 address is known");
  await vr.releaseLease(vr.clients[1]!);
  process.stdout.write(run("status").stdout);
} catch (e) {
  console.error(`demo failed: ${(e as Error).message}`);
  process.exitCode = 1;
} finally {
  vr?.destroy();
  rmSync(dir, { recursive: true, force: true });
  say("removed every namespace, process and file the demo created");
}
