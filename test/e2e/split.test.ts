/**
 * The per-host split (option breakdown 'family' 'service') on the virtual
 * router, both placements: known traffic of each kind, counted at the WAN
 * host by nft counters of its own (what went on the wire, handshakes and
 * acknowledgements included), is each part of the client's split exactly;
 * the parts of each kind add up to the client's totals; LAN to LAN and
 * traffic to the router count nowhere; the split survives a flush of
 * iptmon's table and a stop/init.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Status, StatusHost } from "../../src/status.ts";
import type { Part } from "../../src/split/view.ts";
import type { UsageReport } from "../../src/usage/report.ts";
import { DEFAULT_SERVICES, serviceId } from "../../src/split/services.ts";
import { iptmonBin, iptmonConfig, skipReason, SYS_PATH } from "./harness.ts";
import { exec, execOk, ROUTER_LAN4, ROUTER_LAN6, VRouter, VROUTER_NEEDS, WAN4, WAN6, waitFor } from "./vrouter.ts";

const skip = skipReason("the per-host split", VROUTER_NEEDS);
const UDP_SEND = resolve(import.meta.dir, "../helpers/udp-send.ts");
const TCP_FLOW = resolve(import.meta.dir, "../helpers/tcp-flow.ts");

/** Flows the WAN host counts on its own: up is what it receives from the client, down what it sends back. */
const FLOWS = ["tcp443", "tcp9999", "udp53", "udp443"] as const;
type Flow = (typeof FLOWS)[number];

/** What the WAN host saw of each flow: its input (the client's upload) and output (the client's download). */
const WATCH = `table inet splitwatch {
${FLOWS.map((f) => `  counter ${f}_up { }\n  counter ${f}_down { }`).join("\n")}
  chain input {
    type filter hook input priority -20; policy accept;
    tcp dport 443 counter name "tcp443_up"
    tcp dport 9999 counter name "tcp9999_up"
    udp dport 53 counter name "udp53_up" drop
    udp dport 443 counter name "udp443_up" drop
  }
  chain output {
    type filter hook output priority -20; policy accept;
    tcp sport 443 counter name "tcp443_down"
    tcp sport 9999 counter name "tcp9999_down"
    udp sport 53 counter name "udp53_down"
    udp sport 443 counter name "udp443_down"
  }
}
`;

type Counts = Record<`${Flow}_${"up" | "down"}`, { packets: number; bytes: number }>;

/** The built-in classes but dns, and `alt` for TCP port 9999. */
const SERVICES = [
  ...DEFAULT_SERVICES.filter((c) => c.name !== "dns").map((c) => ["config service", `\toption name '${c.name}'`, ...c.match.map((m) => `\tlist match '${m}'`)].join("\n")),
  "config service\n\toption name 'alt'\n\tlist match 'tcp/9999'",
].join("\n\n");
const serviceHex = (name: string) => serviceId(name).toString(16).padStart(8, "0");

const zero = (): Part => ({ rx_bytes: 0, rx_packets: 0, tx_bytes: 0, tx_packets: 0 });
const add = (...ps: Part[]): Part => ps.reduce((a, p) => ({ rx_bytes: a.rx_bytes + p.rx_bytes, rx_packets: a.rx_packets + p.rx_packets, tx_bytes: a.tx_bytes + p.tx_bytes, tx_packets: a.tx_packets + p.tx_packets }), zero());
const sub = (a: Part, b: Part): Part => ({ rx_bytes: a.rx_bytes - b.rx_bytes, rx_packets: a.rx_packets - b.rx_packets, tx_bytes: a.tx_bytes - b.tx_bytes, tx_packets: a.tx_packets - b.tx_packets });
const totalOf = (h: StatusHost): Part => ({ rx_bytes: h.rx_bytes, rx_packets: h.rx_packets, tx_bytes: h.tx_bytes, tx_packets: h.tx_packets });
const partOf = (parts: Record<string, Part> | undefined, name: string): Part => parts?.[name] ?? zero();

/** nftables splits both ways in both placements; iptables by family (its ip6tables rules), in the forward hook. */
const TARGETS = [
  { backend: "nftables", hook: "ports", services: true },
  { backend: "nftables", hook: "forward", services: true },
  { backend: "iptables", hook: "forward", services: false },
] as const;

