/**
 * The routing netlink (NETLINK_ROUTE): what `ip addr show` and `ip neigh
 * show` print, read from the kernel without spawning `ip` (~2 ms a run, two
 * runs an event). The messages are decoded into what `ip` prints, field for
 * field, so the sources apply the rules they apply to `ip`'s text
 * (src/sources/ifaddr.ts, iflink.ts, neigh.ts).
 *
 * rtnetlink's headers and numbers are in host order (little endian on every
 * router iptmon targets; see message.ts); addresses are in network order.
 */
import { parseAddress } from "../addr.ts";
import { attrs, NLM_F_ACK, NLM_F_DUMP, NLM_F_MULTI, NLM_F_REQUEST, NLMSG_DONE, NLMSG_ERROR, nlMessage, parseError, parseMessages, type Attr, type NlMessage } from "./message.ts";
import { NetlinkError, type NetlinkSocket } from "./socket.ts";

export const RTM = { NEWLINK: 16, GETLINK: 18, NEWADDR: 20, GETADDR: 22, NEWNEIGH: 28, GETNEIGH: 30 } as const;
const AF_UNSPEC = 0;
const AF_INET = 2;
const AF_INET6 = 10;
const IFLA_IFNAME = 3;
const IFLA_EXT_MASK = 29;
/** RTEXT_FILTER_SKIP_STATS: a link's reply without its ~1 KB of counters (older kernels ignore the bit). */
const RTEXT_FILTER_SKIP_STATS = 1 << 3;
const IFA_ADDRESS = 1;
const IFA_LOCAL = 2;
const NDA_DST = 1;
const NDA_LLADDR = 2;
const ENODEV = 19;

/** NUD_* in the order `ip` prints them (iproute2's print_neigh_state); a state word is the name of a set bit. */
const NUD: [bit: number, name: string][] = [
  [0x01, "INCOMPLETE"],
  [0x02, "REACHABLE"],
  [0x04, "STALE"],
  [0x08, "DELAY"],
  [0x10, "PROBE"],
  [0x20, "FAILED"],
  [0x40, "NOARP"],
  [0x80, "PERMANENT"],
];

/** One address (RTM_NEWADDR) as `ip addr` prints it: `inet <local>[ peer <peer>]/<prefixlen>`. */
export interface RtAddress {
  index: number;
  family: 4 | 6;
  /** Canonical text (parseAddress). */
  local: string;
  /** The other end of a point-to-point address (IFA_ADDRESS where it differs from IFA_LOCAL), else null. */
  peer: string | null;
  prefixlen: number;
}

/** One neighbour (RTM_NEWNEIGH) as `ip neigh` prints it. */
export interface RtNeighbour {
  index: number;
  family: 4 | 6;
  /** Canonical text (parseAddress). */
  address: string;
  /** The link-layer address as `ip` prints it (lower-case hex, colon-separated), or null when the kernel gives none. */
  lladdr: string | null;
  /** The NUD_* bits. */
  state: number;
  /** The NTF_* bits. */
  flags: number;
}

/** The state word `ip neigh` prints last for these NUD_* bits ("" for none: NUD_NONE prints nothing). */
export function nudName(state: number): string {
  let name = "";
  for (const [bit, n] of NUD) if (state & bit) name = n;
  return name;
}

function addressText(family: number, b: Uint8Array | undefined): { family: 4 | 6; text: string } | null {
  if (!b) return null;
  if (family === AF_INET && b.length === 4) return { family: 4, text: Array.from(b).join(".") };
  if (family === AF_INET6 && b.length === 16) {
    const groups = Array.from({ length: 8 }, (_, i) => ((b[2 * i]! << 8) | b[2 * i + 1]!).toString(16));
    return { family: 6, text: parseAddress(groups.join(":"))!.text };
  }
  return null;
}

const view = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);

/**
 * An RTM_NEWADDR message as `ip addr` reads it: the local address is IFA_LOCAL,
 * else IFA_ADDRESS; a different IFA_ADDRESS is the peer. Null for another
 * family or a message too short to be one.
 */
export function decodeAddress(m: NlMessage): RtAddress | null {
  if (m.type !== RTM.NEWADDR || m.body.length < 8) return null;
  const family = m.body[0]!;
  const a = attrs(m.body.subarray(8));
  const local = addressText(family, a.get(IFA_LOCAL)?.[0] ?? a.get(IFA_ADDRESS)?.[0]);
  const address = addressText(family, a.get(IFA_ADDRESS)?.[0] ?? a.get(IFA_LOCAL)?.[0]);
  if (!local || !address) return null;
  return { index: view(m.body).getUint32(4, true), family: local.family, local: local.text, peer: address.text === local.text ? null : address.text, prefixlen: m.body[1]! };
}

