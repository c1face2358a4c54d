/**
 * The nftables backend: one transaction per change. Where the system has
 * nf_tables' netlink interface (Sys.netfilter), an event's reads and changes
 * go through it; `nft -f -` writes every declare (init, a port event, a
 * broken table), and does everything where there is no netlink.
 */
import type { Config } from "../../config.ts";
import { badInput, failure } from "../../errors.ts";
import type { HostCounters } from "../../model.ts";
import { findProgram, type Sys } from "../../sys.ts";
import type { Backend } from "../backend.ts";
import { parseLinks, parseOwnAddresses, type Link } from "../../sources/iflink.ts";
import { runIp } from "../../sources/load.ts";
import { resolveLan } from "../../sources/netifd.ts";
import { FAMILY, type NftOptions, type NftState, type Placement, type PortsEnv } from "./layout.ts";
import { NfError, type NfOp } from "../../netlink/nftables.ts";
import { waitForPacketsInFlight } from "../../netlink/socket.ts";
import { netlinkOps, readCountsNetlink, readMapsNetlink, readNamedNetlink, readPartsNetlink, readScopeNetlink, readTableNetlink } from "./netlink.ts";
import { parseNftJson, parseNftMapsJson } from "./parse.ts";
import { nftChangeIsEmpty, planFolds, planNft, type NftChange } from "./plan.ts";
import { renderNft } from "./render.ts";
import { splitKeyBytes, splitKeyText, splitOn, staleSplit, type SplitOptions } from "./split.ts";
import { endianness } from "node:os";

