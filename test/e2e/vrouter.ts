/**
 * A virtual OpenWrt-like router built from Linux network namespaces, for
 * end-to-end tests of iptmon (and for a demo: `bun test/e2e/vrouter.ts`).
 * Needs root, iproute2, nft, dnsmasq and busybox.
 *
 * Topology, built anew for every `VRouter.create()`; SFX is 6 random hex chars,
 * so parallel runs never collide:
 *
 *        WAN namespace  vr<SFX>-w
 *        eth0 198.51.100.2/24, 2001:db8:77::2/64
 *        routes 192.168.77.0/24 and fd77:77::/64 via the router; no default route
 *          |
 *        wan  198.51.100.1/24, 2001:db8:77::1/64        (veth)
 *   router namespace  vr<SFX>-r   ip_forward + IPv6 forwarding,
 *        default routes via the WAN host, dnsmasq on br-lan
 *        br-lan  192.168.77.1/24, fd77:77::1/64          (bridge)
 *          |-- lan1-<SFX> ... lanN-<SFX>                  (veth ports)
 *          |
 *   client namespaces  vr<SFX>-c1 ... vr<SFX>-cN
 *        eth0, MAC 02:77:00:00:00:0N (N = 1..), IPv4 by busybox udhcpc,
 *        IPv6 by SLAAC from dnsmasq's RAs (EUI-64: fd77:77::77:ff:fe00:N),
 *        or no IPv6 at all (`ipv6: false`).
 *
 * Every link is created directly inside its namespace (nothing ever appears in
 * the root namespace) and every address lives only inside the run's
 * namespaces; the WAN host has no route anywhere else, so no packet can leave.
 *
 * dnsmasq (no DNS, DHCPv4 192.168.77.100-199/1h, RA-only SLAAC) keeps its
 * lease file, log, pid file and generated scripts in a temp dir. Its
 * --dhcp-script is a generated sh wrapper that records every call (argv and
 * the whole environment, NUL-separated, to `<tmp>/script-calls`), runs the
 * real script given as `dhcpScript` if any, and records its exit status;
 * `scriptCalls()` / `waitForScriptCall()` read that record.
 *
 * Environment: dnsmasq 2.90 passes its own environment through to the
 * dhcp-script (checked: IPTMON_CONFIG and FOO set on dnsmasq's command line
 * reached the script, alongside DNSMASQ_*); the script helper is forked when
 * dnsmasq starts, so it is dnsmasq's environment at start that counts. The
 * harness therefore starts dnsmasq with a small fixed environment (PATH) plus
 * `scriptEnv`; no wrapper is needed for that.
 *
 * Leases: `takeLease` runs `busybox udhcpc -f` in the client namespace with a
 * generated event script (configures the address and default route with `ip`)
 * and leaves it running, bound. `releaseLease` sends it SIGUSR2 (DHCPRELEASE;
 * dnsmasq runs `del` at once), then stops it. Note: `udhcpc -q -R` does NOT
 * release in busybox 1.35 (it exits through -q before it counts as bound).
 * `stopDhcpClient` kills udhcpc without a release (a client that vanished).
 *
 * dnsmasq is started with --no-ping by default: its ping check of every new
 * address holds up all DHCP for ~3 s per new client. dnsmasq runs as nobody
 * (no --user=root needed); the script still runs as root. dnsmasq logs each
 * line the script writes to stdout or stderr ("dnsmasq-script[pid]: ...") and
 * a non-zero exit ("script process exited with status N") in its log.
 *
 * Observed (dnsmasq 2.90), beyond DESIGN.md §3: a client that DHCPs again for
 * its existing lease after a dnsmasq restart gets `old` (the restart lost the
 * lease's extra data); a client that changes its hostname gets two `old`
 * calls, the first without a hostname argument and with DNSMASQ_OLD_HOSTNAME.
 * SLAAC addresses appear ~1 s after dnsmasq starts (its first RA).
 *
 * Traffic: `upload`/`download` send K UDP datagrams of P payload bytes between
 * a client and the WAN host with test/helpers/udp-send.ts; each is
 * P+UDP4_OVERHEAD (28) or P+UDP6_OVERHEAD (48) bytes at L3. Every namespace
 * but the router's has a `table inet vrsink` that drops UDP to ports
 * 40000-40999 in input (so no ICMP error comes back) and counts what arrived;
 * sends are verified against that count.
 *
 * Namespaces, processes and the temp dir belong to a NetnsRun of
 * test/e2e/harness.ts: `destroy()` (idempotent, synchronous) kills every
 * process started, anything else left inside the run's namespaces, deletes
 * the namespaces and the temp dir (kept when VROUTER_KEEP=1 or
 * IPTMON_E2E_KEEP=1), and the harness's safety net does so at exit or on a
 * signal.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Subprocess } from "bun";
import { type ExecOptions, type ExecResult, argvFor, exec, execOk, NETNS_NEEDS, type Need, NetnsRun, probe, SYS_PATH, terminate, waitFor } from "./harness.ts";

// ---------------------------------------------------------------- constants

export const LAN_BRIDGE = "br-lan";
export const WAN_IFACE = "wan";
export const ROUTER_LAN4 = "192.168.77.1";
export const ROUTER_LAN6 = "fd77:77::1";
export const LAN4_SUBNET = "192.168.77.0/24";
export const LAN6_SUBNET = "fd77:77::/64";
export const LAN6_PREFIX = "fd77:77::";
export const DHCP_RANGE = ["192.168.77.100", "192.168.77.199"] as const;
export const ROUTER_WAN4 = "198.51.100.1";
export const ROUTER_WAN6 = "2001:db8:77::1";
export const WAN4 = "198.51.100.2";
export const WAN6 = "2001:db8:77::2";
/** L3 bytes a UDP datagram adds to its payload: IPv4 header 20 + UDP 8. */
export const UDP4_OVERHEAD = 28;
/** IPv6 header 40 + UDP 8. */
export const UDP6_OVERHEAD = 48;
/** Largest payloads that stay unfragmented on the 1500-byte MTU. */
export const MAX_UDP4_PAYLOAD = 1472;
export const MAX_UDP6_PAYLOAD = 1452;
/** UDP ports the sinks drop silently (and count). */
export const SINK_PORTS = [40000, 40999] as const;
export const DEFAULT_UDP_PORT = 40077;

