/**
 * core.runEvent: which read an event makes. An event for a MAC reads only the
 * maps (`nft -j list maps inet`); a rename (planning asks for the counters), a
 * table without the keys map (the maps fall short) and a DHCPv6 event with no
 * MAC to be found read the whole table. The kernel is
 * the fake's answers, captured from nft (see nftables.test.ts for how).
 */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import type { Backend } from "../../src/backends/backend.ts";
import { createNftBackend } from "../../src/backends/nft/index.ts";
import { parseConfig } from "../../src/config.ts";
import { runEvent, type EventOutcome, type Runtime } from "../../src/core.ts";
import type { FullState, PlannedHost } from "../../src/model.ts";
import type { HostEvent } from "../../src/plan.ts";
import type { RunResult } from "../../src/sys.ts";
import { fakeSys, ok } from "../helpers/fakesys.ts";
import { LAPTOP_REMOVED, NFT_TABLE_DECLARATION } from "../helpers/builders.ts";

const fixture = (name: string) => readFileSync(`${import.meta.dir}/../fixtures/core/${name}`, "utf8");

const CONFIG = "config iptmon 'global'\n\toption backend 'nftables'\n";
const IP_ADDR = "4: br-lan: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500\n    inet 192.168.1.1/24 brd 192.168.1.255 scope global br-lan\n    inet6 fd00::1/64 scope global\n";
const LIST = "nft -j list table inet iptmon";
const MAPS = "nft -j list maps inet";
const NO_TABLE: RunResult = { code: 1, stdout: "", stderr: "Error: No such file or directory\nlist table inet iptmon\n" };
const NO_MAPS = ok('{"nftables": [{"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5", "json_schema_version": 1}}]}');

/** The kernel of the fixtures: init-basic's hosts, laptop at 12/3456 rx and 34/56789 tx. */
const CURRENT = { list: ok(fixture("nft-list.json")), maps: ok(fixture("nft-maps.json")) };
/** The same hosts in a table laid out before the keys map. */
const NO_KEYS = { list: ok(fixture("nft-list-nokeys.json")), maps: ok(fixture("nft-maps-nokeys.json")) };
const MISSING = { list: NO_TABLE, maps: NO_MAPS };

function router(kernel: { list: RunResult; maps: RunResult }) {
  const applied: string[] = [];
  const sys = fakeSys({
    files: { "/etc/config/iptmon": CONFIG },
    commands: {
      "ip addr show dev br-lan": ok(IP_ADDR),
      "ip neigh show": ok(""),
      [LIST]: kernel.list,
      [MAPS]: kernel.maps,
      "nft -f -": (input) => {
        applied.push(input ?? "");
        return ok();
      },
    },
  });
  const cfg = parseConfig(CONFIG, "/etc/config/iptmon");
  const warnings: string[] = [];
  const rt: Runtime = { sys, cfg, backend: createNftBackend(sys, cfg, -1), warn: (m) => void warnings.push(m) };
  const reads = () => sys.calls.map((c) => [c.cmd, ...c.args].join(" ")).filter((c) => c.startsWith("nft -j"));
  return { rt, applied, warnings, reads };
}

const hostsOf = (o: EventOutcome): PlannedHost[] => (o.kind === "applied" ? o.hosts : []);
const dhcp = (key: string, address: string, hostname?: string): HostEvent => ({ action: "add", source: "dhcp", key, address, hostname });

