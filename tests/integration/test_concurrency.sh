#!/bin/bash
# Many tardis-runc processes (and the agent) at once on the state store:
#   1. the library: concurrent cstate_update read-modify-writes lose
#      nothing; skip_start set/take cycles are each taken exactly once;
#      removals under the lock never race an update; bad ids refused.
#   2. ONE enabled container (restored, so `start` is tardis's to answer):
#      50 concurrent state/kill/start/delete/create calls.  Exactly one
#      start is answered by tardis, every other call gets runc's own answer
#      (compared with the same storm on plain runc), the container runs on.
#   3. MANY enabled containers: 50 at once through create, start, state,
#      kill, delete (half exit 0 and are cleaned up, half are killed).
# Throughout, a reader parses every state.json / exit.json / pid index
# entry in a loop: none may ever be torn.  Every call runs under a timeout:
# a deadlock is a failure, not a hang.
# shellcheck source=tests/lib/lib.sh
. "$(dirname "$0")/../lib/lib.sh"
# shellcheck source=tests/lib/bundle.sh
. "$ROOT/tests/lib/bundle.sh"

CONC=$BIN/tests/concurrency
if [ ! -x "$CONC" ] || [ "$CONC" -ot "$ROOT/tests/integration/concurrency.c" ]; then
	make -C "$ROOT" -s OUT="$OUT" "$OUT/tests/concurrency" >/dev/null || {
		fail "build tests/concurrency"
		summary
		exit 1
	}
fi
shim_env conc
BROOT=$TMP/runc-base/$NS
T=${CONCURRENCY_TIMEOUT:-120}

on_cleanup 'delete_all_in "$BROOT"'
on_cleanup '[ -z "${WATCH_PID:-}" ] || { touch "$TMP/watch.stop"; wait "$WATCH_PID"; }'

# ---- the reader: every state file always parses -------------------------
mkdir -p "$TARDIS_STATE_DIR"
"$CONC" --watch --stop "$TMP/watch.stop" --timeout 600 >"$TMP/watch.out" 2>"$TMP/watch.err" &
WATCH_PID=$!

# ---- 1. the library --------------------------------------------------------
check "counter: 8 processes x 40 updates, none lost" \
	timeout $T "$CONC" --counter lib counter --procs 8 --iters 40
check "skip_start: 150 set/take cycles against 8 takers, each taken exactly once" \
	timeout $T "$CONC" --flag lib flag --cycles 150 --takers 8
check "removal under the lock against 8 updating processes: no error, no deadlock" \
	timeout $T "$CONC" --remove lib removed --procs 8 --iters 40
before=$(find "$TARDIS_STATE_DIR" | sort)
check "bad ids refused by every store entry point (EINVAL)" timeout $T "$CONC" --bad-ids
check "bad ids: nothing created in the state dir" [ "$before" = "$(find "$TARDIS_STATE_DIR" | sort)" ]

# ---- bundles: one busybox rootfs shared read-only --------------------------
lower_layer sleep 1000
bundle() { # bundle DIR ENABLED ARGS-JSON [overlay]: overlay, else LOWER's rootfs read-only
	local b=$1 f=".process.args = $3"
	[ "$2" = 1 ] && f="$ENABLE | $f"
	if [ "${4:-}" = overlay ]; then
		plain_bundle "$b" "$f"
	else
		mkdir -p "$b"
		bundle_config "$b" ".root.path = \$lower | .root.readonly = true | $OWN_CGROUP | $f"
	fi
}
status_in() { runc --root "$1" state "$2" 2>/dev/null | jq -r .status; }
# runs "$@" under the timeout; stdout+stderr to $OUTDIR/<tag>.out, rc to .rc
OUTDIR=$TMP/calls
mkdir -p "$OUTDIR"
call() { # call TAG command...
	local tag=$1
	shift
	timeout $T "$@" </dev/null >"$OUTDIR/$tag.out" 2>"$OUTDIR/$tag.err"
	echo $? >"$OUTDIR/$tag.rc"
}