/** Expected L3 bytes of `count` datagrams of `size` payload bytes. */
export function udpL3Bytes(family: 4 | 6, size: number, count = 1): number {
  return count * (size + (family === 4 ? UDP4_OVERHEAD : UDP6_OVERHEAD));
}

/** Neighbour queue per unresolved next hop (see build()). */
const NEIGH_QUEUE_BYTES = 32 * 1024 * 1024;
const UDP_SEND = resolve(import.meta.dir, "../helpers/udp-send.ts");

// ---------------------------------------------------------------- exec, availability

// The harness (test/e2e/harness.ts) runs programs and waits; re-exported
// here for the tests written against this module.
export { exec, execOk, waitFor } from "./harness.ts";
export type { ExecOptions, ExecResult } from "./harness.ts";

/** What a VRouter needs of this machine. */
export const VROUTER_NEEDS: readonly Need[] = [...NETNS_NEEDS, "dnsmasq", "busybox", "udhcpc"];

/** Whether this machine can build a VRouter; `reason` says why not. */
export function canRunVRouter(): { ok: true } | { ok: false; reason: string } {
  const reason = probe(VROUTER_NEEDS);
  return reason ? { ok: false, reason } : { ok: true };
}

function shQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

// ---------------------------------------------------------------- dhcp-script record

export interface ScriptCall {
  /** Order of the call (0-based) in the record. */
  seq: number;
  pid: number;
  /** Seconds since the epoch when the wrapper started / finished. */
  start: number;
  end?: number;
  /** Exit status of the real script (0 when there is none); undefined while it runs. */
  rc?: number;
  /** argv after $0: [action, mac-or-duid, ip, hostname?]. */
  args: string[];
  action: string;
  mac: string;
  ip: string;
  hostname?: string;
  /** The script's whole environment (UTF-8 decoded). */
  env: Record<string, string>;
  /** Exact bytes, for hostile hostnames that are not UTF-8. */
  rawArgs: Buffer[];
  rawEnv: Record<string, Buffer>;
}

/** Parses the NUL-separated record the wrapper writes; an unfinished trailing record is left out. */
export function parseScriptCalls(buf: Buffer): ScriptCall[] {
  const tokens: Buffer[] = [];
  let from = 0;
  for (let i = buf.indexOf(0); i >= 0; i = buf.indexOf(0, from)) {
    tokens.push(buf.subarray(from, i));
    from = i + 1;
  }
  const calls: ScriptCall[] = [];
  let i = 0;
  const next = () => tokens[i++];
  while (i < tokens.length) {
    const tag = next()!.toString();
    if (tag === "BEGIN") {
      const pid = Number(next()?.toString());
      const start = Number(next()?.toString());
      const argc = Number(next()?.toString());
      const rawArgs: Buffer[] = [];
      for (let a = 0; a < argc && i < tokens.length; a++) rawArgs.push(next()!);
      const rawEnv: Record<string, Buffer> = {};
      let complete = false;
      while (i < tokens.length) {
        const t = next()!;
        if (t.toString() === "ENVEND") {
          complete = true;
          break;
        }
        const eq = t.indexOf("=");
        if (eq > 0) rawEnv[t.subarray(0, eq).toString()] = t.subarray(eq + 1);
      }
      if (!complete) break;
      const args = rawArgs.map((b) => b.toString());
      const env: Record<string, string> = {};
      for (const [k, v] of Object.entries(rawEnv)) env[k] = v.toString();
      calls.push({
        seq: calls.length,
        pid,
        start,
        args,
        action: args[0] ?? "",
        mac: args[1] ?? "",
        ip: args[2] ?? "",
        ...(args[3] !== undefined ? { hostname: args[3] } : {}),
        env,
        rawArgs,
        rawEnv,
      });
    } else if (tag === "END") {
      const pid = Number(next()?.toString());
      const rc = Number(next()?.toString());
      const end = Number(next()?.toString());
      if (Number.isNaN(end)) break;
      const call = calls.findLast((c) => c.pid === pid && c.rc === undefined);
      if (call) {
        call.rc = rc;
        call.end = end;
      }
    }
  }
  return calls;
}

