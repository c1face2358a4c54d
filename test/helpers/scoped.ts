/**
 * What a scoped read (src/backends/nft/netlink.ts readScopeNetlink) finds in
 * a table holding `hosts`, worked out from the whole table: the reference the
 * unit tests plan against and the e2e tests hold the kernel's answers to.
 */
import { macOf, sortAddresses, type CountedHost, type EventScope, type ScopedState } from "../../src/model.ts";

/** What the scoped read finds in a table holding `hosts`. */
export function scopedOf(hosts: readonly CountedHost[], scope: EventScope): ScopedState {
  const owner = new Map(hosts.flatMap((h) => h.addresses.map((a) => [a, h] as const)));
  const seen = new Map<CountedHost, string[]>();
  const target = macOf(scope.key) ? hosts.find((h) => h.key === scope.key) : undefined;
  if (target) seen.set(target, []);
  for (const a of scope.addresses) {
    const o = owner.get(a);
    if (o) seen.set(o, [...(seen.get(o) ?? []), a]);
  }
  return {
    read: "scoped",
    addresses: [...scope.addresses],
    hosts: [...seen].map(([h, addrs]) => ({ ...h, addresses: sortAddresses(addrs), unseen: h.addresses.length - addrs.length })),
    nameTaken: (n) => hosts.some((h) => h.name.toLowerCase() === n.toLowerCase()),
    ownerKey: (a) => owner.get(a)?.key ?? null,
  };
}

