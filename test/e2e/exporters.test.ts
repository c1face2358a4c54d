/**
 * End to end: the exporters against the real kernel and the real receivers.
 * Needs root (network namespaces), nft, curl, busybox, influxd (1.x),
 * collectd and promtool; skips cleanly otherwise.
 *
 * Everything lives in three namespaces of this run (random suffix SFX):
 *
 *   ipx<SFX>-c  eth0 192.168.88.10/24, MAC 02:88:00:00:00:01 ("laptop")
 *       |
 *   ipx<SFX>-r  br-lan 192.168.88.1/24 (the router: iptmon, influxd, collectd,
 *       |       a tiny bun HTTP server answering 401/500/slowly, all on its lo)
 *   ipx<SFX>-w  eth0 198.51.100.2/24 (the "internet")
 *
 * Pings between the client and the WAN side cross the router's forward hook,
 * so the laptop's counters are not zero. The other hosts (hostile names) are
 * added with `iptmon add` and count nothing. afterAll kills what it started,
 * deletes the namespaces and the temp dir, whatever failed.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { renderLineProtocol } from "../../src/exporters/influxdb.ts";
import { renderPrometheus } from "../../src/exporters/prometheus.ts";
import { statusOfHosts, type Status, type StatusHost } from "../../src/status.ts";
import { BIN, exec, type ExecOptions, execOk, iptmonBin, iptmonConfig, NETNS_NEEDS, NetnsRun, ROOT, skipReason, SYS_PATH as PATH, waitFor } from "./harness.ts";

const BUN = process.execPath;
const CGI = join(ROOT, "files/www/cgi-bin/iptmon-metrics");
const DASHBOARD = join(ROOT, "grafana/iptmon-influxdb.json");

/** Runs argv (in namespace `ns`) with a clean environment: PATH plus `env`. */
function run(argv: string[], opts: ExecOptions & { ns?: string } = {}) {
  const { ns, ...o } = opts;
  return exec(ns ?? null, argv, { timeoutMs: 60_000, ...o, cleanEnv: true });
}

function ok(argv: string[], opts: ExecOptions & { ns?: string } = {}) {
  const { ns, ...o } = opts;
  return execOk(ns ?? null, argv, { timeoutMs: 60_000, ...o, cleanEnv: true });
}

const skip = skipReason("exporters", [...NETNS_NEEDS, "curl", "busybox", "influxd", "collectd", "promtool", "/usr/lib/collectd/unixsock.so", "/usr/lib/collectd/csv.so"]);

/** Hostnames a DHCP client could send; iptmon reduces them to counter names. */
const HOSTILE = ['a"b', "back\\slash", "new\nline", "$(x)", "com,ma", "sp ace", "eq=ual", "ünïcode", "x".repeat(300)];
const LAPTOP_MAC = "02:88:00:00:00:01";

/** A free TCP port of the (empty) router namespace: nothing else ever listens there. */
const usedPorts = new Set<number>();
function freePort(): number {
  for (;;) {
    const p = 20_000 + Math.floor(Math.random() * 40_000);
    if (!usedPorts.has(p)) {
      usedPorts.add(p);
      return p;
    }
  }
}

const regexEscape = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");

