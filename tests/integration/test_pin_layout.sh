#!/bin/bash
# A pinned object outlives the program that made it.  Pins left by a build
# whose event is larger (or smaller) than this one's: tardis-runc/tardisctl
# treat them as absent, tardisd replaces them (logging each map and the
# difference), detaches the old program, and records exits with its own --
# also of an init registered while only the old pins were there.  Pins of
# this layout from before the layout was recorded are reused as they are.
set -u
. "$(dirname "$0")/../lib/lib.sh"
prog_gone() { ! bpftool prog show id "$1" >/dev/null 2>&1; }

PIN=$BIN/tests/pin_layout
SLEEPERS=()
BURST_PID=
on_cleanup 'for p in "${SLEEPERS[@]}"; do kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null; done'

prog_id() { bpftool -j prog show pinned "$TARDIS_BPF_DIR/prog" 2>/dev/null | grep -o '"id":[0-9]*' | head -1 | cut -d: -f2; }
value_size() { bpftool map show pinned "$TARDIS_BPF_DIR/$1" 2>/dev/null | grep -o 'value [0-9]*B' | grep -o '[0-9]*'; }
record_of() { cat "$TARDIS_STATE_DIR/containers/$1/exit.json" 2>/dev/null; }
log_has() { grep -qF -- "$1" "$TMP/tardisd.log"; }

# pins_of_another_build NAME OBJ SIZE: the whole scenario for one build.
pins_of_another_build() {
	local name=$1 obj=$2 size=$3 old_id out rc sleeper start
	echo "# ---- pins of a build with $size-byte events ($name)"
	: >"$TMP/tardisd.log"
	check "$name: the other build's tardisd pinned its objects" "$PIN" pin "$obj"
	old_id=$(prog_id)
	check "$name: its recent_exits holds $size-byte values" [ "$(value_size recent_exits)" = "$size" ]
	# A pid-namespace init's exit: a $size-byte record in the old ring.
	unshare --pid --fork true

	out=$("$PIN" open)
	rc=$?
	echo "# pin_layout open: $out"
	check "$name: monitor_open_pinned treats them as absent (rc=$rc)" [ "$rc" -eq 1 ]
	check "$name: ...with EPROTO, naming the layout and the event size" \
		grep -q "^absent errno=EPROTO: .*layout.* with $size-byte events" <<<"$out"
	out=$("$BIN/tardisctl" counters 2>&1)
	rc=$?
	check "$name: tardisctl counters reads no map of another layout (rc=$rc)" \
		bash -c '[ "$1" -ne 0 ] && grep -q "layout" <<<"$2" && ! grep -q captured <<<"$2"' _ "$rc" "$out"

	# An init registered now reaches the store only (no usable kernel map).
	sleep 1000 &
	sleeper=$!
	SLEEPERS+=("$sleeper")
	"$BIN/tardisctl" register "layout/$name" "$sleeper" 2>"$TMP/register.err"
	sed 's/^/# register: /' "$TMP/register.err"
	check "$name: tardisctl register warns that the monitor is absent" grep -q "layout" "$TMP/register.err"

	check "$name: tardisd starts over the old pins" start_agent
	sed 's/^/# /' "$TMP/tardisd.log" | grep "exit monitor"
	check "$name: the log names recent_exits and its value size" \
		log_has "recent_exits\` has another layout: value $size bytes, expected 72"
	check "$name: the log names the layout map and its event size" \
		log_has "records layout 1 with $size-byte events, expected layout 1 with 72-byte events"
	check "$name: the log says the objects are replaced" log_has "exit monitor: replacing the objects pinned in $TARDIS_BPF_DIR"
	check "$name: the log says the old ring's records cannot be read" log_has "old ring buffer's records follow another layout and cannot be read"
	# The kernel frees a detached link's program from a workqueue
	# (bpf_link_put defers it): gone soon after, not at once.
	check "$name: the old program ($old_id) is detached and gone" wait_for 10 prog_gone "$old_id"
	check "$name: a new program is pinned ($(prog_id))" [ -n "$(prog_id)" ]
	check "$name: recent_exits is this build's (72-byte values)" [ "$(value_size recent_exits)" = 72 ]
	check "$name: monitor_open_pinned opens the new pins" bash -c '"$1" open >/dev/null' _ "$PIN"
	check "$name: the init registered meanwhile is registered again in the kernel" \
		log_has "layout/$name: init pid $sleeper registered again"

	kill -TERM "$sleeper"
	wait "$sleeper" 2>/dev/null
	check "$name: its SIGTERM exit is recorded from the new ring (exit_status 143, source bpf)" \
		wait_for 10 bash -c 'grep -q "\"exit_status\":143,.*\"source\":\"bpf\"" "$1"' _ \
		"$TARDIS_STATE_DIR/containers/layout/$name/exit.json"
	"$BIN/tests/exit_burst" --count 50 --ns "layout-$name" --prefix b --timeout 30 \
		>"$TMP/burst.out" 2>&1
	rc=$?
	tail -1 "$TMP/burst.out" | sed 's/^/# /'
	check "$name: 50 more inits recorded with waitpid()'s statuses (rc=$rc)" [ "$rc" -eq 0 ]
	check "$name: no error lines in the agent log" bash -c '! grep -q " error: " "$1"' _ "$TMP/tardisd.log"
	stop_agent TERM
	check "$name: agent stopped with errors=0" grep -q 'tardisd stopped: .* errors=0$' "$TMP/tardisd.log"
	"$BIN/tardisd" --unload
}

