/**
 * Runs inside a test's namespace (root): what the nft backend reads over
 * netlink next to what it reads from nft's JSON, or a change that must fail
 * whole. Prints JSON.
 *   bun test/helpers/nl-probe.ts read <placement> <table>
 *   bun test/helpers/nl-probe.ts failing-batch <placement> <table>
 *   bun test/helpers/nl-probe.ts scoped <placement> <table> <scopes JSON> <names JSON>
 */
import { readMapsNetlink, readScopeNetlink, readTableNetlink } from "../../src/backends/nft/netlink.ts";
import type { EventScope } from "../../src/model.ts";
import { NLM_F_DUMP, parseMessages } from "../../src/netlink/message.ts";
import { FAMILY, type Placement } from "../../src/backends/nft/layout.ts";
import { parseNftJson, parseNftMapsJson } from "../../src/backends/nft/parse.ts";
import { NfError, NfTables } from "../../src/netlink/nftables.ts";
import { openNetfilterSocket } from "../../src/netlink/socket.ts";
import { keyBytes } from "../../src/backends/nft/netlink.ts";

const [what, placement, table] = process.argv.slice(2) as [string, Placement, string];
const sock = openNetfilterSocket();
/** Dump requests sent: a scoped read must make none. */
let dumps = 0;
const nf = new NfTables({ ...sock, send: (d) => (parseMessages(d).some((m) => (m.flags & NLM_F_DUMP) === NLM_F_DUMP) && dumps++, sock.send(d)), recv: () => sock.recv(), close: () => sock.close() });
const o = { table, priority: 0, placement };
const nft = (...args: string[]) => Bun.spawnSync(["nft", ...args], { stdout: "pipe" }).stdout.toString();
if (what === "read") {
  console.log(
    JSON.stringify({
      netlinkTable: readTableNetlink(nf, o),
      nftTable: parseNftJson(nft("-j", "list", "table", FAMILY[placement], table), table, placement),
      netlinkMaps: readMapsNetlink(nf, o),
      nftMaps: parseNftMapsJson(nft("-j", "list", "maps", FAMILY[placement]), table, placement),
    }),
  );
} else if (what === "failing-batch") {
  // A new counter and its element, then an element naming a counter that does not exist.
  let errno = 0;
  try {
    nf.commit(FAMILY[placement], table, [
      { op: "add-counter", name: "rx_halfway", packets: 0, bytes: 0, comment: "iptmon: 02:00:00:00:99:99" },
      { op: "add-elements", set: "rx4", elements: [{ key: keyBytes("10.67.99.99"), ref: "rx_halfway" }] },
      { op: "add-elements", set: "rx4", elements: [{ key: keyBytes("10.67.99.98"), ref: "rx_nobody" }] },
    ]);
  } catch (e) {
    if (!(e instanceof NfError)) throw e;
    errno = e.errno;
  }
  console.log(JSON.stringify({ errno, halfway: nf.counter(FAMILY[placement], table, "rx_halfway") }));
} else if (what === "scoped") {
  const scopes = JSON.parse(process.argv[5]!) as EventScope[];
  const names = JSON.parse(process.argv[6]!) as string[];
  const full = readTableNetlink(nf, o);
  const reads = scopes.map((scope) => {
    dumps = 0;
    const s = readScopeNetlink(nf, o, scope);
    if (s?.read !== "scoped") return { scope, state: s, dumps };
    const answers = {
      nameTaken: Object.fromEntries(names.map((n) => [n, s.nameTaken(n)])),
      ownerKey: Object.fromEntries(scope.addresses.map((a) => [a, s.ownerKey(a)])),
    };
    return { scope, state: { read: s.read, addresses: s.addresses, hosts: s.hosts }, ...answers, dumps };
  });
  console.log(JSON.stringify({ full, reads }));
} else throw new Error("usage: nl-probe.ts read|failing-batch|scoped <placement> <table> …");
