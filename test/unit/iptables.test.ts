/**
 * The iptables backend's pure parts, against fixtures captured from
 * iptables-legacy-save 1.8.9 (test/fixtures/iptables/saves) and golden
 * restore inputs (test/fixtures/iptables/cases/<case>/expected.*). The e2e
 * test iptables-foreign.test.ts feeds the same goldens to the real
 * iptables-restore. IPTMON_UPDATE_GOLDEN=1 rewrites the expected files.
 */
import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Family } from "../../src/addr.ts";
import type { IptState } from "../../src/backends/ipt/layout.ts";
import { renderIptablesRemove } from "../../src/backends/ipt/render.ts";
import { combineFamilies, parseIptablesSave, splitArgs } from "../../src/backends/ipt/save.ts";
import { main } from "../../src/main.ts";
import { sanitizeName, uniqueName, type Host } from "../../src/model.ts";
import { fakeSys, ok } from "../helpers/fakesys.ts";
import { CASES, caseNames, loadState, plannedTotals, readCase, renderFor, save, SAVES } from "../helpers/iptfixtures.ts";

const update = process.env.IPTMON_UPDATE_GOLDEN === "1";

/** A read that found iptmon's chains. */
function full(s: IptState): Extract<IptState, { read: "full" }> {
  if (s.read !== "full") throw new Error("expected iptmon's chains to be there");
  return s;
}
const complete = (s: IptState) => s.read === "full" && s.complete;

function golden(path: string, actual: string): void {
  if (update) writeFileSync(path, actual);
  expect(actual).toBe(existsSync(path) ? readFileSync(path, "utf8") : `(missing ${path})`);
}

describe("splitArgs", () => {
  test("bare and quoted arguments, with \\\" and \\\\ inside quotes", () => {
    expect(splitArgs(`-A iptmon_rx -s 192.168.1.10/32 -m comment --comment rx_laptop -j RETURN`)).toEqual([
      "-A", "iptmon_rx", "-s", "192.168.1.10/32", "-m", "comment", "--comment", "rx_laptop", "-j", "RETURN",
    ]);
    expect(splitArgs(`--comment "a \\"b\\" $(reboot); \`x\`" -j RETURN`)).toEqual(["--comment", 'a "b" $(reboot); `x`', "-j", "RETURN"]);
    expect(splitArgs(`--comment "back\\\\slash"  x`)).toEqual(["--comment", "back\\slash", "x"]);
  });
});

describe("parseIptablesSave", () => {
  for (const name of ["foreign", "stateA", "shell", "split"]) {
    test(`${name}: hosts, presence and strays`, () => {
      golden(join(SAVES, `${name}.parsed.json`), `${JSON.stringify({ ...loadState(name), families: undefined }, null, 2)}\n`);
    });
  }

  test("stateA: keys from iptmon_hosts, counters summed over every v4 and v6 rule", () => {
    const s = full(loadState("stateA"));
    expect(s.complete).toBe(true);
    const laptop = s.hosts.find((h) => h.key === "02:00:00:00:00:01")!;
    expect(laptop.name).toBe("laptop");
    expect(laptop.addresses).toEqual(["192.168.1.10", "fd00:1::10", "fd00:1::11"]);
    expect(laptop.rx).toEqual({ packets: 111, bytes: 52100 });
    expect(laptop.tx).toEqual({ packets: 222, bytes: 340200 });
    // Rules not of iptmon's making: a hostile-commented subnet rule and a keyless host.
    expect(s.strays).toEqual(['-A iptmon_rx -s 192.168.1.0/24 -m comment --comment "a \\"b\\" $(reboot); `x`" -j RETURN', "rx_ghost 192.168.1.99"]);
    expect(s.families[4]!.jumps).toEqual({ rx: 2, tx: 1 });
  });

  test("no chain of iptmon's is absent; a family missing a chain or a jump is not complete", () => {
    expect(loadState("foreign")).toEqual({ read: "absent" });
    expect(complete(loadState("shell"))).toBe(false); // no iptmon_hosts
    const noJump = save("stateA", 6).replace(/^\[[^\]]*\] -A FORWARD -j iptmon_tx\n/m, "");
    expect(complete(combineFamilies({ 4: parseIptablesSave(save("stateA", 4), 4), 6: parseIptablesSave(noJump, 6) }))).toBe(false);
  });

  test("rules of the wrong family, with a prefix or foreign matches are strays", () => {
    const text = [
      "*mangle",
      ":iptmon_rx - [0:0]",
      "[1:2] -A iptmon_rx -s fd00::1/128 -m comment --comment rx_a -j RETURN",
      "[1:2] -A iptmon_rx -s 10.0.0.0/8 -m comment --comment rx_a -j RETURN",
      "[1:2] -A iptmon_rx -s 10.0.0.1/32 -i br-lan -m comment --comment rx_a -j RETURN",
      "[1:2] -A iptmon_rx -s 10.0.0.1/32 -m comment --comment tx_a -j RETURN",
      "[3:4] -A iptmon_rx -s 10.0.0.2/32 -m comment --comment rx_b -j RETURN",
      "COMMIT",
      "*filter",
      "[9:9] -A iptmon_rx -s 10.0.0.3/32 -m comment --comment rx_c -j RETURN",
      "COMMIT",
    ].join("\n");
    const st = parseIptablesSave(text, 4);
    expect(st.rules).toEqual([{ dir: "rx", addr: "10.0.0.2", name: "b", packets: 3, bytes: 4 }]);
    expect(st.strays).toHaveLength(4);
  });
});