function recordingWrapper(callsFile: string, real: string | undefined): string {
  return `#!/bin/sh
# dhcp-script wrapper generated by test/e2e/vrouter.ts: records the call
# (NUL-separated argv and environment), runs the real script, records its status.
calls=${shQuote(callsFile)}
{
  printf 'BEGIN\\0%s\\0%s\\0%s\\0' "$$" "$(date +%s.%N)" "$#"
  for a in "$@"; do printf '%s\\0' "$a"; done
  env -0
  printf 'ENVEND\\0'
} >> "$calls"
rc=0
${real ? `${shQuote(real)} "$@" || rc=$?` : ":"}
printf 'END\\0%s\\0%s\\0%s\\0' "$$" "$rc" "$(date +%s.%N)" >> "$calls"
exit $rc
`;
}

const UDHCPC_SCRIPT = `#!/bin/sh
# udhcpc event script generated by test/e2e/vrouter.ts. udhcpc passes
# $interface $ip $mask $router ...; VR_STATE names a file that gets one
# "<event> <ip>" line per event, written after the event's work is done.
ev="$1"
case "$ev" in
  deconfig)
    ip -4 addr flush dev "$interface"
    ;;
  bound|renew)
    cur=$(ip -4 -o addr show dev "$interface" | awk '{print $4}')
    if [ "$cur" != "$ip/\${mask:-24}" ]; then
      ip -4 addr flush dev "$interface"
      ip -4 addr add "$ip/\${mask:-24}" dev "$interface"
    fi
    for r in $router; do ip -4 route replace default via "$r" dev "$interface"; break; done
    ;;
esac
printf '%s %s\\n' "$ev" "$ip" >> "$VR_STATE"
exit 0
`;

// ---------------------------------------------------------------- router

export interface ClientSpec {
  /** false: IPv6 disabled in that namespace (no SLAAC, no link-local). Default true. */
  ipv6?: boolean;
  /** Default 02:77:00:00:00:NN (NN = index, hex). */
  mac?: string;
}

export interface VRouterOptions {
  /** Number of clients (default 3) or one spec per client. */
  clients?: number | ClientSpec[];
  /** The real dhcp-script dnsmasq should run (absolute path); none: only recorded. */
  dhcpScript?: string;
  /** Extra environment for dnsmasq and so for the dhcp-script (e.g. IPTMON_CONFIG). */
  scriptEnv?: Record<string, string>;
  /** Wrap the script in the recording wrapper (default true). */
  recordScriptCalls?: boolean;
  /** Pass --script-arp (default true). */
  scriptArp?: boolean;
  /** dnsmasq's ping check before offering an address (default false: --no-ping). */
  dnsmasqPing?: boolean;
  /** Appended to dnsmasq's arguments. */
  dnsmasqArgs?: string[];
  /** Start dnsmasq in create() (default true). */
  startDnsmasq?: boolean;
}

export interface VClient {
  /** 1-based. */
  index: number;
  /** "c1", "c2", ... */
  name: string;
  ns: string;
  mac: string;
  ipv6: boolean;
  /** The router-side veth port (a member of br-lan). */
  port: string;
  /** EUI-64 SLAAC address it will get in fd77:77::/64 (when ipv6). */
  slaac: string;
}

export interface ClientAddresses {
  mac: string;
  ipv4: string[];
  /** Global IPv6 addresses (SLAAC in fd77:77::/64, or any added). */
  ipv6: string[];
  linkLocal: string[];
}

export interface SendOptions {
  family: 4 | 6;
  count: number;
  /** Payload bytes per datagram. */
  size: number;
  /** In SINK_PORTS; default DEFAULT_UDP_PORT. */
  port?: number;
  /** Source address to send from (default: the kernel's choice). */
  bind?: string;
  /** Check that the receiver's sink counted every datagram (default true). */
  verify?: boolean;
  timeoutMs?: number;
}

export interface SendResult {
  packets: number;
  /** L3 bytes sent: count * (size + 28|48). */
  bytes: number;
  src: string;
  dst: string;
  ms: number;
}

/** A client or the WAN host. */
/** What the router counts for a host: bytes and packets it received from it (rx) and sent to it (tx). */
export interface Tally {
  rx: number;
  rxp: number;
  tx: number;
  txp: number;
}

/** The sum of tallies (the parts of one test's traffic). */
export function addTallies(...ts: Tally[]): Tally {
  return ts.reduce((a, t) => ({ rx: a.rx + t.rx, rxp: a.rxp + t.rxp, tx: a.tx + t.tx, txp: a.txp + t.txp }), { rx: 0, rxp: 0, tx: 0, txp: 0 });
}

export type Endpoint = VClient | "wan";
/** A client, its index (1-based), name ("c1") or namespace. */
export type ClientRef = VClient | number | string;

interface DhcpClient {
  proc: Subprocess;
  stateFile: string;
}

function eui64(mac: string, prefix: string): string {
  const b = mac.split(":").map((h) => parseInt(h, 16));
  const w = [((b[0]! ^ 2) << 8) | b[1]!, (b[2]! << 8) | 0xff, (0xfe << 8) | b[3]!, (b[4]! << 8) | b[5]!];
  return prefix + w.map((x) => x.toString(16)).join(":");
}

export class VRouter {
  readonly suffix: string;
  readonly routerNs: string;
  readonly wanNs: string;
  readonly clients: VClient[];
  readonly tmpDir: string;
  readonly leaseFile: string;
  readonly dnsmasqLog: string;
  /** The script dnsmasq is given (the recording wrapper, or dhcpScript itself). */
  readonly dhcpScriptPath: string;
  readonly scriptCallsFile: string;

