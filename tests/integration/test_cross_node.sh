#!/bin/bash
# Cross-node restore: two "nodes" on one machine, each a containerd of its
# own (root, state, socket, runc root) with its own tardis state dir, agent
# and BPF pin dir, sharing one NETWORKFS directory.  A running enabled
# container is checkpointed on node A (`ctr c checkpoint --task`), created
# with the same id on node B where it is restored and keeps counting; a stop
# signal on B (TARDIS_CHECKPOINT_ON_STOP=1) moves it back to A, where it is
# restored again and finally exits 0, which removes the image and the work
# dir from the network fs.
#
# XNODE_FS_A / XNODE_FS_B: the shared directory as node A and node B see it
# (two mounts of one export: sshfs, NFS); by default one local directory.
# shellcheck source=tests/lib/lib.sh
. "$(dirname "$0")/../lib/lib.sh"
# shellcheck source=tests/lib/containerd.sh
. "$ROOT/tests/lib/containerd.sh" # with CTD_SOCK set per node

need_criu
export TARDIS_RUNC=$(command -v runc)
export TARDIS_LOG_LEVEL=debug
SHIM=$BIN/tardis-runc
NFS_A=${XNODE_FS_A:-$TMP/networkfs}
NFS_B=${XNODE_FS_B:-$NFS_A}
NFS=$NFS_A
ID=xnode
mkdir -p "$NFS_A" "$NFS_B"
declare -A NODE_PID

# ---- nodes -------------------------------------------------------------
node_dir() { echo "$TMP/node-$1"; }
node_state() { echo "$TMP/node-$1/tardis"; }
node_bpf() { echo "/sys/fs/bpf/tardis-test-$$-$1"; }
node_log() { echo "$TMP/node-$1/tardis-runc.log"; }
ctrn() { # ctrn NODE ctr-args...
	local n=$1
	shift
	ctr -a "$(node_dir "$n")/containerd.sock" "$@"
}

# node_start NODE: a containerd whose shims (and so tardis-runc and the
# agent it starts) see this node's TARDIS_STATE_DIR / TARDIS_BPF_DIR.
node_start() {
	local n=$1
	TARDIS_STATE_DIR=$(node_state "$n") TARDIS_BPF_DIR=$(node_bpf "$n") \
		TARDIS_LOG_FILE=$(node_log "$n") ctd_launch "$(node_dir "$n")"
	NODE_PID[$n]=$LAUNCHED_PID
	ctd_ready "$(node_dir "$n")" "${NODE_PID[$n]}" 200
}

# node_stop NODE: its tasks and containers removed, containerd stopped, its
# shims and its agent ended by pid, its BPF objects unpinned.
node_stop() {
	local n=$1
	ctd_teardown "$(node_dir "$n")/containerd.sock" "${NODE_PID[$n]:-}"
	NODE_PID[$n]=
	stop_agent_of "$(node_state "$n")"
	"$BIN/tardisd" --unload --bpf-dir "$(node_bpf "$n")" >/dev/null 2>&1
	umount_below "$(node_dir "$n")"
}
on_cleanup 'node_stop A; node_stop B'

# ---- the counter ----------------------------------------------------------
# Its /marker names the node it first started on.
COUNTER=$(ctd_counter 'echo "first start on $(cat /work/node 2>/dev/null)"')
run_on() { # run_on NODE [extra ctr args...]: the counter as ID on NODE
	local n=$1
	shift
	local fs=$NFS_A
	[ "$n" = A ] || fs=$NFS_B
	NFS=$fs CTD_SOCK=$(node_dir "$n")/containerd.sock RUNC_ROOT=$(node_dir "$n")/runc \
		run_enabled "$ID" "$@"
}
WORK=$NFS/work/default/$ID
IMAGE=$NFS/checkpoint/default/$ID
count() { count_file "$WORK/count"; }
count_at_least() { [ "$(count)" -ge "$1" ]; }
task_is() { # task_is NODE STATUS
	[ "$(ctrn "$1" task ls 2>/dev/null | awk -v id="$ID" '$1 == id { print $3 }')" = "$2" ]
}
remove_on() { # task rm + container rm, as a user would
	ctrn "$1" task rm "$ID" >/dev/null 2>&1
	ctrn "$1" c rm "$ID" >/dev/null 2>&1
}
# restored_on NODE N: the Nth "restored" line of this id in the node's log.
restored_on() { [ "$(grep -c "create default/$ID: restored" "$(node_log "$1")" 2>/dev/null)" -ge "$2" ]; }

check "node A: containerd starts" node_start A || { summary; exit 1; }
check "node B: containerd starts" node_start B || { summary; exit 1; }
CTD_SOCK=$(node_dir A)/containerd.sock
check "node A: busybox image imported" ctd_image
check "node B: the same image imported" \
	ctrn B image import --base-name localhost/bb "$TMP/image/bb.tar"

