import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseConfig, sectionsOf } from "../../src/config.ts";
import { quoteIdentifier, readCollectdTarget, renderPutval, replyOk, unixsockExchange, type UnixsockExchange } from "../../src/exporters/collectd.ts";
import { listPushTargets, pushSample } from "../../src/exporters/push.ts";
import type { StatusHost } from "../../src/status.ts";
import { fakeSys } from "../helpers/fakesys.ts";

const host = (name: string, n = 1): StatusHost => ({
  name,
  mac: null,
  key: `host:${name}`,
  addresses: [],
  rx_bytes: 1000 * n,
  rx_packets: 10 * n,
  tx_bytes: 2000 * n,
  tx_packets: 20 * n,
});

/** Reads a quoted identifier back as collectd's parse_string does. */
function unquote(s: string): string {
  expect(s.startsWith('"') && s.endsWith('"')).toBe(true);
  return s.slice(1, -1).replace(/\\(.)/g, "$1");
}

describe("renderPutval", () => {
  test("four values per host, with the identifiers of collectd's iptables plugin", () => {
    expect(renderPutval([host("laptop"), host("tv", 2)], { hostname: "OpenWrt", time: 1_800_000_000, interval: 60 })).toEqual([
      'PUTVAL "OpenWrt/iptables-mangle-iptmon_rx/ipt_bytes-rx_laptop" interval=60 1800000000:1000',
      'PUTVAL "OpenWrt/iptables-mangle-iptmon_rx/ipt_packets-rx_laptop" interval=60 1800000000:10',
      'PUTVAL "OpenWrt/iptables-mangle-iptmon_tx/ipt_bytes-tx_laptop" interval=60 1800000000:2000',
      'PUTVAL "OpenWrt/iptables-mangle-iptmon_tx/ipt_packets-tx_laptop" interval=60 1800000000:20',
      'PUTVAL "OpenWrt/iptables-mangle-iptmon_rx/ipt_bytes-rx_tv" interval=60 1800000000:2000',
      'PUTVAL "OpenWrt/iptables-mangle-iptmon_rx/ipt_packets-rx_tv" interval=60 1800000000:20',
      'PUTVAL "OpenWrt/iptables-mangle-iptmon_tx/ipt_bytes-tx_tv" interval=60 1800000000:4000',
      'PUTVAL "OpenWrt/iptables-mangle-iptmon_tx/ipt_packets-tx_tv" interval=60 1800000000:40',
    ]);
  });

  test("quotes identifiers: backslash and quote escaped; '/' and control characters, which cannot be carried, become _", () => {
    const q = quoteIdentifier('my "router"\\', "iptables-mangle-iptmon_rx", "ipt_bytes-rx_a/b\nc d");
    expect(q).toBe('"my \\"router\\"\\\\/iptables-mangle-iptmon_rx/ipt_bytes-rx_a_b_c d"');
    expect(unquote(q)).toBe('my "router"\\/iptables-mangle-iptmon_rx/ipt_bytes-rx_a_b_c d');
  });

  test("hostile names: one command per line, three identifier parts", () => {
    const names = ['quo"te', "back\\slash", "new\nline", "$(x)", "com,ma", "sp ace", "eq=ual", "ünïcode", "x".repeat(300), "sl/ash"];
    const lines = renderPutval(names.map((n) => host(n)), { hostname: "r", time: 1, interval: 60 });
    expect(lines).toHaveLength(4 * names.length);
    for (const l of lines) {
      expect(l).not.toContain("\n");
      const m = /^PUTVAL ("(?:[^"\\]|\\.)*") interval=60 1:\d+$/.exec(l);
      expect(m).not.toBeNull();
      expect(unquote(m![1]!).split("/")).toHaveLength(3);
    }
  });

  test("replies: n >= 0 is success", () => {
    expect(replyOk("0 Success: 1 value has been dispatched.")).toBe(true);
    expect(replyOk("-1 Parsing the values string failed.")).toBe(false);
    expect(replyOk("garbage")).toBe(false);
    expect(replyOk("")).toBe(false);
  });
});

