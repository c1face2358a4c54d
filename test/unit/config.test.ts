import { describe, expect, test } from "bun:test";
import { GLOBAL_OPTIONS, loadConfig, NFT_RESERVED_TABLE_NAMES, parseBool, parseConfig } from "../../src/config.ts";
import { DEFAULTS } from "../../src/defaults.ts";
import { UserError } from "../../src/errors.ts";
import { userError } from "../helpers/builders.ts";
import { fakeSys } from "../helpers/fakesys.ts";

const FILE = "/etc/config/iptmon";


/** A config with a `config iptmon` section; the first option is on line 3. */
const global = (...lines: string[]) => `# iptmon\nconfig iptmon 'global'\n${lines.map((l) => `\t${l}\n`).join("")}`;

describe("parseConfig: defaults", () => {
  test("an empty file gives every default, no hosts, no warnings", () => {
    const c = parseConfig("", FILE, false);
    expect(c).toMatchObject({
      file: FILE,
      present: false,
      enabled: true,
      backend: DEFAULTS.backend,
      ipv6: DEFAULTS.ipv6,
      domain: null,
      leasefile: null,
      hostsfiles: [...DEFAULTS.hostsfiles],
      hostsdirs: [...DEFAULTS.hostsdirs],
      dhcpConfig: DEFAULTS.dhcpConfig,
      dnsmasqConfDir: DEFAULTS.dnsmasqConfDir,
      odhcpdState: null,
      lanInterfaces: [...DEFAULTS.lanInterfaces],
      lanSubnets: [],
      table: DEFAULTS.table,
      lockfile: DEFAULTS.lockfile,
      nft: DEFAULTS.nft,
      ip: DEFAULTS.ip,
      hosts: [],
      warnings: [],
    });
    expect(c.options.size).toBe(0);
  });

  test("an empty `config iptmon` section is the same as none", () => {
    const c = parseConfig("config iptmon\n", FILE);
    expect(c.present).toBe(true);
    expect(c.backend).toBe("auto");
    expect(c.lanInterfaces).toEqual(["br-lan"]);
    expect(c.warnings).toEqual([]);
  });

  test("the default lists are copies, not the shared defaults", () => {
    const c = parseConfig("", FILE);
    c.hostsfiles.push("/x");
    expect(parseConfig("", FILE).hostsfiles).toEqual([...DEFAULTS.hostsfiles]);
  });
});

describe("parseConfig: values", () => {
  test("every option is read into its field", () => {
    const c = parseConfig(
      global(
        "option enabled '0'",
        "option backend 'nftables'",
        "option ipv6 'off'",
        "option domain 'home.arpa'",
        "option leasefile '/tmp/leases'",
        "list hostsfile '/etc/hosts'",
        "list hostsfile '/etc/more hosts'",
        "list hostsdir '/tmp/hosts'",
        "option dhcp_config '/etc/config/dhcp2'",
        "option dnsmasq_confdir '/var/etc2'",
        "option odhcpd_statefile '/tmp/odhcpd'",
        "list lan_interface 'br-lan'",
        "list lan_interface 'br-guest'",
        "option table 'acct'",
        "option lockfile '/tmp/iptmon.lock'",
        "option nft '/usr/sbin/nft'",
        "option ip '/sbin/ip'",
      ),
      FILE,
    );
    expect(c).toMatchObject({
      enabled: false,
      backend: "nftables",
      ipv6: false,
      domain: "home.arpa",
      leasefile: "/tmp/leases",
      hostsfiles: ["/etc/hosts", "/etc/more hosts"],
      hostsdirs: ["/tmp/hosts"],
      dhcpConfig: "/etc/config/dhcp2",
      dnsmasqConfDir: "/var/etc2",
      odhcpdState: "/tmp/odhcpd",
      lanInterfaces: ["br-lan", "br-guest"],
      table: "acct",
      lockfile: "/tmp/iptmon.lock",
      nft: "/usr/sbin/nft",
      ip: "/sbin/ip",
      warnings: [],
    });
  });

  test.each([
    ["1", true],
    ["on", true],
    ["yes", true],
    ["true", true],
    ["enabled", true],
    ["0", false],
    ["off", false],
    ["no", false],
    ["false", false],
    ["disabled", false],
  ])("boolean %s is %p", (v, want) => {
    expect(parseConfig(global(`option ipv6 '${v}'`), FILE).ipv6).toBe(want);
    expect(parseBool(v, !want)).toBe(want);
  });

  test("parseBool: absent gives the default", () => {
    expect(parseBool(undefined, true)).toBe(true);
    expect(parseBool(undefined, false)).toBe(false);
  });

  test("a list option may be given as a plain option (one item)", () => {
    expect(parseConfig(global("option hostsfile '/etc/hosts.extra'"), FILE).hostsfiles).toEqual(["/etc/hosts.extra"]);
    expect(parseConfig(global("option lan_interface 'br-lan'"), FILE).lanInterfaces).toEqual(["br-lan"]);
  });

  test("options of other parts are kept, validated, in `options`", () => {
    const c = parseConfig(global("option iptables '/usr/sbin/iptables-legacy'", "list lan_subnet '10.0.0.0/8'"), FILE);
    expect(c.options.get("iptables")).toBe("/usr/sbin/iptables-legacy");
    expect(c.options.get("lan_subnet")).toEqual(["10.0.0.0/8"]);
  });
});