# ---- 2. ONE enabled container, restored ----------------------------------
B=$TMP/one
bundle "$B" 1 '["sh","-c","i=0; while :; do i=$((i+1)); echo $i >/data/count; sleep 0.1; done"]' overlay
mkdir -p "$B/rootfs/data"
shim create --bundle "$B" --pid-file "$B/init.pid" one </dev/null >/dev/null 2>&1 && shim start one
check "one: created and started" [ "$(status_in "$RROOT" one)" = running ]
sleep 0.5
# (runc's stderr: cgroup v1 removal retries after CRIU killed the task)
check "one: checkpointed by tardis (containerd's checkpoint)" \
	shim checkpoint --image-path "$TMP/ctr-img" --work-path "$TMP/ctr-work" --leave-running one 2>"$TMP/ckpt.err"
# runc checkpoint without --leave-running stops and destroys the container.
check "one: gone after the checkpoint" wait_for 10 bash -c '[ -z "$(runc --root "$1" state one 2>/dev/null | jq -r .status)" ]' _ "$RROOT"
check "one: its image is published" [ -s "$TARDIS_STATE_DIR/checkpoints/$NS/one/manifest.json" ]
shim delete one 2>/dev/null
check "one: created again = restored" shim create --bundle "$B" --pid-file "$B/init.pid" one
check "one: restored and running, its start left to tardis (skip-start)" \
	[ -f "$TARDIS_STATE_DIR/containers/$NS/one/skip-start" ]

# The same storm on plain runc with an equivalent running container: the
# answers runc gives (start/create/delete of a running container fail).
BB=$TMP/base
bundle "$BB" 0 '["sleep","1000"]'
runc --root "$BROOT" create --bundle "$BB" base </dev/null >/dev/null 2>&1 && runc --root "$BROOT" start base
storm() { # storm RUNC-COMMAND ROOT ID BUNDLE PREFIX: 50 calls at once
	local cmd=$1 root=$2 id=$3 b=$4 p=$5 i pids=()
	for i in $(seq 1 50); do
		case $((i % 10)) in
		0 | 1 | 2) call "$p-state-$i" $cmd --root "$root" state "$id" & ;;
		3 | 4) call "$p-kill-$i" $cmd --root "$root" kill "$id" TERM & ;;
		5) call "$p-killw-$i" $cmd --root "$root" kill "$id" WINCH & ;;
		6 | 7) call "$p-start-$i" $cmd --root "$root" start "$id" & ;;
		8) call "$p-delete-$i" $cmd --root "$root" delete "$id" & ;;
		9) call "$p-create-$i" $cmd --root "$root" create --bundle "$b" --pid-file "$TMP/$p-$i.pid" "$id" & ;;
		esac
		pids+=($!)
	done
	wait "${pids[@]}"
}
rcs() { # rcs PREFIX KIND: sorted exit statuses of that kind
	cat "$OUTDIR/$1-$2"-*.rc | sort | tr '\n' ' '
}
t0=$SECONDS
storm runc "$BROOT" base "$BB" base
storm "$SHIM" "$RROOT" one "$B" one
echo "# two storms of 50 calls in $((SECONDS - t0)) s"
check "one: no call timed out (rc 124)" bash -c '! grep -qx 124 "$1"/one-*.rc "$1"/base-*.rc' _ "$OUTDIR"
for kind in state kill killw delete create; do
	check "one: $kind: runc's own answers ($(rcs one $kind)vs $(rcs base $kind))" \
		[ "$(rcs one $kind)" = "$(rcs base $kind)" ]
done
starts_ok=$(grep -lx 0 "$OUTDIR"/one-start-*.rc | wc -l)
check "one: exactly one of 10 concurrent starts answered 0 (by tardis): $starts_ok" [ "$starts_ok" -eq 1 ]
answered=$(grep -c "intercepted: start $NS/one answered by tardis" "$TARDIS_LOG_FILE")
check "one: tardis answered exactly one start ($answered)" [ "$answered" -eq 1 ]
check "one: the other starts got runc's answer ($(rcs one start)vs base $(rcs base start))" \
	[ "$(grep -Lx 0 "$OUTDIR"/one-start-*.rc | xargs cat | sort | tr '\n' ' ')" = "$(cat "$OUTDIR"/base-start-*.rc | sort | head -9 | tr '\n' ' ')" ]
