/**
 * luci-app-iptmon, as `make ipk` and `make apk` build it (scripts/mkipk.ts and
 * scripts/mkapk.ts, here with --package: no binary is needed), read back with
 * readers.ts:
 *  - both packages: name, version, Architecture all / arch noarch, Depends
 *    iptmon and luci-base, no conffiles; luci/htdocs at /www and luci/root at
 *    /, byte for byte, directories 0755, files 0644, root-owned, no binary;
 *    built from the repository and from a copy whose luci/htdocs is a small
 *    fixture tree of views (an executable bit and an editor backup in it);
 *  - the rpcd ACL grants exactly the command lines the views run, never the
 *    bare binary; the menu entries depend on that ACL and on the iptmon UCI
 *    config and name views that exist; ucitrack reloads iptmon;
 *  - postinst and postrm pass shellcheck and busybox sh -n, and in a mount
 *    namespace with a scratch /tmp and a stub killall they drop LuCI's caches
 *    (and nothing else) and send rpcd SIGHUP, except while an image is built;
 *  - the iptmon package no longer carries LuCI files; its page and CGIs stay.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT } from "../../scripts/mkipk.ts";
import { checkHeaders, type Entry, gunzipFixed, type Parsed, readApk, readTar, str } from "./readers.ts";

const BUN = join(ROOT, "node_modules/.bin/bun");
const LUCI = join(ROOT, "luci");
const VIEW_DIR = "luci-static/resources/view";
const VERSION = (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string }).version;
const RELEASE = /^PKG_RELEASE:=(\d+)$/m.exec(readFileSync(join(LUCI, "Makefile"), "utf8"))![1]!;
const IPK = `luci-app-iptmon_${VERSION}-${RELEASE}_all.ipk`;
const APK = `luci-app-iptmon-${VERSION}-r${RELEASE}.apk`;
const GROUP = "luci-app-iptmon";
const readJson = (...p: string[]) => JSON.parse(readFileSync(join(...p), "utf8")) as Record<string, unknown>;

/** The views a fixture tree holds: the four the menu names (one executable), and an editor backup left out. */
const FIXTURE_VIEWS: Record<string, string> = {
  "iptmon/hosts.js":
    "'use strict';\n'require fs';\n'require view';\nreturn view.extend({ load: function() { return fs.exec_direct('/usr/sbin/iptmon', [ 'status', '--json', '--busiest' ], 'json'); } });\n",
  "iptmon/usage.js": "'use strict';\n'require fs';\n'require view';\nreturn view.extend({ load: function() { return fs.exec_direct(\"/usr/sbin/iptmon\", [\"usage\", \"--json\", \"--period\", \"all\"], \"json\"); } });\n",
  "iptmon/host.js": "'use strict';\n'require fs';\n'require view';\nreturn view.extend({ reset: function(key) { return fs.exec_direct('/usr/sbin/iptmon', ['reset', '--', key]); } });\n",
  "iptmon/settings.js": "'use strict';\n'require form';\n'require view';\nreturn view.extend({});\n",
};

interface Built {
  /** The tree the package was built from (the repository or the fixture copy). */
  root: string;
  ipk: { outer: Entry[]; control: Entry[]; data: Entry[] };
  apk: Parsed;
}
const built = new Map<string, Built>();
let scratch: string;

function build(root: string, out: string, tool: "mkipk" | "mkapk"): void {
  const r = Bun.spawnSync([BUN, join(root, `scripts/${tool}.ts`), "--out", out, "--package", "luci-app-iptmon"], { cwd: root, stdout: "pipe", stderr: "pipe" });
  expect([tool, r.exitCode, r.stderr.toString()]).toEqual([tool, 0, ""]);
}

function open(root: string, out: string): Built {
  build(root, out, "mkipk");
  build(root, out, "mkapk");
  expect(readdirSync(out).sort()).toEqual([APK, IPK].sort());
  const outer = readTar(gunzipFixed(readFileSync(join(out, IPK))));
  const get = (n: string) => outer.find((e) => e.name === n)!.data;
  return {
    root,
    ipk: { outer, control: readTar(gunzipFixed(get("./control.tar.gz"))), data: readTar(gunzipFixed(get("./data.tar.gz"))) },
    apk: readApk(readFileSync(join(out, APK))),
  };
}

beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), "iptmon-luciapp-"));
  mkdirSync(join(scratch, "repo"));
  built.set("repository", open(ROOT, join(scratch, "repo")));
  // A copy of what the package is built from, with a fixture tree as luci/htdocs.
  const src = join(scratch, "src");
  for (const f of ["package.json", "scripts", "openwrt", "luci/Makefile", "luci/root", "luci/control"]) cpSync(join(ROOT, f), join(src, f), { recursive: true });
  rmSync(join(src, "luci/htdocs"), { recursive: true, force: true });
  for (const [path, text] of Object.entries(FIXTURE_VIEWS)) {
    mkdirSync(join(src, "luci/htdocs", VIEW_DIR, "iptmon"), { recursive: true });
    writeFileSync(join(src, "luci/htdocs", VIEW_DIR, path), text);
  }
  chmodSync(join(src, "luci/htdocs", VIEW_DIR, "iptmon/hosts.js"), 0o755);
  writeFileSync(join(src, "luci/htdocs", VIEW_DIR, "iptmon/hosts.js~"), "backup\n");
  mkdirSync(join(scratch, "fixture"));
  built.set("fixture", open(src, join(scratch, "fixture")));
});

afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** luci/htdocs under /www and luci/root under /, as the package must hold them: path → contents. */
function expectedFiles(root: string): Map<string, Buffer> {
  const want = new Map<string, Buffer>();
  const walk = (dir: string, at: string) => {
    if (!existsSync(dir)) return;
    for (const f of readdirSync(dir)) {
      if (/(^\.|~$|\.orig$|\.rej$|\.swp$)/.test(f)) continue;
      const p = join(dir, f);
      if (statSync(p).isDirectory()) walk(p, `${at}/${f}`);
      else want.set(`${at}/${f}`, readFileSync(p));
    }
  };
  walk(join(root, "luci/htdocs"), "/www");
  walk(join(root, "luci/root"), "");
  return want;
}

/** Every view file (.js) under luci/htdocs/luci-static/resources/view, as installed paths. */
function viewFiles(root: string): string[] {
  const dir = join(root, "luci/htdocs", VIEW_DIR);
  if (!existsSync(dir)) return [];
  return (readdirSync(dir, { recursive: true }) as string[]).filter((f) => f.endsWith(".js")).map((f) => `/www/${VIEW_DIR}/${f}`);
}

