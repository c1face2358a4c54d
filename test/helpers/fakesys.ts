/** A Sys for unit tests: files in a map, commands answered from a table, output captured. */
import type { RtNetlink } from "../../src/netlink/rtnetlink.ts";
import { UserError } from "../../src/errors.ts";
import type { RunResult, Sys } from "../../src/sys.ts";

export interface FakeSys extends Sys {
  files: Map<string, string>;
  /** Keyed by "cmd arg1 arg2 …"; a function sees the input. */
  commands: Map<string, RunResult | ((input?: string) => RunResult)>;
  calls: { cmd: string; args: string[]; input?: string; timeoutMs?: number }[];
  out: string;
  err: string;
}

/**
 * `rtnetlink`: the routing netlink the sources read instead of running `ip`
 * (one over a replaying socket, test/helpers/rtnl-replay.ts); without it they
 * run `ip`, answered from `commands`.
 */
export function fakeSys(
  opts: { files?: Record<string, string>; commands?: Record<string, RunResult | ((input?: string) => RunResult)>; env?: Record<string, string>; now?: number; rtnetlink?: RtNetlink; badDirs?: Record<string, string> } = {},
): FakeSys {
  const files = new Map(Object.entries(opts.files ?? {}));
  const commands = new Map(Object.entries(opts.commands ?? {}));
  const sys: FakeSys = {
    files,
    commands,
    calls: [],
    out: "",
    err: "",
    run(cmd, args, input, o) {
      sys.calls.push({ cmd, args, input, ...(o?.timeoutMs === undefined ? {} : { timeoutMs: o.timeoutMs }) });
      const line = [cmd, ...args].join(" ");
      const r = commands.get(line);
      // A kernel without a netdev table of iptmon's (the `ports` placement),
      // unless a test says otherwise: what nft answers for a missing table.
      if (r === undefined && /^nft -j list table netdev \S+$/.test(line)) return { code: 1, stdout: "", stderr: "Error: No such file or directory\n" };
      if (r === undefined) return { code: 127, stdout: "", stderr: `${cmd}: not found in fake` };
      return typeof r === "function" ? r(input) : r;
    },
    readFile: (p) => files.get(p) ?? null,
    listDir(p) {
      const prefix = `${p.replace(/\/$/, "")}/`;
      const names = [...files.keys()].filter((f) => f.startsWith(prefix)).map((f) => f.slice(prefix.length).split("/")[0]!);
      return names.length ? [...new Set(names)].sort() : null;
    },
    // A program exists when the fake answers for it.
    exists(p) {
      if (files.has(p) || [...files.keys()].some((f) => f.startsWith(`${p}/`))) return true;
      const prog = p.split("/").pop()!;
      return [...commands.keys()].some((c) => c === prog || c.startsWith(`${prog} `));
    },
    writeFile: (p, d) => void files.set(p, d),
    ensurePrivateDir(p) {
      const why = opts.badDirs?.[p];
      if (why) throw new UserError(`cannot use state directory ${p}: ${why}`, 1);
    },
    rename(from, to) {
      const d = files.get(from);
      if (d === undefined) throw Object.assign(new Error(`ENOENT: no such file, rename '${from}'`), { code: "ENOENT" });
      files.delete(from);
      files.set(to, d);
    },
    remove: (p) => void files.delete(p),
    env: opts.env ?? {},
    ppid: 1,
    stdout: (t) => void (sys.out += t),
    stderr: (t) => void (sys.err += t),
    now: () => opts.now ?? 1_800_000_000,
    lock: () => () => {},
    fetch: async () => {
      throw new Error("no network in unit tests");
    },
    ...(opts.rtnetlink ? { rtnetlink: () => opts.rtnetlink! } : {}),
  };
  return sys;
}

export const ok = (stdout = ""): RunResult => ({ code: 0, stdout, stderr: "" });
