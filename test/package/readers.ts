/**
 * Readers the packaging tests share, written from the formats' documentation
 * and sharing no code with the writers (scripts/mkipk.ts, scripts/mkapk.ts):
 * ustar archives and fixed gzip headers (the .ipk), and the apk-tools v3
 * package format (apk-v3(5), apk-package(5)). They check what they read with
 * expect() as they go.
 */
import { expect } from "bun:test";
import { gunzipSync, inflateRawSync } from "node:zlib";
import { comparePaths } from "../../scripts/mkipk.ts";

// ------------------------------------------------------------------ tar (.ipk)

export interface Entry {
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

const field = (b: Buffer, off: number, len: number) => {
  const s = b.subarray(off, off + len);
  const nul = s.indexOf(0);
  return s.subarray(0, nul < 0 ? len : nul).toString("utf8");
};
const oct = (b: Buffer, off: number, len: number) => Number.parseInt(field(b, off, len).trim() || "0", 8);

/** Reads a tar archive; checks every header's checksum on the way. */
export function readTar(buf: Buffer): Entry[] {
  const out: Entry[] = [];
  let off = 0;
  while (off + 512 <= buf.length) {
    const h = buf.subarray(off, off + 512);
    if (h.every((x) => x === 0)) break;
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : h[i]!;
    expect(oct(h, 148, 8)).toBe(sum);
    const size = oct(h, 124, 12);
    const prefix = field(h, 345, 155);
    const name = field(h, 0, 100);
    out.push({
      name: prefix ? `${prefix}/${name}` : name,
      type: String.fromCharCode(h[156]!),
      mode: oct(h, 100, 8),
      uid: oct(h, 108, 8),
      gid: oct(h, 116, 8),
      uname: field(h, 265, 32),
      gname: field(h, 297, 32),
      mtime: oct(h, 136, 12),
      magic: h.subarray(257, 265).toString("latin1"),
      data: Buffer.from(buf.subarray(off + 512, off + 512 + size)),
    });
    off += 512 + Math.ceil(size / 512) * 512;
  }
  return out;
}

/** gunzip, after checking the header is the fixed one (mtime 0, OS Unix). */
export function gunzipFixed(buf: Buffer): Buffer {
  expect([...buf.subarray(0, 4)]).toEqual([0x1f, 0x8b, 8, 0]);
  expect(buf.readUInt32LE(4)).toBe(0);
  expect(buf[9]).toBe(3);
  return gunzipSync(buf);
}

export function checkHeaders(entries: Entry[]): void {
  for (const e of entries) {
    expect(e.magic).toBe("ustar\u000000"); // POSIX ustar: no GNU or pax extensions
    expect(["0", "5"]).toContain(e.type); // no pax 'x'/'g', no GNU 'L'/'K'
    expect([e.uid, e.gid, e.uname, e.gname]).toEqual([0, 0, "root", "root"]);
  }
  const names = entries.map((e) => e.name);
  expect(names).toEqual([...names].sort(comparePaths));
}


// ------------------------------------------------------------------ apk-tools v3 (.apk)

/** A decoded ADB value. */
export type Val = null | boolean | number | Buffer | Val[] | { obj: Val[] };

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
export const SCHEMA = {
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
export function fields(v: Val, schema: readonly string[], what: string): Record<string, Val> {
  if (v === null) return {};
  if (typeof v !== "object" || !("obj" in v)) throw new Error(`${what}: not an object`);
  if (v.obj.length > schema.length) throw new Error(`${what}: ${v.obj.length} slots, the schema has ${schema.length}`);
  const out: Record<string, Val> = {};
  v.obj.forEach((x, i) => {
    if (x !== null) out[schema[i]!] = x;
  });
  return out;
}
export const arr = (v: Val | undefined, what: string): Val[] => {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new Error(`${what}: not an array`);
  return v;
};
export const str = (v: Val | undefined): string | undefined => (Buffer.isBuffer(v) ? v.toString("utf8") : undefined);
export const num = (v: Val | undefined): number | undefined => (typeof v === "number" ? v : undefined);

export interface Block {
  type: number;
  offset: number;
  payload: Buffer;
}

export interface ApkFile {
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

export interface Parsed {
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
export function readApk(file: Buffer): Parsed {
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

