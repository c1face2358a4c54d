/**
 * A killed iptmon leaves nothing behind that undoes later work: the tool it
 * was running (nft) goes on after it, and holds the lock until it is done,
 * so the next command waits for it instead of being undone by it.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { StatusHost } from "../../src/status.ts";
import { exec, execOk, iptmonBin, iptmonConfig, isGone, NETNS_NEEDS, NetnsRun, skipReason, waitFor } from "./harness.ts";

const skip = skipReason("killed commands", [...NETNS_NEEDS, "busybox"]);

describe.skipIf(skip !== null)("a killed command", () => {
  let run: NetnsRun;
  let BIN: string;
  let r: string;
  let h: string;
  let w: string;
  let conf: string;
  let hostMac: string;
  const iptmon = (args: string[], env: Record<string, string> = {}) => exec(r, [BIN, ...args], { env: { IPTMON_CONFIG: conf, ...env } });
  const status = (): StatusHost[] => {
    const s = iptmon(["status", "--json"]);
    expect(s.stderr).toBe("");
    expect(s.code).toBe(0);
    return (JSON.parse(s.stdout) as { hosts: StatusHost[] }).hosts;
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
    const dir = run.tmpDir;
    writeFileSync(join(dir, "dhcp.leases"), [`0 ${hostMac} 10.68.0.10 pc *`, "0 02:00:00:00:00:21 10.68.0.21 tv *", "0 02:00:00:00:00:22 10.68.0.22 phone *", ""].join("\n"));
    // nft, made slow (when the run's environment asks) before it writes: the
    // wrapper says who it is and who ran it, then becomes the real nft.
    const wrapper = join(dir, "slow-nft");
    writeFileSync(wrapper, `#!/bin/sh\nif [ -n "$SLOW_NFT" ] && [ "$1" = "-f" ]; then echo "$$ $PPID" > "$SLOW_NFT.tmp"; mv "$SLOW_NFT.tmp" "$SLOW_NFT"; sleep 2; fi\nexec nft "$@"\n`);
    chmodSync(wrapper, 0o755);
    conf = join(dir, "iptmon.conf");
    writeFileSync(conf, iptmonConfig(dir, { backend: "nftables", options: ["\toption hook 'forward'", "\toption lan_interface 'br-lan'", `\toption nft '${wrapper}'`] }));
  });
  afterAll(() => run?.destroy());

  test("stop killed while its nft runs: the next init waits for that nft, and its table stays, counting every host", async () => {
    const init = iptmon(["init"]);
    expect(init.stderr).toBe("");
    expect(init.code).toBe(0);
    expect(status().map((x) => x.name).sort()).toEqual(["pc", "phone", "tv"]);

    const marker = join(run.tmpDir, "nft-sleeping");
    const stop = run.spawn(r, [BIN, "stop"], { env: { IPTMON_CONFIG: conf, SLOW_NFT: marker } });
    await waitFor(() => existsSync(marker), "stop's nft to start", 20_000);
    const [nftPid, parentPid] = readFileSync(marker, "utf8").trim().split(" ").map(Number);
    expect(parentPid).toBe(stop.pid);
    stop.kill("SIGKILL");
    await stop.exited;
    expect(isGone(nftPid!)).toBe(false);

    // The orphan still holds the lock: init waits for it, then builds.
    const again = iptmon(["init"]);
    expect(again.stderr).toBe("");
    expect(again.code).toBe(0);
    await waitFor(() => isGone(nftPid!), "the killed stop's nft to end", 20_000);

    expect(exec(r, ["nft", "list", "table", "inet", "iptmon"]).code).toBe(0);
    const before = status();
    expect(before.map((x) => x.name).sort()).toEqual(["pc", "phone", "tv"]);
    execOk(h, ["busybox", "ping", "-c", "3", "-W", "2", "10.69.0.2"]);
    const pc = status().find((x) => x.mac === hostMac)!;
    const was = before.find((x) => x.mac === hostMac)!;
    expect(pc.rx_packets - was.rx_packets).toBe(3);
    expect(pc.tx_packets - was.tx_packets).toBe(3);
  });
});
