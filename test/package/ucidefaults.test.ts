/**
 * files/etc/uci-defaults/90-iptmon and the package's removal scripts, run by
 * busybox sh against a temporary UCI config dir (UCI_CONFIG_DIR): the include
 * it writes is read back from the firewall config and held against the options
 * fw4 reads. Debian has
 * no uci, so `uci` here is test/helpers/fake-uci.ts, a stand-in implementing
 * only what these scripts use, on real UCI text files.
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT } from "../../scripts/mkipk.ts";
import { parseUci } from "../../src/uci.ts";

const BUN = join(ROOT, "node_modules/.bin/bun");
const FAKE_UCI = join(ROOT, "test/helpers/fake-uci.ts");

// A stock OpenWrt firewall config, shortened; comments go when uci commits.
const FIREWALL = `
config defaults
	option input 'REJECT'
	option output 'ACCEPT'
	option forward 'REJECT'

config zone
	option name 'lan'
	list network 'lan'
	option input 'ACCEPT'

config include
	option path '/etc/firewall.user'
`;

let dir: string;
let conf: string;
let bin: string;
let calls: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "iptmon-uci-"));
  conf = join(dir, "config");
  bin = join(dir, "bin");
  calls = join(dir, "calls");
  mkdirSync(conf);
  mkdirSync(bin);
  writeFileSync(join(conf, "firewall"), FIREWALL);
  writeFileSync(join(bin, "uci"), `#!/bin/sh\nexec '${BUN}' '${FAKE_UCI}' "$@"\n`);
  // iptmon and logger stand-ins record how they were called.
  writeFileSync(join(bin, "iptmon"), `#!/bin/sh\necho "iptmon $*" >> '${calls}'\n`);
  writeFileSync(join(bin, "logger"), `#!/bin/sh\necho "logger $*" >> '${calls}'\n`);
  for (const f of ["uci", "iptmon", "logger"]) chmodSync(join(bin, f), 0o755);
});

afterEach(() => rmSync(dir, { recursive: true, force: true }));

function sh(script: string, env: Record<string, string> = {}, args: string[] = []) {
  const r = Bun.spawnSync(["busybox", "sh", script, ...args], {
    env: { PATH: `${bin}:/usr/sbin:/usr/bin:/sbin:/bin`, UCI_CONFIG_DIR: conf, IPTMON_BIN: join(bin, "iptmon"), ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
  return { code: r.exitCode, out: r.stdout.toString(), err: r.stderr.toString() };
}

const firewall = () => parseUci(readFileSync(join(conf, "firewall"), "utf8"), "firewall").sections;
const includes = () => firewall().filter((s) => s.type === "include" && s.options.get("path")?.value === "/usr/lib/iptmon/firewall.include");
const uncommitted = () => (existsSync(join(conf, ".fake-uci")) ? readdirSync(join(conf, ".fake-uci")) : []);
const callsMade = () => (existsSync(calls) ? readFileSync(calls, "utf8").trim().split("\n") : []);

/**
 * The options fw4 reads in a `config include` (firewall4's parse_include in
 * /usr/share/ucode/fw4.uc): anything else draws "specifies unknown option",
 * and these two "option '…' is not supported by fw4", at every fw4 check,
 * print, start and reload.
 */
const FW4_INCLUDE_OPTIONS = ["enabled", "path", "type", "fw4_compatible", "position", "chain"];
const FW4_UNSUPPORTED = ["family", "reload"];

/** The include as the firewall reads it back from /etc/config/firewall. */
const includeOptions = () => Object.fromEntries([...includes()[0]!.options].map(([k, v]) => [k, v.value]));

