/**
 * Sends small UDP datagrams to DEST:PORT as fast as the socket takes them for
 * MS milliseconds; prints how many it sent. Only for bench/packets.ts, inside
 * its own namespaces.   bun bench/flood.ts DEST PORT MS
 */
const [dest, port, ms] = process.argv.slice(2);
if (!dest || !port || !ms) throw new Error("usage: flood.ts DEST PORT MS");
const sock = await Bun.udpSocket({});
const payload = new Uint8Array(32);
const end = performance.now() + Number(ms);
let sent = 0;
while (performance.now() < end) {
  for (let i = 0; i < 64; i++) if (sock.send(payload, Number(port), dest)) sent++;
  await Bun.sleep(0);
}
sock.close();
console.log(sent);
export {};
