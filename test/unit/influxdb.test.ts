import { describe, expect, test } from "bun:test";
import { parseConfig, sectionsOf } from "../../src/config.ts";
import {
  describeFetchError,
  describeHttpError,
  escapeTagValue,
  influxRequest,
  readInfluxTarget,
  renderLineProtocol,
  type InfluxTarget,
} from "../../src/exporters/influxdb.ts";
import { listPushTargets } from "../../src/exporters/push.ts";
import { main } from "../../src/main.ts";
import type { StatusHost } from "../../src/status.ts";
import { laptopNftJson, statusHost } from "../helpers/builders.ts";
import { fakeSys, ok, type FakeSys } from "../helpers/fakesys.ts";

const host = statusHost;

const HOSTILE = ['quo"te', "back\\slash", "new\nline", "$(x)", "com,ma", "sp ace", "eq=ual", "ünïcode", "x".repeat(300), "trail\\", "a\\,b", " ,= "];

/**
 * Splits a line-protocol line the way InfluxDB does: an unescaped space ends
 * the key (measurement and tags) and the fields; an unescaped comma separates
 * tags; `\,` `\ ` `\=` stand for themselves.
 */
function parseLine(line: string): { measurement: string; tags: Record<string, string>; fields: string; time: string } {
  const parts: string[] = [];
  let cur = "";
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === "\\" && i + 1 < line.length) {
      cur += c + line[++i];
    } else if (c === " " && parts.length < 2) {
      parts.push(cur);
      cur = "";
    } else cur += c;
  }
  parts.push(cur);
  if (parts.length !== 3) throw new Error(`not 3 parts: ${JSON.stringify(line)}`);
  const splitUnescaped = (s: string, sep: string) => {
    const out: string[] = [];
    let c = "";
    for (let i = 0; i < s.length; i++) {
      if (s[i] === "\\") {
        c += s[i]! + (s[i + 1] ?? "");
        i++;
      } else if (s[i] === sep) {
        out.push(c);
        c = "";
      } else c += s[i];
    }
    out.push(c);
    return out;
  };
  const unescape = (s: string) => s.replace(/\\([,= ])/g, "$1");
  const [m, ...tagParts] = splitUnescaped(parts[0]!, ",");
  const tags: Record<string, string> = {};
  for (const t of tagParts) {
    const [k, v, ...rest] = splitUnescaped(t, "=");
    if (rest.length) throw new Error(`tag with an unescaped '=': ${t}`);
    tags[unescape(k!)] = unescape(v!);
  }
  return { measurement: unescape(m!), tags, fields: parts[1]!, time: parts[2]! };
}

describe("renderLineProtocol", () => {
  test("one point per host: tags host and mac, integer fields, time in seconds", () => {
    expect(renderLineProtocol([host("laptop", "02:00:00:00:00:01"), host("printer", null, 2)], 1_800_000_000)).toBe(
      "iptmon,host=laptop,mac=02:00:00:00:00:01 rx_bytes=1000i,rx_packets=10i,tx_bytes=2000i,tx_packets=20i 1800000000\n" +
        "iptmon,host=printer rx_bytes=2000i,rx_packets=20i,tx_bytes=4000i,tx_packets=40i 1800000000\n",
    );
  });

  test("a measurement of one's own, escaped", () => {
    expect(renderLineProtocol([host("a", null)], 5, "my m,x")).toStartWith("my\\ m\\,x,host=a ");
  });

  test("no hosts: empty body", () => {
    expect(renderLineProtocol([], 5)).toBe("");
  });

  test("escapes commas, spaces and equals signs in tag values", () => {
    expect(escapeTagValue("a,b c=d")).toBe("a\\,b\\ c\\=d");
  });

  test("backslash and control characters, which line protocol cannot carry, become _", () => {
    expect(escapeTagValue("a\\b\nc\rd\te\x7f")).toBe("a_b_c_d_e_");
  });

  test("hostile host names: one line each, three parts, tags read back as meant", () => {
    const hosts = HOSTILE.map((n, i) => host(n, `02:00:00:00:01:${String(i).padStart(2, "0")}`, i + 1));
    const body = renderLineProtocol(hosts, 1_800_000_000);
    const lines = body.split("\n");
    expect(lines.pop()).toBe("");
    expect(lines).toHaveLength(HOSTILE.length);
    lines.forEach((l, i) => {
      const p = parseLine(l);
      expect(p.measurement).toBe("iptmon");
      expect(Object.keys(p.tags)).toEqual(["host", "mac"]);
      expect(p.tags.host).toBe(HOSTILE[i]!.replace(/[\\\n]/g, "_"));
      expect(p.tags.mac).toBe(hosts[i]!.mac!);
      expect(p.fields).toBe(`rx_bytes=${1000 * (i + 1)}i,rx_packets=${10 * (i + 1)}i,tx_bytes=${2000 * (i + 1)}i,tx_packets=${20 * (i + 1)}i`);
      expect(p.time).toBe("1800000000");
    });
  });
});

