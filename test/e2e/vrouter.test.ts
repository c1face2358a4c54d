/**
 * Smoke test of the virtual-router harness itself (test/e2e/vrouter.ts):
 * leases are taken, the dhcp-script is called with the right arguments and
 * environment, SLAAC works, traffic of known size is counted exactly by an
 * nft counter this test sets up, a release gives `del`, and destroy() leaves
 * nothing behind. Needs root and network namespaces; skips otherwise.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  DHCP_RANGE,
  LAN6_PREFIX,
  UDP4_OVERHEAD,
  UDP6_OVERHEAD,
  VRouter,
  WAN4,
  WAN6,
  VROUTER_NEEDS,
  exec,
  execOk,
  parseScriptCalls,
  udpL3Bytes,
  waitFor,
} from "./vrouter.ts";
import { skipReason } from "./harness.ts";

const skip = skipReason("vrouter harness", VROUTER_NEEDS);

const HOSTILE = Buffer.from("a b;$(x)*", "latin1");

test("parseScriptCalls keeps raw bytes and drops an unfinished record", () => {
  const rec = Buffer.concat([
    Buffer.from("BEGIN\0" + "42\0" + "1.5\0" + "3\0" + "del\0" + "02:77:00:00:00:01\0" + "192.168.77.100\0"),
    Buffer.from("DNSMASQ_SUPPLIED_HOSTNAME="),
    Buffer.from([0xff, 0x3d, 0x0a]),
    Buffer.from("\0A=b=c\0ENVEND\0END\0" + "42\0" + "7\0" + "1.75\0"),
    Buffer.from("BEGIN\0" + "43\0" + "2\0" + "1\0" + "add\0"),
  ]);
  const calls = parseScriptCalls(rec);
  expect(calls).toHaveLength(1);
  const c = calls[0]!;
  expect([c.action, c.mac, c.ip, c.hostname, c.rc, c.pid, c.start, c.end]).toEqual([
    "del",
    "02:77:00:00:00:01",
    "192.168.77.100",
    undefined,
    7,
    42,
    1.5,
    1.75,
  ]);
  expect(c.rawEnv.DNSMASQ_SUPPLIED_HOSTNAME).toEqual(Buffer.from([0xff, 0x3d, 0x0a]));
  expect(c.env.A).toBe("b=c");
});

describe.skipIf(skip !== null)("vrouter harness (namespaces, dnsmasq, udhcpc)", () => {
  let vr: VRouter | undefined;
  let dir: string;
  let smokeLog: string;
  const t0 = Date.now();
  const timings: string[] = [];
  const mark = (what: string) => timings.push(`${what}: ${Date.now() - t0} ms`);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "vrouter-smoke-"));
    smokeLog = join(dir, "calls.log");
    // The test's own dhcp-script: one line per call with its argv and the
    // variables that matter. SMOKE_LOG and IPTMON_CONFIG reach it only
    // through dnsmasq's environment.
    const script = join(dir, "log-script.sh");
    writeFileSync(
      script,
      `#!/bin/sh
{
  printf 'argc=%s' "$#"
  for a in "$@"; do printf ' [%s]' "$a"; done
  printf ' iface=%s supplied=[%s] config=%s uid=%s\\n' "$DNSMASQ_INTERFACE" "$DNSMASQ_SUPPLIED_HOSTNAME" "$IPTMON_CONFIG" "$(id -u)"
} >> "$SMOKE_LOG"
`,
    );
    chmodSync(script, 0o755);
    chmodSync(dir, 0o755);
    vr = await VRouter.create({
      clients: [{}, {}, {}, { ipv6: false }],
      dhcpScript: script,
      scriptEnv: { SMOKE_LOG: smokeLog, IPTMON_CONFIG: "/nonexistent/iptmon.conf" },
    });
    mark("topology + dnsmasq up");
  }, 15_000);

  afterAll(() => {
    vr?.destroy();
    rmSync(dir, { recursive: true, force: true });
    console.log(`vrouter smoke timings: ${timings.join("; ")}`);
  });

  test("names carry the run's suffix and fit IFNAMSIZ", () => {
    const r = vr!;
    expect(r.suffix).toMatch(/^[0-9a-f]{6}$/);
    for (const ns of r.namespaces) expect(ns).toContain(r.suffix);
    for (const c of r.clients) {
      expect(c.port).toContain(r.suffix);
      expect(c.port.length).toBeLessThanOrEqual(15);
    }
    const links = execOk(r.routerNs, ["ip", "-o", "link", "show"]).stdout;
    expect(links).toContain("br-lan");
    expect(links).toContain("wan@");
  });

  test("clients take leases; dnsmasq calls the script with MAC, IP and hostname", async () => {
    const r = vr!;
    const [c1, c2, c3, c4] = r.clients as [any, any, any, any];
    const ips = await Promise.all([
      r.takeLease(c1, "laptop"),
      r.takeLease(c2, "tv-den"),
      r.takeLease(c3, HOSTILE),
      r.takeLease(c4),
    ]);
    mark("4 leases taken");
    for (const [i, ip] of ips.entries()) {
      const n = Number(ip.split(".")[3]);
      expect(ip.startsWith("192.168.77.")).toBe(true);
      expect(n).toBeGreaterThanOrEqual(Number(DHCP_RANGE[0].split(".")[3]));
      expect(n).toBeLessThanOrEqual(Number(DHCP_RANGE[1].split(".")[3]));
      expect(r.clientAddresses(r.clients[i]!).ipv4).toEqual([ip]);
    }
    expect(new Set(ips).size).toBe(4);

    const adds = await waitFor(() => {
      const a = r.scriptCalls().filter((c) => c.action === "add" && c.rc !== undefined);
      return a.length >= 4 ? a : undefined;
    }, "4 finished add calls");
    mark("4 add calls recorded");
    const byMac = new Map(adds.map((a) => [a.mac, a]));
    expect(byMac.get(c1.mac)?.args).toEqual(["add", c1.mac, ips[0], "laptop"]);
    expect(byMac.get(c2.mac)?.args).toEqual(["add", c2.mac, ips[1], "tv-den"]);
    // dnsmasq drops the illegal name from argv but keeps the raw bytes in the env.
    const hostile = byMac.get(c3.mac)!;
    expect(hostile.args).toEqual(["add", c3.mac, ips[2]]);
    expect(hostile.rawEnv.DNSMASQ_SUPPLIED_HOSTNAME).toEqual(HOSTILE);
    expect(byMac.get(c4.mac)?.args).toEqual(["add", c4.mac, ips[3]]);
    expect(byMac.get(c4.mac)?.env.DNSMASQ_SUPPLIED_HOSTNAME).toBeUndefined();
    for (const a of adds) {
      expect(a.rc).toBe(0);
      expect(a.env.DNSMASQ_INTERFACE).toBe("br-lan");
      expect(a.env.IPTMON_CONFIG).toBe("/nonexistent/iptmon.conf");
    }

    // The test's own script saw the same, through dnsmasq's environment.
    const lines = readFileSync(smokeLog, "utf8").split("\n");
    const line = (mac: string) => lines.find((l) => l.includes(` [add] [${mac}] `));
    expect(line(c1.mac)).toBe(
      `argc=4 [add] [${c1.mac}] [${ips[0]}] [laptop] iface=br-lan supplied=[laptop] config=/nonexistent/iptmon.conf uid=0`,
    );
    expect(line(c3.mac)).toBe(
      `argc=3 [add] [${c3.mac}] [${ips[2]}] iface=br-lan supplied=[a b;$(x)*] config=/nonexistent/iptmon.conf uid=0`,
    );

    const leases = r.leases();
    expect(leases).toContain(`${c1.mac} ${ips[0]} laptop `);
    expect(leases).toContain(`${c3.mac} ${ips[2]} * `);
  }, 20_000);

  test("IPv6 SLAAC addresses appear (and not where IPv6 is disabled)", async () => {
    const r = vr!;
    const v6 = await Promise.all(r.clients.filter((c) => c.ipv6).map((c) => r.waitForIpv6(c)));
    mark("SLAAC on 3 clients");
    r.clients
      .filter((c) => c.ipv6)
      .forEach((c, i) => {
        expect(v6[i]).toContain(c.slaac);
        expect(c.slaac.startsWith(LAN6_PREFIX)).toBe(true);
      });
    const none = r.clientAddresses(r.clients[3]!);
    expect(none.ipv6).toEqual([]);
    expect(none.linkLocal).toEqual([]);
  }, 15_000);

  test("traffic of known size is counted exactly by the test's own nft counter", async () => {
    const r = vr!;
    const c1 = r.clients[0]!;
    const a = r.clientAddresses(c1);
    const ip4 = a.ipv4[0]!;
    const ip6 = c1.slaac;
    execOk(r.routerNs, ["nft", "-f", "-"], {
      input: `table inet vrsmoke {
  counter up4 { }
  counter down4 { }
  counter up6 { }
  counter down6 { }
  counter other { }
  chain smoke_forward {
    type filter hook forward priority 0; policy accept;
    ip saddr ${ip4} ip daddr ${WAN4} udp dport 40077 counter name "up4" accept
    ip saddr ${WAN4} ip daddr ${ip4} udp dport 40077 counter name "down4" accept
    ip6 saddr ${ip6} ip6 daddr ${WAN6} udp dport 40077 counter name "up6" accept
    ip6 saddr ${WAN6} ip6 daddr ${ip6} udp dport 40077 counter name "down6" accept
    counter name "other"
  }
}
`,
    });
    const counters = () => {
      const j = JSON.parse(execOk(r.routerNs, ["nft", "-j", "list", "counters", "table", "inet", "vrsmoke"]).stdout) as {
        nftables: Array<{ counter?: { name: string; packets: number; bytes: number } }>;
      };
      return Object.fromEntries(j.nftables.filter((x) => x.counter).map((x) => [x.counter!.name, x.counter!]));
    };

    const K = 300;
    const P = 1000;
    const up4 = await r.upload(c1, { family: 4, count: K, size: P });
    mark(`upload v4 ${K}x${P} (${up4.ms} ms in sender)`);
    expect(up4.bytes).toBe(K * (P + UDP4_OVERHEAD));
    expect(counters().up4).toMatchObject({ packets: K, bytes: K * (P + 28) });

    const down4 = await r.download(c1, { family: 4, count: 200, size: 1472 });
    expect(counters().down4).toMatchObject({ packets: 200, bytes: down4.bytes });
    expect(down4.bytes).toBe(200 * 1500);

    const up6 = await r.upload(c1, { family: 6, count: 100, size: 1452 });
    expect(up6.src).toBe(ip6);
    expect(counters().up6).toMatchObject({ packets: 100, bytes: 100 * (1452 + UDP6_OVERHEAD) });

    const down6 = await r.download(c1, { family: 6, count: 50, size: 0 });
    expect(counters().down6).toMatchObject({ packets: 50, bytes: udpL3Bytes(6, 0, 50) });
    expect(down6.bytes).toBe(50 * 48);
    mark("4 sends counted");

    // Nothing else crossed the router meanwhile (no ICMP errors came back).
    expect(counters().other).toMatchObject({ packets: 0, bytes: 0 });
    execOk(r.routerNs, ["nft", "delete", "table", "inet", "vrsmoke"]);
  }, 20_000);

  test("a release makes dnsmasq call del at once", async () => {
    const r = vr!;
    const c2 = r.clients[1]!;
    const ip = r.clientAddresses(c2).ipv4[0]!;
    const before = r.scriptCalls().length;
    await r.releaseLease(c2);
    mark("release + del");
    const del = r.scriptCalls().slice(before).find((c) => c.action === "del");
    expect(del?.args.slice(0, 3)).toEqual(["del", c2.mac, ip]);
    expect(r.clientAddresses(c2).ipv4).toEqual([]);
    expect(r.leases()).not.toContain(c2.mac);
    expect(readFileSync(smokeLog, "utf8")).toContain(`[del] [${c2.mac}] [${ip}]`);
  }, 15_000);

  test("destroy removes every namespace of the run and is idempotent", () => {
    const r = vr!;
    const pid = r.dnsmasqPid;
    expect(pid).toBeGreaterThan(0);
    const tmp = r.tmpDir;
    r.destroy();
    r.destroy();
    mark("destroyed");
    const list = exec(null, ["ip", "netns", "list"]).stdout;
    expect(list).not.toContain(r.suffix);
    let state = "gone";
    try {
      state = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.[0] ?? "gone";
    } catch {
      /* reaped */
    }
    expect(["Z", "gone"]).toContain(state);
    expect(() => readFileSync(join(tmp, "dhcp.leases"))).toThrow();
  });
});
