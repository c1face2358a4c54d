/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
// (page.evaluate callbacks run in the browser: they use DOM types)
/**
 * luci-app-iptmon on OpenWrt's own web stack: ubusd, rpcd, uhttpd with LuCI's
 * ucode handler, cgi-io and the Bootstrap theme, run inside the virtual
 * router's namespace on a private root, with the iptmon and luci-app-iptmon
 * packages from dist/ (`make ipk`) installed into it the way opkg installs
 * them; Debian's Chromium, headless in a LAN client's namespace, logs in to
 * LuCI from the login page the router serves.
 *
 * Skipped (counted, `e2e skip: LuCI stack: …`) unless IPTMON_LUCI_STACK names a
 * directory holding that stack, built for this machine (dynamically linked
 * against its glibc, json-c, libcrypt and libnl-3), laid out as on a router:
 *   usr/sbin/ubusd, usr/sbin/rpcd, usr/bin/uhttpd, usr/bin/ucode, usr/bin/uci,
 *   usr/bin/ubus, usr/libexec/cgi-io, usr/libexec/luci-peeraddr (luci-mod-network:
 *   LuCI's Save & Apply runs it);
 *   usr/lib/: libubox.so, libubus.so, libuci.so, libblobmsg_json.so,
 *     libjson_script.so, libucode.so.0, liblucihttp.so.0, uhttpd_ubus.so,
 *     uhttpd_ucode.so; usr/lib/ucode/: fs, uci, ubus, uloop, math, html and
 *     lucihttp .so, luci/core.so; usr/lib/rpcd/: file, ucode, rpcsys, luci .so;
 *   usr/share/ucode/luci/ (luci-base's ucode with the templates of
 *     luci-theme-bootstrap), usr/share/rpcd/ucode/luci,
 *     usr/share/rpcd/acl.d/luci-base.json and rpcd's unauthenticated.json (mode
 *     0644: rpcd refuses others; without the latter the login page turns into
 *     "Session expired"),
 *     usr/share/luci/menu.d/ (luci-base, luci-mod-status, luci-mod-system,
 *     luci-mod-network);
 *   www/ (luci-static/resources, luci-static/bootstrap, bootstrap-dark,
 *     bootstrap-light, cgi-bin/luci, cgi-bin/cgi-exec -> ../../usr/libexec/cgi-io);
 *   etc/config/luci, etc/uci-defaults/30_luci-theme-bootstrap.
 * The suite builds dist/iptmon (`make build`) and the packages (`make ipk`)
 * of this tree itself.
 *
 * The private root (a temp dir): etc/ and www/ are copies of the stack's, usr/
 * is an overlay of the stack's usr/ over the machine's /usr (sh, glibc, nft),
 * mounted in a mount namespace of its own (with a pid namespace, so a
 * postinst's `killall -HUP rpcd` reaches only this rpcd), so nothing touches
 * the machine's /etc, /usr or /www and everything goes when the namespaces
 * do. Every stack process runs `nsenter` into those namespaces and `chroot`s
 * into the root. procd is not there: a small ucode script publishes the
 * `system` object (board, info) the theme's header asks for, and Save &
 * Apply commits the config but reloads no service (no procd, no ucitrack
 * run): the period setting shows in `iptmon` because it reads its config on
 * every call. The packages are unpacked into
 * the root as opkg does (data into /, control files as
 * /usr/lib/opkg/info/<name>.*, status entry) and their postinst is run in the
 * root (no /lib/functions.sh there: postinst runs postinst-pkg, as with opkg
 * outside OpenWrt). The package's iptmon is a musl build that cannot run
 * here: dist/iptmon (glibc) replaces /usr/sbin/iptmon in the root.
 *
 * Checked: the menu entries after login, every host with the totals of
 * `iptmon status --json`, no data without a session (iptmon's CGIs,
 * /cgi-bin/cgi-exec with each command line of the ACL, /ubus file.exec) nor
 * for a login without the luci-app-iptmon group (no menu entries either), a
 * login with only its read half reading but refused the reset, no
 * console errors, the table's colours and font equal LuCI's own content under
 * Bootstrap and BootstrapDark, a setting saved in the form reaching
 * /etc/config/iptmon and `iptmon` itself, and the one-host page (from the
 * table's link) whose Reset runs `iptmon reset -- KEY` under the ACL's write
 * grant, and the host page's split once `list breakdown` is set. Screenshots
 * go to artifacts/luci/.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { BrowserContext, Page } from "playwright-core";
import { exec, execOk, iptmonBin, ROOT, CHROMIUM, chromiumIn, skipReason, SYS_PATH } from "./harness.ts";
import { LAN4_SUBNET, ROUTER_LAN4, VRouter, VROUTER_NEEDS, waitFor } from "./vrouter.ts";

const SUITE = "LuCI stack";
const STACK = process.env.IPTMON_LUCI_STACK ?? "";
const DIST = join(ROOT, "dist");

const STACK_FILES = ["usr/sbin/ubusd", "usr/sbin/rpcd", "usr/bin/uhttpd", "usr/bin/ucode", "usr/bin/uci", "usr/libexec/cgi-io", "usr/lib/uhttpd_ucode.so", "usr/lib/uhttpd_ubus.so", "usr/share/ucode/luci/uhttpd.uc", "www/luci-static/bootstrap-dark", "etc/config/luci"];

function whySkip(): string | null {
  if (!STACK) {
    console.warn(`e2e skip: ${SUITE}: IPTMON_LUCI_STACK is not set (a directory holding OpenWrt's web stack built for this machine; see this file's header)`);
    return "IPTMON_LUCI_STACK is not set";
  }
  return skipReason(SUITE, [...VROUTER_NEEDS, CHROMIUM, "unshare", "nsenter", "chroot", "openssl", "curl", ...STACK_FILES.map((f) => join(STACK, f))]);
}

const skip = whySkip();
const BIN = skip ? "" : iptmonBin();
const ARTIFACTS = join(ROOT, "artifacts/luci");
const BASE = `http://${ROUTER_LAN4}`;
const LUCI = `${BASE}/cgi-bin/luci`;
const PASSWORD = `t-${Math.random().toString(36).slice(2, 10)}`;
/** The ACL's read command lines: each must be refused without a session. */
const COMMANDS = [
  ["/usr/sbin/iptmon", "status", "--json", "--busiest"],
  ["/usr/sbin/iptmon", "status", "--json"],
  ["/usr/sbin/iptmon", "usage", "--json", "--period", "all"],
];
const NAMES = ["living-room-tv", "study-laptop", "kitchen-tablet"];