export function createNftBackend(sys: Sys, cfg: Config, priority: number, warn: (message: string) => void = () => {}): Backend<NftState, NftChange> {
  const o: NftOptions = { table: cfg.table, priority, placement: resolvePlacement(sys, cfg), split: splitOptionsOf(cfg) };
  const family = FAMILY[o.placement];
  const t = `${family} ${o.table}`;
  const nft = (args: string[], input?: string) => sys.run(cfg.nft, args, input);
  const fail = (verb: string, r: { code: number; stderr: string }) => {
    if (r.code === 127) return failure(`cannot ${verb}: ${cfg.nft} not found`, "install nftables or choose --backend iptables");
    return failure(`cannot ${verb}: ${r.stderr.trim().split("\n")[0] || `nft exited with ${r.code}`}`);
  };
  const netlink = () => sys.netfilter?.() ?? null;
  /** A netlink failure in nft's words: what could not be done, and what the kernel said. */
  const viaNetlink = <T>(verb: string, fn: () => T): T => {
    try {
      return fn();
    } catch (e) {
      if (e instanceof NfError) throw failure(`cannot ${verb}: ${e.message}`);
      throw e;
    }
  };
  const readTable = (p: Placement): NftState => {
    const nl = netlink();
    if (nl) return viaNetlink(`read table ${FAMILY[p]} ${o.table}`, () => readTableNetlink(nl, o, p));
    const r = nft(["-j", "list", "table", FAMILY[p], o.table]);
    if (r.code !== 0) {
      if (/No such file or directory/.test(r.stderr)) return { read: "absent" };
      throw fail(`read table ${FAMILY[p]} ${o.table}`, r);
    }
    return parseNftJson(r.stdout, o.table, p, p === o.placement ? (o.split ?? null) : null);
  };
  let env: PortsEnv | undefined;
  const portsEnv = () => (env ??= loadPortsEnv(sys, cfg, warn));
  return {
    name: "nftables",
    hook: o.placement,
    read(detail) {
      if (detail === "full") return readTable(o.placement);
      const nl = netlink();
      if (nl) {
        const m = viaNetlink(`read maps of table ${t}`, () => readMapsNetlink(nl, o));
        return "shortfall" in m ? readTable(o.placement) : m;
      }
      const r = nft(["-j", "list", "maps", family]);
      if (r.code !== 0) throw fail(`read maps of table ${t}`, r);
      const m = parseNftMapsJson(r.stdout, o.table, o.placement);
      return "shortfall" in m ? readTable(o.placement) : m;
    },
    readCounts() {
      const nl = netlink();
      return nl ? viaNetlink(`read table ${FAMILY[o.placement]} ${o.table}`, () => readCountsNetlink(nl, o)) : null;
    },
    readNamed(hosts) {
      const nl = netlink();
      return nl ? viaNetlink(`read counters of table ${t}`, () => readNamedNetlink(nl, o, hosts)) : null;
    },
    readScope(scope) {
      const nl = netlink();
      const verb = `read hosts of table ${t}`;
      const s = nl ? viaNetlink(verb, () => readScopeNetlink(nl, o, scope)) : null;
      if (s?.read !== "scoped") return s;
      // Its lookups run during planning: their failures read as the read's.
      const { nameTaken, ownerKey } = s;
      return { ...s, nameTaken: (n) => viaNetlink(verb, () => nameTaken(n)), ownerKey: (a) => viaNetlink(verb, () => ownerKey(a)) };
    },
    pruneSplit(state) {
      if (state.read !== "full" || !state.split?.length || !splitOn(o.split)) return;
      const stale = staleSplit(state.split, state.hosts);
      if (stale.length === 0) return;
      const nl = netlink();
      if (nl) {
        const le = endianness() === "LE";
        const ops: NfOp[] = stale.map((d) => ({ op: "delete-elements", set: d.set, keys: d.keys.map((k) => splitKeyBytes(k, le)) }));
        return viaNetlink(`remove stale elements of table ${t}`, () => nl.commit(family, o.table, ops));
      }
      const lines = stale.map((d) => `delete element ${t} ${d.set} { ${d.keys.map(splitKeyText).join(", ")} }`);
      const r = nft(["-f", "-"], `${lines.join("\n")}\n`);
      if (r.code !== 0) throw fail(`remove stale elements of table ${t}`, r);
    },
    plan: (current, desired, opts) => planNft(current, desired, opts, o.placement, portsEnv),
    render: (change) => renderNft(change, o),
    apply(change) {
      const commit = (c: NftChange) => {
        if (nftChangeIsEmpty(c)) return;
        const nl = c.declare ? null : netlink();
        if (nl) return viaNetlink(`apply ruleset to table ${t}`, () => nl.commit(family, o.table, netlinkOps(c, o)));
        const r = nft(["-f", "-"], renderNft(c, o));
        if (r.code !== 0) throw fail(`apply ruleset to table ${t}`, r);
      };
      commit(change);
      if (change.retire.length === 0) return;
      // Renamed hosts' old pairs count no more once the packets in flight at
      // that commit are counted: read then, their values are exact, and they
      // fold into their keys' carries. Cut short here, a full read still adds
      // them up, and its next change folds them.
      waitForPacketsInFlight();
      const nl = netlink();
      const parts = nl
        ? viaNetlink(`read hosts of table ${t}`, () => readPartsNetlink(nl, o, change.retire))
        : (() => {
            const s = readTable(o.placement);
            return s.read === "full" ? s.parts : new Map();
          })();
      commit(planFolds(parts, o.placement));
    },
    changesHosts: (change) => !nftChangeIsEmpty(change),
    check(change) {
      const r = nft(["-c", "-f", "-"], renderNft(change, o));
      if (r.code !== 0) throw fail(`check ruleset for table ${t}`, r);
    },
    remove() {
      // add+delete in one transaction: idempotent even when a table is gone.
      const script = (["inet", "netdev"] as const).map((f) => `add table ${f} ${o.table}\ndelete table ${f} ${o.table}\n`).join("");
      const r = nft(["-f", "-"], script);
      if (r.code !== 0) throw fail(`remove table ${t}`, r);
    },
    ...(o.placement === "ports" ? { countsOn: (device: string) => portsEnv().ports.includes(device) } : {}),
    carried() {
      const other = readTable(o.placement === "ports" ? "forward" : "ports");
      const out = new Map<string, HostCounters>();
      if (other.read === "full") for (const h of other.hosts) out.set(h.key, { rx: h.rx, tx: h.tx });
      return out;
    },
  };
}

/**
 * `ports` where the kernel has netdev egress hooks (5.16 and later: OpenWrt
 * 24.10 on) and the LAN is given by interfaces (or ports) to find ports
 * under, else `forward` (a LAN of `lan_subnet`s only names no device); an
 * explicit choice is taken as it is.
 */
