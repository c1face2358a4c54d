import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { UserError } from "../../src/errors.ts";
import { parseUci, quoteUci } from "../../src/uci.ts";

const fixture = (name: string) => readFileSync(`${import.meta.dir}/../fixtures/sources/${name}`, "utf8");

/** The message parseUci throws for `text`, failing the test if it does not throw a UserError. */
function parseError(text: string): string {
  try {
    parseUci(text, "/etc/config/test");
  } catch (e) {
    expect(e).toBeInstanceOf(UserError);
    expect((e as UserError).exitCode).toBe(2);
    return (e as Error).message;
  }
  throw new Error("expected parseUci to throw");
}

const one = (text: string) => parseUci(text, "t").sections[0]!;

describe("parseUci on OpenWrt's /etc/config/dhcp", () => {
  const pkg = parseUci(fixture("dhcp"), "/etc/config/dhcp");

  test("finds every section, in order, with its type, name and line", () => {
    expect(pkg.file).toBe("/etc/config/dhcp");
    expect(pkg.sections.map((s) => [s.type, s.name, s.line])).toEqual([
      ["dnsmasq", null, 2],
      ["dhcp", "lan", 26],
      ["dhcp", "wan", 38],
      ["odhcpd", "odhcpd", 42],
      ["host", null, 48],
      ["host", "printer", 55],
      ["host", null, 60],
      ["host", null, 68],
      ["host", null, 73],
      ["host", null, 78],
    ]);
  });

  test("reads options and lists with their lines", () => {
    const dnsmasq = pkg.sections[0]!;
    expect(dnsmasq.options.get("leasefile")).toEqual({ value: "/tmp/dhcp.leases", line: 16, isList: false });
    expect(dnsmasq.options.get("addnhosts")).toEqual({
      value: ["/etc/hosts.blocklist", "/tmp/hosts.extra"],
      line: 23,
      isList: true,
      lines: [23, 24],
    });
    expect(pkg.sections[1]!.options.get("ra_flags")?.value).toEqual(["managed-config", "other-config"]);
  });

  test("reads double-quoted and unquoted values and drops a trailing comment", () => {
    const kid = pkg.sections[9]!;
    expect(kid.options.get("name")?.value).toBe("kid$(reboot);*");
    expect(kid.options.get("mac")?.value).toBe("02:00:00:00:00:aa");
    expect(kid.options.get("ip")?.value).toBe("192.168.1.13");
  });
});

describe("parseUci quoting", () => {
  test("single quotes are literal: backslashes, double quotes, # and ; stay", () => {
    const s = one(`config t\n\toption v 'a\\"b # c; $(x) \\n'\n`);
    expect(s.options.get("v")?.value).toBe('a\\"b # c; $(x) \\n');
  });

  test("double quotes take backslash escapes and keep # and ;", () => {
    const s = one(`config t\noption v "say \\"hi\\" \\\\ # not a comment; x"\n`);
    expect(s.options.get("v")?.value).toBe('say "hi" \\ # not a comment; x');
  });

  test("adjacent quoted and unquoted pieces concatenate like the shell", () => {
    const s = one(`config t\noption v 'it'\\''s'"-"ok\n`);
    expect(s.options.get("v")?.value).toBe("it's-ok");
  });

  test("an empty quoted value is an empty string, and an empty name an anonymous section", () => {
    const s = one(`config host ''\noption ip ''\n`);
    expect(s.name).toBeNull();
    expect(s.options.get("ip")?.value).toBe("");
  });

  test("a quoted value may span lines, as in uci; line numbers stay right", () => {
    const pkg = parseUci(`config t\noption v 'one\ntwo'\noption w x\n`, "t");
    const s = pkg.sections[0]!;
    expect(s.options.get("v")?.value).toBe("one\ntwo");
    expect(s.options.get("w")?.line).toBe(4);
  });

  test("a backslash-newline joins lines", () => {
    const s = one(`config t\noption v abc\\\ndef\noption w y\n`);
    expect(s.options.get("v")?.value).toBe("abcdef");
    expect(s.options.get("w")?.line).toBe(4);
  });

  test("hostile bytes survive inside quotes", () => {
    const long = "x".repeat(300);
    const s = one(`config host\n option name '${long}'\n option a "Ünïcødé 🎉"\n option b '*'\n option c '; rm -rf /'\n`);
    expect(s.options.get("name")?.value).toBe(long);
    expect(s.options.get("a")?.value).toBe("Ünïcødé 🎉");
    expect(s.options.get("b")?.value).toBe("*");
    expect(s.options.get("c")?.value).toBe("; rm -rf /");
  });
});

