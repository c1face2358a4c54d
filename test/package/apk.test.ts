/**
 * The .apk files of `make apk` (scripts/mkapk.ts), read back by the parser of
 * the apk-tools v3 format in readers.ts (written from its documentation,
 * apk-v3(5) and apk-package(5), sharing no code with the writer): the compression header,
 * every block's type, size, padding and 8-byte alignment, the ADB header, every
 * value's type, bounds and alignment, the package schema, the info fields,
 * the directories and files with modes, owners, sizes, times and SHA-256
 * hashes checked against the DATA blocks and against files/ and the binary,
 * the scripts (shellcheck and busybox sh -n), OpenWrt's /lib/apk/packages
 * files, a golden of the control data, the same file list and modes as the
 * ipk, and byte-for-byte reproducibility.
 *
 * With IPTMON_APK set to an apk-tools v3 binary, one more test installs,
 * upgrades and removes the package with it in a scratch root (the CI machine
 * has no apk-tools: that test is then counted as skipped).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT } from "../../scripts/mkipk.ts";
import { BUILD_TIMEOUT, makeTarget } from "./make.ts";
import { type ApkFile, num, type Parsed, readApk, str } from "./readers.ts";

const BUN = join(ROOT, "node_modules/.bin/bun");
const GOLDEN = join(ROOT, "test/package/golden/apk-control.txt");
const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

// What the package must say, read from the sources (not from the writer).
const VERSION = (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string }).version;
const RELEASE = /^PKG_RELEASE:=(\d+)$/m.exec(readFileSync(join(ROOT, "openwrt/Makefile"), "utf8"))![1]!;
const APK_VERSION = `${VERSION}-r${RELEASE}`;
const ARCHS = { x86_64: "x86_64", "aarch64_cortex-a53": "aarch64" } as const;
type Arch = keyof typeof ARCHS;

let out: string;
const parsed = new Map<Arch, Parsed>();
const bytes = new Map<Arch, Buffer>();
const apkPath = (dir: string, arch: string) => join(dir, `iptmon-${APK_VERSION}_${arch}.apk`);
let epoch = 0;

function mkapk(dir: string, archs: string[], env: Record<string, string> = {}, root = ROOT) {
  const r = Bun.spawnSync([BUN, join(ROOT, "scripts/mkapk.ts"), "--out", dir, "--dist", join(ROOT, "dist"), ...archs.flatMap((a) => ["--arch", a])], {
    cwd: root,
    env: { ...process.env, ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
  if (r.exitCode !== 0) throw new Error(`mkapk failed: ${r.stderr.toString()}`);
}

beforeAll(() => {
  makeTarget("dist-musl");
  out = mkdtempSync(join(tmpdir(), "iptmon-apk-"));
  const git = Bun.spawnSync(["git", "-C", ROOT, "log", "-1", "--format=%ct"], { stdout: "pipe" });
  epoch = Number(git.stdout.toString().trim()) || 0;
  mkapk(out, Object.keys(ARCHS), { SOURCE_DATE_EPOCH: String(epoch) });
  for (const arch of Object.keys(ARCHS) as Arch[]) {
    const b = readFileSync(apkPath(out, arch));
    bytes.set(arch, b);
    parsed.set(arch, readApk(b));
  }
}, BUILD_TIMEOUT);

afterAll(() => rmSync(out, { recursive: true, force: true }));

/** files/ as the package must hold it: path → contents and mode (0600 config, else 0755/0644 by the exec bit). */
function expectedFiles(cpu: string): Map<string, { data: Buffer; mode: number }> {
  const want = new Map<string, { data: Buffer; mode: number }>();
  const walk = (dir: string, rel: string) => {
    for (const f of readdirSync(dir)) {
      if (/(^\.|~$|\.orig$|\.rej$|\.swp$)/.test(f)) continue;
      const p = join(dir, f);
      const st = statSync(p);
      if (st.isDirectory()) walk(p, `${rel}/${f}`);
      else want.set(`${rel}/${f}`, { data: readFileSync(p), mode: `${rel}/${f}` === "/etc/config/iptmon" ? 0o600 : st.mode & 0o111 ? 0o755 : 0o644 });
    }
  };
  walk(join(ROOT, "files"), "");
  want.set("/usr/sbin/iptmon", { data: readFileSync(join(ROOT, `dist/iptmon-${cpu}-musl`)), mode: 0o755 });
  return want;
}

const META = ["/lib/apk/packages/iptmon.conffiles", "/lib/apk/packages/iptmon.conffiles_static", "/lib/apk/packages/iptmon.list"];

