/**
 * `make apk`: apk-tools v3 packages (OpenWrt 25.12 and later) from the same
 * musl binaries, files/ and control scripts as `make ipk`, without the SDK:
 * dist/iptmon-<version>-r<release>_<arch>.apk, and the LuCI app (arch
 * noarch, as the SDK names a package for every architecture):
 * dist/luci-app-iptmon-<version>-r<release>.apk.
 *
 *   bun scripts/mkapk.ts [--out DIR] [--dist DIR] [--arch ARCH]... [--package NAME]...
 *
 * The format (apk-tools doc/apk-v3.5, doc/apk-package.5): "ADBd", then one raw
 * deflate stream of "ADB." + the schema "pckg" + blocks. Every block is a
 * little-endian u32 (type in the top 2 bits: 0 ADB, 2 DATA; size including
 * this word in the low 30), its payload, and zeros up to a multiple of 8.
 * The ADB block holds the metadata as a tree of tagged u32 values (the type in
 * the top 4 bits, a number or an offset into the block in the low 28); one
 * DATA block per non-empty file follows, in the order of the file list, each
 * starting with the (1-based) indexes of its directory and file.
 *
 * What the package holds is what the SDK would put in it: name, version
 * (<version>-r<release>), description, arch, license, origin, maintainer,
 * depends, installed size, and the unique id (the first 20 bytes
 * of the SHA-256 of the ADB block written with that id zeroed); every directory
 * (root:root 0755) and file with mode, owner, size, mtime and SHA-256; the
 * scripts post-install, post-upgrade (the same with PKG_UPGRADE=1),
 * pre-deinstall and post-deinstall built from openwrt/control as the SDK
 * builds them; and /lib/apk/packages/<name>.{list,conffiles,conffiles_static},
 * which OpenWrt's default_postinst/default_prerm and sysupgrade read (apk has
 * no conffiles field: it keeps locally changed files under /etc itself).
 * Unsigned: installed with `apk add --allow-untrusted`. Every time is
 * SOURCE_DATE_EPOCH (default: the last commit's time): same inputs, same bytes.
 */
import { createHash } from "node:crypto";
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { deflateRawSync } from "node:zlib";
import {
  buildSettings,
  type BuildOptions,
  cpuOf,
  IPTMON,
  LUCI_APP,
  packageCli,
  type PackageInfo,
  type PackageSpec,
  readPackageInfo,
  ROOT,
  specEntries,
  type TarEntry,
} from "./mkipk.ts";

const MAINTAINER = "iptmon maintainers";
/** apk's architecture of a package without a binary. */
export const NOARCH = "noarch";

/** apk's version for the package: <version>-r<release> (apk refuses 0.1.0-1). */
export function apkVersion(info: PackageInfo): string {
  return `${info.version}-r${info.release}`;
}

/** <name>-<version>_<arch>.apk; without the arch for a noarch package, as the SDK names it. */
export function apkFileName(info: PackageInfo, arch: string, spec: PackageSpec = IPTMON): string {
  return `${spec.name}-${apkVersion(info)}${arch === NOARCH ? "" : `_${arch}`}.apk`;
}

// ------------------------------------------------------------------ ADB values

const T_INT = 0x1;
const T_INT32 = 0x2;
const T_INT64 = 0x3;
const T_BLOB8 = 0x8;
const T_BLOB16 = 0x9;
const T_BLOB32 = 0xa;
const T_ARRAY = 0xd;
const T_OBJECT = 0xe;
const NULL = 0;

const tag = (type: number, v: number): number => ((type << 28) | v) >>> 0;

/**
 * The ADB block being written: an 8-byte header (compat version 0, version 0,
 * reserved, root value) and the values, each aligned to its size field (u32
 * words to 4). Identical data is written once and shared, as apk does.
 */
class AdbWriter {
  private buf = Buffer.alloc(1 << 16);
  len = 8;
  private seen = new Map<string, number>();

  private append(data: Uint8Array, align: number, share = true): number {
    const key = share ? `${align}:${Buffer.from(data).toString("latin1")}` : "";
    if (share) {
      const at = this.seen.get(key);
      if (at !== undefined) return at;
    }
    const start = Math.ceil(this.len / align) * align;
    if (start + data.length > 0x0fffffff) throw new Error("apk: metadata too large for a 28-bit offset");
    while (start + data.length > this.buf.length) {
      const bigger = Buffer.alloc(this.buf.length * 2);
      this.buf.copy(bigger);
      this.buf = bigger;
    }
    this.buf.set(data, start); // padding bytes stay zero
    this.len = start + data.length;
    if (share) this.seen.set(key, start);
    return start;
  }