describe("runEvent: an event for a MAC reads the maps only", () => {
  test("a new host", () => {
    const r = router(CURRENT);
    runEvent(r.rt, dhcp("02:00:00:00:00:20", "192.168.1.120", "new-host"));
    expect(r.reads()).toEqual([MAPS]);
    expect(r.applied).toEqual([
      [
        'add counter inet iptmon rx_new-host { packets 0 bytes 0; comment "iptmon: 02:00:00:00:00:20"; }',
        'add counter inet iptmon tx_new-host { packets 0 bytes 0; comment "iptmon: 02:00:00:00:00:20"; }',
        'add element inet iptmon rx4 { 192.168.1.120 : "rx_new-host" }',
        'add element inet iptmon tx4 { 192.168.1.120 : "tx_new-host" }',
        'add element inet iptmon keys { 02:00:00:00:00:20 : "rx_new-host" }',
        'add element inet iptmon names { 6e65:772d:686f:7374:0:0:0:0 . :: . :: . :: : "rx_new-host" }',
        "",
      ].join("\n"),
    ]);
    expect(r.warnings).toEqual([]);
  });

  test("a known host's new address (a neighbour event never renames)", () => {
    const r = router(CURRENT);
    runEvent(r.rt, { action: "add", source: "neigh", key: "02:00:00:00:00:01", address: "192.168.1.121" });
    expect(r.reads()).toEqual([MAPS]);
    expect(r.applied).toEqual(['add element inet iptmon rx4 { 192.168.1.121 : "rx_laptop" }\nadd element inet iptmon tx4 { 192.168.1.121 : "tx_laptop" }\n']);
  });

  test("a lease renewed under the same name changes nothing and applies nothing", () => {
    const r = router(CURRENT);
    expect(runEvent(r.rt, dhcp("02:00:00:00:00:01", "192.168.1.101", "laptop")).kind).toBe("applied");
    expect(r.reads()).toEqual([MAPS]);
    expect(r.applied).toEqual([]);
  });

  test("a host's last address gone: its elements, its keys element, then its counters", () => {
    const r = router(CURRENT);
    runEvent(r.rt, { action: "del", source: "dhcp", key: "02:00:00:00:00:05", address: "192.168.1.105" });
    expect(r.reads()).toEqual([MAPS]);
    expect(r.applied).toEqual([
      [
        "delete element inet iptmon rx4 { 192.168.1.105 }",
        "delete element inet iptmon tx4 { 192.168.1.105 }",
        "delete element inet iptmon keys { 02:00:00:00:00:05 }",
        "delete element inet iptmon names { 3139:322e:3136:382e:312e:3130:3500:0 . :: . :: . :: }",
        "delete counter inet iptmon rx_192.168.1.105",
        "delete counter inet iptmon tx_192.168.1.105",
        // its carry (what earlier names of it counted) goes too, there or not
        'add counter inet iptmon carry_rx_02-00-00-00-00-05 { packets 0 bytes 0; comment "iptmon: 02:00:00:00:00:05"; }',
        "delete counter inet iptmon carry_rx_02-00-00-00-00-05",
        'add counter inet iptmon carry_tx_02-00-00-00-00-05 { packets 0 bytes 0; comment "iptmon: 02:00:00:00:00:05"; }',
        "delete counter inet iptmon carry_tx_02-00-00-00-00-05",
        "",
      ].join("\n"),
    ]);
  });

  test("an address taken from the static host (no key in the maps-only read): it only loses the address", () => {
    const r = router(CURRENT);
    runEvent(r.rt, dhcp("02:00:00:00:00:30", "192.168.1.50", "printer"));
    expect(r.reads()).toEqual([MAPS]);
    expect(r.applied).toEqual([
      [
        "delete element inet iptmon rx4 { 192.168.1.50 }",
        "delete element inet iptmon tx4 { 192.168.1.50 }",
        'add counter inet iptmon rx_printer { packets 0 bytes 0; comment "iptmon: 02:00:00:00:00:30"; }',
        'add counter inet iptmon tx_printer { packets 0 bytes 0; comment "iptmon: 02:00:00:00:00:30"; }',
        'add element inet iptmon rx4 { 192.168.1.50 : "rx_printer" }',
        'add element inet iptmon tx4 { 192.168.1.50 : "tx_printer" }',
        'add element inet iptmon keys { 02:00:00:00:00:30 : "rx_printer" }',
        'add element inet iptmon names { 7072:696e:7465:7200:0:0:0:0 . :: . :: . :: : "rx_printer" }',
        "",
      ].join("\n"),
    ]);
  });

  test("a missing table (a firewall flush): confirmed by a full read, then rebuilt", () => {
    const r = router(MISSING);
    runEvent(r.rt, dhcp("02:00:00:00:00:20", "192.168.1.120", "new-host"));
    // No maps could also be a table someone emptied by hand: its counters must be
    // seen; and the other placement's table, whose counts a new layout carries over.
    expect(r.reads()).toEqual([MAPS, LIST, "nft -j list table netdev iptmon"]);
    expect(r.applied).toHaveLength(1);
    expect(r.applied[0]).toStartWith("table inet iptmon {\n");
    expect(r.applied[0]).toContain('add element inet iptmon keys { 02:00:00:00:00:20 : "rx_new-host" }\n');
  });
});

