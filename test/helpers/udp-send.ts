#!/usr/bin/env bun
/**
 * Sends COUNT UDP datagrams of exactly SIZE payload bytes to DEST:PORT, for
 * end-to-end tests that check byte counters (see test/e2e/vrouter.ts).
 *
 *   bun test/helpers/udp-send.ts FAMILY DEST PORT COUNT SIZE [BIND]
 *
 * FAMILY is 4 or 6; BIND optionally picks the source address, and
 * VR_SEND_SPORT the source port (default: any). Each datagram is
 * SIZE+28 bytes at L3 over IPv4 and SIZE+48 over IPv6, so SIZE must fit the
 * 1500-byte MTU unfragmented (IPv4 ≤ 1472, IPv6 ≤ 1452).
 *
 * So that every datagram leaves the host:
 * - the first datagram goes alone, then a pause lets ARP/ND resolve along the
 *   path (the first packet waits in the neighbour queue, it is not lost);
 * - the rest go in small batches with a yield in between, so no backlog or
 *   socket buffer overflows; a send refused for backpressure is retried;
 * - the kernel's own UDP/IP send-error counters of this network namespace are
 *   compared before and after: any increase fails the run (exit 3).
 * Bounded: gives up after VR_SEND_TIMEOUT_MS (default 20000) with exit 2.
 * Prints one JSON line: {"sent":N,"bytes":L3 bytes,"ms":elapsed}.
 * Sends only to the address it is given: run it inside a test namespace.
 */
import { readFileSync } from "node:fs";

const BATCH = 16;
const RESOLVE_PAUSE_MS = 100;

function usage(msg: string): never {
  process.stderr.write(`udp-send: ${msg}\nusage: udp-send.ts 4|6 DEST PORT COUNT SIZE [BIND]\n`);
  process.exit(64);
}

function int(s: string | undefined, name: string, min: number, max: number): number {
  if (s === undefined || !/^\d+$/.test(s)) usage(`${name} must be a number`);
  const n = Number(s);
  if (n < min || n > max) usage(`${name} must be in ${min}..${max}`);
  return n;
}

/** Sum of the send-error counters of this namespace (/proc/net/snmp{,6}). */
function sendErrors(): number {
  let total = 0;
  // /proc/net/snmp: pairs of lines "Proto: names..." / "Proto: values...".
  try {
    const lines = readFileSync("/proc/net/snmp", "utf8").split("\n");
    for (let i = 0; i + 1 < lines.length; i += 2) {
      const names = lines[i]!.split(/\s+/);
      const values = lines[i + 1]!.split(/\s+/);
      const proto = names[0];
      names.forEach((name, j) => {
        if (
          (proto === "Udp:" && name === "SndbufErrors") ||
          (proto === "Ip:" && (name === "OutDiscards" || name === "OutNoRoutes"))
        ) {
          total += Number(values[j] ?? 0);
        }
      });
    }
  } catch {
    /* no IPv4 stats: nothing to compare */
  }
  try {
    for (const line of readFileSync("/proc/net/snmp6", "utf8").split("\n")) {
      const [name, value] = line.trim().split(/\s+/);
      if (name === "Udp6SndbufErrors" || name === "Ip6OutDiscards" || name === "Ip6OutNoRoutes") {
        total += Number(value ?? 0);
      }
    }
  } catch {
    /* IPv6 disabled in this namespace */
  }
  return total;
}

const [famArg, dest, portArg, countArg, sizeArg, bind] = process.argv.slice(2);
if (famArg !== "4" && famArg !== "6") usage("FAMILY must be 4 or 6");
const family = Number(famArg) as 4 | 6;
if (!dest) usage("DEST missing");
const port = int(portArg, "PORT", 1, 65535);
const count = int(countArg, "COUNT", 0, 1_000_000);
const size = int(sizeArg, "SIZE", 0, family === 4 ? 1472 : 1452);
const timeoutMs = Number(process.env.VR_SEND_TIMEOUT_MS ?? 20_000);

const started = Date.now();
const deadline = started + timeoutMs;
const timer = setTimeout(() => {
  process.stderr.write(`udp-send: timed out after ${timeoutMs} ms\n`);
  process.exit(2);
}, timeoutMs);

let drained: (() => void) | null = null;
const sock = await Bun.udpSocket({
  hostname: bind ?? (family === 6 ? "::" : "0.0.0.0"),
  port: Number(process.env.VR_SEND_SPORT ?? 0),
  socket: {
    drain() {
      drained?.();
      drained = null;
    },
  },
});

const payload = new Uint8Array(size).fill(0x5a);
const errorsBefore = sendErrors();

async function sendOne(): Promise<void> {
  while (!sock.send(payload, port, dest!)) {
    if (Date.now() > deadline) throw new Error("send kept being refused");
    // Backpressure: the datagram was not sent; wait for drain (or 5 ms) and retry.
    await Promise.race([new Promise<void>((r) => (drained = r)), Bun.sleep(5)]);
  }
}

let sent = 0;
try {
  if (count > 0) {
    await sendOne();
    sent++;
    await Bun.sleep(RESOLVE_PAUSE_MS);
  }
  while (sent < count) {
    const n = Math.min(BATCH, count - sent);
    for (let i = 0; i < n; i++) {
      await sendOne();
      sent++;
    }
    await Bun.sleep(1);
  }
} catch (e) {
  process.stderr.write(`udp-send: ${(e as Error).message} after ${sent} datagrams\n`);
  process.exit(1);
}
sock.close();
clearTimeout(timer);

const errors = sendErrors() - errorsBefore;
if (errors > 0) {
  process.stderr.write(`udp-send: the kernel counted ${errors} send errors/discards in this namespace\n`);
  process.exit(3);
}
const perDatagram = size + (family === 4 ? 28 : 48);
process.stdout.write(JSON.stringify({ sent, bytes: sent * perDatagram, ms: Date.now() - started }) + "\n");
