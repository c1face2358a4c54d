#!/bin/sh
# What both CGIs (/www/cgi-bin/iptmon-metrics and iptmon-hosts) do, sourced by
# them: the methods answered, the HTTP export's opt-in, iptmon's stderr to
# syslog. Each CGI then calls `serve` with its content type, its 403 text and
# the iptmon command whose output it answers with.

# OpenWrt's tools, wherever uhttpd's PATH points (an earlier entry still wins).
PATH="${PATH:+$PATH:}/usr/sbin:/usr/bin:/sbin:/bin"

# reply STATUS TYPE BODY [HEADER]: one answer. "Status:" comes first: busybox
# httpd only reads it there. HEAD gets the same status and headers, no body.
reply() {
	printf 'Status: %s\r\nContent-Type: %s\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n' "$1" "$2"
	[ -z "$4" ] || printf '%s\r\n' "$4"
	printf '\r\n'
	[ "$REQUEST_METHOD" = HEAD ] || printf '%s\n' "$3"
}

# Lines on stdin to syslog (logread -e iptmon) and to uhttpd's stderr.
log() {
	if command -v logger >/dev/null 2>&1; then
		logger -s -t iptmon -p daemon.warning
	else
		cat >&2
	fi
}

# run ARGS: `iptmon ARGS`, its stdout in $out, its exit status in $rc. Its
# stderr goes to log, never into an answer: a warning line would make the body
# something Prometheus or the page cannot read, and an error can quote the
# config (passwords, tokens).
run() {
	if err=$(mktemp 2>/dev/null); then
		out=$(iptmon "$@" 2>"$err")
		rc=$?
		[ ! -s "$err" ] || log <"$err"
		rm -f "$err"
	else
		# No temporary file (/tmp full): its stderr goes to uhttpd's as it is.
		out=$(iptmon "$@")
		rc=$?
	fi
}

# A 500 that says which step failed; why is in syslog (it may quote the config).
fail() {
	echo "${0##*/}: iptmon $1 failed (exit $rc): answered 500" | log
	reply "500 Internal Server Error" "text/plain; charset=utf-8" "iptmon: iptmon $1 failed (exit $rc); the reason is in the system log (logread -e iptmon)"
}

# Whether iptmon would surely refuse the HTTP export (`iptmon service http`
# exit 1), found without starting it: it is ~50 MB resident for each request,
# however often a client asks. Surely off: no config file (iptmon's defaults have
# no `config prometheus` section), or one that parses and whose every `config
# prometheus` section has `option enabled` set to 0, off, no, false or disabled.
# Anything else (unreadable, a value only iptmon judges, a `list enabled`, a
# statement this reader does not know) is left to iptmon. The file is split into
# words the way libuci and iptmon do it: '…' and "…" quoting, backslashes,
# `#` comments, `;` between statements.
surely_off() {
	if [ -n "${IPTMON_CONFIG+set}" ]; then
		set -- "$IPTMON_CONFIG"
	else
		set -- /etc/config/iptmon
		[ -e "$1" ] || [ -L "$1" ] || return 0
	fi
	[ -f "$1" ] && [ -r "$1" ] || return 1
	LC_ALL=C awk '
	function statement(cmd) {
		if (nw == 0) return
		cmd = word[1]
		if (cmd == "package" || cmd == "p") {
			if (nw != 2) bad = 1
		} else if (cmd == "config" || cmd == "c") {
			if (nw < 2 || nw > 3 || word[2] !~ /^[!-~]+$/ || (nw == 3 && word[3] != "" && word[3] !~ /^[A-Za-z0-9_]+$/)) bad = 1
			else if (nw == 3 && word[3] != "") {
				sec = "named " word[3]
				if ((sec in type) && type[sec] != word[2]) bad = 1
			} else sec = "anonymous " (++anon)
			type[sec] = word[2]
		} else if (cmd == "option" || cmd == "o" || cmd == "list" || cmd == "l") {
			if (sec == "" || nw != 3 || word[2] !~ /^[A-Za-z0-9_]+$/) bad = 1
			else if (type[sec] == "prometheus" && word[2] == "enabled") {
				islist[sec] = cmd ~ /^l/
				if (!islist[sec]) enabled[sec] = word[3]
			}
		} else bad = 1
		nw = 0
	}
	{ s = s $0 "\n" }
	END {
		n = length(s)
		i = 1
		while (i <= n && !bad) {
			c = substr(s, i, 1)
			if (c == "\n" || c == ";") {
				statement()
				i++
			} else if (c == " " || c == "\t" || c == "\r" || c == "\v" || c == "\f") {
				i++
			} else if (c == "#") {
				while (i <= n && substr(s, i, 1) != "\n") i++
			} else {
				w = ""
				for (;;) {
					c = substr(s, i, 1)
					if (i > n || c == "\n" || c == ";" || c == " " || c == "\t" || c == "\r" || c == "\v" || c == "\f") break
					if (c == "#") {
						while (i <= n && substr(s, i, 1) != "\n") i++
						break
					}
					if (c == "\047") {
						j = index(substr(s, i + 1), "\047")
						if (j == 0) { bad = 1; break }
						w = w substr(s, i + 1, j - 1)
						i += j + 1
					} else if (c == "\"") {
						for (i++; ; i++) {
							if (i > n) { bad = 1; break }
							c = substr(s, i, 1)
							if (c == "\"") break
							if (c == "\\" && i < n) {
								i++
								c = substr(s, i, 1)
								if (c == "\n") continue
							}
							w = w c
						}
						if (bad) break
						i++
					} else if (c == "\\") {
						if (substr(s, i + 1, 1) != "\n") w = w substr(s, i + 1, 1)
						i += 2
					} else {
						w = w c
						i++
					}
				}
				word[++nw] = w
			}
		}
		statement()
		if (bad) exit 1
		for (sec in type)
			if (type[sec] == "prometheus" && (!(sec in enabled) || islist[sec] || enabled[sec] !~ /^(0|off|no|false|disabled)$/)) exit 1
		exit 0
	}' "$1"
}

# serve TYPE OFF ARGS: the whole exchange. GET and HEAD only; 403 with OFF
# unless `iptmon service http` allows it; else `iptmon ARGS`, as TYPE.
serve() {
	case $REQUEST_METHOD in
	GET | HEAD) ;;
	*)
		reply "405 Method Not Allowed" "text/plain; charset=utf-8" "iptmon: only GET and HEAD are answered here" "Allow: GET, HEAD"
		return
		;;
	esac
	if surely_off; then
		reply "403 Forbidden" "text/plain; charset=utf-8" "$2"
		return
	fi
	# Allowed or not is iptmon's decision (`iptmon service http`: 0 yes, 1 no,
	# else it cannot read its config), the same one every caller gets.
	run service http
	case $rc in
	0) ;;
	1)
		reply "403 Forbidden" "text/plain; charset=utf-8" "$2"
		return
		;;
	*)
		fail "service http"
		return
		;;
	esac
	ctype=$1
	shift 2
	run "$@"
	if [ "$rc" -ne 0 ]; then
		fail "$*"
		return
	fi
	reply "200 OK" "$ctype" "$out"
}
