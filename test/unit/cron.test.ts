import { describe, expect, test } from "bun:test";
import { cronLine, updateCrontab } from "../../src/exporters/cron.ts";
import { main } from "../../src/main.ts";
import { fakeSys } from "../helpers/fakesys.ts";

const LINE = "*/1 * * * * /usr/sbin/iptmon push # iptmon";

describe("cronLine", () => {
  test("the default config is not named; another one is passed on, quoted for sh", () => {
    expect(cronLine(1, "/etc/config/iptmon")).toBe(LINE);
    expect(cronLine(5, "/tmp/x/iptmon.conf")).toBe("*/5 * * * * /usr/sbin/iptmon --config /tmp/x/iptmon.conf push # iptmon");
    expect(cronLine(5, "/tmp/it's here")).toBe("*/5 * * * * /usr/sbin/iptmon --config '/tmp/it'\\''s here' push # iptmon");
  });
});

describe("updateCrontab", () => {
  const OTHER = "# m h dom mon dow command\n0 3 * * * /sbin/reboot\n*/5 * * * * /usr/bin/thing # not iptmon's\n";

  test("no file, line wanted: a file with just the line", () => {
    expect(updateCrontab(null, LINE)).toBe(`${LINE}\n`);
  });

  test("no file, no line wanted: nothing to write", () => {
    expect(updateCrontab(null, null)).toBeNull();
  });

  test("appends after other lines, which stay byte for byte", () => {
    expect(updateCrontab(OTHER, LINE)).toBe(`${OTHER}${LINE}\n`);
  });

  test("idempotent: the line already there changes nothing", () => {
    const once = updateCrontab(OTHER, LINE)!;
    expect(updateCrontab(once, LINE)).toBeNull();
  });

  test("a changed interval replaces the line in place", () => {
    const text = `0 3 * * * /sbin/reboot\n${LINE}\n15 * * * * /bin/true\n`;
    expect(updateCrontab(text, LINE.replace("*/1", "*/5"))).toBe(`0 3 * * * /sbin/reboot\n${LINE.replace("*/1", "*/5")}\n15 * * * * /bin/true\n`);
  });

  test("duplicates (a hand edit, an old version) collapse to one", () => {
    const text = `${LINE}\n0 3 * * * /sbin/reboot\n*/9 * * * * /usr/sbin/iptmon push #iptmon\n`;
    expect(updateCrontab(text, LINE)).toBe(`${LINE}\n0 3 * * * /sbin/reboot\n`);
  });

  test("removing takes every iptmon line and nothing else", () => {
    expect(updateCrontab(`${OTHER}${LINE}\n`, null)).toBe(OTHER);
    expect(updateCrontab(`${LINE}\n`, null)).toBe("");
  });

  test("a file without iptmon lines is not rewritten, even without a final newline", () => {
    expect(updateCrontab("0 3 * * * /sbin/reboot", null)).toBeNull();
    expect(updateCrontab("0 3 * * * /sbin/reboot", LINE)).toBe(`0 3 * * * /sbin/reboot\n${LINE}\n`);
  });
});

describe("iptmon cron sync|remove", () => {
  const ENABLED = "config iptmon\nconfig influxdb\n\toption url 'http://nas:8086'\n\toption database 'iptmon'\n";
  const run = async (config: string, action: string, crontab?: string) => {
    const sys = fakeSys({ files: { "/etc/config/iptmon": config, ...(crontab === undefined ? {} : { "/etc/crontabs/root": crontab }) } });
    const code = await main(["cron", action], sys);
    return { code, sys, crontab: sys.files.get("/etc/crontabs/root") };
  };

  test("sync with a target enabled: the line is added, nothing else is run", async () => {
    const r = await run(ENABLED, "sync", "0 3 * * * /sbin/reboot\n");
    expect(r.code).toBe(0);
    expect(r.crontab).toBe(`0 3 * * * /sbin/reboot\n${LINE}\n`);
    expect(r.sys.calls).toEqual([]);
    expect(r.sys.err).toBe("");
  });

  test("sync with a collectd target and push_interval", async () => {
    const r = await run("config iptmon\n\toption push_interval '5'\nconfig collectd\n", "sync");
    expect(r.crontab).toBe("*/5 * * * * /usr/sbin/iptmon push # iptmon\n");
  });

  test("sync with every target disabled replaces the push line with the snapshot line", async () => {
    const r = await run("config influxdb\n\toption enabled '0'\nconfig collectd\n\toption enabled 'off'\n", "sync", `0 3 * * * /sbin/reboot\n${LINE}\n`);
    expect(r.crontab).toBe("0 3 * * * /sbin/reboot\n*/1 * * * * /usr/sbin/iptmon snapshot # iptmon\n");
  });

  test("sync with nothing to push keeps the snapshot fresh", async () => {
    const r = await run("config iptmon\n", "sync");
    expect(r.crontab).toBe("*/1 * * * * /usr/sbin/iptmon snapshot # iptmon\n");
  });

  test("remove takes the line out even with targets enabled", async () => {
    const r = await run(ENABLED, "remove", `${LINE}\n0 3 * * * /sbin/reboot\n`);
    expect(r.crontab).toBe("0 3 * * * /sbin/reboot\n");
  });

  test("option crontab, and a config other than the default", async () => {
    const sys = fakeSys({ files: { "/tmp/t/iptmon": "config iptmon\n\toption crontab '/tmp/t/crontab'\nconfig collectd\n" } });
    expect(await main(["--config", "/tmp/t/iptmon", "cron", "sync"], sys)).toBe(0);
    expect(sys.files.get("/tmp/t/crontab")).toBe("*/1 * * * * /usr/sbin/iptmon --config /tmp/t/iptmon push # iptmon\n");
    expect(sys.files.has("/etc/crontabs/root")).toBe(false);
  });

  test("an unchanged crontab is not rewritten", async () => {
    const sys = fakeSys({ files: { "/etc/config/iptmon": ENABLED, "/etc/crontabs/root": `${LINE}\n` } });
    let writes = 0;
    const write = sys.writeFile;
    sys.writeFile = (p, d) => {
      writes++;
      write(p, d);
    };
    expect(await main(["cron", "sync"], sys)).toBe(0);
    expect(writes).toBe(0);
  });

  test("push_interval out of range is a config error", async () => {
    const r = await run("config iptmon\n\toption push_interval '0'\nconfig collectd\n", "sync");
    expect(r.code).toBe(2);
    expect(r.sys.err).toContain("option 'push_interval' must be within 1..60: '0'");
  });

  test("a bad action is a usage error", async () => {
    const r = await run(ENABLED, "start");
    expect(r.code).toBe(2);
  });
});