bad_state=0
for f in "$OUTDIR"/one-state-*.out; do
	[ "$(jq -r .status "$f" 2>/dev/null)" = running ] || bad_state=$((bad_state + 1))
done
check "one: every concurrent state printed runc's JSON, status running ($bad_state bad)" [ "$bad_state" -eq 0 ]
check "one: still running after the storm" [ "$(status_in "$RROOT" one)" = running ]
count() { # the container rewrites the file: an empty read is retried
	local v
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		v=$(cat "$B/rootfs/data/count" 2>/dev/null)
		[ -n "$v" ] && { echo "$v"; return; }
		sleep 0.01
	done
	echo 0
}
c1=$(count)
sleep 0.5
c2=$(count)
check "one: and still counting ($c1 -> $c2)" [ "$c2" -gt "$c1" ]
st=$TARDIS_STATE_DIR/containers/$NS/one/state.json
check "one: skip-start taken, restores=1, bundle kept" \
	bash -c '[ ! -e "$3" ] && [ "$(jq -c "[.skip_start, .restores, .bundle]" "$1")" = "[false,1,\"$2\"]" ]' _ "$st" "$B" "${st%/*}/skip-start"
check "one: the duplicate creates were left to runc" grep -q "create $NS/one: runc already has a container with this id" "$TARDIS_LOG_FILE"

# Killed (exit 137: the image is kept), deleted, then created again by 10
# concurrent creates: like runc, exactly one wins, and it is the restore.
runc --root "$BROOT" delete -f base >/dev/null 2>&1
runc --root "$RROOT" kill one KILL
wait_for 10 bash -c '[ "$(runc --root "$1" state one 2>/dev/null | jq -r .status)" = stopped ]' _ "$RROOT"
check "one: killed, deleted" shim delete one
creates() { # creates RUNC ROOT ID BUNDLE PREFIX: 10 creates of one id at once
	local i pids=()
	for i in $(seq 1 10); do
		call "$5-$i" "$1" --root "$2" create --bundle "$4" --pid-file "$TMP/$5-$i.pid" "$3" &
		pids+=($!)
	done
	wait "${pids[@]}"
}
creates runc "$BROOT" base "$BB" recreate-base
creates "$SHIM" "$RROOT" one "$B" recreate-one
# runc alone is racy here (two creates of one id can both fail), so the
# baseline is shown, not compared: tardis serialises its creates of an id.
echo "# plain runc, 10 concurrent creates of one id: $(rcs recreate base)"
check "one: 10 concurrent creates: exactly one wins, the rest get runc's refusal ($(rcs recreate one))" \
	[ "$(rcs recreate one)" = "0 1 1 1 1 1 1 1 1 1 " ]
check "one: the winner restored it, it runs" [ "$(status_in "$RROOT" one)" = running ]
check "one: restored twice in all (restores=2)" \
	bash -c '[ "$(jq -r .restores "$1")" = 2 ]' _ "$st"
check "one: start answered" shim start one
a=$(count)
sleep 0.5
b=$(count)
check "one: counting again ($a -> $b)" [ "$b" -gt "$a" ]
runc --root "$RROOT" delete -f one >/dev/null 2>&1
runc --root "$BROOT" delete -f base >/dev/null 2>&1

# ---- 3. MANY enabled containers at once --------------------------------
# From a cold start: no agent runs, the 50 creates race to start one.
apid=$(cat "$TARDIS_STATE_DIR/tardisd.pid" 2>/dev/null)
if [ -n "$apid" ] && [ "$(cat "/proc/$apid/comm" 2>/dev/null)" = tardisd ]; then
	kill "$apid"
	wait_for 10 bash -c '! kill -0 "$1" 2>/dev/null' _ "$apid"