  private readonly opts: VRouterOptions;
  /** Namespaces, processes and temp dir (test/e2e/harness.ts). */
  private readonly run: NetnsRun;
  private readonly dhcp = new Map<number, DhcpClient>();
  private dnsmasq: Subprocess | null = null;

  private constructor(opts: VRouterOptions) {
    this.opts = opts;
    const specs: ClientSpec[] =
      typeof opts.clients === "number" || opts.clients === undefined
        ? Array.from({ length: opts.clients ?? 3 }, () => ({}))
        : opts.clients;
    if (specs.length < 1 || specs.length > 99) throw new Error("1..99 clients");
    if (opts.dhcpScript && !opts.dhcpScript.startsWith("/")) throw new Error("dhcpScript must be an absolute path");
    // Options checked: from here on, a temp dir exists for destroy() to remove.
    this.run = new NetnsRun("vr", { tmpPrefix: "vrouter" });
    this.suffix = this.run.suffix;
    this.routerNs = this.run.ns("r");
    this.wanNs = this.run.ns("w");
    this.clients = specs.map((s, i) => {
      const index = i + 1;
      const mac = (s.mac ?? `02:77:00:00:00:${index.toString(16).padStart(2, "0")}`).toLowerCase();
      return {
        index,
        name: `c${index}`,
        ns: this.run.ns(`c${index}`),
        mac,
        ipv6: s.ipv6 ?? true,
        port: `lan${index}-${this.suffix}`,
        slaac: eui64(mac, LAN6_PREFIX),
      };
    });
    this.tmpDir = this.run.tmpDir;
    this.leaseFile = join(this.tmpDir, "dhcp.leases");
    this.dnsmasqLog = join(this.tmpDir, "dnsmasq.log");
    this.scriptCallsFile = join(this.tmpDir, "script-calls");
    if (opts.recordScriptCalls === false && opts.dhcpScript) {
      this.dhcpScriptPath = opts.dhcpScript;
    } else {
      this.dhcpScriptPath = join(this.tmpDir, "dhcp-script.sh");
      writeFileSync(this.dhcpScriptPath, recordingWrapper(this.scriptCallsFile, opts.dhcpScript), { mode: 0o755 });
    }
    writeFileSync(join(this.tmpDir, "udhcpc.sh"), UDHCPC_SCRIPT, { mode: 0o755 });
  }

  /** Builds the topology and (by default) starts dnsmasq. Destroys what it built if anything fails. */
  static async create(opts: VRouterOptions = {}): Promise<VRouter> {
    const r = new VRouter(opts);
    try {
      r.build();
      if (opts.startDnsmasq !== false) await r.startDnsmasq();
    } catch (e) {
      r.destroy();
      throw e;
    }
    return r;
  }

  /** Every namespace of this run. */
  get namespaces(): string[] {
    return [this.routerNs, this.wanNs, ...this.clients.map((c) => c.ns)];
  }

  client(which: ClientRef): VClient {
    if (typeof which === "object") return which;
    const c = this.clients.find((c) => c.index === which || c.name === which || c.ns === which);
    if (!c) throw new Error(`no client ${which}`);
    return c;
  }

  private ipBatch(ns: string | null, lines: string[]): void {
    this.run.ipBatch(ns, lines);
  }

  private sysctl(ns: string, settings: string[]): void {
    this.run.sysctl(ns, settings);
  }

