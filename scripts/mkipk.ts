/**
 * `make ipk`: OpenWrt packages from the prebuilt musl binaries and files/,
 * without the SDK: dist/iptmon_<version>-<release>_<arch>.ipk.
 *
 *   bun scripts/mkipk.ts [--out DIR] [--dist DIR] [--arch ARCH]...
 *
 * An .ipk is a gzip'd tar of ./debian-binary ("2.0\n"), ./control.tar.gz and
 * ./data.tar.gz. The tars are written here: ustar headers only (opkg's tar
 * reader misreads pax extended headers), an entry for every directory including
 * ./ (opkg does not create missing parents), root:root, sorted, every mtime
 * SOURCE_DATE_EPOCH (default: the last commit's time), gzip header mtime 0 and
 * OS byte 3 (Unix). Same inputs, same bytes.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
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

/** Control files taken verbatim from openwrt/control (the SDK's names). */
const CONTROL_SCRIPTS = ["postinst", "postinst-pkg", "prerm", "prerm-pkg", "postrm"];

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

/** data.tar entries: files/ plus /usr/sbin/iptmon, with every parent directory. */
export function dataEntries(filesDir: string, binary: string): TarEntry[] {
  const files = new Map<string, TarEntry>();
  for (const [path, src] of walk(filesDir)) {
    files.set(path, { path: `.${path}`, mode: packageMode(path, statSync(src).mode), data: readFileSync(src) });
  }
  files.set("/usr/sbin/iptmon", { path: "./usr/sbin/iptmon", mode: 0o755, data: readFileSync(binary) });
  const dirs = new Set<string>(["./"]);
  for (const path of files.keys()) {
    const parts = path.split("/").slice(1, -1);
    for (let i = 1; i <= parts.length; i++) dirs.add(`./${parts.slice(0, i).join("/")}/`);
  }
  const entries: TarEntry[] = [...[...dirs].map((path) => ({ path, mode: 0o755 })), ...files.values()];
  return entries.sort((a, b) => comparePaths(a.path, b.path));
}

export interface PackageInfo {
  version: string;
  release: string;
  license: string;
}

/** Version from package.json, release from openwrt/Makefile: the SDK build agrees. */
export function readPackageInfo(root = ROOT): PackageInfo {
  const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string; license: string };
  const mk = readFileSync(join(root, "openwrt/Makefile"), "utf8");
  const release = /^PKG_RELEASE:=(\S+)$/m.exec(mk)?.[1];
  if (!release) throw new Error("openwrt/Makefile: no PKG_RELEASE");
  return { version: pkg.version, release, license: pkg.license };
}

export function controlText(info: PackageInfo, arch: string, installedSize: number): string {
  return [
    "Package: iptmon",
    `Version: ${info.version}-${info.release}`,
    "Depends: libc, libstdcpp, ip",
    "Source: feeds/iptmon/openwrt",
    `License: ${info.license}`,
    "Section: net",
    `Architecture: ${arch}`,
    // Bytes: opkg checks ceil(Installed-Size / 1024) KiB against the free space.
    `Installed-Size: ${installedSize}`,
    "Description: Per-host bandwidth accounting for the LAN (nftables/iptables counters,",
    " rx: received from the host, tx: sent to it), kept in step with DHCP leases and the",
    " neighbour table by dnsmasq and hotplug events. No daemon.",
    "",
  ].join("\n");
}

export function controlEntries(root: string, info: PackageInfo, arch: string, installedSize: number): TarEntry[] {
  const text = (s: string) => new Uint8Array(Buffer.from(s, "utf8"));
  const entries: TarEntry[] = [
    { path: "./", mode: 0o755 },
    { path: "./control", mode: 0o644, data: text(controlText(info, arch, installedSize)) },
    { path: "./conffiles", mode: 0o644, data: text(`${CONFFILES.join("\n")}\n`) },
    ...CONTROL_SCRIPTS.map((name) => ({ path: `./${name}`, mode: 0o755, data: readFileSync(join(root, "openwrt/control", name)) })),
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
}

/** A package build's settings, defaults filled in (the output directory made). */
export function buildSettings(opts: BuildOptions) {
  const root = opts.root ?? ROOT;
  const dist = opts.dist ?? join(root, "dist");
  const out = opts.out ?? dist;
  mkdirSync(out, { recursive: true });
  return { root, dist, out, archs: opts.archs ?? Object.keys(ARCHS), mtime: opts.mtime ?? sourceDateEpoch(root), info: readPackageInfo(root) };
}

/** The CPU an architecture's packages carry the binary of. */
export function cpuOf(arch: string): string {
  const cpu = ARCHS[arch];
  if (!cpu) throw new Error(`unknown architecture ${arch} (known: ${Object.keys(ARCHS).join(", ")})`);
  return cpu;
}

/** Builds one .ipk per architecture; returns their paths. */
export function buildIpks(opts: BuildOptions = {}): string[] {
  const { root, dist, out, archs, mtime, info } = buildSettings(opts);
  // One data.tar.gz per CPU: the aarch64 packages differ only in their control file.
  const data = new Map<string, { gz: Uint8Array; size: number }>();
  const written: string[] = [];
  for (const arch of archs) {
    const cpu = cpuOf(arch);
    let d = data.get(cpu);
    if (!d) {
      const entries = dataEntries(join(root, "files"), join(dist, `iptmon-${cpu}-musl`));
      const size = entries.reduce((n, e) => n + (e.data?.length ?? 0), 0);
      d = { gz: gzip(writeTar(entries, mtime)), size };
      data.set(cpu, d);
    }
    const control = gzip(writeTar(controlEntries(root, info, arch, d.size), mtime));
    const ipk = gzip(
      writeTar(
        [
          { path: "./debian-binary", mode: 0o644, data: new Uint8Array(Buffer.from("2.0\n")) },
          { path: "./control.tar.gz", mode: 0o644, data: control },
          { path: "./data.tar.gz", mode: 0o644, data: d.gz },
        ],
        mtime,
      ),
    );
    const file = join(out, `iptmon_${info.version}-${info.release}_${arch}.ipk`);
    writeFileSync(`${file}.tmp`, ipk);
    renameSync(`${file}.tmp`, file);
    written.push(file);
  }
  return written;
}

/**
 * The command line both package writers take: `--out DIR`, `--dist DIR`,
 * `--arch ARCH` (repeatable); prints each package written with its size.
 */
export function packageCli(tool: string, build: (opts: BuildOptions) => string[]): void {
  const usage = (): never => {
    console.error(`usage: bun scripts/${tool}.ts [--out DIR] [--dist DIR] [--arch ARCH]...`);
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
