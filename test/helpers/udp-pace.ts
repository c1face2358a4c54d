#!/usr/bin/env bun
/**
 * Sends UDP datagrams at a steady rate for a while, for end-to-end tests of
 * live rates (`iptmon top`, the web page):
 *
 *   bun test/helpers/udp-pace.ts FAMILY DEST PORT SIZE BYTES_PER_SECOND SECONDS
 *
 * BYTES_PER_SECOND counts L3 bytes (SIZE + 28 over IPv4, + 48 over IPv6), as
 * iptmon's counters do. Every 5 ms it sends what the elapsed time allows, so
 * the rate holds over any interval longer than a few datagrams. Prints one
 * JSON line at the end: {"sent":N,"bytes":L3 bytes,"ms":elapsed,"bps":bits/s}.
 * Sends only to the address it is given: run it inside a test namespace.
 */
import { performance } from "node:perf_hooks";

const [famArg, dest, portArg, sizeArg, rateArg, secondsArg] = process.argv.slice(2);
const nums = [portArg, sizeArg, rateArg, secondsArg].map(Number);
if ((famArg !== "4" && famArg !== "6") || !dest || nums.some((n) => !Number.isFinite(n) || n <= 0)) {
  process.stderr.write("usage: udp-pace.ts 4|6 DEST PORT SIZE BYTES_PER_SECOND SECONDS\n");
  process.exit(64);
}
const [port, size, rate, seconds] = nums as [number, number, number, number];
const perDatagram = size + (famArg === "4" ? 28 : 48);
const sock = await Bun.udpSocket({ hostname: famArg === "6" ? "::" : "0.0.0.0", port: 0 });
const payload = new Uint8Array(size).fill(0x5a);
const started = performance.now();
let sent = 0;
for (;;) {
  const elapsed = performance.now() - started;
  if (elapsed >= seconds * 1000) break;
  const due = Math.floor(((elapsed / 1000) * rate) / perDatagram);
  while (sent < due) {
    if (!sock.send(payload, port, dest)) break; // backpressure: the rest goes next round
    sent++;
  }
  await Bun.sleep(5);
}
const ms = performance.now() - started;
sock.close();
process.stdout.write(`${JSON.stringify({ sent, bytes: sent * perDatagram, ms: Math.round(ms), bps: Math.round((sent * perDatagram * 8) / (ms / 1000)) })}\n`);
