/**
 * Runs inside a test's namespace (root): the LAN and the neighbour table as
 * the sources read them over rtnetlink next to what they read from `ip`'s
 * text, for one iptmon config. Prints JSON.
 *   bun test/helpers/rtnl-probe.ts compare <config file>
 *   bun test/helpers/rtnl-probe.ts time <config file> <runs>
 */
import { readFileSync } from "node:fs";
import { parseConfig } from "../../src/config.ts";
import { RtNetlink } from "../../src/netlink/rtnetlink.ts";
import { openRouteSocket } from "../../src/netlink/socket.ts";
import { loadLan, loadNeighbours, runIp } from "../../src/sources/load.ts";
import { neighbourFromKernel, parseNeighbours } from "../../src/sources/neigh.ts";
import { realSys, type Sys } from "../../src/sys.ts";

const [what, file, runs] = process.argv.slice(2) as [string, string, string | undefined];
const cfg = () => parseConfig(readFileSync(file, "utf8"), file);

/**
 * A real Sys that counts the programs it runs; `netlink` false: one without
 * the routing netlink, as IPTMON_NETLINK=0 makes it. `socket`: the one to use
 * (an event opens its own; realSys keeps one per process).
 */
function sys(netlink: boolean, socket?: RtNetlink): Sys & { ran: string[] } {
  const ran: string[] = [];
  return {
    ...realSys,
    ran,
    run: (cmd, args, input, opts) => (ran.push([cmd, ...args].join(" ")), realSys.run(cmd, args, input, opts)),
    rtnetlink: netlink ? () => socket ?? realSys.rtnetlink?.() ?? null : () => null,
  };
}

/** What a source reads: the LAN (subnets as text, own addresses) and the usable neighbours. */
function read(s: Sys) {
  const c = cfg();
  const lan = loadLan(s, c);
  return { subnets: lan.subnets.map((n) => n.text), own: [...lan.own], warnings: lan.warnings, neighbours: loadNeighbours(s, c) };
}

if (what === "compare") {
  const viaNetlink = sys(true);
  const viaIp = sys(false);
  if (!realSys.rtnetlink?.()) throw new Error("no routing netlink socket");
  // Every neighbour `ip neigh show` prints (its display filter: some NUD bit other than NOARP), unfiltered,
  // next to the kernel's list read the same way: the state and MAC rules, not only their outcome.
  const kernel = new RtNetlink(openRouteSocket(5000)).neighbours().filter((n) => n.state & 0xbf);
  const ipText = runIp(realSys, cfg(), ["neigh", "show"]).stdout;
  console.log(
    JSON.stringify({
      netlink: read(viaNetlink),
      ip: read(viaIp),
      netlinkRan: viaNetlink.ran,
      ipRan: viaIp.ran,
      allNeighbours: { netlink: kernel.map(neighbourFromKernel), ip: parseNeighbours(ipText), ipText },
    }),
  );
} else if (what === "time") {
  // Each way in turn, `runs` times: what an event's LAN and neighbour reads cost (ms).
  const n = Number(runs ?? 30);
  const times: Record<"netlink" | "ip", number[]> = { netlink: [], ip: [] };
  for (let i = 0; i < n; i++)
    for (const way of ["netlink", "ip"] as const) {
      const t0 = Bun.nanoseconds();
      // As an event does it: open the socket, read, close.
      const sock = way === "netlink" ? openRouteSocket(5000) : null;
      read(sys(way === "netlink", sock ? new RtNetlink(sock) : undefined));
      sock?.close();
      times[way].push((Bun.nanoseconds() - t0) / 1e6);
    }
  const stats = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    return { min: +s[0]!.toFixed(3), median: +s[Math.floor(s.length / 2)]!.toFixed(3), max: +s.at(-1)!.toFixed(3) };
  };
  console.log(JSON.stringify({ runs: n, netlink: stats(times.netlink), ip: stats(times.ip) }));
} else throw new Error("usage: rtnl-probe.ts compare|time <config file> [runs]");
