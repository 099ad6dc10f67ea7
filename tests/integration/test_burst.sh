#!/bin/bash
# 10,000 registered container inits released at once: every exit recorded
# with waitpid()'s status, none lost (kernel drops 0, or recovered from
# recent_exits and accounted for in the agent's log).
# Phase 2 forces the other case: with the agent stopped (SIGSTOP), the ring
# buffer is flooded full, then 200 registered inits exit; their events are
# dropped from the ring and the agent must recover every one of them from
# the recent-exits map.
set -u
. "$(dirname "$0")/../lib/lib.sh"

N=${BURST_COUNT:-10000}
NSP=burst

# 10,000 live processes at once.
room_for_processes "$N"
echo "# RLIMIT_NPROC $(ulimit -u), threads-max $(cat /proc/sys/kernel/threads-max)"

check "tardisd starts" start_agent
[ -n "$AGENT_PID" ] || { summary; exit 1; }

counters() { "$BIN/tardisctl" counters; }
field() { sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p"; }
before=$(counters)
echo "# counters before: $before"

t0=$SECONDS
"$BIN/tests/exit_burst" --count "$N" --ns $NSP --prefix b --timeout 150 \
	--status-file "$TMP/status" >"$TMP/burst.out" 2>"$TMP/burst.err"
rc=$?
sed 's/^/# /' "$TMP/burst.out"
head -20 "$TMP/burst.err" | sed 's/^/# /'
echo "# exit_burst took $((SECONDS - t0)) s"
check "all $N recorded with waitpid()'s status (exit_burst rc=$rc)" [ "$rc" -eq 0 ]
grep -q "^VERIFY ok=$N total=$N mismatched=0 missing=0 " "$TMP/burst.out"
check "VERIFY line: ok=$N mismatched=0 missing=0" [ $? -eq 0 ]
if [[ $(grep '^released' "$TMP/burst.out") =~ within\ ([0-9]+)\ ms ]]; then
	# How long the release took is a figure, not a check (no timing
	# thresholds in tests: a loaded machine spreads any burst out).
	ok "all $N inits were released at once by one signal (their exits took ${BASH_REMATCH[1]} ms)"
else
	fail "exit_burst did not report the release"
fi

after=$(counters)
echo "# counters after: $after"
captured=$(($(field captured <<<"$after") - $(field captured <<<"$before")))
drops=$(($(field drops <<<"$after") - $(field drops <<<"$before")))
dups=$(field duplicates <<<"$after")
check "kernel captured all $N exits (captured +$captured)" [ "$captured" -ge "$N" ]

n=$(find "$TARDIS_STATE_DIR/containers/$NSP" -name exit.json | wc -l)
check "exactly $N exit.json files (got $n)" [ "$n" -eq "$N" ]
check "the exit journal holds them (made durable there)" test -s "$TARDIS_STATE_DIR/exits.journal"
lines=$(log_count "exit recorded $NSP/" "$TMP/tardisd.log" "$N")
uniq_ids=$(grep -o "exit recorded $NSP/[^ ]*" "$TMP/tardisd.log" | sort -u | wc -l)
check "exactly $N 'exit recorded' lines, $N distinct ids (got $lines, $uniq_ids)" \
	[ "$lines" -eq "$N" -a "$uniq_ids" -eq "$N" ]
nerr=$(grep -c " error: " "$TMP/tardisd.log")
check "zero error lines in the agent log (got $nerr)" [ "$nerr" -eq 0 ]
# Each record was written into the spare its registration made (none is
# left), and every registration dropped: moved aside, then removed.
n=$(find "$TARDIS_STATE_DIR/containers/$NSP" -name .exit.json.spare | wc -l)
check "every record written through its spare file (spares left: $n)" [ "$n" -eq 0 ]
empty() { [ "$(find "$TARDIS_STATE_DIR/$1" -type f 2>/dev/null | wc -l)" -eq 0 ]; }
check "every registration dropped (pids/ empty)" wait_for 60 empty pids
check "the agent removed the dropped registrations once idle (forgotten/ empty)" \
	wait_for 120 empty forgotten
# The exit journal made them durable; once their files are on disk (a
# syncfs 30 s after its oldest line, the agent idle) it is emptied.
journal_empty() { [ ! -s "$TARDIS_STATE_DIR/exits.journal" ]; }
check "the exit journal emptied once the agent was idle" wait_for 120 journal_empty

stop_agent TERM
stats=$(grep 'tardisd stopped' "$TMP/tardisd.log" | tail -1)
echo "# $stats"
recovered=$(sed -n 's/.* recovered=\([0-9]*\).*/\1/p' <<<"$stats")
from_recent=$(grep -c "exit recorded $NSP/.* source=bpf-recent" "$TMP/tardisd.log")
if [ "$drops" -eq 0 ]; then
	echo "# ring buffer drops: 0 (every exit came through the ring buffer; kernel duplicates suppressed: $dups)"
	check "kernel drops 0, and nothing needed recovering (recovered=$recovered)" \
		[ "$recovered" -eq 0 -a "$from_recent" -eq 0 ]
else
	echo "# ring buffer drops: $drops; agent recovered $recovered from recent_exits ($from_recent log lines)"
	check "drops ($drops) covered by the agent's recovered count ($recovered)" \
		[ "$recovered" -ge "$drops" -a "$from_recent" -ge "$drops" ]
fi
check "agent stopped with recorded=$N errors=0" grep -q "tardisd stopped: recorded=$N .* errors=0$" "$TMP/tardisd.log"
# Registry lookups from memory: the agent saw the registrations made (it
# watches the pid index) and looked most exits up without reading a file.
mem=$(sed -n 's/.*tardisd stopped: recorded=.* lookups_memory=\([0-9]*\) .*/\1/p' "$TMP/tardisd.log" | head -1)
check "most exits looked up in memory, not the pid index (lookups_memory=${mem:-none} of $N)" \
	[ "${mem:-0}" -ge $((N / 2)) ]
echo "# phase 1 took $((SECONDS - t0)) s"

# ---- phase 2: a full ring buffer ---------------------------------------
M=200
NSP2=overflow
t1=$SECONDS
# Fresh kernel objects, so the recent-exits map (65536) has room for the flood.
"$BIN/tardisd" --unload
check "phase 2: tardisd starts on fresh kernel objects" start_agent
[ -n "$AGENT_PID" ] || { summary; exit 1; }
BURST_PID=
on_cleanup '[ -z "$BURST_PID" ] || { kill -KILL "$BURST_PID" 2>/dev/null; wait "$BURST_PID" 2>/dev/null; }'
on_cleanup '[ -z "$AGENT_PID" ] || kill -CONT "$AGENT_PID" 2>/dev/null'
"$BIN/tests/exit_burst" --count $M --ns $NSP2 --prefix o --wait-signal --no-verify \
	--status-file "$TMP/status2" >"$TMP/burst2.out" 2>"$TMP/burst2.err" &
BURST_PID=$!
check "phase 2: $M inits registered" wait_for 300 grep -q "^READY $M$" "$TMP/burst2.out"
kill -STOP "$AGENT_PID"
"$BIN/tests/exit_burst" --flood-ring >"$TMP/flood.out" 2>&1
sed 's/^/# /' "$TMP/flood.out"
mid=$(counters)
echo "# counters after the flood: $mid"
check "phase 2: the ring buffer is full (kernel drops $(field drops <<<"$mid") > 0)" \
	[ "$(field drops <<<"$mid")" -gt 0 ]
kill -USR1 "$BURST_PID"
wait "$BURST_PID"
rc=$?
BURST_PID=
check "phase 2: $M inits exited as intended (rc=$rc)" [ "$rc" -eq 0 ]
after2=$(counters)
echo "# counters after the $M exits: $after2"
d2=$(($(field drops <<<"$after2") - $(field drops <<<"$mid")))
check "phase 2: all $M exits were dropped from the full ring (drops +$d2)" [ "$d2" -ge $M ]
kill -CONT "$AGENT_PID"
"$BIN/tests/exit_burst" --verify "$TMP/status2" --ns $NSP2 --timeout 60 >"$TMP/verify2.out" 2>"$TMP/verify2.err"
rc=$?
sed 's/^/# /' "$TMP/verify2.out"
head -10 "$TMP/verify2.err" | sed 's/^/# /'
check "phase 2: all $M recorded with waitpid()'s status, from recent_exits (rc=$rc)" \
	grep -q "^VERIFY ok=$M total=$M mismatched=0 missing=0 unknown=0 source_bpf=0 source_bpf_recent=$M " "$TMP/verify2.out"
lines=$(log_count "exit recorded $NSP2/.* source=bpf-recent" "$TMP/tardisd.log" "$M")
check "phase 2: exactly $M 'exit recorded ... source=bpf-recent' lines (got $lines)" [ "$lines" -eq $M ]
check "phase 2: agent logged the drops" grep -q "ring buffer dropped [0-9]* events; recovering" "$TMP/tardisd.log"
stop_agent TERM
stats=$(grep 'tardisd stopped' "$TMP/tardisd.log" | tail -1)
echo "# $stats"
recovered=$(sed -n 's/.* recovered=\([0-9]*\).*/\1/p' <<<"$stats")
echo "# ring buffer drops: $(field drops <<<"$after2") (the flood's unregistered exits and the $M inits); agent recovered $recovered"
check "phase 2: recovered count ($recovered) covers the $M dropped registered exits, errors=0" \
	bash -c '[ "$1" -eq "$2" ] && grep -q "errors=0$" <<<"$3"' _ "$recovered" "$M" "$stats"
nerr=$(grep -c " error: " "$TMP/tardisd.log")
check "zero error lines in the agent log (got $nerr)" [ "$nerr" -eq 0 ]
echo "# phase 2 took $((SECONDS - t1)) s; total $((SECONDS - t0)) s"
summary
