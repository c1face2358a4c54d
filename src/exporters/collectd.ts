/**
 * collectd's unixsock plugin: PUTVAL the values collectd's own iptables
 * plugin would have read from `Chain mangle iptmon_rx`/`iptmon_tx`, so
 * luci-app-statistics graphs hosts counted by nftables as it graphed the
 * original iptmon's: plugin `iptables`, instance `mangle-iptmon_rx`, types
 * `ipt_bytes`/`ipt_packets`, type instance `rx_<host>` (tx likewise).
 */
import { DEFAULTS } from "../defaults.ts";
import type { StatusHost } from "../status.ts";
import type { ExporterSection } from "../config.ts";
import { oneLine, quoteValue } from "../errors.ts";
import { parseUci, uciOption } from "../uci.ts";
import { type PushDeps, type PushTarget, type Sample } from "./push.ts";

/** luci-app-statistics generates collectd's config from this; its defaults are the ones that matter. */
export const LUCI_STATISTICS = "/etc/config/luci_statistics";

/** Sends each line to the socket and resolves with one reply line per line sent. */
export type UnixsockExchange = (path: string, lines: string[], timeoutMs: number) => Promise<string[]>;

// collectd splits the identifier at '/', and a command ends at the newline.
const UNSAFE = /[/\x00-\x1f\x7f]/g;
const HAS_UNSAFE = /[/\x00-\x1f\x7f]/;

/** An identifier in double quotes, with backslash and quote escaped (collectd's parse_string). */
export function quoteIdentifier(host: string, plugin: string, type: string): string {
  const id = `${host.replace(UNSAFE, "_")}/${plugin}/${type.replace(UNSAFE, "_")}`;
  return `"${id.replace(/[\\"]/g, "\\$&")}"`;
}

export interface PutvalOptions {
  hostname: string;
  time: number;
  interval: number;
}

/** Four PUTVAL commands per host, exactly the identifiers of collectd's iptables plugin. */
export function renderPutval(hosts: StatusHost[], o: PutvalOptions): string[] {
  const out: string[] = [];
  const put = (dir: "rx" | "tx", type: "ipt_bytes" | "ipt_packets", name: string, value: number) =>
    out.push(
      `PUTVAL ${quoteIdentifier(o.hostname, `iptables-mangle-iptmon_${dir}`, `${type}-${dir}_${name}`)} interval=${o.interval} ${Math.trunc(o.time)}:${Math.trunc(value)}`,
    );
  for (const h of hosts) {
    put("rx", "ipt_bytes", h.name, h.rx_bytes);
    put("rx", "ipt_packets", h.name, h.rx_packets);
    put("tx", "ipt_bytes", h.name, h.tx_bytes);
    put("tx", "ipt_packets", h.name, h.tx_packets);
  }
  return out;
}

/** A status line `<n> <message>`: n ≥ 0 is success, n < 0 failure. */
export function replyOk(line: string): boolean {
  const m = /^(-?\d+)\s/.exec(`${line} `);
  return m !== null && Number(m[1]) >= 0;
}

/** The unixsock client: writes every command at once, then reads one status line per command. */
export const unixsockExchange: UnixsockExchange = (path, lines, timeout) =>
  new Promise<string[]>((resolve, reject) => {
    const replies: string[] = [];
    let partial = "";
    let pending = Buffer.from(lines.map((l) => `${l}\n`).join(""));
    let done = false;
    let sock: { end(): void; write(b: Uint8Array): number } | undefined;
    const finish = (err: Error | null) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock?.end();
      if (err) reject(err);
      else resolve(replies);
    };
    const timer = setTimeout(() => finish(new Error(`timed out after ${timeout / 1000} s`)), timeout);
    const flush = () => {
      if (!sock || pending.length === 0) return;
      const n = sock.write(pending);
      if (n > 0) pending = pending.subarray(n);
    };
    Bun.connect({
      unix: path,
      socket: {
        open(s) {
          sock = s;
          flush();
        },
        drain: flush,
        data(_s, chunk) {
          partial += chunk.toString();
          let nl: number;
          while ((nl = partial.indexOf("\n")) >= 0) {
            replies.push(partial.slice(0, nl));
            partial = partial.slice(nl + 1);
          }
          if (replies.length >= lines.length) finish(null);
        },
        close() {
          finish(new Error(`collectd closed the connection after ${replies.length} of ${lines.length} replies`));
        },
        error(_s, e) {
          finish(describeConnectError(e));
        },
      },
    }).catch((e: unknown) => finish(describeConnectError(e)));
  });

function describeConnectError(e: unknown): Error {
  const code = (e as { code?: string }).code;
  if (code === "ENOENT") return new Error("no such socket (is collectd running with the unixsock plugin?)");
  if (code === "ECONNREFUSED") return new Error("connection refused (is collectd running?)");
  if (code === "EACCES") return new Error("permission denied");
  return e instanceof Error ? e : new Error(String(e));
}

/**
 * What luci-app-statistics set up: its unixsock path (stock:
 * /var/run/collectd/query.sock) and collectd's Hostname, if it overrides
 * the kernel's. Unreadable or absent: nothing.
 */
export function readLuciStatistics(deps: PushDeps): { socket?: string; hostname?: string } {
  try {
    const text = deps.sys.readFile(LUCI_STATISTICS);
    if (text === null) return {};
    const secs = parseUci(text, LUCI_STATISTICS).sections;
    const get = (name: string, opt: string) => uciOption(secs.find((x) => x.name === name), opt) ?? undefined;
    return { socket: get("collectd_unixsock", "SocketFile"), hostname: get("collectd", "Hostname") };
  } catch {
    return {};
  }
}

/** The router's name as collectd and LuCI use it by default. */
export function defaultHostname(deps: PushDeps): string {
  try {
    return deps.sys.readFile("/proc/sys/kernel/hostname")?.trim() || "localhost";
  } catch {
    return "localhost";
  }
}

export function readCollectdTarget(file: string, sec: ExporterSection<"collectd">, deps: PushDeps): PushTarget | { label: string; error: string } {
  const o = sec.options;
  const luci = o.socket === null || o.hostname === null ? readLuciStatistics(deps) : {};
  const socket = o.socket ?? luci.socket ?? DEFAULTS.collectdSocket;
  const label = `collectd ${socket}`;
  const hostname = o.hostname ?? luci.hostname ?? defaultHostname(deps);
  // collectd keeps at most 127 bytes of each identifier part.
  if (hostname === "" || HAS_UNSAFE.test(hostname) || Buffer.byteLength(hostname) > 127) {
    const where = `${sec.name ? `${quoteValue(sec.name)} ` : ""}(${file}:${sec.line})`;
    return { label, error: `option 'hostname' must be 1-127 bytes without '/' or control characters in config collectd ${where}` };
  }
  const timeout = o.timeout * 1000;
  const exchange = deps.unixsock ?? unixsockExchange;
  return {
    label,
    async send(s: Sample) {
      if (s.hosts.length === 0) return;
      const lines = renderPutval(s.hosts, { hostname, time: s.time, interval: s.interval });
      const replies = await exchange(socket, lines, timeout);
      const bad = replies.filter((r) => !replyOk(r));
      if (bad.length > 0) throw new Error(oneLine(`${bad.length} of ${lines.length} values refused: ${bad[0]}`));
    },
  };
}
