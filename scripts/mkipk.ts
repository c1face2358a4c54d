/**
 * `make ipk`: OpenWrt packages from the prebuilt musl binaries and files/,
 * without the SDK: dist/iptmon_<version>-<release>_<arch>.ipk, and the LuCI
 * app from luci/htdocs and luci/root (no binary, architecture all):
 * dist/luci-app-iptmon_<version>-<release>_all.ipk.
 *
 *   bun scripts/mkipk.ts [--out DIR] [--dist DIR] [--arch ARCH]... [--package NAME]...
 *
 * An .ipk is a gzip'd tar of ./debian-binary ("2.0\n"), ./control.tar.gz and
 * ./data.tar.gz. The tars are written here: ustar headers only (opkg's tar
 * reader misreads pax extended headers), an entry for every directory including
 * ./ (opkg does not create missing parents), root:root, sorted, every mtime
 * SOURCE_DATE_EPOCH (default: the last commit's time), gzip header mtime 0 and
 * OS byte 3 (Unix). Same inputs, same bytes.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { gzipSync } from "node:zlib";

export const ROOT = resolve(import.meta.dir, "..");

/** Package architecture → CPU of the musl binary (dist/iptmon-<cpu>-musl). */
export const ARCHS: Readonly<Record<string, "x86_64" | "aarch64">> = {
  x86_64: "x86_64",
  aarch64_generic: "aarch64",
  "aarch64_cortex-a53": "aarch64",
  "aarch64_cortex-a72": "aarch64",
  "aarch64_cortex-a76": "aarch64",
};

/** Files that keep local changes on upgrade, and may hold exporter credentials (0600, as OpenWrt's INSTALL_CONF). */
export const CONFFILES = ["/etc/config/iptmon"];

export interface TarEntry {
  /** "./", "./etc/", "./etc/config/iptmon": directories end in "/". */
  path: string;
  mode: number;
  /** Absent for a directory. */
  data?: Uint8Array;
}

// ------------------------------------------------------------------ tar

const BLOCK = 512;
/** GNU tar's default record (blocking factor 20): archives are padded to it. */
const RECORD = 20 * BLOCK;

function putString(h: Uint8Array, off: number, len: number, s: string): void {
  const b = Buffer.from(s, "utf8");
  if (b.length > len) throw new Error(`tar: '${s}' does not fit in ${len} bytes`);
  h.set(b, off);
}

function putOctal(h: Uint8Array, off: number, len: number, n: number): void {
  // len-1 octal digits and a NUL, as GNU tar writes them.
  const s = n.toString(8).padStart(len - 1, "0");
  if (s.length > len - 1) throw new Error(`tar: ${n} does not fit in ${len} bytes`);
  putString(h, off, len, `${s}\0`);
}

/** ustar splits a long path into prefix (≤155) "/" name (≤100). */
function splitPath(path: string): [string, string] {
  if (Buffer.byteLength(path) <= 100) return ["", path];
  const body = path.endsWith("/") ? path.slice(0, -1) : path;
  for (let i = body.lastIndexOf("/"); i > 0; i = body.lastIndexOf("/", i - 1)) {
    const prefix = path.slice(0, i);
    const name = path.slice(i + 1);
    if (Buffer.byteLength(prefix) <= 155 && Buffer.byteLength(name) <= 100) return [prefix, name];
  }
  throw new Error(`tar: path too long for ustar: ${path}`);
}

function header(e: TarEntry, mtime: number): Uint8Array {
  const h = new Uint8Array(BLOCK);
  const [prefix, name] = splitPath(e.path);
  putString(h, 0, 100, name);
  putOctal(h, 100, 8, e.mode);
  putOctal(h, 108, 8, 0); // uid
  putOctal(h, 116, 8, 0); // gid
  putOctal(h, 124, 12, e.data ? e.data.length : 0);
  putOctal(h, 136, 12, mtime);
  h.fill(0x20, 148, 156); // checksum field counts as spaces while summing
  h[156] = e.data ? 0x30 : 0x35; // '0' regular file, '5' directory
  putString(h, 257, 6, "ustar\0");
  putString(h, 263, 2, "00");
  putString(h, 265, 32, "root");
  putString(h, 297, 32, "root");
  putOctal(h, 329, 8, 0); // devmajor
  putOctal(h, 337, 8, 0); // devminor
  putString(h, 345, 155, prefix);
  let sum = 0;
  for (const b of h) sum += b;
  putString(h, 148, 8, `${sum.toString(8).padStart(6, "0")}\0 `);
  return h;
}