describe.skipIf(skip !== null)("exporters end to end (namespaces, influxd, collectd, promtool)", () => {
  let net: NetnsRun | undefined;
  /** The router, client and WAN namespaces, named in beforeAll. */
  let [R, C, W] = ["", "", ""];
  let tmp = "";
  let config = "";
  let influxPort = 0;
  let collectdSock = "";
  let csvDir = "";
  let hostname = "";
  const setConfig = (sections: string) =>
    writeFileSync(
      config,
      iptmonConfig(tmp, {
        backend: "nftables",
        lanSubnets: ["192.168.88.0/24"],
        options: [`\toption crontab '${tmp}/crontab'`, "\toption push_interval '1'"],
        extra: sections,
      }),
    );
  const iptmon = (args: string[], timeoutMs = 30_000) => run([BIN, ...args], { ns: R, env: { IPTMON_CONFIG: config }, timeoutMs });
  const status = (): Status => JSON.parse(ok([BIN, "status", "--json"], { ns: R, env: { IPTMON_CONFIG: config } }).stdout) as Status;
  const influxSection = (name: string, db: string) => `config influxdb '${name}'\n\toption url 'http://127.0.0.1:${influxPort}'\n\toption database '${db}'\n`;
  const collectdSection = () => `config collectd 'luci'\n\toption socket '${collectdSock}'\n`;

  function influxQuery(db: string, q: string): { results: { series?: { name: string; tags?: Record<string, string>; columns: string[]; values: unknown[][] }[]; error?: string }[] } {
    const r = ok(["curl", "-sS", "-G", `http://127.0.0.1:${influxPort}/query`, "--data-urlencode", `db=${db}`, "--data-urlencode", "epoch=s", "--data-urlencode", `q=${q}`], { ns: R });
    const j = JSON.parse(r.stdout);
    for (const res of j.results ?? []) if (res.error) throw new Error(`influx: ${res.error} in ${q}`);
    return j;
  }

  /** Every point as {time, host, mac, fields}. */
  function influxPoints(db: string) {
    const s = influxQuery(db, 'SELECT "host", "mac", "rx_bytes", "rx_packets", "tx_bytes", "tx_packets" FROM "iptmon"').results[0]!.series ?? [];
    const rows: { time: number; host: string; mac: string | null; rx_bytes: number; rx_packets: number; tx_bytes: number; tx_packets: number }[] = [];
    for (const ser of s) {
      for (const v of ser.values) {
        const o = Object.fromEntries(ser.columns.map((c, i) => [c, v[i]])) as Record<string, unknown>;
        rows.push({
          time: o.time as number,
          host: o.host as string,
          mac: (o.mac as string | null) ?? null,
          rx_bytes: o.rx_bytes as number,
          rx_packets: o.rx_packets as number,
          tx_bytes: o.tx_bytes as number,
          tx_packets: o.tx_packets as number,
        });
      }
    }
    return rows;
  }

  const asPoints = (hosts: StatusHost[]) =>
    hosts
      .map((h) => ({ host: h.name, mac: h.mac, rx_bytes: h.rx_bytes, rx_packets: h.rx_packets, tx_bytes: h.tx_bytes, tx_packets: h.tx_packets }))
      .sort((a, b) => (a.host < b.host ? -1 : 1));

  const UDP_SEND = join(ROOT, "test/helpers/udp-send.ts");
  /**
   * L3 bytes this crosses the router with, per direction of the laptop: pings
   * both ways (echo and reply alike), then UDP only towards the laptop (tx)
   * and a little only from it (rx), dropped silently by the sinks.
   */
  function traffic(n: number): { rx: number; tx: number } {
    ok(["busybox", "ping", "-c", String(n), "-i", "0.05", "-s", "900", "-W", "2", "198.51.100.2"], { ns: C });
    ok([BUN, UDP_SEND, "4", "192.168.88.10", "40077", String(3 * n), "700"], { ns: W });
    ok([BUN, UDP_SEND, "4", "198.51.100.2", "40077", String(n), "300"], { ns: C });
    return { rx: n * 928 + n * 328, tx: n * 928 + 3 * n * 728 };
  }

  /** Waits into a later second than `t`, so the next push has a timestamp of its own. */
  const nextSecond = (t: number) => waitFor(() => Math.floor(Date.now() / 1000) > t, `a second later than ${t}`, 2000, 50);

  const start = (ns: string, argv: string[], log: string) => net!.spawn(ns, argv, { cleanEnv: true, log });

  beforeAll(async () => {
    iptmonBin();
    const n = new NetnsRun("ipx", { tmpPrefix: "iptmon-exporters" });
    net = n;
    [R, C, W] = [n.ns("r"), n.ns("c"), n.ns("w")];
    tmp = n.tmpDir;
    config = join(tmp, "iptmon.conf");
    for (const d of ["hosts.d", "dnsmasq.d", "csv", "collectd", "influx", "bin"]) mkdirSync(join(tmp, d));
    for (const f of ["dhcp.leases", "hosts", "dhcp"]) writeFileSync(join(tmp, f), "");
    collectdSock = join(tmp, "collectd.sock");
    csvDir = join(tmp, "csv");

    n.addNamespaces([R, C, W]);
    const ipb = (ns: string, lines: string[]) => n.ipBatch(ns, lines);
    ipb(R, [
      "link add br-lan type bridge",
      "link set br-lan up",
      "addr add 192.168.88.1/24 dev br-lan",
      `link add lan0 type veth peer name eth0 netns ${C}`,
      "link set lan0 master br-lan",
      "link set lan0 up",
      `link add wan type veth peer name eth0 netns ${W}`,
      "addr add 198.51.100.1/24 dev wan",
      "link set wan up",
    ]);
    ipb(C, [`link set eth0 address ${LAPTOP_MAC}`, "link set eth0 up", "addr add 192.168.88.10/24 dev eth0", "route add default via 192.168.88.1"]);
    ipb(W, ["link set eth0 up", "addr add 198.51.100.2/24 dev eth0", "route add 192.168.88.0/24 via 198.51.100.1"]);
    n.sysctl(R, ["net.ipv4.ip_forward=1"]);
    // No ICMP port-unreachable comes back to spoil the byte counts.
    for (const ns of [C, W]) ok(["nft", "-f", "-"], { ns, input: "table inet sink {\n\tchain input { type filter hook input priority 0; udp dport 40000-40999 drop; }\n}\n" });

    setConfig("");
    let r = iptmon(["init"]);
    if (r.code !== 0) throw new Error(`iptmon init: ${r.stderr}`);
    r = iptmon(["add", LAPTOP_MAC, "192.168.88.10", "laptop"]);
    if (r.code !== 0) throw new Error(`iptmon add laptop: ${r.stderr}`);
    HOSTILE.forEach((name, i) => {
      const a = iptmon(["add", `02:88:00:00:01:${String(i + 1).padStart(2, "0")}`, `192.168.88.${20 + i}`, name]);
      if (a.code !== 0) throw new Error(`iptmon add ${JSON.stringify(name)}: ${a.stderr}`);
    });
    traffic(5);
    hostname = ok(["cat", "/proc/sys/kernel/hostname"], { ns: R }).stdout.trim();

    // influxd 1.x on the router's loopback, every port of its own, data in tmp.
    influxPort = freePort();
    const dir = join(tmp, "influx");
    writeFileSync(
      join(dir, "influxdb.conf"),
      `reporting-disabled = true
bind-address = "127.0.0.1:${freePort()}"
[meta]
  dir = "${dir}/meta"
  logging-enabled = false
[data]
  dir = "${dir}/data"
  wal-dir = "${dir}/wal"
  query-log-enabled = false
[monitor]
  store-enabled = false
[http]
  bind-address = "127.0.0.1:${influxPort}"
  log-enabled = false
[continuous_queries]
  enabled = false
`,
    );
    start(R, ["influxd", "run", "-config", join(dir, "influxdb.conf")], join(dir, "influxd.log"));

    // collectd with the unixsock and csv plugins only.
    const cdir = join(tmp, "collectd");
    writeFileSync(
      join(cdir, "collectd.conf"),
      `FQDNLookup false
BaseDir "${cdir}"
PIDFile "${cdir}/collectd.pid"
PluginDir "/usr/lib/collectd"
TypesDB "/usr/share/collectd/types.db"
Interval 10
LoadPlugin unixsock
LoadPlugin csv
<Plugin unixsock>
  SocketFile "${collectdSock}"
  SocketPerms "0600"
  DeleteSocket true
</Plugin>
<Plugin csv>
  DataDir "${csvDir}"
  StoreRates false
</Plugin>
`,
    );
    start(R, ["collectd", "-f", "-C", join(cdir, "collectd.conf")], join(cdir, "collectd.log"));

    await waitFor(() => run(["curl", "-sf", `http://127.0.0.1:${influxPort}/ping`], { ns: R }).code === 0, "influxd /ping", 30_000, 50);
    for (const db of ["iptmon", "hostile"]) ok(["curl", "-sSf", "-XPOST", `http://127.0.0.1:${influxPort}/query`, "--data-urlencode", `q=CREATE DATABASE "${db}"`], { ns: R });
    await waitFor(() => existsSync(collectdSock), "collectd's socket", 15_000, 50);
  }, 400_000);

  afterAll(() => net?.destroy());

  test("the hosts are there, the laptop counted traffic both ways", () => {
    const s = status();
    expect(s.backend).toBe("nftables");
    expect(s.hosts).toHaveLength(1 + HOSTILE.length);
    const laptop = s.hosts.find((h) => h.mac === LAPTOP_MAC)!;
    expect(laptop.name).toBe("laptop");
    expect(laptop.rx_bytes).toBeGreaterThan(0);
    expect(laptop.tx_bytes).toBeGreaterThan(0);
  });

  describe("Prometheus", () => {
    test("`iptmon metrics` passes promtool check metrics and equals `iptmon status`", () => {
      const r = iptmon(["metrics"]);
      expect(r.code).toBe(0);
      const check = run(["promtool", "check", "metrics"], { input: r.stdout });
      expect(`${check.stdout}${check.stderr}`).toBe("");
      expect(check.code).toBe(0);
      const s = status();
      for (const h of s.hosts) {
        expect(r.stdout).toContain(`iptmon_rx_bytes_total{host="${h.name}",mac="${h.mac}"} ${h.rx_bytes}\n`);
        expect(r.stdout).toContain(`iptmon_tx_packets_total{host="${h.name}",mac="${h.mac}"} ${h.tx_packets}\n`);
      }
      expect(r.stdout).toContain(`\niptmon_hosts ${s.hosts.length}\n`);
      expect(r.stdout).toContain('\niptmon_backend_info{backend="nftables"} 1\n');
    });

    test("the renderer's escaping of hostile label values passes promtool", () => {
      const hosts = [...HOSTILE, '\\"\n', "trail\\"].map((name, i) => ({ name, mac: i % 2 ? null : "02:00:00:00:00:01", key: "k", addresses: [], rx_bytes: i, rx_packets: i, tx_bytes: i, tx_packets: i }));
      const check = run(["promtool", "check", "metrics"], { input: renderPrometheus(statusOfHosts("nftables", "forward", hosts)) });
      expect(`${check.stdout}${check.stderr}`).toBe("");
      expect(check.code).toBe(0);
    });

    test("the uhttpd CGI: 403 unless a config prometheus section allows it (iptmon service http), then the metrics", () => {
      const fake = join(tmp, "bin");
      if (!existsSync(join(fake, "iptmon"))) symlinkSync(BIN, join(fake, "iptmon"));
      // What the CGI sends to syslog stays here, not in this machine's log.
      writeFileSync(join(fake, "logger"), "#!/bin/sh\ncat >/dev/null\n", { mode: 0o755 });
      const cgi = (prometheus: string, whole?: string) => {
        if (whole === undefined) setConfig(prometheus);
        else writeFileSync(config, whole);
        return ok(["sh", CGI], { ns: R, env: { PATH: `${fake}:${PATH}`, IPTMON_CONFIG: config, IPTMON_CGI_LIB: join(ROOT, "files/usr/lib/iptmon/cgi.sh"), GATEWAY_INTERFACE: "CGI/1.1", REQUEST_METHOD: "GET" } });
      };
      for (const off of ["", "config prometheus 'prometheus'\n\toption enabled '0'\n"]) {
        const r = cgi(off);
        expect(r.stdout).toStartWith("Status: 403 Forbidden\r\nContent-Type: text/plain; charset=utf-8\r\n");
        expect(r.stdout).not.toContain("iptmon_rx_bytes_total");
      }
      // A bad exporter section is skipped (403); a config iptmon cannot read at all is a 500 that names
      // the failed step; the reason (which may quote the config) goes to syslog only (test/e2e/cgi.test.ts).
      expect(cgi("config prometheus 'prometheus'\n\toption enabled 'maybe'\n").stdout).toStartWith("Status: 403 Forbidden\r\n");
      const bad = cgi("", "config iptmon 'main'\n\toption enabled 'maybe'\nconfig prometheus 'prometheus'\n");
      expect(bad.stdout).toStartWith("Status: 500 Internal Server Error\r\n");
      expect(bad.stdout).toEndWith("\r\n\r\niptmon: iptmon service http failed (exit 2); the reason is in the system log (logread -e iptmon)\n");
      expect(bad.stdout).not.toContain("maybe");
      const r = cgi("config prometheus 'prometheus'\n\toption enabled '1'\n");
      setConfig("");
      const sep = r.stdout.indexOf("\r\n\r\n");
      expect(r.stdout.slice(0, sep)).toBe("Status: 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff");
      const body = r.stdout.slice(sep + 4);
      expect(body).toContain('iptmon_rx_bytes_total{host="laptop"');
      const check = run(["promtool", "check", "metrics"], { input: body });
      expect(check.code).toBe(0);
    });
  });

  describe("InfluxDB 1.x and the Grafana dashboard", () => {
    const samples: { time: number; status: Status }[] = [];

    test("two pushes: the points read back equal `iptmon status --json` at each push", async () => {
      setConfig(influxSection("nas", "iptmon"));
      let sent = { rx: 0, tx: 0 };
      for (let i = 0; i < 2; i++) {
        if (i > 0) {
          sent = traffic(4);
          await nextSecond(samples[i - 1]!.time);
        }
        const before = Math.floor(Date.now() / 1000);
        const s = status();
        const r = iptmon(["push"]);
        expect(r.stderr).toBe("");
        expect(r.code).toBe(0);
        const after = Math.floor(Date.now() / 1000);
        const points = influxPoints("iptmon");
        const times = [...new Set(points.map((p) => p.time))].sort();
        expect(times).toHaveLength(i + 1);
        const t = times[i]!;
        expect(t).toBeGreaterThanOrEqual(before);
        expect(t).toBeLessThanOrEqual(after);
        const got = points
          .filter((p) => p.time === t)
          .map(({ time: _t, ...rest }) => rest)
          .sort((a, b) => (a.host < b.host ? -1 : 1));
        expect(got).toEqual(asPoints(s.hosts));
        samples.push({ time: t, status: s });
      }
      const [a, b] = samples;
      const la = a!.status.hosts.find((h) => h.name === "laptop")!;
      const lb = b!.status.hosts.find((h) => h.name === "laptop")!;
      // rx is what the router received from the laptop, tx what it sent to it.
      expect([lb.rx_bytes - la.rx_bytes, lb.tx_bytes - la.tx_bytes]).toEqual([sent.rx, sent.tx]);
    }, 60_000);

    test("the dashboard's queries answer for every host", () => {
      expect(samples).toHaveLength(2);
      const dash = JSON.parse(readFileSync(DASHBOARD, "utf8"));
      expect(dash.__inputs[0].name).toBe("DS_INFLUXDB");
      const variable = dash.templating.list.find((v: { name: string }) => v.name === "host");
      expect(variable.multi).toBe(true);
      const names = samples[1]!.status.hosts.map((h) => h.name).sort();
      const tagValues = influxQuery("iptmon", variable.query).results[0]!.series![0]!.values.map((v) => v[1]);
      expect(tagValues).toEqual(names);

      const [first, second] = samples as [{ time: number; status: Status }, { time: number; status: Status }];
      const dt = second.time - first.time;
      const byName = (s: Status, n: string) => s.hosts.find((h) => h.name === n)!;
      // Grafana's substitutions: a multi-value $host is a regex alternation.
      const subst = (q: string, hosts: string[]) =>
        q
          .replaceAll("$host", `(${hosts.map(regexEscape).join("|")})`)
          .replaceAll("$timeFilter", `time >= ${first.time - 60}s AND time <= ${second.time + 60}s`)
          .replaceAll("$__interval", "1s");

      const queries: { title: string; query: string; format: string }[] = dash.panels.flatMap((p: { title: string; targets: { query: string; resultFormat: string }[] }) =>
        p.targets.map((t) => ({ title: p.title, query: t.query, format: t.resultFormat })),
      );
      expect(queries).toHaveLength(3);
      for (const q of queries) {
        const series = influxQuery("iptmon", subst(q.query, names)).results[0]!.series ?? [];
        expect(series.map((s) => s.tags!.host).sort()).toEqual(names);
        for (const s of series) {
          const h1 = byName(first.status, s.tags!.host!);
          const h2 = byName(second.status, s.tags!.host!);
          if (q.format === "time_series") {
            // One rate per host, between the two samples; bits per second.
            const values = s.values.filter((v) => v[1] !== null);
            expect(values).toHaveLength(1);
            const field = q.query.includes('"tx_bytes"') ? "tx_bytes" : "rx_bytes";
            expect(values[0]![0]).toBe(second.time);
            expect(values[0]![1] as number).toBeCloseTo(((h2[field] - h1[field]) * 8) / dt, 6);
          } else {
            const row = Object.fromEntries(s.columns.map((c, i) => [c, s.values[0]![i]]));
            expect([row.Download, row.Upload]).toEqual([h2.tx_bytes - h1.tx_bytes, h2.rx_bytes - h1.rx_bytes]);
          }
        }
        // One host selected: only its series.
        const one = influxQuery("iptmon", subst(q.query, ["laptop"])).results[0]!.series ?? [];
        expect(one.map((s) => s.tags!.host)).toEqual(["laptop"]);
      }
    });

    test("the line-protocol renderer's escaping survives a real InfluxDB with hostile tag values", () => {
      const names = [...HOSTILE, "trail ", " ,= ", "trail\\", "a\\,b", "=start"];
      const hosts = names.map((name, i) => ({ name, mac: i % 2 ? null : "02:00:00:00:00:01", key: "k", addresses: [], rx_bytes: i, rx_packets: i, tx_bytes: i, tx_packets: i }));
      const body = renderLineProtocol(hosts, 1_700_000_000);
      const r = ok(["curl", "-sS", "-w", "%{http_code}", "-XPOST", `http://127.0.0.1:${influxPort}/write?db=hostile&precision=s`, "--data-binary", "@-"], { ns: R, input: body });
      expect(r.stdout).toBe("204");
      const got = influxQuery("hostile", 'SHOW TAG VALUES FROM "iptmon" WITH KEY = "host"').results[0]!.series![0]!.values.map((v) => v[1]);
      expect(got).toEqual(names.map((n) => n.replace(/[\\\n]/g, "_")).sort());
      const rows = influxQuery("hostile", 'SELECT "rx_bytes" FROM "iptmon" GROUP BY "host"').results[0]!.series!;
      for (const s of rows) expect(s.values[0]![1]).toBe(names.findIndex((n) => n.replace(/[\\\n]/g, "_") === s.tags!.host));
    });
  });

  describe("collectd (what luci-app-statistics graphs)", () => {
    test("`iptmon push` reaches collectd's unixsock: csv files as the iptables plugin would write them", async () => {
      setConfig(collectdSection());
      const s = status();
      const r = iptmon(["push"]);
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      const last = (dir: string, prefix: string) => {
        const d = join(csvDir, hostname, dir);
        const f = existsSync(d) ? readdirSync(d).find((n) => n.startsWith(prefix) && /-\d{4}-\d{2}-\d{2}$/.test(n)) : undefined;
        if (!f) return undefined;
        const lines = readFileSync(join(d, f), "utf8").trim().split("\n");
        return lines.length > 1 ? lines[lines.length - 1]!.split(",") : undefined;
      };
      for (const h of s.hosts) {
        for (const [dir, type, value] of [
          ["rx", "ipt_bytes", h.rx_bytes],
          ["rx", "ipt_packets", h.rx_packets],
          ["tx", "ipt_bytes", h.tx_bytes],
          ["tx", "ipt_packets", h.tx_packets],
        ] as const) {
          const row = await waitFor(() => last(`iptables-mangle-iptmon_${dir}`, `${type}-${dir}_${h.name}-`), `${hostname}/iptables-mangle-iptmon_${dir}/${type}-${dir}_${h.name}`, 15_000, 50);
          expect(Number(row[1])).toBe(value);
        }
      }
    }, 60_000);
  });

  describe("failing targets", () => {
    test("a closed port, 401, 500 and a timeout: one line each, exit 1, in time; the working targets still get the sample", async () => {
      const port = freePort();
      const closed = freePort();
      const record = join(tmp, "http-requests.jsonl");
      const script = join(tmp, "http-server.ts");
      writeFileSync(
        script,
        `import { appendFileSync } from "node:fs";
Bun.serve({
  hostname: "127.0.0.1",
  port: ${port},
  async fetch(req) {
    const u = new URL(req.url);
    appendFileSync(${JSON.stringify(record)}, JSON.stringify({ path: u.pathname + u.search, auth: req.headers.get("authorization"), body: await req.text() }) + "\\n");
    if (u.pathname.startsWith("/unauth/")) return Response.json({ error: "authorization failed" }, { status: 401 });
    if (u.pathname.startsWith("/broken/")) return new Response("engine exploded\\nstack...", { status: 500 });
    if (u.pathname.startsWith("/slow/")) { await Bun.sleep(10000); return new Response(null, { status: 204 }); }
    return new Response(null, { status: 204 });
  },
});
console.log("ready");
`,
      );
      start(R, [BUN, script], join(tmp, "http-server.log"));
      await waitFor(() => run(["curl", "-s", "-o", "/dev/null", `http://127.0.0.1:${port}/ping`], { ns: R }).code === 0, "the tiny HTTP server", 15_000, 50);
      const base = `http://127.0.0.1:${port}`;
      setConfig(
        `config influxdb 'closed'\n\toption url 'http://127.0.0.1:${closed}'\n\toption database 'x'\n` +
          `config influxdb 'unauth'\n\toption url '${base}/unauth'\n\toption database 'x'\n\toption username 'me'\n\toption password 'pw'\n` +
          `config influxdb 'broken'\n\toption url '${base}/broken'\n\toption database 'x'\n` +
          `config influxdb 'slow'\n\toption url '${base}/slow'\n\toption database 'x'\n\toption timeout '1'\n` +
          `config influxdb 'v2'\n\toption url '${base}/v2'\n\toption version '2'\n\toption org 'home'\n\toption bucket 'net'\n\toption token 't0k'\n` +
          influxSection("nas", "iptmon") +
          collectdSection(),
      );
      const pointsBefore = influxPoints("iptmon").length;
      await nextSecond(Math.floor(Date.now() / 1000));
      const s = status();
      const r = iptmon(["push"]);
      expect(r.code).toBe(1);
      expect(r.stderr.split("\n").filter(Boolean).sort()).toEqual(
        [
          `iptmon: cannot push to influxdb http://127.0.0.1:${closed}: connection refused`,
          `iptmon: cannot push to influxdb ${base}/unauth: HTTP 401 Unauthorized: authorization failed`,
          `iptmon: cannot push to influxdb ${base}/broken: HTTP 500 Internal Server Error: engine exploded stack...`,
          `iptmon: cannot push to influxdb ${base}/slow: timed out after 1 s`,
        ].sort(),
      );
      // Targets run side by side: the 1 s timeout bounds the run, not the sum.
      expect(r.ms).toBeLessThan(4000);
      expect(r.stdout).toBe("");

      // The working InfluxDB got this sample...
      const points = influxPoints("iptmon");
      expect(points.length).toBe(pointsBefore + s.hosts.length);
      const t = Math.max(...points.map((p) => p.time));
      expect(
        points
          .filter((p) => p.time === t)
          .map(({ time: _t, ...rest }) => rest)
          .sort((a, b) => (a.host < b.host ? -1 : 1)),
      ).toEqual(asPoints(s.hosts));
      // ...and so did collectd...
      const csv = join(csvDir, hostname, "iptables-mangle-iptmon_tx");
      await waitFor(() => {
        const f = readdirSync(csv).find((n) => n.startsWith("ipt_bytes-tx_laptop-"))!;
        return readFileSync(join(csv, f), "utf8").includes(`${t}.000,${s.hosts.find((h) => h.name === "laptop")!.tx_bytes}`);
      }, "collectd's csv line of this push", 15_000, 50);
      // ...and the 2.x-style target, with its token; the 1.x one had basic auth.
      const reqs = readFileSync(record, "utf8").trim().split("\n").map((l) => JSON.parse(l) as { path: string; auth: string | null; body: string });
      const v2 = reqs.find((q) => q.path.startsWith("/v2/"))!;
      expect(v2.path).toBe("/v2/api/v2/write?org=home&bucket=net&precision=s");
      expect(v2.auth).toBe("Token t0k");
      expect(v2.body).toBe(renderLineProtocol(s.hosts, t));
      expect(reqs.find((q) => q.path.startsWith("/unauth/"))!.auth).toBe(`Basic ${Buffer.from("me:pw").toString("base64")}`);
    }, 60_000);
  });

  describe("cron", () => {
    test("`iptmon cron sync` keeps one line (push while a target is enabled, else snapshot); `cron remove` takes it out", () => {
      const crontab = join(tmp, "crontab");
      writeFileSync(crontab, "0 3 * * * /sbin/reboot\n");
      setConfig(collectdSection());
      expect(iptmon(["cron", "sync"]).code).toBe(0);
      expect(iptmon(["cron", "sync"]).code).toBe(0);
      const line = `*/1 * * * * /usr/sbin/iptmon --config ${config} push # iptmon`;
      expect(readFileSync(crontab, "utf8")).toBe(`0 3 * * * /sbin/reboot\n${line}\n`);
      setConfig("config collectd\n\toption enabled '0'\n");
      expect(iptmon(["cron", "sync"]).code).toBe(0);
      expect(readFileSync(crontab, "utf8")).toBe(`0 3 * * * /sbin/reboot\n${line.replace(" push ", " snapshot ")}\n`);
      setConfig(collectdSection());
      expect(iptmon(["cron", "sync"]).code).toBe(0);
      expect(iptmon(["cron", "remove"]).code).toBe(0);
      expect(readFileSync(crontab, "utf8")).toBe("0 3 * * * /sbin/reboot\n");
    });
  });
});
