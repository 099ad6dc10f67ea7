#!/bin/bash
# The exit monitor against the real kernel: every scenario of
# tests/exit_scenarios.c (pid-ns inits and registered host processes), with a
# private tardisd; each recorded wait status must be waitpid()'s, each exit
# recorded exactly once; unregistered processes are never attributed.
set -u
. "$(dirname "$0")/../lib/lib.sh"

OUT_FILE=$TMP/scenarios.out
mkdir -p "$TMP/cores"

check "tardisd starts with a private state and pin dir" start_agent
[ -n "$AGENT_PID" ] || { summary; exit 1; }

t0=$SECONDS
"$BIN/tests/exit_scenarios" --core-dir "$TMP/cores" --timeout 15 >"$OUT_FILE" 2>"$TMP/scenarios.err"
rc=$?
echo "# exit_scenarios finished in $((SECONDS - t0)) s, rc=$rc"
sed 's/^/# /' "$TMP/scenarios.err"

# One ok/fail per RESULT line; each registered scenario also gets an
# "exactly one exit recorded line in the agent log" check.
nres=0
while read -r tag verdict rest; do
	case $tag in
	RESULT)
		nres=$((nres + 1))
		if [ "$verdict" = ok ]; then ok "$rest"; else fail "$rest"; fi
		if [[ $rest =~ \ id=([^ ]+) ]]; then
			id=${BASH_REMATCH[1]}
			n=$(log_count "exit recorded test/$id pid=" "$TMP/tardisd.log")
			check "test/$id: exactly one 'exit recorded' line in the agent log (got $n)" [ "$n" -eq 1 ]
		fi
		;;
	SKIP) echo "# skip $verdict $rest" ;;
	esac
done <"$OUT_FILE"
check "exit_scenarios printed its results ($nres) and exited 0 (rc=$rc)" [ "$rc" -eq 0 -a "$nres" -ge 20 ]

# Cross-check the kernel map through the CLI and bpftool (read-only views).
exits_json=$("$BIN/tardisctl" exits --json)
host_pid=$(awk '$1 == "UNREG" && $2 == "host" {print $3}' "$OUT_FILE")
pidns_pid=$(awk '$1 == "UNREG" && $2 == "pidns" {print $3}' "$OUT_FILE")
if [ -n "$host_pid" ] && [ -n "$pidns_pid" ]; then
	check "tardisctl exits: unregistered host pid $host_pid is not in recent_exits" \
		bash -c '! grep -q "\"pid\":$1," <<<"$2"' _ "$host_pid" "$exits_json"
	check "tardisctl exits: unregistered pid-ns init $pidns_pid is in recent_exits with status 43" \
		bash -c 'grep "\"pid\":$1," <<<"$2" | grep -q "\"exit_status\":43,"' _ "$pidns_pid" "$exits_json"
	dump=$(bpftool -j map dump pinned "$TARDIS_BPF_DIR/recent_exits" 2>&1)
	check "bpftool map dump shows pid-ns init $pidns_pid by field name" \
		bash -c 'grep -q "\"tgid\":$1," <<<"$2"' _ "$pidns_pid" "$dump"
	check "agent log: no exit recorded for unregistered pids" \
		bash -c '! grep -E "exit recorded .* pid=($1|$2) " "$3"' _ "$host_pid" "$pidns_pid" "$TMP/tardisd.log"
else
	fail "exit_scenarios printed no UNREG pids"
fi

check "agent log has no error lines" bash -c '! grep -q " error: " "$1"' _ "$TMP/tardisd.log"
"$BIN/tardisctl" counters | sed 's/^/# counters: /'
stop_agent TERM
grep 'tardisd stopped' "$TMP/tardisd.log" | sed 's/^/# /'
check "agent stopped with errors=0" grep -q 'tardisd stopped: .* errors=0$' "$TMP/tardisd.log"
summary
