/**
 * dnsmasq's event arguments are data: the built binary, run as dnsmasq runs
 * it (`iptmon ACTION MAC IP [HOSTNAME]`), never reads the words after the
 * action as options, whatever a DHCP client made them look like.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { StatusHost } from "../../src/status.ts";
import { exec, execOk, iptmonBin, iptmonConfig, NETNS_NEEDS, NetnsRun, skipReason } from "./harness.ts";

const IPT = ["iptables-legacy-save", "ip6tables-legacy-save"];
const skip = skipReason("event arguments", [...NETNS_NEEDS, ...IPT]);

describe.skipIf(skip !== null)("event arguments are data", () => {
  let run: NetnsRun;
  let BIN: string;
  let r: string;
  let conf: string;
  const iptmon = (args: string[]) => exec(r, [BIN, ...args], { env: { IPTMON_CONFIG: conf } });
  const status = (): StatusHost[] => {
    const s = iptmon(["status", "--json"]);
    expect(s.stderr).toBe("");
    expect(s.code).toBe(0);
    return (JSON.parse(s.stdout) as { hosts: StatusHost[] }).hosts;
  };
  /** iptmon's chains in either family's mangle table (legacy and, where installed, nft-based iptables). */
  const iptChains = () =>
    ["iptables-legacy-save", "ip6tables-legacy-save", "iptables-save", "ip6tables-save"].flatMap((save) => {
      const s = exec(r, [save, "-t", "mangle"]);
      return s.code === 0 ? s.stdout.split("\n").filter((l) => l.includes("iptmon")) : [];
    });

  beforeAll(() => {
    BIN = iptmonBin();
    run = new NetnsRun("ipev", { tmpPrefix: "iptmon-event-args" });
    r = run.ns("r");
    run.addNamespaces([r]);
    run.ipBatch(r, ["link add br-lan type bridge", "link set br-lan up", "addr add 10.71.0.1/24 dev br-lan"]);
    writeFileSync(join(run.tmpDir, "dhcp.leases"), "");
    conf = join(run.tmpDir, "iptmon.conf");
    writeFileSync(conf, iptmonConfig(run.tmpDir, { backend: "nftables", options: ["\toption hook 'forward'", "\toption lan_interface 'br-lan'"] }));
    const init = iptmon(["init"]);
    expect(init.stderr).toBe("");
    expect(init.code).toBe(0);
  });
  afterAll(() => run?.destroy());

  test("a hostname --backend=iptables builds no iptables chain: the host gets nft counters, its name cleaned", () => {
    const r1 = iptmon(["add", "02:00:00:00:71:01", "10.71.0.11", "--backend=iptables"]);
    expect(r1.stderr).toBe("");
    expect(r1.code).toBe(0);
    expect(iptChains()).toEqual([]);
    const h = status().find((x) => x.mac === "02:00:00:00:71:01");
    expect(h?.name).toBe("backend-iptables");
    expect(h?.addresses).toEqual(["10.71.0.11"]);
    const counters = execOk(r, ["nft", "list", "counters", "table", "inet", "iptmon"]).stdout;
    expect(counters).toContain("counter rx_backend-iptables");
    expect(counters).toContain("counter tx_backend-iptables");
  });

  test("a hostname --help prints no help and adds the host", () => {
    const r2 = iptmon(["add", "02:00:00:00:71:02", "10.71.0.12", "--help"]);
    expect(r2.stdout).toBe("");
    expect(r2.stderr).toBe("");
    expect(r2.code).toBe(0);
    expect(status().find((x) => x.mac === "02:00:00:00:71:02")?.name).toBe("help");
  });

  test("too many words is a usage error (exit 2), nothing changed; options before the action still work", () => {
    const before = status();
    const r3 = iptmon(["add", "02:00:00:00:71:03", "10.71.0.13", "laptop", "--config=/x"]);
    expect(r3.code).toBe(2);
    expect(r3.stderr).toMatch(/^iptmon: cannot run add: 4 arguments after add, 2 to 3 expected; hint: usage: /);
    expect(status()).toEqual(before);
    const r4 = exec(r, [BIN, "--config", conf, "--verbose", "add", "02:00:00:00:71:03", "10.71.0.13", "-v"]);
    expect(r4.stderr).toBe("");
    expect(r4.code).toBe(0);
    expect(status().find((x) => x.mac === "02:00:00:00:71:03")?.name).toBe("v");
    expect(iptChains()).toEqual([]);
  });
});