  private build(): void {
    const R = this.routerNs;
    const W = this.wanNs;
    this.run.addNamespaces(this.namespaces);

    // Sysctls first, so that links created afterwards inherit the defaults.
    this.sysctl(R, [
      "net.ipv4.ip_forward=1",
      "net.ipv6.conf.all.forwarding=1",
      "net.ipv6.conf.default.forwarding=1",
      "net.ipv6.conf.all.accept_dad=0",
      "net.ipv6.conf.default.accept_dad=0",
    ]);
    this.sysctl(W, [
      "net.ipv6.conf.all.accept_dad=0",
      "net.ipv6.conf.default.accept_dad=0",
      "net.ipv6.conf.default.accept_ra=0",
    ]);
    for (const c of this.clients) {
      this.sysctl(
        c.ns,
        c.ipv6
          ? [
              "net.ipv6.conf.all.accept_dad=0",
              "net.ipv6.conf.default.accept_dad=0",
              "net.ipv6.conf.default.accept_ra=2",
              "net.ipv6.conf.default.use_tempaddr=0",
              "net.ipv6.conf.default.router_solicitation_delay=0",
            ]
          : ["net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"],
      );
    }

    // Links, each end created directly in its namespace.
    this.ipBatch(null, [
      `link add ${WAN_IFACE} netns ${R} type veth peer name eth0 netns ${W}`,
      ...this.clients.map((c) => `link add ${c.port} netns ${R} type veth peer name eth0 netns ${c.ns} address ${c.mac}`),
    ]);

    this.ipBatch(W, [
      "link set lo up",
      `addr add ${WAN4}/24 dev eth0`,
      `addr add ${WAN6}/64 dev eth0 nodad`,
      "link set eth0 up",
      `route add ${LAN4_SUBNET} via ${ROUTER_WAN4}`,
      `route add ${LAN6_SUBNET} via ${ROUTER_WAN6}`,
    ]);
    this.ipBatch(R, [
      "link set lo up",
      `link add ${LAN_BRIDGE} type bridge stp_state 0 mcast_snooping 0`,
      ...this.clients.map((c) => `link set ${c.port} master ${LAN_BRIDGE} up`),
      `addr add ${ROUTER_LAN4}/24 dev ${LAN_BRIDGE}`,
      `addr add ${ROUTER_LAN6}/64 dev ${LAN_BRIDGE} nodad`,
      `link set ${LAN_BRIDGE} up`,
      `addr add ${ROUTER_WAN4}/24 dev ${WAN_IFACE}`,
      `addr add ${ROUTER_WAN6}/64 dev ${WAN_IFACE} nodad`,
      `link set ${WAN_IFACE} up`,
      `route add default via ${WAN4}`,
      `route add default via ${WAN6}`,
    ]);
    // A datagram sent while its next hop is still being resolved waits in the
    // neighbour queue; the kernel's default queue (about 90 full-size
    // datagrams) drops the rest of a burst if resolution is slow on a busy
    // machine, so every interface that routes gets a queue far larger than
    // any send. (The setting is per interface: a namespace has no defaults.)
    const queue = (dev: string, v6: boolean) => [
      `net.ipv4.neigh.${dev}.unres_qlen_bytes=${NEIGH_QUEUE_BYTES}`,
      ...(v6 ? [`net.ipv6.neigh.${dev}.unres_qlen_bytes=${NEIGH_QUEUE_BYTES}`] : []),
    ];
    this.sysctl(R, [...queue(LAN_BRIDGE, true), ...queue(WAN_IFACE, true)]);
    // Where br_netfilter is loaded (Docker loads it), frames bridged between
    // LAN ports, such as the clients' MLD reports, would pass the router's IP
    // forward hook. OpenWrt does not load it; the virtual router matches that.
    if (exec(R, ["test", "-d", "/proc/sys/net/bridge"]).code === 0) {
      this.sysctl(R, ["arptables", "iptables", "ip6tables"].map((t) => `net.bridge.bridge-nf-call-${t}=0`));
    }
    this.sysctl(W, queue("eth0", true));
    for (const c of this.clients) this.sysctl(c.ns, queue("eth0", c.ipv6));
    // Client links come up before dnsmasq starts: it ignores router
    // solicitations for about a second after start, but its first
    // unsolicited RA then reaches every client.
    for (const c of this.clients) this.ipBatch(c.ns, ["link set lo up", "link set eth0 up"]);

    const sink = `table inet vrsink {
  counter rx { }
  chain input {
    type filter hook input priority -10; policy accept;
    udp dport ${SINK_PORTS[0]}-${SINK_PORTS[1]} counter name "rx" drop
  }
}
`;
    for (const ns of [W, ...this.clients.map((c) => c.ns)]) execOk(ns, ["nft", "-f", "-"], { input: sink });
  }

  // ------------------------------------------------------------ processes

  /**
   * Starts a long-running process in `ns` (argv, no shell), tracked and killed
   * by destroy(). stdout/stderr go to `<tmp>/<logName>.out` when given.
   */
  spawn(ns: string, argv: string[], opts: { env?: Record<string, string>; cleanEnv?: boolean; logName?: string } = {}): Subprocess {
    this.assertLive();
    const { logName, ...rest } = opts;
    return this.run.spawn(ns, argv, { ...rest, ...(logName ? { log: `${logName}.out` } : {}) });
  }

  /** Runs argv in `ns` and waits (see exec). */
  exec(ns: string, argv: string[], opts: ExecOptions = {}): ExecResult {
    return exec(ns, argv, opts);
  }

  execOk(ns: string, argv: string[], opts: ExecOptions = {}): ExecResult {
    return execOk(ns, argv, opts);
  }

  // ------------------------------------------------------------ dnsmasq

  dnsmasqArgv(): string[] {
    const o = this.opts;
    return [
      "dnsmasq",
      "--keep-in-foreground",
      "--conf-file=/dev/null",
      "--port=0",
      `--pid-file=${join(this.tmpDir, "dnsmasq.pid")}`,
      `--interface=${LAN_BRIDGE}`,
      "--bind-interfaces",
      `--dhcp-range=${DHCP_RANGE[0]},${DHCP_RANGE[1]},1h`,
      "--enable-ra",
      `--dhcp-range=${LAN6_PREFIX},ra-only`,
      `--dhcp-leasefile=${this.leaseFile}`,
      `--dhcp-script=${this.dhcpScriptPath}`,
      ...(o.scriptArp === false ? [] : ["--script-arp"]),
      "--dhcp-authoritative",
      ...(o.dnsmasqPing ? [] : ["--no-ping"]),
      `--log-facility=${this.dnsmasqLog}`,
      ...(o.dnsmasqArgs ?? []),
    ];
  }

  get dnsmasqPid(): number | null {
    return this.dnsmasq && this.dnsmasq.exitCode === null && this.dnsmasq.signalCode === null ? this.dnsmasq.pid : null;
  }

  /** Starts dnsmasq and waits until its DHCP sockets are bound. */
  async startDnsmasq(): Promise<void> {
    this.assertLive();
    if (this.dnsmasqPid) throw new Error("dnsmasq already running");
    const logStart = existsSync(this.dnsmasqLog) ? readFileSync(this.dnsmasqLog).length : 0;
    const proc = this.spawn(this.routerNs, this.dnsmasqArgv(), {
      cleanEnv: true,
      env: { ...this.opts.scriptEnv },
      logName: "dnsmasq",
    });
    this.dnsmasq = proc;
    await waitFor(
      () => {
        if (proc.exitCode !== null) {
          throw new Error(`dnsmasq exited ${proc.exitCode}: ${this.readText("dnsmasq.out")}${this.dnsmasqLogText().slice(logStart)}`);
        }
        return this.dnsmasqLogText().slice(logStart).includes("DHCP, sockets bound exclusively");
      },
      "dnsmasq to start",
      5000,
    );
  }

