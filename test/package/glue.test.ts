/**
 * The package's shell glue under busybox sh, with stand-ins that log:
 *  - dnsmasq is restarted at most once per install, upgrade and removal, for
 *    opkg (old prerm-pkg/postrm of 0.1.0-1, as shipped before, then the new
 *    postinst-pkg) and for apk (which runs only the new package's scripts);
 *  - the dhcp-script wrapper says once in syslog that it cannot see iptmon
 *    (dnsmasq's jail), not at every event;
 *  - the callers of "enabled" (init script, firewall include, the CGIs)
 *    read no option themselves: they ask `iptmon service` (the CGIs first
 *    rule out, without iptmon, only what it would surely refuse).
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { apkScripts } from "../../scripts/mkapk.ts";
import { ROOT } from "../../scripts/mkipk.ts";

/** What both CGIs source (on the router: /usr/lib/iptmon/cgi.sh). */
const CGI_LIB = join(ROOT, "files/usr/lib/iptmon/cgi.sh");

let dir: string;
let log: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "iptmon-glue-"));
  log = join(dir, "log");
  mkdirSync(join(dir, "bin"));
  const standIn = (name: string, body = "") => {
    writeFileSync(join(dir, "bin", name), `#!/bin/sh\necho "${name} $*" >> '${log}'\n${body}`);
    chmodSync(join(dir, "bin", name), 0o755);
  };
  standIn("dnsmasq-init");
  standIn("iptmon");
  standIn("uci");
  standIn("logger");
});

afterEach(() => rmSync(dir, { recursive: true, force: true }));

const logged = () => (existsSync(log) ? readFileSync(log, "utf8").trim().split("\n") : []);
const restarts = () => logged().filter((l) => l === "dnsmasq-init restart").length;