pins_of_another_build larger "$BIN/tests/tardis_exit_comm24.bpf.o" 80
pins_of_another_build smaller "$BIN/tests/tardis_exit_comm8.bpf.o" 64

# ---- this layout, pinned before the layout was recorded: kept as it is.
echo "# ---- pins of this layout without a layout map"
: >"$TMP/tardisd.log"
check "same layout: pinned without a layout map" "$PIN" pin "$BIN/tardis_exit.bpf.o" --no-layout
old_id=$(prog_id)
check "same layout: monitor_open_pinned opens them" bash -c '"$1" open >/dev/null' _ "$PIN"
check "same layout: tardisd starts" start_agent
check "same layout: the pinned program is reused (program=pinned)" log_has "program=pinned"
check "same layout: nothing replaced" bash -c '! grep -q "exit monitor" "$1"' _ "$TMP/tardisd.log"
check "same layout: the same program ($old_id) still runs" [ "$(prog_id)" = "$old_id" ]
"$BIN/tests/exit_burst" --count 20 --ns layout-same --prefix s --timeout 30 >"$TMP/burst.out" 2>&1
rc=$?
check "same layout: 20 inits recorded with waitpid()'s statuses (rc=$rc)" [ "$rc" -eq 0 ]

# 20 more registered now exit while no agent runs: their records wait in
# the old ring buffer and recent_exits.
"$BIN/tests/exit_burst" --count 20 --ns layout-drain --prefix d --wait-signal --no-verify \
	--status-file "$TMP/drain.status" >"$TMP/drain.out" 2>&1 &
BURST_PID=$!
on_cleanup '[ -z "$BURST_PID" ] || { kill -KILL "$BURST_PID" 2>/dev/null; wait "$BURST_PID" 2>/dev/null; }'
check "same layout: 20 inits registered" wait_for 30 grep -q "^READY 20$" "$TMP/drain.out"
stop_agent TERM
kill -USR1 "$BURST_PID"
wait "$BURST_PID"
rc=$?
BURST_PID=
check "same layout: the 20 exited while no agent ran (rc=$rc)" [ "$rc" -eq 0 ]

echo "# ---- one map of another layout under this layout's program"
: >"$TMP/tardisd.log"
rm -f "$TARDIS_BPF_DIR/counters"
bpftool map create "$TARDIS_BPF_DIR/counters" type percpu_array key 4 value 40 entries 1 name counters
out=$("$PIN" open)
rc=$?
echo "# pin_layout open: $out"
check "one map: monitor_open_pinned treats the set as absent (rc=$rc)" [ "$rc" -eq 1 ]
check "one map: ...EPROTO, naming counters and its value size" \
	grep -q "^absent errno=EPROTO: pinned map .*/counters. has another layout: value 40 bytes, expected 32" <<<"$out"
out=$("$BIN/tardisctl" counters 2>&1)
rc=$?
check "one map: tardisctl counters does not read 40-byte per-CPU values (rc=$rc)" \
	bash -c '[ "$1" -ne 0 ] && ! grep -q captured <<<"$2"' _ "$rc" "$out"
check "one map: tardisd starts" start_agent
sed 's/^/# /' "$TMP/tardisd.log" | grep "exit monitor"
check "one map: the log names counters and its value size" \
	log_has "counters\` has another layout: value 40 bytes, expected 32"
check "one map: the log says the objects are replaced" log_has "exit monitor: replacing the objects pinned"
check "one map: the old ring and recent_exits are this layout's: drained" \
	log_has "the old ring buffer and \`recent_exits\` follow this layout"
check "one map: the old program ($old_id) is detached and gone" wait_for 10 prog_gone "$old_id"
check "one map: counters is this build's (32-byte values)" [ "$(value_size counters)" = 32 ]
"$BIN/tests/exit_burst" --verify "$TMP/drain.status" --ns layout-drain --timeout 30 >"$TMP/verify.out" 2>&1
rc=$?
tail -1 "$TMP/verify.out" | sed 's/^/# /'
check "one map: the 20 exits from the old ring recorded with waitpid()'s statuses (rc=$rc)" [ "$rc" -eq 0 ]
check "one map: no error lines in the agent log" bash -c '! grep -q " error: " "$1"' _ "$TMP/tardisd.log"
stop_agent TERM
"$BIN/tardisd" --unload

# ---- a half set (no link) of another build: replaced too.
echo "# ---- a counters map of another layout, no program"
: >"$TMP/tardisd.log"
mkdir -p "$TARDIS_BPF_DIR"
bpftool map create "$TARDIS_BPF_DIR/counters" type percpu_array key 4 value 40 entries 1 name counters
check "half set: monitor_open_pinned does not open it" bash -c '! "$1" open >/dev/null' _ "$PIN"
check "half set: tardisd starts" start_agent
check "half set: the log names counters and its value size" \
	log_has "counters\` has another layout: value 40 bytes, expected 32"
check "half set: counters is this build's (32-byte values)" [ "$(value_size counters)" = 32 ]
check "half set: tardisctl counters reads it" bash -c '"$1" counters >/dev/null' _ "$BIN/tardisctl"
stop_agent TERM
summary