export function resolvePlacement(sys: Sys, cfg: Config): Placement {
  if (cfg.hook === "ports" || cfg.hook === "forward") return cfg.hook;
  if (cfg.lanInterfaces.length === 0 && cfg.networks.length === 0 && cfg.ports.length === 0) return "forward";
  const m = /^(\d+)\.(\d+)/.exec(sys.readFile("/proc/sys/kernel/osrelease") ?? "");
  return m && (Number(m[1]) > 5 || (Number(m[1]) === 5 && Number(m[2]) >= 16)) ? "ports" : "forward";
}

/**
 * The LAN bridges' lower ports (the devices a flowtable would use), or the
 * `port` list; the router's MACs on the LAN interfaces; every address of its
 * own. Read only when the `ports` layout is declared (init, a port event).
 */
export function loadPortsEnv(sys: Sys, cfg: Config, warn: (message: string) => void = () => {}): PortsEnv {
  const ip = (args: string[]) => {
    const r = runIp(sys, cfg, args);
    if (r.code !== 0) throw failure(`cannot read the router's links with ${cfg.ip} ${args.join(" ")}: ${r.stderr.trim().split("\n")[0] || `exited with ${r.code}`}`);
    return r.stdout;
  };
  const links = parseLinks(ip(["-o", "link", "show"]));
  const byName = new Map(links.map((l) => [l.name, l]));
  const lanDevices = resolveLan(sys, cfg).devices;
  const lans = lanDevices.flatMap((name) => byName.get(name) ?? []);
  const portsOf = (dev: Link): string[] => {
    const lower = links.filter((l) => l.master === dev.name && l.mac !== null).map((l) => l.name);
    if (lower.length) return lower;
    // A VLAN of a bridge (`br-lan.1`, LuCI's bridge VLANs): the bridge's
    // ports carry its frames, and a flowtable transmits on them.
    const under = dev.lower ? byName.get(dev.lower) : undefined;
    if (under && links.some((l) => l.master === under.name)) return portsOf(under);
    // A LAN that is no bridge is its own port (so is a bridge with no port yet).
    return dev.mac ? [dev.name] : [];
  };
  let ports: string[];
  if (cfg.ports.length > 0) {
    // A port listed but not there (an adapter unplugged) is left out until it
    // comes: hotplug net hooks it then. A chain naming a missing device is
    // refused by kernels before 6.16.
    ports = cfg.ports.filter((p) => byName.has(p));
    const missing = cfg.ports.filter((p) => !byName.has(p));
    if (missing.length) warn(`list port names devices that are not there now (hooked when they come): ${missing.join(", ")}`);
  } else ports = lans.flatMap(portsOf);
  if (ports.length === 0)
    throw badInput(
      `cannot count at the LAN ports: no Ethernet port found under ${cfg.ports.length ? `list port (${cfg.ports.join(", ")})` : lanDevices.join(", ") || "(no lan_interface)"}`,
      "name them with list port, or set option hook 'forward'",
    );
  const routerMacs = [...new Set(lans.flatMap((l) => (l.mac ? [l.mac] : [])))];
  return { ports: [...new Set(ports)], routerMacs, ...parseOwnAddresses(ip(["-o", "addr", "show"])) };
}

/**
 * Whether nftables is the way here (for `backend auto`): nft is installed
 * (fw4 routers, current Linux), not on fw3 routers. Not by running nft:
 * nft 1.0 fetches the whole ruleset even for `list tables` (~50 ms at 5000
 * hosts), and that would be paid on every event.
 */
export function nftAvailable(sys: Sys, cfg: Config): boolean {
  return findProgram(sys, cfg.nft) !== null;
}

/** What of the split the config asks nftables to count; null: none. */
export function splitOptionsOf(cfg: Pick<Config, "breakdown" | "services">): SplitOptions | null {
  const family = cfg.breakdown.includes("family");
  const services = cfg.breakdown.includes("service") ? cfg.services : [];
  return family || services.length > 0 ? { family, services } : null;
}
