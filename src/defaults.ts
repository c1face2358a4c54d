/** Every default in one place: OpenWrt's paths and iptmon's own settings. */
export const DEFAULTS = {
  config: "/etc/config/iptmon",
  enabled: true,
  backend: "auto",
  ipv6: true,
  leasefile: "/tmp/dhcp.leases",
  hostsfiles: ["/etc/hosts"],
  hostsdirs: ["/tmp/hosts"],
  dhcpConfig: "/etc/config/dhcp",
  dnsmasqConfDir: "/var/etc",
  lanInterfaces: ["br-lan"],
  ifstatus: "ifstatus",
  table: "iptmon",
  hook: "auto",
  lockfile: "/var/run/iptmon.lock",
  lockTimeoutMs: 30_000,
  /** No spawned tool may take longer (nft at 5,000 hosts takes well under a second). */
  runTimeoutMs: 60_000,
  /** `ip addr`/`ip neigh`: a source may not hold the lock longer than this. */
  sourceTimeoutMs: 5_000,
  /** Warnings of event runs already sent to syslog (once each until reboot). */
  syslogSeen: "/var/run/iptmon.warned",
  nft: "nft",
  ip: "ip",
  /** Below fw4's forward chain (0) so hosts are counted before any verdict. */
  nftPriority: -1,
  /** Where the package installs the binary (cron runs it by this path). */
  binary: "/usr/sbin/iptmon",
  crontab: "/etc/crontabs/root",
  pushIntervalMin: 1,
  pushTimeoutS: 5,
  influxMeasurement: "iptmon",
  /** Used when /etc/config/luci_statistics does not name collectd's socket. */
  collectdSocket: "/var/run/collectd/collectd.sock",
  /** Hosts' totals and usage, in RAM; `persist_dir` (none by default) keeps a copy on flash. */
  statefile: "/tmp/iptmon/state.json",
  /** Minutes between copies to flash (and one at every stop). */
  persistIntervalMin: 1440,
  period: "month",
  periodStart: 1,
  periodsKept: 12,
  /** The per-host split (`family`, `service`): off, see BENCHMARKS.md ("The split's cost"). */
  breakdown: [] as string[],
} as const;