describe("runEvent: a rename reads the counters", () => {
  test("the maps, then the whole table; the old counters stay (their elements move to new ones from zero), then the table again to fold them", () => {
    const r = router(CURRENT);
    const hosts = runEvent(r.rt, dhcp("02:00:00:00:00:01", "192.168.1.101", "notebook"));
    // The second full read is the fold's, after the commit (this fake kernel does not change: nothing to fold).
    expect(r.reads()).toEqual([MAPS, LIST, LIST]);
    expect(hostsOf(hosts).find((h) => h.key === "02:00:00:00:00:01")?.name).toBe("notebook");
    expect(r.applied).toEqual([
      [
        ...LAPTOP_REMOVED.filter((l) => l.startsWith("delete element")),
        'add counter inet iptmon rx_notebook { packets 0 bytes 0; comment "iptmon: 02:00:00:00:00:01"; }',
        'add counter inet iptmon tx_notebook { packets 0 bytes 0; comment "iptmon: 02:00:00:00:00:01"; }',
        'add element inet iptmon rx4 { 192.168.1.101 : "rx_notebook" }',
        'add element inet iptmon tx4 { 192.168.1.101 : "tx_notebook" }',
        'add element inet iptmon rx6 { fd00::aaaa : "rx_notebook", fd00::1:65 : "rx_notebook" }',
        'add element inet iptmon tx6 { fd00::aaaa : "tx_notebook", fd00::1:65 : "tx_notebook" }',
        'add element inet iptmon keys { 02:00:00:00:00:01 : "rx_notebook" }',
        'add element inet iptmon names { 6e6f:7465:626f:6f6b:0:0:0:0 . :: . :: . :: : "rx_notebook" }',
        "",
      ].join("\n"),
    ]);
  });

  test("the script is planned on the full read: static hosts keep their real keys", () => {
    // The re-plan sees `host:nas`; if the maps-only state leaked into the
    // apply, hosts with unknown keys would be deleted or re-created.
    const r = router(CURRENT);
    const hosts = runEvent(r.rt, dhcp("02:00:00:00:00:01", "192.168.1.101", "notebook"));
    expect(hostsOf(hosts).find((h) => h.name === "nas")?.key).toBe("host:nas");
    expect(r.applied.join("")).not.toContain("delete counter");
    expect(r.applied.join("")).not.toContain("rx_nas");
  });
});

describe("runEvent: a table without the keys map", () => {
  test("reads the maps, then the whole table, and applies a rebuild that declares and fills the keys map", () => {
    const r = router(NO_KEYS);
    runEvent(r.rt, dhcp("02:00:00:00:00:20", "192.168.1.120", "new-host"));
    expect(r.reads()).toEqual([MAPS, LIST]);
    expect(r.applied).toHaveLength(1);
    const lines = r.applied[0]!.trimEnd().split("\n");
    expect(lines.slice(0, NFT_TABLE_DECLARATION.length)).toEqual(NFT_TABLE_DECLARATION);
    expect(lines.filter((l) => l.startsWith("flush map"))).toEqual(["rx4", "tx4", "rx6", "tx6", "keys", "names"].map((m) => `flush map inet iptmon ${m}`));
    // Existing hosts keep their counters (and numbers); only the newcomer gets one.
    expect(lines.filter((l) => l.startsWith("add counter"))).toEqual([
      'add counter inet iptmon rx_new-host { packets 0 bytes 0; comment "iptmon: 02:00:00:00:00:20"; }',
      'add counter inet iptmon tx_new-host { packets 0 bytes 0; comment "iptmon: 02:00:00:00:00:20"; }',
    ]);
    // A rebuild, like init, removes what is not iptmon's.
    expect(lines.filter((l) => l.startsWith("delete"))).toEqual([
      "delete table netdev iptmon",
      "delete counter inet iptmon handmade",
      "delete counter inet iptmon rx_nocomment",
      "delete counter inet iptmon tx_nocomment",
    ]);
    expect(lines.slice(-2)).toEqual([
      'add element inet iptmon keys { 02:00:00:00:00:05 : "rx_192.168.1.105", 02:00:00:00:00:0a : "rx_Living-Room-TV", 02:00:00:00:00:02 : "rx_android", 02:00:00:00:00:03 : "rx_android-2", 02:00:00:00:00:0d : "rx_camera", 02:00:00:00:00:04 : "rx_desk", 02:00:00:00:00:01 : "rx_laptop", 02:00:00:00:00:20 : "rx_new-host" }',
      'add element inet iptmon names { 3139:322e:3136:382e:312e:3130:3500:0 . :: . :: . :: : "rx_192.168.1.105", 6c69:7669:6e67:2d72:6f6f:6d2d:7476:0 . :: . :: . :: : "rx_Living-Room-TV", 616e:6472:6f69:6400:0:0:0:0 . :: . :: . :: : "rx_android", 616e:6472:6f69:642d:3200:0:0:0 . :: . :: . :: : "rx_android-2", 6361:6d65:7261:0:0:0:0:0 . :: . :: . :: : "rx_camera", 6465:736b:0:0:0:0:0:0 . :: . :: . :: : "rx_desk", 6c61:7074:6f70:0:0:0:0:0 . :: . :: . :: : "rx_laptop", 6e61:7300:0:0:0:0:0:0 . :: . :: . :: : "rx_nas", 6e65:772d:686f:7374:0:0:0:0 . :: . :: . :: : "rx_new-host" }',
    ]);
  });

  test("a rename there reads the table once (then again to fold), keeps the old counters and starts the new ones from zero", () => {
    const r = router(NO_KEYS);
    runEvent(r.rt, dhcp("02:00:00:00:00:01", "192.168.1.101", "notebook"));
    expect(r.reads()).toEqual([MAPS, LIST, LIST]);
    expect(r.applied[0]).toStartWith("table inet iptmon {\n");
    expect(r.applied[0]).toContain('add counter inet iptmon rx_notebook { packets 0 bytes 0; comment "iptmon: 02:00:00:00:00:01"; }\n');
    expect(r.applied[0]).not.toContain("delete counter inet iptmon rx_laptop\n");
  });
});

