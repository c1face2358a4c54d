/**
 * Renames under traffic, on the virtual router, for both placements: a host
 * uploads ~10,000 datagrams a second (and downloads half that) while it is
 * renamed 20 times, by lease events (`iptmon add MAC IP NAME`, over netlink
 * and through `nft -f`) and by `config host` names and `iptmon init`, one
 * after the other. Its totals must equal, to the byte and the packet, what
 * the senders sent (IP bytes: `ports` tx counters also hold the Ethernet
 * header, which iptmon takes off). A pair a rename cut short left behind is
 * added in and folded by the next init; a stop and an init, and a firewall
 * flush and an init, keep those totals; a reset zeroes them, carry and all.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Subprocess } from "bun";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { StatusHost } from "../../src/status.ts";
import { iptmonBin, iptmonConfig, skipReason } from "./harness.ts";
import { exec, execOk, VRouter, VROUTER_NEEDS, WAN4, waitFor } from "./vrouter.ts";

const skip = skipReason("renames under traffic", VROUTER_NEEDS);
const PACE = resolve(import.meta.dir, "../helpers/udp-pace.ts");
/** Payload bytes per datagram: 128 at L3. */
const SIZE = 100;
const UP_PPS = 10_000;
const DOWN_PPS = 5_000;
/** Long enough for every rename to happen while both senders run (checked). */
const SECONDS = 10;
const RENAMES = 20;

type Counts = { rx: number; rxp: number; tx: number; txp: number };

