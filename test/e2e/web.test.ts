/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
// (page.evaluate callbacks run in the browser: they use DOM types)
/**
 * The hosts' traffic page, end to end: busybox httpd (CGI-capable, like
 * uhttpd) serves files/www from inside the virtual router's namespace, and
 * Debian's Chromium, headless and run inside a LAN client's namespace, opens
 * it (driven by playwright-core over a pipe; no browser is downloaded).
 * Checked: 403 and no data while the HTTP opt-in is off, GET and HEAD only,
 * the page's numbers equal `iptmon status --json`, the busy host's rate rises
 * while a client sends at a known rate, sorting, hostile host names shown as
 * text, a stopped server's last reading marked stale, one colour per host,
 * the period named, no console errors, no sideways scrolling on a phone or a
 * narrow window, and at 5,000 hosts (a second table of iptmon's, a second
 * server) the bytes of each poll and the main thread's time per refresh.
 * Screenshots go to artifacts/web/ (gitignored). Everything is removed at the end.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Subprocess } from "bun";
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { BrowserContext, Page } from "playwright-core";
import type { Status, StatusHost } from "../../src/status.ts";
import { humanBytes } from "../../src/top/format.ts";
import { exec, execOk, iptmonBin, iptmonConfig, ROOT, CHROMIUM, chromiumIn, skipReason, SYS_PATH } from "./harness.ts";
import { ROUTER_LAN4, VRouter, VROUTER_NEEDS, WAN4, waitFor } from "./vrouter.ts";

const skip = skipReason("web page", [...VROUTER_NEEDS, CHROMIUM]);
const BIN = skip ? "" : iptmonBin();
const PACE = resolve(import.meta.dir, "../helpers/udp-pace.ts");
const ARTIFACTS = join(ROOT, "artifacts/web");
const PORT = 8080;
const BIG_PORT = 8081;
const BIG = 5000;
const BASE = `http://${ROUTER_LAN4}:${PORT}`;
const BIG_BASE = `http://${ROUTER_LAN4}:${BIG_PORT}`;
const PAGE = `${BASE}/iptmon/?interval=1`;
const DATA = `${BASE}/cgi-bin/iptmon-hosts`;
const RATE = 250_000; // bytes/s: 2 Mbit/s
const BUSY = "upstairs-pc";
const QUIET = "attic-nas";

/** Names a DHCP client could try; the page must show each as the very text it is. */
const HOSTILE = [
  `<img src=x onerror="window.__pwned=1">`,
  "<script>window.__pwned=1</script>",
  `"><svg/onload=window.__pwned=1>`,
  "&lt;b&gt;bold&lt;/b&gt;",
  "javascript:window.__pwned=1",
  "{{constructor.constructor('window.__pwned=1')()}}",
  "new\nline",
  "ünïcode ✓",
  "x".repeat(300),
];

interface Row {
  key: string;
  name: string;
  addr: string;
  values: Record<string, string>;
  texts: Record<string, string>;
}

/** The table as the page shows it: text, and the exact numbers it keeps in data-value. */
function readRows(page: Page): Promise<Row[]> {
  return page.evaluate(() =>
    [...document.querySelectorAll<HTMLTableRowElement>("#rows tr")].map((tr) => {
      const values: Record<string, string> = {};
      const texts: Record<string, string> = {};
      for (const td of tr.querySelectorAll<HTMLElement>("td.num")) {
        values[td.dataset.label!] = td.dataset.value!;
        texts[td.dataset.label!] = td.textContent!;
      }
      return { key: tr.dataset.key!, name: tr.querySelector(".name")!.textContent!, addr: tr.querySelector(".addr")!.textContent!, values, texts };
    }),
  );
}

const polls = (page: Page) => page.evaluate(() => Number(document.body.dataset.polls ?? 0));