describe.each(["repository", "fixture"])("built from the %s", (which) => {
  const b = () => built.get(which)!;

  test("ipk: control fields (Architecture all, Depends iptmon, luci-base), postinst/postinst-pkg/postrm verbatim, no conffiles, no prerm", () => {
    const { outer, control, data } = b().ipk;
    expect(outer.map((e) => e.name)).toEqual(["./debian-binary", "./control.tar.gz", "./data.tar.gz"]);
    checkHeaders(control);
    expect(control.map((e) => e.name)).toEqual(["./", "./control", "./postinst", "./postinst-pkg", "./postrm"]);
    const fields = new Map<string, string>();
    for (const line of control.find((e) => e.name === "./control")!.data.toString().split("\n")) {
      const m = /^([A-Za-z-]+): (.*)$/.exec(line);
      if (m) fields.set(m[1]!, m[2]!);
    }
    expect(Object.fromEntries(fields)).toEqual({
      Package: "luci-app-iptmon",
      Version: `${VERSION}-${RELEASE}`,
      Depends: "iptmon, luci-base",
      Source: "feeds/iptmon/luci",
      License: "GPL-2.0-only",
      Section: "luci",
      Architecture: "all",
      "Installed-Size": String(data.reduce((n, e) => n + e.data.length, 0)),
      Description: expect.stringContaining("LuCI") as unknown as string,
    });
    const from = { "./postinst": "openwrt/control/postinst", "./postinst-pkg": "luci/control/postinst-pkg", "./postrm": "luci/control/postrm" };
    for (const [name, src] of Object.entries(from)) {
      const e = control.find((x) => x.name === name)!;
      expect([name, e.mode]).toEqual([name, 0o755]);
      expect(e.data.equals(readFileSync(join(ROOT, src)))).toBe(true);
    }
  });

  test("ipk data: luci/htdocs at /www, luci/root at /, byte for byte; directories 0755, files 0644, root-owned; no binary", () => {
    const { data } = b().ipk;
    checkHeaders(data);
    const names = new Set(data.map((e) => e.name));
    for (const e of data) {
      if (e.name !== "./") expect(names.has(e.name.replace(/[^/]+\/?$/, ""))).toBe(true);
      expect([e.name, e.mode]).toEqual([e.name, e.type === "5" ? 0o755 : 0o644]);
    }
    const want = expectedFiles(b().root);
    const files = data.filter((e) => e.type === "0");
    expect(files.map((e) => e.name.slice(1)).sort()).toEqual([...want.keys()].sort());
    for (const e of files) {
      expect(e.data.equals(want.get(e.name.slice(1))!)).toBe(true);
      expect(e.data.subarray(0, 4).toString("latin1")).not.toBe("\x7fELF");
    }
    expect(names.has("./usr/sbin/")).toBe(false);
  });

  test("apk: arch noarch, depends, origin; the ipk's files and modes plus /lib/apk/packages/luci-app-iptmon.*; the scripts as the SDK composes them", () => {
    const { info, depends, dirs, files, scripts } = b().apk;
    expect(str(info.name)).toBe("luci-app-iptmon");
    expect(str(info.version)).toBe(`${VERSION}-r${RELEASE}`);
    expect(str(info.arch)).toBe("noarch");
    expect(str(info.license)).toBe("GPL-2.0-only");
    expect(str(info.origin)).toBe("feeds/iptmon/luci");
    expect(depends).toEqual(["iptmon", "luci-base"]);
    const meta = ["/lib/apk/packages/luci-app-iptmon.conffiles", "/lib/apk/packages/luci-app-iptmon.conffiles_static", "/lib/apk/packages/luci-app-iptmon.list"];
    const fromIpk = b()
      .ipk.data.map((e) => `${e.type === "5" ? "d" : "f"} ${e.name.slice(1).replace(/(.)\/$/, "$1")} ${e.mode.toString(8)}`)
      .sort();
    const apkOnly = new Set(["/lib", "/lib/apk", "/lib/apk/packages", ...meta]);
    const fromApk = [...dirs.map((d) => `d /${d.name} ${d.mode.toString(8)}`), ...files.map((f) => `f ${f.path} ${f.mode.toString(8)}`)]
      .filter((l) => !apkOnly.has(l.split(" ")[1]!))
      .sort();
    expect(fromApk).toEqual(fromIpk);
    for (const m of meta) expect(files.some((f) => f.path === m)).toBe(true);
    // No conffiles: both lists are empty.
    expect(files.filter((f) => f.path.includes(".conffiles")).map((f) => f.size)).toEqual([0, 0]);
    expect(Object.keys(scripts).sort()).toEqual(["post-deinstall", "post-install", "post-upgrade"]);
    const pkgPart = readFileSync(join(ROOT, "luci/control/postinst-pkg"), "utf8").split("\n").slice(1).join("\n");
    expect(scripts["post-install"]).toContain('export pkgname="luci-app-iptmon"');
    expect(scripts["post-install"]).toContain("default_postinst");
    expect(scripts["post-install"]).toEndWith(pkgPart);
    expect(scripts["post-upgrade"]).toStartWith("#!/bin/sh\nexport PKG_UPGRADE=1\n");
    expect(scripts["post-upgrade"]).toEndWith(pkgPart);
    expect(scripts["post-deinstall"]).toBe(readFileSync(join(ROOT, "luci/control/postrm"), "utf8"));
  });
});

