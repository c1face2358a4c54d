/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
// (page.evaluate callbacks run in the browser: they use DOM types)
/**
 * iptmon's LuCI views in headless Chromium, on a small stand-in for LuCI's
 * runtime (test/helpers/luci-standin), fed by the real binary: a router
 * namespace where iptmon counts N hosts (`config host` sections; their
 * starting totals and past periods seeded in the state file the binary
 * restores from), one of them a client namespace sending real traffic through
 * the router to a WAN namespace. Checked: numbers equal the JSON, rates while
 * the client sends, sorting, filter, "show all" read once, the period picker,
 * CSV (formula cells escaped), hostile names as text, the host page's actions
 * (UCI sections, the real reset), the split by family and by service (host
 * page: its totals and each period; usage page: summed over hosts; CSV),
 * settings, light/dark contrast, a 375 px phone, and the main thread's cost
 * of a refresh at 10, 1,000 and 5,000 hosts.
 * IPTMON_SCREENSHOTS=1 writes docs/screenshots/luci-*.png.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { CHROMIUM, exec, execOk, iptmonBin, NetnsRun, ROOT, skipReason, NETNS_NEEDS } from "./harness.ts";
import { startStandin, type Standin, type UciSection } from "../helpers/luci-standin/server.ts";
import { prng } from "../helpers/prng.ts";
import type { Status, StatusHost } from "../../src/status.ts";
import type { UsageReport } from "../../src/usage/report.ts";
import type { Part } from "../../src/split/view.ts";

const skip = skipReason("LuCI views", [...NETNS_NEEDS, "busybox", CHROMIUM]);
const BIN = skip ? "" : iptmonBin();
const SHOTS = process.env.IPTMON_SCREENSHOTS === "1" ? join(ROOT, "docs/screenshots") : null;
const CMD = "/usr/sbin/iptmon";
const DAY = 86_400;

/** Names a DHCP client could send. iptmon's name rules reduce them before they reach its JSON; the views must not rely on that. */
const HOSTILE = [
  `<img src=x onerror="window.__pwned=1">`,
  `"><svg/onload=window.__pwned=1>`,
  `it's "quoted" & <b>bold</b>`,
  "=HYPERLINK(\"http://x\",\"y\")",
  "x".repeat(63),
];


const mac = (i: number) => `02:65:00:${((i >> 16) & 255).toString(16).padStart(2, "0")}:${((i >> 8) & 255).toString(16).padStart(2, "0")}:${(i & 255).toString(16).padStart(2, "0")}`;
const ip = (i: number) => `10.65.${1 + Math.floor(i / 250)}.${1 + (i % 250)}`;

/**
 * A router namespace where iptmon counts `n` hosts (index 0 is the client
 * that sends real traffic), their totals and three past days of usage seeded
 * in the state file the binary restores counters from. `split`: the config
 * splits traffic by family and by service (the built-in classes), and the
 * state has parts of the totals and of each period's usage for most hosts
 * (host 1 has none: all of it counted before the split began).
 */
class Router {
  readonly run = new NetnsRun("lv", { tmpPrefix: "iptmon-luci" });
  readonly r = this.run.ns("r");
  readonly c = this.run.ns("c");
  readonly w = this.run.ns("w");
  readonly conf = join(this.run.tmpDir, "iptmon.conf");
  readonly dir = this.run.tmpDir;

  constructor(
    readonly n: number,
    readonly split = false,
  ) {
    this.run.addNamespaces([this.r, this.c, this.w]);
    this.run.ipBatch(this.r, [
      "link add br-lan type bridge", "link set br-lan up", "addr add 10.65.255.254/16 dev br-lan",
      `link add lanc type veth peer name eth0 netns ${this.c}`, "link set lanc master br-lan", "link set lanc up",
      `link add wan type veth peer name eth0 netns ${this.w}`, "addr add 198.51.100.1/24 dev wan", "link set wan up",
    ]);
    this.run.ipBatch(this.c, [`link set eth0 address ${mac(0)}`, "link set eth0 up", `addr add ${ip(0)}/16 dev eth0`, "route add default via 10.65.255.254"]);
    this.run.ipBatch(this.w, ["link set eth0 up", "addr add 198.51.100.2/24 dev eth0", "route add 10.65.0.0/16 via 198.51.100.1"]);
    this.run.sysctl(this.r, ["net.ipv4.ip_forward=1"]);
    const none = join(this.dir, "none");
    const hosts: string[] = [];
    for (let i = 0; i < n; i++) hosts.push(`config host\n\toption mac '${mac(i)}'\n\toption name '${i === 0 ? "upstairs-pc" : `host-${String(i).padStart(4, "0")}`}'\n\tlist ip '${ip(i)}'\n`);
    writeFileSync(this.conf, [
      "config iptmon 'global'", "\toption backend 'nftables'", "\toption hook 'forward'", "\tlist lan_subnet '10.65.0.0/16'", "\toption period 'day'",
      ...["leasefile", "hostsfile", "hostsdir", "dhcp_config", "dnsmasq_confdir"].map((o) => `\toption ${o} '${none}'`),
      `\toption lockfile '${join(this.dir, "iptmon.lock")}'`, `\toption statefile '${join(this.dir, "state.json")}'`,
      ...(split ? ["\tlist breakdown 'family'", "\tlist breakdown 'service'"] : []), "",
      ...hosts,
    ].join("\n"));
    // A first init writes the state with the open period; then it gets totals and history, and counters are rebuilt from it.
    this.iptmon("init");
    const statefile = join(this.dir, "state.json");
    const s = JSON.parse(readFileSync(statefile, "utf8"));
    const rnd = prng(n);
    const cur = s.periods.at(-1);
    for (const [key, h] of Object.entries(s.hosts) as [string, { rx: number[]; tx: number[] }][]) {
      const big = key === mac(0) ? 50 : 1;
      h.rx = [Math.floor(rnd() * 5e8 * big), Math.floor(rnd() * 1e5)];
      h.tx = [Math.floor(rnd() * 5e9 * big), Math.floor(rnd() * 1e6)];
    }
    const keys = Object.keys(s.hosts);
    const usage = (share: number) => Object.fromEntries(keys.filter(() => rnd() < share).map((k) => [k, [Math.floor(rnd() * 1e8), 100, Math.floor(rnd() * 1e9), 1000]]));
    s.periods = [3, 2, 1].map((d) => ({ name: `past-${d}`, spec: "day", start: cur.start - d * DAY, end: cur.start - (d - 1) * DAY, hosts: usage(0.8) }));
    for (const p of s.periods) p.name = new Date(p.start * 1000).toISOString().slice(0, 10);
    s.periods.push({ ...cur, hosts: usage(0.5) });
    if (split) {
      // Parts of a usage (every field at most its own): IPv6, some classes, and at times what came before the split.
      const sr = prng(n + 1);
      const parts = (u: number[]) => {
        const cut = (f: number) => u.map((x) => Math.floor(x * f));
        const out: Record<string, number[]> = { ipv6: cut(0.2 + sr() * 0.3), web: cut(0.3 + sr() * 0.2), dns: cut(sr() * 0.05) };
        if (sr() < 0.5) out.quic = cut(sr() * 0.2);
        if (sr() < 0.5) out.unsplit = cut(sr() * 0.2);
        return out;
      };
      for (const [key, h] of Object.entries(s.hosts) as [string, { rx: number[]; tx: number[]; split?: Record<string, number[]> }][])
        if (key !== mac(1)) h.split = parts([...h.rx, ...h.tx]);
      for (const p of s.periods) p.split = Object.fromEntries(Object.entries(p.hosts as Record<string, number[]>).filter(([k]) => k !== mac(1)).map(([k, u]) => [k, parts(u)]));
    }
    writeFileSync(statefile, JSON.stringify(s));
    execOk(this.r, ["nft", "delete", "table", "inet", "iptmon"]);
    this.iptmon("init");
  }

