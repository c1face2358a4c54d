/**
 * The UCI config file grammar (OpenWrt /etc/config/*), read the way libuci
 * reads it, so a file uci accepts means the same thing here.
 */
import { badInput, quoteInput, quoteValue } from "./errors.ts";

export interface UciValue {
  value: string | string[];
  /** Where the option was (last) set; for a list, where the list started. */
  line: number;
  isList: boolean;
  /** A list's line of each item. */
  lines?: number[];
}

export interface UciSection {
  type: string;
  /** null for an anonymous section (`config host` with no name, or `''`). */
  name: string | null;
  line: number;
  options: Map<string, UciValue>;
}

export interface UciPackage {
  file: string;
  sections: UciSection[];
}

interface Word {
  text: string;
  line: number;
}

const NAME_RE = /^[A-Za-z0-9_]+$/;
// Section types may hold any printable ASCII except space (libuci).
const TYPE_RE = /^[\x21-\x7e]+$/;
const SPACE = new Set([" ", "\t", "\r", "\v", "\f"]);

/**
 * Splits the text into statements (lists of words). Quoting works like the
 * shell, as in libuci: pieces concatenate (`'a'"b"c` is `abc`), a quoted piece
 * may run over several lines, `#` outside quotes ends the line (even inside a
 * word) and `;` outside quotes ends the statement.
 */
function splitStatements(text: string, file: string): Word[][] {
  const fail = (line: number, cause: string) => badInput(`cannot parse ${file}:${line}: ${cause}`);
  const statements: Word[][] = [];
  let current: Word[] = [];
  let line = 1;
  let i = 0;
  const endStatement = () => {
    if (current.length > 0) statements.push(current);
    current = [];
  };
  const skipComment = () => {
    while (i < text.length && text[i] !== "\n") i++;
  };

  while (i < text.length) {
    const c = text[i]!;
    if (SPACE.has(c)) {
      i++;
    } else if (c === "\n") {
      endStatement();
      line++;
      i++;
    } else if (c === "#") {
      skipComment();
    } else if (c === ";") {
      endStatement();
      i++;
    } else {
      const start = line;
      let word = "";
      let ended = false;
      while (!ended && i < text.length) {
        const ch = text[i]!;
        if (ch === "'") {
          const close = text.indexOf("'", i + 1);
          if (close < 0) throw fail(line, "unterminated ' quote");
          const piece = text.slice(i + 1, close);
          word += piece;
          line += piece.split("\n").length - 1;
          i = close + 1;
        } else if (ch === '"') {
          const open = line;
          i++;
          for (;;) {
            if (i >= text.length) throw fail(open, 'unterminated " quote');
            const q = text[i]!;
            if (q === '"') {
              i++;
              break;
            }
            if (q === "\\" && i + 1 < text.length) {
              const next = text[i + 1]!;
              // Backslash-newline joins lines; any other escaped char stands for itself.
              if (next === "\n") line++;
              else word += next;
              i += 2;
              continue;
            }
            if (q === "\n") line++;
            word += q;
            i++;
          }
        } else if (ch === "\\") {
          const next = text[i + 1];
          if (next === "\n") line++;
          else if (next !== undefined) word += next;
          i += 2;
        } else if (ch === "#") {
          skipComment();
          ended = true;
        } else if (ch === ";" || ch === "\n" || SPACE.has(ch)) {
          ended = true;
        } else {
          word += ch;
          i++;
        }
      }
      current.push({ text: word, line: start });
    }
  }
  endStatement();
  return statements;
}

/** Parses one UCI file; throws a UserError naming file:line on the first problem. */
export function parseUci(text: string, file: string): UciPackage {
  const sections: UciSection[] = [];
  const named = new Map<string, UciSection>();
  let section: UciSection | null = null;

  for (const words of splitStatements(text, file)) {
    const [command, ...args] = words;
    const line = command!.line;
    const fail = (cause: string) => badInput(`cannot parse ${file}:${line}: ${cause}`);
    const expectArgs = (min: number, max: number, what: string) => {
      if (args.length < min) throw fail(`missing ${what} after ${command!.text}`);
      if (args.length > max) throw fail(`trailing garbage ${quoteInput(args[max]!.text)}`);
    };

    // libuci also accepts the one-letter abbreviations.
    switch (command!.text) {
      case "package":
      case "p":
        expectArgs(1, 1, "package name");
        break;

      case "config":
      case "c": {
        expectArgs(1, 2, "section type");
        const type = args[0]!.text;
        if (!TYPE_RE.test(type)) throw fail(`invalid section type ${quoteInput(type)}`);
        const name = args[1]?.text || null;
        if (name !== null && !NAME_RE.test(name)) throw fail(`invalid section name ${quoteInput(name)}`);
        const existing = name === null ? undefined : named.get(name);
        if (existing) {
          // A repeated name reopens the section, as uci merges it.
          if (existing.type !== type) throw fail(`section ${quoteValue(name!)} redeclared with another type`);
          section = existing;
        } else {
          section = { type, name, line, options: new Map() };
          sections.push(section);
          if (name !== null) named.set(name, section);
        }
        break;
      }

      case "option":
      case "o":
      case "list":
      case "l": {
        if (!section) throw fail(`${command!.text} before the first config section`);
        expectArgs(1, 2, "option name");
        const name = args[0]!.text;
        if (!NAME_RE.test(name)) throw fail(`invalid option name ${quoteInput(name)}`);
        if (args.length < 2) throw fail(`missing value for ${name}`);
        const value = args[1]!.text;
        const old = section.options.get(name);
        if (command!.text.startsWith("o")) {
          section.options.set(name, { value, line, isList: false });
        } else if (!old) {
          section.options.set(name, { value: [value], line, isList: true, lines: [line] });
        } else {
          // A list item after a plain option turns it into a list keeping the old value.
          const items = Array.isArray(old.value) ? old.value : [old.value];
          const lines = old.lines ?? [old.line];
          section.options.set(name, { value: [...items, value], line: old.line, isList: true, lines: [...lines, line] });
        }
        break;
      }

      default:
        throw fail(`unknown statement ${quoteInput(command!.text)}`);
    }
  }
  return { file, sections };
}

/**
 * The one rule for reading a value out of a parsed section (third-party files:
 * UCI dhcp, luci_statistics): an empty value is unset, as `uci set p.s.o=''`
 * deletes the option; where one value is expected and a list was written, its
 * first item counts. iptmon's own file is validated by spec instead (config.ts).
 */
export function uciOption(sec: UciSection | undefined, name: string): string | null {
  return uciList(sec, name)[0] ?? null;
}

/** Every non-empty item of an option, whether written as `option` or `list`. */
export function uciList(sec: UciSection | undefined, name: string): string[] {
  const v = sec?.options.get(name)?.value;
  if (v === undefined) return [];
  return (Array.isArray(v) ? v : [v]).filter((s) => s !== "");
}

/** Single-quotes a value for a UCI file; an embedded `'` becomes `'\''`. */
export function quoteUci(value: string): string {
  return `'${value.replaceAll("'", "'\\''")}'`;
}
