#!/bin/bash
# tardisd SIGKILLed again and again (every 30-150 ms, restarted at once)
# while 10,000 registered container inits exit at once: every exit is still
# recorded exactly once, with waitpid()'s status.  Kills land anywhere:
# in the middle of the startup reconcile (ring backlog, recent_exits, the
# pid index), between the record and the pid index cleanup, mid-write.
set -u
. "$(dirname "$0")/../lib/lib.sh"

N=${KILL_BURST_COUNT:-10000}
NSP=killburst
# An agent records the 10,000 in seconds now (group commit): at least 5
# kills, one of them of a running agent.
MIN_KILLS=${KILL_BURST_MIN_KILLS:-5}

# 10,000 live processes at once.
room_for_processes "$N"

BURST_PID=
on_cleanup '[ -z "$BURST_PID" ] || { kill -KILL "$BURST_PID" 2>/dev/null; wait "$BURST_PID" 2>/dev/null; }'
records() { find "$TARDIS_STATE_DIR/containers/$NSP" -name exit.json 2>/dev/null | wc -l; }
LOG=$TMP/tardisd.log

check "tardisd starts" start_agent
[ -n "$AGENT_PID" ] || { summary; exit 1; }

t0=$SECONDS
"$BIN/tests/exit_burst" --count "$N" --ns $NSP --prefix k --wait-signal --no-verify \
	--status-file "$TMP/status" >"$TMP/burst.out" 2>"$TMP/burst.err" &
BURST_PID=$!
check "$N inits forked and registered" wait_for 300 grep -q "^READY $N$" "$TMP/burst.out"
sed 's/^/# /' "$TMP/burst.out"
echo "# registered in $((SECONDS - t0)) s"

# SIGKILL, restart, repeat; the agent never gets more than 150 ms (it
# records the 10,000 in about 1.5 s, its batches group-committed).  A
# restarted agent is not waited for: the next kill may land in its startup
# reconcile, which is the point.  Stops once there were MIN_KILLS kills, one
# of a running agent, and every exit is recorded (or after
# KILL_BURST_SECONDS); the records are counted only then (a find over
# 10,000 dirs: seconds on a loaded machine, which left room for 4 kills).
kills=0
mid_startup=0
kill_more() {
	[ $kills -lt "$MIN_KILLS" ] || [ $((kills - mid_startup)) -lt 1 ] || [ "$(records)" -lt "$N" ]
}
kill_loop() {
	local deadline=$((SECONDS + ${KILL_BURST_SECONDS:-120})) ms
	while kill_more && [ $SECONDS -lt $deadline ]; do
		ms=$((30 + RANDOM % 121))
		sleep "0.$(printf %03d $ms)"
		grep -q "tardisd $AGENT_PID running" "$LOG" || mid_startup=$((mid_startup + 1))
		kill -KILL "$AGENT_PID" 2>/dev/null
		wait "$AGENT_PID" 2>/dev/null
		kills=$((kills + 1))
		"$BIN/tardisd" --log-file "$LOG" --log-level info &
		AGENT_PID=$!
	done
}

t1=$SECONDS
kill -USR1 "$BURST_PID"
kill_loop
wait "$BURST_PID"
rc=$?
BURST_PID=
sed 's/^/# /' "$TMP/burst.out" | grep -v READY | tail -n +3
head -20 "$TMP/burst.err" | sed 's/^/# /'
echo "# $kills SIGKILLs in $((SECONDS - t1)) s ($mid_startup of them before the agent reported running)"
check "all $N inits exited with their intended statuses (rc=$rc)" [ "$rc" -eq 0 ]
check "the agent was SIGKILLed at least $MIN_KILLS times during the burst ($kills)" \
	[ "$kills" -ge "$MIN_KILLS" ]
check "at least one kill hit a running agent, not its startup ($((kills - mid_startup)))" \
	[ "$((kills - mid_startup))" -ge 1 ]

# The last agent (restarted after the last kill) finishes in peace.
check "the last agent runs" wait_for 60 grep -q "tardisd $AGENT_PID running" "$LOG"
"$BIN/tests/exit_burst" --verify "$TMP/status" --ns $NSP --timeout 60 >"$TMP/verify.out" 2>"$TMP/verify.err"
rc=$?
sed 's/^/# /' "$TMP/verify.out"
head -10 "$TMP/verify.err" | sed 's/^/# /'
check "every exit recorded with waitpid()'s status (rc=$rc)" \
	grep -q "^VERIFY ok=$N total=$N mismatched=0 missing=0 unknown=0 " "$TMP/verify.out"
n=$(records)
check "exactly $N exit.json files (got $n)" [ "$n" -eq "$N" ]
# A record's line comes with its durable commit, which drops its pid index
# entry last: once the index is empty every line is written (a loaded
# disk can take tens of seconds for 10,000 fdatasyncs).
pids_left() { find "$TARDIS_STATE_DIR/pids" -type f 2>/dev/null | wc -l; }
pids_empty() { [ "$(pids_left)" -eq 0 ]; }
wait_for 120 pids_empty
check "the pid index is empty once all are recorded (got $(pids_left))" pids_empty
lines=$(grep -c "exit recorded $NSP/" "$LOG")
uniq_ids=$(grep -o "exit recorded $NSP/[^ ]*" "$LOG" | sort -u | wc -l)
check "exactly $N 'exit recorded' lines, $N distinct ids (got $lines, $uniq_ids)" \
	[ "$lines" -eq "$N" -a "$uniq_ids" -eq "$N" ]
nerr=$(grep -c " error: " "$LOG")
check "zero error lines in the agents' log (got $nerr)" [ "$nerr" -eq 0 ]
grep " error: " "$LOG" | head -5 | sed 's/^/# /'
starts=$(grep -c "tardisd [0-9]* running" "$LOG")
replayed=$(grep -c "exit recorded $NSP/.* replayed=" "$LOG")
echo "# $starts agents reported running; $replayed lines written by a replay (the killed agent had recorded the exit but not logged it)"
stop_agent TERM
check "the last agent stopped cleanly with errors=0" \
	bash -c 'grep "tardisd stopped" "$1" | tail -1 | grep -q "errors=0$"' _ "$LOG"
echo "# total $((SECONDS - t0)) s"
summary