describe.each(Object.keys(ARCHS) as Arch[])("%s apk", (arch) => {
  const p = () => parsed.get(arch)!;

  test("ADB header: compat version 0, version 0; one unsigned ADB block, then DATA blocks", () => {
    expect(p().header).toEqual({ compat: 0, version: 0 });
    expect(p().blocks.filter((b) => b.type === 0)).toHaveLength(1);
  });

  test("info: name, version, arch, license, origin, depends, installed size, unique id", () => {
    const { info, files, adbBlock } = p();
    expect(str(info.name)).toBe("iptmon");
    expect(str(info.version)).toBe(APK_VERSION);
    expect(APK_VERSION).toMatch(/^\d+\.\d+\.\d+-r\d+$/); // apk refuses 0.1.0-1
    expect(str(info.arch)).toBe(arch);
    expect(str(info.license)).toBe("GPL-2.0-only");
    expect(str(info.origin)).toBe("feeds/iptmon/openwrt");
    expect(str(info.description)).toContain("Per-host bandwidth accounting");
    expect(str(info.description)).not.toContain("\n"); // one line
    expect(p().depends).toEqual(["ip", "libc", "libstdcpp"]); // the ipk's Depends, sorted as apk keeps them
    expect(num(info["installed-size"])).toBe(files.reduce((n, f) => n + f.size, 0));
    // hashes: 20 bytes, the start of the SHA-256 of the ADB block with those bytes zeroed
    const id = info.hashes as Buffer;
    expect(id.length).toBe(20);
    const at = adbBlock.indexOf(id);
    const zeroed = Buffer.from(adbBlock);
    zeroed.fill(0, at, at + 20);
    expect(createHash("sha256").update(zeroed).digest().subarray(0, 20).equals(id)).toBe(true);
  });

  test("paths: every directory root:root 0755 with its parent, sorted; files sorted, root-owned", () => {
    const { dirs, files } = p();
    const names = dirs.map((d) => d.name);
    expect(names).toEqual([...names].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))));
    expect(names[0]).toBe("");
    for (const d of dirs) {
      expect([d.name, d.mode.toString(8), d.user, d.group]).toEqual([d.name, "755", "root", "root"]);
      if (d.name) expect(names).toContain(d.name.includes("/") ? d.name.slice(0, d.name.lastIndexOf("/")) : "");
    }
    for (const dir of names) {
      const inDir = files.filter((f) => f.dir === dir).map((f) => f.name);
      expect(inDir).toEqual([...inDir].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))));
    }
    for (const f of files) expect([f.path, f.user, f.group, f.mtime]).toEqual([f.path, "root", "root", epoch]);
  });

  test("files: files/ and the binary, byte for byte (SHA-256), modes as the ipk", () => {
    const want = expectedFiles(ARCHS[arch]);
    const got = p().files.filter((f) => !META.includes(f.path));
    expect(got.map((f) => f.path).sort()).toEqual([...want.keys()].sort());
    for (const f of got) {
      const w = want.get(f.path)!;
      expect([f.path, f.mode.toString(8), f.size, f.hash]).toEqual([f.path, w.mode.toString(8), w.data.length, sha256(w.data)]);
    }
  });

  test("DATA blocks: one per non-empty file, in file-list order, each matching its size and hash", () => {
    const { dirs, files, data } = p();
    const order: [number, number, ApkFile][] = [];
    dirs.forEach((d, i) => {
      files.filter((f) => f.dir === d.name).forEach((f, j) => order.push([i + 1, j + 1, f]));
    });
    const nonEmpty = order.filter(([, , f]) => f.size > 0);
    expect(data.map((d) => [d.dirIdx, d.fileIdx])).toEqual(nonEmpty.map(([i, j]) => [i, j]));
    data.forEach((d, k) => {
      const f = nonEmpty[k]![2];
      expect([f.path, d.contents.length, sha256(d.contents)]).toEqual([f.path, f.size, f.hash!]);
    });
  });

  test("OpenWrt's /lib/apk/packages: .list of every other file, .conffiles, .conffiles_static with its hash", () => {
    const { files, data, dirs } = p();
    const content = (path: string) => {
      const f = files.find((x) => x.path === path)!;
      const i = dirs.findIndex((d) => d.name === f.dir) + 1;
      const j = files.filter((x) => x.dir === f.dir).indexOf(f) + 1;
      return data.find((d) => d.dirIdx === i && d.fileIdx === j)!.contents.toString("utf8");
    };
    const others = files.map((f) => f.path).filter((x) => !META.includes(x));
    expect(content("/lib/apk/packages/iptmon.list")).toBe(`${others.sort().join("\n")}\n`);
    expect(content("/lib/apk/packages/iptmon.conffiles")).toBe("/etc/config/iptmon\n");
    const conf = files.find((f) => f.path === "/etc/config/iptmon")!;
    expect(content("/lib/apk/packages/iptmon.conffiles_static")).toBe(`/etc/config/iptmon ${conf.hash}\n`);
    for (const m of META) expect(files.find((f) => f.path === m)!.mode).toBe(0o644);
  });

  test("scripts: post-install, post-upgrade (PKG_UPGRADE=1), pre-deinstall, post-deinstall from openwrt/control", () => {
    const { scripts } = p();
    expect(Object.keys(scripts).sort()).toEqual(["post-deinstall", "post-install", "post-upgrade", "pre-deinstall"]);
    const bodyOf = (f: string) =>
      readFileSync(join(ROOT, "openwrt/control", f), "utf8")
        .split("\n")
        .filter((l) => !l.startsWith("#!"))
        .join("\n");
    for (const s of Object.values(scripts)) expect(s).toStartWith("#!/bin/sh\n");
    expect(scripts["post-install"]).toContain("default_postinst");
    expect(scripts["post-install"]).toEndWith(bodyOf("postinst-pkg"));
    expect(scripts["post-upgrade"]).toStartWith("#!/bin/sh\nexport PKG_UPGRADE=1\n");
    expect(scripts["post-upgrade"]).toEndWith(bodyOf("postinst-pkg"));
    expect(scripts["pre-deinstall"]).toContain("default_prerm");
    expect(scripts["pre-deinstall"]).toEndWith(bodyOf("prerm-pkg"));
    expect(scripts["post-deinstall"]).toBe(readFileSync(join(ROOT, "openwrt/control/postrm"), "utf8"));
  });
});

