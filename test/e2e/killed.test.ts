/**
 * A killed iptmon leaves nothing behind that undoes later work: the tool it
 * was running (nft, iptables-restore) goes on after it, and holds the lock
 * until it is done, so the next command waits for it instead of being
 * undone by it.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { StatusHost } from "../../src/status.ts";
import { exec, execOk, iptmonBin, iptmonConfig, isGone, NETNS_NEEDS, NetnsRun, skipReason, waitFor } from "./harness.ts";

const skip = skipReason("killed commands", [...NETNS_NEEDS, "busybox", "iptables-legacy-restore", "iptables-legacy-save"]);

describe.skipIf(skip !== null)("a killed command", () => {
  let run: NetnsRun;
  let BIN: string;
  let r: string;
  let h: string;
  let w: string;
  let hostMac: string;
  const iptmon = (conf: string, args: string[]) => exec(r, [BIN, ...args], { env: { IPTMON_CONFIG: conf } });
  const status = (conf: string): StatusHost[] => {
    const s = iptmon(conf, ["status", "--json"]);
    expect(s.stderr).toBe("");
    expect(s.code).toBe(0);
    return (JSON.parse(s.stdout) as { hosts: StatusHost[] }).hosts;
  };
  /**
   * `real`, made slow when the run's environment asks (SLOW names a marker
   * file not there yet) and its first argument is `first` (any when empty):
   * the wrapper writes who it is and who ran it to the marker, sleeps, then
   * becomes the real tool.
   */
  const slowWrapper = (name: string, real: string, first: string) => {
    const path = join(run.tmpDir, name);
    const when = `[ -n "$SLOW" ] && [ ! -e "$SLOW" ]${first ? ` && [ "$1" = "${first}" ]` : ""}`;
    writeFileSync(path, `#!/bin/sh\nif ${when}; then echo "$$ $PPID" > "$SLOW.tmp"; mv "$SLOW.tmp" "$SLOW"; sleep 2; fi\nexec ${real} "$@"\n`);
    chmodSync(path, 0o755);
    return path;
  };

  beforeAll(() => {
    BIN = iptmonBin();
    run = new NetnsRun("ipkl", { tmpPrefix: "iptmon-killed" });
    [r, h, w] = [run.ns("r"), run.ns("h"), run.ns("w")];
    run.addNamespaces([r, h, w]);
    // A host on the router's LAN bridge, a WAN peer behind the router.
    run.ipBatch(null, [`link add lan1 netns ${r} type veth peer name eth0 netns ${h}`, `link add wan netns ${r} type veth peer name eth0 netns ${w}`]);
    run.ipBatch(r, ["link add br-lan type bridge", "link set lan1 master br-lan", "link set br-lan up", "link set lan1 up", "link set wan up", "addr add 10.68.0.1/24 dev br-lan", "addr add 10.69.0.1/24 dev wan"]);
    run.ipBatch(h, ["link set eth0 up", "addr add 10.68.0.10/24 dev eth0", "route add default via 10.68.0.1"]);
    run.ipBatch(w, ["link set eth0 up", "addr add 10.69.0.2/24 dev eth0", "route add 10.68.0.0/24 via 10.69.0.1"]);
    run.sysctl(r, ["net.ipv4.ip_forward=1"]);
    hostMac = execOk(h, ["cat", "/sys/class/net/eth0/address"]).stdout.trim();
    writeFileSync(join(run.tmpDir, "dhcp.leases"), [`0 ${hostMac} 10.68.0.10 pc *`, "0 02:00:00:00:00:21 10.68.0.21 tv *", "0 02:00:00:00:00:22 10.68.0.22 phone *", ""].join("\n"));
  });
  afterAll(() => run?.destroy());

  // The tool stop runs to remove iptmon's objects, made slow; and how to see them.
  const backends = [
    {
      backend: "nftables",
      tool: () => [`\toption nft '${slowWrapper("slow-nft", "nft", "-f")}'`, "\toption hook 'forward'"],
      present: () => exec(r, ["nft", "list", "table", "inet", "iptmon"]).code === 0,
    },
    {
      backend: "iptables",
      tool: () => [`\toption iptables_restore '${slowWrapper("slow-iptables-restore", "iptables-legacy-restore", "")}'`, "\toption ipv6 '0'"],
      present: () => exec(r, ["iptables-legacy-save", "-t", "mangle"]).stdout.includes(":iptmon_rx"),
    },
  ];

  for (const { backend, tool, present } of backends) {
    test(`${backend}: stop killed while its tool runs: the next init waits for that tool, and what init built stays, counting every host`, async () => {
      const conf = join(run.tmpDir, `${backend}.conf`);
      writeFileSync(conf, iptmonConfig(run.tmpDir, { backend, options: ["\toption lan_interface 'br-lan'", ...tool()] }));
      const init = iptmon(conf, ["init"]);
      expect(init.stderr).toBe("");
      expect(init.code).toBe(0);
      expect(status(conf).map((x) => x.name).sort()).toEqual(["pc", "phone", "tv"]);

      const marker = join(run.tmpDir, `${backend}-sleeping`);
      const stop = run.spawn(r, [BIN, "stop"], { env: { IPTMON_CONFIG: conf, SLOW: marker } });
      await waitFor(() => existsSync(marker), "stop's tool to start", 20_000);
      const [toolPid, parentPid] = readFileSync(marker, "utf8").trim().split(" ").map(Number);
      expect(parentPid).toBe(stop.pid);
      stop.kill("SIGKILL");
      await stop.exited;
      expect(isGone(toolPid!)).toBe(false);

      // The orphan still holds the lock: init waits for it, then builds.
      const again = iptmon(conf, ["init"]);
      expect(again.stderr).toBe("");
      expect(again.code).toBe(0);
      await waitFor(() => isGone(toolPid!), "the killed stop's tool to end", 20_000);

      expect(present()).toBe(true);
      const before = status(conf);
      expect(before.map((x) => x.name).sort()).toEqual(["pc", "phone", "tv"]);
      execOk(h, ["busybox", "ping", "-c", "3", "-W", "2", "10.69.0.2"]);
      const pc = status(conf).find((x) => x.mac === hostMac)!;
      const was = before.find((x) => x.mac === hostMac)!;
      expect(pc.rx_packets - was.rx_packets).toBe(3);
      expect(pc.tx_packets - was.tx_packets).toBe(3);

      const last = iptmon(conf, ["stop"]);
      expect(last.code).toBe(0);
      expect(present()).toBe(false);
    });
  }
});