/** Runs a control script's text as the package manager would, /etc/init.d/dnsmasq being the logging stand-in. */
function run(script: string, env: Record<string, string>) {
  const f = join(dir, "script");
  writeFileSync(f, script.replaceAll("/etc/init.d/dnsmasq", join(dir, "bin/dnsmasq-init")));
  const r = Bun.spawnSync(["busybox", "sh", f], {
    env: { PATH: `${join(dir, "bin")}:/usr/bin:/bin`, IPTMON_BIN: join(dir, "bin/iptmon"), ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
  expect([r.exitCode, r.stderr.toString()]).toEqual([0, ""]);
}
const current = (f: string) => readFileSync(join(ROOT, "openwrt/control", f), "utf8");
const old = (f: string) => readFileSync(join(ROOT, "test/package/fixtures/0.1.0-1", f), "utf8");

describe("dnsmasq restarts: at most one per install, upgrade, removal", () => {
  // opkg: install runs postinst; upgrade the old prerm and postrm, then the new
  // postinst; removal prerm and postrm. PKG_UPGRADE is 1 for all three on an
  // upgrade (opkg marks the old and the new package), 0 otherwise. Without
  // /lib/functions.sh (here), prerm and postinst source the -pkg parts.
  test("opkg install: one", () => {
    run(current("postinst-pkg"), { PKG_UPGRADE: "0" });
    expect(restarts()).toBe(1);
  });

  test("opkg upgrade from 0.1.0-1 (whose postrm restarts unguarded): one, not two", () => {
    // The old postrm did restart on an upgrade: that one is the only one.
    run(old("prerm-pkg"), { PKG_UPGRADE: "1" });
    run(old("postrm"), { PKG_UPGRADE: "1" });
    expect(restarts()).toBe(1);
    run(current("postinst-pkg"), { PKG_UPGRADE: "1" });
    expect(restarts()).toBe(1);
    // And before this package fixed it, the same upgrade restarted twice.
    rmSync(log);
    for (const f of ["prerm-pkg", "postrm", "postinst-pkg"]) run(old(f), { PKG_UPGRADE: "1" });
    expect(restarts()).toBe(2);
  });

  test("opkg upgrade from this version: none (the wrappers stay in place throughout)", () => {
    for (const f of ["prerm-pkg", "postrm", "postinst-pkg"]) run(current(f), { PKG_UPGRADE: "1" });
    expect(restarts()).toBe(0);
    // The upgrade keeps the firewall include and the service: nothing deleted.
    expect(logged().filter((l) => l.startsWith("uci "))).toEqual([]);
  });

  test("opkg remove: one, after the wrappers are gone", () => {
    run(current("prerm-pkg"), { PKG_UPGRADE: "0" });
    expect(restarts()).toBe(0);
    run(current("postrm"), { PKG_UPGRADE: "0" });
    expect(restarts()).toBe(1);
  });

  test("apk: add one, upgrade (only the new post-upgrade runs) none, del one", () => {
    const s = apkScripts();
    run(s["post-install"], {});
    expect(restarts()).toBe(1);
    rmSync(log);
    run(s["post-upgrade"], {});
    expect(restarts()).toBe(0);
    run(s["pre-deinstall"]!, {});
    run(s["post-deinstall"]!, {});
    expect(restarts()).toBe(1);
  });

  test("building an image (IPKG_INSTROOT set): none", () => {
    const root = join(dir, "root");
    for (const f of ["postinst-pkg", "prerm-pkg", "postrm"]) run(current(f), { IPKG_INSTROOT: root, PKG_UPGRADE: "0" });
    expect(logged()).toEqual([]);
  });
});

describe("dhcp-script.sh when dnsmasq's jail hides /usr/sbin/iptmon", () => {
  const SCRIPT = join(ROOT, "files/usr/lib/iptmon/dhcp-script.sh");
  const event = (env: Record<string, string>) => {
    // Sourced as OpenWrt's dhcp-script sources USER_DHCPSCRIPT, which then goes on.
    const r = Bun.spawnSync(["busybox", "sh", "-c", `. '${SCRIPT}' add 02:00:00:00:00:05 192.168.1.5 laptop; echo "went on $?"`], {
      env: { PATH: `${join(dir, "bin")}:/usr/bin:/bin`, ...env },
      stdout: "pipe",
      stderr: "pipe",
    });
    expect([r.stdout.toString(), r.stderr.toString()]).toEqual(["went on 0\n", ""]);
  };

  test("says so in syslog once, however many events follow", () => {
    const run1 = join(dir, "run");
    mkdirSync(run1);
    for (let i = 0; i < 3; i++) event({ IPTMON_BIN: join(dir, "hidden/iptmon"), IPTMON_RUNDIRS: `${join(dir, "absent")} ${run1}` });
    const lines = logged();
    expect(lines).toHaveLength(1);
    expect(lines[0]).toStartWith(`logger -t iptmon dhcp-script: ${join(dir, "hidden/iptmon")} is not visible here`);
    expect(lines[0]).toContain("use the hotplug wrappers");
    expect(existsSync(join(run1, "iptmon.dhcp-script.unseen"))).toBe(true);
  });

  test("with no writable directory for the marker it still says so (at every event)", () => {
    for (let i = 0; i < 2; i++) event({ IPTMON_BIN: join(dir, "hidden/iptmon"), IPTMON_RUNDIRS: join(dir, "absent") });
    expect(logged().filter((l) => l.startsWith("logger "))).toHaveLength(2);
  });

  test("when iptmon is there: it runs, and nothing is logged", () => {
    event({ IPTMON_BIN: join(dir, "bin/iptmon"), IPTMON_RUNDIRS: dir });
    expect(logged()).toEqual(["iptmon add 02:00:00:00:00:05 192.168.1.5 laptop"]);
  });
});

describe("one decision on enabled", () => {
  const code = (f: string) =>
    readFileSync(join(ROOT, f), "utf8")
      .split("\n")
      .filter((l) => !/^\s*#/.test(l))
      .join("\n");

  test("the init script, the firewall include and the CGIs ask `iptmon service`, and read no option themselves", () => {
    for (const [f, action] of [
      ["files/etc/init.d/iptmon", "service \"$1\""],
      ["files/usr/lib/iptmon/firewall.include", "service reload"],
      ["files/usr/lib/iptmon/cgi.sh", "service http"],
      ["files/www/cgi-bin/iptmon-metrics", ". \"${IPTMON_CGI_LIB:-/usr/lib/iptmon/cgi.sh}\""],
      ["files/www/cgi-bin/iptmon-hosts", ". \"${IPTMON_CGI_LIB:-/usr/lib/iptmon/cgi.sh}\""],
    ] as const) {
      expect([f, code(f)]).toEqual([f, expect.stringContaining(action) as unknown as string]);
      expect([f, /config_(load|get)|\buci\s+(-\S+\s+)*(get|show)\b/.test(code(f))]).toEqual([f, false]);
    }
  });

  test.each(["iptmon-metrics", "iptmon-hosts"])("the %s CGI: 403 when `iptmon service http` says no, 500 without its words when the config is bad", (name) => {
    const conf = join(dir, "iptmon.conf");
    // A section the CGI's own check cannot rule out: the decision is iptmon's.
    writeFileSync(conf, "config prometheus\n");
    const cgi = (httpCode: number, say = "") => {
      writeFileSync(join(dir, "bin/iptmon"), `#!/bin/sh\necho "iptmon $*" >> '${log}'\n[ "$1 $2" = "service http" ] && { printf '${say}' >&2; exit ${httpCode}; }\necho 'warning: on stderr' >&2\necho 'iptmon_hosts 0'\n`);
      const r = Bun.spawnSync(["busybox", "sh", join(ROOT, "files/www/cgi-bin", name)], {
        env: { PATH: `${join(dir, "bin")}:/usr/bin:/bin`, REQUEST_METHOD: "GET", IPTMON_CONFIG: conf, IPTMON_CGI_LIB: CGI_LIB },
        stdout: "pipe",
      });
      return r.stdout.toString();
    };
    expect(cgi(0)).toStartWith("Status: 200 OK\r\n");
    expect(cgi(0)).toEndWith("\r\n\r\niptmon_hosts 0\n");
    const forbidden = cgi(1);
    expect(forbidden).toStartWith("Status: 403 Forbidden\r\n");
    expect(forbidden).not.toContain("iptmon_hosts");
    const bad = cgi(2, "iptmon: cannot read /etc/config/iptmon:9: option enabled must be a boolean");
    expect(bad).toStartWith("Status: 500 Internal Server Error\r\n");
    expect(bad).toEndWith("\r\n\r\niptmon: iptmon service http failed (exit 2); the reason is in the system log (logread -e iptmon)\n");
    expect(logged()).toEqual([
      "iptmon service http",
      "iptmon " + (name === "iptmon-metrics" ? "metrics" : "status --json --busiest"),
      "logger -s -t iptmon -p daemon.warning",
      "iptmon service http",
      "iptmon " + (name === "iptmon-metrics" ? "metrics" : "status --json --busiest"),
      "logger -s -t iptmon -p daemon.warning",
      "iptmon service http",
      "iptmon service http",
      "logger -s -t iptmon -p daemon.warning",
      "logger -s -t iptmon -p daemon.warning",
    ]);
  });

  test("no temporary file for iptmon's stderr (/tmp full): the warning goes to the CGI's stderr, the body stays clean", () => {
    const conf = join(dir, "iptmon.conf");
    writeFileSync(conf, "config prometheus\n");
    writeFileSync(join(dir, "bin/iptmon"), `#!/bin/sh\n[ "$1 $2" = "service http" ] && exit 0\necho 'iptmon: warning: on stderr' >&2\necho 'iptmon_hosts 0'\n`);
    writeFileSync(join(dir, "bin/mktemp"), "#!/bin/sh\necho 'mktemp: No space left on device' >&2\nexit 1\n", { mode: 0o755 });
    const r = Bun.spawnSync(["busybox", "sh", join(ROOT, "files/www/cgi-bin/iptmon-metrics")], {
      env: { PATH: `${join(dir, "bin")}:/usr/bin:/bin`, REQUEST_METHOD: "GET", IPTMON_CONFIG: conf, IPTMON_CGI_LIB: CGI_LIB },
      stdout: "pipe",
      stderr: "pipe",
    });
    expect(r.stdout.toString()).toEndWith("\r\n\r\niptmon_hosts 0\n");
    expect(r.stdout.toString()).toStartWith("Status: 200 OK\r\n");
    expect(r.stderr.toString()).toBe("iptmon: warning: on stderr\n");
  });
});