describe("renderIptables (golden cases)", () => {
  for (const name of caseNames()) {
    const c = readCase(name);
    test(`${name}: ${c.about}`, () => {
      const families = c.families ?? [4, 6];
      const r = renderFor(loadState(c.current, families), c.desired, { rebuild: c.rebuild }, families);
      golden(join(CASES, name, "expected.v4.restore"), r.v4);
      golden(join(CASES, name, "expected.v6.restore"), r.v6);
      golden(join(CASES, name, "expected-hosts.json"), `${JSON.stringify(plannedTotals(c), null, 2)}\n`);
    });
  }

  test("renames, address losses and re-inits never lower a surviving host's totals", () => {
    const before = new Map(full(loadState("stateA")).hosts.map((h) => [h.key, h]));
    for (const name of caseNames()) {
      const c = readCase(name);
      if (c.current !== "stateA" || c.families) continue;
      for (const h of plannedTotals(c)) {
        const b = before.get(h.key);
        if (!b) continue;
        expect(h.rx.bytes).toBe(b.rx.bytes);
        expect(h.tx.packets).toBe(b.tx.packets);
      }
    }
  });

  test("an incremental render names only iptmon's chains, never FORWARD or another chain", () => {
    for (const name of caseNames()) {
      const c = readCase(name);
      if (c.rebuild) continue;
      const r = renderFor(loadState(c.current), c.desired, { rebuild: false });
      for (const line of `${r.v4}${r.v6}`.split("\n").filter((l) => l && l !== "*mangle" && l !== "COMMIT")) {
        if (c.current === "foreign" || c.current === "shell") expect(line).toMatch(/^(:iptmon_(hosts|rx|tx) - \[0:0\]|(\[\d+:\d+\] )?-[ADI] (iptmon_(hosts|rx|tx)|FORWARD( 1)? -j iptmon_(rx|tx)$))/);
        else expect(line).toMatch(/^(\[\d+:\d+\] )?-[AD] iptmon_(hosts|rx|tx) /);
      }
    }
  });
});