/** A ustar archive of `entries`, in the order given. */
export function writeTar(entries: TarEntry[], mtime: number): Uint8Array {
  let size = 2 * BLOCK;
  for (const e of entries) size += BLOCK + (e.data ? Math.ceil(e.data.length / BLOCK) * BLOCK : 0);
  size = Math.ceil(size / RECORD) * RECORD;
  const out = new Uint8Array(size); // zero-filled: padding and end blocks
  let off = 0;
  for (const e of entries) {
    out.set(header(e, mtime), off);
    off += BLOCK;
    if (e.data) {
      out.set(e.data, off);
      off += Math.ceil(e.data.length / BLOCK) * BLOCK;
    }
  }
  return out;
}

/** gzip with a fixed header: mtime 0 (as `gzip -n`), OS 3 (Unix) whatever zlib says. */
export function gzip(data: Uint8Array): Uint8Array {
  const z = gzipSync(data, { level: 9 });
  z.fill(0, 4, 8);
  z[9] = 3;
  return z;
}

/** Path order of GNU tar --sort=name: by component, a directory before what it holds. */
export function comparePaths(a: string, b: string): number {
  const pa = a.replace(/\/$/, "").split("/");
  const pb = b.replace(/\/$/, "").split("/");
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
    if (pa[i] !== pb[i]) return Buffer.compare(Buffer.from(pa[i]!), Buffer.from(pb[i]!));
  }
  return pa.length - pb.length;
}

// ------------------------------------------------------------------ package content

const JUNK = /(^\.|~$|\.orig$|\.rej$|\.swp$)/;

/** Mode in the package: directories and executables 0755, conffiles 0600, else 0644. */
export function packageMode(path: string, sourceMode: number): number {
  if (CONFFILES.includes(path)) return 0o600;
  return sourceMode & 0o111 ? 0o755 : 0o644;
}

/** Every file under `dir` as [package path, source path], skipping editor and dot files. */
function walk(dir: string, prefix = ""): [string, string][] {
  const out: [string, string][] = [];
  for (const name of readdirSync(dir).sort()) {
    if (JUNK.test(name)) continue;
    const src = join(dir, name);
    const st = statSync(src);
    if (st.isDirectory()) out.push(...walk(src, `${prefix}/${name}`));
    else if (st.isFile()) out.push([`${prefix}/${name}`, src]);
    else throw new Error(`${src}: neither a file nor a directory`);
  }
  return out;
}

/** Where a package's files come from, what it is called and what it says about itself. */
export interface PackageSpec {
  name: string;
  /** The package's OpenWrt Makefile (relative to the repository): its PKG_RELEASE is the package's. */
  makefile: string;
  /** Source trees (relative to the repository) and where each is installed ("" is /). */
  trees: [string, string][];
  /** Carries dist/iptmon-<cpu>-musl as /usr/sbin/iptmon: one package per architecture; else one for all. */
  binary: boolean;
  /** A file's mode in the package from its path there and its mode in the tree. */
  mode: (path: string, sourceMode: number) => number;
  conffiles: string[];
  depends: string[];
  section: string;
  source: string;
  /** One line; the ipk's control file folds it. */
  description: string;
  /** Control scripts by the SDK's names (postinst, postinst-pkg, prerm, prerm-pkg, postrm), from files in the repository. */
  scripts: Partial<Record<"postinst" | "postinst-pkg" | "prerm" | "prerm-pkg" | "postrm", string>>;
}

