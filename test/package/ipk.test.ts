/**
 * The .ipk files of `make ipk` (scripts/mkipk.ts), opened with the tar reader
 * of readers.ts (and cross-checked with GNU tar): layout, control fields,
 * modes and owners, no pax headers, the musl binary of the right machine, and
 * byte-for-byte reproducibility. Builds them first (make ipk, which needs
 * make dist-musl) when they are missing or older than their inputs.
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { ARCHS, CONFFILES, comparePaths, readPackageInfo, ROOT } from "../../scripts/mkipk.ts";
import { BUILD_TIMEOUT, makeTarget } from "./make.ts";
import { checkHeaders, type Entry, gunzipFixed, readTar } from "./readers.ts";

const DIST = join(ROOT, "dist");
const INFO = readPackageInfo();
const LUCI = readPackageInfo(ROOT, "luci/Makefile");
const ipkPath = (arch: string) => join(DIST, `iptmon_${INFO.version}-${INFO.release}_${arch}.ipk`);

function readelf(flag: string, file: string): string {
  const r = Bun.spawnSync(["readelf", flag, file], { stdout: "pipe", stderr: "pipe" });
  expect(r.exitCode).toBe(0);
  return r.stdout.toString();
}

const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

/** Newest mtime among the inputs of `make ipk`. */
function newestInput(): number {
  let newest = 0;
  const visit = (p: string) => {
    const st = statSync(p);
    if (st.isDirectory()) for (const f of readdirSync(p)) visit(join(p, f));
    else newest = Math.max(newest, st.mtimeMs);
  };
  for (const p of ["files", "openwrt", "luci", "scripts/mkipk.ts", "package.json", "dist/iptmon-x86_64-musl", "dist/iptmon-aarch64-musl"]) {
    try {
      visit(join(ROOT, p));
    } catch {
      return Infinity; // a binary is missing: make ipk builds it
    }
  }
  return newest;
}

const luciIpkPath = () => join(DIST, `luci-app-iptmon_${LUCI.version}-${LUCI.release}_all.ipk`);

function ipksFresh(): boolean {
  const inputs = newestInput();
  return [...Object.keys(ARCHS).map(ipkPath), luciIpkPath()].every((f) => {
    try {
      return statSync(f).mtimeMs >= inputs;
    } catch {
      return false;
    }
  });
}

interface Opened {
  outer: Entry[];
  control: Entry[];
  data: Entry[];
  bytes: Buffer;
}
const opened = new Map<string, Opened>();

beforeAll(() => {
  makeTarget("dist-musl"); // stale binaries would make stale packages look fresh
  if (!ipksFresh()) makeTarget("ipk");
  for (const arch of Object.keys(ARCHS)) {
    const bytes = readFileSync(ipkPath(arch));
    const outer = readTar(gunzipFixed(bytes));
    const get = (n: string) => outer.find((e) => e.name === n)!.data;
    opened.set(arch, { bytes, outer, control: readTar(gunzipFixed(get("./control.tar.gz"))), data: readTar(gunzipFixed(get("./data.tar.gz"))) });
  }
}, BUILD_TIMEOUT);

