/**
 * The two CGIs uhttpd runs (files/www/cgi-bin/iptmon-metrics and
 * iptmon-hosts), run the way a CGI server runs them (REQUEST_METHOD and
 * friends, stdout parsed as status, headers and body) against the real binary
 * and the real kernel: a router namespace of this run with three hosts.
 * Each case runs twice: under dash with Debian's tools, and under busybox sh
 * with busybox's awk, mktemp, rm and cat, as on OpenWrt.
 *
 * On PATH first: an `iptmon` that records each call and execs the real
 * binary, and a `logger` that records what it would send to syslog.
 *
 * Checked: iptmon's warnings (a corrupt state file set aside, a persistent
 * copy that cannot be written) reach syslog and never the body, which stays
 * what promtool and JSON.parse accept; a 500 tells the client which step
 * failed and nothing of the config; GET and HEAD only (405 with Allow, no
 * iptmon started, otherwise); HEAD is GET's status and headers without a
 * body; while the opt-in is surely off, 403 without any iptmon process, and
 * never a refusal where iptmon would allow.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Status } from "../../src/status.ts";
import { BIN, exec, iptmonBin, iptmonConfig, NETNS_NEEDS, NetnsRun, ROOT, skipReason, SYS_PATH } from "./harness.ts";

const skip = skipReason("cgi", [...NETNS_NEEDS, "busybox", "promtool"]);
const METRICS = join(ROOT, "files/www/cgi-bin/iptmon-metrics");
const HOSTS = join(ROOT, "files/www/cgi-bin/iptmon-hosts");
const SECRET = "S3CRET-0f9a1c77";
const HOSTNAMES = ["laptop", "phone", "tv"];

interface Answer {
  status: string;
  headers: string[];
  body: string;
  raw: string;
}

/** A CGI's stdout as status, the other header lines (in order) and the body. */
function parseAnswer(raw: string): Answer {
  const sep = raw.indexOf("\r\n\r\n");
  if (sep < 0) throw new Error(`no end of headers in ${JSON.stringify(raw.slice(0, 300))}`);
  const [first, ...headers] = raw.slice(0, sep).split("\r\n");
  if (!first!.startsWith("Status: ")) throw new Error(`the first header is not Status: ${JSON.stringify(first)}`);
  return { status: first!.slice("Status: ".length), headers, body: raw.slice(sep + 4), raw };
}

/** Configs whose every `config prometheus` section is off in a spelling UCI and iptmon accept. */
const SURELY_OFF: [string, string][] = [
  ["no config prometheus section", ""],
  ["enabled '0'", "config prometheus 'prometheus'\n\toption enabled '0'\n"],
  ["off, no, false in three sections, three quotings", "config prometheus 'a'\n\toption enabled off\nconfig prometheus\n\toption enabled \"no\"\nconfig prometheus\n\to enabled fal'se'\n"],
  ["disabled, a comment after it", "config prometheus\n\toption enabled 'disabled' # enabled '1' once\n"],
  ["a section commented out", "#config prometheus\n#\toption enabled '1'\n"],
  ["a named section reopened, its last value counts", "config prometheus 'p'\n\toption enabled '1'\nconfig prometheus 'p'\n\toption enabled '0'\n"],
  ["one line, statements split by ;", "config prometheus; option enabled 0\n"],
  ["another section type (case counts)", "config Prometheus\n\toption enabled '1'\n"],
];

/** Configs iptmon has to judge: on, or only iptmon can tell. */
const UNSURE: [string, string][] = [
  ["a section without enabled (on by default)", "config prometheus\n"],
  ["enabled '1'", "config prometheus 'prometheus'\n\toption enabled '1'\n"],
  ["c, the abbreviation", "c prometheus\n"],
  ["the type quoted", "config 'prometheus'\n"],
  ["the type escaped in double quotes", 'config "prom\\etheus"\n'],
  ["the type over two lines", "config prome\\\ntheus\n"],
  ["one section off, one on", "config prometheus\n\toption enabled '0'\nconfig prometheus\n\toption enabled 'yes'\n"],
  ["set off, then on", "config prometheus\n\toption enabled '0'\n\toption enabled 'on'\n"],
  ["a value only iptmon judges (skipped section: off)", "config prometheus\n\toption enabled 'maybe'\n"],
  ["list enabled", "config prometheus\n\toption enabled '0'\n\tlist enabled '1'\n"],
  ["a quote left open", "config prometheus\n\toption enabled '0\n"],
  ["a statement UCI does not know", "config prometheus\n\toption enabled '0'\n\tenabled 1\n"],
];

