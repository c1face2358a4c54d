/**
 * Every shell file the packages ship (files/, found by their #!/bin/sh line)
 * and their control scripts (openwrt/control, luci/control) pass `shellcheck --shell=sh`, and
 * parse with busybox sh, OpenWrt's shell.
 */
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { ROOT } from "../../scripts/mkipk.ts";

function shellFiles(dir: string): string[] {
  const out: string[] = [];
  for (const f of readdirSync(dir).sort()) {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) out.push(...shellFiles(p));
    else if (/^#!\/bin\/sh\b/.test(readFileSync(p, "utf8").slice(0, 64))) out.push(relative(ROOT, p));
  }
  return out;
}

const FILES = [...shellFiles(join(ROOT, "files")), ...shellFiles(join(ROOT, "openwrt/control")), ...shellFiles(join(ROOT, "luci/control"))];
const have = (cmd: string) => Bun.spawnSync(["sh", "-c", `command -v ${cmd}`]).exitCode === 0;

test("the package's shell files are all found", () => {
  for (const f of [
    "files/etc/init.d/iptmon",
    "files/etc/hotplug.d/dhcp/90-iptmon",
    "files/etc/hotplug.d/neigh/90-iptmon",
    "files/etc/uci-defaults/90-iptmon",
    "files/usr/lib/iptmon/dhcp-script.sh",
    "files/usr/lib/iptmon/firewall.include",
    "openwrt/control/postinst",
    "openwrt/control/postinst-pkg",
    "openwrt/control/prerm",
    "openwrt/control/prerm-pkg",
    "openwrt/control/postrm",
    "luci/control/postinst-pkg",
    "luci/control/postrm",
  ]) {
    expect(FILES).toContain(f);
  }
});

describe.skipIf(!have("shellcheck"))("shellcheck --shell=sh", () => {
  test.each(FILES)("%s", (f) => {
    const r = Bun.spawnSync(["shellcheck", "--shell=sh", "--external-sources", "--format=gcc", f], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
    expect(r.stdout.toString() + r.stderr.toString()).toBe("");
    expect(r.exitCode).toBe(0);
  });
});

describe.skipIf(!have("busybox"))("busybox sh -n", () => {
  test.each(FILES)("%s", (f) => {
    const r = Bun.spawnSync(["busybox", "sh", "-n", f], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
    expect(r.stderr.toString()).toBe("");
    expect(r.exitCode).toBe(0);
  });
});
