/**
 * The hosts' traffic page: polls the CGI (`iptmon status --json --busiest`:
 * the busiest hosts, with the count and totals of all), fills the table and
 * the chart. Everything from the router goes into the page as text
 * (textContent, canvas fillText), never as markup: host names come from DHCP
 * clients. When a reading fails the last one stays, marked stale; when the
 * router says no (403: the HTTP opt-in is off) only its message shows.
 */
import { humanBits, humanBytes, humanRate } from "../../src/top/format.ts";
import { SORT_KEYS } from "../../src/top/rates.ts";
import { Model, niceMax, parseStatus, type HostRate, type SortKey } from "./model.ts";

const DATA_URL = "/cgi-bin/iptmon-hosts";
const params = new URLSearchParams(location.search);
const INTERVAL_MS = Math.min(60, Math.max(1, Number(params.get("interval")) || 2)) * 1000;

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const model = new Model();
let polls = 0;

function el(tag: string, text?: string, cls?: string): HTMLElement {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (cls) e.className = cls;
  return e;
}

/** A number cell: the exact value in data-value (for scripts and tests), the human one shown. */
function num(value: number | null, text: string, label: string): HTMLElement {
  const td = el("td", text, "num");
  td.dataset.value = value === null ? "" : String(value);
  td.dataset.label = label;
  return td;
}

function row(h: HostRate, usage: boolean): HTMLElement {
  const tr = el("tr");
  tr.dataset.key = h.key;
  const host = el("td", undefined, "host");
  host.append(el("div", h.name, "name"), el("div", [h.mac ?? h.key, ...h.addresses].join(" "), "addr"));
  tr.append(
    host,
    num(h.tx_bps, humanRate(h.tx_bps), "Download"),
    num(h.rx_bps, humanRate(h.rx_bps), "Upload"),
    num(h.tx_bytes, humanBytes(h.tx_bytes), "Total down"),
    num(h.rx_bytes, humanBytes(h.rx_bytes), "Total up"),
  );
  if (usage) {
    const u = h.usage;
    tr.append(
      num(u ? u.tx_bytes : null, u ? humanBytes(u.tx_bytes) : "-", "Period down"),
      num(u ? u.rx_bytes : null, u ? humanBytes(u.rx_bytes) : "-", "Period up"),
    );
  }
  return tr;
}

/** A period as people say it: its name, and its first and last day. */
function periodText(p: NonNullable<ReturnType<Model["period"]>>): string {
  const day = (t: number) => new Date(t * 1000).toLocaleDateString(undefined, { day: "numeric", month: "short", year: "numeric" });
  return `${p.name} (${day(p.start)} to ${day(p.end - 1)})`;
}

function renderTable(): void {
  const usage = model.hasUsage();
  for (const e of document.querySelectorAll<HTMLElement>("[data-usage]")) e.hidden = !usage;
  const period = model.period();
  for (const e of document.querySelectorAll<HTMLElement>(".period-name")) e.textContent = period ? period.name : "this period";
  $("period").textContent = usage && period ? `This period: ${periodText(period)}.` : "";
  for (const th of document.querySelectorAll<HTMLElement>("th[data-sort]")) {
    th.setAttribute("aria-sort", th.dataset.sort === model.sort ? (model.sort === "name" ? "ascending" : "descending") : "none");
  }
  $("sorted").textContent = SORT_KEYS[model.sort];
  const rows = model.rows();
  $("rows").replaceChildren(...rows.map((h) => row(h, usage)));
  const f = model.footer();
  const put = (id: string, value: number | null, text: string) => {
    const td = $(id);
    td.textContent = text;
    td.dataset.value = value === null ? "" : String(value);
  };
  const count = f ? f.count : 0;
  const shown = f ? f.shown : 0;
  $("total-hosts").textContent = shown === count ? `${count} host${count === 1 ? "" : "s"}` : `${shown} of ${count} hosts shown (the busiest this period)`;
  $("total-hosts").dataset.value = `${shown}/${count}`;
  put("total-down", f?.tx_bps ?? null, f && f.tx_bps !== null ? humanBits(f.tx_bps) : "-");
  put("total-up", f?.rx_bps ?? null, f && f.rx_bps !== null ? humanBits(f.rx_bps) : "-");
  put("total-total-down", f?.tx_bytes ?? null, f ? humanBytes(f.tx_bytes) : "-");
  put("total-total-up", f?.rx_bytes ?? null, f ? humanBytes(f.rx_bytes) : "-");
  put("total-period-down", f?.usage?.tx_bytes ?? null, f?.usage ? humanBytes(f.usage.tx_bytes) : "-");
  put("total-period-up", f?.usage?.rx_bytes ?? null, f?.usage ? humanBytes(f.usage.rx_bytes) : "-");
}

