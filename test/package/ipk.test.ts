/**
 * The .ipk files of `make ipk` (scripts/mkipk.ts), opened with a tar reader
 * written here (and cross-checked with GNU tar): layout, control fields,
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

const DIST = join(ROOT, "dist");
const INFO = readPackageInfo();
const ipkPath = (arch: string) => join(DIST, `iptmon_${INFO.version}-${INFO.release}_${arch}.ipk`);

interface Entry {
  name: string;
  type: string;
  mode: number;
  uid: number;
  gid: number;
  uname: string;
  gname: string;
  mtime: number;
  magic: string;
  data: Buffer;
}

const str = (b: Buffer, off: number, len: number) => {
  const s = b.subarray(off, off + len);
  const nul = s.indexOf(0);
  return s.subarray(0, nul < 0 ? len : nul).toString("utf8");
};
const oct = (b: Buffer, off: number, len: number) => Number.parseInt(str(b, off, len).trim() || "0", 8);

/** Reads a tar archive; checks every header's checksum on the way. */
function readTar(buf: Buffer): Entry[] {
  const out: Entry[] = [];
  let off = 0;
  while (off + 512 <= buf.length) {
    const h = buf.subarray(off, off + 512);
    if (h.every((x) => x === 0)) break;
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : h[i]!;
    expect(oct(h, 148, 8)).toBe(sum);
    const size = oct(h, 124, 12);
    const prefix = str(h, 345, 155);
    const name = str(h, 0, 100);
    out.push({
      name: prefix ? `${prefix}/${name}` : name,
      type: String.fromCharCode(h[156]!),
      mode: oct(h, 100, 8),
      uid: oct(h, 108, 8),
      gid: oct(h, 116, 8),
      uname: str(h, 265, 32),
      gname: str(h, 297, 32),
      mtime: oct(h, 136, 12),
      magic: h.subarray(257, 265).toString("latin1"),
      data: Buffer.from(buf.subarray(off + 512, off + 512 + size)),
    });
    off += 512 + Math.ceil(size / 512) * 512;
  }
  return out;
}

/** gunzip, after checking the header is the fixed one (mtime 0, OS Unix). */
function gunzipFixed(buf: Buffer): Buffer {
  expect([...buf.subarray(0, 4)]).toEqual([0x1f, 0x8b, 8, 0]);
  expect(buf.readUInt32LE(4)).toBe(0);
  expect(buf[9]).toBe(3);
  return gunzipSync(buf);
}

function checkHeaders(entries: Entry[]): void {
  for (const e of entries) {
    expect(e.magic).toBe("ustar\u000000"); // POSIX ustar: no GNU or pax extensions
    expect(["0", "5"]).toContain(e.type); // no pax 'x'/'g', no GNU 'L'/'K'
    expect([e.uid, e.gid, e.uname, e.gname]).toEqual([0, 0, "root", "root"]);
  }
  const names = entries.map((e) => e.name);
  expect(names).toEqual([...names].sort(comparePaths));
}

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
  for (const p of ["files", "openwrt", "scripts/mkipk.ts", "package.json", "dist/iptmon-x86_64-musl", "dist/iptmon-aarch64-musl"]) {
    try {
      visit(join(ROOT, p));
    } catch {
      return Infinity; // a binary is missing: make ipk builds it
    }
  }
  return newest;
}

function ipksFresh(): boolean {
  const inputs = newestInput();
  return Object.keys(ARCHS).every((a) => {
    try {
      return statSync(ipkPath(a)).mtimeMs >= inputs;
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

test("every entry carries the build's fixed time", () => {
  const times = new Set<number>();
  for (const { outer, control, data } of opened.values()) for (const e of [...outer, ...control, ...data]) times.add(e.mtime);
  expect(times.size).toBe(1);
});
