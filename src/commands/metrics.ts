/** `iptmon metrics`: the counters in Prometheus text format (served by files/www/cgi-bin/iptmon-metrics). */
import { readHosts } from "../core.ts";
import { renderPrometheus } from "../exporters/prometheus.ts";
import { buildStatus } from "../status.ts";
import type { Command } from "./command.ts";

export const metricsCommand: Command = {
  command: "metrics",
  describe: "print every host's counters in Prometheus text exposition format",
  run(_args, app) {
    const rt = app.runtime();
    app.out(renderPrometheus(buildStatus(rt.backend.name, readHosts(rt))));
    return 0;
  },
};