  /** A byte string: u8/u16/u32 length then the bytes; empty is NULL. `share: false` for one patched later. */
  blob(b: Uint8Array | string, share = true): number {
    const data = typeof b === "string" ? Buffer.from(b, "utf8") : Buffer.from(b);
    if (data.length === 0) return NULL;
    const width = data.length > 0xffff ? 4 : data.length > 0xff ? 2 : 1;
    const out = Buffer.alloc(width + data.length);
    if (width === 4) out.writeUInt32LE(data.length, 0);
    else if (width === 2) out.writeUInt16LE(data.length, 0);
    else out.writeUInt8(data.length, 0);
    data.copy(out, width);
    return tag(width === 4 ? T_BLOB32 : width === 2 ? T_BLOB16 : T_BLOB8, this.append(out, width, share));
  }

  /** An integer: inline below 2^28, else a u32 or u64 word (4-aligned). */
  int(n: number): number {
    if (!Number.isSafeInteger(n) || n < 0) throw new Error(`apk: not an unsigned integer: ${n}`);
    if (n < 0x10000000) return tag(T_INT, n);
    if (n < 2 ** 32) {
      const b = Buffer.alloc(4);
      b.writeUInt32LE(n, 0);
      return tag(T_INT32, this.append(b, 4));
    }
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(n), 0);
    return tag(T_INT64, this.append(b, 4));
  }

  /** Object or array: slot 0 the number of slots, then the values; trailing NULLs dropped, nothing left is NULL. */
  private slots(type: number, vals: number[]): number {
    let n = vals.length;
    while (n > 0 && vals[n - 1] === NULL) n--;
    if (n === 0) return NULL;
    const b = Buffer.alloc(4 * (n + 1));
    b.writeUInt32LE(n + 1, 0);
    for (let i = 0; i < n; i++) b.writeUInt32LE(vals[i]!, 4 * (i + 1));
    return tag(type, this.append(b, 4));
  }

  /** Fields in schema order, field 1 first. */
  object(fields: number[]): number {
    return this.slots(T_OBJECT, fields);
  }

  array(items: number[]): number {
    return this.slots(T_ARRAY, items.filter((v) => v !== NULL));
  }

  /** Offset of a blob's bytes (after its length field). */
  blobData(v: number): number {
    const type = v >>> 28;
    const width = type === T_BLOB8 ? 1 : type === T_BLOB16 ? 2 : 4;
    return (v & 0x0fffffff) + width;
  }

  finish(root: number): Buffer {
    const out = Buffer.from(this.buf.subarray(0, this.len));
    out.writeUInt8(0, 0); // compat version
    out.writeUInt8(0, 1); // version
    out.writeUInt16LE(0, 2);
    out.writeUInt32LE(root, 4);
    return out;
  }
}

// ------------------------------------------------------------------ blocks

const BLOCK_ADB = 0;
const BLOCK_DATA = 2;

/** One block: u32 type<<30 | (4 + payload length), the payload, zeros to a multiple of 8. */
function block(type: number, parts: Uint8Array[]): Buffer[] {
  const length = parts.reduce((n, p) => n + p.length, 0);
  if (4 + length > 0x3fffffff) throw new Error("apk: block larger than 1 GiB");
  const head = Buffer.alloc(4);
  head.writeUInt32LE(((type << 30) | (4 + length)) >>> 0, 0);
  const pad = (8 - ((4 + length) % 8)) % 8;
  return [head, ...parts.map((p) => Buffer.from(p.buffer, p.byteOffset, p.byteLength)), Buffer.alloc(pad)];
}

// ------------------------------------------------------------------ package content

