/**
 * The .apk files of `make apk` (scripts/mkapk.ts), read back by a parser of
 * the apk-tools v3 format written here from its documentation (apk-v3(5),
 * apk-package(5)), sharing no code with the writer: the compression header,
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
import { inflateRawSync } from "node:zlib";
import { ROOT } from "../../scripts/mkipk.ts";
import { BUILD_TIMEOUT, makeTarget } from "./make.ts";

const BUN = join(ROOT, "node_modules/.bin/bun");
const GOLDEN = join(ROOT, "test/package/golden/apk-control.txt");
const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

// What the package must say, read from the sources (not from the writer).
const VERSION = (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string }).version;
const RELEASE = /^PKG_RELEASE:=(\d+)$/m.exec(readFileSync(join(ROOT, "openwrt/Makefile"), "utf8"))![1]!;
const APK_VERSION = `${VERSION}-r${RELEASE}`;
const ARCHS = { x86_64: "x86_64", "aarch64_cortex-a53": "aarch64" } as const;
type Arch = keyof typeof ARCHS;

// ------------------------------------------------------------------ the reader

/** A decoded ADB value. */
type Val = null | boolean | number | Buffer | Val[] | { obj: Val[] };

class Adb {
  readonly errors: string[] = [];
  constructor(readonly b: Buffer) {}

  private need(ok: boolean, what: string): void {
    if (!ok) throw new Error(`ADB: ${what}`);
  }

  /** Decodes the tagged u32 `tag`: type in the top 4 bits, value or offset in the low 28. */
  value(tag: number): Val {
    const type = tag >>> 28;
    const v = tag & 0x0fffffff;
    switch (type) {
      case 0x0:
        this.need(v <= 2, `special value ${v}`);
        return v === 0 ? null : v === 1;
      case 0x1:
        return v;
      case 0x2:
        this.need(v % 4 === 0 && v + 4 <= this.b.length, `int32 at ${v}`);
        return this.b.readUInt32LE(v);
      case 0x3:
        this.need(v % 4 === 0 && v + 8 <= this.b.length, `int64 at ${v}`);
        return Number(this.b.readBigUInt64LE(v));
      case 0x8:
      case 0x9:
      case 0xa: {
        const w = type === 0x8 ? 1 : type === 0x9 ? 2 : 4;
        this.need(v % w === 0 && v + w <= this.b.length, `blob length at ${v}`);
        const n = w === 1 ? this.b[v]! : w === 2 ? this.b.readUInt16LE(v) : this.b.readUInt32LE(v);
        this.need(v + w + n <= this.b.length, `blob of ${n} at ${v} runs past the block`);
        return Buffer.from(this.b.subarray(v + w, v + w + n));
      }
      case 0xd:
      case 0xe: {
        this.need(v % 4 === 0 && v + 4 <= this.b.length, `slots at ${v}`);
        const n = this.b.readUInt32LE(v);
        this.need(n >= 1 && v + 4 * n <= this.b.length, `${n} slots at ${v}`);
        const items: Val[] = [];
        for (let i = 1; i < n; i++) items.push(this.value(this.b.readUInt32LE(v + 4 * i)));
        return type === 0xd ? items : { obj: items };
      }
      default:
        throw new Error(`ADB: unknown value type ${type.toString(16)}`);
    }
  }
}

// Field names by slot (1-based), from apk-package(5) and the apk-v3(5) file schema.
const SCHEMA = {
  package: ["info", "paths", "scripts", "triggers", "replaces-priority"],
  info: [
    "name",
    "version",
    "hashes",
    "description",
    "arch",
    "license",
    "origin",
    "maintainer",
    "url",
    "repo-commit",
    "build-time",
    "installed-size",
    "file-size",
    "provider-priority",
    "depends",
    "provides",
    "replaces",
    "install-if",
    "recommends",
    "layer",
    "tags",
  ],
  dependency: ["name", "version", "match"],
  dir: ["name", "acl", "files"],
  file: ["name", "acl", "size", "mtime", "hash", "target"],
  acl: ["mode", "user", "group", "xattrs"],
  scripts: ["trigger", "pre-install", "post-install", "pre-deinstall", "post-deinstall", "pre-upgrade", "post-upgrade"],
} as const;

/** An object's slots by field name; a slot beyond the schema is an error. */
function fields(v: Val, schema: readonly string[], what: string): Record<string, Val> {
  if (v === null) return {};
  if (typeof v !== "object" || !("obj" in v)) throw new Error(`${what}: not an object`);
  if (v.obj.length > schema.length) throw new Error(`${what}: ${v.obj.length} slots, the schema has ${schema.length}`);
  const out: Record<string, Val> = {};
  v.obj.forEach((x, i) => {
    if (x !== null) out[schema[i]!] = x;
  });
  return out;
}
const arr = (v: Val | undefined, what: string): Val[] => {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new Error(`${what}: not an array`);
  return v;
};
const str = (v: Val | undefined): string | undefined => (Buffer.isBuffer(v) ? v.toString("utf8") : undefined);
const num = (v: Val | undefined): number | undefined => (typeof v === "number" ? v : undefined);

