#!/bin/bash
# tardis-runc under a real (private) containerd with a real CRIU:
# checkpoint by containerd -> image -> restore on the next create -> the
# count continues -> exit 0 cleans up / exit 3 keeps the image; checkpoint
# instead of a stop signal when opted in; non-enabled containers untouched.
# shellcheck source=tests/lib/lib.sh
. "$(dirname "$0")/../lib/lib.sh"
# shellcheck source=tests/lib/containerd.sh
. "$ROOT/tests/lib/containerd.sh"

ctd_tardis_env

ctd_start || { fail "containerd"; summary; exit 1; }
ctd_image || { fail "image"; summary; exit 1; }

# The counter also writes its count to a file of its rootfs.
COUNTER=$(ctd_counter 'echo "first start"' 0.1 'echo $i > /count.txt')

# ---- a container that is not enabled runs exactly as under runc -------
out_runc=$(ctr_ run --rm --runc-root "$RUNC_ROOT" localhost/bb:latest plain-runc sh -c 'echo hello; exit 5' 2>&1)
rc_runc=$?
out_tardis=$(ctr_ run --rm --runc-binary "$SHIM" --runc-root "$RUNC_ROOT" localhost/bb:latest plain-tardis sh -c 'echo hello; exit 5' 2>&1)
rc_tardis=$?
check "not enabled: same output as runc ($out_tardis)" [ "$out_runc" = "$out_tardis" ]
check "not enabled: same exit code as runc ($rc_runc/$rc_tardis)" [ "$rc_runc" = "$rc_tardis" ]
check "not enabled: no state recorded" [ ! -e "$TARDIS_STATE_DIR/containers/default/plain-tardis" ]

# ---- checkpoint by containerd, restore on the next create, exit 0 -----
checkpoint_restore_cycle() { # ID FINAL_CODE
	local id=$1 code=$2 c1 c2 out
	run_enabled "$id"
	check "$id: running and counting" wait_for 20 count_at_least "$id" 15
	check "$id: state recorded" [ -s "$TARDIS_STATE_DIR/containers/default/$id/state.json" ]
	out=$(ctr_ c checkpoint --task "$id" "localhost/ckpt-$id:1" 2>&1)
	echo "  ctr c checkpoint: rc=$? $out"
	check "$id: image published with a manifest" [ -s "$(image_of "$id")/manifest.json" ]
	check "$id: image holds CRIU's files and the container's files" \
		[ -s "$(image_of "$id")/inventory.img" -a -s "$(image_of "$id")/files.tar" ]
	check "$id: the container is stopped after the checkpoint" wait_for 10 task_is "$id" STOPPED
	check "$id: containerd's resume was answered 0" \
		grep -q "resume default/$id answered by tardis" "$TARDIS_LOG_FILE"
	c1=$(count_of "$id")
	remove_container "$id"
	ctr_ image rm "localhost/ckpt-$id:1" >/dev/null 2>&1
	run_enabled "$id"
	check "$id: created again -> restored" grep -q "create default/$id: restored" "$TARDIS_LOG_FILE"
	check "$id: start answered 0 by tardis" grep -q "start default/$id answered by tardis" "$TARDIS_LOG_FILE"
	check "$id: task RUNNING after restore" task_is "$id" RUNNING
	sleep 0.5
	c2=$(count_of "$id")
	check "$id: the count continues ($c1 -> $c2)" [ "$c2" -gt "$c1" ]
	out=$(ctr_ task exec --exec-id m1 "$id" cat /marker 2>&1)
	check "$id: the files it wrote are back (/marker: $out)" [ "$out" = "first start" ]
	if [ "$code" != 0 ]; then
		# A restored container can be checkpointed and restored again.
		out=$(ctr_ c checkpoint --task "$id" "localhost/ckpt-$id:2" 2>&1)
		check "$id: checkpointed again after its restore" wait_for 10 task_is "$id" STOPPED
		check "$id: the second checkpoint replaced the image" \
			grep -q "checkpointed (checkpoint) into $(image_of "$id")" <(grep "default/$id: checkpointed" "$TARDIS_LOG_FILE" | tail -1)
		c1=$(count_of "$id")
		remove_container "$id"
		ctr_ image rm "localhost/ckpt-$id:2" >/dev/null 2>&1
		run_enabled "$id"
		check "$id: restored a second time" task_is "$id" RUNNING
		sleep 0.5
		c2=$(count_of "$id")
		check "$id: the count continues again ($c1 -> $c2)" [ "$c2" -gt "$c1" ]
		check "$id: two restores counted" [ "$(jq .restores "$TARDIS_STATE_DIR/containers/default/$id/state.json")" = 2 ]
	fi
	exit_with "$id" "$code"
	check "$id: exits $code" wait_for 10 task_is "$id" STOPPED
	check "$id: exit $code recorded by the agent" wait_for 5 grep -q "\"exit_status\":$code" \
		"$TARDIS_STATE_DIR/containers/default/$id/exit.json"
	remove_container "$id"
}

checkpoint_restore_cycle cnt0 0
check "cnt0: exit 0 -> image removed" [ ! -e "$(image_of cnt0)" ]
check "cnt0: exit 0 -> work dir removed" [ ! -e "$NFS/work/default/cnt0" ]
check "cnt0: exit 0 -> state removed" [ ! -e "$TARDIS_STATE_DIR/containers/default/cnt0" ]

checkpoint_restore_cycle cnt3 3
check "cnt3: exit 3 -> image kept" [ -s "$(image_of cnt3)/manifest.json" ]
check "cnt3: exit 3 -> state kept" [ -e "$TARDIS_STATE_DIR/containers/default/cnt3/state.json" ]

# ---- TARDIS_CHECKPOINT_ON_STOP=1: a stop signal checkpoints -----------
run_enabled stop1 --env TARDIS_CHECKPOINT_ON_STOP=1
check "stop1: counting" wait_for 20 count_at_least stop1 10
ctr_ task kill stop1
check "stop1: stopped after kill" wait_for 60 task_is stop1 STOPPED
check "stop1: kill left an image" [ -s "$(image_of stop1)/manifest.json" ]
c1=$(count_of stop1)
remove_container stop1
run_enabled stop1 --env TARDIS_CHECKPOINT_ON_STOP=1
check "stop1: next create restores it" grep -q "create default/stop1: restored" "$TARDIS_LOG_FILE"
sleep 0.5
c2=$(count_of stop1)
check "stop1: count continues ($c1 -> $c2)" [ "$c2" -gt "$c1" ]
ctr_ task kill -s KILL stop1 >/dev/null 2>&1
wait_for 10 task_is stop1 STOPPED
remove_container stop1

# Without the setting, kill is runc's: SIGKILL ends it, no image.
run_enabled nostop
check "nostop: counting" wait_for 20 count_at_least nostop 3
ctr_ task kill -s KILL nostop
check "nostop: killed" wait_for 10 task_is nostop STOPPED
check "nostop: exit 137 recorded" wait_for 5 grep -q '"exit_status":137' \
	"$TARDIS_STATE_DIR/containers/default/nostop/exit.json"
check "nostop: no image" [ ! -e "$(image_of nostop)" ]
remove_container nostop

summary
