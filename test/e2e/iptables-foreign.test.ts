/**
 * The iptables backend never touches what is not its own: in a fresh network
 * namespace, mangle holds rules of other packages (fw3's TCPMSS clamping in
 * FORWARD, MARK rules, a user chain) in both iptables-legacy and
 * ip6tables-legacy, and the real dist/iptmon runs init, events, init again
 * and stop. After every step the foreign part of `iptables-save -t mangle`
 * is identical (counters stripped). Also: hostile hostnames, counters carried
 * by init, renames and address losses, and the unit tests' golden restore
 * inputs fed to the real iptables-restore.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { caseNames, CASES, readCase, readExpected, save as fixtureSave } from "../helpers/iptfixtures.ts";
import { cannotRun, foreignPart, IptNs, ourPart } from "./iptns.ts";
import type { StatusHost } from "../../src/status.ts";

const skip = cannotRun([], "iptables-foreign");

const FOREIGN4 = `*mangle
:qos_user - [0:0]
[40:3000] -A PREROUTING -i br-lan -j MARK --set-xmark 0x10/0xff
[12:720] -A FORWARD -o wan -p tcp -m tcp --tcp-flags SYN,RST SYN -m comment --comment "!fw3: Zone wan MTU fixing" -j TCPMSS --clamp-mss-to-pmtu
[9:900] -A FORWARD -i br-lan -j MARK --set-xmark 0x20/0xff
-A POSTROUTING -j qos_user
[3:180] -A qos_user -s 10.0.0.0/8 -m comment --comment "user \\"chain\\" rule" -j RETURN
COMMIT
`;
const FOREIGN6 = `*mangle
:qos_user - [0:0]
[5:400] -A FORWARD -o wan -p tcp -m tcp --tcp-flags SYN,RST SYN -m comment --comment "!fw3: Zone wan MTU fixing" -j TCPMSS --clamp-mss-to-pmtu
[2:200] -A PREROUTING -i br-lan -j MARK --set-xmark 0x10/0xff
-A POSTROUTING -j qos_user
-A qos_user -s fd00::/8 -j RETURN
COMMIT
`;

const LAPTOP = "02:00:00:00:00:01";
const LEASES = [
  `1900000000 ${LAPTOP} 192.168.77.10 laptop 01:02:00:00:00:00:01`,
  "1900000000 02:00:00:00:00:02 192.168.77.11 phone *",
  "duid 00:01:00:01:11:22:33:44:aa:bb:cc:dd:ee:ff",
  `1900000000 305419896 fd77:77::10 laptop 00:01:00:01:2a:2b:3c:4d:${LAPTOP}`,
  "",
].join("\n");

describe.skipIf(skip !== null)("iptables backend beside other packages' mangle rules", () => {
  let ns: IptNs;
  let before: Record<4 | 6, string>;

  const status = (): StatusHost[] => {
    const r = ns.iptmon("status", "--json");
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout) as { backend: string; hosts: StatusHost[] };
    expect(s.backend).toBe("iptables");
    return s.hosts;
  };
  const iptmonOk = (...args: string[]) => {
    const r = ns.iptmon(...args);
    expect({ args, code: r.code, stderr: r.stderr }).toEqual({ args, code: 0, stderr: "" });
  };
  const expectForeignUntouched = () => {
    expect(foreignPart(ns.save(4))).toBe(before[4]);
    expect(foreignPart(ns.save(6))).toBe(before[6]);
  };
  const expectOneJumpEach = () => {
    for (const f of [4, 6] as const) {
      const ours = ourPart(ns.save(f));
      expect(ours.filter((l) => / -A FORWARD -j iptmon_rx$/.test(l))).toHaveLength(1);
      expect(ours.filter((l) => / -A FORWARD -j iptmon_tx$/.test(l))).toHaveLength(1);
    }
  };
  const setCounters = (f: 4 | 6, chain: string, addr: string, packets: number, bytes: number) => ns.setCounters(f, chain, addr, packets, bytes);

  beforeAll(() => {
    ns = new IptNs();
    expect(ns.restore(4, FOREIGN4).stderr).toBe("");
    expect(ns.restore(6, FOREIGN6).stderr).toBe("");
    writeFileSync(join(ns.dir, "dhcp.leases"), LEASES);
    ns.writeConfig(["\tlist lan_subnet '192.168.77.0/24'", "\tlist lan_subnet 'fd77:77::/64'"]);
    before = { 4: foreignPart(ns.save(4)), 6: foreignPart(ns.save(6)) };
    expect(before[4]).toContain("TCPMSS");
    expect(before[6]).toContain("qos_user");
  });

  afterAll(() => ns?.destroy());

  test("status before anything: no hosts, exit 0", () => {
    expect(status()).toEqual([]);
  });

  test("init adds iptmon's chains and one jump per direction, and nothing else changes", () => {
    iptmonOk("init");
    expectForeignUntouched();
    expectOneJumpEach();
    const hosts = status();
    expect(hosts.map((h) => [h.name, h.key, h.addresses])).toEqual([
      ["laptop", LAPTOP, ["192.168.77.10", "fd77:77::10"]],
      ["phone", "02:00:00:00:00:02", ["192.168.77.11"]],
    ]);
    // Foreign rules keep their counters too: their rules were never replaced.
    expect(ns.save(4)).toContain('[12:720] -A FORWARD -o wan -p tcp -m tcp --tcp-flags SYN,RST SYN -m comment --comment "!fw3: Zone wan MTU fixing"');
  });

  test("add and del events change one host, and nothing else", () => {
    iptmonOk("add", "02:00:00:00:00:03", "192.168.77.12", "tv");
    expect(status().find((h) => h.name === "tv")?.addresses).toEqual(["192.168.77.12"]);
    expectForeignUntouched();
    iptmonOk("del", "02:00:00:00:00:03", "192.168.77.12", "tv");
    expect(status().map((h) => h.name)).toEqual(["laptop", "phone"]);
    expectForeignUntouched();
    expectOneJumpEach();
  });

  test("init keeps every rule's counters; a rename and a lost address keep the host's totals", () => {
    setCounters(4, "iptmon_rx", "192.168.77.10", 5, 500);
    setCounters(4, "iptmon_tx", "192.168.77.10", 7, 7000);
    setCounters(6, "iptmon_rx", "fd77:77::10", 3, 300);
    setCounters(6, "iptmon_tx", "fd77:77::10", 11, 11000);
    const want = { rx_packets: 8, rx_bytes: 800, tx_packets: 18, tx_bytes: 18000 };
    const laptop = () => status().find((h) => h.key === LAPTOP)!;
    expect(laptop()).toMatchObject(want);
    iptmonOk("init");
    iptmonOk("init");
    expect(laptop()).toMatchObject({ name: "laptop", ...want });
    expectOneJumpEach();
    expectForeignUntouched();
    // A new DHCP hostname renames the host: its rules are re-made with the counters.
    iptmonOk("add", LAPTOP, "192.168.77.10", "laptop-new");
    expect(laptop()).toMatchObject({ name: "laptop-new", addresses: ["192.168.77.10", "fd77:77::10"], ...want });
    // Its DHCPv6 lease ends (a neighbour going would not end it): the
    // counters of that rule stay with the host.
    iptmonOk("del", `00:01:00:01:2a:2b:3c:4d:${LAPTOP}`, "fd77:77::10");
    expect(laptop()).toMatchObject({ name: "laptop-new", addresses: ["192.168.77.10"], ...want });
    expect(ns.save(6)).not.toContain("fd77:77::10");
    expectForeignUntouched();
  });

  test("hostile hostnames never break a batch", () => {
    const hostile = ['a"b', "$(reboot)", ";", "new\nline", "x".repeat(300), "héllo wörld", "`id`", "a\\b", "*", "' -j DROP"];
    hostile.forEach((name, i) => iptmonOk("add", `02:00:00:00:10:${(16 + i).toString(16)}`, `192.168.77.${50 + i}`, name));
    const hosts = status().filter((h) => h.key.startsWith("02:00:00:00:10:"));
    expect(hosts).toHaveLength(hostile.length);
    for (const h of hosts) expect(h.name).toMatch(/^[A-Za-z0-9._-]{1,63}$/);
    expect(new Set(hosts.map((h) => h.name)).size).toBe(hostile.length);
    for (const f of [4, 6] as const)
      for (const l of ourPart(ns.save(f))) expect(l).toMatch(/^(:iptmon_\w+ - \[0:0\]|\[\d+:\d+\] -A [\w]+ [-A-Za-z0-9./:_ "]+)$/);
    expect(ns.iptmon("check").code).toBe(0);
    iptmonOk("init");
    expectForeignUntouched();
    expectOneJumpEach();
  });

  test("stop removes the jumps and iptmon's chains in both families, and again finds nothing to do", () => {
    iptmonOk("stop");
    for (const f of [4, 6] as const) expect(ns.save(f)).not.toContain("iptmon");
    expectForeignUntouched();
    iptmonOk("stop");
    expect(status()).toEqual([]);
    // A later event finds nothing and rebuilds everything (a flushed firewall).
    iptmonOk("add", "02:00:00:00:00:03", "192.168.77.12", "tv");
    expect(status().map((h) => h.name)).toEqual(["laptop", "phone", "tv"]);
    expectOneJumpEach();
    expectForeignUntouched();
    iptmonOk("stop");
    expectForeignUntouched();
  });

  describe("the unit tests' golden restore inputs, fed to the real iptables-restore", () => {
    for (const name of caseNames()) {
      test(name, () => {
        const c = readCase(name);
        ns.resetMangle();
        for (const f of [4, 6] as const) expect(ns.restore(f, fixtureSave(c.current, f), ["--counters"]).stderr).toBe("");
        const start = { 4: foreignPart(ns.save(4)), 6: foreignPart(ns.save(6)) };
        for (const f of [4, 6] as const) {
          const input = readExpected(name, `expected.v${f}.restore`);
          if (input === "") continue;
          const r = ns.restore(f, input);
          expect({ f, code: r.code, stderr: r.stderr }).toEqual({ f, code: 0, stderr: "" });
        }
        expect(foreignPart(ns.save(4))).toBe(start[4]);
        expect(foreignPart(ns.save(6))).toBe(start[6]);
        ns.writeConfig(["\tlist lan_subnet '192.168.1.0/24'", ...(c.families?.includes(6) === false ? ["\toption ipv6 '0'"] : [])]);
        const hosts = status().map((h) => ({
          key: h.key,
          name: h.name,
          addresses: h.addresses,
          rx: { packets: h.rx_packets, bytes: h.rx_bytes },
          tx: { packets: h.tx_packets, bytes: h.tx_bytes },
        }));
        const expected = JSON.parse(readFileSync(join(CASES, name, "expected-hosts.json"), "utf8")) as typeof hosts;
        const byName = (a: { name: string }, b: { name: string }) => (a.name < b.name ? -1 : 1);
        expect(hosts.sort(byName)).toEqual(expected.sort(byName));
      });
    }
  });
});
