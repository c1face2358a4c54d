/**
 * Sends UDP datagrams of PAYLOAD bytes to DEST:PORT (IPv4 or IPv6) as fast as the socket
 * takes them for MS milliseconds; prints how many it sent. Only for the
 * benchmarks, inside their own namespaces.   bun bench/flood.ts DEST PORT MS [PAYLOAD]
 */
const [dest, port, ms, size] = process.argv.slice(2);
if (!dest || !port || !ms) throw new Error("usage: flood.ts DEST PORT MS [PAYLOAD]");
// Connected, and 64 datagrams per sendmmsg: the sender's own cost per datagram stays small next to the router's.
// An IPv6 destination needs a socket bound to an IPv6 address (bun binds IPv4 unless told).
const sock = await Bun.udpSocket({ ...(dest.includes(":") ? { hostname: "::" } : {}), connect: { hostname: dest, port: Number(port) } });
const payload = new Uint8Array(Number(size ?? 32));
const burst = Array.from({ length: 64 }, () => payload);
const end = performance.now() + Number(ms);
let sent = 0;
while (performance.now() < end) {
  sent += sock.sendMany(burst);
  await Bun.sleep(0);
}
sock.close();
console.log(sent);
export {};
