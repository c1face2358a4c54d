/** `iptmon push`: one sample to every enabled InfluxDB and collectd target (run by cron). */
import type { Command } from "./command.ts";

export const pushCommand: Command = {
  command: "push",
  describe: "send every host's counters to the enabled config influxdb and config collectd targets",
  async run(_args, app) {
    const { listPushTargets, pushIntervalMinutes, pushSample } = await import("../exporters/push.ts");
    const { sys } = app;
    const cfg = await app.config();
    // Run by cron, where nobody passes --verbose: a skipped section must still be heard of.
    for (const w of cfg.warnings) if (/config (influxdb|collectd)|\(section skipped\)/.test(w)) sys.stderr(`iptmon: warning: ${w}\n`);
    const { targets, problems } = listPushTargets(cfg, { sys });
    if (targets.length === 0 && problems.length === 0) {
      // Not a failure: cron only runs push while a target is enabled, so this is a manual run.
      sys.stderr(`iptmon: nothing to push: no enabled 'config influxdb' or 'config collectd' section in ${cfg.file}\n`);
      return 0;
    }
    let failed = problems.length;
    for (const p of problems) sys.stderr(`iptmon: cannot push to ${p.label}: ${p.error}\n`);
    if (targets.length > 0) {
      const { readStatus } = await import("../status.ts");
      const status = readStatus(await app.runtime());
      const sample = { time: sys.now(), interval: pushIntervalMinutes(cfg) * 60, hosts: status.hosts };
      for (const r of await pushSample(targets, sample)) {
        if (r.error === null) continue;
        failed++;
        sys.stderr(`iptmon: cannot push to ${r.label}: ${r.error}\n`);
      }
    }
    return failed > 0 ? 1 : 0;
  },
};
