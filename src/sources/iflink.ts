/**
 * The router's links and addresses, from `ip -o link show …` and
 * `ip -o addr show` (one line per link or address; iproute2 and busybox).
 * Kernel names and values, but parsed strictly all the same.
 */
import { parseAddress, parseMac } from "../addr.ts";
import { DEVICE_NAME } from "../model.ts";
import type { RtAddress } from "../netlink/rtnetlink.ts";

export interface Link {
  name: string;
  /** The Ethernet address, or null for a link that has none (tun, ppp, lo). */
  mac: string | null;
  master: string | null;
  /** The device it is stacked on (`br-lan.1@br-lan`: a VLAN of br-lan), where `ip` names one in this namespace. */
  lower: string | null;
}

/**
 * Reads lines such as
 *   5: lan1@if4: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue master br-lan state UP mode DEFAULT group default qlen 1000\    link/ether 02:77:00:00:01:01 brd ff:ff:ff:ff:ff:ff link-netns vr1
 * `name@lower` keeps the name, and the lower device where it is one here
 * (`@ifN` and `@NONE` name none); a line without `link/ether` has no MAC.
 */
export function parseLinks(text: string): Link[] {
  const out: Link[] = [];
  for (const line of text.split("\n")) {
    const m = /^\d+:\s+([^:\s]+):\s/.exec(line);
    if (!m) continue;
    const [name = "", on] = m[1]!.split("@");
    if (!DEVICE_NAME.test(name)) continue;
    const lower = on !== undefined && DEVICE_NAME.test(on) && !/^(if\d+|NONE)$/.test(on) ? on : null;
    const words = line.split(/[\s\\]+/);
    const at = (w: string) => {
      const i = words.indexOf(w);
      return i >= 0 ? (words[i + 1] ?? null) : null;
    };
    const ether = at("link/ether");
    out.push({ name, mac: ether ? parseMac(ether) : null, master: at("master"), lower });
  }
  return out;
}

/**
 * Every address of the router (or of one interface), by family, from `ip -o
 * addr show` or `ip addr show [dev X]`: each address is a line of its own,
 * its first word after `inet`/`inet6` (a peer's network is not the router's):
 *   2: br-lan    inet 192.168.1.1/24 brd 192.168.1.255 scope global br-lan\       valid_lft forever preferred_lft forever
 *   2: br-lan    inet6 fe80::1/64 scope link \       valid_lft forever preferred_lft forever
 */
export function parseOwnAddresses(text: string): { own4: string[]; own6: string[] } {
  const own4 = new Set<string>();
  const own6 = new Set<string>();
  for (const line of text.split("\n")) {
    const words = line.split(/[\s\\]+/);
    const i = words.findIndex((w) => w === "inet" || w === "inet6");
    if (i < 0) continue;
    const a = parseAddress((words[i + 1] ?? "").split("/")[0]!);
    if (!a || a.family !== (words[i] === "inet" ? 4 : 6)) continue;
    (a.family === 4 ? own4 : own6).add(a.text);
  }
  return { own4: [...own4], own6: [...own6] };
}

/** The same from the kernel's list (RTM_NEWADDR, src/netlink/rtnetlink.ts): each local address, never a peer's. */
export function ownAddresses(addrs: readonly RtAddress[]): { own4: string[]; own6: string[] } {
  const own4 = new Set<string>();
  const own6 = new Set<string>();
  for (const a of addrs) (a.family === 4 ? own4 : own6).add(a.local);
  return { own4: [...own4], own6: [...own6] };
}
