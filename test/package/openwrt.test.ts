/**
 * openwrt/Makefile and luci/Makefile, run by GNU make against a minimal
 * stand-in for the SDK's rules.mk and package.mk (written here: the SDK itself
 * is not on this machine). Checks what the SDK would take from them: version,
 * depends, the control scripts read verbatim from openwrt/control and
 * luci/control, no stripping, the extra libc soname, PKGARCH all for the LuCI
 * app, and install trees identical to the data of `make ipk` (`make
 * dist-musl` first: the binaries are part of iptmon's tree).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { chmodSync, cpSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dataEntries, LUCI_APP, readPackageInfo, ROOT, specEntries, type TarEntry } from "../../scripts/mkipk.ts";
import { BUILD_TIMEOUT, makeTarget } from "./make.ts";

let sdk: string;

// Only what openwrt/Makefile uses; the real definitions live in the SDK.
const RULES_MK = `INCLUDE_DIR:=$(TOPDIR)/include
BUILD_DIR:=$(TOPDIR)/build
INSTALL_DIR:=install -d -m0755
INSTALL_BIN:=install -m0755
INSTALL_DATA:=install -m0644
INSTALL_CONF:=install -m0600
CP:=cp -fpR
`;

// BuildPackage here: 'compile' runs Build/*, 'install' runs Package/<name>/install
// into $(DEST), 'info' writes what the SDK would read into $(OUT).
const PACKAGE_MK = `PKG_BUILD_DIR:=$(BUILD_DIR)/$(PKG_NAME)
STRIP:=strip
RSTRIP:=rstrip
define BuildPackage
$$(eval $$(Package/$(1)))
compile:
	$$(call Build/Prepare)
	$$(call Build/Configure)
	$$(call Build/Compile)
install: compile
	$$(call Package/$(1)/install,$$(DEST))
info:
	$$(file >$$(OUT)/postinst-pkg,$$(call Package/$(1)/postinst))
	$$(file >$$(OUT)/prerm-pkg,$$(call Package/$(1)/prerm))
	$$(file >$$(OUT)/postrm,$$(call Package/$(1)/postrm))
	$$(file >$$(OUT)/conffiles,$$(Package/$(1)/conffiles))
	$$(file >$$(OUT)/vars,VERSION=$$(PKG_VERSION)-$$(PKG_RELEASE))
	$$(file >>$$(OUT)/vars,DEPENDS=$$(DEPENDS))
	$$(file >>$$(OUT)/vars,SECTION=$$(SECTION))
	$$(file >>$$(OUT)/vars,STRIP=$$(STRIP))
	$$(file >>$$(OUT)/vars,RSTRIP=$$(RSTRIP))
	$$(file >>$$(OUT)/vars,LICENSE=$$(PKG_LICENSE))
	$$(file >>$$(OUT)/vars,PKGARCH=$$(PKGARCH))
	$$(file >>$$(OUT)/vars,ROOT=$$(IPTMON_ROOT))
	( :; $$(Package/$(1)/extra_provides) ) > $$(OUT)/provides
endef
`;

function make(dir: string, target: string, vars: Record<string, string>) {
  const r = Bun.spawnSync(["make", "--no-print-directory", "-C", dir, target, `TOPDIR=${sdk}`, ...Object.entries(vars).map(([k, v]) => `${k}=${v}`)], {
    stdout: "pipe",
    stderr: "pipe",
  });
  return { code: r.exitCode, out: r.stdout.toString(), err: r.stderr.toString() };
}

beforeAll(() => {
  sdk = mkdtempSync(join(tmpdir(), "iptmon-sdk-"));
  mkdirSync(join(sdk, "include"));
  mkdirSync(join(sdk, "package"));
  writeFileSync(join(sdk, "rules.mk"), RULES_MK);
  writeFileSync(join(sdk, "include/package.mk"), PACKAGE_MK);
  // As the README says: the package directory linked into the SDK.
  symlinkSync(join(ROOT, "openwrt"), join(sdk, "package/iptmon"));
  symlinkSync(join(ROOT, "luci"), join(sdk, "package/luci-app-iptmon"));
});

afterAll(() => rmSync(sdk, { recursive: true, force: true }));

test("what the SDK reads: version, depends, scripts verbatim, no stripping, musl libc soname", () => {
  const out = join(sdk, "info-x86_64");
  mkdirSync(out);
  const r = make(join(sdk, "package/iptmon"), "info", { ARCH: "x86_64", OUT: out });
  expect(r.err).toBe("");
  expect(r.code).toBe(0);
  const info = readPackageInfo();
  const vars = Object.fromEntries(readFileSync(join(out, "vars"), "utf8").trim().split("\n").map((kv) => kv.split(/=(.*)/s).slice(0, 2)));
  expect(vars).toEqual({
    VERSION: `${info.version}-${info.release}`,
    DEPENDS: "@(aarch64||x86_64) +libstdcpp +ip",
    SECTION: "net",
    STRIP: ":",
    RSTRIP: ":",
    LICENSE: info.license,
    PKGARCH: "",
    // reached through package/iptmon -> openwrt: make resolves the link
    ROOT: ROOT,
  });
  for (const f of ["postinst-pkg", "prerm-pkg", "postrm"]) {
    expect(readFileSync(join(out, f), "utf8")).toBe(readFileSync(join(ROOT, "openwrt/control", f), "utf8"));
  }
  expect(readFileSync(join(out, "conffiles"), "utf8")).toBe("/etc/config/iptmon\n");
  expect(readFileSync(join(out, "provides"), "utf8")).toBe("libc.musl-x86_64.so.1\n");
});

/** The tree Package/<name>/install writes equals `want`: paths, modes, contents. */
function expectInstallTree(pkg: string, vars: Record<string, string>, dest: string, want: TarEntry[]): void {
  const r = make(join(sdk, "package", pkg), "install", { ...vars, DEST: dest });
  expect([r.code, r.err]).toEqual([0, ""]);
  {
    const got = new Map<string, { mode: number; data?: Buffer }>();
    const walk = (dir: string, rel: string) => {
      got.set(`${rel}/`, { mode: lstatSync(dir).mode & 0o7777 });
      for (const f of readdirSync(dir)) {
        const p = join(dir, f);
        const st = lstatSync(p);
        if (st.isDirectory()) walk(p, `${rel}/${f}`);
        else got.set(`${rel}/${f}`, { mode: st.mode & 0o7777, data: readFileSync(p) });
      }
    };
    walk(dest, ".");
    expect([...got.keys()].sort()).toEqual(want.map((e) => e.path).sort());
    for (const e of want) {
      const g = got.get(e.path)!;
      expect([e.path, g.mode.toString(8)]).toEqual([e.path, e.mode.toString(8)]);
      if (e.data) expect(g.data!.equals(Buffer.from(e.data))).toBe(true);
    }
  }
}

