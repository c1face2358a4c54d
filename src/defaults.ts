/** Every default in one place: OpenWrt's paths and iptmon's own settings. */
export const DEFAULTS = {
  config: "/etc/config/iptmon",
  backend: "auto",
  ipv6: true,
  leasefile: "/tmp/dhcp.leases",
  hostsfiles: ["/etc/hosts"],
  hostsdirs: ["/tmp/hosts"],
  dhcpConfig: "/etc/config/dhcp",
  dnsmasqConfDir: "/var/etc",
  lanInterfaces: ["br-lan"],
  table: "iptmon",
  lockfile: "/var/run/iptmon.lock",
  lockTimeoutMs: 30_000,
  nft: "nft",
  ip: "ip",
  /** Below fw4's forward chain (0) so hosts are counted before any verdict. */
  nftPriority: -1,
} as const;