const target = (t: Partial<InfluxTarget>): InfluxTarget => ({ url: "http://nas:8086", version: "1", measurement: "iptmon", timeoutMs: 5000, ...t });

describe("influxRequest", () => {
  test("1.x: /write with db, rp, precision=s and basic auth", () => {
    const r = influxRequest(target({ database: "net db", retentionPolicy: "week", username: "u", password: "p:w" }), "x");
    expect(r.url).toBe("http://nas:8086/write?db=net+db&rp=week&precision=s");
    expect(r.init.method).toBe("POST");
    expect(r.init.headers.Authorization).toBe(`Basic ${Buffer.from("u:p:w").toString("base64")}`);
    expect(r.init.body).toBe("x");
  });

  test("1.x without credentials or rp; a path prefix and trailing slash are kept", () => {
    const r = influxRequest(target({ url: "https://proxy/influx/", database: "iptmon" }), "x");
    expect(r.url).toBe("https://proxy/influx/write?db=iptmon&precision=s");
    expect(r.init.headers.Authorization).toBeUndefined();
  });

  test("2.x: /api/v2/write with org, bucket and a token", () => {
    const r = influxRequest(target({ version: "2", org: "home", bucket: "net&co", token: "s3cr=t" }), "x");
    expect(r.url).toBe("http://nas:8086/api/v2/write?org=home&bucket=net%26co&precision=s");
    expect(r.init.headers.Authorization).toBe("Token s3cr=t");
  });
});

describe("errors", () => {
  test("HTTP errors name status, reason and the server's message", () => {
    expect(describeHttpError(401, '{"error":"authorization failed"}\n')).toBe("HTTP 401 Unauthorized: authorization failed");
    expect(describeHttpError(404, '{"code":"not found","message":"bucket \\"x\\" not found"}')).toBe('HTTP 404 Not Found: bucket "x" not found');
    expect(describeHttpError(500, "")).toBe("HTTP 500 Internal Server Error");
    expect(describeHttpError(599, "<html>\n<body>oops</body>\n</html>")).toBe("HTTP 599: <html> <body>oops</body> </html>");
    expect(describeHttpError(500, "y".repeat(1000)).length).toBeLessThanOrEqual(200);
  });

  test("fetch errors: refused, timed out, anything else as it is", () => {
    expect(describeFetchError(Object.assign(new TypeError("Unable to connect"), { code: "ECONNREFUSED" }), 5000)).toBe("connection refused");
    expect(describeFetchError(new DOMException("The operation timed out.", "TimeoutError"), 2000)).toBe("timed out after 2 s");
    expect(describeFetchError(new Error("getaddrinfo ENOTFOUND nas"), 5000)).toBe("getaddrinfo ENOTFOUND nas");
  });
});

