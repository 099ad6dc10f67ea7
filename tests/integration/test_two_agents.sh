#!/bin/bash
# One consumer per pinned ring buffer: the agent's single-instance lock
# belongs to the BPF pin dir, not to the state dir.
#   1. A second tardisd (--daemon, and in the foreground) with another state
#      dir but the same pin dir refuses: exit status 4, a message naming the
#      running agent's pid and state dir; no second tardisd remains.  The
#      same state dir still gets 3 (already running).
#   2. 100 inits registered in the first agent's state dir exit: all 100
#      get their exit records there.
#   3. Inits registered in another state dir exit: the agent cannot
#      attribute them; it counts them (tardis_exits_unattributed_total) and
#      they stay in the kernel's recent_exits.
#   4. tardis-runc with another state dir never starts a second agent (it
#      warns); its container's exit is found in recent_exits at delete.
set -u
# shellcheck source=tests/lib/lib.sh
. "$(dirname "$0")/../lib/lib.sh"
# shellcheck source=tests/lib/bundle.sh
. "$ROOT/tests/lib/bundle.sh"

S1=$TARDIS_STATE_DIR
S2=$TMP/state2
P=$TARDIS_BPF_DIR
N=100

# The tardisd processes using pin dir P (only this test's: P is its own).
agents_of_pin() {
	local d n=0
	for d in /proc/[0-9]*; do
		[ "$(cat "$d/comm" 2>/dev/null)" = tardisd ] || continue
		tr '\0' '\n' <"$d/environ" 2>/dev/null | grep -qx "TARDIS_BPF_DIR=$P" && n=$((n + 1))
	done
	echo $n
}
# A stray second agent of this test, should one have started: ended by pid.
stop_strays() {
	local d
	for d in /proc/[0-9]*; do
		[ "${d#/proc/}" != "$AGENT_PID" ] && [ "$(cat "$d/comm" 2>/dev/null)" = tardisd ] &&
			tr '\0' '\n' <"$d/environ" 2>/dev/null | grep -qx "TARDIS_BPF_DIR=$P" &&
			kill "${d#/proc/}" 2>/dev/null
	done
	return 0
}
on_cleanup stop_strays

check "agent 1 starts (state dir S1, pin dir P)" start_agent
[ -n "$AGENT_PID" ] || { summary; exit 1; }
WANT="tardisd: another tardisd (pid $AGENT_PID, state dir $S1) already consumes the BPF pin dir $P"

# ---- 1. a second agent refuses ---------------------------------------------
TARDIS_STATE_DIR=$S2 "$BIN/tardisd" --daemon >"$TMP/second.out" 2>"$TMP/second.err"
rc=$?
sed 's/^/# second --daemon: /' "$TMP/second.err"
check "tardisd --daemon with state dir S2 refuses: exit status 4 (got $rc)" [ "$rc" -eq 4 ]
check "... and says which agent consumes P" grep -qxF "$WANT" "$TMP/second.err"
check "... no second tardisd uses P (got $(agents_of_pin))" [ "$(agents_of_pin)" -eq 1 ]
check "... S2 has no pid file naming an agent" [ ! -s "$S2/tardisd.pid" ]

TARDIS_STATE_DIR=$S2 "$BIN/tardisd" --log-file "$TMP/second.log" >/dev/null 2>"$TMP/fg.err"
rc=$?
check "tardisd in the foreground with state dir S2 refuses: exit status 4 (got $rc)" [ "$rc" -eq 4 ]
check "... says so on stderr and in its log" \
	bash -c 'grep -qxF "$1" "$2" && grep -qF "error: ${1#tardisd: }" "$3"' _ "$WANT" "$TMP/fg.err" "$TMP/second.log"

"$BIN/tardisd" --daemon >/dev/null 2>&1
rc=$?
check "tardisd --daemon with the same state dir S1: exit status 3, already running (got $rc)" [ "$rc" -eq 3 ]
check "still exactly one tardisd uses P (got $(agents_of_pin))" [ "$(agents_of_pin)" -eq 1 ]
check "agent 1 still runs" kill -0 "$AGENT_PID"

# ---- 2. every exit of S1 recorded --------------------------------------------
"$BIN/tests/exit_burst" --count $N --ns two --prefix one --timeout 60 \
	--status-file "$TMP/status1" >"$TMP/burst1.out" 2>"$TMP/burst1.err"