for (const { backend, hook, services } of TARGETS) {
  describe.skipIf(skip !== null)(`the per-host split (${backend}, hook ${hook})`, () => {
    const breakdown = ["\tlist breakdown 'family'", ...(services ? ["\tlist breakdown 'service'"] : [])];
    /** The config: this target's backend and hook, a copy on "flash", and these lines (default: this target's split). */
    const configure = (lines: readonly string[] = breakdown, extra = "") =>
      writeFileSync(conf, iptmonConfig(dir, { backend, leasefile: vr.leaseFile, options: [`\toption hook '${hook}'`, `\toption persist_dir '${join(dir, "flash")}'`, ...lines], extra }));
    let vr: VRouter;
    let dir: string;
    let conf: string;
    let BIN: string;
    const iptmon = (args: string[]) => exec(vr.routerNs, [BIN, ...args], { env: { IPTMON_CONFIG: conf } });
    const status = (): Status => {
      const r = iptmon(["status", "--json"]);
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      return JSON.parse(r.stdout) as Status;
    };
    const client = () => vr.clients[0]!;
    const host = (): StatusHost => {
      const h = status().hosts.find((x) => x.mac === client().mac);
      if (!h) throw new Error(`no host ${client().mac}`);
      return h;
    };
    const watched = (): Counts => {
      const out = {} as Counts;
      const doc = JSON.parse(execOk(vr.wanNs, ["nft", "-j", "list", "counters", "table", "inet", "splitwatch"]).stdout) as { nftables: { counter?: { name: string; packets: number; bytes: number } }[] };
      for (const o of doc.nftables) if (o.counter) out[o.counter.name as keyof Counts] = { packets: o.counter.packets, bytes: o.counter.bytes };
      return out;
    };
    /** A flow's growth between two readings, as the client's part: up is what it sent (rx), down what it got (tx). */
    const flowPart = (a: Counts, b: Counts, f: Flow): Part => ({
      rx_bytes: b[`${f}_up`].bytes - a[`${f}_up`].bytes,
      rx_packets: b[`${f}_up`].packets - a[`${f}_up`].packets,
      tx_bytes: b[`${f}_down`].bytes - a[`${f}_down`].bytes,
      tx_packets: b[`${f}_down`].packets - a[`${f}_down`].packets,
    });
    const tcp = (dst: string, port: number, size: number) => {
      const r = execOk(client().ns, [process.execPath, TCP_FLOW, "send", dst, String(port), String(size)], { env: { PATH: SYS_PATH } });
      expect(JSON.parse(r.stdout)).toEqual({ sent: size, received: 30_000 });
    };
    const udp = (ns: string, family: 4 | 6, dst: string, port: number, count: number, size: number, sport?: number) =>
      execOk(ns, [process.execPath, UDP_SEND, String(family), dst, String(port), String(count), String(size)], { env: { PATH: SYS_PATH, ...(sport ? { VR_SEND_SPORT: String(sport) } : {}) } });
    /** Every kind of traffic the test knows: TCP to 443 and to 9999 over IPv4, UDP to 53 and 443 over IPv6, each way. */
    const traffic = async (times = 1) => {
      const c = client();
      tcp(WAN4, 443, 50_000 * times);
      tcp(WAN4, 9999, 20_000 * times);
      udp(c.ns, 6, WAN6, 53, 40 * times, 60);
      udp(c.ns, 6, WAN6, 443, 30 * times, 1200);
      // Downloads: from the WAN host's port 53 and 443 to the client's sink.
      udp(vr.wanNs, 6, c.slaac, 40077, 25 * times, 500, 53);
      udp(vr.wanNs, 6, c.slaac, 40077, 20 * times, 1300, 443);
      // The sinks count what arrives; give the last datagrams a moment.
      await Bun.sleep(300);
    };
    /** The client's split grew by exactly the flows' growth, and each kind adds up to its totals. */
    const expectSplit = (before: StatusHost, after: StatusHost, a: Counts, b: Counts) => {
      const f = (x: Flow) => flowPart(a, b, x);
      const g = (kind: "families" | "services", name: string) => sub(partOf(after[kind], name), partOf(before[kind], name));
      if (services) {
        expect(g("services", "web")).toEqual(f("tcp443"));
        expect(g("services", "other")).toEqual(f("tcp9999"));
        expect(g("services", "dns")).toEqual(f("udp53"));
        expect(g("services", "quic")).toEqual(f("udp443"));
      } else expect(after.services).toBeUndefined();
      expect(g("families", "ipv4")).toEqual(add(f("tcp443"), f("tcp9999")));
      expect(g("families", "ipv6")).toEqual(add(f("udp53"), f("udp443")));
      expect(sub(totalOf(after), totalOf(before))).toEqual(add(...FLOWS.map(f)));
      for (const kind of services ? (["families", "services"] as const) : (["families"] as const)) expect(add(...Object.values(after[kind] ?? {}))).toEqual(totalOf(after));
      expect(Object.keys(after.families ?? {})).toEqual(["ipv4", "ipv6"]);
    };

    beforeAll(async () => {
      BIN = iptmonBin();
      dir = mkdtempSync(join(tmpdir(), `iptmon-split-${hook}-`));
      conf = join(dir, "iptmon.conf");
      mkdirSync(join(dir, "flash"));
      vr = await VRouter.create({ clients: [{ ipv6: true }, { ipv6: true }], dhcpScript: BIN, scriptEnv: { IPTMON_CONFIG: conf }, startDnsmasq: false });
      configure();
      await vr.startDnsmasq();
      for (const [i, c] of vr.clients.entries()) await vr.takeLease(c, `split${i + 1}`);
      for (const c of vr.clients) {
        const [v6] = await vr.waitForIpv6(c);
        // The router learns the neighbour, so `forward` knows the address at init (router-local traffic is not counted).
        execOk(vr.routerNs, ["busybox", "ping", "-6", "-c", "1", "-W", "2", v6!]);
      }
      const r = iptmon(["init"]);
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      // Both ways between the client and the WAN host before any measured traffic: the first datagrams
      // of a path must not wait on neighbour discovery (or an address's duplicate check) and be dropped.
      for (const [ns, dst] of [[client().ns, WAN6], [client().ns, WAN4], [vr.wanNs, client().slaac]] as const)
        await waitFor(() => exec(ns, ["busybox", "ping", "-c", "1", "-W", "1", dst]).code === 0 || undefined, `ping ${dst} from ${ns}`, 10_000, 100);
      execOk(vr.wanNs, ["nft", "-f", "-"], { input: WATCH });
      // The router drops what the test sends to it, as a WAN host's or client's sink does.
      execOk(vr.routerNs, ["nft", "-f", "-"], { input: "table inet splitsink {\n  chain input {\n    type filter hook input priority -10; policy accept;\n    udp dport 40077 drop\n  }\n}\n" });
      for (const port of [443, 9999]) vr.spawn(vr.wanNs, [process.execPath, TCP_FLOW, "serve", String(port), "30000"], { env: { PATH: SYS_PATH }, logName: `tcp-${port}` });
      // Both listening (ports 443 and 9999, in hex in /proc) before the first connection.
      const listening = () => {
        const t = execOk(vr.wanNs, ["cat", "/proc/net/tcp6"]).stdout;
        return t.includes(":01BB 00000000000000000000000000000000:0000 0A") && t.includes(":270F 00000000000000000000000000000000:0000 0A");
      };
      for (let i = 0; i < 100 && !listening(); i++) await Bun.sleep(50);
      expect(listening()).toBe(true);
    });

    afterAll(() => {
      vr?.destroy();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    test("each part is the traffic of its kind, and each kind adds up to the totals", async () => {
      const before = host();
      const a = watched();
      await traffic();
      const b = watched();
      const after = host();
      expectSplit(before, after, a, b);
      expect(after.services?.unsplit).toBeUndefined();
    });

    if (backend === "nftables")
      test("read through nft's JSON listing (no netlink), the split is the same, and a sample through either goes on from the other's", () => {
        const viaNetlink = host();
        const r = exec(vr.routerNs, [BIN, "status", "--json"], { env: { IPTMON_CONFIG: conf, IPTMON_NETLINK: "0" } });
        expect(r.stderr).toBe("");
        const viaJson = (JSON.parse(r.stdout) as Status).hosts.find((x) => x.mac === client().mac)!;
        expect({ t: totalOf(viaJson), f: viaJson.families, s: viaJson.services }).toEqual({ t: totalOf(viaNetlink), f: viaNetlink.families, s: viaNetlink.services });
        const again = host();
        expect({ f: again.families, s: again.services }).toEqual({ f: viaNetlink.families, s: viaNetlink.services });
      });

    test("usage --json splits the period's usage the same way; metrics has the parts as labelled series promtool accepts; --by makes a row per part", () => {
      const h = host();
      const r = iptmon(["usage", "--json"]);
      expect(r.code).toBe(0);
      const u = (JSON.parse(r.stdout) as UsageReport).periods.at(-1)!.hosts.find((x) => x.mac === client().mac)!;
      const used: Part = { rx_bytes: u.rx_bytes, rx_packets: u.rx_packets, tx_bytes: u.tx_bytes, tx_packets: u.tx_packets };
      // The client counted nothing before this period: its usage is its totals, part by part.
      expect(used).toEqual(totalOf(h));
      expect(u.families).toEqual(h.families!);
      expect(u.services).toEqual(h.services!);
      const m = iptmon(["metrics"]);
      expect(m.code).toBe(0);
      expect(exec(null, ["promtool", "check", "metrics"], { input: m.stdout }).code).toBe(0);
      for (const [label, parts] of [["family", h.families!], ...(services ? ([["service", h.services!]] as const) : [])] as const) {
        const series = [...m.stdout.matchAll(new RegExp(`^iptmon_${label}_rx_bytes_total\\{host="split1",mac="${client().mac}",${label}="([^"]+)"\\} (\\d+)$`, "gm"))];
        expect(Object.fromEntries(series.map((x) => [x[1], Number(x[2])]))).toEqual(Object.fromEntries(Object.entries(parts).map(([k, p]) => [k, p.rx_bytes])));
      }
      const by = iptmon(["status", "--by", services ? "service" : "family"]);
      expect(by.code).toBe(0);
      for (const part of Object.keys((services ? h.services : h.families)!)) expect(by.stdout).toContain(`split1/${part} `);
      expect(iptmon(["usage", "--by", "family"]).stdout).toContain("split1/ipv6 ");
      const top = iptmon(["top", "--once", "--json", "--by", "family", "--interval", "0.2"]);
      expect(top.code).toBe(0);
      expect((JSON.parse(top.stdout) as { hosts: { name: string }[] }).hosts.map((x) => x.name)).toEqual(expect.arrayContaining(["split1/ipv4", "split1/ipv6"]));
      const bad = iptmon(["status", "--by", "port"]);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toContain("--by family or --by service");
    });

    test("LAN to LAN and traffic to the router itself count nowhere", async () => {
      const before = host();
      const [c1, c2] = vr.clients;
      await vr.sendUdp(c1!, c2!, { family: 4, count: 20, size: 400 });
      await vr.sendUdp(c1!, c2!, { family: 6, count: 20, size: 400, bind: c1!.slaac });
      udp(c1!.ns, 4, ROUTER_LAN4, 40077, 20, 300);
      udp(c1!.ns, 6, ROUTER_LAN6, 40077, 20, 300, undefined);
      await Bun.sleep(200);
      const after = host();
      expect(totalOf(after)).toEqual(totalOf(before));
      expect(after.families).toEqual(before.families!);
      expect(after.services).toEqual(before.services!);
    });

    test("a flush of iptmon's table, a stop/init and a reboot with persist_dir keep every part, and counting goes on exactly", async () => {
      const family = hook === "ports" ? "netdev" : "inet";
      // What a firewall restart does to iptables' mangle table; nftables' flush of iptmon's table.
      const flush = () => {
        if (backend === "nftables") execOk(vr.routerNs, ["nft", "delete", "table", family, "iptmon"]);
        else for (const t of ["iptables-legacy", "ip6tables-legacy"]) for (const op of ["-F", "-X"]) execOk(vr.routerNs, [t, "-t", "mangle", op]);
      };
      // After each, more traffic than each counter of the split had counted in all (a counter made anew must not look like one that went on).
      // A reboot: stopped (the copy on flash written), RAM and kernel gone.
      const reboot = () => {
        expect(iptmon(["stop"]).code).toBe(0);
        for (const f of readdirSync(dir)) if (f.startsWith("state.json")) rmSync(join(dir, f), { force: true });
      };
      for (const [restart, times] of [[flush, 4], [() => expect(iptmon(["stop"]).code).toBe(0), 12], [reboot, 40]] as const) {
        const kept = host();
        restart();
        const r = iptmon(["init"]);
        expect(r.stderr).toBe("");
        expect(r.code).toBe(0);
        // No sample between the restart and the traffic: the counters made anew must be known as such.
        const a = watched();
        await traffic(times);
        const b = watched();
        expectSplit(kept, host(), a, b);
      }
    });

    test("reset zeroes the split with the totals, and it counts on from zero", async () => {
      const r = iptmon(["reset", "split1"]);
      expect(r.code).toBe(0);
      const zeroed = host();
      expect(totalOf(zeroed)).toEqual(zero());
      for (const kind of ["families", "services"] as const) for (const p of Object.values(zeroed[kind] ?? {})) expect(p).toEqual(zero());
      const a = watched();
      await traffic();
      const b = watched();
      expectSplit(zeroed, host(), a, b);
    });

    if (!services) test("iptables refuses to split by service: exit 2, nothing applied", () => {
      const before = execOk(vr.routerNs, ["iptables-legacy-save", "-t", "mangle"]).stdout.replace(/^#.*\n/gm, "");
      configure([...breakdown, "\tlist breakdown 'service'"]);
      const r = iptmon(["init"]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain("cannot split hosts' traffic by service with the iptables backend");
      expect(execOk(vr.routerNs, ["iptables-legacy-save", "-t", "mangle"]).stdout.replace(/^#.*\n/gm, "")).toBe(before);
      configure();
    });

    if (services) test("a change of the service list is one init that keeps every total; turned off, every object of the split goes", async () => {
      const family = hook === "ports" ? "netdev" : "inet";
      const objects = () => execOk(vr.routerNs, ["nft", "list", "table", family, "iptmon"]).stdout.split("\n").filter((l) => /svc_|split_/.test(l));
      const kept = host();
      // An element of an address no host has (one that left): a sample removes it, and so does init; the hosts' stay.
      const stale = () => execOk(vr.routerNs, ["nft", "add", "element", family, "iptmon", "split_rx_4", "{ 192.168.77.250 . 0x00000006 }"]);
      const splitSet = () => execOk(vr.routerNs, ["nft", "list", "set", family, "iptmon", hook === "ports" ? "split_rx_m" : "split_rx_4"]).stdout;
      stale();
      expect(execOk(vr.routerNs, ["nft", "list", "set", family, "iptmon", "split_rx_4"]).stdout).toContain("192.168.77.250");
      expect(totalOf(host())).toEqual(totalOf(kept));
      expect(execOk(vr.routerNs, ["nft", "list", "set", family, "iptmon", "split_rx_4"]).stdout).not.toContain("192.168.77.250");
      expect(splitSet()).toContain(hook === "ports" ? client().mac : "192.168.77.");
      stale();
      // dns goes (its traffic is `other` again), a class for port 9999 comes, counting from now.
      configure(breakdown, SERVICES);
      let r = iptmon(["init"]);
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      const changed = host();
      expect(totalOf(changed)).toEqual(totalOf(kept));
      expect(changed.families).toEqual(kept.families!);
      expect(changed.services!.dns).toBeUndefined();
      expect(changed.services!.alt).toBeUndefined();
      expect(changed.services!.other).toEqual(add(kept.services!.other!, kept.services!.dns!));
      expect(objects().some((l) => l.includes(`_${serviceHex("dns")}`))).toBe(false);
      expect(execOk(vr.routerNs, ["nft", "list", "set", family, "iptmon", "split_rx_4"]).stdout).not.toContain("192.168.77.250");
      expect(splitSet()).toContain(hook === "ports" ? client().mac : "192.168.77.");
      const a = watched();
      await traffic();
      const b = watched();
      const after = host();
      expect(sub(after.services!.alt!, zero())).toEqual(flowPart(a, b, "tcp9999"));
      expect(sub(after.services!.other!, changed.services!.other!)).toEqual(flowPart(a, b, "udp53"));
      configure([]);
      r = iptmon(["init"]);
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      expect(objects()).toEqual([]);
      const off = host();
      expect(totalOf(off)).toEqual(totalOf(after));
      expect(off.families).toBeUndefined();
      expect(off.services).toBeUndefined();
    });
  });
}
