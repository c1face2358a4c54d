/**
 * Serves iptmon's LuCI views (luci/htdocs) with the LuCI stand-in (luci.js,
 * theme.css) on 127.0.0.1, under LuCI's own URLs: /cgi-bin/luci/<menu path>
 * opens the view the menu gives that path, so the views' links between each
 * other work. POST /exec answers a command line through the test's `exec`
 * (which runs the real binary); /uci/<config> holds the config's sections as
 * the test gives them and records what a view saves.
 */
import { existsSync, readFileSync } from "node:fs";
import { join, normalize, resolve } from "node:path";
import type { Server } from "bun";

const ROOT = resolve(import.meta.dir, "../../..");
const HTDOCS = join(ROOT, "luci/htdocs");
const STANDIN = import.meta.dir;

/** The menu's paths and their views (as luci/root/usr/share/luci/menu.d/luci-app-iptmon.json names them). */
export const MENU: Record<string, string> = {
  "admin/status/iptmon": "iptmon/hosts",
  "admin/status/iptmon_usage": "iptmon/usage",
  "admin/status/iptmon_host": "iptmon/host",
  "admin/services/iptmon": "iptmon/settings",
};

export interface ExecAnswer {
  code: number;
  stdout: string;
  stderr: string;
}

export type UciSection = Record<string, string | string[] | boolean> & { ".name": string; ".type": string };

export interface StandinOptions {
  /** Runs one command line as the router would (cgi-io's exec). */
  exec: (cmd: string, args: string[]) => ExecAnswer | Promise<ExecAnswer>;
  uci?: Record<string, UciSection[]>;
  readonly?: boolean;
}

export interface Standin {
  url: string;
  server: Server<undefined>;
  uci: Record<string, UciSection[]>;
  /** Every command line asked for, with the bytes answered. */
  execs: { cmd: string; args: string[]; bytes: number }[];
  stop(): void;
}

const TYPES: Record<string, string> = { js: "text/javascript", css: "text/css", html: "text/html" };

function page(view: string, readonly: boolean): string {
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>LuCI stand-in: ${view}</title>
<link rel="stylesheet" href="/standin/theme.css">
<script>
  window.standinEnv = { readonly: ${readonly} };
  if (/[?&]dark=1/.test(location.search)) document.documentElement.setAttribute("data-darkmode", "true");
</script>
<script src="/standin/luci.js"></script>
</head><body><div id="maincontent"></div>
<script>window.standin.open(${JSON.stringify(view)});</script>
</body></html>`;
}

export function startStandin(opts: StandinOptions): Standin {
  const uci = opts.uci ?? { iptmon: [] };
  const execs: Standin["execs"] = [];
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      const url = new URL(req.url);
      const path = decodeURIComponent(url.pathname);
      if (path === "/favicon.ico") return new Response(null, { status: 204 });
      if (path.startsWith("/cgi-bin/luci/")) {
        const view = MENU[path.slice("/cgi-bin/luci/".length)];
        if (!view) return new Response("no such page", { status: 404 });
        return new Response(page(view, opts.readonly ?? false), { headers: { "Content-Type": "text/html; charset=utf-8" } });
      }
      if (req.method === "POST" && path === "/exec") {
        const { cmd, args, buffered } = (await req.json()) as { cmd: string; args: string[]; buffered?: boolean };
        const r = await opts.exec(cmd, args);
        execs.push({ cmd, args, bytes: Buffer.byteLength(r.stdout) });
        // fs.exec_direct (cgi-io) streams stdout and fails on a non-zero exit; fs.exec (rpcd) returns all three.
        if (buffered) return Response.json(r);
        return new Response(r.stdout, { status: r.code === 0 ? 200 : 500 });
      }
      if (path.startsWith("/uci/")) {
        const conf = path.slice(5);
        if (req.method === "POST") {
          uci[conf] = (await req.json()) as UciSection[];
          return new Response("ok");
        }
        return Response.json(uci[conf] ?? []);
      }
      const base = path.startsWith("/standin/") ? STANDIN : path.startsWith("/luci-static/") ? HTDOCS : null;
      const rel = path.startsWith("/standin/") ? path.slice("/standin/".length) : path;
      if (!base) return new Response("not found", { status: 404 });
      const file = normalize(join(base, rel));
      if (!file.startsWith(base) || !existsSync(file)) return new Response("not found", { status: 404 });
      return new Response(readFileSync(file), { headers: { "Content-Type": TYPES[file.split(".").pop()!] ?? "application/octet-stream" } });
    },
  });
  return { url: `http://127.0.0.1:${server.port}`, server, uci, execs, stop: () => server.stop(true) };
}
