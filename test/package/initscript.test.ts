/**
 * files/etc/init.d/iptmon's service functions, sourced by busybox sh with a
 * stand-in for procd_add_reload_trigger and an iptmon that records its calls:
 * start, stop and reload ask `iptmon service` and nothing else (what it
 * decides is tested in test/unit/service.test.ts). Also the firewall include,
 * sourced as fw4 sources it.
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

/** Runs `fn` of the init script, with a stand-in for procd_add_reload_trigger. */
function service(fn: string, extra: Record<string, string> = {}) {
  const harness = `
procd_add_reload_trigger() { echo "reload_trigger $*" >> "${calls}"; }
. '${join(ROOT, "files/etc/init.d/iptmon")}'
PROG='${join(dir, "iptmon")}'
echo "START=$START STOP=$STOP USE_PROCD=$USE_PROCD" >> '${calls}'
${fn}
`;
  const r = Bun.spawnSync(["busybox", "sh", "-c", harness], {
    env: { PATH: `${dir}:/usr/bin:/bin`, ...extra },
    stdout: "pipe",
    stderr: "pipe",
  });
  const made = existsSync(calls) ? readFileSync(calls, "utf8").trim().split("\n") : [];
  rmSync(calls, { force: true });
  return { code: r.exitCode, err: r.stderr.toString(), calls: made.slice(1), head: made[0] };
}

test("started late (after firewall and dnsmasq), stopped at shutdown (totals saved), through procd", () => {
  expect(service("true").head).toBe("START=99 STOP=10 USE_PROCD=1");
});

test("start, reload and stop hand the whole decision to `iptmon service` (enabled or not, build or remove)", () => {
  expect(service("start_service")).toMatchObject({ code: 0, err: "", calls: ["iptmon service start"] });
  expect(service("reload_service")).toMatchObject({ code: 0, err: "", calls: ["iptmon service reload"] });
  expect(service("stop_service")).toMatchObject({ code: 0, err: "", calls: ["iptmon service stop"] });
});

test("the init script reads no option itself: no config_load, config_get, uci", () => {
  const text = readFileSync(join(ROOT, "files/etc/init.d/iptmon"), "utf8")
    .split("\n")
    .filter((l) => !/^\s*#/.test(l))
    .join("\n");
  expect(text).not.toMatch(/config_load|config_get|config_foreach|\buci\b/);
});

test("a failing iptmon is logged, and the service call still returns", () => {
  const r = service(`start_service; echo rc=$? >> "$CALLS"`, { FAIL: "service", CALLS: calls });
  expect(r.calls).toEqual(["iptmon service start", "logger -t iptmon iptmon service start failed (1)", "rc=0"]);
});

test("no binary: nothing to do", () => {
  expect(service(`PROG=/nonexistent; start_service; stop_service; reload_service`)).toMatchObject({ code: 0, calls: [] });
});

test("reloaded when the iptmon or dhcp config changes; firewall reloads come through the include alone", () => {
  expect(service("service_triggers").calls).toEqual(["reload_trigger iptmon dhcp"]);
});

describe("firewall.include", () => {
  /** Sourced as fw4 does (`sh -c '. path'`), with a stand-in for the init script. */
  function include(serviceEnabled: boolean, extra: Record<string, string> = {}) {
    writeFileSync(join(dir, "init"), `#!/bin/sh\n[ "$1" = enabled ] && exit ${serviceEnabled ? 0 : 1}\nexit 9\n`);
    chmodSync(join(dir, "init"), 0o755);
    const r = Bun.spawnSync(["busybox", "sh", "-c", `. '${join(ROOT, "files/usr/lib/iptmon/firewall.include")}'; echo "after $?"`], {
      env: { PATH: `${dir}:/usr/bin:/bin`, IPTMON_BIN: join(dir, "iptmon"), IPTMON_INIT: join(dir, "init"), ...extra },
      stdout: "pipe",
      stderr: "pipe",
    });
    const made = existsSync(calls) ? readFileSync(calls, "utf8").trim().split("\n") : [];
    rmSync(calls, { force: true });
    return { out: r.stdout.toString(), err: r.stderr.toString(), calls: made };
  }

  test("runs `iptmon service reload` (which builds, or removes when option enabled is 0) while the service is enabled", () => {
    expect(include(true)).toEqual({ out: "after 0\n", err: "", calls: ["iptmon service reload"] });
  });

  test("does nothing while the service is disabled (/etc/init.d/iptmon disable)", () => {
    expect(include(false)).toEqual({ out: "after 0\n", err: "", calls: [] });
  });

  test("a failing reload is logged and still returns 0 to the firewall", () => {
    const r = include(true, { FAIL: "service" });
    expect(r.out).toBe("after 0\n");
    expect(r.calls).toEqual(["iptmon service reload", "logger -t iptmon firewall include: iptmon service reload failed (1):"]);
  });
});
