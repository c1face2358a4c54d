/**
 * The LuCI settings view (luci/htdocs/.../view/iptmon/settings.js) and the
 * binary's config rules (src/config.ts) must agree: every option the form
 * offers exists in GLOBAL_OPTIONS (or the prometheus section's spec), with
 * the same choices, range, default and list-ness, and the form accepts a value
 * exactly when the binary's parseConfig does. The view runs here as LuCI runs
 * it — its text as the body of a function given its 'require'd modules — with
 * a form stub that records what it declares.
 */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { GLOBAL_OPTIONS, parseConfig, SECTION_SPECS } from "../../src/config.ts";

const ROOT = resolve(import.meta.dir, "../..");
const VIEW = join(ROOT, "luci/htdocs/luci-static/resources/view/iptmon/settings.js");

interface Declared {
  section: string;
  cls: string;
  name: string;
  datatype?: string;
  validate?: (sid: string, v: string) => true | string;
  default?: string;
  values: string[];
}

function declared(): Declared[] {
  const out: Declared[] = [];
  const cls = (name: string) => ({ kind: name });
  const form = {
    Map: function (this: Record<string, unknown>, config: string) {
      this.config = config;
      this.section = (_c: unknown, type: string) => {
        const opt = (c: { kind: string }, name: string) => {
          const d: Declared = { section: type, cls: c.kind, name, values: [] };
          out.push(d);
          return Object.assign(d, { value: (k: string) => d.values.push(k), depends: () => {} });
        };
        return { tab: () => {}, option: opt, taboption: (_t: string, c: { kind: string }, name: string) => opt(c, name) };
      };
      this.render = () => "rendered";
    },
    TypedSection: cls("TypedSection"),
    NamedSection: cls("NamedSection"),
    Flag: cls("Flag"),
    ListValue: cls("ListValue"),
    Value: cls("Value"),
    DynamicList: cls("DynamicList"),
    MultiValue: cls("MultiValue"),
    GridSection: cls("GridSection"),
  };
  const view = { extend: (o: { render(): unknown }) => o };
  const text = readFileSync(VIEW, "utf8");
  const requires = [...text.matchAll(/^'require ([\w.]+)';/gm)].map((m) => m[1]);
  expect(requires).toEqual(["view", "form"]);
  const _ = (s: string) => s;
  const v = new Function("view", "form", "_", text)(view, form, _) as { render(): unknown };
  expect(v.render()).toBe("rendered");
  return out;
}

/** LuCI's datatype expressions settings.js uses: and(…), uinteger, range(a,b). */
function luciType(expr: string, v: string): boolean {
  const m = /^(\w+)(?:\((.*)\))?$/.exec(expr)!;
  if (m[1] === "and") return m[2]!.split(/,(?![^(]*\))/).every((p) => luciType(p, v));
  if (m[1] === "uinteger") return /^\d+$/.test(v);
  if (m[1] === "range") {
    const [a, b] = m[2]!.split(",").map(Number);
    return !Number.isNaN(Number(v)) && Number(v) >= a! && Number(v) <= b!;
  }
  throw new Error(`datatype not known to this test: ${m[1]}`);
}

/** What the form can submit: a checkbox only 0 or 1, a list only its choices, a text field what its checks pass. */
const luciAccepts = (d: Declared, v: string) =>
  d.cls === "Flag" ? v === "0" || v === "1" : d.cls === "ListValue" || d.cls === "MultiValue" ? d.values.includes(v) : (d.datatype ? luciType(d.datatype, v) : true) && (d.validate ? d.validate("x", v) === true : true);

function binaryAccepts(section: string, d: Declared, v: string): boolean {
  const list = d.cls === "DynamicList" || d.cls === "MultiValue";
  const line = list ? `\tlist ${d.name} '${v}'` : `\toption ${d.name} '${v}'`;
  if (section === "service") {
    // A class needs both: the other one given a value the binary takes. The form writes only names the binary keeps as they are.
    const other = d.name === "name" ? "\tlist match 'tcp/1'" : "\toption name 'x'";
    const cfg = parseConfig(`config service\n${line}\n${other}\n`, "/etc/config/iptmon");
    return cfg.warnings.length === 0;
  }
  const cfg = parseConfig(`config ${section}\n${line}\n`, "/etc/config/iptmon");
  // The global section throws on a bad value; an exporter section is skipped with a warning.
  return section === "iptmon" || !cfg.warnings.some((w) => w.includes("section skipped"));
}

function accepts(section: string, d: Declared, v: string): boolean {
  try {
    return binaryAccepts(section, d, v);
  } catch {
    return false;
  }
}

/** `config service` is read by src/split/services.ts, not by a spec table: its two options, as a spec would say them. */
const SERVICE_SPEC: Record<string, { kind: string; list?: boolean; choices?: readonly string[]; default?: unknown; min?: number; max?: number }> = { name: { kind: "string" }, match: { kind: "string", list: true } };