describe("hostile names", () => {
  const raw = ['a"b', "$(reboot)", ";", "new\nline", "x".repeat(300), "héllo wörld", "`id`", "a\\b"];

  test("sanitised names render as plain, quoted comments and parse back", () => {
    const taken = new Set<string>();
    const desired: Host[] = raw.map((n, i) => {
      const name = uniqueName(sanitizeName(n, null) ?? `host-${i}`, taken);
      taken.add(name.toLowerCase());
      return { key: `02:00:00:00:01:0${i}`, name, addresses: [`192.168.1.${100 + i}`, `fd00:1::${100 + i}`] };
    });
    const r = renderFor(loadState("foreign"), desired, { rebuild: true });
    for (const line of `${r.v4}${r.v6}`.split("\n")) {
      expect(line).toMatch(/^[\x20-\x7e]*$/);
      const comment = /--comment "([^"\\]*)"/.exec(line);
      if (line.includes("--comment")) expect(comment).not.toBeNull();
    }
    // What iptables-save would print back parses to the same hosts.
    const back = (text: string, f: Family) => {
      const lines = text.split("\n").filter((l) => l.startsWith("[") || l.startsWith("-A"));
      return parseIptablesSave(`*mangle\n:iptmon_hosts - [0:0]\n:iptmon_rx - [0:0]\n:iptmon_tx - [0:0]\n-A FORWARD -j iptmon_rx\n-A FORWARD -j iptmon_tx\n${lines.join("\n")}\nCOMMIT\n`, f);
    };
    const s = full(combineFamilies({ 4: back(r.v4, 4), 6: back(r.v6, 6) }));
    expect(s.complete).toBe(true);
    expect(s.strays).toEqual([]);
    expect(s.hosts.map((h) => [h.key, h.name, h.addresses]).sort()).toEqual(desired.map((h) => [h.key, h.name, h.addresses]).sort());
  });

  test("an unsanitised name, key or address never reaches the output: the renderer throws", () => {
    for (const n of raw) {
      expect(() => renderFor(loadState("foreign"), [{ key: "02:00:00:00:00:01", name: n, addresses: ["192.168.1.5"] }], { rebuild: true })).toThrow(/unsafe host name/);
    }
    expect(() => renderFor(loadState("foreign"), [{ key: 'x" -j DROP', name: "a", addresses: ["192.168.1.5"] }], { rebuild: true })).toThrow(/unsafe host key/);
    expect(() => renderFor(loadState("foreign"), [{ key: "k", name: "a", addresses: ["192.168.1.5 -j DROP"] }], { rebuild: true })).toThrow(/unsafe address/);
  });
});

describe("renderIptablesRemove", () => {
  for (const name of ["stateA", "shell", "foreign"]) {
    test(`${name}: the jumps, then iptmon's chains, and nothing else`, () => {
      golden(join(SAVES, `${name}.remove.v4.restore`), renderIptablesRemove(parseIptablesSave(save(name, 4), 4)));
      golden(join(SAVES, `${name}.remove.v6.restore`), renderIptablesRemove(parseIptablesSave(save(name, 6), 6)));
    });
  }
});