# ---- A: run, checkpoint ------------------------------------------------
t0=$SECONDS
mkdir -p "$WORK" && echo A >"$WORK/node"
check "A: the enabled container runs" run_on A
check "A: counting" wait_for 60 count_at_least 15
out=$(ctrn A c checkpoint --task "$ID" "localhost/ckpt-$ID:1" 2>&1)
echo "# A: ctr c checkpoint: rc=$? $out (${SECONDS}s)"
check "A: image published on the network fs" [ -s "$IMAGE/manifest.json" ]
check "A: the image holds CRIU's files and the container's files" \
	[ -s "$IMAGE/inventory.img" -a -s "$IMAGE/files.tar" ]
check "A: the task is stopped after the checkpoint" wait_for 30 task_is A STOPPED
c1=$(count)
remove_on A
ctrn A image rm "localhost/ckpt-$ID:1" >/dev/null 2>&1
check "A: removing the container keeps the image (exit was not 0)" [ -s "$IMAGE/manifest.json" ]
check "A: node A's own state dir holds the container" \
	[ -e "$(node_state A)/containers/default/$ID/state.json" ]
check "A: exit 137 (killed by the checkpoint) recorded by A's agent" \
	wait_for 10 grep -q '"exit_status":137' "$(node_state A)/containers/default/$ID/exit.json"
echo "# A -> checkpoint: $((SECONDS - t0)) s, count $c1"

# ---- B: the same id is restored and continues ---------------------------
t0=$SECONDS
echo B >"$WORK/node"
check "B: created with the same id" run_on B --env TARDIS_CHECKPOINT_ON_STOP=1
check "B: restored from A's image" restored_on B 1
check "B: task RUNNING" task_is B RUNNING
sleep 1
c2=$(count)
check "B: the count continues ($c1 -> $c2)" [ "$c2" -gt "$c1" ]
out=$(ctrn B task exec --exec-id m1 "$ID" cat /marker 2>&1)
# (the rootfs of B's container is B's own snapshot: /marker comes from the image)
check "B: the files it wrote on A are back (/marker: $out)" [ "$out" = "first start on A" ]
check "B: node B's own state dir holds the container" \
	[ -e "$(node_state B)/containers/default/$ID/state.json" ]
check "B: nothing was written to the test's default state dir" \
	[ ! -e "$TARDIS_STATE_DIR/containers/default/$ID" ]
echo "# B restore: $((SECONDS - t0)) s"

# ---- B -> A: a stop signal checkpoints (opted in) -----------------------
t0=$SECONDS
ctrn B task kill "$ID"
if ! check "B: stopped after kill" wait_for 30 task_is B STOPPED; then
	grep -h 'Error' "$(node_state B)/work/default/$ID/dump.log" 2>/dev/null | sed 's/^/# B dump.log: /'
fi
check "B: kill left an image" [ -s "$IMAGE/manifest.json" ]
check "B: the kill was turned into a checkpoint by B's tardis-runc" \
	grep -q "default/$ID: checkpointed (" "$(node_log B)"
c3=$(count)
check "B: count had advanced past A's ($c2 -> $c3)" [ "$c3" -ge "$c2" ]
remove_on B
check "B: removing keeps the image" [ -s "$IMAGE/manifest.json" ]
echo "# B -> checkpoint on stop: $((SECONDS - t0)) s, count $c3"

t0=$SECONDS
echo A >"$WORK/node"
check "A again: created with the same id" run_on A
check "A again: restored from B's image" restored_on A 1
check "A again: task RUNNING" task_is A RUNNING
sleep 1
c4=$(count)
check "A again: the count continues ($c3 -> $c4)" [ "$c4" -gt "$c3" ]
echo "# A restore: $((SECONDS - t0)) s"

# ---- exit 0 on A: the network fs is cleaned ----------------------------
echo 0 >"$WORK/stop"
check "A: exits 0" wait_for 30 task_is A STOPPED
check "A: exit 0 recorded by A's agent" wait_for 10 grep -q '"exit_status":0' \
	"$(node_state A)/containers/default/$ID/exit.json"
remove_on A
check "exit 0 -> image removed from the network fs" [ ! -e "$IMAGE" ]
check "exit 0 -> work dir removed from the network fs" [ ! -e "$WORK" ]
check "exit 0 -> A's state removed" [ ! -e "$(node_state A)/containers/default/$ID" ]
check "no error lines in either node's tardis-runc log" \
	bash -c '! grep -h " error: " "$1" "$2"' _ "$(node_log A)" "$(node_log B)"

summary
