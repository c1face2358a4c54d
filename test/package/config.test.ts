/**
 * The shipped files/etc/config/iptmon and its documentation,
 * files/usr/share/iptmon/iptmon.example, read by iptmon's own parser: no
 * warnings as shipped, the defaults; every `config iptmon` option documented
 * in the example, and every commented-out example real (uncommented, it still
 * parses cleanly); the example's settings are the shipped ones; and the
 * shipped config survives `uci commit` (the uci stand-in, which drops comments
 * as uci does) with every option and value.
 */
import { afterEach, beforeEach, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT } from "../../scripts/mkipk.ts";
import { GLOBAL_OPTIONS, parseConfig } from "../../src/config.ts";
import { DEFAULTS } from "../../src/defaults.ts";
import { defaultServices } from "../../src/split/services.ts";
import { main as uci } from "../helpers/fake-uci.ts";

const FILE = join(ROOT, "files/etc/config/iptmon");
const SHIPPED = readFileSync(FILE, "utf8");
const EXAMPLE_FILE = join(ROOT, "files/usr/share/iptmon/iptmon.example");
const TEXT = readFileSync(EXAMPLE_FILE, "utf8");

test("parses with no warnings, and its values are the defaults", () => {
  const c = parseConfig(SHIPPED, FILE);
  expect(c.warnings).toEqual([]);
  expect(c.enabled).toBe(true);
  expect(c.backend).toBe(DEFAULTS.backend);
  expect(c.ipv6).toBe(DEFAULTS.ipv6);
  expect(c.domain).toBeNull();
  expect(c.leasefile).toBeNull();
  expect(c.hostsfiles).toEqual([...DEFAULTS.hostsfiles]);
  expect(c.hostsdirs).toEqual([...DEFAULTS.hostsdirs]);
  expect(c.dhcpConfig).toBe(DEFAULTS.dhcpConfig);
  expect(c.dnsmasqConfDir).toBe(DEFAULTS.dnsmasqConfDir);
  expect(c.odhcpdState).toBeNull();
  expect(c.lanInterfaces).toEqual([...DEFAULTS.lanInterfaces]);
  expect(c.lanSubnets).toEqual([]);
  expect(c.table).toBe(DEFAULTS.table);
  expect(c.lockfile).toBe(DEFAULTS.lockfile);
  expect(c.nft).toBe(DEFAULTS.nft);
  expect(c.ip).toBe(DEFAULTS.ip);
  expect(c.hosts).toEqual([]);
  expect(c.sections).toEqual([]);
});

test("the example shows every option of config iptmon, set or commented out, with a comment above", () => {
  const lines = TEXT.split("\n");
  for (const name of Object.keys(GLOBAL_OPTIONS)) {
    const i = lines.findIndex((l) => new RegExp(`^\\t#?(option|list) ${name} `).test(l));
    expect([name, i >= 0]).toEqual([name, true]);
    // the nearest line above that is not itself an option is a comment
    let j = i - 1;
    while (j >= 0 && /^\t#?(option|list) /.test(lines[j]!)) j--;
    expect([name, lines[j]]).toEqual([name, expect.stringMatching(/^\t# /) as unknown as string]);
  }
});

test("with every commented-out example of the example enabled, it still parses with no warnings", () => {
  const all = TEXT.split("\n")
    .map((l) => l.replace(/^(\t?)#(?=(config|option|list) )/, "$1").replace(/^#\t#?(?=(option|list) )/, "\t"))
    .join("\n");
  expect(all).not.toContain("#config");
  const c = parseConfig(all, FILE);
  expect(c.warnings).toEqual([]);
  expect(c.hosts.map((h) => [h.mac, h.name, h.ignore])).toEqual([
    ["02:00:00:00:00:0a", "living-room-tv", false],
    ["02:00:00:00:00:0b", null, true],
  ]);
  expect(c.sections.map((s) => s.type)).toEqual(["influxdb", "influxdb", "collectd", "prometheus"]);
  // The service classes it lists are the built-in ones, so copying them changes nothing.
  expect(c.services).toEqual(defaultServices());
  expect(c.breakdown).toEqual(["family", "service"]);
  expect(c.lanSubnets.map((s) => s.text)).toEqual(["192.168.1.0/24", "fd00:1::/64"]);
});

/** What the parser makes of a config: every global option, hosts, sections. */
function meaning(text: string) {
  const { file: _f, present: _p, options: _o, warnings, ...rest } = parseConfig(text, FILE);
  expect(warnings).toEqual([]);
  return rest;
}
const withoutComments = (text: string) =>
  text
    .split("\n")
    .filter((l) => !/^\s*#/.test(l))
    .join("\n")
    .replace(/^\n+/, "\n");

test("the example's settings are the shipped ones: it documents, /etc/config/iptmon decides", () => {
  expect(meaning(TEXT)).toEqual(meaning(SHIPPED));
  // The same option lines, in the same order.
  const settings = (t: string) => t.split("\n").filter((l) => /^(config|\t(option|list)) /.test(l));
  expect(settings(TEXT)).toEqual(settings(SHIPPED));
});

let conf: string;
beforeEach(() => {
  conf = mkdtempSync(join(tmpdir(), "iptmon-conf-"));
  writeFileSync(join(conf, "iptmon"), SHIPPED);
});
afterEach(() => rmSync(conf, { recursive: true, force: true }));
const run = (...args: string[]) => expect(uci(["-c", conf, ...args], () => "")).toEqual({ code: 0, stdout: "", stderr: "" });
const committed = () => readFileSync(join(conf, "iptmon"), "utf8");

test("uci commit keeps every option and value of the shipped config; only the comments go", () => {
  run("set", "iptmon.main.enabled=1");
  run("commit", "iptmon");
  // Written as uci writes it already: a commit changes nothing but the comments.
  expect(committed()).toBe(withoutComments(SHIPPED));
  expect(meaning(committed())).toEqual(meaning(SHIPPED));
  expect(committed().length).toBeGreaterThan(SHIPPED.length / 2);
});

test("the CGI's own suggestion (enable the Prometheus export) keeps every default and its meaning", () => {
  run("set", "iptmon.prometheus=prometheus");
  run("set", "iptmon.prometheus.enabled=1");
  run("commit", "iptmon");
  const { sections, ...globals } = meaning(committed());
  const { sections: before, ...shipped } = meaning(SHIPPED);
  expect(globals).toEqual(shipped);
  expect(before).toEqual([]);
  expect(sections.map((s) => [s.type, s.name, s.options])).toEqual([["prometheus", "prometheus", { enabled: true }]]);
  expect(committed()).toBe(`${withoutComments(SHIPPED)}\nconfig prometheus 'prometheus'\n\toption enabled '1'\n`);
});
