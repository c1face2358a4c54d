#!/bin/sh
# dnsmasq dhcp-script for iptmon: `dhcp-script.sh ACTION MAC IP [HOSTNAME]`.
#  - OpenWrt, UCI dhcp.@dnsmasq[0].dhcpscript: OpenWrt's own dhcp-script sources
#    this file (`. "$USER_DHCPSCRIPT" "$@"`; older releases execute it and source
#    it again if it fails), then raises the hotplug events. So: no exec, no exit
#    at the top level, nothing left behind; all work happens in a subshell.
#  - plain Linux: dnsmasq --dhcp-script=/usr/lib/iptmon/dhcp-script.sh --script-arp
# Always succeeds; failures go to syslog.
(
	iptmon=${IPTMON_BIN:-/usr/sbin/iptmon}
	case "$1" in
	add | old | del | arp-add | arp-del) ;;
	# init (--leasefile-ro) wants the lease database on stdout: not ours to give.
	*) exit 0 ;;
	esac
	[ -x "$iptmon" ] || exit 0
	out=$("$iptmon" "$@" 2>&1 </dev/null) ||
		logger -t iptmon "dhcp-script $* failed ($?): $out"
	exit 0
)
