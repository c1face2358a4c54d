/**
 * An in-memory backend for unit tests of what sits above the backends
 * (snapshots, usage): hosts with counters that tests make grow, created with
 * the counters a plan gives, as nft creates them.
 */
import type { Backend } from "../../src/backends/backend.ts";
import type { CountedHost, KernelState, PlannedHost } from "../../src/model.ts";

export class FakeKernel implements Backend<KernelState, PlannedHost[]> {
  readonly name = "nftables" as const;
  readonly hook = "forward" as const;
  present = false;
  hosts = new Map<string, CountedHost>();
  applies = 0;

  read(): KernelState {
    if (!this.present) return { read: "absent" };
    return { read: "full", complete: true, hosts: [...this.hosts.values()].map((h) => structuredClone(h)) };
  }
  plan(_current: KernelState, desired: PlannedHost[]): PlannedHost[] {
    return desired;
  }
  render(): string {
    return "";
  }
  apply(desired: PlannedHost[]): void {
    this.applies++;
    const next = new Map<string, CountedHost>();
    for (const h of desired) {
      const cur = this.hosts.get(h.name);
      if (h.counters === "keep") {
        if (!cur) throw new Error(`keep of missing ${h.name}`);
        next.set(h.name, { ...cur, addresses: [...h.addresses] });
      } else next.set(h.name, { key: h.key, name: h.name, addresses: [...h.addresses], rx: { ...h.counters.rx }, tx: { ...h.counters.tx } });
    }
    this.hosts = next;
    this.present = true;
  }
  check(): void {}
  remove(): void {
    this.hosts.clear();
    this.present = false;
  }
  /** Traffic of a host: `up` bytes received from it (rx), `down` sent to it (tx), in packets of `size`. */
  traffic(key: string, up: number, down: number, size = 1000): boolean {
    const h = [...this.hosts.values()].find((x) => x.key === key);
    if (!h) return false;
    h.rx.bytes += up;
    h.rx.packets += Math.ceil(up / size);
    h.tx.bytes += down;
    h.tx.packets += Math.ceil(down / size);
    return true;
  }
  /** `nft flush ruleset`, a reboot: everything gone. */
  flush(): void {
    this.remove();
  }
}