test("every view under luci/htdocs is shipped, the fixture's four included, its editor backup not", () => {
  const fixture = built.get("fixture")!;
  const shipped = (b: Built) => b.ipk.data.filter((e) => e.type === "0" && e.name.startsWith(`./www/${VIEW_DIR}/`)).map((e) => e.name.slice(1));
  expect(viewFiles(fixture.root).sort()).toEqual(Object.keys(FIXTURE_VIEWS).map((v) => `/www/${VIEW_DIR}/${v}`).sort());
  expect(shipped(fixture).sort()).toEqual(viewFiles(fixture.root).sort());
  const repo = built.get("repository")!;
  expect(shipped(repo).sort()).toEqual(viewFiles(ROOT).sort());
});

// ------------------------------------------------------------------ ACL, menu, ucitrack

const READ_COMMANDS = ["/usr/sbin/iptmon status --json --busiest", "/usr/sbin/iptmon status --json", "/usr/sbin/iptmon usage --json --period all"];
const WRITE_COMMANDS = ["/usr/sbin/iptmon reset -- *"];

test("the ACL grants exactly the views' command lines (reads without a wildcard), cgi-io exec and the iptmon config; never the bare binary", () => {
  const acl = readJson(LUCI, "root/usr/share/rpcd/acl.d/luci-app-iptmon.json");
  expect(Object.keys(acl)).toEqual([GROUP]);
  const group = acl[GROUP] as { description: string; read: Record<string, unknown>; write: Record<string, unknown> };
  expect(Object.keys(group).sort()).toEqual(["description", "read", "write"]);
  expect(group.read).toEqual({ "cgi-io": ["exec"], file: Object.fromEntries(READ_COMMANDS.map((c) => [c, ["exec"]])), uci: ["iptmon"] });
  expect(group.write).toEqual({ file: Object.fromEntries(WRITE_COMMANDS.map((c) => [c, ["exec"]])), uci: ["iptmon"] });
  const paths = [...Object.keys(group.read.file as object), ...Object.keys(group.write.file as object)];
  for (const p of paths) {
    // rpcd matches a path by glob: "/usr/sbin/iptmon" or "/usr/sbin/iptmon *" would run any subcommand.
    expect(p).toMatch(/^\/usr\/sbin\/iptmon (status|usage|reset) /);
    expect(p.replace(/ -- \*$/, "")).not.toContain("*");
  }
  expect(paths).not.toContain("/usr/sbin/iptmon");
  // One of the globs: it matches a reset of one key, nothing else.
  expect(new Bun.Glob(WRITE_COMMANDS[0]!).match("/usr/sbin/iptmon reset -- aa:bb:cc:dd:ee:ff")).toBe(true);
  expect(new Bun.Glob(WRITE_COMMANDS[0]!).match("/usr/sbin/iptmon reset --all")).toBe(false);
});

/**
 * The iptmon command lines a view's source runs through fs.exec/exec_direct
 * with a literal argument list; an argument that is not a string literal
 * (a host's key) stands as "KEY".
 */
