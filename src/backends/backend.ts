/**
 * A backend turns the host model into kernel objects. The event handling only
 * sees this interface, so nftables and iptables are interchangeable.
 */
import type { BackendName } from "../config.ts";
import type { Applied, Host } from "../model.ts";

export interface ApplyOptions {
  /** Re-declare everything iptmon owns (init): also fixes objects someone edited. */
  rebuild: boolean;
}

export interface Backend {
  readonly name: BackendName;
  /** Every host iptmon has in the kernel, with its counters, in one read per family. */
  read(): Applied;
  /**
   * Optional cheaper read for one event: hosts, keys and addresses, but
   * counters left at zero (`partial`). Null when it cannot tell (then `read`).
   */
  readForEvent?(): Applied | null;
  /** Pure: the input(s) that bring the kernel from `current` to `desired`. */
  render(current: Applied, desired: Host[], opts: ApplyOptions): string;
  /** Brings the kernel from `current` to `desired` in one transaction per family. */
  apply(current: Applied, desired: Host[], opts: ApplyOptions): void;
  /** Dry run in the kernel's own parser, applying nothing. */
  check(current: Applied, desired: Host[], opts: ApplyOptions): void;
  /** Removes everything iptmon created, and nothing else. */
  remove(): void;
}
