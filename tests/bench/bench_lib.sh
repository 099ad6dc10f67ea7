# Helpers for tests/bench.sh: percentiles, /proc figures of a process.
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