for (const hook of ["forward", "ports"] as const) {
  describe.skipIf(skip !== null)(`renames under traffic, option hook '${hook}'`, () => {
    let vr: VRouter;
    let dir: string;
    let conf: string;
    let BIN: string;
    let mac: string;
    let ip: string;
    /** What the host sent and was sent since the first status (IP bytes). */
    const sent: Counts = { rx: 0, rxp: 0, tx: 0, txp: 0 };
    let base: Counts;

    /** The config, with a `config host` naming the host when `name` is given. */
    const configure = (name?: string) =>
      writeFileSync(
        conf,
        iptmonConfig(dir, {
          backend: "nftables",
          leasefile: vr.leaseFile,
          options: [`\toption hook '${hook}'`],
          extra: name ? `config host\n\toption mac '${mac}'\n\toption name '${name}'\n` : "",
        }),
      );
    const iptmon = (args: string[], env: Record<string, string> = {}) => exec(vr.routerNs, [BIN, ...args], { env: { IPTMON_CONFIG: conf, ...env } });
    const ok = (args: string[], env: Record<string, string> = {}) => {
      const r = iptmon(args, env);
      expect([args.join(" "), r.code, r.stderr]).toEqual([args.join(" "), 0, ""]);
      return r.stdout;
    };
    const hosts = (): StatusHost[] => (JSON.parse(ok(["status", "--json"])) as { hosts: StatusHost[] }).hosts;
    const host = (): StatusHost => {
      const mine = hosts().filter((h) => h.mac === mac);
      expect(mine).toHaveLength(1);
      return mine[0]!;
    };
    const counts = (h: StatusHost = host()): Counts => ({ rx: h.rx_bytes - base.rx, rxp: h.rx_packets - base.rxp, tx: h.tx_bytes - base.tx, txp: h.tx_packets - base.txp });
    /** iptmon's counters in the kernel, by name. */
    const counterNames = () =>
      (JSON.parse(execOk(vr.routerNs, ["nft", "-j", "list", "counters", "table", hook === "ports" ? "netdev" : "inet", "iptmon"]).stdout) as { nftables: { counter?: { name: string } }[] }).nftables
        .flatMap((o) => (o.counter ? [o.counter.name] : []))
        .sort();

    /** Sends from `ns` to `dst` at `pps` for SECONDS; resolves to what the sender sent. */
    function pace(ns: string, dst: string, pps: number, tag: string): { proc: Subprocess; done: Promise<{ sent: number; bytes: number }> } {
      const proc = vr.spawn(ns, [process.execPath, PACE, "4", dst, "40077", String(SIZE), String(pps * (SIZE + 28)), String(SECONDS)], { logName: tag });
      const done = proc.exited.then((code) => {
        const out = exec(null, ["cat", join(vr.tmpDir, `${tag}.out`)]).stdout.trim();
        if (code !== 0) throw new Error(`udp-pace exited ${code}: ${out}`);
        return JSON.parse(out.split("\n").pop()!) as { sent: number; bytes: number };
      });
      return { proc, done };
    }

    beforeAll(async () => {
      BIN = iptmonBin();
      dir = mkdtempSync(join(tmpdir(), `iptmon-rename-${hook}-`));
      conf = join(dir, "iptmon.conf");
      vr = await VRouter.create({ clients: [{ ipv6: false }], dhcpScript: BIN, scriptEnv: { IPTMON_CONFIG: conf }, startDnsmasq: false });
      const c = vr.clients[0]!;
      mac = c.mac;
      configure();
      await vr.startDnsmasq();
      ip = await vr.takeLease(c, "h0");
      ok(["init"]);
      await waitFor(() => hosts().some((h) => h.mac === mac) || undefined, "the host counted", 10_000, 50);
      // Neighbours resolved both ways before the paced senders start (their first burst would wait on ARP).
      await vr.upload(c, { family: 4, count: 3, size: SIZE });
      await vr.download(c, { family: 4, count: 3, size: SIZE });
      const h = host();
      base = { rx: h.rx_bytes, rxp: h.rx_packets, tx: h.tx_bytes, txp: h.tx_packets };
    });

    afterAll(() => {
      vr?.destroy();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    test(`${RENAMES} renames while it sends ~${UP_PPS} datagrams/s and receives ~${DOWN_PPS}: every byte and packet counted`, async () => {
      const c = vr.clients[0]!;
      const sinkWan = vr.sinkCounter(vr.wanNs);
      const sinkClient = vr.sinkCounter(c.ns);
      const up = pace(c.ns, WAN4, UP_PPS, "pace-up");
      const down = pace(vr.wanNs, ip, DOWN_PPS, "pace-down");
      // Both senders are under way before the first rename.
      await waitFor(
        () => (vr.sinkCounter(vr.wanNs).packets - sinkWan.packets > 100 && vr.sinkCounter(c.ns).packets - sinkClient.packets > 100) || undefined,
        "both senders to be under way",
        5000,
        20,
      );
      let name = "";
      for (let i = 1; i <= RENAMES; i++) {
        if (i % 2 === 1) {
          // A lease event with a new hostname; every other one through `nft -f` instead of netlink.
          configure();
          name = `ev${i}`;
          ok(["add", mac, ip, name], i % 4 === 3 ? { IPTMON_NETLINK: "0" } : {});
        } else {
          // A `config host` name, applied by init.
          name = `cf${i}`;
          configure(name);
          ok(["init"]);
        }
        expect(host().name).toBe(name);
      }
      // Every rename happened while both senders were sending.
      expect([up.proc.exitCode, down.proc.exitCode]).toEqual([null, null]);
      const [u, d] = await Promise.all([up.done, down.done]);
      expect(u.sent).toBeGreaterThan(UP_PPS * (SECONDS - 2));
      // Whatever left the senders arrived (the truth iptmon is held to).
      await waitFor(() => vr.sinkCounter(vr.wanNs).packets - sinkWan.packets >= u.sent || undefined, "the upload to arrive", 5000, 50);
      await waitFor(() => vr.sinkCounter(c.ns).packets - sinkClient.packets >= d.sent || undefined, "the download to arrive", 5000, 50);
      expect(vr.sinkCounter(vr.wanNs).packets - sinkWan.packets).toBe(u.sent);
      expect(vr.sinkCounter(c.ns).packets - sinkClient.packets).toBe(d.sent);
      Object.assign(sent, { rx: u.bytes, rxp: u.sent, tx: d.bytes, txp: d.sent });
      const h = host();
      expect(h.name).toBe(name);
      expect(counts(h)).toEqual(sent);
      // The live pair and one carry pair are all that is left of the host's names.
      const key = mac.replaceAll(":", "-");
      expect(counterNames()).toEqual([`carry_rx_${key}`, `carry_tx_${key}`, `rx_${name}`, `tx_${name}`].sort());
    }, 120_000);

    test("a rename cut short before its fold (the old pair left, named by no element): status adds it, the next init folds it", () => {
      const family = hook === "ports" ? "netdev" : "inet";
      // What a run killed between the two transactions leaves: a pair of the host's key that no element names.
      execOk(vr.routerNs, ["nft", `add counter ${family} iptmon rx_cut { packets 3 bytes 300; comment "iptmon: ${mac}"; }`]);
      // A ports tx counter holds the Ethernet header too (iptmon reads 400 IP bytes).
      execOk(vr.routerNs, ["nft", `add counter ${family} iptmon tx_cut { packets 4 bytes ${400 + (hook === "ports" ? 14 * 4 : 0)}; comment "iptmon: ${mac}"; }`]);
      Object.assign(sent, { rx: sent.rx + 300, rxp: sent.rxp + 3, tx: sent.tx + 400, txp: sent.txp + 4 });
      expect(counts()).toEqual(sent);
      ok(["init"]);
      expect(counterNames()).not.toContain("rx_cut");
      expect(counts()).toEqual(sent);
    });

    test("a stop and an init keep the total", () => {
      ok(["stop"]);
      expect(hosts()).toEqual([]);
      ok(["init"]);
      expect(counts()).toEqual(sent);
    });

    test("a firewall flush and an init keep the total", () => {
      expect(counts()).toEqual(sent); // status hands the snapshot the totals, as the cron line's run would
      execOk(vr.routerNs, ["nft", "flush", "ruleset"]);
      expect(hosts()).toEqual([]);
      ok(["init"]);
      expect(counts()).toEqual(sent);
    });

    test("a reset after a rename: the host starts again from zero, its carry gone", () => {
      configure();
      ok(["add", mac, ip, "last"]);
      const key = mac.replaceAll(":", "-");
      expect(counterNames()).toEqual([`carry_rx_${key}`, `carry_tx_${key}`, "rx_last", "tx_last"]);
      expect(counts()).toEqual(sent);
      ok(["reset", "last"]);
      expect(host()).toMatchObject({ name: "last", rx_bytes: 0, rx_packets: 0, tx_bytes: 0, tx_packets: 0 });
      expect(counterNames()).toEqual(["rx_last", "tx_last"]);
    });
  });
}
