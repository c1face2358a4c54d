/** The neighbour table as `ip neigh show` prints it (iproute2 and busybox), or as the kernel lists it. */
import { parseAddress, parseMac } from "../addr.ts";
import { nudName, type RtNeighbour } from "../netlink/rtnetlink.ts";

export interface Neighbour {
  /** Canonical text from parseAddress. */
  address: string;
  family: 4 | 6;
  /** null when there is no link-layer address (FAILED, INCOMPLETE, proxy) or it is not a MAC. */
  mac: string | null;
  /** The last upper-case state word, e.g. REACHABLE; "" when none is printed. */
  state: string;
}

// iproute2 prints nothing at all for NUD_NONE, hence "".
const UNUSABLE = new Set(["FAILED", "INCOMPLETE", "NOARP", "NONE", ""]);

/**
 * Reads lines such as
 *   192.168.1.5 dev br-lan lladdr aa:bb:cc:dd:ee:ff REACHABLE
 *   fe80::1 dev br-lan lladdr 02:00:00:00:00:01 router STALE
 *   10.0.0.9 dev br-lan  used 0/0/0 probes 6 FAILED       (busybox adds counters)
 *   192.168.1.77 dev br-lan proxy
 * Lines that do not start with an address (errors, blank lines) are skipped.
 */
export function parseNeighbours(text: string): Neighbour[] {
  const out: Neighbour[] = [];
  for (const line of text.split("\n")) {
    const words = line.split(/[\t\v\f\r ]+/).filter((w) => w !== "");
    const address = words[0] === undefined ? null : parseAddress(words[0]);
    if (!address) continue;
    let mac: string | null = null;
    let state = "";
    for (let i = 1; i < words.length; i++) {
      const w = words[i]!;
      // The device name is skipped, not read: an upper-case name is no state.
      if (w === "dev" && i + 1 < words.length) i++;
      else if (w === "lladdr" && i + 1 < words.length) mac = parseMac(words[++i]!);
      else if (/^[A-Z]+$/.test(w)) state = w;
    }
    out.push({ address: address.text, family: address.family, mac, state });
  }
  return out;
}

/**
 * A neighbour from the kernel's list (RTM_NEWNEIGH, src/netlink/rtnetlink.ts),
 * read as parseNeighbours reads the line `ip` prints for it: the MAC by the
 * same rule, the state the last word `ip` prints for its NUD bits.
 */
export function neighbourFromKernel(n: RtNeighbour): Neighbour {
  return { address: n.address, family: n.family, mac: n.lladdr === null ? null : parseMac(n.lladdr), state: nudName(n.state) };
}

/** A neighbour whose MAC the kernel currently vouches for. */
export function isUsableNeighbour(n: Neighbour): boolean {
  return n.mac !== null && !UNUSABLE.has(n.state);
}
