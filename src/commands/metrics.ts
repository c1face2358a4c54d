/** `iptmon metrics`: the counters in Prometheus text format (served by files/www/cgi-bin/iptmon-metrics). */
import { renderPrometheus } from "../exporters/prometheus.ts";
import { readStatus } from "../status.ts";
import type { Command } from "./command.ts";

export const metricsCommand: Command = {
  command: "metrics",
  describe: "print every host's counters in Prometheus text exposition format",
  run(_args, app) {
    const rt = app.runtime();
    app.out(renderPrometheus(readStatus(rt)));
    return 0;
  },
};
