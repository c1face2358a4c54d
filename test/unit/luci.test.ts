/** The LuCI menu entry points at a view that exists, and that view parses as LuCI loads it. */
import { expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";

const ROOT = resolve(import.meta.dir, "../..");
const FILES = join(ROOT, "files");

test("Status -> Hosts' traffic (iptmon) opens the iptmon/hosts view", () => {
  const menu = JSON.parse(readFileSync(join(FILES, "usr/share/luci/menu.d/iptmon.json"), "utf8"));
  expect(Object.keys(menu)).toEqual(["admin/status/iptmon"]);
  const entry = menu["admin/status/iptmon"];
  expect(entry.title).toBe("Hosts' traffic (iptmon)");
  expect(entry.action).toEqual({ type: "view", path: "iptmon/hosts" });
  expect(existsSync(join(FILES, "www/luci-static/resources/view", `${entry.action.path}.js`))).toBe(true);
});

test("the view is a LuCI view module that frames /iptmon/, and the page it frames is shipped", () => {
  const src = readFileSync(join(FILES, "www/luci-static/resources/view/iptmon/hosts.js"), "utf8");
  // LuCI runs a view's text as the body of a function given its 'require'd modules.
  const made: Record<string, unknown>[] = [];
  const E = (tag: string, attrs: Record<string, unknown>, children?: unknown) => ({ tag, attrs, children });
  const view = { extend: (o: Record<string, unknown>) => (made.push(o), o) };
  const L = new Function("view", "E", "_", src)(view, E, (s: string) => s) as { render(): { children: { tag: string; attrs: { src?: string } }[] } };
  expect(made).toHaveLength(1);
  expect(L.render().children[0]).toMatchObject({ tag: "iframe", attrs: { src: "/iptmon/" } });
  expect(existsSync(join(FILES, "www/iptmon/index.html"))).toBe(true);
  expect(existsSync(join(FILES, "www/cgi-bin/iptmon-hosts"))).toBe(true);
});