export const IPTMON: PackageSpec = {
  name: "iptmon",
  makefile: "openwrt/Makefile",
  trees: [["files", ""]],
  binary: true,
  mode: packageMode,
  conffiles: CONFFILES,
  depends: ["libc", "libstdcpp", "ip"],
  section: "net",
  source: "feeds/iptmon/openwrt",
  description:
    "Per-host bandwidth accounting for the LAN (nftables/iptables counters, rx: received from the host, tx: sent to it), kept in step with DHCP leases and the neighbour table by dnsmasq and hotplug events. No daemon.",
  scripts: {
    postinst: "openwrt/control/postinst",
    "postinst-pkg": "openwrt/control/postinst-pkg",
    prerm: "openwrt/control/prerm",
    "prerm-pkg": "openwrt/control/prerm-pkg",
    postrm: "openwrt/control/postrm",
  },
};

/**
 * The LuCI app: views (luci/htdocs → /www) and menu, ACL and ucitrack
 * (luci/root → /); every file 0644, as nothing in it runs. No prerm: it has
 * no service to stop, and the SDK's prerm would only look for one.
 */
export const LUCI_APP: PackageSpec = {
  name: "luci-app-iptmon",
  makefile: "luci/Makefile",
  trees: [
    ["luci/htdocs", "/www"],
    ["luci/root", ""],
  ],
  binary: false,
  mode: () => 0o644,
  conffiles: [],
  depends: ["iptmon", "luci-base"],
  section: "luci",
  source: "feeds/iptmon/luci",
  description: "LuCI pages for iptmon: the hosts' traffic, usage per period, one host, and the settings (rename, exclude).",
  scripts: {
    postinst: "openwrt/control/postinst",
    "postinst-pkg": "luci/control/postinst-pkg",
    postrm: "luci/control/postrm",
  },
};

export const PACKAGES: readonly PackageSpec[] = [IPTMON, LUCI_APP];

/**
 * data.tar entries: every file of `trees` ([source dir, install prefix]; a
 * missing tree holds nothing) with the mode `mode` gives it, plus `extra`
 * ([path, source file, mode]), with every parent directory.
 */
export function treeEntries(trees: [string, string][], mode: (path: string, sourceMode: number) => number, extra: [string, string, number][] = []): TarEntry[] {
  const files = new Map<string, TarEntry>();
  const add = (path: string, e: TarEntry) => {
    if (files.has(path)) throw new Error(`${path} comes from two places`);
    files.set(path, e);
  };
  for (const [dir, at] of trees) {
    if (!existsSync(dir)) continue;
    for (const [rel, src] of walk(dir)) {
      const path = `${at}${rel}`;
      add(path, { path: `.${path}`, mode: mode(path, statSync(src).mode), data: readFileSync(src) });
    }
  }
  for (const [path, src, m] of extra) add(path, { path: `.${path}`, mode: m, data: readFileSync(src) });
  const dirs = new Set<string>(["./"]);
  for (const path of files.keys()) {
    const parts = path.split("/").slice(1, -1);
    for (let i = 1; i <= parts.length; i++) dirs.add(`./${parts.slice(0, i).join("/")}/`);
  }
  const entries: TarEntry[] = [...[...dirs].map((path) => ({ path, mode: 0o755 })), ...files.values()];
  return entries.sort((a, b) => comparePaths(a.path, b.path));
}

/** data.tar entries of iptmon: files/ plus /usr/sbin/iptmon. */
export function dataEntries(filesDir: string, binary: string): TarEntry[] {
  return treeEntries([[filesDir, ""]], packageMode, [["/usr/sbin/iptmon", binary, 0o755]]);
}

/** A package's files: its trees, and for iptmon the binary for `cpu`. */
export function specEntries(spec: PackageSpec, root: string, dist: string, cpu?: string): TarEntry[] {
  const trees = spec.trees.map(([d, at]): [string, string] => [join(root, d), at]);
  const extra: [string, string, number][] = spec.binary ? [["/usr/sbin/iptmon", join(dist, `iptmon-${cpu}-musl`), 0o755]] : [];
  return treeEntries(trees, spec.mode, extra);
}

