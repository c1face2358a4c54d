/** `iptmon metrics`: the counters in Prometheus text format (served by files/www/cgi-bin/iptmon-metrics). */
import type { Command } from "./command.ts";

export const metricsCommand: Command = {
  command: "metrics",
  scripted: true,
  describe: "print every host's counters in Prometheus text exposition format",
  async run(_args, app) {
    const { renderPrometheus } = await import("../exporters/prometheus.ts");
    const { readStatus } = await import("../status.ts");
    app.out(renderPrometheus(readStatus(await app.runtime())));
    return 0;
  },
};