describe("parseConfig: every option kind is validated, with file:line", () => {
  type AnySpec = { kind: string; list?: true; choices?: readonly string[]; min?: number; max?: number };
  const bad: [string, string, string][] = [];
  for (const [name, raw] of Object.entries(GLOBAL_OPTIONS)) {
    const spec = raw as AnySpec;
    if (spec.choices) bad.push([name, "not-a-choice", `must be one of ${spec.choices.join(", ")}`]);
    else if (spec.kind === "bool") bad.push([name, "maybe", "must be a boolean"]);
    else if (spec.kind === "path") bad.push([name, "", "must be a path"]);
    else if (spec.kind === "name") bad.push([name, "bad name;x", "must be a name"]);
    else if (spec.kind === "table") bad.push([name, "counter", "is a word of nft's syntax"], [name, "bad name;x", "must be a name"], [name, "1x", "must start with a letter"]);
    else if (spec.kind === "subnet") bad.push([name, "10.0.0.0/33", "is not a subnet"]);
    else if (spec.kind === "int") {
      bad.push([name, "12x", "must be an integer"]);
      if (spec.max !== undefined) bad.push([name, String(spec.max + 1), "must be within"]);
      if (spec.min !== undefined) bad.push([name, String(spec.min - 1), "must be within"]);
    }
  }

  test("the table of bad values covers every kind that can be checked", () => {
    const kinds = new Set(bad.map(([n]) => (GLOBAL_OPTIONS as Record<string, AnySpec>)[n]!.kind));
    for (const k of ["bool", "path", "name", "string", "table", "subnet"]) expect(kinds.has(k)).toBe(true);
  });

  test.each(bad)("option %s '%s' is refused", (name, value, why) => {
    const e = userError(() => parseConfig(global("option table 'iptmon'", `option ${name} '${value}'`), FILE));
    expect(e.exitCode).toBe(2);
    expect(e.message).toContain(`${FILE}:4`);
    expect(e.message).toContain(`'${name}'`);
    expect(e.message).toContain(why);
  });

  test.each(bad)("list %s '%s' is refused in a list too (or as a list)", (name, value) => {
    const e = userError(() => parseConfig(global(`list ${name} '${value}'`), FILE));
    expect(e.message).toContain(`${FILE}:3`);
    expect(e.message).toContain(`'${name}'`);
  });

  test("a path with a NUL byte is refused", () => {
    expect(userError(() => parseConfig(global('option nft "/usr/sbin/nft\0"'), FILE)).message).toContain("must be a path");
  });

  test("a name longer than 64 characters is refused", () => {
    expect(userError(() => parseConfig(global(`option table '${"t".repeat(65)}'`), FILE)).message).toContain(`${FILE}:3`);
    expect(parseConfig(global(`option table '${"t".repeat(64)}'`), FILE).table).toBe("t".repeat(64));
  });

  test("booleans are case-sensitive words", () => {
    expect(userError(() => parseConfig(global("option enabled 'True'"), FILE)).message).toContain("must be a boolean");
  });

  test("`list` of a plain option is refused with its line", () => {
    for (const name of ["domain", "table", "enabled", "backend"]) {
      const e = userError(() => parseConfig(global("option ipv6 '1'", `list ${name} 'x'`), FILE));
      expect(e.message).toBe(`cannot read ${FILE}:4: option '${name}' is not a list`);
    }
  });

  test("a UCI syntax error names its line", () => {
    const e = userError(() => parseConfig(global("option ipv6 '1", ""), FILE));
    expect(e.message).toContain(`${FILE}:3`);
    expect(e.message).toContain("unterminated");
  });
});