fi
check "many: no agent runs before the storm" flock -n "$TARDIS_STATE_DIR/tardisd.pid" true
M=50
lifecycle() { # lifecycle I: create, start, state, (kill), wait stopped, delete
	local i=$1 id=m$1 s
	call "m$i-create" "$SHIM" --root "$RROOT" create --bundle "$TMP/m$i" --pid-file "$TMP/m$i/init.pid" "$id"
	call "m$i-start" "$SHIM" --root "$RROOT" start "$id"
	call "m$i-state" "$SHIM" --root "$RROOT" state "$id"
	[ $((i % 2)) -eq 1 ] && call "m$i-kill" "$SHIM" --root "$RROOT" kill "$id" KILL
	for _ in $(seq 1 400); do
		s=$(status_in "$RROOT" "$id")
		[ "$s" = stopped ] && break
		sleep 0.05
	done
	# The exit is recorded before the delete looks it up (or found in the
	# kernel's recent_exits).
	call "m$i-delete" "$SHIM" --root "$RROOT" delete "$id"
}
for i in $(seq 0 $((M - 1))); do
	if [ $((i % 2)) -eq 1 ]; then
		bundle "$TMP/m$i" 1 '["sleep","1000"]'
	else
		bundle "$TMP/m$i" 1 '["sh","-c","sleep 2; exit 0"]'
	fi
done
t0=$SECONDS
pids=()
for i in $(seq 0 $((M - 1))); do
	lifecycle "$i" &
	pids+=($!)
done
wait "${pids[@]}"
echo "# $M container lifecycles at once in $((SECONDS - t0)) s"
check "many: no call timed out" bash -c '! grep -qx 124 "$1"/m*.rc' _ "$OUTDIR"
for step in create start state kill delete; do
	n=$(ls "$OUTDIR"/m*-$step.rc | wc -l)
	okn=$(grep -lx 0 "$OUTDIR"/m*-$step.rc | wc -l)
	check "many: $step succeeded as with runc ($okn of $n)" [ "$okn" -eq "$n" ]
done
bad_state=0
for i in $(seq 0 $((M - 1))); do
	s=$(jq -r .status "$OUTDIR/m$i-state.out" 2>/dev/null)
	# The ones that exit 0 may be done by the time state asks.
	[ "$s" = running ] || { [ $((i % 2)) -eq 0 ] && [ "$s" = stopped ]; } || bad_state=$((bad_state + 1))
done
check "many: state printed runc's JSON for all ($bad_state bad)" [ "$bad_state" -eq 0 ]
check "many: no container left in runc" [ -z "$(runc --root "$RROOT" list -q)" ]
gone=0 kept=0
for i in $(seq 0 $((M - 1))); do
	d=$TARDIS_STATE_DIR/containers/$NS/m$i
	if [ $((i % 2)) -eq 0 ]; then
		[ ! -e "$d" ] && gone=$((gone + 1))
	else
		[ "$(jq -r .exit_status "$d/exit.json" 2>/dev/null)" = 137 ] &&
			[ "$(jq -r .init_pid "$d/state.json" 2>/dev/null)" -gt 0 ] && kept=$((kept + 1))
	fi
done
check "many: the $((M / 2)) that exited 0 were cleaned up ($gone)" [ "$gone" -eq $((M / 2)) ]
check "many: the $((M / 2)) killed kept their state with exit 137 ($kept)" [ "$kept" -eq $((M / 2)) ]
nerr=$(grep -c " error: " "$TARDIS_LOG_FILE")
check "no error in tardis-runc's log ($nerr)" [ "$nerr" -eq 0 ]
grep " error: " "$TARDIS_LOG_FILE" | head -5 | sed 's/^/# /'
# Expected: the duplicate creates left to runc, and runc's own refusals in
# the storm (start/create/delete of a running container: "...: exit status 1").
expected_warn='runc already has a container with this id|/runc --root [^ ]* (start|create|delete) .*: exit status 1$'
nwarn=$(grep " warn: " "$TARDIS_LOG_FILE" | grep -Evc "$expected_warn")
check "no unexpected warning in tardis-runc's log ($nwarn)" [ "$nwarn" -eq 0 ]
grep " warn: " "$TARDIS_LOG_FILE" | grep -Ev "$expected_warn" | head -5 | sed 's/^/# /'

touch "$TMP/watch.stop"
wait "$WATCH_PID"
rc=$?
WATCH_PID=
sed 's/^/# /' "$TMP/watch.out"
head -5 "$TMP/watch.err" | sed 's/^/# /'
check "no torn or malformed state file seen by the reader (rc=$rc)" \
	bash -c '[ "$1" -eq 0 ] && grep -q "malformed=0$" "$2" && ! grep -q "reads=0 " "$2"' _ "$rc" "$TMP/watch.out"
summary