describe.each(Object.keys(ARCHS))("%s ipk", (arch) => {
  const cpu = ARCHS[arch]!;
  const o = () => opened.get(arch)!;

  test("outer layout: debian-binary first, then control.tar.gz and data.tar.gz", () => {
    const { outer } = o();
    checkHeaders([...outer].sort((a, b) => comparePaths(a.name, b.name)));
    expect(outer.map((e) => e.name)).toEqual(["./debian-binary", "./control.tar.gz", "./data.tar.gz"]);
    expect(outer[0]!.data.toString()).toBe("2.0\n");
    for (const e of outer) expect([e.type, e.mode]).toEqual(["0", 0o644]);
  });

  test("control: fields, conffiles, executable scripts", () => {
    const { control, data } = o();
    checkHeaders(control);
    expect(control.map((e) => e.name)).toEqual(["./", "./conffiles", "./control", "./postinst", "./postinst-pkg", "./postrm", "./prerm", "./prerm-pkg"]);
    const fields = new Map<string, string>();
    for (const line of control.find((e) => e.name === "./control")!.data.toString().split("\n")) {
      const m = /^([A-Za-z-]+): (.*)$/.exec(line);
      if (m) fields.set(m[1]!, m[2]!);
    }
    const installed = data.reduce((n, e) => n + e.data.length, 0);
    expect(Object.fromEntries(fields)).toEqual({
      Package: "iptmon",
      Version: `${INFO.version}-${INFO.release}`,
      Depends: "libc, libstdcpp, ip",
      Source: "feeds/iptmon/openwrt",
      License: "GPL-2.0-only",
      Section: "net",
      Architecture: arch,
      "Installed-Size": String(installed),
      Description: expect.stringContaining("Per-host bandwidth accounting") as unknown as string,
    });
    expect(control.find((e) => e.name === "./conffiles")!.data.toString()).toBe(`${CONFFILES.join("\n")}\n`);
    for (const e of control) {
      if (e.name === "./") expect([e.type, e.mode]).toEqual(["5", 0o755]);
      else if (/^\.\/(post|pre)/.test(e.name)) {
        expect(e.mode).toBe(0o755);
        expect(e.data.toString()).toStartWith("#!/bin/sh\n");
        expect(e.data.equals(readFileSync(join(ROOT, "openwrt/control", e.name.slice(2))))).toBe(true);
      } else expect(e.mode).toBe(0o644);
    }
  });

  test("data: every directory, root-owned, modes, files/ verbatim", () => {
    const { data } = o();
    checkHeaders(data);
    const names = new Set(data.map((e) => e.name));
    for (const e of data) {
      const parent = e.name.replace(/[^/]+\/?$/, "");
      if (e.name !== "./") expect(names.has(parent)).toBe(true);
      if (e.type === "5") expect([e.name.endsWith("/"), e.mode]).toEqual([true, 0o755]);
    }
    expect(names.has("./")).toBe(true);
    const mode = (n: string) => data.find((e) => e.name === n)?.mode;
    expect(mode("./usr/sbin/iptmon")).toBe(0o755);
    expect(mode("./etc/init.d/iptmon")).toBe(0o755);
    expect(mode("./etc/uci-defaults/90-iptmon")).toBe(0o755);
    expect(mode("./usr/lib/iptmon/dhcp-script.sh")).toBe(0o755);
    expect(mode("./usr/lib/iptmon/firewall.include")).toBe(0o755);
    expect(mode("./etc/hotplug.d/dhcp/90-iptmon")).toBe(0o644);
    expect(mode("./etc/hotplug.d/neigh/90-iptmon")).toBe(0o644);
    expect(mode("./etc/config/iptmon")).toBe(0o600);
    // Everything in files/ is there, byte for byte, and nothing else but the binary.
    const want = new Map<string, Buffer>();
    const walk = (dir: string, rel: string) => {
      for (const f of readdirSync(dir)) {
        if (/(^\.|~$|\.orig$|\.rej$|\.swp$)/.test(f)) continue;
        const p = join(dir, f);
        if (statSync(p).isDirectory()) walk(p, `${rel}${f}/`);
        else want.set(`${rel}${f}`, readFileSync(p));
      }
    };
    walk(join(ROOT, "files"), "./");
    const files = data.filter((e) => e.type === "0" && e.name !== "./usr/sbin/iptmon");
    expect(files.map((e) => e.name).sort()).toEqual([...want.keys()].sort());
    for (const e of files) {
      expect(e.data.equals(want.get(e.name)!)).toBe(true);
      const executable = (statSync(join(ROOT, "files", e.name)).mode & 0o111) !== 0;
      if (e.name !== "./etc/config/iptmon") expect(e.mode).toBe(executable ? 0o755 : 0o644);
    }
  });

  test(`the binary is dist/iptmon-${cpu}-musl: ${cpu} ELF, musl interpreter, needs libstdc++`, () => {
    const bin = o().data.find((e) => e.name === "./usr/sbin/iptmon")!.data;
    expect(sha256(bin)).toBe(sha256(readFileSync(join(DIST, `iptmon-${cpu}-musl`))));
    const dir = mkdtempSync(join(tmpdir(), "iptmon-ipk-"));
    try {
      const f = join(dir, "iptmon");
      writeFileSync(f, bin);
      expect(readelf("-h", f)).toMatch(cpu === "x86_64" ? /Machine:\s+Advanced Micro Devices X86-64/ : /Machine:\s+AArch64/);
      expect(readelf("-l", f)).toContain(`[Requesting program interpreter: /lib/ld-musl-${cpu}.so.1]`);
      const needed = [...readelf("-d", f).matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]);
      expect(needed).toContain("libstdc++.so.6");
      // musl's loader takes any libc.* as itself; anything else must come from a package.
      expect(needed.filter((n) => n !== "libstdc++.so.6" && !n!.startsWith("libc."))).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

test("GNU tar reads every layer without complaint", () => {
  const dir = mkdtempSync(join(tmpdir(), "iptmon-ipk-"));
  try {
    const ipk = ipkPath("x86_64");
    const outer = Bun.spawnSync(["tar", "-xzf", ipk, "-C", dir], { stderr: "pipe" });
    expect([outer.exitCode, outer.stderr.toString()]).toEqual([0, ""]);
    for (const inner of ["control.tar.gz", "data.tar.gz"]) {
      const r = Bun.spawnSync(["tar", "-tvzf", join(dir, inner)], { stdout: "pipe", stderr: "pipe" });
      expect([r.exitCode, r.stderr.toString()]).toEqual([0, ""]);
      for (const line of r.stdout.toString().trim().split("\n")) expect(line).toContain(" root/root ");
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("reproducible: a second build of the same inputs gives the same bytes", () => {
  // Same SOURCE_DATE_EPOCH as the first build (read back from it), so a commit
  // landing in between changes nothing.
  const mtime = readTar(gunzipSync(opened.get("x86_64")!.bytes))[0]!.mtime;
  const out = mkdtempSync(join(tmpdir(), "iptmon-ipk-"));
  try {
    const archs = ["x86_64", "aarch64_cortex-a53"];
    const r = Bun.spawnSync([join(ROOT, "node_modules/.bin/bun"), "scripts/mkipk.ts", "--out", out, ...archs.flatMap((a) => ["--arch", a])], {
      cwd: ROOT,
      env: { ...process.env, SOURCE_DATE_EPOCH: String(mtime) },
      stdout: "pipe",
      stderr: "pipe",
    });
    expect(r.exitCode).toBe(0);
    for (const a of archs) {
      const again = readFileSync(join(out, `iptmon_${INFO.version}-${INFO.release}_${a}.ipk`));
      expect(sha256(again)).toBe(sha256(opened.get(a)!.bytes));
    }
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}, 120_000);

test("make ipk also writes luci-app-iptmon_<version>-<release>_all.ipk, the same bytes as building it alone", () => {
  // Its contents are checked in luci-app.test.ts.
  const mtime = readTar(gunzipSync(opened.get("x86_64")!.bytes))[0]!.mtime;
  const out = mkdtempSync(join(tmpdir(), "iptmon-ipk-"));
  try {
    const r = Bun.spawnSync([join(ROOT, "node_modules/.bin/bun"), "scripts/mkipk.ts", "--out", out, "--package", "luci-app-iptmon"], {
      cwd: ROOT,
      env: { ...process.env, SOURCE_DATE_EPOCH: String(mtime) },
      stderr: "pipe",
    });
    expect([r.exitCode, r.stderr.toString()]).toEqual([0, ""]);
    expect(readdirSync(out)).toEqual([`luci-app-iptmon_${LUCI.version}-${LUCI.release}_all.ipk`]);
    expect(sha256(readFileSync(join(out, readdirSync(out)[0]!)))).toBe(sha256(readFileSync(luciIpkPath())));
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

test("every entry carries the build's fixed time", () => {
  const times = new Set<number>();
  for (const { outer, control, data } of opened.values()) for (const e of [...outer, ...control, ...data]) times.add(e.mtime);
  expect(times.size).toBe(1);
});