export interface PackageInfo {
  version: string;
  release: string;
  license: string;
}

/** Version from package.json, release from the package's Makefile: the SDK build agrees. */
export function readPackageInfo(root = ROOT, makefile = IPTMON.makefile): PackageInfo {
  const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string; license: string };
  const mk = readFileSync(join(root, makefile), "utf8");
  const release = /^PKG_RELEASE:=(\S+)$/m.exec(mk)?.[1];
  if (!release) throw new Error(`${makefile}: no PKG_RELEASE`);
  return { version: pkg.version, release, license: pkg.license };
}

/** Words folded into lines of at most `width` characters. */
function fold(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(" ")) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines;
}

export function controlText(info: PackageInfo, arch: string, installedSize: number, spec: PackageSpec = IPTMON): string {
  const [first, ...rest] = fold(spec.description, 78);
  return [
    `Package: ${spec.name}`,
    `Version: ${info.version}-${info.release}`,
    `Depends: ${spec.depends.join(", ")}`,
    `Source: ${spec.source}`,
    `License: ${info.license}`,
    `Section: ${spec.section}`,
    `Architecture: ${arch}`,
    // Bytes: opkg checks ceil(Installed-Size / 1024) KiB against the free space.
    `Installed-Size: ${installedSize}`,
    `Description: ${first}`,
    ...rest.map((l) => ` ${l}`),
    "",
  ].join("\n");
}

export function controlEntries(root: string, info: PackageInfo, arch: string, installedSize: number, spec: PackageSpec = IPTMON): TarEntry[] {
  const text = (s: string) => new Uint8Array(Buffer.from(s, "utf8"));
  const entries: TarEntry[] = [
    { path: "./", mode: 0o755 },
    { path: "./control", mode: 0o644, data: text(controlText(info, arch, installedSize, spec)) },
    ...(spec.conffiles.length ? [{ path: "./conffiles", mode: 0o644, data: text(`${spec.conffiles.join("\n")}\n`) }] : []),
    ...Object.entries(spec.scripts).map(([name, src]) => ({ path: `./${name}`, mode: 0o755, data: readFileSync(join(root, src)) })),
  ];
  return entries.sort((a, b) => comparePaths(a.path, b.path));
}