describe("the backend through main()", () => {
  const CONF = "/etc/config/iptmon";
  const config = (extra = "") => `config iptmon 'global'\n\toption backend 'iptables'\n\tlist lan_subnet '192.168.1.0/24'\n\tlist lan_subnet 'fd00:1::/64'\n${extra}`;
  const tables = (v4: string, v6: string) => ({
    "iptables-legacy-save -c -t mangle": ok(v4),
    "ip6tables-legacy-save -c -t mangle": ok(v6),
  });

  test("status --json sums v4 and v6 rules per host and names the backend", async () => {
    const sys = fakeSys({ files: { [CONF]: config() }, commands: tables(save("stateA", 4), save("stateA", 6)) });
    expect(await main(["status", "--json"], sys)).toBe(0);
    const s = JSON.parse(sys.out) as { backend: string; hosts: { name: string; key: string; rx_bytes: number; tx_packets: number }[] };
    expect(s.backend).toBe("iptables");
    expect(s.hosts.map((h) => [h.name, h.key, h.rx_bytes, h.tx_packets])).toEqual([
      ["laptop", "02:00:00:00:00:01", 52100, 222],
      ["nas", "host:nas", 1600, 18],
      ["phone", "duid:000100012a2b3c4d0a0b0c0d0e0f", 500, 6],
    ]);
  });

  test("init: one restore per family, --noflush --counters, waiting for the xtables lock", async () => {
    const applied: Record<string, string> = {};
    const sys = fakeSys({
      files: { [CONF]: config(), "/tmp/dhcp.leases": "1900000000 02:00:00:00:00:01 192.168.1.10 laptop *\n" },
      commands: {
        ...tables(save("stateA", 4), save("stateA", 6)),
        "ip neigh show": ok(""),
        "iptables-legacy-restore -w 10 --noflush --counters": (i) => ((applied.v4 = i ?? ""), ok()),
        "ip6tables-legacy-restore -w 10 --noflush --counters": (i) => ((applied.v6 = i ?? ""), ok()),
        "iptables-legacy-restore -w 10 --noflush --counters --test": ok(),
        "ip6tables-legacy-restore -w 10 --noflush --counters --test": ok(),
      },
    });
    expect(await main(["init"], sys)).toBe(0);
    expect(sys.err).toBe("");
    // laptop's IPv6 addresses are known nowhere now: their counters stay with its IPv4 rule.
    expect(applied.v4).toContain('[111:52100] -A iptmon_rx -s 192.168.1.10/32 -m comment --comment "rx_laptop" -j RETURN');
    expect(applied.v4).not.toContain("phone");
    expect(applied.v6).toContain('-A iptmon_hosts -m comment --comment "iptmon: 02:00:00:00:00:01 laptop" -j RETURN');
    // both families checked (--test) before either commits
    expect(sys.calls.filter((c) => c.cmd.includes("restore")).map((c) => `${c.cmd} ${c.args.at(-1)}`)).toEqual([
      "iptables-legacy-restore --test",
      "ip6tables-legacy-restore --test",
      "iptables-legacy-restore --counters",
      "ip6tables-legacy-restore --counters",
    ]);
  });

  test("a batch the IPv6 side refuses leaves IPv4 untouched", async () => {
    const sys = fakeSys({
      files: { [CONF]: config(), "/tmp/dhcp.leases": "1900000000 02:00:00:00:00:01 192.168.1.10 laptop *\n" },
      commands: {
        ...tables(save("stateA", 4), save("stateA", 6)),
        "ip neigh show": ok(""),
        "iptables-legacy-restore -w 10 --noflush --counters --test": ok(),
        "ip6tables-legacy-restore -w 10 --noflush --counters --test": { code: 1, stdout: "", stderr: "ip6tables-restore: line 3 failed\n" },
        "iptables-legacy-restore -w 10 --noflush --counters": ok(),
      },
    });
    expect(await main(["init"], sys)).toBe(1);
    expect(sys.err).toContain("line 3 failed");
    expect(sys.calls.filter((c) => c.cmd === "iptables-legacy-restore" && !c.args.includes("--test"))).toEqual([]);
  });

  test("without the -legacy variants the plain tools are used", async () => {
    const sys = fakeSys({
      files: { [CONF]: config() },
      commands: { "iptables-save -c -t mangle": ok(save("shell", 4)), "ip6tables-save -c -t mangle": ok(save("shell", 6)) },
    });
    expect(await main(["status"], sys)).toBe(0);
    expect(sys.out).toStartWith("backend: iptables, counting in the forward hook\n");
  });

  test("option iptables and option ip6tables_save pick the binaries", async () => {
    const sys = fakeSys({
      files: { [CONF]: config("\toption iptables '/opt/sbin/iptables-nft'\n\toption ip6tables_save '/opt/ip6save'\n") },
      commands: { "/opt/sbin/iptables-nft-save -c -t mangle": ok(save("foreign", 4)), "/opt/ip6save -c -t mangle": ok(save("foreign", 6)) },
    });
    expect(await main(["status", "--json"], sys)).toBe(0);
    expect(JSON.parse(sys.out)).toMatchObject({ backend: "iptables", hook: "forward", count: 0, hosts: [] });
  });

  test("missing binaries: one line, a hint, exit 1", async () => {
    const sys = fakeSys({ files: { [CONF]: config() }, commands: {} });
    expect(await main(["status"], sys)).toBe(1);
    expect(sys.err).toBe(
      "iptmon: cannot run iptables-legacy-save or iptables-save: not found; " +
        "hint: install iptables, set option iptables_save, or choose --backend nftables\n",
    );
  });

  test("option ipv6 '0': ip6tables is never needed", async () => {
    const sys = fakeSys({ files: { [CONF]: config("\toption ipv6 '0'\n") }, commands: { "iptables-legacy-save -c -t mangle": ok(save("stateA", 4)) } });
    expect(await main(["status", "--json"], sys)).toBe(0);
    expect(await main(["stop"], sys)).toBe(1); // rules are there but no restore binary: reported
    expect(sys.err).toMatch(/^iptmon: cannot run iptables-legacy-restore or iptables-restore: not found; hint: /);
  });

  test("a failing restore is one line naming the family, exit 1", async () => {
    const sys = fakeSys({
      files: { [CONF]: config() },
      commands: {
        ...tables(save("stateA", 4), save("stateA", 6)),
        "iptables-legacy-restore -w 10 --noflush --counters": { code: 1, stdout: "", stderr: "iptables-restore: line 3 failed\n" },
      },
    });
    expect(await main(["stop"], sys)).toBe(1);
    expect(sys.err).toBe("iptmon: cannot remove iptmon's chains from table mangle (IPv4) with iptables-legacy-restore: iptables-restore: line 3 failed\n");
  });

  test("stop when nothing is there runs no restore and exits 0", async () => {
    const sys = fakeSys({ files: { [CONF]: config() }, commands: tables(save("foreign", 4), save("foreign", 6)) });
    expect(await main(["stop"], sys)).toBe(0);
    // Reads only: the snapshot's last read, then remove's own.
    expect(sys.calls.map((c) => c.cmd)).toEqual(["iptables-legacy-save", "ip6tables-legacy-save", "iptables-legacy-save", "ip6tables-legacy-save"]);
  });

  test("backend auto: nftables where nft works, else iptables", async () => {
    const noNft = fakeSys({ files: { [CONF]: "config iptmon\n" }, commands: tables(save("foreign", 4), save("foreign", 6)) });
    expect(await main(["status"], noNft)).toBe(0);
    expect(noNft.out).toStartWith("backend: iptables, counting in the forward hook\n");
    const withNft = fakeSys({
      files: { [CONF]: "config iptmon\n" },
      commands: { "nft list tables": ok(), "nft -j list table inet iptmon": { code: 1, stdout: "", stderr: "Error: No such file or directory\n" } },
    });
    expect(await main(["status"], withNft)).toBe(0);
    expect(withNft.out).toStartWith("backend: nftables, counting in the forward hook\n");
  });

  test("option table names the chains' prefix; one too long for iptables is refused with exit 2", async () => {
    const prefixed = (t: string) => t.replaceAll("iptmon_", "acct_");
    const sys = fakeSys({ files: { [CONF]: config("\toption table 'acct'\n") }, commands: tables(prefixed(save("stateA", 4)), prefixed(save("stateA", 6))) });
    expect(await main(["status", "--json"], sys)).toBe(0);
    expect((JSON.parse(sys.out) as { hosts: unknown[] }).hosts).toHaveLength(3);
    const long = fakeSys({ files: { [CONF]: config(`\toption table '${"x".repeat(23)}'\n`) }, commands: tables("", "") });
    expect(await main(["status"], long)).toBe(2);
    expect(long.err).toMatch(/^iptmon: cannot use option table 'x+' as a prefix of iptables chain names: over 22 characters; hint: /);
  });

  test("--backend iptables overrides the config", async () => {
    const sys = fakeSys({ files: { [CONF]: "config iptmon\n\toption backend 'nftables'\n" }, commands: tables(save("foreign", 4), save("foreign", 6)) });
    expect(await main(["--backend", "iptables", "status"], sys)).toBe(0);
    expect(sys.out).toStartWith("backend: iptables, counting in the forward hook\n");
  });
});