describe("parseConfig: warnings", () => {
  test("an unknown option is warned about with its line, and ignored", () => {
    const c = parseConfig(global("option ipv6 '0'", "option colour 'red'"), FILE);
    expect(c.warnings).toEqual([`${FILE}:4: unknown option 'colour' in config iptmon (ignored)`]);
    expect(c.options.has("colour")).toBe(false);
    expect(c.ipv6).toBe(false);
  });

  test("an unknown section type is warned about, and ignored", () => {
    const c = parseConfig("config iptmon\n\nconfig frobnicator 'x'\n\toption a 'b'\n", FILE);
    expect(c.warnings).toEqual([`${FILE}:3: unknown section type 'frobnicator' (ignored)`]);
  });

  test("a second `config iptmon` section is warned about and ignored", () => {
    const c = parseConfig("config iptmon 'a'\n\toption ipv6 '0'\nconfig iptmon 'b'\n\toption ipv6 '1'\n", FILE);
    expect(c.ipv6).toBe(false);
    expect(c.warnings).toEqual([`${FILE}:3: a second 'config iptmon' section (ignored)`]);
  });
});

describe("parseConfig: lan_subnet and lan_interface", () => {
  test("subnets are parsed and masked, IPv4 and IPv6", () => {
    const c = parseConfig(global("list lan_subnet '192.168.1.77/24'", "list lan_subnet 'FD00::1/64'", "list lan_subnet '10.0.0.5'"), FILE);
    expect(c.lanSubnets.map((s) => s.text)).toEqual(["192.168.1.0/24", "fd00::/64", "10.0.0.5/32"]);
    expect(c.lanSubnets.map((s) => s.family)).toEqual([4, 6, 4]);
  });

  test("subnets alone replace the br-lan default", () => {
    expect(parseConfig(global("list lan_subnet '10.0.0.0/8'"), FILE).lanInterfaces).toEqual([]);
  });

  test("subnets and interfaces together add up", () => {
    const c = parseConfig(global("list lan_subnet '10.0.0.0/8'", "list lan_interface 'br-lan'"), FILE);
    expect(c.lanInterfaces).toEqual(["br-lan"]);
    expect(c.lanSubnets.map((s) => s.text)).toEqual(["10.0.0.0/8"]);
  });

  test("a bad subnet is a user error naming the option and the value, with a hint", () => {
    for (const v of ["10.0.0.0/33", "nope", "10.0.0.0/8/8", "fd00::/129"]) {
      const e = userError(() => parseConfig(global(`list lan_subnet '${v}'`), FILE));
      expect(e.exitCode).toBe(2);
      expect(e.message).toContain(FILE);
      expect(e.message).toContain("'lan_subnet'");
      expect(e.message).toContain(`'${v}'`);
      expect(e.hint).toContain("192.168.1.0/24");
    }
  });

  test("interface names are validated", () => {
    expect(userError(() => parseConfig(global("list lan_interface 'br lan'"), FILE)).message).toContain(`${FILE}:3`);
  });
});

describe("parseConfig: config host", () => {
  test("a good host section: MAC canonical, addresses canonical, ignore parsed", () => {
    const c = parseConfig(
      "config iptmon\n\nconfig host\n\toption mac 'AA-BB-CC-DD-EE-01'\n\toption name 'Living Room TV'\n\tlist ip '192.168.1.5'\n\tlist ip 'FD00::0005'\n\nconfig host\n\toption name 'nas'\n\toption ignore '1'\n",
      FILE,
    );
    expect(c.hosts).toEqual([
      { mac: "aa:bb:cc:dd:ee:01", name: "Living Room TV", ignore: false, addresses: ["192.168.1.5", "fd00::5"] },
      { mac: null, name: "nas", ignore: true, addresses: [] },
    ]);
    expect(c.warnings).toEqual([]);
  });

  test("`option ip` (a single address) is accepted as a one-item list", () => {
    expect(parseConfig("config host\n\toption mac 'aa:bb:cc:dd:ee:01'\n\toption ip '192.168.1.5'\n", FILE).hosts[0]!.addresses).toEqual(["192.168.1.5"]);
  });

  test("bad sections are skipped with a warning naming their line; good ones around them stay", () => {
    const text = [
      "config host", // 1
      "\toption mac 'nope'", // 2
      "\toption name 'x'", // 3
      "", // 4
      "config host", // 5
      "\toption name 'good'", // 6
      "", // 7
      "config host", // 8
      "\tlist ip '1.2.3.4'", // 9
      "", // 10
      "config host", // 11
      "\toption mac 'aa:bb:cc:dd:ee:01'", // 12
      "\tlist ip 'bad'", // 13
      "", // 14
      "config host", // 15
      "\toption mac 'aa:bb:cc:dd:ee:02'", // 16
      "\tlist name 'x'", // 17
      "", // 18
      "config host", // 19
      "\toption mac 'aa:bb:cc:dd:ee:03'", // 20
      "\toption ignore 'perhaps'", // 21
      "", // 22
      "config host", // 23
      "\toption mac 'ff:ff:ff:ff:ff:ff'", // 24
      "",
    ].join("\n");
    const c = parseConfig(text, FILE);
    expect(c.hosts.map((h) => h.name)).toEqual(["good"]);
    expect(c.warnings).toHaveLength(6);
    const [mac, neither, ip, list, bool, bcast] = c.warnings;
    expect(mac).toContain(`${FILE}:1:`);
    expect(mac).toContain("'mac'");
    expect(neither).toContain(`${FILE}:8:`);
    expect(neither).toContain("needs option 'mac' or option 'name'");
    expect(ip).toContain(`${FILE}:11:`);
    expect(ip).toContain("'bad'");
    expect(list).toContain(`${FILE}:17:`);
    expect(list).toContain("is not a list");
    expect(bool).toContain(`${FILE}:21:`);
    expect(bool).toContain("must be a boolean");
    expect(bcast).toContain(`${FILE}:23:`);
    for (const w of c.warnings) expect(w).toEndWith("(section skipped)");
  });

  test("an unknown option in a host is warned about, and the host kept", () => {
    const c = parseConfig("config host\n\toption mac 'aa:bb:cc:dd:ee:01'\n\toption colour 'red'\n", FILE);
    expect(c.hosts).toHaveLength(1);
    expect(c.warnings).toEqual([`${FILE}:3: unknown option 'colour' in config host (ignored)`]);
  });
});