describe("config collectd", () => {
  const sys = fakeSys({ files: { "/proc/sys/kernel/hostname": "OpenWrt\n" } });

  test("defaults without luci-app-statistics: /var/run/collectd/collectd.sock, the kernel's hostname, 5 s", async () => {
    const c = parseConfig("config iptmon\n\toption push_interval '2'\nconfig collectd\n", "/etc/config/iptmon");
    const seen: { path: string; lines: string[]; timeout: number }[] = [];
    const fake: UnixsockExchange = async (path, lines, timeout) => {
      seen.push({ path, lines, timeout });
      return lines.map(() => "0 Success: 1 value has been dispatched.");
    };
    const { targets, problems } = listPushTargets(c, { sys, unixsock: fake });
    expect(problems).toEqual([]);
    expect(targets.map((t) => t.label)).toEqual(["collectd /var/run/collectd/collectd.sock"]);
    const r = await pushSample(targets, { time: 7, interval: 120, hosts: [host("a")] });
    expect(r).toEqual([{ label: "collectd /var/run/collectd/collectd.sock", error: null }]);
    expect(seen).toEqual([
      {
        path: "/var/run/collectd/collectd.sock",
        timeout: 5000,
        lines: [
          'PUTVAL "OpenWrt/iptables-mangle-iptmon_rx/ipt_bytes-rx_a" interval=120 7:1000',
          'PUTVAL "OpenWrt/iptables-mangle-iptmon_rx/ipt_packets-rx_a" interval=120 7:10',
          'PUTVAL "OpenWrt/iptables-mangle-iptmon_tx/ipt_bytes-tx_a" interval=120 7:2000',
          'PUTVAL "OpenWrt/iptables-mangle-iptmon_tx/ipt_packets-tx_a" interval=120 7:20',
        ],
      },
    ]);
  });

  test("options socket, hostname and timeout", async () => {
    const c = parseConfig("config collectd\n\toption socket '/tmp/c.sock'\n\toption hostname 'gw'\n\toption timeout '2'\n", "/etc/config/iptmon");
    let got: string[] = [];
    let t = 0;
    const { targets } = listPushTargets(c, {
      sys,
      unixsock: async (_p, lines, timeout) => {
        got = lines;
        t = timeout;
        return lines.map(() => "0 Success");
      },
    });
    await pushSample(targets, { time: 7, interval: 60, hosts: [host("a")] });
    expect(got[0]).toBe('PUTVAL "gw/iptables-mangle-iptmon_rx/ipt_bytes-rx_a" interval=60 7:1000');
    expect(t).toBe(2000);
  });

  test("refused values and a failed exchange become the target's error", async () => {
    const c = parseConfig("config collectd\n", "/etc/config/iptmon");
    const refuse = readCollectdTarget(c.file, sectionsOf(c, "collectd")[0]!, {
      sys,
      unixsock: async (_p, lines) => lines.map((_, i) => (i % 2 ? "-1 Dataset ipt_packets not found" : "0 Success")),
    });
    const broken = readCollectdTarget(c.file, sectionsOf(c, "collectd")[0]!, {
      sys,
      unixsock: async () => {
        throw new Error("no such socket (is collectd running with the unixsock plugin?)");
      },
    });
    if ("error" in refuse || "error" in broken) throw new Error("unexpected config problem");
    const r = await pushSample([refuse, broken], { time: 7, interval: 60, hosts: [host("a")] });
    expect(r.map((x) => x.error)).toEqual(["2 of 4 values refused: -1 Dataset ipt_packets not found", "no such socket (is collectd running with the unixsock plugin?)"]);
  });

  test("without options, luci-app-statistics' unixsock path and collectd Hostname win over the defaults", async () => {
    const luci = fakeSys({
      files: {
        "/proc/sys/kernel/hostname": "OpenWrt\n",
        "/etc/config/luci_statistics":
          "config statistics 'collectd'\n\toption Hostname 'gw'\nconfig statistics 'collectd_unixsock'\n\toption enable '1'\n\toption SocketFile '/var/run/collectd/query.sock'\n\toption SocketGroup 'nogroup'\n",
      },
    });
    const seen: string[] = [];
    const fake: UnixsockExchange = async (path, lines) => {
      seen.push(path, lines[0]!);
      return lines.map(() => "0 Success");
    };
    const both = listPushTargets(parseConfig("config collectd\n", "/etc/config/iptmon"), { sys: luci, unixsock: fake });
    expect(both.targets.map((t) => t.label)).toEqual(["collectd /var/run/collectd/query.sock"]);
    await pushSample(both.targets, { time: 7, interval: 60, hosts: [host("a")] });
    expect(seen).toEqual(["/var/run/collectd/query.sock", 'PUTVAL "gw/iptables-mangle-iptmon_rx/ipt_bytes-rx_a" interval=60 7:1000']);
    // The section's own options come first; a broken luci_statistics is ignored.
    const own = listPushTargets(parseConfig("config collectd\n\toption socket '/s'\n", "/etc/config/iptmon"), { sys: luci, unixsock: fake });
    expect(own.targets.map((t) => t.label)).toEqual(["collectd /s"]);
    luci.files.set("/etc/config/luci_statistics", "config 'unterminated\n");
    const broken = listPushTargets(parseConfig("config collectd\n", "/etc/config/iptmon"), { sys: luci, unixsock: fake });
    expect(broken.targets.map((t) => t.label)).toEqual(["collectd /var/run/collectd/collectd.sock"]);
  });

  test("a hostname collectd cannot take is a config problem", () => {
    const c = parseConfig("config collectd 'c'\n\toption hostname 'a/b'\n", "/etc/config/iptmon");
    const { targets, problems } = listPushTargets(c, { sys });
    expect(targets).toHaveLength(0);
    expect(problems).toEqual([
      {
        label: "collectd /var/run/collectd/collectd.sock",
        error: "option 'hostname' must be 1-127 bytes without '/' or control characters in config collectd 'c' (/etc/config/iptmon:1)",
      },
    ]);
  });

  test("no hosts: nothing is sent", async () => {
    const c = parseConfig("config collectd\n", "/etc/config/iptmon");
    let called = false;
    const { targets } = listPushTargets(c, {
      sys,
      unixsock: async () => {
        called = true;
        return [];
      },
    });
    expect(await pushSample(targets, { time: 7, interval: 60, hosts: [] })).toEqual([{ label: "collectd /var/run/collectd/collectd.sock", error: null }]);
    expect(called).toBe(false);
  });
});

