/**
 * The package's event glue against the real kernel: the hotplug wrappers
 * (files/etc/hotplug.d/{dhcp,neigh}/90-iptmon) and the dhcp-script wrapper
 * (files/usr/lib/iptmon/dhcp-script.sh), run with busybox sh from an
 * install-like temp root, drive the real dist/iptmon inside a network
 * namespace of this run (a bridge br-lan 192.168.99.1/24); `iptmon status
 * --json` shows hosts coming and going. Also: the shipped config parses with
 * no warning. Needs root, ip netns, nft and busybox; skips otherwise.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "../../scripts/mkipk.ts";
import type { Status } from "../../src/status.ts";
import { exec, execOk, iptmonBin, NETNS_NEEDS, NetnsRun, skipReason } from "./harness.ts";

const skip = skipReason("package hotplug", [...NETNS_NEEDS, "busybox", "bash"]);

let run: NetnsRun;
let NS = "";
const SYS_PATH = "/usr/sbin:/usr/bin:/sbin:/bin";
const MAC1 = "02:99:00:00:00:01";
const MAC2 = "02:99:00:00:00:02";
const MAC3 = "02:99:00:00:00:03";

let tmp: string;
let root: string; // install-like: <root>/usr/sbin/iptmon, <root>/etc/hotplug.d/…
let bin: string;
let logFile: string;
let iptmon: string;
let config: string;

/** Environment of a wrapper: the test's iptmon and config, a logger that records. */
function env(extra: Record<string, string> = {}): Record<string, string> {
  return { PATH: `${bin}:${SYS_PATH}`, IPTMON_BIN: iptmon, IPTMON_CONFIG: config, ...extra };
}

function inNs(argv: string[], e: Record<string, string>) {
  return exec(NS, argv, { cleanEnv: true, env: e });
}

function status(): Status {
  return JSON.parse(execOk(NS, [iptmon, "status", "--json"], { cleanEnv: true, env: env() }).stdout) as Status;
}
const host = (mac: string) => status().hosts.find((h) => h.mac === mac);
const logged = () => (existsSync(logFile) ? readFileSync(logFile, "utf8") : "");

/** As OpenWrt's hotplug-call: every script of the subsystem sourced in a subshell, stdio at /dev/null. */
function hotplug(subsystem: "dhcp" | "neigh", vars: Record<string, string>) {
  const call = `for s in "$1"/etc/hotplug.d/"$2"/*; do ( . "$s" ) </dev/null >/dev/null 2>&1; done`;
  return inNs(["busybox", "sh", "-c", call, "hotplug-call", root, subsystem], env(vars));
}

beforeAll(() => {
  if (skip !== null) return;
  const built = iptmonBin();
  run = new NetnsRun("iptpkg", { tmpPrefix: "iptmon-pkg" });
  NS = run.ns("n");
  tmp = run.tmpDir;
  root = join(tmp, "root");
  bin = join(tmp, "bin");
  logFile = join(tmp, "logger.log");
  cpSync(join(ROOT, "files"), root, { recursive: true });
  mkdirSync(join(root, "usr/sbin"), { recursive: true });
  // A copy, so a concurrent rebuild of dist/ cannot change it under the test.
  iptmon = join(root, "usr/sbin/iptmon");
  copyFileSync(built, iptmon);
  chmodSync(iptmon, 0o755);
  mkdirSync(bin);
  writeFileSync(join(bin, "logger"), `#!/bin/sh\nprintf '%s\\n' "$*" >> '${logFile}'\n`);
  chmodSync(join(bin, "logger"), 0o755);
  // dnsmasq creates its lease file at start: a named one that is missing is warned about (to syslog, for events).
  writeFileSync(join(tmp, "dhcp.leases"), "");
  config = join(tmp, "iptmon.config");
  writeFileSync(
    config,
    `config iptmon 'main'
	option backend 'nftables'
	list lan_subnet '192.168.99.0/24'
	list lan_subnet 'fd99::/64'
	option leasefile '${tmp}/dhcp.leases'
	list hostsfile '${tmp}/hosts'
	list hostsdir '${tmp}/hosts.d'
	option dhcp_config '${tmp}/dhcp'
	option dnsmasq_confdir '${tmp}/var-etc'
	option lockfile '${tmp}/iptmon.lock'
	option statefile '${tmp}/state.json'
`,
  );
  // dnsmasq's lease file exists from its start on (a missing one is warned about).
  writeFileSync(join(tmp, "dhcp.leases"), "");
  run.addNamespaces([NS]);
  run.ipBatch(NS, ["link add br-lan type bridge", "addr add 192.168.99.1/24 dev br-lan", "link set br-lan up"]);
}, 300_000);