/**
 * The control data as text: the info fields and the scripts. The file list,
 * modes, sizes and hashes are checked against files/ above, not pinned here
 * (files/ grows, the web page's files are built, the binary follows bun).
 */
function controlDump(q: Parsed): string {
  const lines: string[] = [];
  for (const [k, v] of Object.entries(q.info)) {
    if (k === "hashes" || k === "installed-size" || k === "depends") continue;
    lines.push(`info ${k}: ${str(v) ?? v}`);
  }
  lines.push(`info depends: ${q.depends.join(" ")}`);
  for (const [k, v] of Object.entries(q.scripts)) lines.push(`script ${k}:`, ...v.trimEnd().split("\n").map((l) => `  ${l}`));
  return `${lines.join("\n")}\n`;
}

test("golden control data (IPTMON_UPDATE_GOLDEN=1 rewrites it for review); the aarch64 package differs only in arch", () => {
  const x86 = controlDump(parsed.get("x86_64")!);
  if (process.env.IPTMON_UPDATE_GOLDEN === "1") {
    mkdirSync(join(ROOT, "test/package/golden"), { recursive: true });
    writeFileSync(GOLDEN, x86);
  }
  expect(x86).toBe(readFileSync(GOLDEN, "utf8"));
  expect(controlDump(parsed.get("aarch64_cortex-a53")!)).toBe(x86.replace("info arch: x86_64", "info arch: aarch64_cortex-a53"));
});

