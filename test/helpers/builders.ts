/** Small builders and matchers shared by unit tests. */
import { expect } from "bun:test";
import { UserError } from "../../src/errors.ts";
import type { StatusHost } from "../../src/status.ts";

/** The UserError `f` throws; fails the test when it throws nothing or something else. */
export function userError(f: () => unknown): UserError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(UserError);
    return e as UserError;
  }
  throw new Error("expected a UserError, nothing was thrown");
}

/** A status host with counters scaled by `n`. */
export const statusHost = (name: string, mac: string | null, n = 1): StatusHost => ({
  name,
  mac,
  key: mac ?? `host:${name}`,
  addresses: [],
  rx_bytes: 1000 * n,
  rx_packets: 10 * n,
  tx_bytes: 2000 * n,
  tx_packets: 20 * n,
});

/**
 * What `nft -j list table inet iptmon` prints for one host, laptop
 * (02:00:00:00:00:01), with rx 7 packets / 700 bytes and tx 9 / 9000;
 * `more` nft objects (maps, say) come after its counters.
 */
export const laptopNftJson = (...more: object[]): string =>
  JSON.stringify({
    nftables: [
      { table: { family: "inet", name: "iptmon", handle: 1 } },
      { counter: { family: "inet", table: "iptmon", name: "rx_laptop", comment: "iptmon: 02:00:00:00:00:01", packets: 7, bytes: 700 } },
      { counter: { family: "inet", table: "iptmon", name: "tx_laptop", comment: "iptmon: 02:00:00:00:00:01", packets: 9, bytes: 9000 } },
      ...more,
    ],
  });

/** The lines a rebuild opens with: iptmon's table, maps and chain, as renderNft declares them. */
export const NFT_TABLE_DECLARATION = [
  "table inet iptmon {",
  "\tmap rx4 { type ipv4_addr : counter; }",
  "\tmap tx4 { type ipv4_addr : counter; }",
  "\tmap rx6 { type ipv6_addr : counter; }",
  "\tmap tx6 { type ipv6_addr : counter; }",
  "\tmap keys { type ether_addr : counter; }",
  "\tmap names { type ipv6_addr . ipv6_addr . ipv6_addr . ipv6_addr : counter; }",
  "\tchain forward { type filter hook forward priority -1; policy accept; }",
  "\tchain forward6 { }",
  "}",
];

/**
 * The nft lines that take laptop (02:00:00:00:00:01 at 192.168.1.101,
 * fd00::aaaa and fd00::1:65, the fixtures' laptop) out of iptmon's table:
 * its elements first, then the counters they named.
 */
export const LAPTOP_REMOVED = [
  "delete element inet iptmon rx4 { 192.168.1.101 }",
  "delete element inet iptmon tx4 { 192.168.1.101 }",
  "delete element inet iptmon rx6 { fd00::aaaa, fd00::1:65 }",
  "delete element inet iptmon tx6 { fd00::aaaa, fd00::1:65 }",
  "delete element inet iptmon keys { 02:00:00:00:00:01 }",
  // the names map's key: "laptop", NUL-padded to 64 bytes, as four IPv6 addresses
  "delete element inet iptmon names { 6c61:7074:6f70:0:0:0:0:0 . :: . :: . :: }",
  "delete counter inet iptmon rx_laptop",
  "delete counter inet iptmon tx_laptop",
  // its carry goes too, whether it has one or not (added first: a no-op where it is there)
  'add counter inet iptmon carry_rx_02-00-00-00-00-01 { packets 0 bytes 0; comment "iptmon: 02:00:00:00:00:01"; }',
  "delete counter inet iptmon carry_rx_02-00-00-00-00-01",
  'add counter inet iptmon carry_tx_02-00-00-00-00-01 { packets 0 bytes 0; comment "iptmon: 02:00:00:00:00:01"; }',
  "delete counter inet iptmon carry_tx_02-00-00-00-00-01",
];