const specOf = (d: Declared) =>
  d.section === "service" ? SERVICE_SPEC[d.name] : (d.section === "iptmon" ? (GLOBAL_OPTIONS as Record<string, { kind: string; list?: boolean; choices?: readonly string[]; min?: number; max?: number; default?: unknown }>)[d.name]
    : (SECTION_SPECS as unknown as Record<string, Record<string, { kind: string; list?: boolean; default?: unknown; choices?: readonly string[]; min?: number; max?: number }>>)[d.section]?.[d.name]);

/** Values to try on an option: its edges, its neighbours, and things that are wrong in common ways. */
const SAMPLES = [
  "", "0", "1", "27", "28", "29", "999", "1000", "1001", "44640", "44641", "-1", "1.5", "x", "01",
  "br-lan", "eth0.1", "lan", "wan_6", "a.b-c_d", "sixteen-chars-xx", "fifteen-chars-x", "has space", "semi;colon", "ü", "x".repeat(64), "x".repeat(65),
  "192.168.1.0/24", "192.168.1.1", "10.0.0.0/8", "10.0.0.0/33", "256.1.1.1/24", "1.2.3/24", "fd00::/64", "fd00::1", "2001:db8::/129", "zz::/64",
  "/etc/iptmon", "/mnt/usb/iptmon", "relative/dir",
  "auto", "ports", "forward", "month", "week", "day", "year", "on", "off", "true",
  "family", "service", "other", "Other", "ipv6", "unsplit", "web", "dns-tls", "we b", "<b>", "x".repeat(63),
  "tcp/443", "udp/53", "tcp/8000-8999", "tcp/0", "tcp/65535", "tcp/65536", "tcp/9-1", "icmp/1", "tcp:443", "TCP/443", "tcp/1-2-3",
];

describe("settings.js against src/config.ts", () => {
  const opts = declared();

  test("it offers the options the LuCI app is for, each of them known to the binary", () => {
    const global = opts.filter((d) => d.section === "iptmon").map((d) => d.name);
    expect(global.sort()).toEqual(["breakdown", "enabled", "hook", "lan_interface", "lan_subnet", "network", "period", "period_start", "periods_kept", "persist_dir", "persist_interval"]);
    expect(opts.filter((d) => d.section !== "iptmon").map((d) => `${d.section}.${d.name}`)).toEqual(["service.name", "service.match", "prometheus.enabled"]);
    for (const d of opts) expect(specOf(d), `${d.section}.${d.name}`).toBeDefined();
  });

  test("lists are lists, flags are booleans, choices and defaults are the binary's", () => {
    for (const d of opts) {
      const spec = specOf(d)!;
      expect({ name: d.name, list: d.cls === "DynamicList" || d.cls === "MultiValue" }).toEqual({ name: d.name, list: spec.list === true });
      if (d.cls === "Flag") {
        expect(spec.kind).toBe("bool");
        expect({ name: d.name, default: d.default }).toEqual({ name: d.name, default: spec.default ? "1" : "0" });
      }
      if (spec.choices) {
        expect(d.cls).toBe(spec.list ? "MultiValue" : "ListValue");
        expect({ name: d.name, values: d.values }).toEqual({ name: d.name, values: [...spec.choices] });
        if (!spec.list) expect(d.default).toBe(spec.default as string);
      }
      if (spec.kind === "int") {
        const m = /range\((\d+),(\d+)\)/.exec(d.datatype ?? "");
        expect({ name: d.name, range: m ? [Number(m[1]), Number(m[2])] : null }).toEqual({ name: d.name, range: [spec.min!, spec.max!] });
      }
    }
  });

  test("the form accepts a value exactly when the binary does", () => {
    const disagree: string[] = [];
    for (const d of opts) {
      for (const v of SAMPLES) {
        if (v === "") continue; // empty: the form leaves the option unset
        const [luci, bin] = [luciAccepts(d, v), accepts(d.section, d, v)];
        // A checkbox writes only 0 or 1; the other spellings the binary reads are for hand-written files.
        if (d.cls === "Flag" && !luci) continue;
        if (luci !== bin) disagree.push(`${d.section}.${d.name} '${v}': form ${luci ? "accepts" : "refuses"}, binary ${bin ? "accepts" : "refuses"}`);
      }
    }
    expect(disagree).toEqual([]);
  });

  test("the check itself catches a drift: a range one off is found", () => {
    const d = opts.find((x) => x.name === "period_start")!;
    const off = { ...d, datatype: "and(uinteger,range(1,29))" };
    expect(luciAccepts(off, "29")).toBe(true);
    expect(accepts("iptmon", off, "29")).toBe(false);
  });
});