describe.skipIf(skip !== null)("the CGIs, run as a CGI server runs them", () => {
  let net: NetnsRun;
  let R = "";
  let tmp = "";
  let config = "";
  let calls = "";
  let syslog = "";
  let bin = "";
  let busyboxBin = "";

  const write = (sections: string, options: string[] = []) => writeFileSync(config, iptmonConfig(tmp, { backend: "nftables", lanSubnets: ["192.168.77.0/24"], options, extra: sections }));
  const read = (f: string) => {
    try {
      return readFileSync(f, "utf8");
    } catch {
      return "";
    }
  };
  /** The iptmon runs and the syslog lines since the last call. */
  const drain = () => {
    const out = { calls: read(calls).split("\n").filter(Boolean), syslog: read(syslog) };
    writeFileSync(calls, "");
    writeFileSync(syslog, "");
    return out;
  };

  const USERLANDS = [
    { name: "dash, Debian's tools", shell: ["dash"], path: () => `${bin}:${SYS_PATH}` },
    { name: "busybox sh and applets", shell: ["busybox", "sh"], path: () => `${bin}:${busyboxBin}:${SYS_PATH}` },
  ];

  function cgi(script: string, method: string, userland = USERLANDS[0]!, env: Record<string, string> = { IPTMON_CONFIG: config }) {
    const r = exec(R, [...userland.shell, script], {
      cleanEnv: true,
      env: { PATH: userland.path(), IPTMON_CGI_LIB: join(ROOT, "files/usr/lib/iptmon/cgi.sh"), GATEWAY_INTERFACE: "CGI/1.1", SERVER_PROTOCOL: "HTTP/1.1", REQUEST_METHOD: method, SCRIPT_NAME: `/cgi-bin/${script.split("/").pop()}`, REMOTE_ADDR: "127.0.0.1", ...env },
      timeoutMs: 60_000,
    });
    if (r.code !== 0) throw new Error(`${script} exited ${r.code}: ${r.stderr}`);
    return { ...parseAnswer(r.stdout), stderr: r.stderr, ...drain() };
  }

  const httpDecision = () => exec(R, [BIN, "service", "http"], { cleanEnv: true, env: { IPTMON_CONFIG: config } }).code;

  beforeAll(() => {
    iptmonBin();
    net = new NetnsRun("ipg", { tmpPrefix: "iptmon-cgi" });
    R = net.ns("r");
    tmp = net.tmpDir;
    config = join(tmp, "iptmon.conf");
    calls = join(tmp, "calls");
    syslog = join(tmp, "syslog");
    bin = join(tmp, "bin");
    busyboxBin = join(tmp, "busybox");
    for (const d of ["hosts.d", "dnsmasq.d", "bin", "busybox", "persist"]) mkdirSync(join(tmp, d));
    for (const f of ["dhcp.leases", "hosts", "dhcp", "calls", "syslog", "a-file"]) writeFileSync(join(tmp, f), "");
    writeFileSync(join(bin, "iptmon"), `#!/bin/sh\necho "iptmon $*" >> '${calls}'\nexec '${BIN}' "$@"\n`, { mode: 0o755 });
    writeFileSync(join(bin, "logger"), `#!/bin/sh\n{ echo "logger $*"; cat; } >> '${syslog}'\n`, { mode: 0o755 });
    for (const applet of ["awk", "mktemp", "rm", "cat"]) symlinkSync("/usr/bin/busybox", join(busyboxBin, applet));

    net.addNamespaces([R]);
    net.ipBatch(R, ["link add br-lan type bridge", "link add lan0 type veth peer name lan0p", "link set lan0 master br-lan", "link set br-lan up", "link set lan0 up", "link set lan0p up", "addr add 192.168.77.1/24 dev br-lan"]);
    write("");
    const ok = (args: string[]) => {
      const r = exec(R, [BIN, ...args], { cleanEnv: true, env: { IPTMON_CONFIG: config } });
      if (r.code !== 0) throw new Error(`iptmon ${args.join(" ")}: ${r.stderr}`);
    };
    ok(["init"]);
    HOSTNAMES.forEach((name, i) => ok(["add", `02:77:00:00:00:0${i + 1}`, `192.168.77.${10 + i}`, name]));
  }, 60_000);

  afterAll(() => net?.destroy());

  for (const userland of USERLANDS) {
    describe(userland.name, () => {
      test("warnings (a corrupt state file set aside, a persistent copy that fails) go to syslog; the bodies stay Prometheus text and JSON", () => {
        // persist_dir under a plain file: a copy to "flash" fails too (when the store tries one).
        write("config prometheus\n", [`\toption persist_dir '${join(tmp, "a-file", "persist")}'`]);
        const statefile = join(tmp, "state.json");

        writeFileSync(statefile, "{ not json");
        const m = cgi(METRICS, "GET", userland);
        expect(m.status).toBe("200 OK");
        const check = exec(null, ["promtool", "check", "metrics"], { input: m.body });
        expect(`${check.stdout}${check.stderr}`).toBe("");
        expect(check.code).toBe(0);
        expect(m.body).not.toContain("iptmon:");
        expect(m.calls).toEqual(["iptmon service http", "iptmon metrics"]);
        // The warning was there to be kept out: syslog got it.
        expect(m.syslog).toContain("logger -s -t iptmon -p daemon.warning\n");
        expect(m.syslog).toContain("set aside");
        for (const name of HOSTNAMES) expect(m.body).toContain(`iptmon_rx_bytes_total{host="${name}"`);

        // The poll builds on the ranking the metrics' sample left, when it holds: a corrupt one is set aside too.
        writeFileSync(statefile, "{ not json");
        writeFileSync(`${statefile}.busiest`, "{ not json");
        const h = cgi(HOSTS, "GET", userland);
        expect(h.status).toBe("200 OK");
        expect(h.headers[0]).toBe("Content-Type: application/json");
        const status = JSON.parse(h.body) as Status;
        expect(status.hosts.map((x) => x.name).sort()).toEqual(HOSTNAMES);
        // The page's poll: the busiest, with the count of all.
        expect(h.calls).toEqual(["iptmon service http", "iptmon status --json --busiest"]);
        expect(status.count).toBe(HOSTNAMES.length);
        expect(h.syslog).toContain("state.json.busiest is unusable");
        expect(h.syslog).toContain("state.json is unusable");
      });

      test("a config iptmon cannot read: 500 naming the step, not a word of the file; the reason in syslog", () => {
        write(`config influxdb 'nas'\n\toption url 'http://127.0.0.1:8086'\n\toption token 'tok' '${SECRET}'\nconfig prometheus\n`);
        for (const script of [METRICS, HOSTS]) {
          const r = cgi(script, "GET", userland);
          expect(r.status).toBe("500 Internal Server Error");
          expect(r.raw).not.toContain(SECRET);
          expect(r.raw).not.toContain(tmp);
          expect(r.body).toBe("iptmon: iptmon service http failed (exit 2); the reason is in the system log (logread -e iptmon)\n");
          expect(r.syslog).toContain(SECRET);
          expect(r.syslog).toContain(`${script.split("/").pop()}: iptmon service http failed (exit 2): answered 500`);
          expect(r.calls).toEqual(["iptmon service http"]);
        }
        // Named by IPTMON_CONFIG but missing: iptmon's error, not a guess.
        const missing = cgi(METRICS, "GET", userland, { IPTMON_CONFIG: join(tmp, "no-such-config") });
        expect(missing.status).toBe("500 Internal Server Error");
        expect(missing.syslog).toContain("no such file");
      });

      test("GET and HEAD only: 405 with Allow, no data and no iptmon started for any other method", () => {
        write("config prometheus\n");
        for (const script of [METRICS, HOSTS]) {
          for (const method of ["POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", ""]) {
            const r = cgi(script, method, userland);
            expect([method, r.status]).toEqual([method, "405 Method Not Allowed"]);
            expect(r.headers).toContain("Allow: GET, HEAD");
            expect(r.calls).toEqual([]);
            for (const name of HOSTNAMES) expect(r.raw).not.toContain(name);
          }
        }
      });

      test("HEAD: GET's status and headers, no body (200, 403, 500)", () => {
        const cases: [string, string][] = [
          ["200 OK", "config prometheus\n"],
          ["403 Forbidden", "config prometheus\n\toption enabled '0'\n"],
          ["403 Forbidden", "config prometheus\n\toption enabled 'maybe'\n"],
          ["500 Internal Server Error", "config prometheus\n\toption enabled '1' 'x'\n"],
        ];
        for (const script of [METRICS, HOSTS]) {
          for (const [status, sections] of cases) {
            write(sections);
            const get = cgi(script, "GET", userland);
            const head = cgi(script, "HEAD", userland);
            expect([sections, get.status]).toEqual([sections, status]);
            expect(head.status).toBe(get.status);
            expect(head.headers).toEqual(get.headers);
            expect(head.body).toBe("");
            expect(head.calls).toEqual(get.calls);
          }
        }
      });

      test.each(SURELY_OFF)("surely off (%s): 403 and no iptmon process; iptmon says no as well", (_, sections) => {
        write(sections);
        for (const script of [METRICS, HOSTS]) {
          for (const method of ["GET", "HEAD"]) {
            const r = cgi(script, method, userland);
            expect(r.status).toBe("403 Forbidden");
            expect(r.calls).toEqual([]);
            if (method === "GET") expect(r.body).toContain("disabled (uci set iptmon.prometheus=prometheus");
          }
        }
        expect(httpDecision()).toBe(1);
      });

      test.each(UNSURE)("left to iptmon (%s): `iptmon service http` decides", (_, sections) => {
        write(sections);
        const decision = httpDecision();
        for (const script of [METRICS, HOSTS]) {
          const r = cgi(script, "GET", userland);
          expect(r.calls[0]).toBe("iptmon service http");
          expect(r.status).toBe(({ 0: "200 OK", 1: "403 Forbidden" } as Record<number, string>)[decision] ?? "500 Internal Server Error");
        }
      });
    });
  }
});
