/**
 * Totals that survive: on the virtual router, traffic of known size, then a
 * firewall flush, a stop and start, a deleted table and an event, a reboot
 * (kernel and RAM gone, flash kept) and a power loss; every host's totals must
 * equal what was sent (after the power loss: at least what was on flash).
 * Then usage per period, bad state files, and a full filesystem in a tiny
 * tmpfs (its own mount namespace). Once per backend this build provides.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { StatusHost } from "../../src/status.ts";
import type { UsageReport } from "../../src/usage/report.ts";
import { iptmonBin, iptmonConfig, skipReason } from "./harness.ts";
import { exec, execOk, VRouter, VROUTER_NEEDS, waitFor } from "./vrouter.ts";

const skip = skipReason("snapshots on the virtual router", [...VROUTER_NEEDS, "unshare"]);
const BIN = skip ? "" : iptmonBin();

function backends(): string[] {
  const all = (process.env.IPTMON_E2E_BACKENDS ?? "nftables,iptables").split(",");
  if (skip) return all.slice(0, 1);
  return all.filter((b) => !/not available|cannot run/.test(exec(null, [BIN, "--backend", b, "--config", "/dev/null", "status"]).stderr));
}

type Totals = { rx: number; tx: number };

for (const backend of backends()) {
  describe.skipIf(skip !== null)(`snapshots, ${backend} backend`, () => {
    let vr: VRouter;
    let dir: string;
    let conf: string;
    // iptmonConfig puts the state file in the run's temp dir.
    const ram = () => join(dir, "state.json");
    const flash = () => join(dir, "flash", "state.json");
    const iptmon = (...args: string[]) => exec(vr.routerNs, [BIN, ...args], { env: { IPTMON_CONFIG: conf } });
    const ok = (...args: string[]) => {
      const r = iptmon(...args);
      expect([args.join(" "), r.code, r.stderr]).toEqual([args.join(" "), 0, ""]);
      return r.stdout;
    };
    const status = (): StatusHost[] => (JSON.parse(ok("status", "--json")) as { hosts: StatusHost[] }).hosts;
    const totals = () => new Map(status().map((h) => [h.mac!, { rx: h.rx_bytes, tx: h.tx_bytes }]));
    /** What each client sent (rx) and was sent (tx), at L3, since its lease. */
    const sent = new Map<string, Totals>();
    const traffic = async (scale: number) => {
      for (const [i, c] of vr.clients.entries()) {
        const up = await vr.upload(c, { family: 4, count: 20 * scale + i, size: 1000 });
        const down = await vr.download(c, { family: 4, count: 30 * scale, size: 1200 + i });
        const s = sent.get(c.mac)!;
        sent.set(c.mac, { rx: s.rx + up.bytes, tx: s.tx + down.bytes });
      }
    };
    /** Each host's usage over every period (`usage --period all --json`); the newest period is the open one. */
    const usedAll = () => {
      const u = JSON.parse(ok("usage", "--period", "all", "--json")) as UsageReport;
      expect(u.periods.at(-1)!.current).toBe(true);
      const used = new Map<string, Totals>();
      for (const p of u.periods)
        for (const h of p.hosts) {
          const t = used.get(h.mac!) ?? { rx: 0, tx: 0 };
          used.set(h.mac!, { rx: t.rx + h.rx_bytes, tx: t.tx + h.tx_bytes });
        }
      return used;
    };
    /** A firewall flush of iptmon's objects, the way each firewall does it. */
    const dropTables = () => {
      if (backend === "nftables") execOk(vr.routerNs, ["nft", "flush", "ruleset"]);
      else
        for (const t of ["iptables-legacy", "ip6tables-legacy"]) {
          execOk(vr.routerNs, [t, "-t", "mangle", "-F"]);
          execOk(vr.routerNs, [t, "-t", "mangle", "-X"]);
        }
      expect(status()).toEqual([]);
    };

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), "iptmon-snap-"));
      conf = join(dir, "iptmon.conf");
      vr = await VRouter.create({ clients: [{ ipv6: false }, { ipv6: false }], dhcpScript: BIN, scriptEnv: { IPTMON_CONFIG: conf }, startDnsmasq: false });
      writeFileSync(
        conf,
        iptmonConfig(dir, {
          backend,
          leasefile: vr.leaseFile,
          options: [`\toption persist_dir '${join(dir, "flash")}'`, "\toption persist_interval '60'"],
        }),
      );
      await vr.startDnsmasq();
      for (const c of vr.clients) {
        await vr.takeLease(c, `host${c.index}`);
        sent.set(c.mac, { rx: 0, tx: 0 });
      }
      await waitFor(() => (status().length === 2 ? true : undefined), "both hosts counted", 10_000, 50);
    });

    afterAll(() => {
      vr?.destroy();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    test("known traffic, then a firewall flush and init: totals equal what was sent", async () => {
      await traffic(1);
      expect(totals()).toEqual(sent);
      ok("snapshot"); // the cron line's run
      dropTables();
      ok("init"); // the firewall include
      expect(totals()).toEqual(sent);
    });

    test("stop and start (restart, upgrade) keep every total", async () => {
      await traffic(2);
      ok("stop");
      expect(status()).toEqual([]);
      ok("init");
      expect(totals()).toEqual(sent);
    });

    test("a deleted table and an event: the event rebuilds every host from the snapshot", async () => {
      await traffic(1);
      ok("snapshot");
      dropTables();
      const c = vr.clients[0]!;
      ok("add", c.mac, vr.clientAddresses(c).ipv4[0]!, "host1");
      expect(totals()).toEqual(sent);
    });

    test("a clean reboot (stop, then kernel and RAM gone, flash kept) keeps every total", async () => {
      await traffic(1);
      ok("stop"); // the init script's stop at shutdown copies to flash
      rmSync(ram());
      expect(existsSync(flash())).toBe(true);
      ok("init");
      expect(totals()).toEqual(sent);
    });

    test("a power loss costs only what was counted since the last copy on flash", async () => {
      const onFlash = JSON.parse(readFileSync(flash(), "utf8")) as { hosts: Record<string, { rx: number[]; tx: number[] }> };
      await traffic(1);
      ok("snapshot"); // RAM only: persist_interval has not passed
      dropTables();
      rmSync(ram());
      ok("init");
      const now = totals();
      for (const c of vr.clients) {
        const t = now.get(c.mac)!;
        const f = onFlash.hosts[c.mac]!;
        expect(t.rx).toBeGreaterThanOrEqual(f.rx[0]!);
        expect(t.tx).toBeGreaterThanOrEqual(f.tx[0]!);
        expect(t.rx).toBeLessThan(sent.get(c.mac)!.rx);
        // what the power loss took: counted from here on as sent
        sent.set(c.mac, { rx: t.rx, tx: t.tx });
      }
    });

    test("a host that leaves and returns comes back with its totals; usage --json equals what was sent", async () => {
      const c = vr.clients[1]!;
      await traffic(1);
      await vr.releaseLease(c); // no read in between: the delete reads its counters
      await waitFor(() => (status().some((h) => h.mac === c.mac) ? undefined : true), "host gone after release", 10_000, 50);
      await vr.takeLease(c, `host${c.index}`);
      await waitFor(() => (status().some((h) => h.mac === c.mac) ? true : undefined), "host back", 10_000, 50);
      expect(totals().get(c.mac)).toEqual(sent.get(c.mac));
      await traffic(1);
      expect(totals()).toEqual(sent);
      // Hosts began at zero in this state, so usage over every period is all
      // that was sent, less what the power loss took (as `sent` now counts).
      expect(usedAll()).toEqual(sent);
      const text = ok("usage");
      expect(text).toContain("host1");
      expect(text).toContain(", current)");
    });

    test("readers running at once (the web page, top, cron, events) never count a total twice", async () => {
      const readers = Array.from({ length: 6 }, (_, i) =>
        vr.spawn(vr.routerNs, [BIN, i % 2 ? "snapshot" : "status", ...(i % 2 ? [] : ["--json"])], { env: { IPTMON_CONFIG: conf } }),
      );
      await traffic(1);
      expect(await Promise.all(readers.map((p) => p.exited))).toEqual([0, 0, 0, 0, 0, 0]);
      expect(totals()).toEqual(sent);
      expect(usedAll()).toEqual(sent);
    });

    test("reset zeroes one host's totals in the kernel at once; a restart does not bring them back; the other keeps its own", async () => {
      const [a, b] = vr.clients as [VRouter["clients"][number], VRouter["clients"][number]];
      ok("reset", "host1");
      expect(totals().get(a.mac)).toEqual({ rx: 0, tx: 0 });
      expect(totals().get(b.mac)).toEqual(sent.get(b.mac));
      sent.set(a.mac, { rx: 0, tx: 0 });
      await traffic(1);
      ok("stop");
      ok("init");
      expect(totals()).toEqual(sent);
    });

    test("a binary state file: one line, set aside, counting goes on", () => {
      const before = totals();
      writeFileSync(ram(), Buffer.from([0, 1, 2, 0xff, 0xfe, 10]));
      const r = iptmon("status", "--json");
      expect(r.code).toBe(0);
      expect(r.stderr).toMatch(/^iptmon: snapshot \S+ is unusable \(not JSON \(truncated or corrupt\)\): set aside as \S+\.bad-\d+; counting goes on from the kernel\n$/);
      expect(new Map((JSON.parse(r.stdout) as { hosts: StatusHost[] }).hosts.map((h) => [h.mac!, { rx: h.rx_bytes, tx: h.tx_bytes }]))).toEqual(before);
      const aside = readdirSync(dir).filter((f) => f.startsWith("state.json.bad-"));
      expect(aside).toHaveLength(1);
      expect(readFileSync(join(dir, aside[0]!))).toEqual(Buffer.from([0, 1, 2, 0xff, 0xfe, 10]));
      expect(JSON.parse(readFileSync(ram(), "utf8")).format).toBe("iptmon-state");
    });

    test("a full filesystem (16 KiB tmpfs, own mount namespace): one line, the old snapshot intact, status answers", () => {
      const small = join(dir, "small");
      mkdirSync(small);
      const old = readFileSync(ram(), "utf8");
      const smallConf = join(dir, "small.conf");
      writeFileSync(smallConf, readFileSync(conf, "utf8").replace(`option statefile '${ram()}'`, `option statefile '${join(small, "state.json")}'`).replace(/\toption persist_dir .*\n/, ""));
      // The state grows by a new period, so the save needs more room than is left.
      const script = [
        "set -e",
        `mount -t tmpfs -o size=16k,mode=700 iptmon-test "${small}"`,
        `cp "${ram()}" "${small}/state.json"`,
        `dd if=/dev/zero of="${small}/fill" bs=1k count=64 2>/dev/null || true`,
        `ip netns exec ${vr.routerNs} env IPTMON_CONFIG="${smallConf}" "${BIN}" status --json > "${dir}/small.out" 2> "${dir}/small.err" || echo "exit $?" >> "${dir}/small.err"`,
        `cmp "${small}/state.json" "${ram()}" && echo intact`,
        `ls "${small}"`,
      ].join("\n");
      const r = exec(null, ["unshare", "-m", "--propagation", "private", "sh", "-c", script]);
      expect(r.stderr).toBe("");
      expect(r.stdout).toBe("intact\nfill\nstate.json\n"); // no temporary left behind
      expect(readFileSync(join(dir, "small.err"), "utf8")).toMatch(/^iptmon: cannot save snapshot \S+state\.json: no space left on device \(ENOSPC\) \(the previous one is kept\)\n$/);
      const hosts = (JSON.parse(readFileSync(join(dir, "small.out"), "utf8")) as { hosts: StatusHost[] }).hosts;
      expect(new Map(hosts.map((h) => [h.mac!, { rx: h.rx_bytes, tx: h.tx_bytes }]))).toEqual(sent);
      expect(old).toBe(readFileSync(ram(), "utf8"));
      // nothing of the mount is seen outside its namespace
      expect(readdirSync(small)).toEqual([]);
    });
  });
}