describe("loadConfig", () => {
  test("a missing default file gives the defaults", () => {
    const c = loadConfig(fakeSys(), FILE, false);
    expect(c.present).toBe(false);
    expect(c.backend).toBe("auto");
  });

  test("a missing file named explicitly is a user error with a hint", () => {
    const e = userError(() => loadConfig(fakeSys(), "/missing", true));
    expect(e.exitCode).toBe(2);
    expect(e.message).toBe("cannot read config /missing: no such file");
    expect(e.hint).toContain("--config");
  });

  test("reads the file through sys", () => {
    const c = loadConfig(fakeSys({ files: { "/x/iptmon": global("option backend 'nftables'") } }), "/x/iptmon", true);
    expect(c.backend).toBe("nftables");
    expect(c.file).toBe("/x/iptmon");
  });
});

test("a bad lan_subnet names file and line", () => {
  expect(() => parseConfig("config iptmon\n\toption backend 'auto'\n\tlist lan_subnet '10.1.2.3/33'\n", "/etc/config/iptmon")).toThrow("/etc/config/iptmon:3: option 'lan_subnet'");
});

describe("option table: a name nft can parse", () => {
  // Words nft may read as something else, and names of other shapes.
  const candidates = [
    ...NFT_RESERVED_TABLE_NAMES,
    ...["counters", "quotas", "limits", "maps", "sets", "tables", "name", "packets", "bytes", "saddr", "daddr", "filter", "nat"],
    ...["iptmon", "acct", "br-lan", "_x", ".x", "x.y", "a-b", "x1", "1", "1x", "0x10", "-x", "1.2", "1-2"],
  ];
  const accepted = (name: string) => {
    try {
      return parseConfig(global(`option table '${name}'`), FILE).table === name;
    } catch (e) {
      if (e instanceof UserError) return false;
      throw e;
    }
  };

  test("nft's keywords are refused with file, line and option", () => {
    const e = userError(() => parseConfig(global("option table 'counter'"), FILE));
    expect(e.exitCode).toBe(2);
    expect(e.message).toBe(`cannot read ${FILE}:3: option 'table' is a word of nft's syntax, which cannot name a table: 'counter'`);
    expect(accepted("Counter")).toBe(false);
    expect(accepted("iptmon")).toBe(true);
  });

  const nft = Bun.which("nft");
  const parses = (name: string) => Bun.spawnSync([nft!, "-c", "-f", "-"], { stdin: Buffer.from(`add table inet ${name}\n`), stdout: "ignore", stderr: "ignore" }).exitCode === 0;
  // nft -c needs CAP_NET_ADMIN to check even a table it would create.
  const usable = nft !== null && parses("iptmon");
  test.skipIf(!usable)("every name validation accepts, the installed nft parses (and it refuses `counter`)", () => {
    expect(parses("counter")).toBe(false);
    const wrong = candidates.filter((n) => accepted(n) && !parses(n));
    expect(wrong).toEqual([]);
  });
});