afterAll(() => run?.destroy());

describe.skipIf(skip !== null)("package glue against the kernel", () => {
  test("the shipped /etc/config/iptmon parses with no warning (print --verbose)", () => {
    const r = inNs([iptmon, "--config", join(ROOT, "files/etc/config/iptmon"), "--verbose", "print"], { PATH: SYS_PATH });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("table inet iptmon");
    expect(r.stderr).not.toMatch(/unknown (option|section)/);
    expect(r.stderr).not.toContain(join(ROOT, "files/etc/config/iptmon"));
  });

  test("hotplug dhcp: add, update, remove", () => {
    const vars = { MACADDR: MAC1, IPADDR: "192.168.99.101", HOSTNAME: "laptop" };
    expect(hotplug("dhcp", { ACTION: "add", ...vars }).code).toBe(0);
    expect(host(MAC1)).toMatchObject({ name: "laptop", addresses: ["192.168.99.101"] });
    expect(hotplug("dhcp", { ACTION: "update", ...vars }).code).toBe(0);
    expect(host(MAC1)).toMatchObject({ name: "laptop", addresses: ["192.168.99.101"] });
    expect(hotplug("dhcp", { ACTION: "remove", ...vars }).code).toBe(0);
    expect(host(MAC1)).toBeUndefined();
    expect(logged()).toBe("");
  });

  test("hotplug dhcp for DHCPv6 leases from both dialects of OpenWrt's dhcp-script: the host is counted", () => {
    const mac = "02:99:00:00:00:06";
    const duidLl = `00:03:00:01:${mac}`;
    // The classic dispatcher passes the client's DUID as MACADDR.
    expect(hotplug("dhcp", { ACTION: "add", MACADDR: duidLl, IPADDR: "fd99::6", HOSTNAME: "tablet" }).code).toBe(0);
    expect(host(mac)).toMatchObject({ name: "tablet", addresses: ["fd99::6"] });
    // The newer one leaves MACADDR out; the lease file has the DUID for the address.
    writeFileSync(join(tmp, "dhcp.leases"), `duid 00:01:00:01:2c:00:00:00:02:99:00:00:00:ff\n1900000000 7 fd99::7 tablet ${duidLl}\n`);
    expect(hotplug("dhcp", { ACTION: "add", IPADDR: "fd99::7", HOSTNAME: "tablet", DNSMASQ_IAID: "7", DNSMASQ_INTERFACE: "br-lan" }).code).toBe(0);
    expect(host(mac)).toMatchObject({ name: "tablet", addresses: ["fd99::6", "fd99::7"] });
    expect(logged()).toBe("");
    for (const [a, extra] of [["fd99::6", { MACADDR: duidLl }], ["fd99::7", { DNSMASQ_IAID: "7" }]] as const)
      expect(hotplug("dhcp", { ACTION: "remove", IPADDR: a, ...extra }).code).toBe(0);
    expect(host(mac)).toBeUndefined();
    writeFileSync(join(tmp, "dhcp.leases"), "");
  });

  test("hotplug neigh: add, remove; run directly it exits 0 too", () => {
    const vars = { MACADDR: MAC2, IPADDR: "192.168.99.102" };
    const script = join(root, "etc/hotplug.d/neigh/90-iptmon");
    expect(inNs(["busybox", "sh", script], env({ ACTION: "add", ...vars }))).toMatchObject({ code: 0, stdout: "", stderr: "" });
    expect(host(MAC2)).toMatchObject({ addresses: ["192.168.99.102"] });
    expect(hotplug("neigh", { ACTION: "remove", ...vars }).code).toBe(0);
    expect(host(MAC2)).toBeUndefined();
  });

  test("a failing event exits 0 and goes to syslog; a missing binary is silent", () => {
    const script = join(root, "etc/hotplug.d/dhcp/90-iptmon");
    const r = inNs(["busybox", "sh", script], env({ ACTION: "add", MACADDR: "not-a-mac", IPADDR: "192.168.99.103" }));
    expect(r).toMatchObject({ code: 0, stdout: "", stderr: "" });
    expect(logged()).toMatch(/^-t iptmon hotplug dhcp add not-a-mac 192\.168\.99\.103 failed \(2\): .*not a MAC address/);
    rmSync(logFile);
    expect(inNs(["busybox", "sh", script], env({ ACTION: "add", MACADDR: MAC3, IPADDR: "192.168.99.103", IPTMON_BIN: join(tmp, "nowhere") })).code).toBe(0);
    expect(logged()).toBe("");
    expect(host(MAC3)).toBeUndefined();
  });
});