  /** Stops dnsmasq (SIGTERM, then SIGKILL) and waits for it. */
  async stopDnsmasq(): Promise<void> {
    const p = this.dnsmasq;
    this.dnsmasq = null;
    if (p) await this.run.stop(p, 2000);
  }

  async restartDnsmasq(): Promise<void> {
    await this.stopDnsmasq();
    await this.startDnsmasq();
  }

  /** SIGHUP: dnsmasq re-reads its files and replays every lease as `old`. */
  hupDnsmasq(): void {
    const pid = this.dnsmasqPid;
    if (!pid) throw new Error("dnsmasq not running");
    process.kill(pid, "SIGHUP");
  }

  /**
   * SIGHUP, then waits until the dhcp-script has finished the `old` replay of
   * every lease in the lease file (needs recording): after it, dnsmasq has
   * nothing more to say about that SIGHUP. Returns the replay's calls.
   */
  async hupDnsmasqAndWait(timeoutMs = 10_000): Promise<ScriptCall[]> {
    if (!this.recording) throw new Error("hupDnsmasqAndWait needs recordScriptCalls");
    const keys = this.leaseKeys();
    if (keys.length === 0) throw new Error("no lease to replay: take one first");
    const mark = this.scriptCalls().length;
    this.hupDnsmasq();
    return waitFor(
      () => {
        const olds = this.scriptCalls().filter((c) => c.seq >= mark && c.action === "old" && c.rc !== undefined);
        return keys.every((k) => olds.some((c) => c.mac === k)) ? olds : undefined;
      },
      `the dhcp-script's old replay of ${keys.length} leases after SIGHUP`,
      timeoutMs,
    );
  }

  /** The MAC (DHCPv4) or DUID (DHCPv6) argument dnsmasq gives the script for each lease in the lease file. */
  private leaseKeys(): string[] {
    return this.leases()
      .split("\n")
      .map((l) => l.split(" "))
      .filter((f) => f.length >= 5 && f[0] !== "duid")
      .map((f) => (f[2]!.includes(":") ? f[4]! : f[1]!));
  }

  dnsmasqLogText(): string {
    return this.readText("dnsmasq.log");
  }

  leases(): string {
    return this.readText("dhcp.leases");
  }

  private readText(name: string): string {
    try {
      return readFileSync(join(this.tmpDir, name), "utf8");
    } catch {
      return "";
    }
  }

  // ------------------------------------------------------------ dhcp-script calls

  /** Whether dnsmasq runs the recording wrapper (so scriptCalls() sees the calls). */
  get recording(): boolean {
    return this.dhcpScriptPath !== this.opts.dhcpScript;
  }

  /** Every recorded dhcp-script call so far (needs recordScriptCalls). */
  scriptCalls(): ScriptCall[] {
    try {
      return parseScriptCalls(readFileSync(this.scriptCallsFile));
    } catch {
      return [];
    }
  }

  /**
   * Waits for a recorded call with seq >= `after` that matches `pred`, by
   * default until the real script has finished too.
   */
  async waitForScriptCall(
    pred: (c: ScriptCall) => boolean,
    opts: { after?: number; timeoutMs?: number; finished?: boolean; what?: string } = {},
  ): Promise<ScriptCall> {
    return waitFor(
      () =>
        this.scriptCalls().find(
          (c) => c.seq >= (opts.after ?? 0) && (opts.finished === false || c.rc !== undefined) && pred(c),
        ),
      opts.what ?? "a dhcp-script call",
      opts.timeoutMs ?? 5000,
    );
  }

  // ------------------------------------------------------------ leases

  /**
   * Takes a DHCPv4 lease for `client` (hostname as raw option-12 bytes, so any
   * bytes go) and returns the address once it is configured. udhcpc stays
   * running, bound; a previous udhcpc of that client is killed without release.
   */
  async takeLease(which: ClientRef, hostname?: string | Uint8Array, timeoutMs = 10_000): Promise<string> {
    const c = this.client(which);
    this.stopDhcpClient(c);
    const stateFile = join(this.tmpDir, `udhcpc-${c.name}.state`);
    writeFileSync(stateFile, "");
    const argv = ["busybox", "udhcpc", "-f", "-i", "eth0", "-t", "5", "-T", "1", "-n", "-s", join(this.tmpDir, "udhcpc.sh")];
    if (hostname !== undefined) {
      const bytes = typeof hostname === "string" ? Buffer.from(hostname, "utf8") : Buffer.from(hostname);
      if (bytes.length < 1 || bytes.length > 255) throw new Error("hostname must be 1..255 bytes");
      argv.push("-x", `0x0c:${bytes.toString("hex")}`);
    }
    const proc = this.spawn(c.ns, argv, { cleanEnv: true, env: { VR_STATE: stateFile }, logName: `udhcpc-${c.name}` });
    this.dhcp.set(c.index, { proc, stateFile });
    const line = await waitFor(
      () => {
        const bound = readFileSync(stateFile, "utf8").split("\n").find((l) => l.startsWith("bound "));
        if (bound) return bound;
        if (proc.exitCode !== null) {
          throw new Error(`udhcpc in ${c.ns} exited ${proc.exitCode}: ${this.readText(`udhcpc-${c.name}.out`)}`);
        }
        return undefined;
      },
      `a DHCP lease for ${c.name}`,
      timeoutMs,
    );
    return line.split(" ")[1]!;
  }