describe("config influxdb", () => {
  const cfg = (text: string) => parseConfig(text, "/etc/config/iptmon");
  const deps = { sys: fakeSys() };

  test("missing url, database, or 2.x token: an error naming the section", () => {
    const c = cfg(
      "config influxdb 'a'\n\toption database 'x'\n" +
        "config influxdb 'b'\n\toption url 'http://nas:8086'\n" +
        "config influxdb 'c'\n\toption url 'http://nas:8086'\n\toption version '2'\n\toption org 'o'\n\toption bucket 'b'\n" +
        "config influxdb 'd'\n\toption url 'ftp://nas'\n\toption database 'x'\n",
    );
    const { targets, problems } = listPushTargets(c, deps);
    expect(targets).toHaveLength(0);
    expect(problems).toEqual([
      { label: "influxdb", error: "option 'url' is missing in config influxdb 'a' (/etc/config/iptmon:1)" },
      { label: "influxdb http://nas:8086", error: "option 'database' is missing (needed by version 1) in config influxdb 'b' (/etc/config/iptmon:3)" },
      { label: "influxdb http://nas:8086", error: "option 'token' is missing (needed by version 2) in config influxdb 'c' (/etc/config/iptmon:5)" },
      { label: "influxdb ftp://nas", error: "option 'url' must be http:// or https:// in config influxdb 'd' (/etc/config/iptmon:10)" },
    ]);
  });

  test("disabled sections are no targets; credentials never reach the label", () => {
    const c = cfg(
      "config influxdb\n\toption enabled '0'\n\toption url 'http://a:8086'\n\toption database 'x'\n" +
        "config influxdb\n\toption url 'http://user:pw@b:8086/'\n\toption database 'x'\n",
    );
    const { targets, problems } = listPushTargets(c, deps);
    expect(problems).toEqual([]);
    expect(targets.map((t) => t.label)).toEqual(["influxdb http://b:8086"]);
  });

  test("a bad value skips the section with a warning, and the rest of the config still loads", () => {
    const c = cfg("config iptmon\n\toption lan_subnet '10.0.0.0/8'\nconfig influxdb\n\toption timeout 'soon'\n\toption url 'http://a'\n");
    expect(c.lanSubnets).toHaveLength(1);
    expect(c.sections).toHaveLength(0);
    expect(c.warnings).toEqual(["cannot read /etc/config/iptmon:4: option 'timeout' must be an integer: 'soon' (section skipped)"]);
  });

  test("readInfluxTarget defaults: version 1, measurement iptmon, timeout 5 s", async () => {
    const c = cfg("config influxdb\n\toption url 'http://nas:8086'\n\toption database 'd'\n");
    const calls: { url: string; timeoutMs: number; body: string }[] = [];
    const sys = fakeSys();
    sys.fetch = async (url, init) => {
      calls.push({ url, timeoutMs: init.timeoutMs, body: String(init.body) });
      return { status: 204, body: "" };
    };
    const t = readInfluxTarget(c.file, sectionsOf(c, "influxdb")[0]!, { sys });
    if ("error" in t) throw new Error(t.error);
    await t.send({ time: 42, interval: 60, hosts: [host("a", null)] });
    expect(calls).toEqual([{ url: "http://nas:8086/write?db=d&precision=s", timeoutMs: 5000, body: "iptmon,host=a rx_bytes=1000i,rx_packets=10i,tx_bytes=2000i,tx_packets=20i 42\n" }]);
  });
});