/** Lines not starting a script: what the SDK keeps of a control script it inlines. */
function body(script: string): string {
  return script
    .split("\n")
    .filter((l) => !/^\s*#!/.test(l))
    .join("\n");
}

export interface ApkScripts {
  "post-install": string;
  "post-upgrade": string;
  "pre-deinstall"?: string;
  "post-deinstall"?: string;
}

/**
 * The scripts as the OpenWrt SDK composes them for apk from the package's
 * postinst-pkg, prerm-pkg and postrm: OpenWrt's default_postinst/default_prerm
 * first (they find /etc/uci-defaults and /etc/init.d/iptmon through
 * /lib/apk/packages/iptmon.list), then the package's own part; post-upgrade is
 * post-install with PKG_UPGRADE=1. Where /lib/functions.sh is missing (apk
 * outside OpenWrt) the package's own part still runs, as in the ipk. A package
 * without prerm-pkg (the LuCI app: no service) gets no pre-deinstall, one
 * without postrm no post-deinstall.
 */
export function apkScripts(root = ROOT, spec: PackageSpec = IPTMON): ApkScripts {
  const read = (f: keyof PackageSpec["scripts"]) => readFileSync(join(root, spec.scripts[f]!), "utf8");
  const postInstall = [
    "#!/bin/sh",
    "# post-install of `make apk` packages: OpenWrt's default_postinst (uci-defaults,",
    "# then enable and start the package's init scripts), then the package's own part.",
    '[ "${IPKG_NO_SCRIPT}" = "1" ] && exit 0',
    'if [ -s "${IPKG_INSTROOT}/lib/functions.sh" ]; then',
    "\t# shellcheck source=/dev/null",
    '\t. "${IPKG_INSTROOT}/lib/functions.sh"',
    '\texport root="${IPKG_INSTROOT}"',
    `\texport pkgname="${spec.name}"`,
    "\tadd_group_and_user",
    "\tdefault_postinst",
    "fi",
    body(read("postinst-pkg")),
  ].join("\n");
  const preDeinstall = spec.scripts["prerm-pkg"] && [
    "#!/bin/sh",
    "# pre-deinstall of `make apk` packages: OpenWrt's default_prerm (stop and",
    "# disable the package's init scripts), then the package's own part.",
    'if [ -s "${IPKG_INSTROOT}/lib/functions.sh" ]; then',
    "\t# shellcheck source=/dev/null",
    '\t. "${IPKG_INSTROOT}/lib/functions.sh"',
    '\texport root="${IPKG_INSTROOT}"',
    `\texport pkgname="${spec.name}"`,
    "\tdefault_prerm",
    "fi",
    body(read("prerm-pkg")),
  ].join("\n");
  const scripts: ApkScripts = {
    "post-install": postInstall,
    "post-upgrade": ["#!/bin/sh", "export PKG_UPGRADE=1", body(postInstall)].join("\n"),
  };
  if (preDeinstall) scripts["pre-deinstall"] = preDeinstall;
  if (spec.scripts.postrm) scripts["post-deinstall"] = read("postrm");
  return scripts;
}

const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest();

/**
 * The installed tree: the ipk's (`base`) plus /lib/apk/packages/<name>.list
 * (every file and link but these three, sorted), .conffiles (one path a line)
 * and .conffiles_static ("path sha256" a line); both empty without conffiles.
 */
export function apkEntries(base: TarEntry[], spec: PackageSpec = IPTMON): TarEntry[] {
  const files = base.filter((e) => e.data).map((e) => e.path.slice(1));
  const byPath = new Map(base.filter((e) => e.data).map((e) => [e.path.slice(1), e.data!]));
  const text = (s: string) => new Uint8Array(Buffer.from(s, "utf8"));
  const list = `${[...files].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))).join("\n")}\n`;
  const conffiles = spec.conffiles.map((f) => `${f}\n`).join("");
  const statics = spec.conffiles.filter((f) => byPath.has(f))
    .map((f) => `${f} ${sha256(byPath.get(f)!).toString("hex")}\n`)
    .join("");
  const dir = "./lib/apk/packages";
  const extra: TarEntry[] = [
    { path: `${dir}/${spec.name}.list`, mode: 0o644, data: text(list) },
    { path: `${dir}/${spec.name}.conffiles`, mode: 0o644, data: text(conffiles) },
    { path: `${dir}/${spec.name}.conffiles_static`, mode: 0o644, data: text(statics) },
  ];
  const have = new Set(base.map((e) => e.path));
  for (const d of ["./lib/", "./lib/apk/", "./lib/apk/packages/"]) if (!have.has(d)) extra.push({ path: d, mode: 0o755 });
  return [...base, ...extra];
}

const bytes = (s: string) => Buffer.from(s, "utf8");
const byteOrder = (a: string, b: string) => Buffer.compare(bytes(a), bytes(b));

/** The uncompressed package ("ADB." onwards) for one architecture. */
export function apkContainer(entries: TarEntry[], info: PackageInfo, arch: string, mtime: number, scripts: ApkScripts, spec: PackageSpec = IPTMON): Buffer {
  // Directories by name ("" is the root, "etc/config" …), each with its files; both sorted bytewise.
  const dirs = new Map<string, { mode: number; files: TarEntry[] }>();
  for (const e of entries) if (!e.data) dirs.set(e.path.replace(/^\.\/?/, "").replace(/\/$/, ""), { mode: e.mode, files: [] });
  for (const e of entries) {
    if (!e.data) continue;
    const p = e.path.replace(/^\.\//, "");
    const d = p.includes("/") ? p.slice(0, p.lastIndexOf("/")) : "";
    const dir = dirs.get(d);
    if (!dir) throw new Error(`apk: ${e.path} has no directory entry`);
    dir.files.push(e);
  }
  const dirNames = [...dirs.keys()].sort(byteOrder);
  const name = (e: TarEntry) => e.path.slice(e.path.lastIndexOf("/") + 1);
  for (const d of dirs.values()) d.files.sort((a, b) => byteOrder(name(a), name(b)));

  const w = new AdbWriter();
  const acl = (mode: number) => w.object([w.int(mode), w.blob("root"), w.blob("root")]);
  let installed = 0;
  const paths = dirNames.map((dn) => {
    const d = dirs.get(dn)!;
    const files = d.files.map((f) => {
      installed += f.data!.length;
      // name, acl, size, mtime, hash
      return w.object([w.blob(name(f)), acl(f.mode), w.int(f.data!.length), w.int(mtime), w.blob(sha256(f.data!))]);
    });
    // name, acl, files
    return w.object([w.blob(dn), acl(d.mode), w.array(files)]);
  });
  const depends = w.array([...spec.depends].sort(byteOrder).map((d) => w.object([w.blob(d)])));
  // The unique id: written as zeros (unshared), filled in once the block is complete.
  const uid = w.blob(new Uint8Array(20), false);
  // pkginfo fields 1..15: name version hashes description arch license origin
  // maintainer url repo-commit build-time installed-size file-size provider-priority depends
  // (no url: the project names none)
  const pkginfo = w.object([
    w.blob(spec.name),
    w.blob(apkVersion(info)),
    uid,
    w.blob(spec.description),
    w.blob(arch),
    w.blob(info.license),
    w.blob(spec.source),
    w.blob(MAINTAINER),
    NULL,
    NULL,
    NULL,
    w.int(installed),
    NULL,
    NULL,
    depends,
  ]);
  // scripts fields: trigger pre-install post-install pre-deinstall post-deinstall pre-upgrade post-upgrade
  const scriptObj = w.object([
    NULL,
    NULL,
    w.blob(scripts["post-install"]),
    w.blob(scripts["pre-deinstall"] ?? ""),
    w.blob(scripts["post-deinstall"] ?? ""),
    NULL,
    w.blob(scripts["post-upgrade"]),
  ]);
  // package fields: info paths scripts
  const root = w.object([pkginfo, w.array(paths), scriptObj]);
  const adb = w.finish(root);
  const at = w.blobData(uid);
  sha256(adb).copy(adb, at, 0, 20);

  const head = Buffer.alloc(8);
  head.write("ADB.", 0, "latin1");
  head.write("pckg", 4, "latin1");
  const parts: Buffer[] = [head, ...block(BLOCK_ADB, [adb])];
  dirNames.forEach((dn, i) => {
    dirs.get(dn)!.files.forEach((f, j) => {
      if (f.data!.length === 0) return;
      const idx = Buffer.alloc(8);
      idx.writeUInt32LE(i + 1, 0);
      idx.writeUInt32LE(j + 1, 4);
      parts.push(...block(BLOCK_DATA, [idx, f.data!]));
    });
  });
  return Buffer.concat(parts);
}

/** "ADBd" and the container as one raw deflate stream (level 9; fixed input, fixed output). */
export function compress(container: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from("ADBd", "latin1"), deflateRawSync(container, { level: 9 })]);
}

