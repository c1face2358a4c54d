/** What a command prints reaches a pipe whole, and a reader that goes away early ends it quietly. */
import { describe, expect, test } from "bun:test";
import { resolve } from "node:path";

const HELPER = resolve(import.meta.dir, "../helpers/write-out.ts");
const sh = (pipeline: string) => {
  const p = Bun.spawnSync(["sh", "-c", pipeline], { stdout: "pipe", stderr: "pipe" });
  return { code: p.exitCode, stdout: p.stdout.toString(), stderr: p.stderr.toString() };
};

describe("stdout written directly", () => {
  test("4 MB through a pipe arrive whole", () => {
    const r = sh(`'${process.execPath}' '${HELPER}' 4194304 | wc -c`);
    expect(r.stdout.trim()).toBe("4194304");
    expect(r.stderr).toBe("done\n");
  });

  test("a reader that stops after 10 bytes: no error, the command goes on", () => {
    const r = sh(`'${process.execPath}' '${HELPER}' 4194304 | head -c 10`);
    expect(r.stdout).toBe("xxxxxxxxxx");
    expect(r.stderr).toBe("done\n");
  });
});