  iptmon(...args: string[]) {
    return exec(this.r, [BIN, ...args], { env: { IPTMON_CONFIG: this.conf }, timeoutMs: 60_000 });
  }

  /** The binary's own `status --json --busiest`: what the hosts view polls. */
  busiest(): string {
    const r = this.iptmon("status", "--json", "--busiest");
    if (r.code !== 0) throw new Error(`status --json --busiest: exit ${r.code}: ${r.stderr}`);
    return r.stdout;
  }

  /** Sends `count` pings of `size` bytes from the client to the WAN host (every `interval` s, else each on the last reply): both directions counted. */
  ping(count: number, size: number, interval?: number) {
    return exec(this.c, ["busybox", "ping", "-q", ...(interval ? ["-i", String(interval)] : ["-A"]), "-c", String(count), "-s", String(size), "198.51.100.2"], { timeoutMs: 30_000 });
  }

  destroy() {
    this.run.destroy();
  }
}


/** WCAG contrast ratio of two CSS colours "rgb(r, g, b)". */
function contrast(fg: string, bg: string): number {
  const lum = (c: string) => {
    const [r, g, b] = c.match(/[\d.]+/g)!.slice(0, 3).map((x) => Number(x) / 255).map((v) => (v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4));
    return 0.2126 * r! + 0.7152 * g! + 0.0722 * b!;
  };
  const [a, b] = [lum(fg), lum(bg)].sort((x, y) => y - x);
  return (a! + 0.05) / (b! + 0.05);
}