describe("unixsockExchange against a unix socket server", () => {
  const dir = mkdtempSync(join(tmpdir(), "iptmon-unixsock-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** A server that answers each line with `answer(line)`, or never when that gives null. */
  function serve(name: string, answer: (line: string) => string | null) {
    const path = join(dir, name);
    const received: string[] = [];
    // Replies wait in `out` while the client's buffer is full, as a blocking fprintf would.
    const flush = (s: { write(b: Uint8Array): number; data: { out: Buffer } }) => {
      while (s.data.out.length > 0) {
        const n = s.write(s.data.out);
        if (n <= 0) break;
        s.data.out = s.data.out.subarray(n);
      }
    };
    const server = Bun.listen<{ buf: string; out: Buffer }>({
      unix: path,
      socket: {
        open(s) {
          s.data = { buf: "", out: Buffer.alloc(0) };
        },
        drain: flush,
        data(s, chunk) {
          s.data.buf += chunk.toString();
          let nl: number;
          while ((nl = s.data.buf.indexOf("\n")) >= 0) {
            const line = s.data.buf.slice(0, nl);
            s.data.buf = s.data.buf.slice(nl + 1);
            received.push(line);
            const a = answer(line);
            if (a !== null) s.data.out = Buffer.concat([s.data.out, Buffer.from(`${a}\n`)]);
          }
          flush(s);
        },
      },
    });
    return { path, received, stop: () => server.stop(true) };
  }

  test("sends every line and reads one reply per line, even many at once", async () => {
    const srv = serve("ok.sock", (l) => (l.includes(":13") ? "-1 nope" : "0 Success: 1 value has been dispatched."));
    const lines = Array.from({ length: 2000 }, (_, i) => `PUTVAL "h/p/t-${"x".repeat(40)}${i}" interval=60 1:${i}`);
    const replies = await unixsockExchange(srv.path, lines, 5000);
    srv.stop();
    expect(srv.received).toEqual(lines);
    expect(replies).toHaveLength(2000);
    expect(replies.filter((r) => !replyOk(r))).toHaveLength(lines.filter((l) => l.includes(":13")).length);
  });

  test("a server that does not answer: timed out", async () => {
    const srv = serve("mute.sock", () => null);
    const t0 = Date.now();
    await expect(unixsockExchange(srv.path, ["PUTVAL x 1:1"], 300)).rejects.toThrow("timed out after 0.3 s");
    expect(Date.now() - t0).toBeLessThan(2000);
    srv.stop();
  });

  test("no socket: a clear cause", async () => {
    await expect(unixsockExchange(join(dir, "missing.sock"), ["PUTVAL x 1:1"], 1000)).rejects.toThrow("no such socket (is collectd running with the unixsock plugin?)");
  });
});
