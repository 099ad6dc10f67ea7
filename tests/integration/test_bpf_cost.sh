#!/bin/bash
# The BPF filter's cost per unrelated exit on the running kernel, measured
# as `make bench` does (bench_bpf cost: a copy of the agent's program, on
# its pinned maps, against an empty program, both after the agent's on the
# trampoline, in turn first), with nothing registered and with a host pid
# registered.  The figures are printed ("# BPF cost ..."), never compared
# with a threshold: the checks are that both programs ran and gave
# numbers.  `make vmtest-bpfcost` runs it on every kernel of vmtest.
# BPF_COST_EXITS (2000) unrelated exits a round, BPF_COST_ROUNDS (3),
# BPF_COST_LOADS (1: the pair loaded once; `make bench` loads it 3 times).
set -u
. "$(dirname "$0")/../lib/lib.sh"

N=${BPF_COST_EXITS:-2000}
R=${BPF_COST_ROUNDS:-3}
L=${BPF_COST_LOADS:-1}
check "tardisd starts" start_agent || { summary; exit 1; }
variant=$(grep -o 'program=[a-z_]*' "$TMP/tardisd.log" | head -1)
old=$(sysctl -n kernel.bpf_stats_enabled)
on_cleanup "sysctl -qw kernel.bpf_stats_enabled=$old"
sysctl -qw kernel.bpf_stats_enabled=1

cost() { "$BIN/tests/bench_bpf" cost "$N" "$R" "$L" >"$TMP/$1.txt" 2>&1; }
check "nothing registered: measured" cost none
sleep 600 &
HOLDER=$!
on_cleanup 'kill "$HOLDER" 2>/dev/null; wait "$HOLDER" 2>/dev/null'
check "a host pid registered" "$BIN/tardisctl" register default/holder "$HOLDER"
check "a host pid registered: measured" cost registered
for s in none registered; do
	check "$s: both programs ran and gave numbers" \
		grep -Eq '^cost_median tardis_ns_per_call=[0-9.]+ empty_ns_per_call=[0-9.]+ ratio=[0-9.]+ ' "$TMP/$s.txt"
	echo "# BPF cost, $s, kernel $(uname -r), $variant: $(grep '^cost_median' "$TMP/$s.txt")"
	grep -q '^cost_median' "$TMP/$s.txt" || sed 's/^/#   /' "$TMP/$s.txt" | tail -5
done
summary