  /**
   * Releases `client`'s lease: SIGUSR2 to its udhcpc (which sends DHCPRELEASE
   * and deconfigures), then stops udhcpc. By default also waits until the
   * dhcp-script has run and finished `del` for that MAC (needs recording).
   */
  async releaseLease(which: ClientRef, opts: { waitForDel?: boolean; timeoutMs?: number } = {}): Promise<void> {
    const c = this.client(which);
    const d = this.dhcp.get(c.index);
    if (!d || d.proc.exitCode !== null) throw new Error(`${c.name} has no running DHCP client`);
    const mark = this.scriptCalls().length;
    const before = readFileSync(d.stateFile, "utf8").split("\n").length;
    d.proc.kill("SIGUSR2");
    await waitFor(
      () => readFileSync(d.stateFile, "utf8").split("\n").slice(before - 1).some((l) => l.startsWith("deconfig")),
      `${c.name}'s udhcpc to release`,
      opts.timeoutMs ?? 5000,
    );
    this.stopDhcpClient(c);
    if (opts.waitForDel ?? this.recording) {
      await this.waitForScriptCall((x) => x.action === "del" && x.mac === c.mac, {
        after: mark,
        timeoutMs: opts.timeoutMs ?? 5000,
        what: `dhcp-script del for ${c.mac}`,
      });
    }
  }

  /** Kills `client`'s udhcpc without a release (the lease stays until it expires). */
  stopDhcpClient(which: ClientRef): void {
    const c = this.client(which);
    const d = this.dhcp.get(c.index);
    if (!d) return;
    this.dhcp.delete(c.index);
    terminate([d.proc.pid], 1000);
  }

  // ------------------------------------------------------------ addresses

  clientAddresses(which: ClientRef): ClientAddresses {
    const c = this.client(which);
    const out = execOk(null, ["ip", "-n", c.ns, "-j", "addr", "show", "dev", "eth0"]).stdout;
    const link = (JSON.parse(out) as Array<{ address?: string; addr_info?: Array<Record<string, unknown>> }>)[0];
    const res: ClientAddresses = { mac: link?.address ?? "", ipv4: [], ipv6: [], linkLocal: [] };
    for (const a of link?.addr_info ?? []) {
      if (a.tentative || a.dadfailed) continue;
      const local = String(a.local);
      if (a.family === "inet") res.ipv4.push(local);
      else if (a.family === "inet6") (a.scope === "link" ? res.linkLocal : res.ipv6).push(local);
    }
    return res;
  }

  /** Waits until `client` has a global IPv6 address in fd77:77::/64 (SLAAC); returns its global addresses. */
  async waitForIpv6(which: ClientRef, timeoutMs = 10_000): Promise<string[]> {
    const c = this.client(which);
    if (!c.ipv6) throw new Error(`${c.name} has IPv6 disabled`);
    return waitFor(
      () => {
        const v6 = this.clientAddresses(c).ipv6;
        return v6.some((a) => a.startsWith(LAN6_PREFIX)) ? v6 : undefined;
      },
      `a SLAAC address on ${c.name}`,
      timeoutMs,
      50,
    );
  }

  // ------------------------------------------------------------ traffic

  /** Packets and bytes the sink of `ns` (WAN or a client) has dropped so far. */
  sinkCounter(ns: string): { packets: number; bytes: number } {
    const out = execOk(ns, ["nft", "-j", "list", "counter", "inet", "vrsink", "rx"]).stdout;
    const items = (JSON.parse(out) as { nftables: Array<{ counter?: { packets: number; bytes: number } }> }).nftables;
    const ctr = items.find((x) => x.counter)?.counter;
    if (!ctr) throw new Error(`no sink counter in ${ns}`);
    return { packets: ctr.packets, bytes: ctr.bytes };
  }

  /** Neighbour tables, forwarded and dropped packet counts of `namespaces`, for a failure message. */
  private pathReport(namespaces: string[]): string {
    const shown = /^(Ip6?(InDiscards|OutDiscards|InNoRoutes|OutNoRoutes|InAddrErrors|ForwDatagrams)|Udp6?(InErrors|RcvbufErrors|SndbufErrors))\s/;
    return [...new Set(namespaces)]
      .map((ns) => {
        const neigh = exec(ns, ["ip", "-s", "neigh", "show"]).stdout.trim();
        const nstat = exec(ns, ["nstat", "-a", "-z", "-s"]).stdout.split("\n").filter((l) => shown.test(l) && !/\s0\s/.test(l));
        return `-- ${ns}\n${neigh}\n${nstat.join("\n")}`;
      })
      .join("\n");
  }

  private address(ep: Endpoint, family: 4 | 6): string {
    if (ep === "wan") return family === 4 ? WAN4 : WAN6;
    const a = this.clientAddresses(ep);
    const addr = family === 4 ? a.ipv4[0] : a.ipv6.find((x) => x.startsWith(LAN6_PREFIX)) ?? a.ipv6[0];
    if (!addr) throw new Error(`${ep.name} has no IPv${family} address (take a lease / wait for SLAAC first)`);
    return addr;
  }

