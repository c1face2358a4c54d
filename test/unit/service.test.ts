/**
 * `iptmon service`: the one decision on "enabled" that the init script, the
 * firewall include and the CGIs ask, and what start/reload/stop do with it.
 */
import { describe, expect, test } from "bun:test";
import { main } from "../../src/main.ts";
import type { RunResult } from "../../src/sys.ts";
import { fakeSys, ok, type FakeSys } from "../helpers/fakesys.ts";

const NO_TABLE: RunResult = { code: 1, stdout: "", stderr: "Error: No such file or directory\nlist table inet iptmon\n" };
const CRON_LINE = "*/1 * * * * /usr/sbin/iptmon push # iptmon";
const INFLUX = "config influxdb\n\toption url 'http://192.168.1.10:8086'\n\toption database 'iptmon'\n";

function router(config: string) {
  const applied: string[] = [];
  const sys = fakeSys({
    files: { "/etc/config/iptmon": config, "/etc/crontabs/root": "0 3 * * * other\n" },
    commands: {
      "ip addr show dev br-lan": ok("4: br-lan: <UP>\n    inet 192.168.1.1/24 scope global br-lan\n"),
      "ip neigh show": ok(""),
      "nft list tables": ok("table inet iptmon\n"),
      "nft -j list table inet iptmon": NO_TABLE,
      "nft -j list maps inet": ok(JSON.stringify({ nftables: [] })),
      "nft -f -": (input) => {
        applied.push(input ?? "");
        return ok();
      },
    },
  });
  return { sys, applied };
}
const crontab = (sys: FakeSys) => sys.files.get("/etc/crontabs/root");
const global = (opts: string) => `config iptmon 'main'\n\toption backend 'nftables'\n${opts}`;

describe("service enabled: one reading of option enabled", () => {
  for (const v of ["1", "on", "yes", "true", "enabled"]) {
    test(`'${v}' is on (exit 0)`, async () => {
      expect(await main(["service", "enabled"], router(global(`\toption enabled '${v}'\n`)).sys)).toBe(0);
    });
  }
  for (const v of ["0", "off", "no", "false", "disabled"]) {
    test(`'${v}' is off (exit 1)`, async () => {
      expect(await main(["service", "enabled"], router(global(`\toption enabled '${v}'\n`)).sys)).toBe(1);
    });
  }
  test("unset is on; a missing config file is the defaults, on", async () => {
    expect(await main(["service", "enabled"], router(global("")).sys)).toBe(0);
    const { sys } = router("");
    sys.files.delete("/etc/config/iptmon");
    expect(await main(["service", "enabled"], sys)).toBe(0);
  });
  test("a value that is no boolean is exit 2 with file and line, nothing run", async () => {
    const { sys } = router(global("\toption enabled 'maybe'\n"));
    expect(await main(["service", "enabled"], sys)).toBe(2);
    expect(sys.err).toContain("/etc/config/iptmon:3: option 'enabled' must be a boolean");
    expect(sys.calls).toEqual([]);
  });
});

describe("service http: the CGIs' opt-in", () => {
  const cases: [string, string, number][] = [
    ["no prometheus section", "", 1],
    ["config prometheus 'prometheus' with enabled '1'", "config prometheus 'prometheus'\n\toption enabled '1'\n", 0],
    ["a prometheus section without option enabled", "config prometheus 'prometheus'\n", 0],
    ["enabled 'off'", "config prometheus 'prometheus'\n\toption enabled 'off'\n", 1],
    ["an anonymous section, enabled 'yes'", "config prometheus\n\toption enabled 'yes'\n", 0],
  ];
  for (const [what, text, code] of cases) {
    test(`${what}: exit ${code}`, async () => {
      expect(await main(["service", "http"], router(global("") + text).sys)).toBe(code);
    });
  }
});

describe("service start/reload/stop", () => {
  test("enabled: start builds the ruleset and syncs the push line", async () => {
    const { sys, applied } = router(global("") + INFLUX);
    expect(await main(["service", "start"], sys)).toBe(0);
    expect(applied).toHaveLength(1);
    expect(applied[0]).toStartWith("table inet iptmon {");
    expect(crontab(sys)).toBe(`0 3 * * * other\n${CRON_LINE}\n`);
  });

  test("disabled: start and reload remove the ruleset and the push line, build nothing (as stop does)", async () => {
    for (const action of ["start", "reload", "stop"]) {
      const { sys, applied } = router(global("\toption enabled '0'\n") + INFLUX);
      sys.files.set("/etc/crontabs/root", `0 3 * * * other\n${CRON_LINE}\n`);
      expect(await main(["service", action], sys)).toBe(0);
      expect([action, applied.length, applied.join("")]).toEqual([action, 1, expect.stringContaining("delete table inet iptmon\n") as unknown as string]);
      expect(applied.join("")).not.toContain("table inet iptmon {");
      expect(crontab(sys)).toBe("0 3 * * * other\n");
    }
  });

  test("enabled: stop removes the ruleset and the push line", async () => {
    const { sys, applied } = router(global("") + INFLUX);
    sys.files.set("/etc/crontabs/root", `0 3 * * * other\n${CRON_LINE}\n`);
    expect(await main(["service", "stop"], sys)).toBe(0);
    expect(applied).toHaveLength(1);
    expect(applied[0]).toContain("delete table inet iptmon\n");
    expect(applied[0]).not.toContain("table inet iptmon {");
    expect(crontab(sys)).toBe("0 3 * * * other\n");
  });

  test("a failing build still syncs the crontab, and fails", async () => {
    const failing = fakeSys({
      files: { "/etc/config/iptmon": global("") + INFLUX, "/etc/crontabs/root": "" },
      commands: {
        "ip addr show dev br-lan": ok("4: br-lan: <UP>\n    inet 192.168.1.1/24 scope global br-lan\n"),
        "ip neigh show": ok(""),
        "nft list tables": ok(""),
        "nft -j list table inet iptmon": NO_TABLE,
        "nft -j list maps inet": ok(JSON.stringify({ nftables: [] })),
        "nft -f -": { code: 1, stdout: "", stderr: "Error: Could not process rule: Operation not permitted\n" },
      },
    });
    expect(await main(["service", "reload"], failing)).not.toBe(0);
    expect(failing.files.get("/etc/crontabs/root")).toBe(`${CRON_LINE}\n`);
  });

  test("an unknown action is a usage error", async () => {
    const { sys } = router(global(""));
    expect(await main(["service", "restart"], sys)).toBe(2);
    expect(sys.calls).toEqual([]);
  });
});