describe("uci-defaults/90-iptmon", () => {
  test("fw4: three runs leave exactly one include, with only options fw4 reads, committed, the rest untouched", () => {
    const fw4 = join(bin, "fw4");
    writeFileSync(fw4, "#!/bin/sh\nexit 0\n");
    chmodSync(fw4, 0o755);
    for (let i = 0; i < 3; i++) expect(sh(join(ROOT, "files/etc/uci-defaults/90-iptmon"), { IPTMON_FW4: fw4 })).toEqual({ code: 0, out: "", err: "" });
    const inc = includes();
    expect(inc).toHaveLength(1);
    expect(inc[0]!.name).toBe("iptmon");
    expect(includeOptions()).toEqual({ type: "script", path: "/usr/lib/iptmon/firewall.include", fw4_compatible: "1" });
    for (const opt of Object.keys(includeOptions())) {
      expect([opt, FW4_INCLUDE_OPTIONS.includes(opt), FW4_UNSUPPORTED.includes(opt)]).toEqual([opt, true, false]);
    }
    expect(firewall().map((s) => s.type)).toEqual(["defaults", "zone", "include", "include"]);
    expect(firewall()[2]!.options.get("path")?.value).toBe("/etc/firewall.user");
    expect(uncommitted()).toEqual([]);
  }, 30_000);

  test("fw4: an include left by an older package loses its option reload (fw4 warned about it)", () => {
    writeFileSync(
      join(conf, "firewall"),
      `${FIREWALL}\nconfig include 'iptmon'\n\toption type 'script'\n\toption path '/usr/lib/iptmon/firewall.include'\n\toption fw4_compatible '1'\n\toption reload '1'\n`,
    );
    const fw4 = join(bin, "fw4");
    writeFileSync(fw4, "#!/bin/sh\nexit 0\n");
    chmodSync(fw4, 0o755);
    expect(sh(join(ROOT, "files/etc/uci-defaults/90-iptmon"), { IPTMON_FW4: fw4 }).code).toBe(0);
    expect(includes()).toHaveLength(1);
    expect(includeOptions()).toEqual({ type: "script", path: "/usr/lib/iptmon/firewall.include", fw4_compatible: "1" });
    expect(uncommitted()).toEqual([]);
  }, 30_000);

  test("fw3 (no /sbin/fw4): option reload '1', which fw3 needs to run the include on reload", () => {
    for (let i = 0; i < 2; i++) expect(sh(join(ROOT, "files/etc/uci-defaults/90-iptmon"), { IPTMON_FW4: join(dir, "no-fw4") }).code).toBe(0);
    expect(includes()).toHaveLength(1);
    expect(includeOptions()).toEqual({ type: "script", path: "/usr/lib/iptmon/firewall.include", fw4_compatible: "1", reload: "1" });
    expect(uncommitted()).toEqual([]);
  }, 30_000);

  test("exits 0 even when uci fails (no firewall config at all)", () => {
    rmSync(join(conf, "firewall"));
    expect(sh(join(ROOT, "files/etc/uci-defaults/90-iptmon")).code).toBe(0);
  });
});

