#!/bin/bash
# Exits that happen while no agent runs are recorded by the next one, each
# exactly once: register 200 container inits (blocked), SIGKILL tardisd,
# let them all exit, start tardisd again.
set -u
. "$(dirname "$0")/../lib/lib.sh"

N=200
NSP=restart
BURST_PID=
on_cleanup '[ -z "$BURST_PID" ] || { kill -KILL "$BURST_PID" 2>/dev/null; wait "$BURST_PID" 2>/dev/null; }'

count_records() { find "$TARDIS_STATE_DIR/containers/$NSP" -name exit.json 2>/dev/null | wc -l; }

check "first tardisd starts" start_agent
[ -n "$AGENT_PID" ] || { summary; exit 1; }
first_agent=$AGENT_PID
# Its threads' policy and priority (/proc/PID/task/TID/stat fields 41, 40;
# SCHED_FIFO is 1, SCHED_RESET_ON_FORK is not shown there).
fifo_threads() { # fifo_threads PID PRIO: how many of PID's threads run SCHED_FIFO at PRIO
	cat /proc/"$1"/task/*/stat 2>/dev/null | awk -v p="$2" '{ sub(/.*\) /, ""); if ($39 == 1 && $38 == p) n++ } END { print n + 0 }'
}
main_policy() { awk '{ sub(/.*\) /, ""); print $39, $38 }' /proc/"$1"/stat; }
check "the agent's event loop runs SCHED_FIFO 1 (agent_rt_priority's default)" [ "$(main_policy "$AGENT_PID")" = "1 1" ]
check "  ...and its commit thread too" [ "$(fifo_threads "$AGENT_PID" 1)" -ge 2 ]

t0=$SECONDS
"$BIN/tests/exit_burst" --count $N --ns $NSP --prefix init --wait-signal --no-verify \
	--status-file "$TMP/status" >"$TMP/burst.out" 2>"$TMP/burst.err" &
BURST_PID=$!
check "$N inits forked and registered while the agent runs" \
	wait_for 60 grep -q "^READY $N$" "$TMP/burst.out"
sed 's/^/# /' "$TMP/burst.out"

stop_agent KILL
check "tardisd ($first_agent) is gone after SIGKILL" bash -c '! kill -0 "$1" 2>/dev/null' _ "$first_agent"
# Its holder file (who consumes this pin dir) stays: it could not remove it.
holder_file() { grep -lx "bpf_dir $TARDIS_BPF_DIR" "${TARDIS_RUN_DIR:-/run/tardis}"/agent-*.holder 2>/dev/null; }
KILLED_HOLDER=$(holder_file)
check "the killed agent's holder file is left ($KILLED_HOLDER)" [ -n "$KILLED_HOLDER" ]
# Its pid file names a dead pid now (the lock died with it); drop it so no
# cleanup ever signals whatever process reuses that pid.
rm -f "$TARDIS_STATE_DIR/tardisd.pid"

kill -USR1 "$BURST_PID"
wait "$BURST_PID"
rc=$?
BURST_PID=
sed 's/^/# /' "$TMP/burst.out" | grep -v READY | tail -n +3
sed 's/^/# /' "$TMP/burst.err"
check "all $N inits exited with their intended statuses (exit_burst rc=$rc)" [ "$rc" -eq 0 ]
check "status file lists $N processes" [ "$(wc -l <"$TMP/status")" -eq $N ]
n=$(count_records)
check "no exit record while no agent runs (got $n)" [ "$n" -eq 0 ]
"$BIN/tardisctl" counters | sed 's/^/# counters while down: /'
held=$("$BIN/tardisctl" exits --json | grep -c '"reason":2}\|"reason":2,' || true)
check "the kernel kept all $N exits in recent_exits while no agent ran (got $held)" [ "$held" -ge $N ]

t1=$SECONDS
check "second tardisd starts" start_agent
"$BIN/tests/exit_burst" --verify "$TMP/status" --ns $NSP --timeout 60 >"$TMP/verify.out" 2>"$TMP/verify.err"
rc=$?
sed 's/^/# /' "$TMP/verify.out" "$TMP/verify.err"
check "every exit recorded with waitpid()'s status after the restart (rc=$rc)" [ "$rc" -eq 0 ]
echo "# second agent caught up in $((SECONDS - t1)) s"

n=$(count_records)
check "exactly $N exit.json files (got $n)" [ "$n" -eq $N ]
lines=$(log_count "exit recorded $NSP/" "$TMP/tardisd.log" "$N")
check "exactly $N 'exit recorded' lines across both agents (got $lines)" [ "$lines" -eq $N ]
uniq_ids=$(grep -o "exit recorded $NSP/[^ ]*" "$TMP/tardisd.log" | sort -u | wc -l)
check "each of the $N inits recorded once (distinct ids: $uniq_ids)" [ "$uniq_ids" -eq $N ]
nerr=$(grep -c " error: " "$TMP/tardisd.log")
check "zero error lines in the agent logs (got $nerr)" [ "$nerr" -eq 0 ]
# Registrations are dropped once no exit came for a moment (agent_commit.c).
pids_left() { find "$TARDIS_STATE_DIR/pids" -type f 2>/dev/null | wc -l; }
pids_empty() { [ "$(pids_left)" -eq 0 ]; }
wait_for 60 pids_empty
check "the pid index is empty once all are recorded (got $(pids_left))" pids_empty

stop_agent TERM
grep 'tardisd stopped' "$TMP/tardisd.log" | sed 's/^/# /'
check "second agent stopped with recorded=$N errors=0" \
	grep -q "tardisd stopped: recorded=$N .* errors=0$" "$TMP/tardisd.log"
# The exit journal: what made the records durable, replayed by the next
# agent.  A power loss that took records from their files (two gone, one
# left empty) is played by hand; the next agent writes them again.
J=$TARDIS_STATE_DIR/exits.journal
jl=$(wc -l <"$J" 2>/dev/null || echo 0)
check "the exit journal holds the $N records made durable (got $jl lines)" [ "$jl" -eq $N ]
mapfile -t lost < <(find "$TARDIS_STATE_DIR/containers/$NSP" -name exit.json | sort | head -3)
for f in "${lost[@]}"; do cp "$f" "$f.before"; done
rm -f "${lost[0]}" "${lost[1]}"
: >"${lost[2]}"
# A container whose init changed since: its old record is not brought back.
moved=$(find "$TARDIS_STATE_DIR/containers/$NSP" -name exit.json | sort | sed -n 4p)
rm -f "$moved"
sed -i 's/"init_pid":[0-9]*/"init_pid":4194000/' "$(dirname "$moved")/state.json"

# A SIGKILLed agent, then --unload (as a node's cleanup would): no holder
# file of this pin dir is left behind.
printf 'agent_rt_priority = 0\n' >"$TMP/rt0.conf"
TARDIS_CONFIG="$TMP/rt0.conf" start_agent
check "third tardisd starts (agent_rt_priority = 0)" [ $? = 0 ]
check "  ...it replayed the journal: $N records, 3 written again" \
	grep -q "exit journal: $N record(s) replayed, 3 written again" "$TMP/tardisd.log"
same=0
for f in "${lost[@]}"; do cmp -s "$f" "$f.before" && same=$((same + 1)); done
check "  ...the 3 lost records are back, byte for byte (got $same)" [ "$same" -eq 3 ]
check "  ...not the record of a container whose init changed" [ ! -e "$moved" ]
check "  ...and emptied the journal" [ ! -s "$J" ]
check "  ...none of its threads is real-time" [ "$(cat /proc/"$AGENT_PID"/task/*/stat | awk '{ sub(/.*\) /, ""); if ($39 != 0) n++ } END { print n + 0 }')" = 0 ]
stop_agent KILL
check "  ...SIGKILLed: its holder file is there" [ -n "$(holder_file)" ]
check "tardisd --unload" "$BIN/tardisd" --unload
check "  ...removed the dead agent's holder file" [ -z "$(holder_file)" ]

# Killed while its registrations wait to be dropped (they are, once no exit
# came for a moment): M registered inits exit, and the agent is SIGKILLed
# at its 20th drop (a test crash point) -- after the burst on a fast
# machine, amid it on a slow one.  The next one finds the M-19
# registrations left: each exit recorded exactly once, one line each (a
# line in the log already is not written again: the log's tail is read
# once at the start, not once per registration).
M=500
NSF=${NSP}f
TARDIS_TEST_CRASH_AT=agent-forget:20 start_agent
check "an agent that dies at its 20th registration drop starts" [ $? = 0 ]
killed=$AGENT_PID
"$BIN/tests/exit_burst" --count $M --ns $NSF --prefix f --no-verify \
	--status-file "$TMP/status-f" >"$TMP/burst-f.out" 2>"$TMP/burst-f.err"
rc=$?
check "  ...$M inits registered and exited (rc=$rc)" [ "$rc" -eq 0 ]
check "  ...it died at the crash point" wait_for 120 bash -c '! kill -0 "$1" 2>/dev/null' _ "$killed"
wait "$killed" 2>/dev/null
AGENT_PID=
rm -f "$TARDIS_STATE_DIR/tardisd.pid"
flines() { grep -c "exit recorded $NSF/" "$TMP/tardisd.log"; }
before=$(flines)
left=$(pids_left)
check "  ...leaving $((M - 19)) registrations (got $left; $before lines logged)" [ "$left" -eq $((M - 19)) ]
t1=$EPOCHREALTIME
check "the next tardisd starts" start_agent
"$BIN/tests/exit_burst" --verify "$TMP/status-f" --ns $NSF --timeout 60 >"$TMP/verify-f.out" 2>"$TMP/verify-f.err"
rc=$?
sed 's/^/# /' "$TMP/verify-f.out"
check "  ...every exit recorded with waitpid()'s status (rc=$rc)" [ "$rc" -eq 0 ]
wait_for 60 pids_empty
check "  ...dropped the registrations left (left: $(pids_left))" pids_empty
echo "# the next agent started, recorded what was missing and dropped $left registrations in $(awk -v a="$t1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", (b - a) * 1000 }') ms"
uniq_f=$(grep -o "exit recorded $NSF/[^ ]*" "$TMP/tardisd.log" | sort -u | wc -l)
check "  ...one line per exit across both agents: $M lines, $M distinct (got $(flines), $uniq_f)" \
	[ "$(flines)" -eq $M ] && [ "$uniq_f" -eq $M ]
echo "# $before lines by the killed agent, $(grep -c "exit recorded $NSF/.* replayed=" "$TMP/tardisd.log") written by a replay (recorded, not yet logged when it died)"
stop_agent TERM
check "  ...and stopped with errors=0" \
	bash -c 'grep "tardisd stopped" "$1" | tail -1 | grep -q "errors=0$"' _ "$TMP/tardisd.log"
echo "# total $((SECONDS - t0)) s"
summary