/** Builds iptmon's .apk for each architecture, then luci-app-iptmon's (noarch); returns their paths. */
export function buildApks(opts: BuildOptions = {}): string[] {
  const { root, dist, out, archs, mtime, info, want } = buildSettings(opts);
  const scripts = apkScripts(root, IPTMON);
  const entries = new Map<string, TarEntry[]>();
  const written: string[] = [];
  const write = (file: string, container: Buffer) => {
    writeFileSync(`${file}.tmp`, compress(container));
    renameSync(`${file}.tmp`, file);
    written.push(file);
  };
  for (const arch of want(IPTMON) ? archs : []) {
    const cpu = cpuOf(arch);
    let e = entries.get(cpu);
    if (!e) {
      e = apkEntries(specEntries(IPTMON, root, dist, cpu), IPTMON);
      entries.set(cpu, e);
    }
    write(join(out, apkFileName(info, arch, IPTMON)), apkContainer(e, info, arch, mtime, scripts, IPTMON));
  }
  if (!want(LUCI_APP)) return written;
  const luciInfo = readPackageInfo(root, LUCI_APP.makefile);
  const luci = apkEntries(specEntries(LUCI_APP, root, dist), LUCI_APP);
  write(join(out, apkFileName(luciInfo, NOARCH, LUCI_APP)), apkContainer(luci, luciInfo, NOARCH, mtime, apkScripts(root, LUCI_APP), LUCI_APP));
  return written;
}

if (import.meta.main) packageCli("mkapk", buildApks);
