/**
 * The packaging tier builds what it needs itself, through the repository's
 * Makefile (make rebuilds only what is stale, so after `make dist` this costs
 * nothing): no test depends on another having run first. A failed build is a
 * failed test with make's own words, never a skip.
 */
import { ROOT } from "../../scripts/mkipk.ts";

const done = new Set<string>();

/** Runs `make <target>` in the repository once per test process; throws with make's stderr if it fails. */
export function makeTarget(target: string): void {
  if (done.has(target)) return;
  const r = Bun.spawnSync(["make", "--no-print-directory", target], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) {
    const err = r.stderr.toString().trim().split("\n").slice(-20).join("\n");
    throw new Error(`make ${target} failed (exit ${r.exitCode}):\n${err}`);
  }
  done.add(target);
}

/** Enough for make to cross-compile the two musl binaries on a slow machine. */
export const BUILD_TIMEOUT = 600_000;