/** Runs `fn` with a fresh temp dir (`<prefix>…`), removed afterwards whatever happened. */
function withTempDir(prefix: string, fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  try {
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test("the scripts pass shellcheck --shell=sh and busybox sh -n", () => {
  withTempDir("iptmon-apk-sh-", (dir) => {
    for (const [k, v] of Object.entries(parsed.get("x86_64")!.scripts)) {
      const f = join(dir, k);
      writeFileSync(f, v);
      const sc = Bun.spawnSync(["shellcheck", "--shell=sh", f], { stdout: "pipe", stderr: "pipe" });
      expect([k, sc.exitCode, sc.stdout.toString()]).toEqual([k, 0, ""]);
      const bb = Bun.spawnSync(["busybox", "sh", "-n", f], { stderr: "pipe" });
      expect([k, bb.exitCode, bb.stderr.toString()]).toEqual([k, 0, ""]);
    }
  });
});

test("the ipk and the apk carry the same files and directories with the same modes", () => {
  withTempDir("iptmon-apk-ipk-", (dir) => {
    const mk = Bun.spawnSync([BUN, join(ROOT, "scripts/mkipk.ts"), "--out", dir, "--arch", "x86_64"], { cwd: ROOT, stderr: "pipe" });
    expect([mk.exitCode, mk.stderr.toString()]).toEqual([0, ""]);
    const ipk = join(dir, `iptmon_${VERSION}-${RELEASE}_x86_64.ipk`);
    expect(Bun.spawnSync(["tar", "-xzf", ipk, "-C", dir]).exitCode).toBe(0);
    const r = Bun.spawnSync(["tar", "-tvzf", join(dir, "data.tar.gz")], { stdout: "pipe" });
    const perm = (s: string) => {
      let m = 0;
      for (let i = 0; i < 9; i++) if (s[i] !== "-") m |= 1 << (8 - i);
      return m;
    };
    const fromIpk = r.stdout
      .toString()
      .trim()
      .split("\n")
      .map((l) => {
        const name = l.split(/\s+/).pop()!.replace(/^\./, "").replace(/\/$/, "") || "/";
        return `${l[0] === "d" ? "d" : "f"} ${name} ${perm(l.slice(1, 10)).toString(8)}`;
      })
      .sort();
    const a = parsed.get("x86_64")!;
    const apkOnly = new Set(["/lib", "/lib/apk", "/lib/apk/packages", ...META]);
    const fromApk = [
      ...a.dirs.map((d) => `d /${d.name} ${d.mode.toString(8)}`),
      ...a.files.filter((f) => !apkOnly.has(f.path)).map((f) => `f ${f.path} ${f.mode.toString(8)}`),
    ]
      .filter((l) => !apkOnly.has(l.split(" ")[1]!))
      .sort();
    expect(fromApk).toEqual(fromIpk);
  });
}, BUILD_TIMEOUT);

test("mkapk also writes luci-app-iptmon-<version>-r<release>.apk (noarch), and nothing else", () => {
  // Its contents are checked in luci-app.test.ts.
  const luci = /^PKG_RELEASE:=(\d+)$/m.exec(readFileSync(join(ROOT, "luci/Makefile"), "utf8"))![1]!;
  expect(readdirSync(out).sort()).toEqual([...Object.keys(ARCHS).map((a) => `iptmon-${APK_VERSION}_${a}.apk`), `luci-app-iptmon-${VERSION}-r${luci}.apk`].sort());
  expect(str(readApk(readFileSync(join(out, `luci-app-iptmon-${VERSION}-r${luci}.apk`))).info.arch)).toBe("noarch");
});

test("reproducible: a second build of the same inputs gives the same bytes", () => {
  withTempDir("iptmon-apk-", (again) => {
    mkapk(again, ["x86_64"], { SOURCE_DATE_EPOCH: String(epoch) });
    expect(sha256(readFileSync(apkPath(again, "x86_64")))).toBe(sha256(bytes.get("x86_64")!));
  });
}, BUILD_TIMEOUT);

test("make apk refuses an unknown architecture and a missing binary, writing nothing", () => {
  withTempDir("iptmon-apk-", (empty) => {
    const bad = Bun.spawnSync([BUN, join(ROOT, "scripts/mkapk.ts"), "--out", empty, "--arch", "mips"], { cwd: ROOT, stderr: "pipe" });
    expect(bad.exitCode).toBe(1);
    expect(bad.stderr.toString()).toStartWith("mkapk: unknown architecture mips");
    const nobin = Bun.spawnSync([BUN, join(ROOT, "scripts/mkapk.ts"), "--out", empty, "--dist", join(empty, "nowhere"), "--arch", "x86_64"], { cwd: ROOT, stderr: "pipe" });
    expect(nobin.exitCode).toBe(1);
    expect(nobin.stderr.toString()).toContain("iptmon-x86_64-musl");
    expect(readdirSync(empty)).toEqual([]);
  });
});

// ------------------------------------------------------------------ with a real apk-tools v3, where there is one

const APK = process.env.IPTMON_APK;
// scripts/run-tests lists the reasons for skips printed like this.
if (!APK) console.warn("e2e skip: apk-tools: IPTMON_APK is not set (no apk-tools v3 here): the real add/upgrade/del test is skipped");

test.skipIf(!APK)("apk-tools v3 (IPTMON_APK): add --allow-untrusted, upgrade, del into a scratch root; one dnsmasq restart for add and for del, none for the upgrade", () => {
  withTempDir("iptmon-apkroot-", (t) => {
    const root = join(t, "root");
    // A root where the scripts can run: busybox sh, and a dnsmasq init script that logs.
    for (const d of ["bin", "etc/init.d", "tmp", "stubs"]) mkdirSync(join(t, d === "stubs" ? d : `root/${d}`), { recursive: true });
    const bb = Bun.spawnSync(["sh", "-c", "command -v busybox"], { stdout: "pipe" }).stdout.toString().trim();
    copyFileSync(bb, join(root, "bin/busybox"));
    chmodSync(join(root, "bin/busybox"), 0o755);
    const ldd = Bun.spawnSync(["ldd", bb], { stdout: "pipe" }).stdout.toString();
    for (const lib of ldd.matchAll(/(\/\S+\.so[.\d]*)/g)) cpSync(lib[1]!, join(root, lib[1]!), { dereference: true });
    for (const a of ["sh", "logger"]) Bun.spawnSync(["ln", "-s", "busybox", join(root, "bin", a)]);
    writeFileSync(join(root, "etc/init.d/dnsmasq"), '#!/bin/sh\necho "dnsmasq $*" >> /tmp/dnsmasq.log\n');
    chmodSync(join(root, "etc/init.d/dnsmasq"), 0o755);
    const run = (args: string[]) => {
      const r = Bun.spawnSync([APK!, "--root", root, "--allow-untrusted", "--no-network", "--no-cache", ...args], { cwd: t, stdout: "pipe", stderr: "pipe" });
      return { code: r.exitCode, out: r.stdout.toString() + r.stderr.toString() };
    };
    // The dependencies, as empty packages.
    for (const d of ["libc", "libstdcpp", "ip"]) {
      const r = Bun.spawnSync([APK!, "mkpkg", "--info", `name:${d}`, "--info", "version:1-r0", "--info", "arch:x86_64", "--output", join(t, "stubs", `${d}.apk`)]);
      expect(r.exitCode).toBe(0);
    }
    const restarts = () => {
      const log = join(root, "tmp/dnsmasq.log");
      const n = existsSync(log) ? readFileSync(log, "utf8").trim().split("\n").length : 0;
      rmSync(log, { force: true });
      return n;
    };
    const added = run(["--initdb", "--arch", "x86_64", "add", ...["libc", "libstdcpp", "ip"].map((d) => join(t, "stubs", `${d}.apk`)), apkPath(out, "x86_64")]);
    expect(added).toEqual({ code: 0, out: expect.not.stringContaining("ERROR") as unknown as string });
    expect(readFileSync(join(root, "usr/sbin/iptmon")).equals(readFileSync(join(ROOT, "dist/iptmon-x86_64-musl")))).toBe(true);
    expect(statSync(join(root, "etc/config/iptmon")).mode & 0o7777).toBe(0o600);
    expect(restarts()).toBe(1);
    // A local change to the config survives the upgrade and the removal.
    writeFileSync(join(root, "etc/config/iptmon"), `${readFileSync(join(root, "etc/config/iptmon"), "utf8")}# local\n`);
    // An upgrade: the same package as release +1.
    const src = join(t, "src");
    mkdirSync(src);
    for (const f of ["files", "openwrt", "scripts", "package.json"]) cpSync(join(ROOT, f), join(src, f), { recursive: true });
    const mk = join(src, "openwrt/Makefile");
    writeFileSync(mk, readFileSync(mk, "utf8").replace(/^PKG_RELEASE:=(\d+)$/m, (_, n: string) => `PKG_RELEASE:=${Number(n) + 1}`));
    const up = join(t, "up");
    const r2 = Bun.spawnSync([BUN, join(src, "scripts/mkapk.ts"), "--out", up, "--dist", join(ROOT, "dist"), "--arch", "x86_64"], {
      cwd: src,
      env: { ...process.env, SOURCE_DATE_EPOCH: String(epoch) },
      stderr: "pipe",
    });
    expect(r2.exitCode).toBe(0);
    const upgraded = run(["add", readdirSync(up).map((f) => join(up, f))[0]!]);
    expect(upgraded.code).toBe(0);
    expect(upgraded.out).toContain(`Upgrading iptmon (${APK_VERSION} -> ${VERSION}-r${Number(RELEASE) + 1})`);
    expect(restarts()).toBe(0); // the wrappers stay in place: no restart on an upgrade
    expect(readFileSync(join(root, "etc/config/iptmon"), "utf8")).toEndWith("# local\n");
    const removed = run(["del", "iptmon"]);
    expect(removed.code).toBe(0);
    expect(existsSync(join(root, "usr/sbin/iptmon"))).toBe(false);
    expect(existsSync(join(root, "lib/apk/packages/iptmon.list"))).toBe(false);
    expect(readFileSync(join(root, "etc/config/iptmon"), "utf8")).toEndWith("# local\n");
    expect(restarts()).toBe(1);
  });
}, BUILD_TIMEOUT);