test("the install tree equals the data of make ipk, for x86_64 and aarch64", () => {
  // The musl binaries are this test's input: built here (a no-op when fresh).
  makeTarget("dist-musl");
  for (const cpu of ["x86_64", "aarch64"]) {
    expectInstallTree("iptmon", { ARCH: cpu }, join(sdk, `root-${cpu}`), dataEntries(join(ROOT, "files"), join(ROOT, `dist/iptmon-${cpu}-musl`)));
  }
}, BUILD_TIMEOUT);

test("luci-app-iptmon: what the SDK reads (PKGARCH all, depends iptmon and luci-base, postinst and postrm verbatim, no prerm, no conffiles)", () => {
  const out = join(sdk, "info-luci");
  mkdirSync(out);
  const r = make(join(sdk, "package/luci-app-iptmon"), "info", { OUT: out });
  expect([r.code, r.err]).toEqual([0, ""]);
  const info = readPackageInfo(ROOT, "luci/Makefile");
  const vars = Object.fromEntries(readFileSync(join(out, "vars"), "utf8").trim().split("\n").map((kv) => kv.split(/=(.*)/s).slice(0, 2)));
  expect(vars).toEqual({
    VERSION: `${info.version}-${info.release}`,
    DEPENDS: "+iptmon +luci-base",
    SECTION: "luci",
    STRIP: "strip",
    RSTRIP: "rstrip",
    LICENSE: info.license,
    PKGARCH: "all",
    ROOT: ROOT,
  });
  expect(readFileSync(join(out, "postinst-pkg"), "utf8")).toBe(readFileSync(join(ROOT, "luci/control/postinst-pkg"), "utf8"));
  expect(readFileSync(join(out, "postrm"), "utf8")).toBe(readFileSync(join(ROOT, "luci/control/postrm"), "utf8"));
  expect(readFileSync(join(out, "prerm-pkg"), "utf8")).toBe("\n");
  expect(readFileSync(join(out, "conffiles"), "utf8")).toBe("\n");
});

test("luci-app-iptmon: the install tree equals the data of make ipk, from the repository and from a tree with views", () => {
  expectInstallTree("luci-app-iptmon", {}, join(sdk, "root-luci"), specEntries(LUCI_APP, ROOT, join(ROOT, "dist")));
  // IPTMON_ROOT pointing at a copy whose luci/htdocs holds a view (executable
  // by mistake) and an editor backup: /www gets the view 0644, not the backup.
  const src = join(sdk, "src");
  for (const f of ["package.json", "luci/root", "luci/control"]) cpSync(join(ROOT, f), join(src, f), { recursive: true });
  const view = join(src, "luci/htdocs/luci-static/resources/view/iptmon");
  mkdirSync(view, { recursive: true });
  writeFileSync(join(view, "hosts.js"), "'use strict';\n");
  chmodSync(join(view, "hosts.js"), 0o755);
  writeFileSync(join(view, "hosts.js~"), "old\n");
  const want = specEntries(LUCI_APP, src, join(ROOT, "dist"));
  expect(want.find((e) => e.path === "./www/luci-static/resources/view/iptmon/hosts.js")?.mode).toBe(0o644);
  expectInstallTree("luci-app-iptmon", { IPTMON_ROOT: src }, join(sdk, "root-luci-views"), want);
});

test("without make dist first, Build/Compile says what to do", () => {
  const r = make(join(sdk, "package/iptmon"), "compile", { ARCH: "aarch64", IPTMON_DIST: join(sdk, "nowhere") });
  expect(r.code).not.toBe(0);
  expect(r.err).toContain(`${join(sdk, "nowhere")}/iptmon-aarch64-musl is missing: run make dist in ${ROOT}`);
});