describe("removal", () => {
  test("prerm-pkg stops iptmon, removes its cron line and the firewall include", () => {
    sh(join(ROOT, "files/etc/uci-defaults/90-iptmon"));
    expect(includes()).toHaveLength(1);
    expect(sh(join(ROOT, "openwrt/control/prerm-pkg")).code).toBe(0);
    expect(includes()).toHaveLength(0);
    expect(firewall().map((s) => s.type)).toEqual(["defaults", "zone", "include"]);
    expect(uncommitted()).toEqual([]);
    expect(callsMade()).toEqual(["iptmon cron remove", "iptmon stop"]);
  }, 30_000);

  test("prerm-pkg keeps the include on upgrade, and does nothing in an image build (IPKG_INSTROOT)", () => {
    sh(join(ROOT, "files/etc/uci-defaults/90-iptmon"));
    sh(join(ROOT, "openwrt/control/prerm-pkg"), { PKG_UPGRADE: "1" });
    expect(includes()).toHaveLength(1);
    rmSync(calls, { force: true });
    sh(join(ROOT, "openwrt/control/prerm-pkg"), { IPKG_INSTROOT: join(dir, "root") });
    expect(includes()).toHaveLength(1);
    expect(callsMade()).toEqual([]);
  }, 30_000);

  test("prerm without /lib/functions.sh (opkg off OpenWrt) runs prerm-pkg beside it", () => {
    // opkg keeps control scripts as /usr/lib/opkg/info/<pkg>.<script>
    const info = join(dir, "info");
    mkdirSync(info);
    for (const f of ["prerm", "prerm-pkg"]) writeFileSync(join(info, `iptmon.${f}`), readFileSync(join(ROOT, "openwrt/control", f)));
    sh(join(ROOT, "files/etc/uci-defaults/90-iptmon"));
    expect(existsSync("/lib/functions.sh")).toBe(false); // Debian: the fallback path
    expect(sh(join(info, "iptmon.prerm"), {}, ["remove"]).code).toBe(0);
    expect(includes()).toHaveLength(0);
  }, 30_000);

  test("postinst and prerm hand over to default_postinst/default_prerm of /lib/functions.sh", () => {
    const root = join(dir, "root");
    mkdirSync(join(root, "lib"), { recursive: true });
    writeFileSync(join(root, "lib/functions.sh"), `default_postinst() { echo "default_postinst $*" >> '${calls}'; }\ndefault_prerm() { echo "default_prerm $*" >> '${calls}'; }\n`);
    expect(sh(join(ROOT, "openwrt/control/postinst"), { IPKG_INSTROOT: root }, ["configure"]).code).toBe(0);
    expect(sh(join(ROOT, "openwrt/control/prerm"), { IPKG_INSTROOT: root }, ["remove"]).code).toBe(0);
    expect(callsMade()).toEqual([`default_postinst ${ROOT}/openwrt/control/postinst configure`, `default_prerm ${ROOT}/openwrt/control/prerm remove`]);
    rmSync(calls);
    expect(sh(join(ROOT, "openwrt/control/postinst"), { IPKG_INSTROOT: root, IPKG_NO_SCRIPT: "1" }).code).toBe(0);
    expect(callsMade()).toEqual([]);
  });
});

describe("fake-uci itself", () => {
  test("stages changes until commit, as uci does", () => {
    const uci = (args: string[], input?: string) => {
      const r = Bun.spawnSync([join(bin, "uci"), "-c", conf, ...args], { stdin: input === undefined ? "ignore" : Buffer.from(input), stdout: "pipe", stderr: "pipe" });
      return { code: r.exitCode, out: r.stdout.toString(), err: r.stderr.toString() };
    };
    expect(uci(["set", "firewall.x=include"]).code).toBe(0);
    expect(uci(["get", "firewall.x"]).out).toBe("include\n");
    expect(firewall().some((s) => s.name === "x")).toBe(false);
    expect(uci(["commit", "firewall"]).code).toBe(0);
    expect(firewall().some((s) => s.name === "x")).toBe(true);
    expect(uci(["get", "firewall.@include[0].path"]).out).toBe("/etc/firewall.user\n");
    expect(uci(["get", "firewall.nope"])).toEqual({ code: 1, out: "", err: "uci: Entry not found\n" });
    expect(uci(["-q", "get", "firewall.nope"])).toEqual({ code: 1, out: "", err: "" });
    expect(uci(["batch"], "set firewall.x.path='/a b'\ndelete firewall.@zone[0]\ncommit firewall\n").code).toBe(0);
    expect(uci(["show", "firewall"]).out).toBe(
      [
        "firewall.@defaults[0]=defaults",
        "firewall.@defaults[0].input='REJECT'",
        "firewall.@defaults[0].output='ACCEPT'",
        "firewall.@defaults[0].forward='REJECT'",
        "firewall.@include[0]=include",
        "firewall.@include[0].path='/etc/firewall.user'",
        "firewall.x=include",
        "firewall.x.path='/a b'",
        "",
      ].join("\n"),
    );
  }, 30_000);
});