describe.skipIf(skip !== null)("iptmon's LuCI views in Chromium, on the real binary's JSON", () => {
  let router: Router;
  let standin: Standin;
  let browser: Browser;
  /** Rewrites answers before the page sees them (hostile names); identity unless a test sets it. */
  let mutate: (args: string[], out: string) => string = (_a, out) => out;
  const errors: string[] = [];
  const uci: Record<string, UciSection[]> = {
    iptmon: [
      { ".name": "global", ".type": "iptmon", ".anonymous": false, enabled: "1", hook: "auto", period: "day", periods_kept: "30", lan_interface: ["br-lan"], breakdown: ["family", "service"] },
      { ".name": "cfg02", ".type": "prometheus", ".anonymous": true, enabled: "0" },
    ],
  };

  const execFor = (r: () => Router) => (cmd: string, args: string[]) => {
    if (cmd !== CMD) return { code: 126, stdout: "", stderr: "not allowed" };
    const line = args.join(" ");
    // Only the ACL's command lines (luci-app-iptmon.json): anything else is refused as cgi-io would.
    if (line === "status --json --busiest") return { code: 0, stdout: mutate(args, r().busiest()), stderr: "" };
    if (line === "status --json" || line === "usage --json --period all" || /^reset -- \S+$/.test(line)) {
      const res = r().iptmon(...args);
      return { code: res.code, stdout: mutate(args, res.stdout), stderr: res.stderr };
    }
    return { code: 126, stdout: "", stderr: `not in the ACL: ${line}` };
  };

  beforeAll(async () => {
    router = new Router(10, true);
    standin = startStandin({ exec: execFor(() => router), uci });
    const { chromium } = await import("playwright-core");
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"] });
    if (SHOTS) mkdirSync(SHOTS, { recursive: true });
  }, 120_000);

  afterAll(async () => {
    await browser?.close().catch(() => {});
    standin?.stop();
    router?.destroy();
    expect(errors).toEqual([]);
  });

  /** A page of the stand-in; console errors and page errors count as failures (refused commands: by design, unless `refused`). */
  const open = async (path: string, o: { width?: number; dark?: boolean; base?: Standin; refused?: boolean } = {}): Promise<Page> => {
    const p = await browser.newPage({ viewport: { width: o.width ?? 1100, height: 800 }, acceptDownloads: true });
    p.on("console", (m) => {
      if (m.type() === "error" && !(o.refused && m.text().includes("status of 500"))) errors.push(`${path}: ${m.text()}`);
    });
    p.on("pageerror", (e) => errors.push(`${path}: ${e.message}`));
    const sep = path.includes("?") ? "&" : "?";
    await p.goto(`${(o.base ?? standin).url}/cgi-bin/luci/${path}${o.dark ? `${sep}dark=1` : ""}`);
    await p.waitForFunction(() => document.body.dataset.ready === "1" || document.body.dataset.error, undefined, { timeout: 60_000 });
    expect(await p.evaluate(() => document.body.dataset.error ?? null)).toBeNull();
    return p;
  };
  const shot = async (p: Page, name: string) => {
    if (SHOTS) await p.screenshot({ path: join(SHOTS, `luci-${name}.png`), fullPage: false });
  };
  const tick = (p: Page) => p.evaluate(() => window.standin.tick());

  /** The hosts table as shown: key, name, and each number cell's raw value and text by its title. */
  const rows = (p: Page) =>
    p.evaluate(() =>
      [...document.querySelectorAll<HTMLTableRowElement>("#iptmon-hosts tr[data-key]")].map((tr) => {
        const v: Record<string, string> = {};
        const t: Record<string, string> = {};
        for (const td of tr.querySelectorAll<HTMLElement>("td[data-value]")) {
          v[td.dataset.title!] = td.dataset.value!;
          t[td.dataset.title!] = td.textContent!;
        }
        return { key: tr.dataset.key!, name: tr.querySelector("a")!.textContent!, href: tr.querySelector("a")!.getAttribute("href")!, v, t };
      }),
    );

  test("hosts: every number equals the JSON's, busiest first, footer from totals", async () => {
    const p = await open("admin/status/iptmon");
    const st = JSON.parse(router.busiest()) as Status;
    const shown = await rows(p);
    expect(shown.map((r) => r.key)).toEqual(st.hosts.map((h) => h.key));
    for (const h of st.hosts) {
      const r = shown.find((x) => x.key === h.key)!;
      expect(r.name).toBe(h.name);
      expect(r.href).toBe(`/cgi-bin/luci/admin/status/iptmon_host?key=${encodeURIComponent(h.key)}`);
      expect(Number(r.v["Total down"])).toBe(h.tx_bytes);
      expect(Number(r.v["Total up"])).toBe(h.rx_bytes);
      expect(r.v["This period down"]).toBe(h.usage ? String(h.usage.tx_bytes) : "");
      expect(r.v["This period up"]).toBe(h.usage ? String(h.usage.rx_bytes) : "");
      expect(r.v.Download).toBe(""); // one reading: no rate yet
    }
    const foot = await p.evaluate(() => Object.fromEntries([...document.querySelectorAll<HTMLElement>("#iptmon-totals td[data-value]")].map((td) => [td.dataset.title, td.dataset.value])));
    expect(Number(foot["Total down"])).toBe(st.totals!.tx_bytes);
    expect(Number(foot["Total up"])).toBe(st.totals!.rx_bytes);
    expect(Number(foot["This period down"])).toBe(st.totals!.usage.tx_bytes);
    expect(await p.textContent("#iptmon-shown")).toBe(`${st.hosts.length} of ${st.count} hosts shown`);
    expect(await p.textContent("#iptmon-period")).toContain(st.period!.name);
    // Every cell carries its column's title, for narrow screens.
    const titles = await p.evaluate(() => [...new Set([...document.querySelectorAll("#iptmon-hosts td")].map((td) => td.getAttribute("data-title")))]);
    expect(titles).toEqual(["Host", "Download", "Upload", "Total down", "Total up", "This period down", "This period up"]);
    await p.close();
  }, 60_000);

  test("hosts: the client's rates while it sends, the chart's line in its own colour, sorting and filter", async () => {
    const p = await open("admin/status/iptmon");
    // The page's two readings around the traffic lie inside [t0, t1], and the whole ping lies between them.
    const t0 = Date.now();
    await tick(p);
    const ping = router.ping(200, 1000, 0.01);
    expect(ping.code).toBe(0);
    await tick(p);
    const t1 = Date.now();
    const r = (await rows(p)).find((x) => x.key === "02:65:00:00:00:00")!;
    // 200 echo requests up and 200 replies down, 1028 IP bytes each (1000 + ICMP 8 + IP 20).
    const bits = 200 * 1028 * 8;
    for (const col of ["Download", "Upload"]) {
      expect(Number(r.v[col])).toBeGreaterThanOrEqual((bits / ((t1 - t0) / 1000)) * 0.99);
      expect(Number(r.v[col])).toBeLessThanOrEqual((bits / (ping.ms / 1000)) * 1.01);
      expect(r.t[col]).toMatch(/^[\d.]+ (bit|kbit|Mbit)\/s$/);
    }
    const others = (await rows(p)).filter((x) => x.key !== r.key);
    for (const o of others) expect(o.v.Download).toBe("0");
    // The chart has the client's line, in the colour its key gets, which its legend entry and table swatch share.
    const chart = await p.evaluate(() => ({
      line: document.querySelector('#iptmon-chart polyline[data-key="02:65:00:00:00:00"]')?.getAttribute("stroke"),
      legend: (document.querySelector('#iptmon-legend [data-key="02:65:00:00:00:00"] span') as HTMLElement | null)?.style.background,
      swatch: (document.querySelector('#iptmon-hosts tr[data-key="02:65:00:00:00:00"] td span') as HTMLElement | null)?.style.background,
      legendText: document.querySelector('#iptmon-legend [data-key="02:65:00:00:00:00"]')?.textContent,
    }));
    expect(chart.line).toBeTruthy();
    expect(chart.legendText).toBe("upstairs-pc");
    const norm = (c: string) => p.evaluate((x) => { const d = document.createElement("div"); d.style.color = x; document.body.append(d); const v = getComputedStyle(d).color; d.remove(); return v; }, c);
    expect(await norm(chart.legend!)).toBe(await norm(chart.line!));
    expect(await norm(chart.swatch!)).toBe(await norm(chart.line!));

    // Sorting by each column, both ways, equals sorting the shown values.
    for (const col of ["total_down", "total_up", "period_down", "name"]) {
      await p.click(`th[data-sort=${col}]`);
      const first = await p.getAttribute(`th[data-sort=${col}]`, "aria-sort");
      const title = { total_down: "Total down", total_up: "Total up", period_down: "This period down", name: "Host" }[col]!;
      for (const dir of [first, first === "ascending" ? "descending" : "ascending"]) {
        if (dir !== first) await p.click(`th[data-sort=${col}]`);
        expect(await p.getAttribute(`th[data-sort=${col}]`, "aria-sort")).toBe(dir);
        const got = await rows(p);
        const val = (x: (typeof got)[number]) => (col === "name" ? x.name : x.v[title] === "" ? null : Number(x.v[title]));
        const sorted = [...got].sort((a, b) => {
          const [x, y] = [val(a), val(b)];
          if (x === y) return a.name.localeCompare(b.name);
          if (x === null) return 1;
          if (y === null) return -1;
          const c = typeof x === "string" ? x.localeCompare(y as string) : x - (y as number);
          return dir === "descending" ? -c : c;
        });
        expect(got.map((x) => x.key)).toEqual(sorted.map((x) => x.key));
      }
    }
    await p.click("#iptmon-busiest");
    expect(await p.textContent("#iptmon-sorted")).toContain("busiest first");
    const st = JSON.parse(router.busiest()) as Status;
    expect((await rows(p)).map((x) => x.key)).toEqual(st.hosts.map((h) => h.key));
    // Filter by name, MAC and address.
    await p.fill("#iptmon-search", "host-0003");
    expect((await rows(p)).map((x) => x.name)).toEqual(["host-0003"]);
    await p.fill("#iptmon-search", ip(5));
    expect((await rows(p)).map((x) => x.key)).toEqual([mac(5)]);
    await p.fill("#iptmon-search", "no-such-host");
    expect(await rows(p)).toEqual([]);
    await p.fill("#iptmon-search", "");
    expect((await rows(p)).length).toBe(st.hosts.length);
    await p.close();
  }, 60_000);

  test("hosts: 'show all' reads the whole list once, on demand; polls read only the busiest", async () => {
    const p = await open("admin/status/iptmon");
    await tick(p);
    await tick(p);
    const lines = () => p.evaluate(() => window.standin.log.exec.map((e) => e.args.join(" ")));
    expect(new Set(await lines())).toEqual(new Set(["status --json --busiest"]));
    await p.click("#iptmon-all");
    await p.waitForFunction(() => window.standin.log.exec.some((e) => e.args.join(" ") === "status --json" && e.end > 0));
    await tick(p);
    const all = await lines();
    expect(all.filter((l) => l === "status --json")).toHaveLength(1);
    expect(all.at(-1)).toBe("status --json --busiest");
    expect(await p.textContent("#iptmon-all")).toBe("Read all hosts again");
    await p.close();
  }, 60_000);

  test("hostile host and part names are text, never markup: table, chart legend, usage, split, host page", async () => {
    // The binary never emits these (its name rules reduce them); a view must be safe without that.
    const hostile = new Map(HOSTILE.map((name, i) => [mac(i), name]));
    // Service classes too: markup, and a cell that would start a formula in the CSV.
    const hostilePart = new Map([["web", HOSTILE[0]!], ["dns", HOSTILE[3]!]]);
    const rename = (v: unknown): unknown => {
      if (Array.isArray(v)) return v.map(rename);
      if (v && typeof v === "object") {
        const o = Object.fromEntries(Object.entries(v).map(([k, x]) => [k, k === "services" ? Object.fromEntries(Object.entries(x as object).map(([n, y]) => [hostilePart.get(n) ?? n, y])) : rename(x)]));
        const name = hostile.get(o.key as string);
        return name !== undefined && "name" in o ? { ...o, name } : o;
      }
      return v;
    };
    mutate = (_args, out) => JSON.stringify(rename(JSON.parse(out)));
    try {
      const p = await open("admin/status/iptmon");
      await tick(p);
      router.ping(50, 500);
      await tick(p);
      const names = (await rows(p)).map((r) => r.name);
      for (const h of HOSTILE) expect(names).toContain(h);
      const legend = await p.locator("#iptmon-legend [data-key]").allTextContents();
      expect(legend.length).toBeGreaterThan(0);
      for (const l of legend) expect(HOSTILE).toContain(l);
      const injected = () => p.evaluate(() => ({
        pwned: (window as unknown as { __pwned?: number }).__pwned,
        elements: document.querySelectorAll("#maincontent img, #maincontent script, #maincontent b, #maincontent svg svg, #maincontent svg[onload]").length,
      }));
      expect(await injected()).toEqual({ pwned: undefined, elements: 0 });
      // The check can fail: the stand-in's E() makes markup of a bare string child, as LuCI's does.
      expect(await p.evaluate(() => (window as unknown as { E(t: string, a: object, c: string): HTMLElement }).E("div", {}, "<b>x</b>").querySelectorAll("b").length)).toBe(1);
      // The 63-character name is whole in the text (the cell may wrap it, never cut it).
      expect(names).toContain("x".repeat(63));
      await shot(p, "hosts-hostile");
      await p.close();

      const u = await open("admin/status/iptmon_usage");
      const unames = await u.locator("#iptmon-usage tr[data-key] a").allTextContents();
      expect(unames.some((n) => HOSTILE.includes(n))).toBe(true);
      expect(await u.evaluate(() => document.querySelectorAll("#maincontent img, #maincontent script, #maincontent b").length)).toBe(0);
      // CSV: the formula-looking name is escaped with a leading '.
      const rep = JSON.parse(router.iptmon("usage", "--json", "--period", "all").stdout) as UsageReport;
      const withIt = rep.periods.findIndex((x) => x.hosts.some((h) => h.key === mac(3)));
      expect(withIt).toBeGreaterThanOrEqual(0);
      await u.selectOption("#iptmon-period-picker", String(withIt));
      const [dl] = await Promise.all([u.waitForEvent("download"), u.click("#iptmon-csv")]);
      const csv = readFileSync((await dl.path())!, "utf8");
      expect(csv).toContain(`"'=HYPERLINK(""http://x"",""y"")"`);
      expect(csv).not.toMatch(/(^|,)"?=/m);
      // Split by service: the part names are text in the table, and the CSV's part column is escaped as names are.
      await u.selectOption("#iptmon-split-by", "service");
      const parts = await u.locator("#iptmon-split-service tr[data-part]").evaluateAll((trs) => trs.map((tr) => [(tr as HTMLElement).dataset.part, tr.children[0]!.textContent]));
      expect(parts).toContainEqual([HOSTILE[0], HOSTILE[0]]);
      expect(parts).toContainEqual([HOSTILE[3], HOSTILE[3]]);
      expect(await u.evaluate(() => ({ pwned: (window as unknown as { __pwned?: number }).__pwned, elements: document.querySelectorAll("#maincontent img, #maincontent script, #maincontent b").length }))).toEqual({ pwned: undefined, elements: 0 });
      const [ds] = await Promise.all([u.waitForEvent("download"), u.click("#iptmon-csv")]);
      const split = readFileSync((await ds.path())!, "utf8");
      expect(split).toMatch(/,"'=HYPERLINK\(""http:\/\/x"",""y""\)",\d+,/);
      expect(split).not.toMatch(/(^|,)"?=/m);
      await u.close();

      // A host's name (host 1), and its part names in the split (host 0).
      for (const key of [mac(1), mac(0)]) {
        const hp = await open(`admin/status/iptmon_host?key=${encodeURIComponent(key)}`);
        expect(HOSTILE).toContain((await hp.textContent("#iptmon-host-facts tr:first-child td:last-child"))!);
        if (key === mac(0)) expect(await hp.locator("#iptmon-split-service tr[data-part] td:first-child").allTextContents()).toEqual(expect.arrayContaining([HOSTILE[0], HOSTILE[3]]));
        expect(await hp.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
        expect(await hp.evaluate(() => document.querySelectorAll("#maincontent img, #maincontent b").length)).toBe(0);
        await hp.close();
      }
    } finally {
      mutate = (_a, out) => out;
    }
  }, 60_000);

  test("usage: the period picker lists every kept period; tables, shares and CSV equal the JSON", async () => {
    const rep = JSON.parse(router.iptmon("usage", "--json", "--period", "all").stdout) as UsageReport;
    expect(rep.periods.length).toBe(4);
    const p = await open("admin/status/iptmon_usage");
    const options = await p.locator("#iptmon-period-picker option").allTextContents();
    expect(options).toHaveLength(rep.periods.length);
    for (const per of rep.periods) expect(options.some((o) => o.startsWith(per.name))).toBe(true);
    for (const [i, per] of rep.periods.entries()) {
      await p.selectOption("#iptmon-period-picker", String(i));
      expect(await p.textContent("#iptmon-usage-period")).toContain(per.name);
      const got = await p.evaluate(() => [...document.querySelectorAll<HTMLElement>("#iptmon-usage tr[data-key]")].map((tr) => ({
        key: tr.dataset.key!, down: Number(tr.querySelector<HTMLElement>('td[data-title="Download"]')!.dataset.value), up: Number(tr.querySelector<HTMLElement>('td[data-title="Upload"]')!.dataset.value),
      })));
      // Sorted by total, descending, by default.
      const want = [...per.hosts].sort((a, b) => b.rx_bytes + b.tx_bytes - (a.rx_bytes + a.tx_bytes) || a.name.localeCompare(b.name));
      expect(got).toEqual(want.map((h) => ({ key: h.key, down: h.tx_bytes, up: h.rx_bytes })));
      const total = await p.evaluate(() => Number(document.querySelector<HTMLElement>('#iptmon-usage-total td[data-title="Download"]')!.dataset.value));
      expect(total).toBe(per.total.tx_bytes!);
      const shares = await p.evaluate(() => [...document.querySelectorAll<HTMLElement>(".iptmon-share")].map((d) => Number(d.dataset.value)));
      if (per.hosts.length) expect(shares.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6);
      if (i === 1) {
        const [dl] = await Promise.all([p.waitForEvent("download"), p.click("#iptmon-csv")]);
        expect(dl.suggestedFilename()).toBe(`iptmon-usage-${per.name}.csv`);
        const lines = readFileSync((await dl.path())!, "utf8").trim().split("\r\n");
        expect(lines[0]).toBe('"period","start","end","key","name","mac","download_bytes","upload_bytes","download_packets","upload_packets"');
        expect(lines.slice(1).sort()).toEqual(per.hosts.map((h) => `"${per.name}",${per.start},${per.end},"${h.key}","${h.name}","${h.mac}",${h.tx_bytes},${h.rx_bytes},${h.tx_packets},${h.rx_packets}`).sort());
        const [dj] = await Promise.all([p.waitForEvent("download"), p.click("#iptmon-json")]);
        expect(JSON.parse(readFileSync((await dj.path())!, "utf8"))).toEqual(per);
      }
    }
    // Sorting by name.
    await p.click("th[data-sort=name]");
    const names = await p.locator("#iptmon-usage tr[data-key] a").allTextContents();
    expect(names).toEqual([...names].sort((a, b) => a.localeCompare(b)));
    await p.close();
  }, 60_000);

  test("host: facts and periods from the JSON; rename and exclude write config host sections; reset zeroes it", async () => {
    const key = mac(2);
    const h = (JSON.parse(router.iptmon("status", "--json").stdout) as Status).hosts.find((x) => x.key === key)!;
    const rep = JSON.parse(router.iptmon("usage", "--json", "--period", "all").stdout) as UsageReport;
    const p = await open(`admin/status/iptmon_host?key=${encodeURIComponent(key)}`);
    const facts = await p.evaluate(() => Object.fromEntries([...document.querySelectorAll("#iptmon-host-facts tr")].map((tr) => [tr.children[0]!.textContent, (tr.children[1] as HTMLElement).dataset.value ?? tr.children[1]!.textContent])));
    expect(facts).toMatchObject({ Name: h.name, Key: key, MAC: key, Addresses: h.addresses.join(" "), "Total down": String(h.tx_bytes), "Total up": String(h.rx_bytes) });
    const periods = await p.evaluate(() => [...document.querySelectorAll<HTMLElement>("#iptmon-host-periods tr[data-period]")].map((tr) => tr.dataset.period));
    expect(periods).toEqual(rep.periods.filter((x) => x.hosts.some((y) => y.key === key)).map((x) => x.name).reverse());
    expect(await p.locator("#iptmon-host-periods rect[data-period]").count()).toBe(periods.length);

    // Rename: confirm, type a name, Save: a config host section with the MAC and the name, staged for Save & Apply.
    await p.click("#iptmon-rename");
    await p.fill("#iptmon-new-name", "attic-nas");
    await p.click(".modal button:text-is('Save')");
    await p.waitForFunction(() => window.standin.log.saved.length === 1);
    let sec = standin.uci.iptmon!.find((s) => s[".type"] === "host" && s.mac === key)!;
    expect(sec).toMatchObject({ mac: key, name: "attic-nas" });
    expect(await p.evaluate(() => window.standin.log.applied)).toEqual([]);
    // Exclude, applied at once: the same section gains ignore '1'.
    await p.click("#iptmon-exclude");
    await p.click(".modal button:text-is('Save & Apply')");
    await p.waitForFunction(() => window.standin.log.applied.length === 1);
    sec = standin.uci.iptmon!.find((s) => s[".type"] === "host" && s.mac === key)!;
    expect(sec).toMatchObject({ mac: key, name: "attic-nas", ignore: "1" });
    expect(standin.uci.iptmon!.filter((s) => s[".type"] === "host")).toHaveLength(1);
    // Cancel does nothing; Reset runs the real `iptmon reset -- KEY`.
    await p.click("#iptmon-reset");
    await p.click(".modal button:text-is('Cancel')");
    expect(await p.locator(".modal").count()).toBe(0);
    const before = await p.evaluate(() => window.standin.log.notifications.length);
    await p.click("#iptmon-reset");
    await p.click(".modal button:text-is('Reset')");
    await p.waitForFunction((n) => window.standin.log.notifications.length > n, before);
    expect(await p.evaluate(() => window.standin.log.notifications.at(-1))).toMatchObject({ cls: "info" });
    const after = (JSON.parse(router.iptmon("status", "--json").stdout) as Status).hosts.find((x) => x.key === key)!;
    expect([after.rx_bytes, after.tx_bytes]).toEqual([0, 0]);
    // Its split adds up to the zeroed totals: every part is zero.
    for (const parts of [after.families!, after.services!]) for (const x of Object.values(parts)) expect([x.rx_bytes, x.tx_bytes]).toEqual([0, 0]);
    await p.close();
  }, 60_000);

  test("host: a read-only login gets no actions; without the split, a host beyond the busiest is read from the whole list", async () => {
    // A config that does not split: the busiest list (which carries no split) is read first.
    const plain = { iptmon: uci.iptmon!.map((s) => (s[".type"] === "iptmon" ? (Object.fromEntries(Object.entries(s).filter(([k]) => k !== "breakdown")) as UciSection) : s)) };
    const ro = startStandin({ exec: execFor(() => router), uci: plain, readonly: true });
    // This host is left out of the busiest answer, as one of 5,000 would be.
    mutate = (args, out) => {
      if (!args.includes("--busiest")) return out;
      const st = JSON.parse(out) as Status;
      return JSON.stringify({ ...st, hosts: st.hosts.filter((h) => h.key !== mac(3)) });
    };
    try {
      const p = await open(`admin/status/iptmon_host?key=${encodeURIComponent(mac(3))}`, { base: ro });
      for (const id of ["#iptmon-rename", "#iptmon-exclude", "#iptmon-reset"]) expect(await p.isDisabled(id)).toBe(true);
      expect(await p.getAttribute("#iptmon-host-view", "data-key")).toBe(mac(3));
      expect(ro.execs.map((e) => e.args.join(" ")).filter((l) => l.startsWith("status"))).toEqual(["status --json --busiest", "status --json"]);
      await p.close();
      // Among the busiest: the whole list is not read.
      mutate = (_a, out) => out;
      const q = await open(`admin/status/iptmon_host?key=${encodeURIComponent(mac(3))}`, { base: ro });
      expect(await q.getAttribute("#iptmon-host-view", "data-key")).toBe(mac(3));
      expect(ro.execs.map((e) => e.args.join(" ")).filter((l) => l.startsWith("status")).slice(2)).toEqual(["status --json --busiest"]);
      await q.close();
    } finally {
      mutate = (_a, out) => out;
      ro.stop();
    }
  }, 60_000);

  /** A split table as shown: each part's raw name, label and numbers by column, and its last row (the whole). */
  const splitTable = (p: Page, by: "family" | "service") =>
    p.evaluate((by) => {
      const nums = (tr: Element) => {
        const v: Record<string, number> = {};
        for (const td of tr.querySelectorAll<HTMLElement>("td[data-value]")) v[td.dataset.title!] = Number(td.dataset.value);
        return v as { Download: number; Upload: number; Total: number; Share: number };
      };
      const table = document.getElementById(`iptmon-split-${by}`);
      if (!table) return null;
      return {
        rows: [...table.querySelectorAll<HTMLElement>("tr[data-part]")].map((tr) => ({ part: tr.dataset.part!, label: tr.children[0]!.textContent!, ...nums(tr) })),
        whole: nums(document.getElementById(`iptmon-split-${by}-total`)!),
      };
    }, by);
  type Shown = NonNullable<Awaited<ReturnType<typeof splitTable>>>;
  const LABELS: Record<string, string> = { ipv4: "IPv4", ipv6: "IPv6", other: "other", unsplit: "before the split began" };

  /** The table shows exactly `parts` (in their order) of `whole`, and they add up to it. */
  const expectSplit = (shown: Shown, parts: Record<string, Part>, whole: Part) => {
    const all = whole.rx_bytes + whole.tx_bytes;
    expect(shown.rows.map((r) => ({ part: r.part, label: r.label, Download: r.Download, Upload: r.Upload, Total: r.Total }))).toEqual(
      Object.entries(parts).map(([part, x]) => ({ part, label: LABELS[part] ?? part, Download: x.tx_bytes, Upload: x.rx_bytes, Total: x.tx_bytes + x.rx_bytes })),
    );
    for (const r of shown.rows) expect(r.Share).toBeCloseTo(all ? r.Total / all : 0, 12);
    expect(shown.rows.reduce((a, r) => a + r.Download, 0)).toBe(whole.tx_bytes);
    expect(shown.rows.reduce((a, r) => a + r.Upload, 0)).toBe(whole.rx_bytes);
    if (all) expect(shown.rows.reduce((a, r) => a + r.Share, 0)).toBeCloseTo(1, 9);
    expect(shown.whole).toMatchObject({ Download: whole.tx_bytes, Upload: whole.rx_bytes, Total: all });
  };

  test("host: the split of its totals and of each period's usage, by family and by service, equals the JSON and adds up", async () => {
    // Host 0 has parts and real traffic (ICMP: IPv4, other); host 1 was counted before the split began.
    expect(router.ping(20, 500).code).toBe(0);
    for (const key of [mac(0), mac(1)]) {
      const p = await open(`admin/status/iptmon_host?key=${encodeURIComponent(key)}`);
      const h = (JSON.parse(router.iptmon("status", "--json").stdout) as Status).hosts.find((x) => x.key === key)!;
      const rep = JSON.parse(router.iptmon("usage", "--json", "--period", "all").stdout) as UsageReport;
      // --busiest carries no split: with the split configured, the whole list is read, once.
      expect(await p.evaluate(() => window.standin.log.exec.map((e) => e.args.join(" ")).filter((l) => l.startsWith("status")))).toEqual(["status --json"]);
      expect(h.families && h.services).toBeTruthy();
      const used = rep.periods.filter((x) => x.hosts.some((y) => y.key === key)).reverse();
      expect(await p.locator("#iptmon-split-of option").evaluateAll((os) => os.map((o) => (o as HTMLOptionElement).value))).toEqual(["total", ...used.map((x) => x.name)]);
      // The totals first, then each period's usage.
      const of: { id: string; obj: Part & { families?: Record<string, Part>; services?: Record<string, Part> } }[] = [{ id: "total", obj: h }, ...used.map((x) => ({ id: x.name, obj: x.hosts.find((y) => y.key === key)! }))];
      for (const { id, obj } of of) {
        await p.selectOption("#iptmon-split-of", id);
        expect(await p.getAttribute("#iptmon-host-split", "data-of")).toBe(id);
        expectSplit((await splitTable(p, "family"))!, obj.families!, obj);
        expectSplit((await splitTable(p, "service"))!, obj.services!, obj);
      }
      if (key === mac(1)) expect(Object.keys(h.families!)).toEqual(["ipv4", "ipv6", "unsplit"]);
      else expect(Object.keys(h.services!)).toEqual(expect.arrayContaining(["web", "dns", "other"]));
      await p.close();
    }
  }, 60_000);

  test("usage: split by family or service sums the period's hosts' parts; the CSV then has a row per host and part", async () => {
    const rep = JSON.parse(router.iptmon("usage", "--json", "--period", "all").stdout) as UsageReport;
    const p = await open("admin/status/iptmon_usage");
    expect(await p.locator("#iptmon-split-by option").evaluateAll((os) => os.map((o) => (o as HTMLOptionElement).value))).toEqual(["none", "family", "service"]);
    expect(await p.isVisible("#iptmon-usage-split")).toBe(false);
    for (const by of ["family", "service"] as const) {
      await p.selectOption("#iptmon-split-by", by);
      for (const [i, per] of rep.periods.entries()) {
        await p.selectOption("#iptmon-period-picker", String(i));
        const shown = (await splitTable(p, by))!;
        const sums: Record<string, Part> = {};
        for (const h of per.hosts)
          for (const [part, x] of Object.entries((by === "family" ? h.families : h.services)!)) {
            const s = (sums[part] ??= { rx_bytes: 0, rx_packets: 0, tx_bytes: 0, tx_packets: 0 });
            for (const f of ["rx_bytes", "rx_packets", "tx_bytes", "tx_packets"] as const) s[f] += x[f];
          }
        // Every host's parts keep their order in the table (the config's, then other, then unsplit).
        const order = shown.rows.map((r) => r.part);
        for (const h of per.hosts) {
          const own = Object.keys((by === "family" ? h.families : h.services)!);
          expect(order.filter((x) => own.includes(x))).toEqual(own);
        }
        expectSplit(shown, Object.fromEntries(order.map((x) => [x, sums[x]!])), per.total as Part);
        expect(order.sort()).toEqual(Object.keys(sums).sort());
        if (by === "service" && i === 1) {
          const [dl] = await Promise.all([p.waitForEvent("download"), p.click("#iptmon-csv")]);
          expect(dl.suggestedFilename()).toBe(`iptmon-usage-${per.name}-by-service.csv`);
          const lines = readFileSync((await dl.path())!, "utf8").trim().split("\r\n");
          expect(lines[0]).toBe('"period","start","end","key","name","mac","part","download_bytes","upload_bytes","download_packets","upload_packets"');
          expect(lines.slice(1)).toEqual(per.hosts.flatMap((h) => Object.entries(h.services!).map(([part, x]) => `"${per.name}",${per.start},${per.end},"${h.key}","${h.name}","${h.mac}","${part}",${x.tx_bytes},${x.rx_bytes},${x.tx_packets},${x.rx_packets}`)));
        }
      }
    }
    // None again: no split table, and the CSV a row per host.
    await p.selectOption("#iptmon-split-by", "none");
    expect(await p.isVisible("#iptmon-usage-split")).toBe(false);
    const [dl] = await Promise.all([p.waitForEvent("download"), p.click("#iptmon-csv")]);
    expect(readFileSync((await dl.path())!, "utf8").split("\r\n")[0]).not.toContain('"part"');
    await p.close();
  }, 60_000);

  test("hosts and usage: a login the ACL refuses sees why, not an empty table", async () => {
    const denied = startStandin({ exec: () => ({ code: 126, stdout: "", stderr: "permission denied" }) });
    try {
      const p = await open("admin/status/iptmon", { base: denied, refused: true });
      expect(await p.textContent("#iptmon-period")).toContain("Could not read iptmon's status");
      expect(await p.locator("#iptmon-hosts tr[data-key]").count()).toBe(0);
      await p.close();
      const u = await open("admin/status/iptmon_usage", { base: denied, refused: true });
      expect(await u.textContent("#iptmon-usage-none")).toBe("Could not read the usage from iptmon.");
      await u.close();
    } finally {
      denied.stop();
    }
  }, 60_000);

  test("settings: the options from UCI, the export's warning", async () => {
    const p = await open("admin/services/iptmon");
    const vals = await p.evaluate(() => Object.fromEntries([...document.querySelectorAll<HTMLInputElement>("[data-option]")].map((i) => [i.dataset.option, i.type === "checkbox" ? i.checked : i.value])));
    expect(vals).toMatchObject({ enabled: false, hook: "auto", period: "day", periods_kept: "30", lan_interface: "br-lan" });
    // 'enabled' appears twice (iptmon's and the export's); the export's is off in this config.
    expect(await p.locator("[data-option=enabled]").evaluateAll((els) => els.map((e) => (e as HTMLInputElement).checked))).toEqual([true, false]);
    expect(await p.textContent("[data-type=prometheus] .cbi-section-descr")).toContain("without a login");
    // The split this config turns on, as the form shows it.
    expect(await p.locator("[data-option=breakdown] option[selected]").evaluateAll((els) => els.map((e) => (e as HTMLOptionElement).value))).toEqual(["family", "service"]);
    await p.close();
  }, 60_000);

  test("light and dark: table text is readable on its background; a 375 px phone scrolls no view sideways", async () => {
    const views = [
      ["hosts", "admin/status/iptmon"],
      ["usage", "admin/status/iptmon_usage"],
      ["host", `admin/status/iptmon_host?key=${encodeURIComponent(mac(4))}`],
      ["settings", "admin/services/iptmon"],
    ] as const;
    for (const dark of [false, true]) {
      for (const [name, path] of views) {
        for (const width of [1100, 375]) {
          const p = await open(path, { width, dark });
          // The usage page with its split table shown.
          if (name === "usage") await p.selectOption("#iptmon-split-by", "service");
          if (name === "hosts") {
            // A few readings with traffic between them, so the chart has a line.
            await tick(p);
            for (const count of [100, 300, 200]) {
              router.ping(count, 1000);
              await tick(p);
            }
          }
          const m = await p.evaluate(() => {
            const td = document.querySelector<HTMLElement>("#maincontent td")!;
            const bgOf = (e: HTMLElement | null): string => {
              for (; e; e = e.parentElement) {
                const c = getComputedStyle(e).backgroundColor;
                if (c !== "rgba(0, 0, 0, 0)" && c !== "transparent") return c;
              }
              return getComputedStyle(document.documentElement).backgroundColor;
            };
            return {
              overflow: document.documentElement.scrollWidth - window.innerWidth,
              fg: td ? getComputedStyle(td).color : null,
              bg: td ? bgOf(td) : null,
              link: document.querySelector("#maincontent td a") ? getComputedStyle(document.querySelector("#maincontent td a")!).color : null,
            };
          });
          expect({ name, dark, width, scrollsSideways: m.overflow > 0 }).toEqual({ name, dark, width, scrollsSideways: false });
          if (m.fg && m.bg) expect(contrast(m.fg, m.bg)).toBeGreaterThanOrEqual(4.5);
          if (m.link && m.bg) expect(contrast(m.link, m.bg)).toBeGreaterThanOrEqual(4.5);
          await shot(p, `${name}-${dark ? "dark" : "light"}-${width === 375 ? "phone" : "desktop"}`);
          await p.close();
        }
      }
    }
  }, 180_000);
});

/**
 * What a refresh costs the page's main thread: long tasks (> 50 ms, the
 * browser's own Long Tasks API) around one poll, and the view's own timing of
 * its redraw; and the bytes each poll reads. At 5,000 hosts "show all" draws
 * every host, so that refresh is measured too.
 */
describe.skipIf(skip !== null)("iptmon's hosts view at scale", () => {
  let browser: Browser;
  const results: Record<string, unknown>[] = [];

  beforeAll(async () => {
    const { chromium } = await import("playwright-core");
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox", "--disable-gpu"] });
  });
  afterAll(async () => {
    await browser?.close().catch(() => {});
    if (results.length) {
      mkdirSync(join(ROOT, "artifacts"), { recursive: true });
      writeFileSync(join(ROOT, "artifacts/luci-views-scale.json"), `${JSON.stringify(results, null, 1)}\n`);
      console.log(JSON.stringify(results));
    }
  });

  for (const n of (process.env.IPTMON_LUCI_SCALE ?? "10,1000,5000").split(",").map(Number)) {
    test(`${n} hosts: a poll's refresh blocks the main thread at most 500 ms`, async () => {
      const router = new Router(n);
      const standin = startStandin({ exec: (cmd, args) => {
        const line = args.join(" ");
        if (cmd === CMD && line === "status --json --busiest") return { code: 0, stdout: router.busiest(), stderr: "" };
        if (cmd === CMD && line === "status --json") return router.iptmon("status", "--json");
        return { code: 126, stdout: "", stderr: "not allowed" };
      } });
      try {
        const p = await browser.newPage({ viewport: { width: 1100, height: 800 } });
        const errors: string[] = [];
        p.on("pageerror", (e) => errors.push(e.message));
        p.on("console", (m) => {
          if (m.type() === "error") errors.push(m.text());
        });
        await p.addInitScript(() => {
          (window as unknown as { longTasks: number[] }).longTasks = [];
          new PerformanceObserver((l) => { for (const e of l.getEntries()) (window as unknown as { longTasks: number[] }).longTasks.push(e.duration); }).observe({ entryTypes: ["longtask"] });
        });
        await p.goto(`${standin.url}/cgi-bin/luci/admin/status/iptmon`);
        await p.waitForFunction(() => document.body.dataset.ready === "1", undefined, { timeout: 60_000 });
        const measure = async (what: () => Promise<unknown>) => {
          await p.evaluate(() => { (window as unknown as { longTasks: number[] }).longTasks = []; });
          await what();
          await p.evaluate(() => new Promise((r) => requestAnimationFrame(() => setTimeout(r, 50))));
          return p.evaluate(() => ({ longest: Math.max(0, ...(window as unknown as { longTasks: number[] }).longTasks), refreshMs: (window.standin.view as unknown as { lastRefreshMs: number }).lastRefreshMs }));
        };
        const polls = [];
        for (let i = 0; i < 3; i++) polls.push(await measure(() => p.evaluate(() => window.standin.tick())));
        const bytes = standin.execs.filter((e) => e.args.join(" ") === "status --json --busiest").map((e) => e.bytes);
        const rowsShown = await p.locator("#iptmon-hosts tr[data-key]").count();
        expect(rowsShown).toBe(Math.min(n, 100));
        const all = await measure(async () => {
          await p.click("#iptmon-all");
          // Every host is known now; a page of them is drawn, "Show more" draws the next.
          await p.waitForFunction((k) => document.getElementById("iptmon-shown")!.textContent === k, `${Math.min(n, 250)} of ${n} hosts shown`, { timeout: 60_000 }).catch(async (e) => {
            throw new Error(`${(e as Error).message}; rows: ${await p.locator("#iptmon-hosts tr[data-key]").count()}, errors: ${errors.join("; ")}, hosts in status: ${(JSON.parse(router.iptmon("status", "--json").stdout) as Status).hosts.length}`);
          });
        });
        const afterAll = await measure(() => p.evaluate(() => window.standin.tick()));
        expect(await p.locator("#iptmon-hosts tr[data-key]").count()).toBe(Math.min(n, 250));
        expect(await p.isVisible("#iptmon-more")).toBe(n > 250);
        // A search runs over every host, not just the page drawn.
        await p.fill("#iptmon-search", `host-${String(n - 1).padStart(4, "0")}`);
        expect(await p.locator("#iptmon-hosts tr[data-key]").count()).toBe(1);
        await p.fill("#iptmon-search", "");
        const allBytes = standin.execs.filter((e) => e.args.join(" ") === "status --json").map((e) => e.bytes);
        const worst = Math.max(...polls.map((x) => x.longest), afterAll.longest);
        results.push({ hosts: n, pollBytes: bytes.at(-1), allBytes: allBytes.at(-1), pollLongestTaskMs: Math.max(...polls.map((x) => x.longest)), pollRefreshMs: Math.max(...polls.map((x) => x.refreshMs)), showAllLongestTaskMs: all.longest, showAllRefreshMs: all.refreshMs, pollWithAllShownLongestTaskMs: afterAll.longest, pollWithAllShownRefreshMs: afterAll.refreshMs });
        expect(errors).toEqual([]);
        expect(worst).toBeLessThanOrEqual(500);
        expect(all.longest).toBeLessThanOrEqual(500);
        await p.close();
      } finally {
        standin.stop();
        router.destroy();
      }
    }, 600_000);
  }
});

declare global {
  interface Window {
    standin: {
      tick(): Promise<unknown>;
      view: unknown;
      log: { exec: { cmd: string; args: string[]; bytes: number; end: number }[]; saved: unknown[][]; applied: boolean[]; notifications: { cls: string; text: string }[] };
    };
  }
}