// Modelled on OpenWrt's /usr/lib/dnsmasq/dhcp-script.sh: it sources the user's
// script, then goes on with its own work (here: a marker). The shell's
// variables (and, in bash, functions) are captured around the source.
const DISPATCHER = `#!/bin/sh
set > "$STATE.before"
. "$USER_DHCPSCRIPT" "$@"
echo "rc=$? args=$*" > "$STATE.rc"
set > "$STATE.after"
echo "dispatcher continued"
`;
// Older releases: run it if executable, source it again if that failed.
const OLD_DISPATCHER = `#!/bin/sh
[ -x "$USER_DHCPSCRIPT" ] && "$USER_DHCPSCRIPT" "$@" || . "$USER_DHCPSCRIPT" "$@"
echo "dispatcher continued"
`;

/** `set` lines that change by themselves in bash: its own bookkeeping. */
const SHELL_BOOKKEEPING = /^(_|BASH_ARGC|BASH_ARGV|BASH_LINENO|BASH_SOURCE|BASH_COMMAND|PIPESTATUS|LINENO|FUNCNAME)=/;

describe.skipIf(skip !== null)("dhcp-script.sh", () => {
  let dispatcher: string;
  let oldDispatcher: string;
  let state: string;
  let script: string;

  beforeAll(() => {
    if (skip !== null) return;
    dispatcher = join(tmp, "dispatcher.sh");
    oldDispatcher = join(tmp, "old-dispatcher.sh");
    state = join(tmp, "state");
    writeFileSync(dispatcher, DISPATCHER);
    writeFileSync(oldDispatcher, OLD_DISPATCHER);
    script = join(root, "usr/lib/iptmon/dhcp-script.sh");
  });

  function leaked(): string[] {
    const lines = (f: string) => readFileSync(`${state}.${f}`, "utf8").split("\n").filter((l) => !SHELL_BOOKKEEPING.test(l));
    const before = new Set(lines("before"));
    return lines("after").filter((l) => !before.has(l));
  }

  function source(shell: string[], userScript: string, args: string[]) {
    rmSync(`${state}.rc`, { force: true });
    return inNs([...shell, dispatcher, ...args], env({ USER_DHCPSCRIPT: userScript, STATE: state }));
  }

  test.each([
    ["busybox sh", ["busybox", "sh"]],
    ["bash", ["bash"]],
  ])("sourced by the dispatcher (%s): host changes, dispatcher goes on, nothing leaks", (_name, shell) => {
    const add = ["add", MAC1, "192.168.99.111", "phone"];
    expect(source(shell, script, add)).toMatchObject({ code: 0, stdout: "dispatcher continued\n", stderr: "" });
    expect(readFileSync(`${state}.rc`, "utf8")).toBe(`rc=0 args=${add.join(" ")}\n`);
    expect(leaked()).toEqual([]);
    expect(host(MAC1)).toMatchObject({ name: "phone", addresses: ["192.168.99.111"] });
    expect(source(shell, script, ["del", MAC1, "192.168.99.111", "phone"]).stdout).toBe("dispatcher continued\n");
    expect(leaked()).toEqual([]);
    expect(host(MAC1)).toBeUndefined();
  });

  test("the leak check sees a leak (a script that sets a variable and a function)", () => {
    const leaky = join(tmp, "leaky.sh");
    writeFileSync(leaky, "leaked_var=1\nleaked_fn() { :; }\n");
    source(["bash"], leaky, ["add", MAC1, "192.168.99.111"]);
    expect(leaked().join("\n")).toContain("leaked_var=1");
    expect(leaked().join("\n")).toContain("leaked_fn");
  });

  test("executed as dnsmasq runs it: exit 0, host changes", () => {
    // Through its #!/bin/sh line, with dnsmasq's kind of environment.
    const e = env({ DNSMASQ_INTERFACE: "br-lan" });
    expect(inNs([script, "add", MAC2, "192.168.99.112", "tablet"], e)).toMatchObject({ code: 0, stdout: "", stderr: "" });
    expect(host(MAC2)).toMatchObject({ name: "tablet", addresses: ["192.168.99.112"] });
    expect(inNs([script, "arp-del", MAC2, "192.168.99.112"], e).code).toBe(0);
    expect(inNs([script, "del", MAC2, "192.168.99.112", "tablet"], e).code).toBe(0);
    expect(host(MAC2)).toBeUndefined();
    // Actions that are not host events (init with --leasefile-ro, tftp) print nothing, do nothing.
    expect(inNs([script, "init"], e)).toMatchObject({ code: 0, stdout: "" });
    expect(inNs([script, "tftp", "1024", "192.168.99.5", "/srv/x"], e)).toMatchObject({ code: 0, stdout: "" });
    expect(logged()).toBe("");
  });

  test("with dhcpscript set and the hotplug wrappers, events arrive both ways and do no harm", () => {
    const vars = { MACADDR: MAC3, IPADDR: "192.168.99.114", HOSTNAME: "both" };
    for (const [action, hp] of [["add", "add"], ["old", "update"]] as const) {
      expect(source(["busybox", "sh"], script, [action, MAC3, "192.168.99.114", "both"]).code).toBe(0);
      expect(hotplug("dhcp", { ACTION: hp, ...vars }).code).toBe(0);
      expect(status().hosts.filter((h) => h.mac === MAC3)).toEqual([expect.objectContaining({ name: "both", addresses: ["192.168.99.114"] })]);
    }
    expect(source(["busybox", "sh"], script, ["del", MAC3, "192.168.99.114", "both"]).code).toBe(0);
    expect(hotplug("dhcp", { ACTION: "remove", ...vars }).code).toBe(0);
    expect(host(MAC3)).toBeUndefined();
    expect(logged()).toBe("");
  });

  test("a failing iptmon (bad arguments): exit 0, dispatcher goes on, failure in syslog", () => {
    const bad = ["add", "not-a-mac", "192.168.99.113"];
    expect(inNs(["busybox", "sh", script, ...bad], env())).toMatchObject({ code: 0, stdout: "", stderr: "" });
    expect(logged()).toContain("-t iptmon dhcp-script add not-a-mac 192.168.99.113 failed (2)");
    rmSync(logFile);
    expect(source(["busybox", "sh"], script, bad)).toMatchObject({ code: 0, stdout: "dispatcher continued\n" });
    expect(readFileSync(`${state}.rc`, "utf8")).toBe(`rc=0 args=${bad.join(" ")}\n`);
    expect(leaked()).toEqual([]);
    rmSync(logFile);
    // The older dispatcher sources the script again only if running it failed: it never does.
    chmodSync(script, 0o755);
    expect(inNs(["busybox", "sh", oldDispatcher, ...bad], env({ USER_DHCPSCRIPT: script }))).toMatchObject({ code: 0, stdout: "dispatcher continued\n" });
    expect(logged().trim().split("\n")).toHaveLength(1);
  });
});