describe("parseUci statements", () => {
  test("comments, blank lines, indentation, CRLF and package lines are ignored", () => {
    const pkg = parseUci(
      `# header\r\npackage dhcp\r\n\r\n   config dnsmasq   # trailing\r\n\t\toption domain lan\r\n\t# option domain wrong\r\n`,
      "t",
    );
    expect(pkg.sections).toHaveLength(1);
    expect(pkg.sections[0]!.options.get("domain")).toEqual({ value: "lan", line: 5, isList: false });
    expect(pkg.sections[0]!.options.size).toBe(1);
  });

  test("# inside an unquoted word starts a comment, as in libuci", () => {
    expect(one(`config t\noption v ab#cd\n`).options.get("v")?.value).toBe("ab");
  });

  test("; separates statements on one line", () => {
    const s = one(`config t 'x'; option a 1; list b 2; list b 3\n`);
    expect(s.name).toBe("x");
    expect(s.options.get("a")?.value).toBe("1");
    expect(s.options.get("b")?.value).toEqual(["2", "3"]);
  });

  test("the one-letter abbreviations of libuci work", () => {
    const s = one(`c host 'h'\no name n\nl mac m1\n`);
    expect(s.type).toBe("host");
    expect(s.options.get("name")?.value).toBe("n");
    expect(s.options.get("mac")?.value).toEqual(["m1"]);
  });

  test("a repeated option overrides, and its line is the last one", () => {
    const s = one(`config t\noption a 1\noption a 2\n`);
    expect(s.options.get("a")).toEqual({ value: "2", line: 3, isList: false });
  });

  test("a list after an option of the same name keeps the option's value first", () => {
    const s = one(`config t\noption mac aa\nlist mac bb\nlist mac cc\n`);
    expect(s.options.get("mac")).toEqual({ value: ["aa", "bb", "cc"], line: 2, isList: true, lines: [2, 3, 4] });
  });

  test("an option after a list replaces the list", () => {
    const s = one(`config t\nlist mac aa\nlist mac bb\noption mac cc\n`);
    expect(s.options.get("mac")).toEqual({ value: "cc", line: 4, isList: false });
  });

  test("a repeated section name reopens that section, as uci merges it", () => {
    const pkg = parseUci(`config host 'a'\noption ip 1\nconfig host 'b'\nconfig host 'a'\noption name n\n`, "t");
    expect(pkg.sections.map((s) => s.name)).toEqual(["a", "b"]);
    expect(pkg.sections[0]!.options.get("ip")?.value).toBe("1");
    expect(pkg.sections[0]!.options.get("name")?.value).toBe("n");
  });

  test("anonymous sections stay separate", () => {
    expect(parseUci(`config host\nconfig host\n`, "t").sections).toHaveLength(2);
  });

  test("an empty file is an empty package", () => {
    expect(parseUci("", "t")).toEqual({ file: "t", sections: [] });
  });
});

describe("parseUci errors", () => {
  test("an option before any config names the file and line", () => {
    expect(parseError(`\n\noption a b\n`)).toBe("cannot parse /etc/config/test:3: option before the first config section");
  });

  test("a list before any config is refused too", () => {
    expect(parseError(`list a b\n`)).toMatch(/^cannot parse \/etc\/config\/test:1: list before/);
  });

  test("an unterminated quote names the line where it opened", () => {
    expect(parseError(`config t\noption a 'abc\noption b c\n`)).toBe("cannot parse /etc/config/test:2: unterminated ' quote");
    expect(parseError(`config t\n\noption a "abc\n`)).toBe('cannot parse /etc/config/test:3: unterminated " quote');
  });

  test("a missing value, name or type", () => {
    expect(parseError(`config t\noption a\n`)).toBe("cannot parse /etc/config/test:2: missing value for a");
    expect(parseError(`config t\noption\n`)).toMatch(/:2: missing option name/);
    expect(parseError(`config\n`)).toMatch(/:1: missing section type/);
  });

  test("option names outside [A-Za-z0-9_] are refused", () => {
    expect(parseError(`config t\noption my-opt x\n`)).toBe('cannot parse /etc/config/test:2: invalid option name "my-opt"');
    expect(parseError(`config t\noption 'a b' x\n`)).toMatch(/invalid option name "a b"/);
    expect(parseError(`config t\noption ünï x\n`)).toMatch(/invalid option name/);
  });

  test("section names outside [A-Za-z0-9_] and types with spaces are refused", () => {
    expect(parseError(`config host 'my-host'\n`)).toMatch(/:1: invalid section name "my-host"/);
    expect(parseError(`config 'a b'\n`)).toMatch(/:1: invalid section type "a b"/);
  });

  test("trailing garbage after a statement", () => {
    expect(parseError(`config t\noption a b c\n`)).toBe('cannot parse /etc/config/test:2: trailing garbage "c"');
    expect(parseError(`config host name extra\n`)).toMatch(/:1: trailing garbage "extra"/);
  });

  test("an unknown statement", () => {
    expect(parseError(`config t\noptoin a b\n`)).toBe('cannot parse /etc/config/test:2: unknown statement "optoin"');
  });

  test("a section redeclared with another type", () => {
    expect(parseError(`config host 'x'\nconfig domain 'x'\n`)).toMatch(/:2: section 'x' redeclared/);
  });

  test("the error message stays on one line whatever the input", () => {
    const msg = parseError(`config t\noption "a\nb" x\n`);
    expect(msg).not.toContain("\n");
  });
});

describe("quoteUci", () => {
  test("single-quotes plain values", () => {
    expect(quoteUci("192.168.1.1")).toBe("'192.168.1.1'");
    expect(quoteUci("")).toBe("''");
  });

  test("embedded single quotes use '\\'' and everything else stays literal", () => {
    expect(quoteUci("it's")).toBe("'it'\\''s'");
    expect(quoteUci('$(reboot); "x" \\ #')).toBe(`'$(reboot); "x" \\ #'`);
  });

  test("round-trips through parseUci for hostile values", () => {
    for (const v of ["it's", "''", "a'b'c", '$(rm -rf /);`id`', "#;\\\"", "Ünïcødé", "*", "x".repeat(300), "two\nlines"]) {
      const s = one(`config t\noption v ${quoteUci(v)}\n`);
      expect(s.options.get("v")?.value).toBe(v);
    }
  });
});
