/**
 * A stand-in for OpenWrt's `uci` command line (Debian has no uci or libuci),
 * for tests of the package's uci-defaults and prerm scripts. It implements
 * only what those scripts use, on real UCI text files:
 *
 *   uci [-q] [-c CONFDIR] [-t SAVEDIR] batch            (commands on stdin)
 *   uci [-q] [-c CONFDIR] [-t SAVEDIR] set|add|delete|commit|get|show ...
 *
 * Like uci, changes are staged (in SAVEDIR, default CONFDIR/.fake-uci) until
 * `commit PACKAGE` writes the file, which loses its comments as uci's does.
 * Sections: `pkg.name`, or `pkg.@type[N]` (N may be negative). Errors exit 1
 * with "uci: <why>" on stderr, unless -q.
 *
 * Run it through a shim named `uci`:  exec bun test/helpers/fake-uci.ts "$@"
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseUci, quoteUci, type UciSection } from "../../src/uci.ts";

class UciError extends Error {}

const NAME = /^[A-Za-z0-9_]+$/;

interface Pkg {
  name: string;
  sections: UciSection[];
  dirty: boolean;
}

export class FakeUci {
  private pkgs = new Map<string, Pkg>();
  out = "";

  constructor(
    readonly confdir: string,
    readonly savedir: string,
  ) {}

  private load(name: string): Pkg {
    if (!NAME.test(name)) throw new UciError("Invalid argument");
    let p = this.pkgs.get(name);
    if (p) return p;
    const staged = join(this.savedir, name);
    const file = existsSync(staged) ? staged : join(this.confdir, name);
    if (!existsSync(file)) throw new UciError("Entry not found");
    p = { name, sections: parseUci(readFileSync(file, "utf8"), file).sections, dirty: false };
    this.pkgs.set(name, p);
    return p;
  }

  /** The section a reference names: `name` or `@type[N]`. */
  private find(p: Pkg, ref: string): UciSection | undefined {
    const m = /^@([^[\]]+)\[(-?\d+)\]$/.exec(ref);
    if (!m) return p.sections.find((s) => s.name === ref);
    const ofType = p.sections.filter((s) => s.type === m[1]);
    const i = Number(m[2]);
    return ofType[i < 0 ? ofType.length + i : i];
  }

  private split(ref: string): { pkg: Pkg; sec?: string; opt?: string; value?: string } {
    const eq = ref.indexOf("=");
    const path = eq < 0 ? ref : ref.slice(0, eq);
    const value = eq < 0 ? undefined : ref.slice(eq + 1);
    const [pkg, sec, opt, ...rest] = path.split(".");
    if (!pkg || rest.length > 0) throw new UciError("Invalid argument");
    return { pkg: this.load(pkg), sec, opt, value };
  }

  /** Anonymous sections get uci-like names in `show`: @type[N]. */
  private label(p: Pkg, s: UciSection): string {
    if (s.name) return s.name;
    return `@${s.type}[${p.sections.filter((x) => x.type === s.type).indexOf(s)}]`;
  }

  run(cmd: string, args: string[]): void {
    switch (cmd) {
      case "set": {
        const { pkg, sec, opt, value } = this.split(args[0] ?? "");
        if (!sec || value === undefined) throw new UciError("Invalid argument");
        const s = this.find(pkg, sec);
        if (opt === undefined) {
          if (!NAME.test(value)) throw new UciError("Invalid argument");
          if (s) s.type = value;
          else if (NAME.test(sec)) pkg.sections.push({ type: value, name: sec, line: 0, options: new Map() });
          else throw new UciError("Invalid argument");
        } else {
          if (!s) throw new UciError("Invalid argument");
          if (!NAME.test(opt)) throw new UciError("Invalid argument");
          s.options.set(opt, { value, line: 0, isList: false });
        }
        pkg.dirty = true;
        return;
      }
      case "add": {
        const pkg = this.load(args[0] ?? "");
        const type = args[1] ?? "";
        if (!NAME.test(type)) throw new UciError("Invalid argument");
        const name = `cfg${(pkg.sections.length + 1).toString(16).padStart(6, "0")}`;
        pkg.sections.push({ type, name: null, line: 0, options: new Map() });
        pkg.dirty = true;
        this.out += `${name}\n`;
        return;
      }
      case "delete": {
        const { pkg, sec, opt } = this.split(args[0] ?? "");
        const s = sec ? this.find(pkg, sec) : undefined;
        if (!s) throw new UciError("Entry not found");
        if (opt === undefined) pkg.sections.splice(pkg.sections.indexOf(s), 1);
        else if (!s.options.delete(opt)) throw new UciError("Entry not found");
        pkg.dirty = true;
        return;
      }
      case "commit": {
        const names = args.length ? args : [...this.pkgs.keys()];
        for (const n of names) this.commit(this.load(n));
        return;
      }
      case "get": {
        const { pkg, sec, opt } = this.split(args[0] ?? "");
        const s = sec ? this.find(pkg, sec) : undefined;
        if (!s) throw new UciError("Entry not found");
        if (opt === undefined) this.out += `${s.type}\n`;
        else {
          const v = s.options.get(opt);
          if (!v) throw new UciError("Entry not found");
          this.out += `${Array.isArray(v.value) ? v.value.join(" ") : v.value}\n`;
        }
        return;
      }
      case "show": {
        const names = args.length ? [args[0]!.split(".")[0]!] : readdirSync(this.confdir).filter((f) => NAME.test(f)).sort();
        for (const n of names) {
          const p = this.load(n);
          for (const s of p.sections) {
            const base = `${p.name}.${this.label(p, s)}`;
            this.out += `${base}=${s.type}\n`;
            for (const [k, v] of s.options) {
              const vals = Array.isArray(v.value) ? v.value : [v.value];
              this.out += `${base}.${k}=${vals.map(quoteUci).join(" ")}\n`;
            }
          }
        }
        return;
      }
      default:
        throw new UciError(`unknown command ${cmd} (fake-uci implements set, add, delete, commit, get, show, batch)`);
    }
  }

  private commit(p: Pkg): void {
    writeFileSync(join(this.confdir, p.name), renderPackage(p.sections));
    rmSync(join(this.savedir, p.name), { force: true });
    p.dirty = false;
  }

  /** Uncommitted changes stay staged for the next run, as uci's delta files do. */
  save(): void {
    for (const p of this.pkgs.values()) {
      if (!p.dirty) continue;
      mkdirSync(this.savedir, { recursive: true });
      writeFileSync(join(this.savedir, p.name), renderPackage(p.sections));
    }
  }
}

