/**
 * Sends UDP datagrams of PAYLOAD bytes to DEST:PORT as fast as the socket
 * takes them for MS milliseconds; prints how many it sent. Only for the
 * benchmarks, inside their own namespaces.   bun bench/flood.ts DEST PORT MS [PAYLOAD]
 */
const [dest, port, ms, size] = process.argv.slice(2);
if (!dest || !port || !ms) throw new Error("usage: flood.ts DEST PORT MS [PAYLOAD]");
const sock = await Bun.udpSocket({});
const payload = new Uint8Array(Number(size ?? 32));
const end = performance.now() + Number(ms);
let sent = 0;
while (performance.now() < end) {
  for (let i = 0; i < 64; i++) if (sock.send(payload, Number(port), dest)) sent++;
  await Bun.sleep(0);
}
sock.close();
console.log(sent);
export {};