function renderChart(): void {
  const canvas = $<HTMLCanvasElement>("chart");
  const series = model.chart();
  const legend = $("legend");
  legend.replaceChildren(
    ...series.map((s) => {
      const li = el("li", s.host.name);
      li.style.setProperty("--c", s.color);
      li.dataset.key = s.host.key;
      li.dataset.color = s.color;
      return li;
    }),
  );
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth;
  const h = canvas.clientHeight;
  canvas.width = Math.round(w * dpr);
  canvas.height = Math.round(h * dpr);
  const g = canvas.getContext("2d");
  if (!g) return;
  g.scale(dpr, dpr);
  g.clearRect(0, 0, w, h);
  const style = getComputedStyle(canvas);
  g.font = `12px ${style.fontFamily}`;
  g.fillStyle = style.color;
  g.strokeStyle = style.color;
  const now = performance.now();
  const span = INTERVAL_MS * 60;
  const top = niceMax(Math.max(0, ...series.flatMap((s) => s.points.map((p) => p.bps))));
  const left = 8;
  const pad = 16;
  const plotH = h - 2 * pad;
  const x = (at: number) => left + (w - left) * (1 - (now - at) / span);
  const y = (bps: number) => pad + plotH * (1 - bps / top);
  g.globalAlpha = 0.25;
  for (const f of [0, 0.5, 1]) {
    g.beginPath();
    g.moveTo(left, y(top * f));
    g.lineTo(w, y(top * f));
    g.stroke();
  }
  g.globalAlpha = 1;
  g.fillText(humanBits(top), left + 2, pad - 4);
  const minutes = span / 60_000;
  const last = minutes >= 2 ? `${Math.round(minutes)} minutes` : `${Math.round(span / 1000)} seconds`;
  g.fillText(series.length ? `download + upload of the busiest hosts, last ${last}` : "waiting for a second reading", left + 2, h - 2);
  g.lineWidth = 2;
  for (const s of series) {
    g.strokeStyle = s.color;
    g.beginPath();
    s.points.forEach((p, j) => (j === 0 ? g.moveTo(x(p.at), y(p.bps)) : g.lineTo(x(p.at), y(p.bps))));
    g.stroke();
    // A host's first rate is a point with no line yet: mark it.
    const end = s.points[s.points.length - 1]!;
    g.fillStyle = s.color;
    g.beginPath();
    g.arc(Math.min(x(end.at), w - 3), y(end.bps), 3, 0, 2 * Math.PI);
    g.fill();
  }
}

function setState(text: string, error = false): void {
  const s = $("state");
  s.textContent = text;
  s.classList.toggle("error", error);
}

/**
 * How the page stands: `live` (the last reading is shown), `stale` (a reading
 * failed: the last one stays, greyed and said to be old), `refused` (the
 * router will not give the data: only its message shows, no table or chart).
 */
function setMode(mode: "live" | "stale" | "refused"): void {
  document.body.dataset.mode = mode;
  $("data").hidden = mode === "refused";
}

const clock = (at: number) => new Date(Date.now() - (performance.now() - at)).toLocaleTimeString();

/** A reading failed: what is on screen is old, and says so (none yet: nothing is shown). */
function failed(why: string): void {
  if (model.lastAt === null) {
    setMode("refused");
    setState(`${why}; no reading yet`, true);
    return;
  }
  setMode("stale");
  setState(`${why}; showing the reading of ${clock(model.lastAt)}, now out of date`, true);
}

async function poll(): Promise<void> {
  try {
    let res: Response;
    let body: string;
    try {
      res = await fetch(DATA_URL, { cache: "no-store", headers: { Accept: "application/json" } });
      body = await res.text();
    } catch (e) {
      failed(`cannot reach the router (${(e as Error).message})`);
      return;
    }
    const at = performance.now();
    const why = `${res.status} ${res.statusText}: ${body.trim().slice(0, 300)}`;
    if (res.status === 403) {
      // The HTTP opt-in is off: the data is not to be shown, not even an old reading.
      model.clear();
      renderTable();
      setMode("refused");
      setState(why, true);
      return;
    }
    if (!res.ok) {
      failed(why);
      return;
    }
    let status;
    try {
      status = parseStatus(body);
    } catch (e) {
      failed((e as Error).message);
      return;
    }
    const t0 = performance.now();
    model.add(status, at);
    polls++;
    setMode("live");
    renderTable();
    renderChart();
    setState(`backend ${model.rates!.backend}, updated ${new Date().toLocaleTimeString()}, every ${INTERVAL_MS / 1000} s`);
    document.body.dataset.refreshMs = (performance.now() - t0).toFixed(1);
    document.body.dataset.polls = String(polls);
  } catch (e) {
    failed(`cannot show the hosts: ${(e as Error).message}`);
  } finally {
    setTimeout(poll, INTERVAL_MS);
  }
}

for (const th of document.querySelectorAll<HTMLElement>("th[data-sort]")) {
  const button = th.querySelector("button");
  button?.addEventListener("click", () => {
    model.sort = th.dataset.sort as SortKey;
    renderTable();
  });
}
$("busiest").addEventListener("click", () => {
  model.sort = "rate";
  renderTable();
});
window.addEventListener("resize", renderChart);
void poll();
