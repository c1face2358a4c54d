/**
 * iptmon on a real virtual router: dnsmasq hands DHCP events to the built
 * binary, busybox clients take leases and send traffic of known size, and the
 * kernel's counters are compared with what was sent. One suite, run once per
 * backend this build provides.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { iptmonBin, iptmonConfig, skipReason } from "./harness.ts";
import { addTallies, exec, execOk, udpL3Bytes, VRouter, VROUTER_NEEDS, waitFor, type Tally } from "./vrouter.ts";
import type { StatusHost } from "../../src/status.ts";

const skip = skipReason("virtual router", VROUTER_NEEDS);
const BIN = skip ? "" : iptmonBin();

/**
 * Where this binary counts: nftables at the LAN ports and in the forward hook,
 * and the iptables backend (which may be absent from a build).
 */
function targets(): { backend: string; hook: string }[] {
  const all = (process.env.IPTMON_E2E_BACKENDS ?? "nftables,iptables").split(",");
  const have = skip ? all.slice(0, 1) : all.filter((b) => exec(null, [BIN, "--backend", b, "--config", "/dev/null", "print", "--help"]).code === 0 && !/not available/.test(exec(null, [BIN, "--backend", b, "--config", "/dev/null", "status"]).stderr));
  return have.flatMap((backend) => (backend === "nftables" ? ["ports", "forward"].map((hook) => ({ backend, hook })) : [{ backend, hook: "forward" }]));
}

