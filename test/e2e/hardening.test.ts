/**
 * Hostile and unlucky conditions on the virtual router, with the real binary:
 * `reset` arguments that must not widen to every host, a state directory
 * someone else prepared (owned by another user, symlinks named like iptmon's
 * files, a state file that is a symlink or 300 MB), temporary files a killed
 * writer left, a clock 40 days ahead and then corrected, and a reset whose
 * copy on flash cannot be written (a read-only bind mount in a mount
 * namespace of its own).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { StatusHost } from "../../src/status.ts";
import type { UsageReport } from "../../src/usage/report.ts";
import { iptmonBin, iptmonConfig, skipReason } from "./harness.ts";
import { exec, VRouter, VROUTER_NEEDS, waitFor } from "./vrouter.ts";

const FAKETIME = [...new Bun.Glob("usr/lib/*/faketime/libfaketime.so.1").scanSync({ cwd: "/", absolute: true })][0] ?? "/usr/lib/faketime/libfaketime.so.1";
const skip = skipReason("hardening on the virtual router", [...VROUTER_NEEDS, "unshare", FAKETIME]);
const BIN = skip ? "" : iptmonBin();
const NOBODY = 65534;

type Totals = { rx: number; tx: number };

describe.skipIf(skip !== null)("hardening, nftables backend", () => {
  let vr: VRouter;
  let dir: string;
  let conf: string;
  const ram = () => join(dir, "state", "state.json");
  const flash = () => join(dir, "flash", "state.json");
  const iptmon = (args: string[], env: Record<string, string> = {}, config = conf) => exec(vr.routerNs, [BIN, ...args], { env: { IPTMON_CONFIG: config, ...env } });
  const ok = (...args: string[]) => {
    const r = iptmon(args);
    expect([args.join(" "), r.code, r.stderr]).toEqual([args.join(" "), 0, ""]);
    return r.stdout;
  };
  const status = (): StatusHost[] => (JSON.parse(ok("status", "--json")) as { hosts: StatusHost[] }).hosts;
  const totals = () => new Map(status().map((h) => [h.mac!, { rx: h.rx_bytes, tx: h.tx_bytes }]));
  const sent = new Map<string, Totals>();
  const traffic = async () => {
    for (const c of vr.clients) {
      const up = await vr.upload(c, { family: 4, count: 20, size: 1000 });
      const down = await vr.download(c, { family: 4, count: 30, size: 1200 });
      const s = sent.get(c.mac)!;
      sent.set(c.mac, { rx: s.rx + up.bytes, tx: s.tx + down.bytes });
    }
  };
  /** A config like the router's, with the state file somewhere else. */
  const confWithState = (name: string, statefile: string) => {
    const path = join(dir, `${name}.conf`);
    writeFileSync(path, readFileSync(conf, "utf8").replace(`option statefile '${ram()}'`, `option statefile '${statefile}'`));
    return path;
  };
  const tableExists = () => exec(vr.routerNs, ["nft", "list", "table", "inet", "iptmon-hard"]).code === 0;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "iptmon-hard-"));
    conf = join(dir, "iptmon.conf");
    vr = await VRouter.create({ clients: [{ ipv6: false }, { ipv6: false }], dhcpScript: BIN, scriptEnv: { IPTMON_CONFIG: conf }, startDnsmasq: false });
    writeFileSync(
      conf,
      iptmonConfig(dir, {
        backend: "nftables",
        leasefile: vr.leaseFile,
        options: ["\toption table 'iptmon-hard'", `\toption persist_dir '${join(dir, "flash")}'`, "\toption persist_interval '60'"],
      }).replace(`option statefile '${join(dir, "state.json")}'`, `option statefile '${ram()}'`),
    );
    await vr.startDnsmasq();
    for (const c of vr.clients) {
      await vr.takeLease(c, `host${c.index}`);
      sent.set(c.mac, { rx: 0, tx: 0 });
    }
    await waitFor(() => (status().length === 2 ? true : undefined), "both hosts counted", 10_000, 50);
    await traffic();
    expect(totals()).toEqual(sent);
  });

  afterAll(() => {
    vr?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  describe("reset never widens by accident", () => {
    for (const args of [["reset"], ["reset", "--", "nosuchhost"], ["reset", "--", "-v"], ["reset", "host1", "--", "nosuchhost"], ["reset", "--all", "host1"]]) {
      test(`${args.join(" ")}: exit 2, one line, no total and no file changed`, () => {
        // dnsmasq's events may rewrite the files meanwhile, but never the totals they remember
        const remembered = (f: string) =>
          Object.entries(JSON.parse(readFileSync(f, "utf8")).hosts as Record<string, { rx: number[]; tx: number[] }>).map(([k, h]) => [k, h.rx, h.tx]);
        const state = remembered(ram());
        const onFlash = remembered(flash());
        const r = iptmon(args);
        expect(r.code).toBe(2);
        expect(r.stderr).toMatch(/^iptmon: cannot reset[^\n]*\n$/);
        if (args.includes("nosuchhost")) expect(r.stderr).toContain('"nosuchhost": no such host');
        if (args.includes("-v")) expect(r.stderr).toContain('"-v": no such host');
        expect(totals()).toEqual(sent);
        expect(remembered(ram())).toEqual(state);
        expect(remembered(flash())).toEqual(onFlash);
      });
    }
  });

  describe("the RAM state directory is root's alone", () => {
    /** A directory as another user would prepare it: symlinks named like iptmon's files, pointing at a file root owns. */
    const planted = (name: string, owner: number, mode: number) => {
      const d = join(dir, name);
      mkdirSync(d);
      const victim = join(dir, `${name}-victim`);
      writeFileSync(victim, "precious\n");
      for (const f of ["state.json", "state.json.journal", "state.json.busiest", ...[1, 2, 3, process.pid].flatMap((p) => [`state.json.tmp.${p}`, `state.json.journal.tmp.${p}`])]) symlinkSync(victim, join(d, f));
      chownSync(d, owner, owner);
      chmodSync(d, mode);
      return { d, victim };
    };

    for (const [what, owner, mode, why] of [
      ["owned by another user", NOBODY, 0o700, `owned by uid ${NOBODY}, not by uid 0 (root)`],
      ["writable by anyone", 0, 0o777, "writable by anyone (mode 777)"],
      ["writable by its group", 0, 0o770, "writable by its group (mode 770)"],
    ] as const) {
      test(`one ${what}: init refuses (exit 1, one line), nothing written, no ruleset`, () => {
        ok("stop");
        expect(tableExists()).toBe(false);
        const { d, victim } = planted(`planted-${owner}-${mode.toString(8)}`, owner, mode);
        const before = readdirSync(d).sort();
        const r = iptmon(["init"], {}, confWithState(`planted-${mode}`, join(d, "state.json")));
        expect(r.code).toBe(1);
        expect(r.stderr).toBe(`iptmon: cannot use state directory ${d}: ${why}; hint: remove it or set option statefile elsewhere; iptmon creates the directory itself, mode 0700\n`);
        expect(readFileSync(victim, "utf8")).toBe("precious\n");
        expect(readdirSync(d).sort()).toEqual(before);
        expect(tableExists()).toBe(false);
        ok("init");
        expect(totals()).toEqual(sent);
      });
    }

    test("a directory iptmon makes is 0700, and the state, journal, ranking and flash copy are 0600", () => {
      const d = join(dir, "fresh", "iptmon");
      const c = confWithState("fresh", join(d, "state.json"));
      const r = iptmon(["status"], {}, c);
      expect([r.code, r.stderr]).toEqual([0, ""]);
      expect(statSync(d).mode & 0o7777).toBe(0o700);
      expect(statSync(d).uid).toBe(0);
      ok("stop"); // copies to flash
      ok("init");
      ok("status"); // a full sample: it leaves the ranking
      for (const f of [join(d, "state.json"), join(d, "state.json.journal"), join(d, "state.json.busiest"), ram(), `${ram()}.busiest`, flash()]) expect([f, statSync(f).mode & 0o777]).toEqual([f, 0o600]);
    });

    test("a ranking that is a symbolic link (to made-up counters) is set aside by the poll, not followed nor trusted", () => {
      ok("status");
      const fake = join(dir, "made-up-ranking.json");
      const made = JSON.parse(readFileSync(`${ram()}.busiest`, "utf8"));
      for (const h of made.hosts as { rx: number[]; tx: number[] }[]) h.rx = h.tx = [1_000_000_000_000, 1_000_000_000];
      writeFileSync(fake, JSON.stringify(made));
      rmSync(`${ram()}.busiest`);
      symlinkSync(fake, `${ram()}.busiest`);
      const r = iptmon(["status", "--json", "--busiest"]);
      expect(r.code).toBe(0);
      expect(r.stderr).toMatch(/^iptmon: snapshot \S+state\.json\.busiest cannot be read \(is a symbolic link, not followed\): set aside as \S+\.bad-\d+; the page's poll reads every counter\n$/);
      const poll = JSON.parse(r.stdout) as { hosts: { mac: string; rx_bytes: number; tx_bytes: number }[] };
      expect(new Map(poll.hosts.map((h) => [h.mac, { rx: h.rx_bytes, tx: h.tx_bytes }]))).toEqual(sent);
      // the poll's full read was a sample: it wrote a ranking of its own in the link's place
      expect(lstatSync(`${ram()}.busiest`).isFile()).toBe(true);
      expect(readFileSync(fake, "utf8")).toBe(JSON.stringify(made));
    });

    test("a state file that is a symbolic link (to 931 GiB of made-up totals) is set aside, not followed nor trusted", () => {
      const d = join(dir, "linked");
      mkdirSync(d, { mode: 0o700 });
      const fake = join(dir, "made-up.json");
      const made = JSON.parse(readFileSync(ram(), "utf8"));
      for (const h of Object.values(made.hosts) as { rx: number[]; tx: number[] }[]) h.rx = h.tx = [1_000_000_000_000, 1_000_000_000];
      writeFileSync(fake, JSON.stringify(made));
      symlinkSync(fake, join(d, "state.json"));
      const c = confWithState("linked", join(d, "state.json"));
      ok("stop");
      const r = iptmon(["init"], {}, c);
      expect(r.code).toBe(0);
      expect(r.stderr).toMatch(/^iptmon: snapshot \S+linked\/state\.json cannot be read \(is a symbolic link, not followed\): set aside as \S+\.bad-\d+; counting goes on from the kernel\n$/);
      // the flash copy (persist_dir) is what totals come back from, not the link
      expect(totals()).toEqual(sent);
      expect(lstatSync(join(d, "state.json")).isSymbolicLink()).toBe(false);
      expect(readdirSync(d).some((f) => f.startsWith("state.json.bad-") && lstatSync(join(d, f)).isSymbolicLink())).toBe(true);
      expect(readFileSync(fake, "utf8")).toBe(JSON.stringify(made));
    });

    test("a 300 MB state file is set aside unread: the run stays small", () => {
      const d = join(dir, "huge");
      mkdirSync(d, { mode: 0o700 });
      const big = join(d, "state.json");
      writeFileSync(big, '{"format":"iptmon-state","version":1,');
      truncateSync(big, 300 * 1024 * 1024);
      const c = confWithState("huge", big);
      const p = Bun.spawnSync(["ip", "netns", "exec", vr.routerNs, BIN, "status", "--json"], { env: { ...process.env, IPTMON_CONFIG: c } });
      expect(p.exitCode).toBe(0);
      expect(p.stderr.toString()).toMatch(/^iptmon: snapshot \S+huge\/state\.json cannot be read \(is longer than the 67108864 bytes iptmon reads of it\): set aside as \S+; counting goes on from the kernel\n$/);
      // the largest resident set among the children (bytes): reading it would take over 300 MB
      expect(p.resourceUsage.maxRSS).toBeLessThan(150 * 1024 * 1024);
      expect(existsSync(big)).toBe(true); // written anew, small
      expect(statSync(big).size).toBeLessThan(1024 * 1024);
    });

    test("temporary files a killed writer left are removed by the next writer; live ones and other names stay", () => {
      const d = join(dir, "state");
      const dead = join(d, "state.json.tmp.999999.a1b2c3d4e5f6");
      const older = join(d, "state.json.journal.tmp.999998");
      const mine = join(d, `state.json.tmp.${process.pid}.0123456789ab`);
      const other = join(d, "notes.tmp.999999");
      for (const f of [dead, older, mine, other]) writeFileSync(f, "x");
      expect(exec(null, ["kill", "-0", "999999"]).code).not.toBe(0);
      ok("status");
      expect([dead, older, mine, other].map(existsSync)).toEqual([false, false, true, true]);
      rmSync(mine);
      rmSync(other);
    });
  });

  test("a clock 40 days ahead, then corrected: the future month is folded back and the usage stays in this one", async () => {
    const used = (env: Record<string, string> = {}) => {
      const r = iptmon(["usage", "--period", "all", "--json"], env);
      expect([r.code, r.stderr]).toEqual([0, ""]);
      return (JSON.parse(r.stdout) as UsageReport).periods;
    };
    const now = used();
    const here = now.at(-1)!.name;
    const usage = (periods: UsageReport["periods"]) => new Map(periods.at(-1)!.hosts.map((h) => [h.mac!, { rx: h.rx_bytes, tx: h.tx_bytes }]));
    const before = usage(now);
    const sentBefore = new Map(sent);
    const ahead = { LD_PRELOAD: FAKETIME, FAKETIME: "+40d", FAKETIME_DONT_FAKE_MONOTONIC: "1" };
    await traffic();
    const future = used(ahead);
    expect(future.at(-1)!.name).not.toBe(here);
    expect(future.at(-1)!.current).toBe(true);
    await traffic();
    const back = used();
    expect(back.map((p) => p.name)).toEqual(now.map((p) => p.name));
    expect(back.at(-1)!.current).toBe(true);
    // both rounds are this month's: the first folded back from the future month, the second counted here
    const after = usage(back);
    for (const c of vr.clients) {
      const grew = { rx: after.get(c.mac)!.rx - (before.get(c.mac)?.rx ?? 0), tx: after.get(c.mac)!.tx - (before.get(c.mac)?.tx ?? 0) };
      expect([c.mac, grew]).toEqual([c.mac, { rx: sent.get(c.mac)!.rx - sentBefore.get(c.mac)!.rx, tx: sent.get(c.mac)!.tx - sentBefore.get(c.mac)!.tx }]);
    }
    expect(totals()).toEqual(sent);
  });

  test("reset with a read-only persist_dir: exit 1 and says the totals come back after a reboot", () => {
    const onFlash = readFileSync(flash(), "utf8");
    const script = [
      "set -e",
      `mount --bind "${join(dir, "flash")}" "${join(dir, "flash")}"`,
      `mount -o remount,bind,ro "${join(dir, "flash")}"`,
      `ip netns exec ${vr.routerNs} env IPTMON_CONFIG="${conf}" "${BIN}" reset host1 > "${dir}/ro.out" 2> "${dir}/ro.err" || echo "exit $?" >> "${dir}/ro.err"`,
    ].join("\n");
    const r = exec(null, ["unshare", "-m", "--propagation", "private", "sh", "-c", script]);
    expect([r.code, r.stderr]).toEqual([0, ""]);
    const err = readFileSync(join(dir, "ro.err"), "utf8");
    expect(err).toContain(`iptmon: cannot save snapshot ${flash()}: read-only file system (EROFS) (the previous one is kept)\n`);
    expect(err).toContain('iptmon: cannot reset "host1" for good: the totals are zeroed in the kernel but the snapshot could not be saved (said above), so they come back after a reboot; hint: make persist_dir (and the state file\'s directory) writable, then run the same reset again\n');
    expect(err).toEndWith("exit 1\n");
    expect(readFileSync(flash(), "utf8")).toBe(onFlash);
    // it did what it says: zeroed now; a reset with flash writable makes it stick
    expect(totals().get(vr.clients[0]!.mac)).toEqual({ rx: 0, tx: 0 });
    ok("reset", "host1");
    sent.set(vr.clients[0]!.mac, { rx: 0, tx: 0 });
    expect(totals()).toEqual(sent);
  });
});