describe("iptmon push (influxdb)", () => {
  const nftJson = laptopNftJson();
  const CONFIG = `config iptmon
	option push_interval '5'
config influxdb 'good'
	option url 'http://good:8086'
	option database 'iptmon'
config influxdb 'locked'
	option url 'http://locked:8086'
	option database 'iptmon'
	option username 'me'
	option password 'secret'
config influxdb 'v2'
	option url 'http://two:8086'
	option version '2'
	option org 'home'
	option bucket 'net'
	option token 'tok'
	option timeout '2'
`;
  function setup(config: string, answer: (url: string) => { status: number; body: string } | Error): { sys: FakeSys; calls: { url: string; init: RequestInit & { timeoutMs: number } }[] } {
    const sys = fakeSys({ files: { "/etc/config/iptmon": config }, commands: { "nft list tables": ok(), "nft -j list table inet iptmon": ok(nftJson) } });
    const calls: { url: string; init: RequestInit & { timeoutMs: number } }[] = [];
    sys.fetch = async (url, init) => {
      calls.push({ url, init });
      const a = answer(url);
      if (a instanceof Error) throw a;
      return a;
    };
    return { sys, calls };
  }

  test("every target gets the same sample; quiet and exit 0 on success", async () => {
    const { sys, calls } = setup(CONFIG, () => ({ status: 204, body: "" }));
    expect(await main(["push"], sys)).toBe(0);
    expect(sys.err).toBe("");
    expect(sys.out).toBe("");
    expect(calls.map((c) => c.url)).toEqual([
      "http://good:8086/write?db=iptmon&precision=s",
      "http://locked:8086/write?db=iptmon&precision=s",
      "http://two:8086/api/v2/write?org=home&bucket=net&precision=s",
    ]);
    const line = "iptmon,host=laptop,mac=02:00:00:00:00:01 rx_bytes=700i,rx_packets=7i,tx_bytes=9000i,tx_packets=9i 1800000000\n";
    for (const c of calls) expect(c.init.body).toBe(line);
    expect(calls.map((c) => c.init.timeoutMs)).toEqual([5000, 5000, 2000]);
  });

  test("a 401, a 500 and a timeout: one line each naming the target, exit 1, the good target still written", async () => {
    const { sys, calls } = setup(CONFIG, (url) =>
      url.includes("locked")
        ? { status: 401, body: '{"error":"authorization failed"}' }
        : url.includes("two")
          ? new DOMException("The operation timed out.", "TimeoutError")
          : { status: 204, body: "" },
    );
    expect(await main(["push"], sys)).toBe(1);
    expect(calls).toHaveLength(3);
    expect(sys.err).toBe(
      "iptmon: cannot push to influxdb http://locked:8086: HTTP 401 Unauthorized: authorization failed\n" +
        "iptmon: cannot push to influxdb http://two:8086: timed out after 2 s\n",
    );
    expect(sys.err).not.toContain("secret");
  });

  test("a closed port", async () => {
    const { sys } = setup(CONFIG, (url) =>
      url.includes("good") ? Object.assign(new TypeError("Unable to connect"), { code: "ECONNREFUSED" }) : { status: 500, body: '{"error":"engine: cache full"}' },
    );
    expect(await main(["push"], sys)).toBe(1);
    expect(sys.err.split("\n").filter(Boolean)).toEqual([
      "iptmon: cannot push to influxdb http://good:8086: connection refused",
      "iptmon: cannot push to influxdb http://locked:8086: HTTP 500 Internal Server Error: engine: cache full",
      "iptmon: cannot push to influxdb http://two:8086: HTTP 500 Internal Server Error: engine: cache full",
    ]);
  });

  test("a broken section is reported, the others still pushed", async () => {
    const { sys, calls } = setup(`${CONFIG}config influxdb 'half'\n\toption url 'http://half:8086'\n`, () => ({ status: 204, body: "" }));
    expect(await main(["push"], sys)).toBe(1);
    expect(calls).toHaveLength(3);
    expect(sys.err).toBe("iptmon: cannot push to influxdb http://half:8086: option 'database' is missing (needed by version 1) in config influxdb 'half' (/etc/config/iptmon:18)\n");
  });

  test("no target enabled: says so, exit 0, reads no counters", async () => {
    const { sys, calls } = setup("config iptmon\nconfig influxdb\n\toption enabled '0'\n\toption url 'http://x'\n", () => ({ status: 204, body: "" }));
    expect(await main(["push"], sys)).toBe(0);
    expect(calls).toHaveLength(0);
    expect(sys.calls).toHaveLength(0);
    expect(sys.err).toBe("iptmon: nothing to push: no enabled 'config influxdb' or 'config collectd' section in /etc/config/iptmon\n");
  });

  test("a skipped section is warned about even without --verbose", async () => {
    const { sys } = setup("config influxdb\n\toption version '3'\n\toption url 'http://x'\n", () => ({ status: 204, body: "" }));
    expect(await main(["push"], sys)).toBe(0);
    expect(sys.err).toStartWith("iptmon: warning: cannot read /etc/config/iptmon:2: option 'version' must be one of 1, 2: '3' (section skipped)\n");
  });
});