rc=$?
grep VERIFY "$TMP/burst1.out" | sed 's/^/# /'
head -5 "$TMP/burst1.err" | sed 's/^/# /'
check "$N inits of S1: all recorded with waitpid()'s status (rc=$rc)" \
	grep -q "^VERIFY ok=$N total=$N mismatched=0 missing=0 unknown=0 " "$TMP/burst1.out"
n=$(find "$S1/containers/two" -name exit.json 2>/dev/null | wc -l)
check "exactly $N exit records in S1 (got $n)" [ "$n" -eq $N ]
n=$(log_count "exit recorded two/one-" "$TMP/tardisd.log" "$N")
check "exactly $N 'exit recorded' lines (got $n)" [ "$n" -eq $N ]

# ---- 3. exits of another state dir: counted, left in recent_exits -------------
M=5
metric() { sed -n "s/^$1 \([0-9]*\)$/\1/p" "$S1/metrics.prom" 2>/dev/null; }
TARDIS_STATE_DIR=$S2 "$BIN/tests/exit_burst" --count $M --ns other --prefix two --no-verify \
	--status-file "$TMP/status2" >"$TMP/burst2.out" 2>"$TMP/burst2.err"
rc=$?
check "$M inits registered in S2 exited (rc=$rc)" [ "$rc" -eq 0 ]
check "the agent counts them unattributed (tardis_exits_unattributed_total >= $M)" \
	wait_for 20 bash -c '[ "$(sed -n "s/^tardis_exits_unattributed_total \([0-9]*\)$/\1/p" "$1")" -ge "$2" ]' _ "$S1/metrics.prom" $M
echo "# tardis_exits_unattributed_total $(metric tardis_exits_unattributed_total)"
check "no exit record of S2's inits in S1" [ ! -d "$S1/containers/other" ]
"$BIN/tardisctl" exits --json >"$TMP/recent.json"
held=0
while read -r _ pid start _; do
	jq -c --argjson p "$pid" --argjson s "$start" 'select(.pid == $p and .start_time == $s)' \
		"$TMP/recent.json" | grep -q . && held=$((held + 1))
done <"$TMP/status2"
check "all $M stay in the kernel's recent_exits after the agent consumed their events (got $held)" [ "$held" -eq $M ]

# ---- 4. tardis-runc of another state dir starts no agent ----------------------
shim_env twoagents
lower_layer sleep 1000
make_bundle "$TMP/c1"
TARDIS_STATE_DIR=$S2 create_start "$TMP/c1" c1
check "tardis-runc (state dir S2) created and started c1" [ "$(status_of c1)" = running ]
check "still exactly one tardisd uses P (got $(agents_of_pin))" [ "$(agents_of_pin)" -eq 1 ]
check "S2 has no running agent (pid file not locked)" flock -n "$S2/tardisd.pid" true
check "tardis-runc warned that the running agent has another state dir" \
	grep -qF "the tardisd that consumes $P (pid $AGENT_PID) has state dir $S1, not $S2" "$LOG"
check "... and registered c1 in S2" grep -q "twoagents/c1: init pid [0-9]* registered" "$LOG"
runc --root "$RROOT" kill c1 KILL
wait_for 10 bash -c '[ "$(runc --root "$1" state c1 2>/dev/null | jq -r .status)" = stopped ]' _ "$RROOT"
check "c1's exit is not recorded by the agent of S1" [ ! -e "$S1/containers/twoagents/c1/exit.json" ]
TARDIS_STATE_DIR=$S2 shim delete c1 >/dev/null 2>&1
check "delete in S2 found c1's exit in recent_exits" \
	grep -q "twoagents/c1: exit taken from the kernel's recent_exits" "$LOG"
check "... exit status 137 (SIGKILL)" grep -q "twoagents/c1 exited with 137" "$LOG"
check "still exactly one tardisd uses P (got $(agents_of_pin))" [ "$(agents_of_pin)" -eq 1 ]

stop_agent TERM
check "agent 1 stopped with errors=0" grep -q "tardisd stopped: .*errors=0$" "$TMP/tardisd.log"
check "the pin dir is free again: a new agent may start" \
	bash -c '! "$1" --unload 2>&1 | grep -q "still consumes"' _ "$BIN/tardisd"
summary
