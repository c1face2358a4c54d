/**
 * Host events as dnsmasq (`--dhcp-script`) and OpenWrt hotplug deliver them,
 * validated into one shape. Everything here is untrusted input.
 */
import { parseAddress, parseDuid, parseMac } from "./addr.ts";
import { badInput, quoteInput } from "./errors.ts";
import { DEVICE_NAME } from "./model.ts";
import type { HostEvent } from "./plan.ts";

export type DnsmasqAction = "add" | "old" | "del" | "arp-add" | "arp-del";
export const DNSMASQ_ACTIONS: readonly DnsmasqAction[] = ["add", "old", "del", "arp-add", "arp-del"];

type Env = Record<string, string | undefined>;


/**
 * dnsmasq drops a hostname it finds illegal from the arguments, but still
 * passes the raw bytes in DNSMASQ_SUPPLIED_HOSTNAME; naming reduces them later.
 * A lease that lost its name to a newer client (DNSMASQ_OLD_HOSTNAME) has none.
 * Otherwise a missing name says nothing (a replayed `old` of a lease whose
 * name dnsmasq refused): the host keeps the name it has.
 */
function dnsmasqHostname(arg: string | undefined, env: Env): string | null | undefined {
  if (arg !== undefined && arg !== "") return arg;
  if (env.DNSMASQ_OLD_HOSTNAME !== undefined) return null;
  return env.DNSMASQ_SUPPLIED_HOSTNAME || undefined;
}

export function parseDnsmasqEvent(action: DnsmasqAction, who: string, ip: string, hostname: string | undefined, env: Env): HostEvent {
  const addr = parseAddress(ip);
  if (!addr) throw badInput(`cannot handle ${action}: not an IP address: ${quoteInput(ip)}`);
  const neigh = action.startsWith("arp-");
  const ev: HostEvent = {
    action: action === "del" || action === "arp-del" ? "del" : "add",
    source: neigh ? "neigh" : "dhcp",
    key: null,
    address: addr.text,
  };
  if (!neigh) ev.hostname = dnsmasqHostname(hostname, env);
  const mac = parseMac(who);
  if (mac) ev.key = mac;
  else if (addr.family === 6 && !neigh) {
    // DHCPv6: dnsmasq passes the client's DUID where a MAC would be.
    const duid = parseDuid(who);
    if (!duid) throw badInput(`cannot handle ${action}: not a MAC address or DUID: ${quoteInput(who)}`);
    ev.duid = duid;
    const envMac = env.DNSMASQ_MAC ? parseMac(env.DNSMASQ_MAC) : null;
    if (envMac) ev.key = envMac;
  } else throw badInput(`cannot handle ${action}: not a MAC address: ${quoteInput(who)}`);
  return ev;
}

/** OpenWrt hotplug: subsystem dhcp (add/update/remove) or neigh (add/remove). */
export function parseHotplugEvent(subsystem: "dhcp" | "neigh", env: Env): HostEvent {
  const action = env.ACTION ?? "";
  const map: Record<string, DnsmasqAction> =
    subsystem === "dhcp" ? { add: "add", update: "old", remove: "del" } : { add: "arp-add", remove: "arp-del" };
  const a = Object.hasOwn(map, action) ? map[action] : undefined;
  if (!a) throw badInput(`cannot handle hotplug ${subsystem}: unknown ACTION ${quoteInput(action)}`, `expected ${Object.keys(map).join(", ")}`);
  if (!env.IPADDR) throw badInput(`cannot handle hotplug ${subsystem} ${action}: IPADDR is not set`);
  // OpenWrt's newer dispatcher leaves MACADDR out of DHCPv6 lease events (the
  // older one passes the DUID there); DNSMASQ_IAID says it is one.
  if (!env.MACADDR && subsystem === "dhcp" && env.DNSMASQ_IAID !== undefined) return dhcpv6WithoutClient(a, env.IPADDR, env.HOSTNAME, env);
  if (!env.MACADDR) throw badInput(`cannot handle hotplug ${subsystem} ${action}: MACADDR is not set`);
  // OpenWrt's dispatcher may pass dnsmasq's DNSMASQ_* variables along.
  return parseDnsmasqEvent(a, env.MACADDR, env.IPADDR, env.HOSTNAME, env);
}

/**
 * A DHCPv6 lease event that names no client: the host is found from
 * DNSMASQ_MAC, else (when planned) the neighbour table or the lease file's DUID
 * for the address.
 */
function dhcpv6WithoutClient(action: DnsmasqAction, ip: string, hostname: string | undefined, env: Env): HostEvent {
  const addr = parseAddress(ip);
  if (!addr || addr.family !== 6) throw badInput(`cannot handle hotplug dhcp: DNSMASQ_IAID is set but IPADDR is not an IPv6 address: ${quoteInput(ip)}`);
  const mac = env.DNSMASQ_MAC ? parseMac(env.DNSMASQ_MAC) : null;
  return { action: action === "del" ? "del" : "add", source: "dhcp", key: mac, address: addr.text, hostname: dnsmasqHostname(hostname, env) };
}

/** OpenWrt hotplug, subsystem net: ACTION add|remove, INTERFACE the device's name. */
export function parseDeviceEvent(env: Env): { action: "add" | "remove"; device: string } {
  const action = env.ACTION ?? "";
  if (action !== "add" && action !== "remove") throw badInput(`cannot handle hotplug net: unknown ACTION ${quoteInput(action)}`, "expected add, remove");
  const device = env.INTERFACE ?? "";
  if (!DEVICE_NAME.test(device)) throw badInput(`cannot handle hotplug net ${action}: INTERFACE is not a device name: ${quoteInput(device)}`);
  return { action, device };
}

/** OpenWrt hotplug, subsystem iface (netifd): ACTION ifup, ifupdate, ifdown, …; INTERFACE the logical network. */
export function parseIfaceEvent(env: Env): { action: string; network: string } {
  const action = env.ACTION ?? "";
  if (!/^[a-z-]{1,32}$/.test(action)) throw badInput(`cannot handle hotplug iface: unknown ACTION ${quoteInput(action)}`, "expected ifup, ifupdate, ifdown");
  const network = env.INTERFACE ?? "";
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(network)) throw badInput(`cannot handle hotplug iface ${action}: INTERFACE is not a network name: ${quoteInput(network)}`);
  return { action, network };
}