function commandsIn(source: string): string[] {
  const out: string[] = [];
  for (const m of source.matchAll(/\bexec(?:_direct)?\(\s*(['"])\/usr\/sbin\/iptmon\1\s*,\s*\[([^\]]*)\]/g)) {
    const args = m[2]!
      .split(",")
      .map((a) => a.trim())
      .filter((a) => a !== "")
      .map((a) => /^(['"])(.*)\1$/.exec(a)?.[2] ?? "KEY");
    out.push(["/usr/sbin/iptmon", ...args].join(" "));
  }
  return out;
}

/** Whether the ACL's file patterns (rpcd matches them as globs) allow `command`. */
const granted = (command: string) => [...READ_COMMANDS, ...WRITE_COMMANDS].some((p) => p === command || new Bun.Glob(p).match(command));

test("every iptmon command line the fixture's views run is granted, and a command outside the ACL is not", () => {
  const fixture = built.get("fixture")!;
  const commands = fixture.ipk.data.filter((e) => e.name.endsWith(".js")).flatMap((e) => commandsIn(e.data.toString()));
  expect(commands.sort()).toEqual(["/usr/sbin/iptmon reset -- KEY", "/usr/sbin/iptmon status --json --busiest", "/usr/sbin/iptmon usage --json --period all"]);
  for (const c of commands) expect([c, granted(c)]).toEqual([c, true]);
  for (const c of ["/usr/sbin/iptmon", "/usr/sbin/iptmon status", "/usr/sbin/iptmon stop", "/usr/sbin/iptmon usage --json --period all; reboot"]) expect([c, granted(c)]).toEqual([c, false]);
});

/** Every .js file luci/htdocs installs, as text. */
const htdocsScripts = (() => {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name));
      else if (e.name.endsWith(".js")) out.push(readFileSync(join(d, e.name), "utf8"));
    }
  };
  if (existsSync(join(LUCI, "htdocs"))) walk(join(LUCI, "htdocs"));
  return out;
})();

/**
 * The iptmon command lines the views run: each argument list they write
 * (`[ 'status', '--json', ... ]`, a non-literal argument as KEY), after the
 * one program path they name.
 */
function argListsIn(source: string): string[] {
  const out: string[] = [];
  for (const m of source.matchAll(/\[\s*'(status|usage|reset)'([^\]]*)\]/g)) {
    const rest = m[2]!.split(",").map((a) => a.trim()).filter((a) => a !== "").map((a) => /^'(.*)'$/.exec(a)?.[1] ?? "KEY");
    out.push(["/usr/sbin/iptmon", m[1]!, ...rest].join(" "));
  }
  return out;
}

test("every iptmon command line luci/htdocs' views run is granted, and they run only /usr/sbin/iptmon", () => {
  const all = htdocsScripts.join("\n");
  expect([...new Set([...all.matchAll(/'(\/usr\/sbin\/[^']*)'/g)].map((m) => m[1]))]).toEqual(["/usr/sbin/iptmon"]);
  const commands = [...new Set(htdocsScripts.flatMap(argListsIn))].sort();
  expect(commands).toEqual(["/usr/sbin/iptmon reset -- KEY", "/usr/sbin/iptmon status --json", "/usr/sbin/iptmon status --json --busiest", "/usr/sbin/iptmon usage --json --period all"]);
  for (const c of commands) expect([c, granted(c)]).toEqual([c, true]);
});

const MENU = readJson(LUCI, "root/usr/share/luci/menu.d/luci-app-iptmon.json") as Record<string, { title?: string; action: { type: string; path: string }; depends: unknown }>;

test("the menu: Status → hosts, usage (and the hidden host page), Services → settings; each depends on the ACL group and the iptmon config", () => {
  expect(Object.fromEntries(Object.entries(MENU).map(([k, v]) => [k, [v.title, v.action]]))).toEqual({
    "admin/status/iptmon": ["Hosts' traffic (iptmon)", { type: "view", path: "iptmon/hosts" }],
    "admin/status/iptmon_usage": ["Traffic usage (iptmon)", { type: "view", path: "iptmon/usage" }],
    "admin/status/iptmon_host": [undefined, { type: "view", path: "iptmon/host" }],
    "admin/services/iptmon": ["iptmon", { type: "view", path: "iptmon/settings" }],
  });
  const groups = Object.keys(readJson(LUCI, "root/usr/share/rpcd/acl.d/luci-app-iptmon.json"));
  for (const [k, v] of Object.entries(MENU)) {
    expect([k, v.depends]).toEqual([k, { acl: [GROUP], uci: { iptmon: true } }]);
    const d = v.depends as { acl: string[]; uci: Record<string, boolean> };
    for (const g of d.acl) expect(groups).toContain(g);
    // The config the entries need is the iptmon package's (a dependency).
    for (const c of Object.keys(d.uci)) expect(existsSync(join(ROOT, "files/etc/config", c))).toBe(true);
  }
});

test("the menu names views the fixture's package ships", () => {
  const shipped = new Set(built.get("fixture")!.ipk.data.map((e) => e.name.slice(1)));
  for (const v of Object.values(MENU)) expect(shipped.has(`/www/${VIEW_DIR}/${v.action.path}.js`)).toBe(true);
});

const haveViews = existsSync(join(LUCI, "htdocs", VIEW_DIR));
// scripts/run-tests lists the reasons for skips printed like this.
if (!haveViews) console.warn("e2e skip: luci-app: luci/htdocs holds no views yet: the menu's views are checked against the fixture tree only");

test.skipIf(!haveViews)("the menu names views that luci/htdocs holds", () => {
  for (const v of Object.values(MENU)) expect(existsSync(join(LUCI, "htdocs", VIEW_DIR, `${v.action.path}.js`))).toBe(true);
});

test("ucitrack: Save & Apply of the iptmon config reloads the iptmon service, which has a reload", () => {
  expect(readJson(LUCI, "root/usr/share/ucitrack/luci-app-iptmon.json")).toEqual({ config: "iptmon", init: "iptmon" });
  expect(readFileSync(join(ROOT, "files/etc/init.d/iptmon"), "utf8")).toMatch(/^reload_service\(\) \{$/m);
});

test("the iptmon package carries no LuCI files any more; its page /iptmon/ and the CGIs stay", () => {
  const files = (readdirSync(join(ROOT, "files"), { recursive: true }) as string[]).map((f) => `/${f}`);
  expect(files.filter((f) => f.startsWith("/www/luci-static") || f.startsWith("/usr/share/luci") || f.startsWith("/usr/share/rpcd"))).toEqual([]);
  for (const f of ["/www/iptmon/index.html", "/www/cgi-bin/iptmon-hosts", "/www/cgi-bin/iptmon-metrics"]) expect(files).toContain(f);
});

// ------------------------------------------------------------------ the scripts

/** Every script of both packages: name → text. */
function scripts(): [string, string][] {
  const b = built.get("repository")!;
  return [
    ...b.ipk.control.filter((e) => e.type === "0" && e.name !== "./control").map((e): [string, string] => [`ipk ${e.name.slice(2)}`, e.data.toString()]),
    ...Object.entries(b.apk.scripts).map(([k, v]): [string, string] => [`apk ${k}`, v]),
  ];
}

test("every script passes shellcheck --shell=sh and busybox sh -n", () => {
  const dir = mkdtempSync(join(tmpdir(), "iptmon-luciapp-sh-"));
  try {
    const all = scripts();
    expect(all.map(([k]) => k).sort()).toEqual(["apk post-deinstall", "apk post-install", "apk post-upgrade", "ipk postinst", "ipk postinst-pkg", "ipk postrm"]);
    for (const [k, v] of all) {
      const f = join(dir, k.replace(" ", "-"));
      writeFileSync(f, v);
      // From the repository, as shellcheck.test.ts runs it: the opkg postinst names the postinst-pkg it sources.
      const sc = Bun.spawnSync(["shellcheck", "--shell=sh", "--external-sources", f], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
      expect([k, sc.exitCode, sc.stdout.toString()]).toEqual([k, 0, ""]);
      const bb = Bun.spawnSync(["busybox", "sh", "-n", f], { stderr: "pipe" });
      expect([k, bb.exitCode, bb.stderr.toString()]).toEqual([k, 0, ""]);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

describe("in a mount namespace with a scratch /tmp and a stub killall", () => {
  const CACHES = ["luci-indexcache", "luci-indexcache.3f2a91c0.json", "luci-modulecache/dispatcher.uc", "luci-modulecache/sub/x"];
  const OTHERS = ["luci-sessions/s1", "iptmon/state.json", "luci-uploads"];
  const unshare = process.getuid?.() === 0 ? ["unshare", "--mount"] : ["unshare", "--mount", "--map-root-user"];

  /**
   * Runs the scripts (name in /tmp/control → text; the first is run, the
   * others sit next to it) with busybox sh, /tmp being a fresh directory with
   * LuCI's caches and other files; returns what is left in it, what killall
   * was asked, and the exit code.
   */
  function runIn(files: [string, string][], env: Record<string, string>, killallExit = 0) {
    const t = mkdtempSync(join(tmpdir(), "iptmon-luciapp-root-"));
    try {
      for (const f of [...CACHES, ...OTHERS]) {
        mkdirSync(join(t, f, ".."), { recursive: true });
        writeFileSync(join(t, f), "x");
      }
      mkdirSync(join(t, "stub"));
      writeFileSync(join(t, "stub/killall"), `#!/bin/sh\necho "killall $*" >> /tmp/killall.log\nexit ${killallExit}\n`);
      chmodSync(join(t, "stub/killall"), 0o755);
      mkdirSync(join(t, "control"));
      for (const [name, text] of files) {
        writeFileSync(join(t, "control", name), text);
        chmodSync(join(t, "control", name), 0o755);
      }
      const r = Bun.spawnSync([...unshare, "sh", "-c", 'mount --bind "$1" /tmp && exec busybox sh "/tmp/control/$2"', "sh", t, files[0]![0]], {
        env: { PATH: "/tmp/stub:/usr/sbin:/usr/bin:/sbin:/bin", ...env },
        stdout: "pipe",
        stderr: "pipe",
      });
      const left = (readdirSync(t, { recursive: true }) as string[])
        .filter((f) => statSync(join(t, f)).isFile() && !/^(stub|control)\//.test(f) && f !== "killall.log")
        .sort();
      const killall = existsSync(join(t, "killall.log")) ? readFileSync(join(t, "killall.log"), "utf8").trim().split("\n") : [];
      return { code: r.exitCode, stderr: r.stderr.toString(), left, killall };
    } finally {
      rmSync(t, { recursive: true, force: true });
    }
  }

  const ipkControl = () => {
    const c = built.get("repository")!.ipk.control;
    const text = (n: string) => c.find((e) => e.name === `./${n}`)!.data.toString();
    return { postinst: [["postinst", text("postinst")], ["postinst-pkg", text("postinst-pkg")]] as [string, string][], postrm: [["postrm", text("postrm")]] as [string, string][] };
  };
  const apkScript = (k: string): [string, string][] => [[k, built.get("repository")!.apk.scripts[k]!]];

  const cases: [string, () => [string, string][]][] = [
    ["opkg postinst (no /lib/functions.sh: it sources postinst-pkg)", () => ipkControl().postinst],
    ["opkg postrm", () => ipkControl().postrm],
    ["apk post-install", () => apkScript("post-install")],
    ["apk post-upgrade", () => apkScript("post-upgrade")],
    ["apk post-deinstall", () => apkScript("post-deinstall")],
  ];

  test.each(cases)("%s: removes LuCI's index and module caches and nothing else, sends rpcd SIGHUP", (_, files) => {
    const r = runIn(files(), {});
    expect([r.code, r.stderr]).toEqual([0, ""]);
    expect(r.left).toEqual([...OTHERS].sort());
    expect(r.killall).toEqual(["killall -HUP rpcd"]);
  });

  test.each(cases)("%s: succeeds when rpcd is not running (killall fails)", (_, files) => {
    const r = runIn(files(), {}, 1);
    expect([r.code, r.stderr]).toEqual([0, ""]);
    expect(r.left).toEqual([...OTHERS].sort());
  });

  test.each(cases)("%s: while an image is built (IPKG_INSTROOT set) touches nothing", (_, files) => {
    const r = runIn(files(), { IPKG_INSTROOT: "/tmp/imageroot" });
    expect([r.code, r.stderr]).toEqual([0, ""]);
    expect(r.left).toEqual([...CACHES, ...OTHERS].sort());
    expect(r.killall).toEqual([]);
  });
});

test("the sources' paths: luci/root holds only the menu, ACL and ucitrack files", () => {
  const files = (readdirSync(join(LUCI, "root"), { recursive: true }) as string[]).filter((f) => statSync(join(LUCI, "root", f)).isFile());
  expect(files.sort()).toEqual(
    ["usr/share/luci/menu.d/luci-app-iptmon.json", "usr/share/rpcd/acl.d/luci-app-iptmon.json", "usr/share/ucitrack/luci-app-iptmon.json"].sort(),
  );
});
