# Helpers for tests/bench/*.sh: percentiles, medians, ratios, /proc figures
# of a process, times from logs and mtimes, image sizes.
# shellcheck shell=bash

# pct P FILE: nearest-rank percentile of the numbers in FILE (one a line).
pct() {
	sort -g "$2" | awk -v p="$1" '{ v[NR] = $1 }
		END { if (NR == 0) { print "nan"; exit }
		      r = int(p / 100 * NR); if (r < p / 100 * NR) r++; if (r < 1) r = 1
		      printf "%.1f\n", v[r] }'
}

# proc_figures PID: "cpu_ticks rss_kb voluntary_cs involuntary_cs"
proc_figures() {
	local stat rest
	stat=$(cat "/proc/$1/stat") || return 1
	rest=${stat##*) }
	awk -v rest="$rest" '
		/^VmRSS:/ { rss = $2 }
		/^voluntary_ctxt_switches:/ { v = $2 }
		/^nonvoluntary_ctxt_switches:/ { iv = $2 }
		END { split(rest, f, " "); print f[12] + f[13], rss, v, iv }' "/proc/$1/status"
}

# fmt_ratio A B: A/B with two decimals, "n/a" when either is missing.
fmt_ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN {
		if (a == "" || b == "" || a == "nan" || b == "nan" || b + 0 == 0) print "n/a"
		else printf "%.2f", a / b }'
}

# ---- for the tardis-runc vs runc benches (bench_shim.sh, bench_servers.sh)
median() { # median FILE: of the numbers in FILE, one a line
	sort -g "$1" | awk '{ v[NR] = $1 } END {
		if (NR == 0) { print "n/a"; exit }
		if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
ratio() { # ratio A B: A/B, two decimals
	awk -v a="$1" -v b="$2" 'BEGIN {
		if (a == "" || b == "" || a == "n/a" || b == "n/a" || b + 0 == 0) print "n/a"
		else printf "%.2f", a / b }'
}
# log_ts REGEX <LINES: epoch seconds of the first tardis log line matching REGEX.
log_ts() { date -u -d "$(grep -m1 -E "$1" | cut -d' ' -f1)" +%s.%6N 2>/dev/null; }
mtime() { stat -c %.6Y "$1" 2>/dev/null; }
ms_between() { # ms_between T1 T2 (epoch seconds): (T2 - T1) in ms, n/a if either is missing
	awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "") print "n/a"; else printf "%.1f", (b - a) * 1000 }'
}
# The elapsed seconds CRIU prints on the last line of its log: "(00.123456) ...".
criu_ms() { tail -1 "$1" 2>/dev/null | sed -n 's/^(\([0-9.]*\)).*/\1/p' |
	awk '{ printf "%.1f", $1 * 1000 }'; }
bytes_of() { # bytes_of DIR [find args]: sum of the regular files' sizes
	local d=$1
	shift
	find "$d" -type f "$@" -printf '%s\n' 2>/dev/null | awk '{ s += $1 } END { print s + 0 }'
}

# bench_line NAME VALUE UNIT [RATIO]: a bench figure as one comparable line,
# `BENCH NAME VALUE UNIT [ratio RATIO]` (n/a when it was not measured).
bench_line() {
	local v=${2:-n/a}
	if [ -n "${4:-}" ] && [ "$4" != n/a ]; then
		echo "BENCH $1 $v $3 ratio $4"
	else
		echo "BENCH $1 $v $3"
	fi
}