/** SOURCE_DATE_EPOCH, else the last commit's time, else 0. */
export function sourceDateEpoch(root = ROOT, env = process.env): number {
  if (env.SOURCE_DATE_EPOCH) {
    const n = Number(env.SOURCE_DATE_EPOCH);
    if (!Number.isInteger(n) || n < 0) throw new Error(`SOURCE_DATE_EPOCH is not a time: ${env.SOURCE_DATE_EPOCH}`);
    return n;
  }
  try {
    return Number(execFileSync("git", ["-C", root, "log", "-1", "--format=%ct"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim()) || 0;
  } catch {
    return 0;
  }
}

export interface BuildOptions {
  root?: string;
  dist?: string;
  out?: string;
  archs?: string[];
  mtime?: number;
  /** Package names to build (default: all of PACKAGES). */
  packages?: string[];
}

/** A package build's settings, defaults filled in (the output directory made). */
export function buildSettings(opts: BuildOptions) {
  const root = opts.root ?? ROOT;
  const dist = opts.dist ?? join(root, "dist");
  const out = opts.out ?? dist;
  mkdirSync(out, { recursive: true });
  const packages = opts.packages ?? PACKAGES.map((p) => p.name);
  for (const p of packages) {
    if (!PACKAGES.some((q) => q.name === p)) throw new Error(`unknown package ${p} (known: ${PACKAGES.map((q) => q.name).join(", ")})`);
  }
  const want = (spec: PackageSpec) => packages.includes(spec.name);
  return { root, dist, out, archs: opts.archs ?? Object.keys(ARCHS), mtime: opts.mtime ?? sourceDateEpoch(root), info: readPackageInfo(root), want };
}

/** The CPU an architecture's packages carry the binary of. */
export function cpuOf(arch: string): string {
  const cpu = ARCHS[arch];
  if (!cpu) throw new Error(`unknown architecture ${arch} (known: ${Object.keys(ARCHS).join(", ")})`);
  return cpu;
}

/** One .ipk: debian-binary, control.tar.gz, data.tar.gz (the latter two gzip'd already). */
function writeIpk(file: string, control: Uint8Array, data: Uint8Array, mtime: number): void {
  const ipk = gzip(
    writeTar(
      [
        { path: "./debian-binary", mode: 0o644, data: new Uint8Array(Buffer.from("2.0\n")) },
        { path: "./control.tar.gz", mode: 0o644, data: control },
        { path: "./data.tar.gz", mode: 0o644, data },
      ],
      mtime,
    ),
  );
  writeFileSync(`${file}.tmp`, ipk);
  renameSync(`${file}.tmp`, file);
}

export const ipkFileName = (spec: PackageSpec, info: PackageInfo, arch: string) => `${spec.name}_${info.version}-${info.release}_${arch}.ipk`;

/** Builds iptmon's .ipk for each architecture, then luci-app-iptmon's (all); returns their paths. */
export function buildIpks(opts: BuildOptions = {}): string[] {
  const { root, dist, out, archs, mtime, info, want } = buildSettings(opts);
  const written: string[] = [];
  const installed = (entries: TarEntry[]) => entries.reduce((n, e) => n + (e.data?.length ?? 0), 0);
  // One data.tar.gz per CPU: the aarch64 packages differ only in their control file.
  const data = new Map<string, { gz: Uint8Array; size: number }>();
  for (const arch of want(IPTMON) ? archs : []) {
    const cpu = cpuOf(arch);
    let d = data.get(cpu);
    if (!d) {
      const entries = specEntries(IPTMON, root, dist, cpu);
      d = { gz: gzip(writeTar(entries, mtime)), size: installed(entries) };
      data.set(cpu, d);
    }
    const file = join(out, ipkFileName(IPTMON, info, arch));
    writeIpk(file, gzip(writeTar(controlEntries(root, info, arch, d.size, IPTMON), mtime)), d.gz, mtime);
    written.push(file);
  }
  if (!want(LUCI_APP)) return written;
  const luciInfo = readPackageInfo(root, LUCI_APP.makefile);
  const entries = specEntries(LUCI_APP, root, dist);
  const file = join(out, ipkFileName(LUCI_APP, luciInfo, "all"));
  writeIpk(file, gzip(writeTar(controlEntries(root, luciInfo, "all", installed(entries), LUCI_APP), mtime)), gzip(writeTar(entries, mtime)), mtime);
  written.push(file);
  return written;
}

/**
 * The command line both package writers take: `--out DIR`, `--dist DIR`,
 * `--arch ARCH` (repeatable, iptmon's architectures), `--package NAME`
 * (repeatable; default every package); prints each package written with its size.
 */
export function packageCli(tool: string, build: (opts: BuildOptions) => string[]): void {
  const usage = (): never => {
    console.error(`usage: bun scripts/${tool}.ts [--out DIR] [--dist DIR] [--arch ARCH]... [--package NAME]...`);
    process.exit(2);
  };
  const opts: BuildOptions = {};
  const args = process.argv.slice(2);
  for (let i = 0; i < args.length; i++) {
    const v = args[i + 1];
    if (v === undefined) usage();
    if (args[i] === "--out") opts.out = resolve(v!);
    else if (args[i] === "--dist") opts.dist = resolve(v!);
    else if (args[i] === "--arch") (opts.archs ??= []).push(v!);
    else if (args[i] === "--package") (opts.packages ??= []).push(v!);
    else usage();
    i++;
  }
  try {
    for (const f of build(opts)) console.log(`${f} (${statSync(f).size} bytes)`);
  } catch (e) {
    console.error(`${tool}: ${(e as Error).message}`);
    process.exit(1);
  }
}

if (import.meta.main) packageCli("mkipk", buildIpks);
