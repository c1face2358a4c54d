/**
 * The LAN as OpenWrt names it: logical networks (`option network 'lan'`),
 * resolved with `ifstatus <network>` (netifd's status over ubus) to the device
 * that carries them and every subnet they have, delegated IPv6 prefixes
 * included. Where that cannot be asked (no netifd, a network that does not
 * exist), the LAN interfaces by device name serve instead.
 */
import { parseSubnet, type Subnet } from "../addr.ts";
import type { Config } from "../config.ts";
import { DEFAULTS } from "../defaults.ts";
import { DEVICE_NAME } from "../model.ts";
import type { Sys } from "../sys.ts";

export interface LanDevices {
  /** The devices the LAN is on (their subnets are LAN; their ports are counted at). */
  devices: string[];
  /** Subnets the networks have, beyond what `ip addr` shows on their devices. */
  subnets: Subnet[];
  warnings: string[];
}

interface IfAddress {
  address?: unknown;
  mask?: unknown;
}

/**
 * Reads `ifstatus lan`, e.g.
 *   {"up": true, "l3_device": "br-lan", "device": "br-lan",
 *    "ipv4-address": [{"address": "192.168.1.1", "mask": 24}],
 *    "ipv6-address": [{"address": "fd12::1", "mask": 64}],
 *    "ipv6-prefix-assignment": [{"address": "2001:db8:0:10::", "mask": 64, "local-address": {"address": "2001:db8:0:10::1", "mask": 64}}]}
 * Null when it is not that.
 */
export function parseIfstatus(text: string): { device: string | null; subnets: Subnet[] } | null {
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(text) as Record<string, unknown>;
  } catch {
    return null;
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) return null;
  const dev = [doc.l3_device, doc.device].find((d): d is string => typeof d === "string" && DEVICE_NAME.test(d)) ?? null;
  const subnets: Subnet[] = [];
  for (const key of ["ipv4-address", "ipv6-address", "ipv6-prefix-assignment"]) {
    const list = doc[key];
    if (!Array.isArray(list)) continue;
    for (const a of list as IfAddress[]) {
      if (typeof a?.address !== "string" || typeof a.mask !== "number") continue;
      const n = parseSubnet(`${a.address}/${a.mask}`);
      if (n && !subnets.some((s) => s.text === n.text)) subnets.push(n);
    }
  }
  return { device: dev, subnets };
}

const cache = new WeakMap<Config, LanDevices>();

/** The LAN's devices and subnets: from `option network` where set, else `lan_interface`. Asked once per run. */
export function resolveLan(sys: Sys, cfg: Config): LanDevices {
  const known = cache.get(cfg);
  if (known) return known;
  const out: LanDevices = { devices: [], subnets: [], warnings: [] };
  let fallback = cfg.networks.length === 0;
  for (const net of cfg.networks) {
    const r = sys.run(cfg.ifstatus, [net], undefined, { timeoutMs: DEFAULTS.sourceTimeoutMs });
    const st = r.code === 0 ? parseIfstatus(r.stdout) : null;
    if (!st || !st.device) {
      const why = r.code !== 0 ? r.stderr.trim().split("\n")[0] || `${cfg.ifstatus} exited with ${r.code}` : "no device in its status";
      out.warnings.push(`cannot resolve network ${net} with ${cfg.ifstatus}: ${why}; the LAN is lan_interface (${cfg.lanInterfaces.join(", ") || "none"})`);
      fallback = true;
      continue;
    }
    if (!out.devices.includes(st.device)) out.devices.push(st.device);
    for (const s of st.subnets) if (!out.subnets.some((x) => x.text === s.text)) out.subnets.push(s);
  }
  if (fallback) for (const d of cfg.lanInterfaces) if (!out.devices.includes(d)) out.devices.push(d);
  cache.set(cfg, out);
  return out;
}
