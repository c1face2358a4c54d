/**
 * The shipped files/etc/config/iptmon, read by iptmon's own parser: no
 * warnings as shipped, every `config iptmon` option documented, and every
 * commented-out example real (uncommented, it still parses cleanly).
 */
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "../../scripts/mkipk.ts";
import { GLOBAL_OPTIONS, parseConfig } from "../../src/config.ts";
import { DEFAULTS } from "../../src/defaults.ts";

const FILE = join(ROOT, "files/etc/config/iptmon");
const TEXT = readFileSync(FILE, "utf8");

test("parses with no warnings, and its values are the defaults", () => {
  const c = parseConfig(TEXT, FILE);
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

test("every option of config iptmon is shown, set or commented out, with a comment above", () => {
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

test("with every commented-out example enabled, it still parses with no warnings", () => {
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
  expect(c.lanSubnets.map((s) => s.text)).toEqual(["192.168.1.0/24", "fd00:1::/64"]);
});
