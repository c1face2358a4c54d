/**
 * What an event reads besides the kernel: only what its plan asks for. A
 * lease event that names its host reads neither the lease file nor the
 * hosts files; a removal does not read the neighbour table; a neighbour that
 * appears with no name anywhere else is named from the hosts files.
 */
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { createNftBackend } from "../../src/backends/nft/index.ts";
import { parseConfig } from "../../src/config.ts";
import { runEvent, type Runtime } from "../../src/core.ts";
import type { HostEvent } from "../../src/plan.ts";
import { fakeSys, ok } from "../helpers/fakesys.ts";

const fixture = (name: string) => readFileSync(`${import.meta.dir}/../fixtures/core/${name}`, "utf8");
const CONFIG = "config iptmon 'global'\n\toption backend 'nftables'\n\toption leasefile '/tmp/dhcp.leases'\n\toption hostsfile '/etc/hosts'\n";
const IP_ADDR = "4: br-lan: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500\n    inet 192.168.1.1/24 brd 192.168.1.255 scope global br-lan\n";
const HOSTS = "192.168.1.130\tprinter.lan printer\n";
const LEASES = "1900000000 02:00:00:00:00:30 192.168.1.130 from-lease *\n";

function router() {
  const sys = fakeSys({
    files: { "/etc/config/iptmon": CONFIG, "/etc/hosts": HOSTS, "/tmp/dhcp.leases": LEASES },
    commands: {
      "ip addr show dev br-lan": ok(IP_ADDR),
      "ip neigh show": ok(""),
      "nft -j list maps inet": ok(fixture("nft-maps.json")),
      "nft -j list table inet iptmon": ok(fixture("nft-list.json")),
      "nft -f -": ok(),
    },
  });
  const read: string[] = [];
  const readFile = sys.readFile;
  sys.readFile = (p) => (read.push(p), readFile(p));
  const cfg = parseConfig(CONFIG, "/etc/config/iptmon");
  const rt: Runtime = { sys, cfg, backend: createNftBackend(sys, cfg, -1), warn: () => {} };
  const ran = () => sys.calls.map((c) => [c.cmd, ...c.args].join(" "));
  const applied = () => sys.calls.filter((c) => c.args.join(" ") === "-f -").map((c) => c.input ?? "");
  return { rt, read, ran, applied };
}

const ev = (e: Partial<HostEvent> & Pick<HostEvent, "action" | "address">): HostEvent => ({ source: "dhcp", key: "02:00:00:00:00:20", ...e });

test("a lease event that names its host reads no lease file and no hosts file", () => {
  const r = router();
  const out = runEvent(r.rt, ev({ action: "add", address: "192.168.1.120", hostname: "new-host" }));
  expect(out.kind).toBe("applied");
  expect(r.read).not.toContain("/tmp/dhcp.leases");
  expect(r.read).not.toContain("/etc/hosts");
  expect(r.applied().join("")).toContain('add counter inet iptmon rx_new-host { packets 0 bytes 0; comment "iptmon: 02:00:00:00:00:20"; }');
});

test("a lease that ends reads neither the neighbour table nor the hosts files", () => {
  const r = router();
  const out = runEvent(r.rt, ev({ action: "del", key: "02:00:00:00:00:04", address: "192.168.1.104" }));
  expect(out.kind).toBe("applied");
  expect(r.ran()).not.toContain("ip neigh show");
  expect(r.read).not.toContain("/etc/hosts");
  expect(r.applied().join("")).toContain("delete counter inet iptmon rx_desk");
});

test("a neighbour with no name anywhere else is named from the hosts files, read then", () => {
  const r = router();
  const out = runEvent(r.rt, { action: "add", source: "neigh", key: "02:00:00:00:00:31", address: "192.168.1.130" });
  expect(out.kind).toBe("applied");
  expect(r.read).toContain("/etc/hosts");
  expect(r.applied().join("")).toContain("add counter inet iptmon rx_printer");
});
