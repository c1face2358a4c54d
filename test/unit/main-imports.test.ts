/**
 * What start-up evaluates. The binary declares every command (src/cli.ts →
 * src/main.ts → src/commands/*), so those modules must stay declarations: the
 * code a handler calls is imported when it runs. Read from the sources'
 * import statements (type-only imports are not imports at run time).
 */
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { createApp } from "../../src/app.ts";
import { dnsmasqCommands } from "../../src/commands/dnsmasq.ts";
import { DNSMASQ_ACTIONS } from "../../src/events.ts";
import { parseSyntax } from "../../src/commands/command.ts";
import { fakeSys } from "../helpers/fakesys.ts";

const ROOT = resolve(import.meta.dir, "../..");
const transpiler = new Bun.Transpiler({ loader: "ts" });
const rel = (file: string) => relative(ROOT, file);

function importsOf(file: string, kind: "import-statement" | "dynamic-import"): string[] {
  return transpiler
    .scanImports(readFileSync(file, "utf8"))
    .filter((i) => i.kind === kind && i.path.startsWith("."))
    .map((i) => resolve(dirname(file), i.path));
}

/** Every module `entry` imports statically, directly or not (itself included). */
function staticClosure(entry: string): Set<string> {
  const seen = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    for (const f of importsOf(file, "import-statement")) visit(f);
  };
  visit(entry);
  return new Set([...seen].map(rel));
}

const commandFiles = readdirSync(join(ROOT, "src/commands"))
  .filter((f) => f.endsWith(".ts"))
  .map((f) => join(ROOT, "src/commands", f));
/** What the handlers (and the app's config and runtime) import when they run. */
const lazy = [...new Set([...commandFiles, join(ROOT, "src/app.ts")].flatMap((f) => importsOf(f, "dynamic-import")).map(rel))].sort();

describe("start-up evaluates the command declarations, not the commands", () => {
  const startup = staticClosure(join(ROOT, "src/cli.ts"));

  test("the handlers' code is imported lazily", () => {
    // The modules that make up the commands; a handler that stops importing one lazily leaves this list.
    for (const m of ["src/core.ts", "src/events.ts", "src/config.ts", "src/backends/index.ts", "src/snapshot/store.ts", "src/status.ts", "src/exporters/push.ts", "src/usage/report.ts", "src/top/run.ts"]) {
      expect(lazy).toContain(m);
    }
  });

  test("no module a handler imports lazily is reached from the entry at start-up", () => {
    expect(startup.has("src/main.ts")).toBe(true);
    expect(lazy.filter((m) => startup.has(m))).toEqual([]);
  });

  test("nor anything those modules import that start-up itself does not need", () => {
    // Start-up's own modules (errors, defaults, the process boundary) may be shared; the work may not.
    const work = ["src/plan.ts", "src/sources/load.ts", "src/backends/nft/index.ts", "src/backends/ipt/index.ts", "src/usage/record.ts", "src/exporters/collectd.ts"];
    expect(work.filter((m) => startup.has(m))).toEqual([]);
  });
});

test("one command per dnsmasq action the event parser takes", () => {
  expect(dnsmasqCommands.map((c) => parseSyntax(c.command).name)).toEqual([...DNSMASQ_ACTIONS]);
});

describe("the app builds the config and runtime on first use, once", () => {
  const sys = () => fakeSys({ files: { "/etc/config/iptmon": "config iptmon 'main'\n\toption backend 'nftables'\n" } });

  test("callers that ask at once share one runtime and one config", async () => {
    const app = createApp(sys(), {});
    const [a, b] = await Promise.all([app.runtime(), app.runtime()]);
    expect(a).toBe(b);
    expect(a.cfg).toBe(await app.config());
    expect(a.cfg.backend).toBe("nftables");
  });

  test("a config that does not load fails every caller with the same error", async () => {
    const app = createApp(fakeSys(), { config: "/missing" });
    const errors = await Promise.all([app.config(), app.runtime()].map((p) => p.then(() => null, (e: Error) => e.message)));
    expect(errors[0]).toContain("/missing");
    expect(errors[1]).toBe(errors[0]!);
  });
});