/** A package as uci writes it on commit (comments gone). */
function renderPackage(sections: UciSection[]): string {
  return sections
    .map((s) => {
      const lines = [`config ${s.type}${s.name ? ` ${quoteUci(s.name)}` : ""}`];
      for (const [k, v] of s.options) {
        if (Array.isArray(v.value)) for (const item of v.value) lines.push(`\tlist ${k} ${quoteUci(item)}`);
        else lines.push(`\toption ${k} ${quoteUci(v.value)}`);
      }
      return `\n${lines.join("\n")}\n`;
    })
    .join("");
}

/** Splits a batch line into words: '…' literal, "…" with backslash escapes, as uci does. */
export function splitBatchLine(line: string): string[] {
  const words: string[] = [];
  let w: string | null = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === "'") {
      const end = line.indexOf("'", i + 1);
      if (end < 0) throw new UciError("Parse error (unterminated ')");
      w = (w ?? "") + line.slice(i + 1, end);
      i = end;
    } else if (c === '"') {
      w ??= "";
      for (i++; i < line.length && line[i] !== '"'; i++) w += line[i] === "\\" ? (line[++i] ?? "") : line[i];
      if (i >= line.length) throw new UciError('Parse error (unterminated ")');
    } else if (c === "\\") {
      w = (w ?? "") + (line[++i] ?? "");
    } else if (c === " " || c === "\t") {
      if (w !== null) words.push(w);
      w = null;
    } else if (c === "#" && w === null) {
      break;
    } else {
      w = (w ?? "") + c;
    }
  }
  if (w !== null) words.push(w);
  return words;
}

export function main(argv: string[], stdin: () => string): { code: number; stdout: string; stderr: string } {
  let quiet = false;
  let confdir = "/etc/config";
  let savedir: string | undefined;
  const args = [...argv];
  while (args[0]?.startsWith("-")) {
    const o = args.shift()!;
    if (o === "-q") quiet = true;
    else if (o === "-c") confdir = args.shift() ?? "";
    else if (o === "-t") savedir = args.shift() ?? "";
    else return { code: 1, stdout: "", stderr: `uci: fake-uci does not implement option ${o}\n` };
  }
  const uci = new FakeUci(confdir, savedir ?? join(confdir, ".fake-uci"));
  let code = 0;
  let stderr = "";
  const attempt = (cmd: string, rest: string[]) => {
    try {
      uci.run(cmd, rest);
    } catch (e) {
      if (!(e instanceof UciError)) throw e;
      code = 1;
      if (!quiet) stderr += `uci: ${e.message}\n`;
    }
  };
  const [cmd, ...rest] = args;
  if (cmd === "batch") {
    for (const line of stdin().split("\n")) {
      let words: string[];
      try {
        words = splitBatchLine(line);
      } catch (e) {
        code = 1;
        if (!quiet) stderr += `uci: ${(e as Error).message}\n`;
        continue;
      }
      if (words.length === 0) continue;
      attempt(words[0]!, words.slice(1));
    }
  } else if (cmd) attempt(cmd, rest);
  else return { code: 1, stdout: "", stderr: "uci: no command\n" };
  uci.save();
  return { code, stdout: uci.out, stderr };
}

if (import.meta.main) {
  const r = main(process.argv.slice(2), () => readFileSync(0, "utf8"));
  process.stdout.write(r.stdout);
  process.stderr.write(r.stderr);
  process.exitCode = r.code;
}