interface Block {
  type: number;
  offset: number;
  payload: Buffer;
}

interface ApkFile {
  dir: string;
  name: string;
  path: string;
  mode: number;
  user?: string;
  group?: string;
  size: number;
  mtime?: number;
  hash?: string;
}

interface Parsed {
  blocks: Block[];
  adbBlock: Buffer;
  header: { compat: number; version: number };
  info: Record<string, Val>;
  depends: string[];
  dirs: { name: string; mode: number; user?: string; group?: string }[];
  files: ApkFile[];
  scripts: Record<string, string>;
  /** DATA blocks: [path index, file index, contents]. */
  data: { dirIdx: number; fileIdx: number; contents: Buffer }[];
}

/** Reads an .apk: "ADBd" + raw deflate of "ADB." + schema + blocks. */
function readApk(file: Buffer): Parsed {
  expect(file.subarray(0, 4).toString("latin1")).toBe("ADBd");
  const raw = inflateRawSync(file.subarray(4));
  expect(raw.subarray(0, 4).toString("latin1")).toBe("ADB.");
  expect(raw.subarray(4, 8).toString("latin1")).toBe("pckg");
  const blocks: Block[] = [];
  let off = 8;
  while (off < raw.length) {
    expect(off % 8).toBe(0); // blocks start 8-aligned (the 8-byte header included)
    const word = raw.readUInt32LE(off);
    const type = word >>> 30;
    const size = word & 0x3fffffff; // this word included
    expect(type).not.toBe(3); // no extended blocks at these sizes
    expect(size).toBeGreaterThanOrEqual(4);
    expect(off + size).toBeLessThanOrEqual(raw.length);
    const padded = Math.ceil(size / 8) * 8;
    expect(raw.subarray(off + size, off + padded).every((x) => x === 0)).toBe(true);
    blocks.push({ type, offset: off, payload: Buffer.from(raw.subarray(off + 4, off + size)) });
    off += padded;
  }
  expect(off).toBe(raw.length);
  // One ADB block first, no signature (unsigned), then only DATA blocks.
  expect(blocks[0]!.type).toBe(0);
  expect(blocks.slice(1).every((b) => b.type === 2)).toBe(true);

  const adbBlock = blocks[0]!.payload;
  const adb = new Adb(adbBlock);
  const header = { compat: adbBlock[0]!, version: adbBlock[1]! };
  expect(adbBlock.readUInt16LE(2)).toBe(0);
  const rootTag = adbBlock.readUInt32LE(4);
  expect(rootTag >>> 28).toBe(0xe);
  const pkg = fields(adb.value(rootTag), SCHEMA.package, "package");
  const info = fields(pkg.info ?? null, SCHEMA.info, "info");
  const depends = arr(info.depends, "depends").map((d) => {
    const f = fields(d, SCHEMA.dependency, "dependency");
    return str(f.name)! + (f.version ? `${num(f.match) ?? "="}${str(f.version)}` : "");
  });
  const dirs: Parsed["dirs"] = [];
  const files: ApkFile[] = [];
  for (const d of arr(pkg.paths, "paths")) {
    const df = fields(d, SCHEMA.dir, "dir");
    const dacl = fields(df.acl ?? null, SCHEMA.acl, "acl");
    const dname = str(df.name) ?? "";
    dirs.push({ name: dname, mode: num(dacl.mode)!, user: str(dacl.user), group: str(dacl.group) });
    for (const f of arr(df.files, "files")) {
      const ff = fields(f, SCHEMA.file, "file");
      const acl = fields(ff.acl ?? null, SCHEMA.acl, "acl");
      expect(ff.target).toBeUndefined(); // no links or devices
      expect(acl.xattrs).toBeUndefined();
      const name = str(ff.name)!;
      files.push({
        dir: dname,
        name,
        path: `/${dname ? `${dname}/` : ""}${name}`,
        mode: num(acl.mode)!,
        user: str(acl.user),
        group: str(acl.group),
        size: num(ff.size)!,
        mtime: num(ff.mtime),
        hash: Buffer.isBuffer(ff.hash) ? ff.hash.toString("hex") : undefined,
      });
    }
  }
  const scripts: Record<string, string> = {};
  for (const [k, v] of Object.entries(fields(pkg.scripts ?? null, SCHEMA.scripts, "scripts"))) scripts[k] = str(v)!;
  const data = blocks.slice(1).map((b) => ({ dirIdx: b.payload.readUInt32LE(0), fileIdx: b.payload.readUInt32LE(4), contents: b.payload.subarray(8) }));
  return { blocks, adbBlock, header, info, depends, dirs, files, scripts, data };
}

// ------------------------------------------------------------------ build and open

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