describe("runEvent: a DHCPv6 event known by its DUID", () => {
  test("a DUID-LLT with a MAC inside is that MAC's event: the maps only; keyed (and in the keys map) by that MAC", () => {
    const r = router(CURRENT);
    runEvent(r.rt, { action: "add", source: "dhcp", key: null, duid: "00:01:00:01:2c:00:00:01:02:00:00:00:00:30", address: "fd00::1:99", hostname: "tablet" });
    expect(r.reads()).toEqual([MAPS]);
    expect(r.applied).toEqual([
      [
        'add counter inet iptmon rx_tablet { packets 0 bytes 0; comment "iptmon: 02:00:00:00:00:30"; }',
        'add counter inet iptmon tx_tablet { packets 0 bytes 0; comment "iptmon: 02:00:00:00:00:30"; }',
        'add element inet iptmon rx6 { fd00::1:99 : "rx_tablet" }',
        'add element inet iptmon tx6 { fd00::1:99 : "tx_tablet" }',
        'add element inet iptmon keys { 02:00:00:00:00:30 : "rx_tablet" }',
        'add element inet iptmon names { 7461:626c:6574:0:0:0:0:0 . :: . :: . :: : "rx_tablet" }',
        "",
      ].join("\n"),
    ]);
  });

  test("a DUID without a MAC: the whole table; keyed by the DUID, nothing in the keys map", () => {
    const r = router(CURRENT);
    runEvent(r.rt, { action: "add", source: "dhcp", key: null, duid: "00:02:00:00:ab:11:01:02:03:04", address: "fd00::1:98", hostname: "watch" });
    expect(r.reads()).toEqual([LIST]);
    expect(r.applied).toHaveLength(1);
    expect(r.applied[0]).toContain('add counter inet iptmon rx_watch { packets 0 bytes 0; comment "iptmon: duid:00020000ab1101020304"; }\n');
    expect(r.applied[0]).not.toContain("element inet iptmon keys");
  });
});

describe("runEvent: a backend whose every read is full (iptables)", () => {
  test("one read serves the event, the rename carries its counters, and the apply is no rebuild", () => {
    const calls: string[] = [];
    const current: FullState = { read: "full", complete: true, hosts: [{ key: "02:00:00:00:00:01", name: "laptop", addresses: ["192.168.1.101"], rx: { packets: 1, bytes: 2 }, tx: { packets: 3, bytes: 4 } }] };
    const backend: Backend<FullState, string> = {
      name: "iptables",
      hook: "forward",
      read: (detail) => (calls.push(`read ${detail}`), current),
      plan: (_c, desired, opts) => `${opts.rebuild} ${desired.map((h) => `${h.name}:${h.counters === "keep" ? "keep" : h.counters.rx.bytes}`).join(",")}`,
      render: (change) => change,
      apply: (change) => void calls.push(`apply ${change}`),
      check: () => {},
      remove: () => {},
    };
    const r = router(CURRENT);
    runEvent({ ...r.rt, backend }, dhcp("02:00:00:00:00:01", "192.168.1.101", "notebook"));
    expect(calls).toEqual(["read event", "apply false notebook:2"]);
    expect(r.reads()).toEqual([]);
  });
});