/** The `system` object procd would publish: what LuCI's header and status pages ask for. */
const SYSTEM_UC = `'use strict';
import * as ubus from 'ubus';
import * as uloop from 'uloop';
uloop.init();
const conn = ubus.connect();
conn.publish('system', {
	board: { args: {}, call: (req) => req.reply({ kernel: 'test', hostname: 'iptmon-router', system: 'virtual', model: 'iptmon test router', board_name: 'iptmon-test', rootfs_type: 'ext4', release: { distribution: 'OpenWrt', version: 'SNAPSHOT', revision: 'test', target: 'x86/64', description: 'OpenWrt SNAPSHOT' } }) },
	info: { args: {}, call: (req) => req.reply({ localtime: time(), uptime: 100, load: [ 0, 0, 0 ], memory: { total: 1073741824, free: 536870912, shared: 0, buffered: 0, available: 536870912, cached: 0 }, root: { total: 1048576, free: 524288, used: 524288, avail: 524288 }, tmp: { total: 1048576, free: 524288, used: 524288, avail: 524288 }, swap: { total: 0, free: 0 } }) },
});
uloop.run();
`;

interface StatusHost {
  name: string;
  key: string;
  mac: string | null;
  rx_bytes: number;
  tx_bytes: number;
  families?: Record<string, { rx_bytes: number; tx_bytes: number }>;
}

