/**
 * InfluxDB: one line-protocol request per push. 1.x takes `/write?db=…`,
 * 2.x `/api/v2/write?org=…&bucket=…` with a token. Schema (see
 * grafana/iptmon-influxdb.json): measurement `iptmon`, tags `host` and `mac`,
 * integer fields rx_bytes, rx_packets, tx_bytes, tx_packets, time in seconds.
 */
import { DEFAULTS } from "../defaults.ts";
import { oneLine, quoteInput, quoteValue } from "../errors.ts";
import type { StatusHost } from "../status.ts";
import type { ExporterSection } from "../config.ts";
import { type PushDeps, type PushTarget, type Sample } from "./push.ts";


export interface InfluxTarget {
  url: string;
  version: "1" | "2";
  database?: string;
  retentionPolicy?: string;
  username?: string;
  password?: string;
  org?: string;
  bucket?: string;
  token?: string;
  measurement: string;
  timeoutMs: number;
}

/*
 * Line protocol has no escape for newline, and a backslash means different
 * things to 1.x (kept literally, but refused before a separator or at the end
 * of a tag value: "invalid tag format", checked with 1.6) and 2.x (an escape).
 * Host names never hold either (they are reduced to [A-Za-z0-9._-]); should
 * one get through, it becomes `_` rather than corrupt the request.
 */
const UNCARRIABLE = /[\\\x00-\x1f\x7f]/g;

export function escapeTagValue(s: string): string {
  return s.replace(UNCARRIABLE, "_").replace(/[,= ]/g, "\\$&");
}

export function escapeMeasurement(s: string): string {
  return s.replace(UNCARRIABLE, "_").replace(/[, ]/g, "\\$&");
}

/** One point per host; a tag with an empty value is left out (line protocol refuses it). */
export function renderLineProtocol(hosts: StatusHost[], time: number, measurement: string = DEFAULTS.influxMeasurement): string {
  return hosts
    .map((h) => {
      const tags = [
        ["host", h.name],
        ["mac", h.mac ?? ""],
      ]
        .filter(([, v]) => v !== "")
        .map(([k, v]) => `,${k}=${escapeTagValue(v!)}`)
        .join("");
      const fields = `rx_bytes=${int(h.rx_bytes)}i,rx_packets=${int(h.rx_packets)}i,tx_bytes=${int(h.tx_bytes)}i,tx_packets=${int(h.tx_packets)}i`;
      return `${escapeMeasurement(measurement)}${tags} ${fields} ${Math.trunc(time)}\n`;
    })
    .join("");
}

const int = (n: number) => String(Math.trunc(n));

/** The URL without credentials, for messages. */
export function displayUrl(url: string): string {
  try {
    const u = new URL(url);
    u.username = "";
    u.password = "";
    return u.toString().replace(/\/$/, "");
  } catch {
    return url;
  }
}

export interface HttpRequest {
  url: string;
  init: { method: "POST"; headers: Record<string, string>; body: string };
}

/** The write request for `body`. Pure. */
export function influxRequest(t: InfluxTarget, body: string): HttpRequest {
  const u = new URL(t.url);
  const base = u.pathname.replace(/\/+$/, "");
  const headers: Record<string, string> = { "Content-Type": "text/plain; charset=utf-8" };
  const q = new URLSearchParams();
  if (t.version === "2") {
    u.pathname = `${base}/api/v2/write`;
    q.set("org", t.org!);
    q.set("bucket", t.bucket!);
    headers.Authorization = `Token ${t.token}`;
  } else {
    u.pathname = `${base}/write`;
    q.set("db", t.database!);
    if (t.retentionPolicy) q.set("rp", t.retentionPolicy);
    if (t.username !== undefined) headers.Authorization = `Basic ${Buffer.from(`${t.username}:${t.password ?? ""}`).toString("base64")}`;
  }
  q.set("precision", "s");
  u.search = q.toString();
  return { url: u.toString(), init: { method: "POST", headers, body } };
}

const REASONS: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  413: "Payload Too Large",
  422: "Unprocessable Entity",
  429: "Too Many Requests",
  500: "Internal Server Error",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
};

/** "HTTP 401 Unauthorized: authorization failed" from a refused write; 1.x says {"error"}, 2.x {"message"}. */
export function describeHttpError(status: number, body: string): string {
  let detail = body.trim();
  try {
    const j = JSON.parse(detail) as { error?: unknown; message?: unknown };
    if (typeof j.error === "string") detail = j.error;
    else if (typeof j.message === "string") detail = j.message;
  } catch {
    // not JSON: the text itself
  }
  const head = `HTTP ${status}${REASONS[status] ? ` ${REASONS[status]}` : ""}`;
  return oneLine(detail ? `${head}: ${detail}` : head);
}

/** A fetch that failed before any answer: refused, timed out, no such host. */
export function describeFetchError(e: unknown, timeout: number): string {
  const err = e as { name?: string; code?: string; message?: string };
  if (err?.name === "TimeoutError" || err?.name === "AbortError") return `timed out after ${timeout / 1000} s`;
  if (err?.code === "ECONNREFUSED" || err?.code === "ConnectionRefused") return "connection refused";
  return err?.message ?? String(e);
}

export function readInfluxTarget(file: string, sec: ExporterSection<"influxdb">, deps: PushDeps): PushTarget | { label: string; error: string } {
  const o = sec.options;
  const url = o.url;
  const where = `${sec.name ? `${quoteValue(sec.name)} ` : ""}(${file}:${sec.line})`;
  const label = url ? `influxdb ${displayUrl(url)}` : "influxdb";
  const fail = (why: string) => ({ label, error: `${why} in config influxdb ${where}` });
  if (!url) return fail("option 'url' is missing");
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return fail(`option 'url' is not a URL: ${quoteInput(url)}`);
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") return fail(`option 'url' must be http:// or https://`);
  const t: InfluxTarget = {
    url,
    version: o.version,
    database: o.database ?? undefined,
    retentionPolicy: o.retentionPolicy ?? undefined,
    username: o.username ?? undefined,
    password: o.password ?? undefined,
    org: o.org ?? undefined,
    bucket: o.bucket ?? undefined,
    token: o.token ?? undefined,
    measurement: o.measurement,
    timeoutMs: o.timeout * 1000,
  };
  const need = t.version === "2" ? (["org", "bucket", "token"] as const) : (["database"] as const);
  for (const k of need) if (!t[k]) return fail(`option '${k}' is missing (needed by version ${t.version})`);
  return { label, send: (s) => sendInflux(t, s, deps) };
}

async function sendInflux(t: InfluxTarget, s: Sample, deps: PushDeps): Promise<void> {
  if (s.hosts.length === 0) return;
  const req = influxRequest(t, renderLineProtocol(s.hosts, s.time, t.measurement));
  let res: { status: number; body: string };
  try {
    res = await deps.sys.fetch(req.url, { ...req.init, timeoutMs: t.timeoutMs });
  } catch (e) {
    throw new Error(describeFetchError(e, t.timeoutMs));
  }
  if (res.status < 200 || res.status > 299) throw new Error(describeHttpError(res.status, res.body));
}
