/**
 * Runs inside a test's namespace (root): what the nft backend reads over
 * netlink next to what it reads from nft's JSON, or a change that must fail
 * whole. Prints JSON.
 *   bun test/helpers/nl-probe.ts read <placement> <table>
 *   bun test/helpers/nl-probe.ts failing-batch <placement> <table>
 */
import { readMapsNetlink, readTableNetlink } from "../../src/backends/nft/netlink.ts";
import { FAMILY, type Placement } from "../../src/backends/nft/layout.ts";
import { parseNftJson, parseNftMapsJson } from "../../src/backends/nft/parse.ts";
import { NfError, NfTables } from "../../src/netlink/nftables.ts";
import { openNetfilterSocket } from "../../src/netlink/socket.ts";
import { keyBytes } from "../../src/backends/nft/netlink.ts";

const [what, placement, table] = process.argv.slice(2) as [string, Placement, string];
const nf = new NfTables(openNetfilterSocket());
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
} else throw new Error("usage: nl-probe.ts read|failing-batch <placement> <table>");