/** An RTM_NEWNEIGH message; null for one with no IPv4 or IPv6 destination (`ip` prints no address for it). */
export function decodeNeighbour(m: NlMessage): RtNeighbour | null {
  if (m.type !== RTM.NEWNEIGH || m.body.length < 12) return null;
  const v = view(m.body);
  const a = attrs(m.body.subarray(12));
  const dst = addressText(m.body[0]!, a.get(NDA_DST)?.[0]);
  if (!dst) return null;
  const ll = a.get(NDA_LLADDR)?.[0];
  return {
    index: v.getInt32(4, true),
    family: dst.family,
    address: dst.text,
    lladdr: ll ? Array.from(ll, (x) => x.toString(16).padStart(2, "0")).join(":") : null,
    state: v.getUint16(8, true),
    flags: m.body[10]!,
  };
}

/** A link's index from its RTM_NEWLINK message (ifinfomsg.ifi_index). */
export function decodeLinkIndex(m: NlMessage): number | null {
  return m.type === RTM.NEWLINK && m.body.length >= 16 ? view(m.body).getInt32(4, true) : null;
}

/** The requests, as bytes (the unit tests compare them with what `ip` sends). */
export const requests = {
  /** Every address of every family (ifaddrmsg, all zero). */
  addresses: (seq: number) => nlMessage(RTM.GETADDR, NLM_F_REQUEST | NLM_F_DUMP, seq, new Uint8Array(8), []),
  /** Every neighbour of every family (ndmsg, all zero: no proxies). */
  neighbours: (seq: number) => nlMessage(RTM.GETNEIGH, NLM_F_REQUEST | NLM_F_DUMP, seq, new Uint8Array(12), []),
  /** One link, by name. */
  link: (seq: number, name: string) => {
    const mask = new Uint8Array(4);
    view(mask).setUint32(0, RTEXT_FILTER_SKIP_STATS, true);
    const attrs: Attr[] = [
      [IFLA_IFNAME, name],
      [IFLA_EXT_MASK, mask],
    ];
    return nlMessage(RTM.GETLINK, NLM_F_REQUEST | NLM_F_ACK, seq, new Uint8Array(16), attrs);
  },
};

/** What the kernel refused, with its errno and message. */
export class RtError extends NetlinkError {
  override name = "RtError";
}

export class RtNetlink {
  private seq = Math.floor(Date.now() / 1000) & 0x7fffffff;
  constructor(private readonly sock: NetlinkSocket) {}

  /** Every reply of a dump up to NLMSG_DONE. */
  private dump(request: (seq: number) => Uint8Array): NlMessage[] {
    const seq = ++this.seq;
    this.sock.send(request(seq));
    const out: NlMessage[] = [];
    for (;;) {
      for (const m of parseMessages(this.sock.recv())) {
        if (m.seq !== seq) continue;
        if (m.type === NLMSG_ERROR) this.fail(m);
        // NLMSG_DONE carries the dump's own error, 0 when it went through.
        if (m.type === NLMSG_DONE) {
          const errno = m.body.length >= 4 ? -view(m.body).getInt32(0, true) : 0;
          if (errno > 0) throw new RtError(`rtnetlink could not finish the dump: errno ${errno}`, errno);
          return out;
        }
        out.push(m);
        if (!(m.flags & NLM_F_MULTI)) return out;
      }
    }
  }

  private fail(m: NlMessage): never {
    const e = parseError(m);
    throw new RtError(`rtnetlink refused the request: ${e.text ?? `errno ${e.errno}`}`, e.errno);
  }

  /** A device's index, or null when there is no device of that name here. */
  linkIndex(name: string): number | null {
    const seq = ++this.seq;
    this.sock.send(requests.link(seq, name));
    let index: number | null = null;
    for (;;) {
      for (const m of parseMessages(this.sock.recv())) {
        if (m.seq !== seq) continue;
        if (m.type !== NLMSG_ERROR) {
          index = decodeLinkIndex(m);
          continue;
        }
        const e = parseError(m);
        if (e.errno === ENODEV) return null;
        if (e.errno !== 0) this.fail(m);
        if (index === null) throw new RtError("rtnetlink acknowledged a link request with no link", 0);
        return index;
      }
    }
  }

  /** Every address of every device, in the kernel's order (IPv4 first): the order `ip addr` prints them in. */
  addresses(): RtAddress[] {
    return this.dump(requests.addresses).flatMap((m) => decodeAddress(m) ?? []);
  }

  /** The neighbour table, IPv4 and IPv6, in the kernel's order. */
  neighbours(): RtNeighbour[] {
    return this.dump(requests.neighbours).flatMap((m) => decodeNeighbour(m) ?? []);
  }
}
