/**
 * A TCP bulk sender and receiver for bench/datapath.ts, run inside its own
 * namespaces only.
 *   bun bench/tcp.ts recv PORT OUTFILE     one JSON line {bytes, ms} per connection
 *   bun bench/tcp.ts send HOST PORT MS     writes as fast as the socket takes for MS ms
 */
import { appendFileSync, writeFileSync } from "node:fs";
import { connect, createServer } from "node:net";

const [mode, ...rest] = process.argv.slice(2);
if (mode === "recv") {
  const [port, out] = rest;
  if (!port || !out) throw new Error("usage: tcp.ts recv PORT OUTFILE");
  const server = createServer((s) => {
    let bytes = 0;
    let start = 0;
    s.on("data", (d) => {
      if (start === 0) start = performance.now();
      bytes += d.length;
    });
    s.on("end", () => appendFileSync(out, `${JSON.stringify({ bytes, ms: performance.now() - start })}\n`));
    s.on("error", () => {});
  });
  server.listen(Number(port), () => writeFileSync(`${out}.ready`, "1"));
} else if (mode === "send") {
  const [host, port, ms] = rest;
  if (!host || !port || !ms) throw new Error("usage: tcp.ts send HOST PORT MS");
  const chunk = Buffer.alloc(256 * 1024);
  const s = connect({ host, port: Number(port) }, () => {
    const end = performance.now() + Number(ms);
    const pump = () => {
      while (performance.now() < end) if (!s.write(chunk)) return void s.once("drain", pump);
      s.end();
    };
    pump();
  });
  s.on("error", (e) => {
    console.error(e.message);
    process.exit(1);
  });
} else throw new Error("usage: tcp.ts recv|send …");
