#!/bin/sh
# dnsmasq dhcp-script for iptmon: `dhcp-script.sh ACTION MAC IP [HOSTNAME]`.
#  - OpenWrt, UCI dhcp.@dnsmasq[0].dhcpscript: OpenWrt's own dhcp-script sources
#    this file (`. "$USER_DHCPSCRIPT" "$@"`; older releases execute it and source
#    it again if it fails), then raises the hotplug events. So: no exec, no exit
#    at the top level, nothing left behind; all work happens in a subshell.
#    Current OpenWrt runs dnsmasq in a jail that shows it only its own scripts and
#    this file, not /usr/sbin/iptmon: there, use the hotplug wrappers (installed
#    by the package, the default) and leave dhcpscript unset. When iptmon cannot
#    be seen, this says so in syslog once per boot (a marker in dnsmasq's writable
#    run directory, else /tmp, remembers it), not at every event.
#  - plain Linux: dnsmasq --dhcp-script=/usr/lib/iptmon/dhcp-script.sh --script-arp
# Always succeeds; failures go to syslog. IPTMON_BIN and IPTMON_RUNDIRS are for tests.
(
	iptmon=${IPTMON_BIN:-/usr/sbin/iptmon}
	case "$1" in
	add | old | del | arp-add | arp-del) ;;
	# init (--leasefile-ro) wants the lease database on stdout: not ours to give.
	*) exit 0 ;;
	esac
	if [ ! -x "$iptmon" ]; then
		for d in ${IPTMON_RUNDIRS:-/var/run/dnsmasq /tmp}; do
			if [ -d "$d" ] && [ -w "$d" ]; then
				[ ! -e "$d/iptmon.dhcp-script.unseen" ] || exit 0
				: 2>/dev/null >"$d/iptmon.dhcp-script.unseen"
				break
			fi
		done
		logger -t iptmon "dhcp-script: $iptmon is not visible here (dnsmasq's jail?): DHCP events are not counted this way; use the hotplug wrappers and unset dhcp.@dnsmasq[0].dhcpscript"
		exit 0
	fi
	out=$("$iptmon" "$@" 2>&1 </dev/null) ||
		logger -t iptmon "dhcp-script $* failed ($?): $out"
	exit 0
)
