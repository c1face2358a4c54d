/**
 * The hosts' traffic page: polls the CGI, fills the table and the chart.
 * Everything from the router goes into the page as text (textContent,
 * canvas fillText), never as markup: host names come from DHCP clients.
 */
import { humanBits, humanBytes, humanRate } from "../../src/top/format.ts";
import { SORT_KEYS } from "../../src/top/rates.ts";
import { Model, niceMax, parseStatus, type HostRate, type SortKey } from "./model.ts";

const DATA_URL = "/cgi-bin/iptmon-hosts";
const params = new URLSearchParams(location.search);
const INTERVAL_MS = Math.min(60, Math.max(1, Number(params.get("interval")) || 2)) * 1000;
const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd"];

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

function renderTable(): void {
  const usage = model.hasUsage();
  for (const th of document.querySelectorAll<HTMLElement>("[data-usage]")) th.hidden = !usage;
  for (const th of document.querySelectorAll<HTMLElement>("th[data-sort]")) {
    th.setAttribute("aria-sort", th.dataset.sort === model.sort ? (model.sort === "name" ? "ascending" : "descending") : "none");
  }
  $("sorted").textContent = SORT_KEYS[model.sort];
  const rows = model.rows();
  $("rows").replaceChildren(...rows.map((h) => row(h, usage)));
  const r = model.rates;
  const sum = (f: (h: HostRate) => number | null) => (r ? r.hosts.reduce((a, h) => a + (f(h) ?? 0), 0) : 0);
  const known = r !== null && r.interval_s > 0;
  $("total-hosts").textContent = `${rows.length} host${rows.length === 1 ? "" : "s"}`;
  $("total-down").textContent = known ? humanBits(sum((h) => h.tx_bps)) : "-";
  $("total-up").textContent = known ? humanBits(sum((h) => h.rx_bps)) : "-";
}

function renderChart(): void {
  const canvas = $<HTMLCanvasElement>("chart");
  const series = model.chart();
  const legend = $("legend");
  legend.replaceChildren(
    ...series.map((s, i) => {
      const li = el("li", s.host.name);
      li.style.setProperty("--c", COLORS[i % COLORS.length]!);
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
  series.forEach((s, i) => {
    g.strokeStyle = COLORS[i % COLORS.length]!;
    g.beginPath();
    s.points.forEach((p, j) => (j === 0 ? g.moveTo(x(p.at), y(p.bps)) : g.lineTo(x(p.at), y(p.bps))));
    g.stroke();
    // A host's first rate is a point with no line yet: mark it.
    const end = s.points[s.points.length - 1]!;
    g.fillStyle = COLORS[i % COLORS.length]!;
    g.beginPath();
    g.arc(Math.min(x(end.at), w - 3), y(end.bps), 3, 0, 2 * Math.PI);
    g.fill();
  });
}

function setState(text: string, error = false): void {
  const s = $("state");
  s.textContent = text;
  s.classList.toggle("error", error);
}

async function poll(): Promise<void> {
  try {
    const res = await fetch(DATA_URL, { cache: "no-store", headers: { Accept: "application/json" } });
    const at = performance.now();
    const body = await res.text();
    if (!res.ok) {
      // Disabled (403) or failing (500): show why, and no numbers at all.
      model.prev = model.cur = model.rates = null;
      model.history.clear();
      renderTable();
      renderChart();
      setState(`${res.status} ${res.statusText}: ${body.trim().slice(0, 300)}`, true);
      return;
    }
    model.add(parseStatus(body), at);
    polls++;
    document.body.dataset.polls = String(polls);
    renderTable();
    renderChart();
    setState(`backend ${model.rates!.backend}, updated ${new Date().toLocaleTimeString()}, every ${INTERVAL_MS / 1000} s`);
  } catch (e) {
    setState(`cannot read the hosts: ${(e as Error).message}`, true);
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