describe.skipIf(skip !== null)("luci-app-iptmon on OpenWrt's web stack", () => {
  let vr: VRouter;
  let dir: string;
  let root: string;
  /** The process that holds the private namespaces (pid 1 in its pid namespace; its pid here). */
  let nsPid = 0;
  let ctx: BrowserContext;
  let page: Page;
  const errors: string[] = [];

  /** argv run inside the router's network namespace, the private mount namespace and the root. */
  const inRoot = (argv: string[]) => ["nsenter", "-t", String(nsPid), "-m", "-n", "-p", "--", "chroot", root, ...argv];
  const rootEnv = { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", HOME: "/root" };
  const runRoot = (argv: string[], input?: string) => execOk(null, inRoot(argv), { cleanEnv: true, env: rootEnv, ...(input === undefined ? {} : { input }) });
  const startRoot = (name: string, argv: string[]) => vr.spawn(vr.routerNs, inRoot(argv), { cleanEnv: true, env: rootEnv, logName: name });
  const status = (): { hosts: StatusHost[]; period?: { name: string; start: number; end: number } | null } => JSON.parse(runRoot(["/usr/sbin/iptmon", "status", "--json"]).stdout);
  /** From the LAN client that runs no browser: curl, status code and body. */
  const curl = (args: string[]) => {
    const r = exec(vr.clients[1]!.ns, ["curl", "-s", "-m", "20", "-w", "\n%{http_code}", ...args], { cleanEnv: true, env: { PATH: SYS_PATH } });
    const i = r.stdout.lastIndexOf("\n");
    return { code: Number(r.stdout.slice(i + 1)), body: r.stdout.slice(0, i) };
  };

  /** Unpacks one .ipk into the root as opkg does, then runs its postinst there. */
  const installIpk = (file: string) => {
    const x = mkdtempSync(join(dir, "ipk-"));
    execOk(null, ["tar", "-xzf", join(DIST, file), "-C", x]);
    const ctl = join(x, "control");
    mkdirSync(ctl);
    execOk(null, ["tar", "-xzf", join(x, "control.tar.gz"), "-C", ctl]);
    const control = readFileSync(join(ctl, "control"), "utf8");
    const name = /^Package: (.+)$/m.exec(control)![1]!;
    const files = execOk(null, ["tar", "-tzf", join(x, "data.tar.gz")]).stdout.split("\n").filter((f) => f && !f.endsWith("/")).map((f) => f.replace(/^\./, ""));
    // data.tar.gz into / (the overlay /usr exists only in the private mount namespace).
    execOk(null, ["nsenter", "-t", String(nsPid), "-m", "--", "tar", "-xzpf", join(x, "data.tar.gz"), "-C", root, "--keep-directory-symlink"]);
    const info = "/usr/lib/opkg/info";
    const stage = join(dir, "opkg-info");
    mkdirSync(stage, { recursive: true });
    for (const f of readdirSync(ctl)) copyFileSync(join(ctl, f), join(stage, `${name}.${f}`));
    writeFileSync(join(stage, `${name}.list`), `${files.join("\n")}\n`);
    execOk(null, ["nsenter", "-t", String(nsPid), "-m", "--", "sh", "-c", `mkdir -p '${root}${info}' && cp -p '${stage}'/'${name}'.* '${root}${info}/' && printf '%s\\nStatus: install user installed\\n\\n' "$(grep -E '^(Package|Version|Depends|Architecture):' '${join(ctl, "control")}')" >> '${root}/usr/lib/opkg/status'`]);
    rmSync(stage, { recursive: true, force: true });
    if (existsSync(join(ctl, "postinst"))) runRoot(["/bin/sh", `${info}/${name}.postinst`, "configure"]);
    return { name, files };
  };

  const listen = (p: Page, label: string) => {
    p.on("console", (m) => {
      if (m.type() === "error") errors.push(`${label}: ${m.text()} (${m.location().url})`);
    });
    p.on("pageerror", (e) => errors.push(`${label}: ${e.message}`));
  };
  const open = async (url: string, label: string): Promise<Page> => {
    const p = await ctx.newPage();
    listen(p, label);
    await p.goto(url);
    return p;
  };

  /** The hosts table as the view shows it: key, name and the raw totals it keeps in data-value. */
  const tableRows = (p: Page) =>
    p.evaluate(() =>
      [...document.querySelectorAll<HTMLTableRowElement>("#iptmon-hosts tr[data-key]")].map((tr) => {
        const v: Record<string, string> = {};
        for (const td of tr.querySelectorAll<HTMLElement>("td[data-value]")) v[td.dataset.title!] = td.dataset.value!;
        return { key: tr.dataset.key!, name: tr.querySelector("a")?.textContent ?? "", down: v["Total down"], up: v["Total up"] };
      }),
    );

  beforeAll(async () => {
    // The packages of this tree (`make ipk`; a failed build fails the suite), first: it takes a while.
    const made = exec(null, ["make", "-C", ROOT, "ipk"], { timeoutMs: 600_000 });
    if (made.code !== 0) throw new Error(`make ipk failed (${made.code}): ${made.stderr.trim() || made.stdout.trim()}`);
    const pkg = (re: RegExp) => {
      const f = readdirSync(DIST).find((n) => re.test(n));
      if (!f) throw new Error(`make ipk left no ${re} in dist/`);
      return f;
    };
    dir = mkdtempSync(join(tmpdir(), "iptmon-luci-"));
    root = join(dir, "root");
    for (const d of ["usr", "proc", "dev", "sys", "tmp/run/ubus", "root", "upper", "work"]) mkdirSync(join(d === "upper" || d === "work" ? dir : root, d), { recursive: true });
    for (const l of ["bin", "lib", "lib64", "sbin"]) symlinkSync(`usr/${l}`, join(root, l));
    symlinkSync("tmp", join(root, "var"));
    cpSync(join(STACK, "etc"), join(root, "etc"), { recursive: true, verbatimSymlinks: true });
    cpSync(join(STACK, "www"), join(root, "www"), { recursive: true, verbatimSymlinks: true });
    copyFileSync("/etc/ld.so.cache", join(root, "etc/ld.so.cache"));
    // Debian's awk, editor and the like are links through /etc/alternatives.
    cpSync("/etc/alternatives", join(root, "etc/alternatives"), { recursive: true, verbatimSymlinks: true });
    writeFileSync(join(root, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n");
    writeFileSync(join(root, "etc/group"), "root:x:0:\nnogroup:x:65534:\n");
    // root's password as /etc/shadow holds it; rpcd's login refers to it ($p$root).
    const hash = execOk(null, ["openssl", "passwd", "-6", PASSWORD]).stdout.trim();
    writeFileSync(join(root, "etc/shadow"), `root:${hash}:19000:0:99999:7:::\n`, { mode: 0o600 });
    // Two more logins (crypt hashes in rpcd's config): one without iptmon's ACL group, one with its read half only.
    const login = (user: string, pw: string, groups: string[], write: string[] = []) =>
      `\nconfig login\n\toption username '${user}'\n\toption password '${pw}'\n${groups.map((g) => `\tlist read '${g}'\n`).join("")}${write.map((g) => `\tlist write '${g}'\n`).join("")}`;
    const other = execOk(null, ["openssl", "passwd", "-6", PASSWORD]).stdout.trim();
    writeFileSync(
      join(root, "etc/config/rpcd"),
      "config rpcd\n\toption socket /var/run/ubus/ubus.sock\n\toption timeout 30\n" +
        login("root", "$p$root", ["*"], ["*"]) +
        login("guest", other, ["luci-base", "luci-mod-status-index"]) +
        login("reader", other, ["luci-base", "luci-mod-status-index", "luci-app-iptmon"]),
    );
    writeFileSync(join(root, "tmp/system.uc"), SYSTEM_UC);

    // The dhcp-script dnsmasq runs: iptmon inside the root, with the root's /etc/config/iptmon.
    const hook = join(dir, "dhcp-script");
    writeFileSync(hook, `#!/bin/sh\nexec nsenter -t "$(cat '${dir}/holder.pid')" -m -p -- chroot '${root}' /usr/sbin/iptmon "$@"\n`, { mode: 0o755 });
    vr = await VRouter.create({ clients: [{ ipv6: false }, { ipv6: false }, { ipv6: false }], dhcpScript: hook, startDnsmasq: false });
    mkdirSync(join(root, vr.tmpDir), { recursive: true });

    // The private mount namespace, held by a sleeping process in the router's network namespace.
    const mounts = [
      `mount -t overlay overlay -o lowerdir=${join(STACK, "usr")}:/usr,upperdir=${join(dir, "upper")},workdir=${join(dir, "work")} ${root}/usr`,
      `mount --rbind /dev ${root}/dev`,
      `mount -t proc proc ${root}/proc`,
      `mount -t sysfs sysfs ${root}/sys`,
      `mount --bind ${vr.tmpDir} ${root}${vr.tmpDir}`,
    ].join(" && ");
    // A pid namespace too, so that what runs in the root (a postinst's `killall -HUP rpcd`) sees only its own processes.
    const holder = vr.spawn(vr.routerNs, ["unshare", "-m", "-p", "--fork", "--propagation", "private", "sh", "-c", `${mounts} && exec sleep 86400`], { logName: "holder" });
    const mounted = () => {
      try {
        const child = Number(readFileSync(`/proc/${holder.pid}/task/${holder.pid}/children`, "utf8").trim().split(" ")[0]);
        return child > 0 && readFileSync(`/proc/${child}/cmdline`, "utf8").startsWith("sleep") ? child : false;
      } catch {
        return false;
      }
    };
    nsPid = await waitFor(mounted, "the private root to be mounted", 10_000, 50);
    writeFileSync(join(dir, "holder.pid"), String(nsPid));

    // First boot: uci-defaults, then the services in OpenWrt's order.
    runRoot(["/bin/sh", "-c", "cd /etc/uci-defaults && for f in *; do [ -f \"$f\" ] && sh \"./$f\" && rm -f \"$f\"; done; true"]);
    startRoot("ubusd", ["/usr/sbin/ubusd", "-s", "/var/run/ubus/ubus.sock"]);
    await waitFor(() => existsSync(join(root, "tmp/run/ubus/ubus.sock")), "ubusd's socket", 10_000, 50);
    startRoot("system", ["/usr/bin/ucode", "/tmp/system.uc"]);
    startRoot("rpcd", ["/usr/sbin/rpcd", "-s", "/var/run/ubus/ubus.sock", "-t", "30"]);
    await waitFor(() => {
      const l = exec(null, inRoot(["/usr/bin/ubus", "list"]), { cleanEnv: true, env: rootEnv }).stdout.split("\n");
      return l.includes("session") && l.includes("file") && l.includes("system");
    }, "rpcd and the system object on ubus", 10_000, 100);
    startRoot("uhttpd", ["/usr/bin/uhttpd", "-f", "-h", "/www", "-r", "OpenWrt", "-x", "/cgi-bin", "-u", "/ubus", "-t", "60", "-T", "30", "-k", "20", "-A", "1", "-n", "3", "-N", "100", "-R", "-p", `${ROUTER_LAN4}:80`, "-o", "/cgi-bin/luci", "-O", "/usr/share/ucode/luci/uhttpd.uc"]);

    // The packages, into the running system as `opkg install` would put them.
    installIpk(pkg(/^iptmon_.*_x86_64\.ipk$/));
    execOk(null, ["nsenter", "-t", String(nsPid), "-m", "--", "install", "-m", "0755", BIN, join(root, "usr/sbin/iptmon")]);
    installIpk(pkg(/^luci-app-iptmon_.*_all\.ipk$/));
    runRoot(["/usr/bin/uci", "batch"], `set iptmon.main.backend='nftables'\nadd_list iptmon.main.lan_subnet='${LAN4_SUBNET}'\nset iptmon.main.leasefile='${vr.leaseFile}'\ncommit iptmon\n`);

    await vr.startDnsmasq();
    await Promise.all(NAMES.map((n, i) => vr.takeLease(i + 1, n)));
    await waitFor(() => status().hosts.length === NAMES.length, "three hosts in iptmon status", 15_000, 100);
    // Traffic of known, different sizes, so every host's totals differ.
    for (let i = 0; i < 2; i++) {
      await vr.upload(i + 1, { family: 4, count: 20 * (i + 1), size: 1000 });
      await vr.download(i + 1, { family: 4, count: 30 * (i + 1), size: 1200 });
    }

    ctx = await chromiumIn(vr.clients[2]!.ns, dir, ROUTER_LAN4, { width: 1280, height: 900 });
    mkdirSync(ARTIFACTS, { recursive: true });
  }, 720_000);

  afterAll(async () => {
    await ctx?.close().catch(() => {});
    vr?.destroy();
    // The mounts lived in the holder's namespace only: what is left is plain files.
    if (dir && process.env.IPTMON_E2E_KEEP !== "1") rmSync(dir, { recursive: true, force: true });
  });

  test("the router serves LuCI's login page, and logging in from it opens the hosts' traffic page", async () => {
    // LuCI answers the login page with 403, which Chromium logs as an error: count errors from the login on.
    page = await ctx.newPage();
    await page.goto(`${LUCI}/admin/status/iptmon`);
    // The theme's login view moves the server's form into a dialog: fill that one.
    const pass = page.locator("input[name=luci_password]:visible");
    await pass.waitFor({ timeout: 15_000 });
    // The theme shows only the password when LuCI fills in the user name: set it either way.
    await page.evaluate(() => {
      document.querySelector<HTMLInputElement>("input[name=luci_username]")!.value = "root";
    });
    await pass.fill(PASSWORD);
    listen(page, "hosts");
    await Promise.all([page.waitForNavigation(), page.click("button.cbi-button-positive:visible")]);
    expect(new URL(page.url()).pathname).toBe("/cgi-bin/luci/admin/status/iptmon");
    await page.waitForSelector("#iptmon-hosts", { timeout: 20_000 });
  }, 60_000);

  test("menu: Status → Hosts' traffic (iptmon) and the usage page, Services → iptmon; the one-host page is not listed", async () => {
    const links = await page.evaluate(() => [...document.querySelectorAll<HTMLAnchorElement>("#topmenu a, .nav a, #mainmenu a")].filter((a) => !(a.getAttribute("href") ?? "#").startsWith("#")).map((a) => [new URL(a.href, location.href).pathname, (a.textContent ?? "").trim()] as [string, string]));
    const byPath = new Map(links);
    expect(byPath.get("/cgi-bin/luci/admin/status/iptmon")).toBe("Hosts' traffic (iptmon)");
    expect(byPath.get("/cgi-bin/luci/admin/status/iptmon_usage")).toBe("Traffic usage (iptmon)");
    expect(byPath.get("/cgi-bin/luci/admin/services/iptmon")).toBe("iptmon");
    expect(byPath.has("/cgi-bin/luci/admin/status/iptmon_host")).toBe(false);
  }, 30_000);

  test("every host with the totals of `iptmon status --json`", async () => {
    const want = status().hosts;
    expect(want.length).toBe(NAMES.length);
    expect(want.filter((h) => h.rx_bytes > 0 && h.tx_bytes > 0).length).toBe(2);
    const seen = await waitFor(
      async () => {
        const rows = await tableRows(page);
        return rows.length === want.length && want.every((h) => rows.some((r) => r.key === h.key && r.down === String(h.tx_bytes) && r.up === String(h.rx_bytes))) ? rows : undefined;
      },
      "the table to show every host's totals",
      20_000,
      250,
    ).catch(async (e) => {
      throw new Error(`${(e as Error).message}: table ${JSON.stringify(await tableRows(page))}, status ${JSON.stringify(want)}`);
    });
    for (const h of want) expect(seen.find((r) => r.key === h.key)!.name).toBe(h.name);
    await page.screenshot({ path: join(ARTIFACTS, "hosts.png"), fullPage: true });
  }, 60_000);

  test("the usage page shows this period's hosts with traffic", async () => {
    const busy = status().hosts.filter((h) => h.rx_bytes + h.tx_bytes > 0);
    expect(busy.length).toBe(2);
    const u = await open(`${LUCI}/admin/status/iptmon_usage`, "usage");
    await u.waitForSelector("#iptmon-usage, #iptmon-usage-none", { timeout: 20_000 });
    const text = await u.evaluate(() => document.querySelector("#iptmon-usage")?.textContent ?? document.querySelector("#iptmon-usage-none")!.textContent!);
    await u.screenshot({ path: join(ARTIFACTS, "usage.png"), fullPage: true });
    await u.close();
    for (const h of busy) expect(text).toContain(h.name);
  }, 60_000);

  test("no data without a session: iptmon's CGIs, cgi-exec with each ACL command line, /ubus file.exec", async () => {
    const names = status().hosts.map((h) => h.name);
    const leaks = (body: string) => names.filter((n) => body.includes(n));
    for (const cgi of ["iptmon-hosts", "iptmon-metrics"]) {
      const r = curl([`${BASE}/cgi-bin/${cgi}`]);
      expect(r.code).not.toBe(200);
      expect(leaks(r.body)).toEqual([]);
    }
    const sid = await page.evaluate(() => (window as unknown as { L: { env: { sessionid: string } } }).L.env.sessionid);
    expect(sid).toMatch(/^[0-9a-f]{32}$/);
    for (const argv of COMMANDS) {
      const cmd = argv.join(" ");
      for (const s of [null, "0".repeat(32), "f".repeat(32)]) {
        const form = [...(s ? ["--data-urlencode", `sessionid=${s}`] : []), "--data-urlencode", `command=${cmd}`];
        const r = curl([...form, `${BASE}/cgi-bin/cgi-exec`]);
        expect(r.code).toBe(403);
        expect(leaks(r.body)).toEqual([]);
      }
      // The same request with the browser's session is answered: the refusals above are about the session.
      const ok = curl(["--data-urlencode", `sessionid=${sid}`, "--data-urlencode", `command=${cmd}`, `${BASE}/cgi-bin/cgi-exec`]);
      expect(ok.code).toBe(200);
      expect(leaks(ok.body).length).toBeGreaterThan(0);
      for (const s of ["0".repeat(32), "f".repeat(32)]) {
        const rpc = { jsonrpc: "2.0", id: 1, method: "call", params: [s, "file", "exec", { command: argv[0], params: argv.slice(1) }] };
        const r = curl(["-H", "Content-Type: application/json", "--data", JSON.stringify(rpc), `${BASE}/ubus`]);
        expect(leaks(r.body)).toEqual([]);
        const j = JSON.parse(r.body) as { error?: { code: number }; result?: unknown[] };
        expect(j.error?.code ?? (j.result?.[0] as number)).not.toBe(0);
      }
    }
  }, 60_000);

  test("a login without iptmon's ACL group sees no iptmon menu and gets no data; its read half reads but may not reset", async () => {
    const names = status().hosts.map((h) => h.name);
    const leaks = (body: string) => names.filter((n) => body.includes(n));
    const sessionOf = (user: string) => {
      const r = exec(vr.clients[1]!.ns, ["curl", "-s", "-m", "20", "-o", "/dev/null", "-D", "-", "--data-urlencode", `luci_username=${user}`, "--data-urlencode", `luci_password=${PASSWORD}`, `${LUCI}/`], { cleanEnv: true, env: { PATH: SYS_PATH } });
      const sid = /sysauth_http=([0-9a-f]{32})/.exec(r.stdout)?.[1];
      if (!sid) throw new Error(`no session for ${user}: ${r.stdout}`);
      return sid;
    };
    type MenuNode = { satisfied?: boolean; children?: Record<string, MenuNode> };
    /** Which of iptmon's pages the session's menu offers (LuCI lists the others as unsatisfied). */
    const offered = (sid: string) => {
      const tree = JSON.parse(curl(["-H", `Cookie: sysauth_http=${sid}`, `${LUCI}/admin/menu`]).body) as MenuNode;
      expect(tree.children?.admin?.children?.status?.satisfied).toBe(true);
      return ["admin/status/iptmon", "admin/status/iptmon_usage", "admin/status/iptmon_host", "admin/services/iptmon"].filter(
        (path) => path.split("/").reduce<MenuNode | undefined>((n, k) => n?.children?.[k], tree)?.satisfied === true,
      );
    };
    const execAs = (sid: string, argv: string[]) => curl(["--data-urlencode", `sessionid=${sid}`, "--data-urlencode", `command=${argv.join(" ")}`, `${BASE}/cgi-bin/cgi-exec`]);
    const ubusExec = (sid: string, argv: string[]) =>
      JSON.parse(curl(["-H", "Content-Type: application/json", "--data", JSON.stringify({ jsonrpc: "2.0", id: 1, method: "call", params: [sid, "file", "exec", { command: argv[0], params: argv.slice(1) }] }), `${BASE}/ubus`]).body) as { error?: { code: number }; result?: [number, { code?: number }?] };

    const guest = sessionOf("guest");
    expect(offered(guest)).toEqual([]);
    for (const argv of COMMANDS) {
      const r = execAs(guest, argv);
      expect(r.code).toBe(403);
      expect(leaks(r.body)).toEqual([]);
    }
    const reader = sessionOf("reader");
    expect(offered(reader)).toEqual(["admin/status/iptmon", "admin/status/iptmon_usage", "admin/status/iptmon_host", "admin/services/iptmon"]);
    for (const argv of COMMANDS) {
      const r = execAs(reader, argv);
      expect(r.code).toBe(200);
      expect(leaks(r.body).length).toBeGreaterThan(0);
    }
    const key = status().hosts.find((h) => h.rx_bytes > 0)!.key;
    const reset = ["/usr/sbin/iptmon", "reset", "--", key];
    const denied = ubusExec(reader, reset);
    expect(denied.error?.code ?? denied.result?.[0]).not.toBe(0);
    expect(execAs(reader, reset).code).toBe(403);
    expect(status().hosts.find((h) => h.key === key)!.rx_bytes).toBeGreaterThan(0);
  }, 60_000);

  test("the table's colours and font equal LuCI's own content, under Bootstrap and BootstrapDark", async () => {
    const looks: Record<string, { table: string[]; luci: string[] }> = {};
    for (const [theme, media] of [
      ["Bootstrap", "/luci-static/bootstrap"],
      ["BootstrapDark", "/luci-static/bootstrap-dark"],
    ] as const) {
      runRoot(["/usr/bin/uci", "batch"], `set luci.main.mediaurlbase='${media}'\ncommit luci\n`);
      const p = await open(`${LUCI}/admin/status/iptmon`, `hosts (${theme})`);
      await p.waitForSelector("#iptmon-hosts tr[data-key]", { timeout: 20_000 });
      expect(await p.evaluate(() => [...document.querySelectorAll("link[rel=stylesheet]")].map((l) => (l as HTMLLinkElement).href).join(" "))).toContain(`${media}/cascade.css`);
      const got = await p.evaluate(() => {
        const pick = (el: Element) => {
          const s = getComputedStyle(el);
          return [s.color, s.fontFamily, s.fontSize];
        };
        const bg = (el: Element | null): string => {
          for (; el; el = el.parentElement) {
            const c = getComputedStyle(el).backgroundColor;
            if (c !== "rgba(0, 0, 0, 0)" && c !== "transparent") return c;
          }
          return "none";
        };
        // LuCI's own markup for a table, as its form and status pages build it, beside the view's.
        const ref = document.createElement("table");
        ref.className = "table cbi-section-table";
        ref.innerHTML = '<tr class="tr table-titles"><th class="th">h</th></tr><tr class="tr"><td class="td">x</td></tr>';
        document.querySelector("#iptmon-hosts")!.parentElement!.appendChild(ref);
        const td = document.querySelector("#iptmon-hosts tr[data-key] td[data-value]")!;
        const th = document.querySelector("#iptmon-hosts th")!;
        const out = {
          table: [...pick(td), bg(td), ...pick(th), bg(th)],
          luci: [...pick(ref.querySelector("td")!), bg(ref.querySelector("td")), ...pick(ref.querySelector("th")!), bg(ref.querySelector("th"))],
        };
        ref.remove();
        return out;
      });
      await p.screenshot({ path: join(ARTIFACTS, `hosts-${theme}.png`), fullPage: true });
      await p.close();
      expect(got.table).toEqual(got.luci);
      looks[theme] = got;
    }
    // The themes differ where it shows: text and background colours are not the same in both.
    expect(looks.Bootstrap!.luci[0]).not.toBe(looks.BootstrapDark!.luci[0]);
    runRoot(["/usr/bin/uci", "batch"], "set luci.main.mediaurlbase='/luci-static/bootstrap'\ncommit luci\n");
  }, 90_000);

  test("a setting saved in the form reaches /etc/config/iptmon and iptmon: period day", async () => {
    const before = status().period;
    expect(before!.end - before!.start).toBeGreaterThan(25 * 3600);
    const p = await open(`${LUCI}/admin/services/iptmon`, "settings");
    const sel = "select[id$='.period'], select[name$='.period']";
    await p.waitForSelector(".cbi-map", { timeout: 20_000 });
    // The period is on its own tab: open it when the form has tabs.
    const tab = p.locator(".cbi-tabmenu li a", { hasText: /period/i });
    if ((await tab.count()) > 0) await tab.first().click();
    await p.waitForSelector(sel, { timeout: 10_000 });
    await p.selectOption(sel, "day");
    await p.click(".cbi-page-actions .cbi-button-apply, .cbi-page-actions button.cbi-button-apply");
    await waitFor(() => /option period 'day'/.test(readFileSync(join(root, "etc/config/iptmon"), "utf8")), "period 'day' in the root's /etc/config/iptmon", 30_000, 250);
    // LuCI applies with a rollback: the browser must confirm, or rpcd restores the old config.
    await p.waitForFunction(() => document.body.textContent!.includes("Configuration changes applied."), undefined, { timeout: 30_000 });
    await p.screenshot({ path: join(ARTIFACTS, "settings-saved.png"), fullPage: true });
    await p.close();
    const after = status().period;
    expect(after).toBeTruthy();
    expect(after!.end - after!.start).toBeLessThanOrEqual(25 * 3600);
    const usage = JSON.parse(runRoot(["/usr/sbin/iptmon", "usage", "--json", "--period", "all"]).stdout) as { periods: { name: string; current?: boolean }[] };
    expect(usage.periods.find((q) => q.current)?.name).toBe(after!.name);
  }, 90_000);

  test("the one-host page, reached from the table, shows the host, and its Reset zeroes it through the ACL's write grant", async () => {
    const h = status().hosts.find((x) => x.name === NAMES[1])!;
    expect(h.tx_bytes).toBeGreaterThan(0);
    const p = await open(`${LUCI}/admin/status/iptmon`, "hosts (link)");
    const link = p.locator(`#iptmon-hosts tr[data-key="${h.key}"] a`);
    await link.waitFor({ timeout: 20_000 });
    await Promise.all([p.waitForNavigation(), link.click()]);
    const url = new URL(p.url());
    expect(url.pathname).toBe("/cgi-bin/luci/admin/status/iptmon_host");
    expect(url.searchParams.get("key")).toBe(h.key);
    listen(p, "host");
    const view = p.locator(`#iptmon-host-view[data-key="${h.key}"]`);
    await view.waitFor({ timeout: 20_000 });
    const facts = await p.evaluate(() => [...document.querySelectorAll<HTMLElement>("#iptmon-host-facts td[data-value]")].map((td) => td.dataset.value));
    expect(facts).toContain(String(h.tx_bytes));
    expect(facts).toContain(String(h.rx_bytes));
    expect(await view.textContent()).toContain(h.name);
    await p.click("#iptmon-reset");
    await p.locator(".modal button", { hasText: /^Reset$/ }).click();
    await p.waitForFunction(() => document.body.textContent!.includes("are zero now"), undefined, { timeout: 20_000 });
    const after = status().hosts.find((x) => x.key === h.key)!;
    expect([after.rx_bytes, after.tx_bytes]).toEqual([0, 0]);
    await p.screenshot({ path: join(ARTIFACTS, "host-reset.png"), fullPage: true });
    await p.close();
  }, 60_000);

  test("the split, turned on with uci, shows on the one-host page: its parts equal `status --json`'s and add up to the totals", async () => {
    runRoot(["/usr/bin/uci", "batch"], "add_list iptmon.main.breakdown='family'\ncommit iptmon\n");
    runRoot(["/usr/sbin/iptmon", "init"]);
    const h = status().hosts.find((x) => x.name === NAMES[0])!;
    const parts = h.families!;
    expect(Object.values(parts).reduce((a, x) => a + x.rx_bytes + x.tx_bytes, 0)).toBe(h.rx_bytes + h.tx_bytes);
    const p = await open(`${LUCI}/admin/status/iptmon_host?key=${encodeURIComponent(h.key)}`, "host (split)");
    await p.locator("#iptmon-split-family").waitFor({ timeout: 20_000 });
    const rows = await p.evaluate(() => [...document.querySelectorAll<HTMLElement>("#iptmon-split-family tr[data-part]")].map((tr) => tr.dataset.part));
    expect(rows).toEqual(Object.keys(parts));
    await p.screenshot({ path: join(ARTIFACTS, "host-split.png"), fullPage: true });
    await p.close();
  }, 60_000);

  test("no console errors on any page", () => {
    expect(errors).toEqual([]);
  });
});
