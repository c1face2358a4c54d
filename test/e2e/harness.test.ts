/**
 * The end-to-end harness itself (test/e2e/harness.ts): the availability
 * probe names everything missing and answers the same whatever ran before;
 * waitFor returns the first truthy value or says what it waited for; a
 * NetnsRun's destroy() leaves no namespace, process or temp file behind.
 */
import { describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { exec, NETNS_NEEDS, NetnsRun, probe, skipReason, waitFor } from "./harness.ts";

describe("probe", () => {
  test("names every missing program and file at once, the same on every call", () => {
    const needs = ["sh", "no-such-program-e2e", "/no/such/file", "/bin/sh"];
    const first = probe(needs);
    expect(first).toBe("no-such-program-e2e not installed; /no/such/file missing");
    // Asked again, alone or after other probes, the answer is the same.
    expect(probe(["/no/such/file"])).toBe("/no/such/file missing");
    expect(probe(["sh", "/bin/sh"])).toBeNull();
    expect(probe(needs)).toBe(first);
  });

  test("not being root is a reason of its own, without a namespace probe", () => {
    const reason = probe(["root", "netns"]);
    if (process.getuid?.() === 0) expect(reason).toBeNull();
    else expect(reason).toBe("not root (network namespaces need root)");
  });
});

describe("waitFor", () => {
  test("returns the first value that is neither undefined nor false", async () => {
    let n = 0;
    expect(await waitFor(() => (++n >= 3 ? n : undefined), "three calls", 1000, 1)).toBe(3);
    expect(await waitFor(async () => 0, "zero", 1000)).toBe(0);
  });

  test("says what it waited for when time runs out", async () => {
    await expect(waitFor(() => false, "the impossible", 30, 5)).rejects.toThrow("timed out after 30 ms waiting for the impossible");
  });
});

const skip = skipReason("harness", NETNS_NEEDS);

describe.skipIf(skip !== null)("NetnsRun", () => {
  test("destroy() stops its processes, kills strays, deletes its namespaces and temp dir; twice is fine", async () => {
    const run = new NetnsRun("hx");
    const [a, b] = [run.ns("a"), run.ns("b")];
    expect(a).toBe(`hx${run.suffix}-a`);
    run.addNamespaces([a, b]);
    expect(exec(null, ["ip", "netns", "list"]).stdout).toContain(a);
    const tracked = run.spawn(a, ["sleep", "600"], { cleanEnv: true, log: "sleep.log" });
    // A process the run did not start, left inside one of its namespaces.
    const stray = Bun.spawn(["ip", "netns", "exec", b, "sleep", "600"], { stdin: "ignore", stdout: "ignore", stderr: "ignore" });
    await waitFor(() => exec(null, ["ip", "netns", "pids", b]).stdout.trim() !== "", "the stray process in its namespace");
    expect(existsSync(run.tmpDir)).toBe(true);
    run.destroy();
    expect(await tracked.exited).not.toBe(0);
    expect(await stray.exited).not.toBe(0);
    const left = exec(null, ["ip", "netns", "list"]).stdout;
    expect(left).not.toContain(a);
    expect(left).not.toContain(b);
    expect(existsSync(run.tmpDir)).toBe(false);
    expect(run.isDestroyed).toBe(true);
    run.destroy();
    expect(() => run.spawn(a, ["true"])).toThrow("already destroyed");
  });
});
