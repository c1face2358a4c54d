/**
 * Errors a user can act on: each says what actually happened, in one line, and
 * never hangs or hides a problem. Through `main` where the process boundary
 * can be faked; against the real filesystem and real processes where the
 * point is what the kernel says (FIFOs, permissions, signals).
 */
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseAddress, parseSubnet } from "../../src/addr.ts";
import { notLanReason, type Lan } from "../../src/lan.ts";
import { DEFAULTS } from "../../src/defaults.ts";
import { UserError } from "../../src/errors.ts";
import { main } from "../../src/main.ts";
import { realSys, type RunResult, type Sys } from "../../src/sys.ts";
import { FileError } from "../../src/sys/files.ts";
import { fakeSys, ok, type FakeSys } from "../helpers/fakesys.ts";

const tmp = mkdtempSync(join(tmpdir(), "iptmon-errors-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const fifo = join(tmp, "fifo");
Bun.spawnSync(["mkfifo", fifo]);
mkdirSync(join(tmp, "dir"));

const IP_ADDR = "4: br-lan: <UP>\n    inet 192.168.1.1/24 brd 192.168.1.255 scope global br-lan\n";
const NO_TABLE: RunResult = { code: 1, stdout: "", stderr: "Error: No such file or directory\n" };
/** iptmon's table with no hosts, as `nft -j list table` (and `list maps`) print it. */
const EMPTY_TABLE = JSON.stringify({
  nftables: [
    { metainfo: { version: "1.0.6", release_name: "Lester Gooch #5", json_schema_version: 1 } },
    { table: { family: "inet", name: "iptmon", handle: 1 } },
    ...[["rx4", "ipv4_addr"], ["tx4", "ipv4_addr"], ["rx6", "ipv6_addr"], ["tx6", "ipv6_addr"], ["keys", "ether_addr"], ["names", ["ipv6_addr", "ipv6_addr", "ipv6_addr", "ipv6_addr"]]].map(([name, type], i) => ({
      map: { family: "inet", name, table: "iptmon", type, handle: i + 2, map: "counter" },
    })),
  ],
});

/** A router with nft and ip; files under `tmp` are the real ones (FIFOs, directories). */
function router(config: string, o: { files?: Record<string, string>; commands?: Record<string, RunResult | ((input?: string) => RunResult)> } = {}): FakeSys {
  const sys = fakeSys({
    files: { "/etc/config/iptmon": `config iptmon\n\toption backend 'nftables'\n${config}`, ...o.files },
    commands: {
      "ip addr show dev br-lan": ok(IP_ADDR),
      "ip neigh show": ok(""),
      "nft -j list table inet iptmon": NO_TABLE,
      "nft -j list maps inet": ok('{"nftables": []}'),
      "nft -f -": ok(),
      "nft -c -f -": ok(),
      ...o.commands,
    },
  });
  const fakeRead = sys.readFile;
  const fakeExists = sys.exists;
  sys.readFile = (p) => (p.startsWith(tmp) ? realSys.readFile(p) : fakeRead(p));
  sys.exists = (p) => (p.startsWith(tmp) ? realSys.exists(p) : fakeExists(p));
  return sys;
}

const loggerCalls = (sys: FakeSys) => sys.calls.filter((c) => c.cmd === "logger");
const nftApplies = (sys: FakeSys) => sys.calls.filter((c) => c.cmd === "nft" && c.args[0] === "-f");

describe("a lease file that is missing, mistyped, a directory or a FIFO", () => {
  const mistyped = "\toption leasefile '/tmp/dhcp.lease'\n";

  test("interactive commands warn by default, naming the file and where it was set", async () => {
    for (const cmd of ["init", "print", "check"]) {
      const sys = router(mistyped);
      expect(await main([cmd], sys)).toBe(0);
      expect(sys.err).toContain("iptmon: warning: lease file /tmp/dhcp.lease (option leasefile in /etc/config/iptmon) does not exist");
    }
  });

  test("a name UCI dhcp gives counts as well", async () => {
    const sys = router("", { files: { "/etc/config/dhcp": "config dnsmasq\n\toption leasefile '/tmp/gone.leases'\n" } });
    expect(await main(["init"], sys)).toBe(0);
    expect(sys.err).toContain("lease file /tmp/gone.leases (option leasefile in /etc/config/dhcp) does not exist");
  });

  test("a directory and a FIFO are refused without reading (no hang), with what they are", async () => {
    for (const [path, what] of [
      [join(tmp, "dir"), "is a directory, not a regular file"],
      [fifo, "is a FIFO, not a regular file"],
    ] as const) {
      const sys = router(`\toption leasefile '${path}'\n`);
      expect(await main(["init"], sys)).toBe(0);
      expect(sys.err).toContain(`iptmon: warning: cannot read lease file ${path}: ${what}: no DHCP host is known from it`);
      expect(nftApplies(sys)).toHaveLength(1);
    }
  });

  test("events stay quiet and send the warning to syslog once", async () => {
    const sys = router(mistyped, { files: { "/tmp/dhcp.leases": "" } });
    const event = ["add", "02:00:00:00:00:05", "192.168.1.5", "laptop"];
    expect(await main(event, sys)).toBe(0);
    expect(sys.err).toBe("");
    const [logged] = loggerCalls(sys);
    expect(logged?.args).toEqual(["-t", "iptmon", "-p", "daemon.warning"]);
    expect(logged?.input).toContain("warning: lease file /tmp/dhcp.lease (option leasefile in /etc/config/iptmon) does not exist");
    expect(await main(event, sys)).toBe(0);
    expect(await main(["hotplug", "dhcp"], Object.assign(sys, { env: { ACTION: "add", MACADDR: "02:00:00:00:00:06", IPADDR: "192.168.1.6" } }))).toBe(0);
    expect(loggerCalls(sys)).toHaveLength(1);
    expect(sys.err).toBe("");
  });

  test("why an event changed nothing is not sent to syslog (routine for events)", async () => {
    // A table with hosts (the golden router's), so the event is not a rebuild.
    const table = ok(readFileSync(join(import.meta.dir, "../fixtures/golden-router/nft-current.json"), "utf8"));
    const sys = router("", { files: { "/tmp/dhcp.leases": "" }, commands: { "nft -j list table inet iptmon": table, "nft -j list maps inet": table } });
    expect(await main(["arp-add", "02:00:00:00:01:01", "198.51.100.1"], sys)).toBe(0);
    expect(await main(["--verbose", "arp-add", "02:00:00:00:01:01", "198.51.100.1"], sys)).toBe(0);
    expect(sys.err).toContain("nothing to change for 198.51.100.1: 198.51.100.1 is outside the LAN subnets");
    expect(loggerCalls(sys)).toEqual([]);
  });

  test("with --verbose an event shows it too", async () => {
    const sys = router(mistyped);
    expect(await main(["--verbose", "add", "02:00:00:00:00:05", "192.168.1.5"], sys)).toBe(0);
    expect(sys.err).toContain("warning: lease file /tmp/dhcp.lease");
  });
});

describe("lan_subnet given alone", () => {
  const config = "\tlist lan_subnet '192.168.1.0/24'\n";
  const files = {
    "/proc/sys/kernel/hostname": "OpenWrt\n",
    // OpenWrt's add_local_hostname entry, a static host, and one at the network address
    "/tmp/hosts/dhcp.cfg01411c": "192.168.1.1 OpenWrt.lan OpenWrt\n192.168.1.50 nas.lan nas\n192.168.1.0 zero\n",
    "/etc/hosts": "192.168.1.2 gw2\n",
  };

  test("neither the router's own addresses (hosts files, ip addr) nor the network address become hosts", async () => {
    const sys = router(config, { files, commands: { "ip addr show": ok("2: wan: <UP>\n    inet 192.168.1.2/24 scope global wan\n") } });
    expect(await main(["print"], sys)).toBe(0);
    expect(sys.out).toContain("rx_nas.lan ");
    expect(sys.out).not.toContain("192.168.1.1 ");
    expect(sys.out).not.toContain("OpenWrt");
    expect(sys.out).not.toContain("gw2");
    expect(sys.out).not.toContain("zero");
    expect(sys.out).not.toMatch(/192\.168\.1\.0\b/);
  });

  test("events for them add nothing, and the reason is said", async () => {
    for (const ip of ["192.168.1.1", "192.168.1.0"]) {
      const sys = router(config, { files, commands: { "ip addr show": ok("") } });
      expect(await main(["arp-add", "02:00:00:00:00:07", ip], sys)).toBe(0);
      for (const c of nftApplies(sys)) expect(c.input).not.toContain(`${ip} `);
    }
    const lan: Lan = { subnets: [parseSubnet("192.168.1.0/24")!, parseSubnet("fd00::/64")!], own: new Set(["192.168.1.1"]), ipv6: true, warnings: [] };
    const why = (a: string) => notLanReason(lan, parseAddress(a)!);
    expect(why("192.168.1.1")).toBe("192.168.1.1 is the router's own address");
    expect(why("192.168.1.0")).toBe("192.168.1.0 is the network address of 192.168.1.0/24");
    expect(why("fd00::")).toBe("fd00:: is the network address of fd00::/64");
    expect(why("192.168.1.2")).toBeNull();
    expect(why("fd00::1")).toBeNull();
  });
});

describe("no source can hold the lock for long", () => {
  test("every `ip` run for the sources has a time limit", async () => {
    const sys = router("");
    expect(await main(["init"], sys)).toBe(0);
    const ip = sys.calls.filter((c) => c.cmd === "ip");
    expect(ip.length).toBeGreaterThan(0);
    for (const c of ip) expect(c.timeoutMs).toBeLessThanOrEqual(DEFAULTS.sourceTimeoutMs);
  });

  test("a command that takes too long is killed, and the result says so", () => {
    const t0 = Date.now();
    const r = realSys.run("sleep", ["10"], undefined, { timeoutMs: 200 });
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(r.code).toBeGreaterThan(128);
    expect(r.stderr).toStartWith("sleep: timed out after 200 ms");
  });

  test("one that ignores SIGTERM is killed all the same at its time limit, not waited for", () => {
    const t0 = Date.now();
    const r = realSys.run("sh", ["-c", "trap '' TERM; sleep 5; exit 0"], undefined, { timeoutMs: 300 });
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(r.code).toBe(128 + 9);
    expect(r.stderr).toStartWith("sh: timed out after 300 ms");
  });

  test("reading a FIFO returns at once with an error, whether or not a writer is there", () => {
    const t0 = Date.now();
    expect(() => realSys.readFile(fifo)).toThrow(FileError);
    expect(Date.now() - t0).toBeLessThan(1000);
  });
});

describe("option table 'counter' (an nft keyword)", () => {
  test("exit 2 with file, line and option; nft never runs", async () => {
    const sys = router("\toption table 'counter'\n");
    expect(await main(["init"], sys)).toBe(2);
    expect(sys.err).toStartWith("iptmon: cannot read /etc/config/iptmon:3: option 'table' is a word of nft's syntax");
    expect(sys.calls.filter((c) => c.cmd === "nft")).toEqual([]);
  });
});

describe("unreadable files say why", () => {
  test("the real readFile: absent is null, a directory or FIFO is a FileError naming what it is", () => {
    expect(realSys.readFile(join(tmp, "none"))).toBeNull();
    expect(realSys.readFile(join(tmp, "none", "deeper"))).toBeNull();
    expect(() => realSys.readFile(join(tmp, "dir"))).toThrow("is a directory");
    expect(() => realSys.readFile(fifo)).toThrow("is a FIFO");
    writeFileSync(join(tmp, "f"), "x");
    expect(realSys.readFile(join(tmp, "f"))).toBe("x");
  });

  test("a third-party file that cannot be read is a warning, not an internal error", async () => {
    const sys = router("");
    const read = sys.readFile;
    sys.readFile = (p) => {
      if (p === "/etc/config/dhcp") throw new FileError(p, "permission denied");
      return read(p);
    };
    expect(await main(["init"], sys)).toBe(0);
    expect(sys.err).toContain("iptmon: warning: cannot read /etc/config/dhcp: permission denied");
    expect(sys.err).not.toContain("internal error");
  });

  test("--config naming a directory: exit 2, says it is a directory", async () => {
    const sys = router("");
    expect(await main(["status", "--config", join(tmp, "dir")], sys)).toBe(2);
    expect(sys.err).toStartWith(`iptmon: cannot read ${join(tmp, "dir")}: is a directory`);
  });
});

describe("a tool that cannot run says why", () => {
  const noexec = join(tmp, "nft-noexec");
  writeFileSync(noexec, "#!/bin/sh\nexit 0\n");
  chmodSync(noexec, 0o644);

  test("the real run: missing 127, not executable 126, killed by a signal 128+N", () => {
    expect(realSys.run(join(tmp, "missing"), [])).toMatchObject({ code: 127, stderr: `${join(tmp, "missing")}: not found` });
    expect(realSys.run(noexec, [])).toMatchObject({ code: 126, stderr: `${noexec}: cannot execute: permission denied` });
    const killed = realSys.run("sh", ["-c", "echo partial >&2; kill -9 $$"]);
    expect(killed.code).toBe(137);
    expect(killed.stderr).toBe("sh: killed by signal 9 (SIGKILL)\npartial\n");
  });

  test("a non-executable nft is not reported as missing", async () => {
    const sys = router(`\toption nft '${noexec}'\n`);
    const fake = sys.run;
    sys.run = (cmd, args, input, o) => (cmd === noexec ? realSys.run(cmd, args, input, o) : fake(cmd, args, input, o));
    expect(await main(["status"], sys)).toBe(1);
    expect(sys.err).toContain("cannot execute: permission denied");
    expect(sys.err).not.toContain("not found");
  });

  test("nft killed by a signal is reported as such", async () => {
    const sys = router("", { commands: { "nft -j list table inet iptmon": { code: 137, stdout: "", stderr: "nft: killed by signal 9 (SIGKILL)\n" } } });
    expect(await main(["status"], sys)).toBe(1);
    expect(sys.err).toContain("killed by signal 9 (SIGKILL)");
  });
});

describe("lock failures say what happened", () => {
  const lockError = (lockfile: string, timeoutMs = 1000): UserError => {
    try {
      realSys.lock(lockfile, timeoutMs)();
    } catch (e) {
      if (e instanceof UserError) return e;
      throw e;
    }
    throw new Error("the lock was taken");
  };

  test.each([
    [join(tmp, "dir"), "is a directory"],
    [join(tmp, "f", "iptmon.lock"), "a parent is not a directory"],
    [fifo, "is a FIFO, not a regular file"],
    ["/dev/full", "is a device, not a regular file"],
  ])("%s: %s, not 'another iptmon is still running'", (path, what) => {
    writeFileSync(join(tmp, "f"), "x");
    const e = lockError(path);
    expect(e.message).toBe(what);
    expect(e.hint).toContain("set option lockfile");
  });

  test("through the pipeline: one line naming the lock, the cause and its own hint", async () => {
    const sys = router(`\toption lockfile '${join(tmp, "dir")}'\n`);
    sys.lock = realSys.lock;
    expect(await main(["init"], sys)).toBe(1);
    expect(sys.err).toBe(`iptmon: cannot take lock ${join(tmp, "dir")}: is a directory; hint: set option lockfile to a writable file path (default /var/run/iptmon.lock)\n`);
  });

  test("held by another process: says by which pid", () => {
    const path = join(tmp, "held.lock");
    const release = realSys.lock(path, 1000);
    try {
      const e = lockError(path, 30);
      expect(e.message).toBe(`still held by pid ${process.pid} after 30 ms`);
      expect(e.hint).toContain("another iptmon is still running");
    } finally {
      release();
    }
  });
});

describe("echoed input is capped", () => {
  const long = "x".repeat(10_000);
  const run = async (argv: string[], config = "", sys?: Sys) => {
    const s = (sys as FakeSys | undefined) ?? router(config);
    const code = await main(argv, s);
    return { code, err: s.err };
  };

  test.each([
    ["a 10,000-character MAC", ["add", long, "192.168.1.5"]],
    ["a 10,000-character address", ["add", "02:00:00:00:00:05", long]],
    ["a 10,000-character option", ["status", `--${long}`]],
    ["a 10,000-character command", [long]],
    ["a 10,000-character --config", ["status", "--config", `/${long}`]],
  ])("%s: a short error", async (_what, argv) => {
    const { code, err } = await run(argv as string[]);
    expect(code).toBe(2);
    expect(err.trimEnd().split("\n")).toHaveLength(1);
    expect(err.length).toBeLessThan(1200);
    expect(err).not.toContain("x".repeat(100));
  });

  test("a 1 MB option value: the error quotes a little of it", async () => {
    const { code, err } = await run(["init"], `\toption table '${"t".repeat(1 << 20)}'\n`);
    expect(code).toBe(2);
    expect(err).toContain("/etc/config/iptmon:3: option 'table'");
    expect(err.length).toBeLessThan(400);
  });

  test("an unknown 1 MB option name: the warning quotes a little of it", async () => {
    const { code, err } = await run(["print"], `\toption ${"o".repeat(1 << 20)} 'x'\n`);
    expect(code).toBe(0);
    expect(err).toContain("unknown option");
    expect(err.length).toBeLessThan(400);
  });
});
