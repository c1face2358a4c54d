/**
 * files/etc/init.d/iptmon's service functions, sourced by busybox sh with
 * stand-ins for what /etc/rc.common and /lib/functions.sh would provide
 * (config_load, config_foreach, config_get_bool, procd_add_reload_trigger),
 * and an iptmon that records its calls. What start, stop, reload do, and that
 * option enabled '0' builds nothing. Also the firewall include, sourced as fw4
 * sources it.
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT } from "../../scripts/mkipk.ts";

let dir: string;
let calls: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "iptmon-init-"));
  calls = join(dir, "calls");
  writeFileSync(join(dir, "iptmon"), `#!/bin/sh\necho "iptmon $*" >> '${calls}'\n[ "$1" != "$FAIL" ]\n`);
  writeFileSync(join(dir, "logger"), `#!/bin/sh\necho "logger $*" >> '${calls}'\n`);
  chmodSync(join(dir, "iptmon"), 0o755);
  chmodSync(join(dir, "logger"), 0o755);
});

afterEach(() => rmSync(dir, { recursive: true, force: true }));

/**
 * Runs `fn` of the init script. SECTIONS is a list of `config iptmon`
 * sections, each "name:enabled" (enabled empty: option absent).
 */
function service(fn: string, sections: string[], extra: Record<string, string> = {}) {
  const harness = `
config_load() { [ "$1" = iptmon ] || exit 9; }
config_foreach() {
	for s in $SECTIONS; do [ "$2" = iptmon ] && "$1" "\${s%%:*}"; done
}
config_get_bool() {
	for s in $SECTIONS; do
		[ "\${s%%:*}" = "$2" ] || continue
		v=\${s#*:}
		case "$v" in 1|on|true|yes|enabled) v=1 ;; 0|off|false|no|disabled) v=0 ;; *) v=$4 ;; esac
		eval "$1=\\$v"
	done
}
procd_add_reload_trigger() { echo "reload_trigger $*" >> "${calls}"; }
. '${join(ROOT, "files/etc/init.d/iptmon")}'
PROG='${join(dir, "iptmon")}'
echo "START=$START USE_PROCD=$USE_PROCD" >> '${calls}'
${fn}
`;
  const r = Bun.spawnSync(["busybox", "sh", "-c", harness], {
    env: { PATH: `${dir}:/usr/bin:/bin`, SECTIONS: sections.join(" "), ...extra },
    stdout: "pipe",
    stderr: "pipe",
  });
  const made = existsSync(calls) ? readFileSync(calls, "utf8").trim().split("\n") : [];
  rmSync(calls, { force: true });
  return { code: r.exitCode, err: r.stderr.toString(), calls: made.slice(1), head: made[0] };
}

test("started late (after firewall and dnsmasq), through procd", () => {
  expect(service("true", []).head).toBe("START=99 USE_PROCD=1");
});

test("start and reload build the ruleset and sync the cron line; stop removes both", () => {
  const built = ["iptmon init", "iptmon cron sync"];
  for (const sections of [[], ["main:"], ["main:1"]]) {
    expect(service("start_service", sections)).toMatchObject({ code: 0, err: "", calls: built });
    expect(service("reload_service", sections)).toMatchObject({ code: 0, calls: built });
  }
  expect(service("stop_service", ["main:1"])).toMatchObject({ code: 0, calls: ["iptmon cron remove", "iptmon stop"] });
});

test("option enabled '0': start removes whatever is left and builds nothing", () => {
  for (const off of ["0", "off", "no"]) {
    expect(service("start_service", [`main:${off}`])).toMatchObject({ code: 0, calls: ["iptmon cron remove", "iptmon stop"] });
  }
  // Only the first config iptmon counts, as for iptmon itself.
  expect(service("start_service", ["main:0", "other:1"]).calls).toEqual(["iptmon cron remove", "iptmon stop"]);
  expect(service("start_service", ["main:1", "other:0"]).calls).toEqual(["iptmon init", "iptmon cron sync"]);
});

test("a failing iptmon is logged, and the service call still returns", () => {
  const r = service(`start_service; echo rc=$? >> "$CALLS"`, ["main:1"], { FAIL: "init", CALLS: calls });
  expect(r.calls).toEqual(["iptmon init", "logger -t iptmon iptmon init failed (1)", "iptmon cron sync", "rc=0"]);
});

test("no binary: nothing to do", () => {
  expect(service(`PROG=/nonexistent; start_service; stop_service`, ["main:1"])).toMatchObject({ code: 0, calls: [] });
});

test("reloaded when the iptmon, dhcp or firewall config changes", () => {
  expect(service("service_triggers", []).calls).toEqual(["reload_trigger iptmon dhcp firewall"]);
});

describe("firewall.include", () => {
  /** Sourced as fw4 does (`sh -c '. path'`), with stand-ins for the init script and uci. */
  function include(serviceEnabled: boolean, option: string | null, extra: Record<string, string> = {}) {
    writeFileSync(join(dir, "init"), `#!/bin/sh\n[ "$1" = enabled ] && exit ${serviceEnabled ? 0 : 1}\nexit 9\n`);
    writeFileSync(join(dir, "uci"), `#!/bin/sh\necho "uci $*" >> '${calls}'\n${option === null ? "exit 1" : `echo '${option}'`}\n`);
    chmodSync(join(dir, "init"), 0o755);
    chmodSync(join(dir, "uci"), 0o755);
    const r = Bun.spawnSync(["busybox", "sh", "-c", `. '${join(ROOT, "files/usr/lib/iptmon/firewall.include")}'; echo "after $?"`], {
      env: { PATH: `${dir}:/usr/bin:/bin`, IPTMON_BIN: join(dir, "iptmon"), IPTMON_INIT: join(dir, "init"), ...extra },
      stdout: "pipe",
      stderr: "pipe",
    });
    const made = existsSync(calls) ? readFileSync(calls, "utf8").trim().split("\n") : [];
    rmSync(calls, { force: true });
    return { out: r.stdout.toString(), err: r.stderr.toString(), calls: made };
  }

  test("rebuilds when the service and the option are enabled, and the firewall goes on", () => {
    for (const option of [null, "1", "yes"]) {
      expect(include(true, option)).toEqual({ out: "after 0\n", err: "", calls: ["uci -q get iptmon.@iptmon[0].enabled", "iptmon init"] });
    }
  });

  test("does nothing when the service is disabled or option enabled is 0", () => {
    expect(include(false, "1")).toEqual({ out: "after 0\n", err: "", calls: [] });
    for (const off of ["0", "off", "no"]) expect(include(true, off).calls).toEqual(["uci -q get iptmon.@iptmon[0].enabled"]);
  });

  test("a failing init is logged and still returns 0 to the firewall", () => {
    const r = include(true, "1", { FAIL: "init" });
    expect(r.out).toBe("after 0\n");
    expect(r.calls).toEqual(["uci -q get iptmon.@iptmon[0].enabled", "iptmon init", "logger -t iptmon firewall include: iptmon init failed (1):"]);
  });
});