  /**
   * Sends `count` datagrams of `size` payload bytes from one endpoint to the
   * other with test/helpers/udp-send.ts, into the receiver's sink.
   */
  async sendUdp(from: Endpoint, to: Endpoint, o: SendOptions): Promise<SendResult> {
    this.assertLive();
    const port = o.port ?? DEFAULT_UDP_PORT;
    if (port < SINK_PORTS[0] || port > SINK_PORTS[1]) throw new Error(`port must be in ${SINK_PORTS.join("-")}`);
    const max = o.family === 4 ? MAX_UDP4_PAYLOAD : MAX_UDP6_PAYLOAD;
    if (o.size < 0 || o.size > max) throw new Error(`size must be 0..${max} for IPv${o.family} (no fragments)`);
    const fromNs = from === "wan" ? this.wanNs : from.ns;
    const toNs = to === "wan" ? this.wanNs : to.ns;
    const dst = this.address(to, o.family);
    const src = o.bind ?? this.address(from, o.family);
    const before = o.verify === false ? null : this.sinkCounter(toNs);
    const timeoutMs = o.timeoutMs ?? 20_000;
    const argv = [process.execPath, UDP_SEND, String(o.family), dst, String(port), String(o.count), String(o.size)];
    if (o.bind) argv.push(o.bind);
    const proc = Bun.spawn({
      cmd: argvFor(fromNs, argv),
      env: { PATH: SYS_PATH, VR_SEND_TIMEOUT_MS: String(timeoutMs) },
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
    });
    this.run.track(proc);
    const killer = setTimeout(() => proc.kill("SIGKILL"), timeoutMs + 5000);
    const [code, stdout, stderr] = await Promise.all([proc.exited, new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
    clearTimeout(killer);
    if (code !== 0) throw new Error(`udp-send ${argv.slice(2).join(" ")} in ${fromNs} exited ${code}: ${stderr.trim()}`);
    const r = JSON.parse(stdout) as { sent: number; bytes: number; ms: number };
    if (before) {
      const want = before.packets + o.count;
      await waitFor(() => this.sinkCounter(toNs).packets >= want, `${o.count} datagrams to arrive in ${toNs}`, 5000).catch(
        (e) => {
          const arrived = this.sinkCounter(toNs).packets - before.packets;
          throw new Error(`${(e as Error).message}; ${arrived} arrived\n${this.pathReport([fromNs, this.routerNs, toNs])}`);
        },
      );
    }
    return { packets: r.sent, bytes: udpL3Bytes(o.family, o.size, r.sent), src, dst, ms: r.ms };
  }

  /**
   * An upload and then a download of one family between a client and the WAN
   * host, and what the router should count for the client: rx (bytes, packets)
   * what went up, tx what came down.
   */
  async exchange(which: ClientRef, family: 4 | 6, up: Omit<SendOptions, "family">, down: Omit<SendOptions, "family">): Promise<Tally & { up: SendResult; down: SendResult }> {
    const u = await this.upload(which, { family, ...up });
    const d = await this.download(which, { family, ...down });
    return { rx: u.bytes, rxp: u.packets, tx: d.bytes, txp: d.packets, up: u, down: d };
  }

  /** Client → WAN host (the client's upload; `rx` from the router's view). */
  upload(which: ClientRef, o: SendOptions): Promise<SendResult> {
    const c = this.client(which);
    return this.sendUdp(c, "wan", o);
  }

  /** WAN host → client (the client's download; `tx` from the router's view). */
  download(which: ClientRef, o: SendOptions): Promise<SendResult> {
    const c = this.client(which);
    return this.sendUdp("wan", c, o);
  }

  // ------------------------------------------------------------ teardown

  get isDestroyed(): boolean {
    return this.run.isDestroyed;
  }

  private assertLive(): void {
    if (this.run.isDestroyed) throw new Error("VRouter already destroyed");
  }

  /**
   * Kills every process started (and anything else inside the run's
   * namespaces), deletes the namespaces and the temp dir. Synchronous,
   * idempotent, never throws.
   */
  destroy(): void {
    this.dhcp.clear();
    this.dnsmasq = null;
    this.run.destroy();
  }
}

// ---------------------------------------------------------------- demo

if (import.meta.main) {
  const avail = canRunVRouter();
  if (!avail.ok) {
    console.error(`vrouter: cannot run: ${avail.reason}`);
    process.exit(1);
  }
  const script = process.argv[2];
  const vr = await VRouter.create({
    clients: 3,
    ...(script ? { dhcpScript: resolve(script) } : {}),
    scriptEnv: Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith("IPTMON")) as [string, string][]),
  });
  const names = ["laptop", "phone", "tv-den"];
  await Promise.all(vr.clients.map((c, i) => vr.takeLease(c, names[i])));
  await Promise.all(vr.clients.map((c) => vr.waitForIpv6(c)));
  console.log(`router namespace: ${vr.routerNs}   (ip netns exec ${vr.routerNs} sh)`);
  console.log(`WAN namespace:    ${vr.wanNs}   ${WAN4} ${WAN6}`);
  for (const c of vr.clients) {
    const a = vr.clientAddresses(c);
    console.log(`client ${c.name}: ${c.ns} ${c.mac} ${[...a.ipv4, ...a.ipv6].join(" ")}`);
  }
  console.log(`lease file: ${vr.leaseFile}\ndnsmasq log: ${vr.dnsmasqLog}\nCtrl-C to tear down.`);
  await new Promise(() => {});
}
