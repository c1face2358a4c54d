/**
 * A raw netlink socket (AF_NETLINK, SOCK_RAW) through bun's FFI: the only
 * place iptmon calls into libc. NETLINK_NETFILTER: nft's userspace loads a
 * whole set before it changes one element of it (81 ms at 5,000 hosts);
 * nf_tables itself looks one element up by key, so talking to it directly
 * keeps an event's cost flat. NETLINK_ROUTE: the LAN's addresses and the
 * neighbour table, read without spawning `ip` (~2 ms a run).
 */
import { dlopen, FFIType, ptr, read } from "bun:ffi";

export interface NetlinkSocket {
  /** Sends one datagram (one or more netlink messages). */
  send(data: Uint8Array): void;
  /** Receives one datagram; throws on a socket error. */
  recv(): Uint8Array;
  /** The port id the kernel gave the socket (its replies carry it). */
  readonly portId: number;
  close(): void;
}

const AF_NETLINK = 16;
const SOCK_RAW = 3;
const SOCK_CLOEXEC = 0o2000000;
const NETLINK_ROUTE = 0;
const NETLINK_NETFILTER = 12;
const SOL_SOCKET = 1;
const SO_RCVBUF = 8;
const SOL_NETLINK = 270;
const NETLINK_EXT_ACK = 11;
const NETLINK_CAP_ACK = 10;
const SO_RCVTIMEO = 20;
const EINTR = 4;
export const EAGAIN = 11;
/** nf_tables answers while the request is being sent; a reply that takes this long is not coming. */
const RECV_TIMEOUT_MS = 10_000;

const ARCH = process.arch === "arm64" ? "aarch64" : "x86_64";
const LIBC = ["libc.so.6", "libc.so", `libc.musl-${ARCH}.so.1`, `/lib/ld-musl-${ARCH}.so.1`];

const SYMBOLS = {
  socket: { args: [FFIType.i32, FFIType.i32, FFIType.i32], returns: FFIType.i32 },
  bind: { args: [FFIType.i32, FFIType.ptr, FFIType.u32], returns: FFIType.i32 },
  getsockname: { args: [FFIType.i32, FFIType.ptr, FFIType.ptr], returns: FFIType.i32 },
  setsockopt: { args: [FFIType.i32, FFIType.i32, FFIType.i32, FFIType.ptr, FFIType.u32], returns: FFIType.i32 },
  send: { args: [FFIType.i32, FFIType.ptr, FFIType.u64, FFIType.i32], returns: FFIType.i64 },
  recv: { args: [FFIType.i32, FFIType.ptr, FFIType.u64, FFIType.i32], returns: FFIType.i64 },
  close: { args: [FFIType.i32], returns: FFIType.i32 },
  __errno_location: { args: [], returns: FFIType.ptr },
  syscall: { args: [FFIType.i64, FFIType.i64, FFIType.i64, FFIType.i64], returns: FFIType.i64 },
} as const;

type Libc = ReturnType<typeof dlopen<typeof SYMBOLS>>["symbols"];
let libc: Libc | null | undefined;

function loadLibc(): Libc | null {
  if (libc !== undefined) return libc;
  libc = null;
  for (const name of LIBC) {
    try {
      libc = dlopen(name, SYMBOLS).symbols;
      break;
    } catch {
      // the next name
    }
  }
  return libc;
}

const SYS_MEMBARRIER = ARCH === "aarch64" ? 283 : 324;
const MEMBARRIER_CMD_GLOBAL = 1;

/**
 * Waits for an RCU grace period: every packet netfilter was handling when a
 * transaction committed (it had looked up the old map element, under
 * rcu_read_lock) has been counted when this returns. A counter that no
 * element names any more is still until then, not from the commit itself.
 * membarrier(MEMBARRIER_CMD_GLOBAL) waits exactly for that
 * (synchronize_rcu); where it cannot be had (no libc, a nohz_full kernel),
 * a pause far longer than a packet's way through the hooks.
 */
export function waitForPacketsInFlight(): void {
  const c = loadLibc();
  if (c && Number(c.syscall(SYS_MEMBARRIER, MEMBARRIER_CMD_GLOBAL, 0, 0)) === 0) return;
  Bun.sleepSync(20);
}

export class NetlinkError extends Error {
  constructor(
    message: string,
    readonly errno: number,
  ) {
    super(message);
  }
}

/** Opens a netfilter netlink socket, or throws NetlinkError (no FFI, no libc, no permission). */
export function openNetfilterSocket(): NetlinkSocket {
  return openSocket(NETLINK_NETFILTER, "nf_tables", RECV_TIMEOUT_MS);
}

/**
 * Opens a routing netlink socket, or throws NetlinkError (no FFI, no libc).
 * A receive that waits `timeoutMs` throws a NetlinkError with errno EAGAIN.
 */
export function openRouteSocket(timeoutMs: number): NetlinkSocket {
  // A dump's datagrams are at most 32 KB (the kernel's cap), a link without its statistics a few KB.
  return openSocket(NETLINK_ROUTE, "rtnetlink", timeoutMs, 1 << 16);
}

function openSocket(protocol: number, peer: string, timeoutMs: number, bufferSize = 1 << 20): NetlinkSocket {
  const c = loadLibc();
  if (!c) throw new NetlinkError("cannot load libc for netlink", 0);
  const errno = () => read.i32(c.__errno_location()!);
  const fd = c.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol);
  if (fd < 0) throw new NetlinkError(`cannot open a netlink socket (errno ${errno()})`, errno());
  const int = new Int32Array([4 << 20]);
  c.setsockopt(fd, SOL_SOCKET, SO_RCVBUF, ptr(int), 4);
  const timeval = new BigInt64Array([BigInt(Math.floor(timeoutMs / 1000)), BigInt((timeoutMs % 1000) * 1000)]);
  c.setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, ptr(timeval), 16);
  // Errors carry the kernel's message; an ack carries only the header of what it acknowledges.
  int[0] = 1;
  c.setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, ptr(int), 4);
  c.setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, ptr(int), 4);
  const addr = new Uint8Array(12); // sockaddr_nl: family, pad, pid 0 (the kernel picks), groups 0
  new DataView(addr.buffer).setUint16(0, AF_NETLINK, true);
  if (c.bind(fd, ptr(addr), 12) < 0) {
    const e = errno();
    c.close(fd);
    throw new NetlinkError(`cannot bind a netlink socket (errno ${e})`, e);
  }
  const len = new Uint32Array([12]);
  c.getsockname(fd, ptr(addr), ptr(len));
  const portId = new DataView(addr.buffer).getUint32(4, true);
  const buf = new Uint8Array(bufferSize);
  let open = true;
  return {
    portId,
    send(data) {
      for (;;) {
        const n = Number(c.send(fd, ptr(data), data.length, 0));
        if (n === data.length) return;
        const e = errno();
        if (n < 0 && e === EINTR) continue;
        throw new NetlinkError(`cannot send to ${peer} (errno ${n < 0 ? e : "short write"})`, n < 0 ? e : 0);
      }
    },
    recv() {
      for (;;) {
        const n = Number(c.recv(fd, ptr(buf), buf.length, 0));
        if (n >= 0) return buf.slice(0, n);
        const e = errno();
        if (e === EAGAIN) throw new NetlinkError(`no answer from ${peer} in ${timeoutMs} ms`, e);
        if (e !== EINTR) throw new NetlinkError(`cannot receive from ${peer} (errno ${e})`, e);
      }
    },
    close() {
      if (open) c.close(fd);
      open = false;
    },
  };
}