for (const { backend, hook } of targets()) {
  describe.skipIf(skip !== null)(`virtual router, ${backend} backend${backend === "nftables" ? `, counting ${hook === "ports" ? "at the LAN ports" : "in the forward hook"}` : ""}`, () => {
    let vr: VRouter;
    let dir: string;
    let conf: string;
    const env = () => ({ IPTMON_CONFIG: conf });
    const iptmon = (...args: string[]) => exec(vr.routerNs, [BIN, ...args], { env: env() });
    const status = (): StatusHost[] => {
      const r = iptmon("status", "--json");
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      const s = JSON.parse(r.stdout) as { backend: string; hosts: StatusHost[] };
      expect(s.backend).toBe(backend);
      return s.hosts;
    };
    const host = (mac: string) => status().find((h) => h.mac === mac);
    const waitHost = (mac: string, pred: (h: StatusHost) => boolean, what: string) =>
      waitFor(() => {
        const h = host(mac);
        return h && pred(h) ? h : undefined;
      }, what, 10_000, 50).catch((e) => {
        throw new Error(`${(e as Error).message}; last seen: ${JSON.stringify(host(mac) ?? null)}`);
      });

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), "iptmon-e2e-"));
      conf = join(dir, "iptmon.conf");
      vr = await VRouter.create({
        clients: [{ ipv6: true }, { ipv6: true }, { ipv6: false }, { ipv6: false }],
        dhcpScript: BIN,
        scriptEnv: { IPTMON_CONFIG: join(dir, "iptmon.conf") },
        startDnsmasq: false,
      });
      writeFileSync(conf, iptmonConfig(dir, { backend, leasefile: vr.leaseFile, options: [`\toption hook '${hook}'`] }));
      await vr.startDnsmasq();
    });

    afterAll(() => {
      vr?.destroy();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    test("leases through dnsmasq create one host per client, named by its DHCP hostname", async () => {
      const names = ["laptop", "phone", "printer.lan", "tv"];
      const ips = await Promise.all(vr.clients.map((c, i) => vr.takeLease(c, names[i])));
      for (const [i, c] of vr.clients.entries()) {
        // dnsmasq itself strips the domain part of a client's FQDN-ish name.
        const name = names[i]!.replace(/\.lan$/, "");
        // dnsmasq's arp-add for the client may come first and name the host
        // by its address; the lease's own event then renames it.
        const h = await waitHost(c.mac, (x) => x.addresses.includes(ips[i]!) && x.name === name, `host ${c.mac} named ${name}`);
        expect(h.rx_bytes).toBe(0);
      }
      expect(status()).toHaveLength(4);
    });

    test("a lease event also picks up the host's SLAAC addresses from the neighbour table", async () => {
      for (const c of vr.clients.filter((x) => x.ipv6)) {
        const [v6] = await vr.waitForIpv6(c);
        // The router learns the neighbour (router-local traffic is not counted).
        execOk(vr.routerNs, ["busybox", "ping", "-6", "-c", "1", "-W", "2", v6!]);
      }
      vr.hupDnsmasq(); // replays every lease as `old`
      for (const c of vr.clients.filter((x) => x.ipv6)) {
        const h = await waitHost(c.mac, (x) => x.addresses.includes(c.slaac), `${c.slaac} on ${c.mac}`);
        expect(h.addresses.some((a) => a.includes("."))).toBe(true);
      }
    });

    test("counters equal the traffic sent, per host and direction, IPv4 and IPv6", async () => {
      const before = new Map(status().map((h) => [h.mac, h]));
      const expected = new Map<string, Tally>();
      for (const [i, c] of vr.clients.entries()) {
        const k = 50 + 10 * i;
        const v4 = await vr.exchange(c, 4, { count: k, size: 1000 + i }, { count: 2 * k, size: 1200 });
        expect(v4.rx).toBe(udpL3Bytes(4, 1000 + i, k));
        const parts: Tally[] = [v4];
        if (c.ipv6) {
          const v6 = await vr.exchange(c, 6, { count: k, size: 800, bind: c.slaac }, { count: k, size: 1400 });
          expect(v6.down.dst).toBe(c.slaac);
          parts.push(v6);
        }
        expected.set(c.mac, addTallies(...parts));
      }
      for (const c of vr.clients) {
        const b = before.get(c.mac)!;
        const a = host(c.mac)!;
        // UDP datagrams of known size: exactly payload + 28 (IPv4) / 48 (IPv6) bytes each at L3.
        expect({ rx: a.rx_bytes - b.rx_bytes, tx: a.tx_bytes - b.tx_bytes, rxp: a.rx_packets - b.rx_packets, txp: a.tx_packets - b.tx_packets }).toEqual(expected.get(c.mac)!);
      }
    });

    test("traffic between two LAN hosts is bridged, not routed, and not counted", async () => {
      const before = status();
      const sent = await vr.sendUdp(vr.clients[0]!, vr.clients[1]!, { family: 4, count: 20, size: 1000 });
      expect(sent.packets).toBe(20);
      expect(status()).toEqual(before);
    });

    test("a renewal replay, an explicit init and a second init keep every counter", async () => {
      const before = status();
      expect(before.some((h) => h.rx_bytes > 0)).toBe(true);
      const r = iptmon("init");
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      expect(iptmon("init").code).toBe(0);
      expect(status()).toEqual(before);
      const replay = await vr.hupDnsmasqAndWait();
      expect(replay.map((c) => c.rc)).toEqual(replay.map(() => 0));
      expect(status()).toEqual(before);
    });

    test("a released lease removes its host (its only address)", async () => {
      const c = vr.clients[3]!;
      expect(host(c.mac)).toBeDefined();
      const [ip] = vr.clientAddresses(c).ipv4;
      await vr.releaseLease(c);
      await waitFor(() => (host(c.mac) ? undefined : true), "host removed after release", 10_000, 50);
      expect(status()).toHaveLength(3);
      // The kernel keeps a stale neighbour entry for minutes (init would count
      // it as a known address); a departed client's entry would age out.
      execOk(vr.routerNs, ["ip", "neigh", "flush", "to", ip!, "dev", "br-lan"]);
    });

    test("deleting iptmon's objects and running init brings every host back", () => {
      const before = status().map((h) => ({ name: h.name, mac: h.mac, addresses: h.addresses }));
      if (backend === "nftables") execOk(vr.routerNs, ["nft", "delete", "table", hook === "ports" ? "netdev" : "inet", "iptmon"]);
      else expect(iptmon("stop").code).toBe(0);
      expect(status()).toEqual([]);
      expect(iptmon("init").code).toBe(0);
      expect(status().map((h) => ({ name: h.name, mac: h.mac, addresses: h.addresses }))).toEqual(before);
    });

    test("hostile hostnames never reach the ruleset unescaped", async () => {
      const c = vr.clients[3]!;
      const hostile = Buffer.from(`a"b c;$(reboot)*'\\{}\n${"x".repeat(40)}é`, "utf8");
      await vr.takeLease(c, hostile);
      const h = await waitHost(c.mac, () => true, "hostile host");
      expect(h.name).toMatch(/^[A-Za-z0-9._-]{1,63}$/);
      expect(h.name.startsWith("a-b-c-reboot")).toBe(true);
      const check = iptmon("check");
      expect(check.code).toBe(0);
    });

    test("overlapping invocations are serialised: the result is exactly the expected set", async () => {
      const burst = Array.from({ length: 12 }, (_, i) => ({ mac: `02:99:00:00:00:${(i + 16).toString(16)}`, ip: `192.168.77.${20 + i}` }));
      // Known to the neighbour table too, so init running in the middle agrees with the events.
      for (const b of burst) execOk(vr.routerNs, ["ip", "neigh", "replace", b.ip, "lladdr", b.mac, "dev", "br-lan", "nud", "permanent"]);
      const run = (args: string[]) => Bun.spawn(["ip", "netns", "exec", vr.routerNs, BIN, ...args], { env: { ...process.env, ...env() }, stderr: "pipe" });
      // Every event asks for the same name: without the lock, two would both take `android-N` and share counters.
      const procs = burst.map((b) => run(["add", b.mac, b.ip, "android"]));
      procs.splice(6, 0, run(["init"]));
      const codes = await Promise.all(procs.map((p) => p.exited));
      expect(codes).toEqual(procs.map(() => 0));
      const hosts = status().filter((h) => h.mac?.startsWith("02:99:"));
      expect(hosts.map((h) => [h.mac, h.addresses]).sort()).toEqual(burst.map((b) => [b.mac, [b.ip]]).sort());
      expect(new Set(hosts.map((h) => h.name)).size).toBe(burst.length);
      for (const b of burst) {
        execOk(vr.routerNs, ["ip", "neigh", "del", b.ip, "dev", "br-lan"]);
        expect(iptmon("arp-del", b.mac, b.ip).code).toBe(0);
      }
      expect(status().filter((h) => h.mac?.startsWith("02:99:"))).toEqual([]);
    });

    test("bad input is refused with exit 2 and changes nothing", () => {
      const before = status();
      for (const args of [["add", "nonsense", "192.168.77.5"], ["add", "02:00:00:00:00:01", "192.168.77.300"], ["hotplug", "dhcp"], ["frobnicate"]]) {
        const r = iptmon(...args);
        expect(r.code).toBe(2);
        expect(r.stderr.trim().split("\n")[0]).toMatch(/^iptmon: /);
      }
      expect(status()).toEqual(before);
    });

    test("stop removes everything iptmon created", () => {
      expect(iptmon("stop").code).toBe(0);
      expect(status()).toEqual([]);
      if (backend === "nftables") expect(exec(vr.routerNs, ["nft", "list", "tables"]).stdout).not.toContain("iptmon");
      expect(iptmon("stop").code).toBe(0);
    });
  });
}
