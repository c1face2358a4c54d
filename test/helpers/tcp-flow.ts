#!/usr/bin/env bun
/**
 * One TCP exchange of known size, for end-to-end tests that tell traffic
 * apart by port (see test/e2e/split.test.ts):
 *
 *   bun test/helpers/tcp-flow.ts serve PORT REPLY
 *   bun test/helpers/tcp-flow.ts send HOST PORT SIZE
 *
 * `serve` listens on every address (IPv4 and IPv6) of its namespace; for
 * each connection it reads to the client's end, then writes REPLY bytes and
 * closes. It runs until killed. `send` connects, writes SIZE bytes, ends its
 * side, reads the reply to the end and prints {"sent":N,"received":M}.
 * Bounded: `send` gives up after VR_SEND_TIMEOUT_MS (default 20000), exit 2.
 * Talks only to the address it is given: run it inside a test namespace.
 */
import { connect, createServer } from "node:net";

function usage(msg: string): never {
  process.stderr.write(`tcp-flow: ${msg}\nusage: tcp-flow.ts serve PORT REPLY | send HOST PORT SIZE\n`);
  process.exit(64);
}

function int(s: string | undefined, name: string, max: number): number {
  if (s === undefined || !/^\d+$/.test(s) || Number(s) > max) usage(`${name} must be a number up to ${max}`);
  return Number(s);
}

const [mode, ...rest] = process.argv.slice(2);
if (mode === "serve") {
  const port = int(rest[0], "PORT", 65535);
  const reply = Buffer.alloc(int(rest[1], "REPLY", 100_000_000), 0x5a);
  const server = createServer({ allowHalfOpen: true }, (sock) => {
    sock.on("data", () => {});
    sock.on("end", () => sock.end(reply));
    sock.on("error", () => sock.destroy());
  });
  server.listen({ port, host: "::", ipv6Only: false }, () => process.stdout.write(`listening ${port}\n`));
} else if (mode === "send") {
  const host = rest[0] ?? usage("HOST missing");
  const port = int(rest[1], "PORT", 65535);
  const size = int(rest[2], "SIZE", 100_000_000);
  const timeoutMs = Number(process.env.VR_SEND_TIMEOUT_MS ?? 20_000);
  const timer = setTimeout(() => {
    process.stderr.write(`tcp-flow: timed out after ${timeoutMs} ms\n`);
    process.exit(2);
  }, timeoutMs);
  let received = 0;
  const sock = connect({ host, port, allowHalfOpen: true }, () => sock.end(Buffer.alloc(size, 0x5a)));
  sock.on("data", (d: Buffer) => (received += d.length));
  sock.on("error", (e) => {
    process.stderr.write(`tcp-flow: ${e.message}\n`);
    process.exit(1);
  });
  sock.on("close", () => {
    clearTimeout(timer);
    process.stdout.write(`${JSON.stringify({ sent: size, received })}\n`);
  });
} else usage("MODE must be serve or send");
