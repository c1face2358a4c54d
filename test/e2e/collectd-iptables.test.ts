/**
 * What luci-app-statistics graphs: the real collectd, with its iptables
 * plugin reading iptmon's chains (IPv4 and IPv6) and its csv plugin writing
 * the raw counters, inside a namespace where the real dist/iptmon set them
 * up. The values collectd reports equal `iptmon status --json`: per host,
 * the IPv4 file plus the IPv6 file.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { waitFor } from "./harness.ts";
import { cannotRun, IptNs } from "./iptns.ts";
import type { StatusHost } from "../../src/status.ts";

const COLLECTD = "/usr/sbin/collectd";
const COLLECTD_HOST = "iptmon-e2e";
const skip = cannotRun([COLLECTD, "/usr/lib/collectd/iptables.so"], "collectd-iptables");

const HOSTS = [
  { mac: "02:00:00:00:00:01", name: "laptop", v4: "192.168.77.10", v6: "fd77:77::10" },
  { mac: "02:00:00:00:00:02", name: "phone", v4: "192.168.77.11", v6: "fd77:77::11" },
  { mac: "02:00:00:00:00:03", name: "printer", v4: "192.168.77.12", v6: null },
];

describe.skipIf(skip !== null)("collectd's iptables plugin reads iptmon's chains", () => {
  let ns: IptNs;
  let csv: string;

  const status = (): StatusHost[] => {
    const r = ns.iptmon("status", "--json");
    expect(r.code).toBe(0);
    return (JSON.parse(r.stdout) as { hosts: StatusHost[] }).hosts;
  };

  /** The csv file of one value: `<host>/<plugin>-mangle-iptmon_<dir>/<type>-<dir>_<name>-<YYYY-MM-DD>`, newest day. */
  const csvFile = (plugin: "iptables" | "ip6tables", dir: "rx" | "tx", type: "ipt_bytes" | "ipt_packets", name: string): string | null => {
    const d = join(csv, COLLECTD_HOST, `${plugin}-mangle-iptmon_${dir}`);
    if (!existsSync(d)) return null;
    const re = new RegExp(`^${type}-${dir}_${name.replace(/[.]/g, "\\.")}-\\d{4}-\\d{2}-\\d{2}$`);
    const files = readdirSync(d).filter((f) => re.test(f)).sort();
    return files.length ? join(d, files.at(-1)!) : null;
  };

  /** The newest row of a csv file as [epoch seconds, value] (StoreRates false: the raw counter), or null before collectd wrote one. */
  const lastRow = (file: string | null): [number, number] | null => {
    if (!file || !existsSync(file)) return null;
    const lines = readFileSync(file, "utf8").trim().split("\n").slice(1);
    const last = lines.at(-1);
    return last ? [Number(last.split(",")[0]), Number(last.split(",")[1])] : null;
  };
  const lastValue = (file: string | null): number | null => lastRow(file)?.[1] ?? null;

  /** Every value collectd should write: per host, rx/tx bytes/packets, IPv4 and (where it has one) IPv6. */
  const VALUES = HOSTS.flatMap((h) =>
    (h.v6 ? (["iptables", "ip6tables"] as const) : (["iptables"] as const)).flatMap((plugin) =>
      (["rx", "tx"] as const).flatMap((dir) =>
        (["ipt_bytes", "ipt_packets"] as const).map((type) => ({ what: `${plugin}/${dir}/${type}/${h.name}`, file: () => csvFile(plugin, dir, type, h.name) })),
      ),
    ),
  );

  beforeAll(async () => {
    ns = new IptNs();
    ns.writeConfig(
      ["\tlist lan_subnet '192.168.77.0/24'", "\tlist lan_subnet 'fd77:77::/64'"],
      HOSTS.map((h) => [`config host`, `\toption mac '${h.mac}'`, `\toption name '${h.name}'`, `\tlist ip '${h.v4}'`, ...(h.v6 ? [`\tlist ip '${h.v6}'`] : []), ""].join("\n")).join("\n"),
    );
    expect(ns.iptmon("init").code).toBe(0);
    // Counters as traffic would leave them, then an init, which must carry them.
    HOSTS.forEach((h, i) => {
      ns.setCounters(4, "iptmon_rx", h.v4, 10 + i, 10_000 + 1000 * i);
      ns.setCounters(4, "iptmon_tx", h.v4, 20 + i, 200_000 + 1000 * i);
      if (h.v6) {
        ns.setCounters(6, "iptmon_rx", h.v6, 3 + i, 3000 + 100 * i);
        ns.setCounters(6, "iptmon_tx", h.v6, 5 + i, 50_000 + 100 * i);
      }
    });
    expect(ns.iptmon("init").code).toBe(0);

    csv = join(ns.dir, "csv");
    mkdirSync(csv);
    const conf = join(ns.dir, "collectd.conf");
    writeFileSync(
      conf,
      [
        `Hostname "${COLLECTD_HOST}"`,
        "FQDNLookup false",
        `BaseDir "${ns.dir}"`,
        `PIDFile "${join(ns.dir, "collectd.pid")}"`,
        `TypesDB "/usr/share/collectd/types.db"`,
        "Interval 1",
        "LoadPlugin iptables",
        "LoadPlugin csv",
        "<Plugin iptables>",
        "  Chain mangle iptmon_rx",
        "  Chain mangle iptmon_tx",
        "  Chain6 mangle iptmon_rx",
        "  Chain6 mangle iptmon_tx",
        "</Plugin>",
        "<Plugin csv>",
        `  DataDir "${csv}"`,
        "  StoreRates false",
        "</Plugin>",
        "",
      ].join("\n"),
    );
    ns.spawn([COLLECTD, "-C", conf, "-f"], "collectd.log");
  });

  afterAll(() => ns?.destroy());

  test("every host has rx/tx bytes and packets files, IPv4 and (where it has one) IPv6", async () => {
    const missing = () => VALUES.filter((v) => lastValue(v.file()) === null).map((v) => v.what);
    await waitFor(() => missing().length === 0, "collectd's csv files of every host", 15_000, 200).catch(() => undefined);
    expect(missing()).toEqual([]);
    // Only iptmon_rx and iptmon_tx are read: the key chain never shows up as a type instance.
    const dirs = readdirSync(join(csv, COLLECTD_HOST)).sort();
    expect(dirs).toEqual(["ip6tables-mangle-iptmon_rx", "ip6tables-mangle-iptmon_tx", "iptables-mangle-iptmon_rx", "iptables-mangle-iptmon_tx"]);
    for (const d of dirs) for (const f of readdirSync(join(csv, COLLECTD_HOST, d))) expect(f).toMatch(/^ipt_(bytes|packets)-(rx|tx)_[A-Za-z0-9._-]+-\d{4}-\d{2}-\d{2}$/);
  });

  test("collectd's values equal iptmon status --json (IPv4 file + IPv6 file per host)", async () => {
    const before = status();
    // Counters are static here (no traffic): wait until collectd has read every value after this status, then compare.
    const readAt = Date.now() / 1000;
    await waitFor(() => VALUES.every((v) => (lastRow(v.file())?.[0] ?? 0) > readAt), "a collectd read after the status", 10_000, 100);
    const fromCollectd = HOSTS.map((h) => {
      const v = (dir: "rx" | "tx", type: "ipt_bytes" | "ipt_packets") =>
        (lastValue(csvFile("iptables", dir, type, h.name)) ?? NaN) + (h.v6 ? (lastValue(csvFile("ip6tables", dir, type, h.name)) ?? NaN) : 0);
      return { name: h.name, rx_bytes: v("rx", "ipt_bytes"), rx_packets: v("rx", "ipt_packets"), tx_bytes: v("tx", "ipt_bytes"), tx_packets: v("tx", "ipt_packets") };
    });
    const after = status();
    expect(after).toEqual(before);
    expect(fromCollectd).toEqual(after.map((h) => ({ name: h.name, rx_bytes: h.rx_bytes, rx_packets: h.rx_packets, tx_bytes: h.tx_bytes, tx_packets: h.tx_packets })));
    // And they are the counters set before init: init carried them.
    expect(fromCollectd[0]).toEqual({ name: "laptop", rx_bytes: 13_000, rx_packets: 13, tx_bytes: 250_000, tx_packets: 25 });
    expect(fromCollectd[2]).toEqual({ name: "printer", rx_bytes: 12_000, rx_packets: 12, tx_bytes: 202_000, tx_packets: 22 });
  });
});