describe.skipIf(skip !== null)("the hosts' traffic page in Chromium", () => {
  let vr: VRouter;
  let dir: string;
  let conf: string;
  let ctx: BrowserContext;
  let page: Page;
  let httpd: Subprocess;
  let startHttpd: (port: number, config: string, log: string) => Subprocess;
  const errors: string[] = [];
  const env = () => ({ IPTMON_CONFIG: conf });
  const status = (): StatusHost[] => JSON.parse(execOk(vr.routerNs, [BIN, "status", "--json"], { env: env() }).stdout).hosts;
  /** The opt-in, as the README gives it: a `config prometheus` section with `enabled '1'` (off: '0'). */
  const setOptIn = (on: boolean) =>
    writeFileSync(conf, iptmonConfig(dir, { backend: "nftables", leasefile: vr.leaseFile, extra: `config prometheus 'prometheus'\n\toption enabled '${on ? 1 : 0}'\n` }));
  /** busybox wget from a LAN client: exit code, body, and the status line wget reports. */
  const wget = (url: string, post?: string) =>
    exec(vr.clients[2]!.ns, ["busybox", "wget", "-S", "-q", "-O", "-", ...(post === undefined ? [] : ["--post-data", post]), url], { cleanEnv: true });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "iptmon-web-"));
    conf = join(dir, "iptmon.conf");
    vr = await VRouter.create({ clients: [{ ipv6: false }, { ipv6: false }, { ipv6: false }], dhcpScript: BIN, startDnsmasq: false, scriptEnv: { IPTMON_CONFIG: conf } });
    setOptIn(false);
    await vr.startDnsmasq();
    // The third client asks for markup as its name: dnsmasq and iptmon's name rules deal with it first.
    await Promise.all([vr.takeLease(1, BUSY), vr.takeLease(2, QUIET), vr.takeLease(3, HOSTILE[0]!)]);
    await waitFor(() => status().length === 3, "three hosts in iptmon status", 10_000, 50);

    // The router's web root, as the package installs it.
    const www = join(dir, "www");
    for (const sub of ["iptmon", "cgi-bin"]) mkdirSync(join(www, sub), { recursive: true });
    for (const f of readdirSync(join(ROOT, "files/www/iptmon"))) copyFileSync(join(ROOT, "files/www/iptmon", f), join(www, "iptmon", f));
    copyFileSync(join(ROOT, "files/www/cgi-bin/iptmon-hosts"), join(www, "cgi-bin/iptmon-hosts"));
    chmodSync(join(www, "cgi-bin/iptmon-hosts"), 0o755);
    const bin = join(dir, "bin");
    mkdirSync(bin);
    symlinkSync(BIN, join(bin, "iptmon"));
    startHttpd = (port, config, log) =>
      vr.spawn(vr.routerNs, ["busybox", "httpd", "-f", "-vv", "-p", `${ROUTER_LAN4}:${port}`, "-h", www], {
        cleanEnv: true,
        env: { PATH: `${bin}:${SYS_PATH}`, IPTMON_CONFIG: config, IPTMON_CGI_LIB: join(ROOT, "files/usr/lib/iptmon/cgi.sh") },
        logName: log,
      });
    httpd = startHttpd(PORT, conf, "httpd");
    await waitFor(() => wget(`${BASE}/iptmon/index.html`).code === 0, "busybox httpd to answer", 10_000, 50);

    // Chromium inside the third client's namespace; the pipe to it goes through `ip netns exec`.
    ctx = await chromiumIn(vr.clients[2]!.ns, dir, ROUTER_LAN4, { width: 1100, height: 800 });
    mkdirSync(ARTIFACTS, { recursive: true });
  }, 60_000);

  afterAll(async () => {
    await ctx?.close().catch(() => {});
    vr?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const open = async (url: string): Promise<Page> => {
    const p = await ctx.newPage();
    p.on("console", (m) => {
      if (m.type() === "error") errors.push(`${url}: ${m.text()}`);
    });
    p.on("pageerror", (e) => errors.push(`${url}: ${e.message}`));
    await p.goto(url);
    return p;
  };

  test("opt-in off: 403 and no data, to wget and on the page; POST gets 405", async () => {
    const r = wget(DATA);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("403 Forbidden");
    for (const name of [BUSY, QUIET]) expect(r.stdout + r.stderr).not.toContain(name);
    const p = await ctx.newPage(); // its failed fetch is a console error by design: not counted
    await p.goto(PAGE);
    await p.waitForFunction(() => document.getElementById("state")!.classList.contains("error"));
    expect(await p.textContent("#state")).toStartWith("403 Forbidden: iptmon: per-host traffic over HTTP is disabled");
    expect(await p.locator("#rows tr").count()).toBe(0);
    expect(await p.content()).not.toContain(BUSY);
    // Only the message: no empty table, chart or legend under it.
    expect(await p.locator("#data").isHidden()).toBe(true);
    expect(await p.locator("table").isVisible()).toBe(false);
    expect(await p.locator("#chart").isVisible()).toBe(false);
    await p.screenshot({ path: join(ARTIFACTS, "page-403.png"), fullPage: true });
    await p.close();
    setOptIn(true);
    const post = wget(DATA, "x=1");
    expect(post.stderr).toContain("405 Method Not Allowed");
    expect(post.stdout).not.toContain(BUSY);
    expect(wget(DATA).code).toBe(0);
  }, 30_000);

  test("the page's numbers equal `iptmon status --json` at that moment", async () => {
    setOptIn(true);
    page = await open(PAGE);
    await page.waitForFunction(() => Number(document.body.dataset.polls ?? 0) >= 2, undefined, { timeout: 10_000 });
    // Nothing is sending: the counters hold still, so a reading after the page's next poll is that poll's.
    const n = await polls(page);
    await page.waitForFunction((k) => Number(document.body.dataset.polls) > k, n, { timeout: 10_000 });
    const rows = await readRows(page);
    const hosts = status();
    expect(rows.length).toBe(hosts.length);
    for (const h of hosts) {
      const row = rows.find((r) => r.key === h.key)!;
      expect(row.name).toBe(h.name);
      expect(row.addr).toBe([h.mac ?? h.key, ...h.addresses].join(" "));
      expect(Number(row.values["Total down"])).toBe(h.tx_bytes);
      expect(Number(row.values["Total up"])).toBe(h.rx_bytes);
      expect(row.texts["Total down"]).toBe(humanBytes(h.tx_bytes));
      expect(row.texts["Total up"]).toBe(humanBytes(h.rx_bytes));
    }
    // The footer: every host, from the poll's count and totals.
    const foot = await page.evaluate(() => Object.fromEntries([...document.querySelectorAll<HTMLElement>("tfoot td")].map((td) => [td.id, { text: td.textContent, value: td.dataset.value }])));
    expect(foot["total-hosts"]!.text).toBe(`${hosts.length} hosts`);
    expect(Number(foot["total-total-down"]!.value)).toBe(hosts.reduce((a, h) => a + h.tx_bytes, 0));
    expect(Number(foot["total-total-up"]!.value)).toBe(hosts.reduce((a, h) => a + h.rx_bytes, 0));
    // The period is named: the usage columns and the line above the table.
    const period = (JSON.parse(execOk(vr.routerNs, [BIN, "status", "--json"], { env: env() }).stdout) as Status).period!;
    expect(period.name).toMatch(/^\d{4}-\d{2}$/);
    expect(await page.locator("th[data-usage] .period-name").allTextContents()).toEqual([period.name, period.name]);
    expect(await page.textContent("#period")).toStartWith(`This period: ${period.name} (`);
    // The hostile DHCP name arrived reduced to iptmon's name rules, and is shown as that text.
    expect(rows.map((r) => r.name).sort()).toEqual(hosts.map((h) => h.name).sort());
    expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
  }, 30_000);

  test("the busy host's rate rises while it sends, and it leads the table and the chart", async () => {
    const before = (await readRows(page)).find((r) => r.name === BUSY)!;
    expect(Number(before.values.Upload)).toBe(0);
    const log = "pace-web";
    const sender: Subprocess = vr.spawn(vr.clients[0]!.ns, [process.execPath, PACE, "4", WAN4, "40077", "1200", String(RATE), "8"], { logName: log });
    const seen = await waitFor(
      async () => {
        const rows = await readRows(page);
        const up = Number(rows[0]!.values.Upload);
        return rows[0]!.name === BUSY && up > RATE * 8 * 0.8 ? { rows, up } : undefined;
      },
      "the busy host first with its upload rate",
      8000,
      200,
    );
    expect(seen.up).toBeLessThan(RATE * 8 * 1.2);
    expect(seen.rows[0]!.texts.Upload).toMatch(/^[\d.]+ (kbit|Mbit)\/s$/);
    expect(await page.locator("#legend li").first().textContent()).toBe(BUSY);
    await page.screenshot({ path: join(ARTIFACTS, "page-busy.png"), fullPage: true });
    expect(await sender.exited).toBe(0);
    const sent = JSON.parse(exec(null, ["cat", join(vr.tmpDir, `${log}.out`)]).stdout.trim().split("\n").pop()!) as { bps: number };
    expect(Math.abs(seen.up / sent.bps - 1)).toBeLessThan(0.2);
    // What the page polls, from the binary: the busy host first by this period's usage, as the full list has it.
    const poll = JSON.parse(execOk(vr.routerNs, [BIN, "status", "--json", "--busiest"], { env: env() }).stdout) as Status;
    const full = JSON.parse(execOk(vr.routerNs, [BIN, "status", "--json"], { env: env() }).stdout) as Status;
    expect(poll.hosts[0]!.name).toBe(BUSY);
    expect(poll.hosts[0]!.usage!.rx_bytes).toBeGreaterThan(0);
    expect(poll.hosts[0]!.usage).toEqual(full.hosts.find((h) => h.name === BUSY)!.usage);
    expect(poll.count).toBe(full.count);
    expect(poll.period).toEqual(full.period);
  }, 30_000);

  test("sorting: by name, by total uploaded, back to busiest first", async () => {
    const names = async () => (await readRows(page)).map((r) => r.name);
    await page.click("th[data-sort=name] button");
    const byName = status().map((h) => h.name).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    expect(await names()).toEqual(byName);
    expect(await page.getAttribute("th[data-sort=name]", "aria-sort")).toBe("ascending");
    await page.click("th[data-sort=total_up] button");
    const byUp = status().sort((a, b) => b.rx_bytes - a.rx_bytes || (a.name < b.name ? -1 : 1)).map((h) => h.name);
    expect(byUp[0]).toBe(BUSY);
    expect(await names()).toEqual(byUp);
    expect(await page.getAttribute("th[data-sort=total_up]", "aria-sort")).toBe("descending");
    expect(await page.getAttribute("th[data-sort=name]", "aria-sort")).toBe("none");
    await page.click("#busiest");
    expect(await page.textContent("#sorted")).toBe("current rate (down + up)");
  }, 30_000);

  test("hostile host names, MACs and addresses are shown as text, never as markup; usage when present", async () => {
    const p = await ctx.newPage();
    p.on("console", (m) => {
      if (m.type() === "error") errors.push(`hostile: ${m.text()}`);
    });
    p.on("pageerror", (e) => errors.push(`hostile: ${e.message}`));
    let n = 0;
    await p.route(DATA, (route) =>
      route.fulfill({
        contentType: "application/json",
        body: JSON.stringify({
          backend: "nftables",
          hosts: HOSTILE.map((name, i) => ({ name, mac: i % 2 ? null : `<b>${i}</b>`, key: `host:${name}`, addresses: [`<i>${i}</i>`], rx_bytes: 1000 * n, rx_packets: n, tx_bytes: 2000 * n * (i + 1), tx_packets: n, ...(i % 3 === 0 ? { usage: { since: 1_800_000_000, rx_bytes: 5000 + i, tx_bytes: 7000 + i } } : {}) })),
        }).replace(/^/, () => (n++, "")),
      }),
    );
    await p.goto(PAGE);
    await p.waitForFunction(() => Number(document.body.dataset.polls ?? 0) >= 2 && document.querySelectorAll("#legend li").length > 0, undefined, { timeout: 10_000 });
    const rows = await readRows(p);
    expect(rows.map((r) => r.name).sort()).toEqual([...HOSTILE].sort());
    for (const r of rows) expect(r.addr).toMatch(/^(<b>\d<\/b>|host:.*) <i>\d<\/i>$/s);
    // This period's usage, present for some hosts: its columns show, "-" where a host has none.
    expect(await p.locator("th[data-usage]").evaluateAll((ths) => ths.map((th) => (th as HTMLElement).hidden))).toEqual([false, false]);
    for (const r of rows) {
      const i = HOSTILE.indexOf(r.name);
      expect(r.values["Period down"]).toBe(i % 3 === 0 ? String(7000 + i) : "");
      expect(r.texts["Period up"]).toBe(i % 3 === 0 ? humanBytes(5000 + i) : "-");
    }
    const legend = await p.locator("#legend li").allTextContents();
    for (const l of legend) expect(HOSTILE).toContain(l);
    const injected = await p.evaluate(() => ({
      pwned: (window as unknown as { __pwned?: number }).__pwned,
      elements: document.querySelectorAll("#rows img, #rows script, #rows svg, #rows b, #rows i, #legend img, #legend svg, #legend b").length,
    }));
    expect(injected).toEqual({ pwned: undefined, elements: 0 });
    await p.screenshot({ path: join(ARTIFACTS, "page-hostile.png"), fullPage: true });
    await p.close();
  }, 30_000);

  test("a stopped server: the last reading stays, marked stale and said to be; it comes back live", async () => {
    await page.waitForFunction(() => document.body.dataset.mode === "live", undefined, { timeout: 10_000 });
    const before = await readRows(page);
    const mark = errors.length;
    httpd.kill("SIGTERM");
    await httpd.exited;
    await page.waitForFunction(() => document.body.dataset.mode === "stale", undefined, { timeout: 10_000 });
    expect(await page.textContent("#state")).toMatch(/^cannot reach the router .*; showing the reading of .*, now out of date$/);
    expect(await page.getAttribute("#state", "class")).toContain("error");
    // The rows are the last reading's, greyed.
    expect((await readRows(page)).map((r) => r.key)).toEqual(before.map((r) => r.key));
    expect(await page.evaluate(() => Number(getComputedStyle(document.getElementById("data")!).opacity))).toBeLessThan(1);
    await page.screenshot({ path: join(ARTIFACTS, "page-stale.png"), fullPage: true });
    httpd = startHttpd(PORT, conf, "httpd2");
    await page.waitForFunction(() => document.body.dataset.mode === "live", undefined, { timeout: 15_000 });
    expect(await page.evaluate(() => Number(getComputedStyle(document.getElementById("data")!).opacity))).toBe(1);
    // The refused connections are console errors by design; anything else stays counted.
    const during = errors.splice(mark);
    errors.push(...during.filter((e) => !/Failed to load resource|ERR_CONNECTION_REFUSED|Failed to fetch/.test(e)));
  }, 40_000);

  test("a CGI that fails (500): stale too, with the router's words; errors drop no row", async () => {
    const p = await ctx.newPage(); // its failed fetches are console errors by design: not counted
    let fail = false;
    await p.route(DATA, async (route) => (fail ? route.fulfill({ status: 500, contentType: "text/plain", body: "iptmon: cannot read table inet iptmon" }) : route.continue()));
    await p.goto(PAGE);
    await p.waitForFunction(() => Number(document.body.dataset.polls ?? 0) >= 1 && document.body.dataset.mode === "live", undefined, { timeout: 10_000 });
    const n = (await readRows(p)).length;
    fail = true;
    await p.waitForFunction(() => document.body.dataset.mode === "stale", undefined, { timeout: 10_000 });
    expect(await p.textContent("#state")).toStartWith("500 Internal Server Error: iptmon: cannot read table inet iptmon; showing the reading of ");
    expect((await readRows(p)).length).toBe(n);
    await p.close();
  }, 30_000);

  test("the chart gives each host one colour, whatever its rank", async () => {
    const p = await ctx.newPage();
    let n = 0;
    // Five hosts whose ranks rotate at every poll.
    await p.route(DATA, (route) => {
      n++;
      const hosts = [0, 1, 2, 3, 4].map((i) => ({ name: `h${i}`, mac: null, key: `host:h${i}`, addresses: [], rx_bytes: 0, rx_packets: 0, tx_bytes: n * 1000 * (1 + ((i + n) % 5)) + 10 ** 6 * i, tx_packets: n }));
      return route.fulfill({ contentType: "application/json", body: JSON.stringify({ backend: "nftables", hook: "forward", period: null, count: 5, totals: { rx_bytes: 0, rx_packets: 0, tx_bytes: 0, tx_packets: 0, usage: { rx_bytes: 0, tx_bytes: 0 } }, hosts }) });
    });
    await p.goto(PAGE);
    const colours = new Map<string, Set<string>>();
    const orders = new Set<string>();
    for (let k = 2; k <= 7; k++) {
      await p.waitForFunction((want) => Number(document.body.dataset.polls ?? 0) >= want, k, { timeout: 10_000 });
      const legend = await p.locator("#legend li").evaluateAll((lis) => lis.map((li) => [(li as HTMLElement).dataset.key!, (li as HTMLElement).dataset.color!] as const));
      orders.add(legend.map(([key]) => key).join(","));
      for (const [key, c] of legend) colours.set(key, (colours.get(key) ?? new Set()).add(c));
    }
    expect(orders.size).toBeGreaterThan(1); // the ranks did change
    expect([...colours.values()].map((c) => c.size)).toEqual([1, 1, 1, 1, 1]);
    expect(new Set([...colours.values()].map((c) => [...c][0])).size).toBe(5);
    await p.close();
  }, 30_000);

  test("5,000 hosts: each poll at most 100 KB, the main thread at most 500 ms per refresh, 100 of 5000 shown", async () => {
    // A second iptmon table with its own config, state and server: 5,000 hosts from a lease file.
    const big = join(dir, "big");
    mkdirSync(big);
    const leases = join(big, "dhcp.leases");
    const mac = (i: number) => `02:00:5e:${[i >> 16, i >> 8, i].map((b) => (b & 255).toString(16).padStart(2, "0")).join(":")}`;
    writeFileSync(leases, Array.from({ length: BIG }, (_, i) => `4102444800 ${mac(i + 1)} 10.200.${(i + 1) >> 8}.${(i + 1) & 255} big${i + 1} *\n`).join(""));
    const bigConf = join(big, "iptmon.conf");
    writeFileSync(bigConf, iptmonConfig(big, { backend: "nftables", lanSubnets: ["10.200.0.0/16"], leasefile: leases, options: ["\toption table 'iptmonbig'"], extra: "config prometheus 'prometheus'\n\toption enabled '1'\n" }));
    execOk(vr.routerNs, [BIN, "init"], { env: { IPTMON_CONFIG: bigConf } });
    try {
      const all = JSON.parse(execOk(vr.routerNs, [BIN, "status", "--json"], { env: { IPTMON_CONFIG: bigConf } }).stdout) as Status;
      expect(all.count).toBe(BIG);
      const server = startHttpd(BIG_PORT, bigConf, "httpd-big");
      try {
        await waitFor(() => wget(`${BIG_BASE}/iptmon/index.html`).code === 0, "the second httpd to answer", 10_000, 50);
        const p = await ctx.newPage();
        await p.setViewportSize({ width: 1100, height: 800 });
        await p.addInitScript(() => {
          const w = window as unknown as { __long: number[] };
          w.__long = [];
          new PerformanceObserver((list) => {
            for (const e of list.getEntries()) w.__long.push(e.duration);
          }).observe({ type: "longtask", buffered: true });
        });
        const bodies: number[] = [];
        p.on("response", (r) => {
          if (r.url().includes("/cgi-bin/iptmon-hosts")) void r.body().then((b) => bodies.push(b.length));
        });
        await p.goto(`${BIG_BASE}/iptmon/?interval=1`);
        const refresh: number[] = [];
        for (let k = 1; k <= 5; k++) {
          await p.waitForFunction((want) => Number(document.body.dataset.polls ?? 0) >= want, k, { timeout: 20_000 });
          refresh.push(await p.evaluate(() => Number(document.body.dataset.refreshMs)));
        }
        const long = await p.evaluate(() => (window as unknown as { __long: number[] }).__long);
        const rows = await readRows(p);
        expect(rows).toHaveLength(100);
        expect(await p.textContent("#total-hosts")).toBe(`100 of ${BIG} hosts shown (the busiest this period)`);
        expect(bodies.length).toBeGreaterThanOrEqual(5);
        expect(Math.max(...bodies)).toBeLessThanOrEqual(100 * 1024);
        expect(Math.max(...refresh)).toBeLessThanOrEqual(500);
        expect(Math.max(0, ...long)).toBeLessThanOrEqual(500);
        console.log(`5,000 hosts: poll body ${Math.max(...bodies)} bytes (the full list: ${JSON.stringify(all).length}), refresh ${Math.max(...refresh).toFixed(1)} ms max, long tasks ${long.length ? long.map((x) => x.toFixed(0)).join(", ") : "none"} ms`);
        await p.screenshot({ path: join(ARTIFACTS, "page-5000.png") });
        await p.close();
      } finally {
        server.kill("SIGTERM");
        await server.exited;
      }
    } finally {
      execOk(vr.routerNs, [BIN, "stop"], { env: { IPTMON_CONFIG: bigConf } });
    }
  }, 120_000);

  test("no sideways scrolling at any width from a phone's to a desktop's", async () => {
    // Wide content: 63-character names, IPv6 addresses, TiB totals, Mbit/s rates, the period's columns.
    const p = await open(PAGE);
    let n = 0;
    await p.route(DATA, (route) => {
      n++;
      const hosts = Array.from({ length: 20 }, (_, i) => ({
        name: `${"living-room-television-".repeat(3)}${i}`.slice(0, 63),
        mac: `02:00:00:00:00:${String(10 + i)}`,
        key: `02:00:00:00:00:${String(10 + i)}`,
        addresses: [`192.168.177.${100 + i}`, `fd77:77:0:0:1234:5678:9abc:${1000 + i}`, `2001:db8:77:0:1234:5678:9abc:${1000 + i}`],
        rx_bytes: 3 * 1024 ** 4 + n * 123_456_789 * (i + 1),
        rx_packets: n,
        tx_bytes: 7 * 1024 ** 4 + n * 987_654_321 * (i + 1),
        tx_packets: n,
        usage: { since: 1_796_083_200, rx_bytes: 512 * 1024 ** 3 + i, tx_bytes: 999 * 1024 ** 3 + i },
      }));
      const sum = (f: (h: (typeof hosts)[number]) => number) => hosts.reduce((a, h) => a + f(h), 0);
      const totals = { rx_bytes: sum((h) => h.rx_bytes), rx_packets: 0, tx_bytes: sum((h) => h.tx_bytes), tx_packets: 0, usage: { rx_bytes: sum((h) => h.usage.rx_bytes), tx_bytes: sum((h) => h.usage.tx_bytes) } };
      return route.fulfill({ contentType: "application/json", body: JSON.stringify({ backend: "nftables", hook: "forward", period: { name: "2026-12", start: 1_796_083_200, end: 1_798_761_600 }, count: 4321, totals, hosts }) });
    });
    await p.waitForFunction(() => Number(document.body.dataset.polls ?? 0) >= 2, undefined, { timeout: 10_000 });
    for (const width of [360, 500, 640, 641, 680, 720, 760, 790, 800, 801, 850, 950, 1100]) {
      await p.setViewportSize({ width, height: 800 });
      const overflow = await p.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      expect([width, overflow]).toEqual([width, 0]);
    }
    await p.close();
  }, 30_000);

  test("on a phone: nothing scrolls sideways, numbers are labelled; and no console errors anywhere", async () => {
    await page.setViewportSize({ width: 375, height: 740 });
    await page.waitForFunction((k) => Number(document.body.dataset.polls) > k, await polls(page), { timeout: 10_000 });
    const layout = await page.evaluate(() => {
      const td = document.querySelector<HTMLElement>("#rows td.num")!;
      return {
        overflow: document.documentElement.scrollWidth - window.innerWidth,
        label: getComputedStyle(td, "::before").content,
        display: getComputedStyle(document.querySelector("#rows tr")!).display,
      };
    });
    expect(layout.overflow).toBeLessThanOrEqual(0);
    expect(layout.display).toBe("grid");
    expect(layout.label).toContain(": ");
    await page.screenshot({ path: join(ARTIFACTS, "page-phone.png"), fullPage: true });
    expect(errors).toEqual([]);
  }, 30_000);
});
