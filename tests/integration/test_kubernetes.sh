#!/bin/bash
# Kubernetes (issue 10): a rescheduled pod gets its container back.  Two
# containerd "nodes" A and B (their own roots, tardis state dirs, BPF pin
# dirs, node names), sharing one network-fs directory, driven through the
# CRI exactly as kubelet drives them (tests/lib/cri.py).  The containers
# are servers: busybox httpd answering on the host network, a counter held
# in memory (written to the work dir), files written and deleted in the
# rootfs.  What is asserted is what the system did: the count going on,
# the files back, the server answering, tardisctl's records, the lease
# records on the shared directory, tardis-runc's log.
#
#   reschedule   prod/web-0 on A: StopContainer (checkpoint on stop), the
#                removals; the pod created on B with a new UID: restored,
#                tardisctl show names the identity and both container ids;
#                its exit 0 removes image, work dir and lease.
#   crash        kubelet restarts a crashed container in the same pod: it
#                restores; after max_restore_attempts (3) restores that each
#                ended in a non-zero exit it starts fresh; a new checkpoint
#                resets the guard.
#   deployment   a random pod name with tardis.io/identity restores; without
#                it a new random name starts fresh.
#   lease        B's create while A's container runs: fresh, without tardis,
#                logged; B's create during A's checkpoint waits, then
#                restores.
#   race         two creates of one identity at once on A and B, 20 times:
#                exactly one restores each time.
#   arch         an image of another architecture's node: fresh start, why.
#   dead node    A dies holding the lease: B starts fresh until the lease
#                expires (lease_timeout), then restores A's last image.
# All but the race run on containerd 1.6's CRI too.
# shellcheck source=tests/lib/lib.sh
. "$(dirname "$0")/../lib/lib.sh"
# shellcheck source=tests/lib/containerd.sh
. "$ROOT/tests/lib/containerd.sh"
# shellcheck source=tests/lib/cri.sh
. "$ROOT/tests/lib/cri.sh"
# shellcheck source=tests/lib/netns.sh
. "$ROOT/tests/lib/netns.sh"

ctd_tardis_env
on_cleanup cri_stop
# K8S_FS_A / K8S_FS_B: the network-fs directory as node A and node B see
# it (two mounts of one export: sshfs, NFS), K8S_FS_VIEW where the test
# looks (default node A's); by default all one local directory.  A caller
# lending its mounts names them in TEST_IMAGE_ROOTS (lib.sh).
NFS_A=${K8S_FS_A:-$NFS}
NFS_B=${K8S_FS_B:-$NFS_A}
NFS=${K8S_FS_VIEW:-$NFS_A}
LEASE_TIMEOUT=6
RACE_ROUNDS=${K8S_RACE_ROUNDS:-20}
FLAVOURS=${K8S_FLAVOURS:-2 1.6}
# The flows run on containerd 2.x (K8S_FLOWS picks some, to debug); 1.6
# runs them all but the race.
FLOWS=${K8S_FLOWS:-reschedule crash deployment arch lease_flows race dead_node}

quiet() { "$@" >/dev/null 2>&1; }

# ---- nodes ------------------------------------------------------------------

# node_start NAME FLAVOUR: node NAME (dir $TMP/FLAVOUR-NAME) on containerd
# FLAVOUR, node_name node-NAME, lease_timeout LEASE_TIMEOUT.
node_start() {
	local d=$TMP/$2-$1
	mkdir -p "$d"
	printf 'node_name = node-%s\nlease_timeout = %s\nrestore_wait = 30\n' "$1" "$LEASE_TIMEOUT" \
		>"$d/tardis.conf"
	CRI_CONTAINERD=$2 TARDIS_CONFIG=$d/tardis.conf TARDIS_STATE_DIR=$d/tardis \
		TARDIS_BPF_DIR=/sys/fs/bpf/tardis-test-$$-${2//./}-$1 TARDIS_LOG_FILE=$d/tardis-runc.log \
		cri_start "$d"
}
dir_of() { echo "$TMP/$FLAVOUR-$1"; }
sock_of() { echo "$(dir_of "$1")/containerd.sock"; }
on() { # on NODE cri.py ARGS...
	local s
	s=$(sock_of "$1")
	shift
	cri_ "$s" "$@"
}
log_of() { echo "$(dir_of "$1")/tardis-runc.log"; }
ctl() { # ctl NODE tardisctl ARGS...
	local d
	d=$(dir_of "$1")
	shift
	TARDIS_CONFIG=$d/tardis.conf TARDIS_STATE_DIR=$d/tardis "$BIN/tardisctl" "$@"
}
# log_count NODE ERE: lines of the node's tardis-runc log matching ERE.
log_count() { grep -cE "$2" "$(log_of "$1")" 2>/dev/null; }

# ---- pods and the server ----------------------------------------------------

SERVER=$CRI_SERVER

# pod_json NAME UID [ANNOTATIONS]: pod NAME of namespace prod.
pod_json() {
	jq -cn --arg n "$1" --arg u "$2" --argjson a "${3:-{\}}" \
		'{namespace:"prod", name:$n, uid:$u, annotations:$a}'
}
# ctr_json PORT [SERVE [BIG]]: the server as container "counter", opted
# in, checkpointed on stop, its work dir and images on NFS; BIG: a file of
# BIG MiB written in its rootfs (a longer checkpoint).
ctr_json() {
	jq -cn --arg c "$SERVER" --arg nfs "$NFS" --arg port "$1" --arg serve "${2:-1}" \
		--arg big "${3:-}" \
		'{name:"counter", image:"localhost/bb:latest", command:["sh","-c",$c],
		  env:{TARDIS_ENABLE:"1", TARDIS_NETWORKFS_HOST_PATH:$nfs,
		       TARDIS_WORKDIR_CONTAINER_PATH:"/work", TARDIS_CHECKPOINT_ON_STOP:"1",
		       PORT:$port, SERVE:$serve, POD:"x", BIG:$big}}'
}
# new_pod NODE POD_JSON: RunPodSandbox; prints the pod id.
new_pod() { on "$1" runp "$2" | jq -r .id; }
# new_ctr NODE POD_ID POD_JSON CTR_JSON [ATTEMPT]: CreateContainer on
# NODE (the network fs as NODE sees it); its id.
new_ctr() {
	local c fs=$NFS_A
	[ "$1" = A ] || fs=$NFS_B
	c=$(jq -c --argjson a "${5:-0}" --arg fs "$fs" \
		'.attempt = $a | .env.TARDIS_NETWORKFS_HOST_PATH = $fs' <<<"$4")
	on "$1" create "$2" "$c" "$3" | jq -r .id
}
state_of() { on "$1" inspect "$2" 2>/dev/null | jq -r .status.state; }
exit_of() { on "$1" inspect "$2" 2>/dev/null | jq -r '.status.exit_code // 0'; }
is_state() { [ "$(state_of "$1" "$2")" = "$3" ]; }
# end_pod NODE POD CTR [GRACE]: StopContainer (GRACE, default 10), then
# the removals, as kubelet does when a pod is deleted.
end_pod() {
	[ -z "$3" ] || on "$1" --timeout "${4:-10}" stop "$3" >/dev/null 2>&1
	[ -z "$3" ] || on "$1" rm "$3" >/dev/null 2>&1
	on "$1" stopp "$2" >/dev/null 2>&1
	on "$1" rmp "$2" >/dev/null 2>&1
}

# Where an identity's things are (prod/POD/counter).
img_of() { echo "$NFS/checkpoint/k8s/prod/$1/counter"; }
work_of() { echo "$NFS/work/k8s/prod/$1/counter"; }
count_of() { count_file "$(work_of "$1")/count"; }
count_above() { [ "$(count_of "$1")" -gt "$2" ]; }
# lease IDENTITY_POD FIELD: the current lease record's field.
lease() {
	local l
	l=$(find "$(img_of "$1").lease" -maxdepth 1 -name '[0-9]*' 2>/dev/null | sort | tail -1)
	[ -n "$l" ] && jq -r ".$2" "$l"
}
lease_is() { [ "$(lease "$1" state)" = "$2" ]; }
# tardis_runc_of CTR: the pids of tardis-runc processes working on CTR.
tardis_runc_of() {
	local p
	for p in $(pgrep -f -- "$1"); do
		[ "$(readlink "/proc/$p/exe" 2>/dev/null)" = "$BIN/tardis-runc-full" ] && echo "$p"
	done
}
show_json() { ctl "$1" show --json "k8s.io/$2" 2>/dev/null; }
answers() { timeout 5 busybox wget -qO- "http://127.0.0.1:$1/" 2>/dev/null | grep -q "page of"; }
file_in() { on "$1" exec "$2" -- cat "$3" 2>/dev/null; }
# names_both NODE CTR OTHER: `tardisctl show` of CTR names CTR and OTHER.
names_both() {
	local t
	t=$(ctl "$1" show "k8s.io/$2")
	grep -q "$2" <<<"$t" && grep -q "$3" <<<"$t"
}
restore_reason_has() { show_json "$1" "$2" | jq -r .last_restore.reason | grep -q "$3"; }
# in_order LOG1 TEXT1 LOG2 TEXT2 ...: the first line of each LOG holding
# its TEXT, by their timestamps, come in this order.
in_order() {
	local prev="" t
	while [ $# -ge 2 ]; do
		t=$(grep -F -m1 -- "$2" "$1" | cut -d' ' -f1)
		[ -n "$t" ] || return 1
		[ -z "$prev" ] || [[ "$prev" < "$t" ]] || return 1
		prev=$t
		shift 2
	done
}
# restored NODE CTR: tardis restored it (its state says so).
restored() { [ "$(show_json "$1" "$2" | jq -r '.last_restore.result')" = restored ]; }

# ---- the flows --------------------------------------------------------------

# reschedule: prod/web-0 from A to B, then its exit 0.
reschedule() {
	local f="$FLAVOUR/reschedule" port pa ca pb cb c0 sj
	port=$(free_port)
	pa=$(new_pod A "$(pod_json web-0 uid-a-1)")
	ca=$(new_ctr A "$pa" "$(pod_json web-0 uid-a-1)" "$(ctr_json "$port")")
	check "$f: StartContainer on A" quiet on A start "$ca"
	check "$f: A: counting" wait_for 20 count_above web-0 15
	check "$f: A: the server answers" wait_for 10 answers "$port"
	check "$f: A: the lease is A's container's, running" \
		[ "$(lease web-0 state)/$(lease web-0 node)/$(lease web-0 id)" = "running/node-A/$ca" ]
	check "$f: A: StopContainer (kubelet's TERM: checkpoint instead)" \
		quiet on A --timeout 10 stop "$ca"
	check "$f: A: the container exited" is_state A "$ca" CONTAINER_EXITED
	check "$f: A: checkpointed by the stop signal" \
		grep -q "k8s.io/$ca: checkpointed (stop signal)" "$(log_of A)"
	check "$f: the image is the identity's" \
		[ "$(jq -r .identity "$(img_of web-0)/manifest.json")" = prod/web-0/counter ]
	check "$f: the lease is released" lease_is web-0 released
	c0=$(count_of web-0)
	quiet on A rm "$ca"
	end_pod A "$pa"
	check "$f: the server is gone with A's pod" not answers "$port"
	pb=$(new_pod B "$(pod_json web-0 uid-b-1)")
	cb=$(new_ctr B "$pb" "$(pod_json web-0 uid-b-1)" "$(ctr_json "$port")")
	check "$f: B: a new pod, a new container id" [ -n "$cb" -a "$cb" != "$ca" ]
	check "$f: StartContainer on B" quiet on B start "$cb"
	check "$f: B: restored" restored B "$cb"
	check "$f: B: the count goes on from $c0" wait_for 10 count_above web-0 "$c0"
	check "$f: B: the server answers again" wait_for 10 answers "$port"
	check "$f: B: /data/a is back" [ "$(file_in B "$cb" /data/a)" = a ]
	check "$f: B: /data/c is back" [ "$(file_in B "$cb" /data/c)" = c ]
	check "$f: B: /data/b stays deleted" not file_in B "$cb" /data/b
	sj=$(show_json B "$cb")
	check "$f: tardisctl show: the identity" [ "$(jq -r .identity <<<"$sj")" = prod/web-0/counter ]
	check "$f: tardisctl show: restored from A's container" \
		[ "$(jq -r '.restored_from.id + "@" + .restored_from.node' <<<"$sj")" = "$ca@node-A" ]
	check "$f: tardisctl show: the image written by A's container" \
		[ "$(jq -r .image.written_by <<<"$sj")" = "$ca" ]
	check "$f: tardisctl show (text) names both ids" names_both B "$cb" "$ca"
	check "$f: the lease is B's container's" \
		[ "$(lease web-0 state)/$(lease web-0 node)/$(lease web-0 id)" = "running/node-B/$cb" ]
	echo 0 >"$(work_of web-0)/stop"
	check "$f: B: exits 0" wait_for 20 is_state B "$cb" CONTAINER_EXITED
	check "$f: B: exit code 0" [ "$(exit_of B "$cb")" = 0 ]
	quiet on B rm "$cb"
	check "$f: exit 0: the image is removed" wait_for 10 not test -e "$(img_of web-0)"
	check "$f: exit 0: the lease is removed" not test -e "$(img_of web-0).lease"
	check "$f: exit 0: the work dir is removed" not test -e "$(work_of web-0)"
	end_pod B "$pb"
}

# crash: kubelet restarts a crashed container in its pod.
crash() {
	local f="$FLAVOUR/crash" pod p c n k before code
	pod=$(pod_json web-1 uid-c-1)
	p=$(new_pod A "$pod")
	c=$(new_ctr A "$p" "$pod" "$(ctr_json 0 0)")
	quiet on A start "$c"
	check "$f: counting" wait_for 20 count_above web-1 10
	check "$f: StopContainer: checkpointed" quiet on A --timeout 10 stop "$c"
	check "$f: the image is there" test -s "$(img_of web-1)/manifest.json"
	quiet on A rm "$c"
	n=0
	for k in 1 2 3 4; do
		before=$(log_count A 'restored from')
		c=$(new_ctr A "$p" "$pod" "$(ctr_json 0 0)" $k)
		quiet on A start "$c"
		if [ $k -le 3 ]; then
			check "$f: attempt $k: restored" [ "$(log_count A 'restored from')" = $((before + 1)) ]
		fi
		[ $k = 1 ] && echo 3 >"$(work_of web-1)/stop" # from now on it crashes
		[ $k -le 3 ] || break
		check "$f: attempt $k: crashes (exit 3)" wait_for 20 is_state A "$c" CONTAINER_EXITED
		# tardis's record (the kernel's): the CRI may say 128 of a process
		# that died at its restore, before the shim knew its pid.
		code=$(show_json A "$c" | jq -r .exit_status)
		check "$f: attempt $k: exit status 3 recorded ($code; CRI: $(exit_of A "$c"))" [ "$code" = 3 ]
		quiet on A rm "$c"
		n=$((n + 1))
		check "$f: attempt $k: the lease counts $n failed restore(s) of the image" \
			[ "$(lease web-1 failed_restores)" = $n ]
	done
	check "$f: attempt 4: not restored (crash-loop guard)" \
		[ "$(log_count A 'restored from')" = "$before" ]
	check "$f: attempt 4: the guard says why" grep -q "crash-loop guard: 3 restores" "$(log_of A)"
	check "$f: attempt 4: tardisctl show: fell back, and why" \
		restore_reason_has A "$c" "non-zero exit"
	check "$f: attempt 4: the image is kept" test -s "$(img_of web-1)/manifest.json"
	# The fresh start crashes too (the stop file): no restore counted.
	check "$f: attempt 4: started fresh, crashes" wait_for 20 is_state A "$c" CONTAINER_EXITED
	quiet on A rm "$c"
	rm -f "$(work_of web-1)/stop"
	c=$(new_ctr A "$p" "$pod" "$(ctr_json 0 0)" 5)
	quiet on A start "$c"
	check "$f: attempt 5: still fresh (the guard holds)" not restored A "$c"
	check "$f: attempt 5: counting" wait_for 20 count_above web-1 5
	check "$f: attempt 5: StopContainer: a new checkpoint" quiet on A --timeout 10 stop "$c"
	check "$f: the new image resets the guard" [ "$(lease web-1 failed_restores)" = 0 ]
	quiet on A rm "$c"
	c=$(new_ctr A "$p" "$pod" "$(ctr_json 0 0)" 6)
	quiet on A start "$c"
	check "$f: attempt 6: restored from the new image" restored A "$c"
	echo 0 >"$(work_of web-1)/stop"
	check "$f: attempt 6: exits 0" wait_for 20 is_state A "$c" CONTAINER_EXITED
	quiet on A rm "$c"
	check "$f: exit 0: image and lease removed" \
		wait_for 10 not test -e "$(img_of web-1)" -o -e "$(img_of web-1).lease"
	end_pod A "$p"
}

# deployment: random pod names; tardis.io/identity keeps the container's.
deployment() {
	local f="$FLAVOUR/deployment" ann pod p c c0 img=$NFS/checkpoint/k8s/prod/web/counter
	ann='{"tardis.io/identity":"prod/web"}'
	pod=$(pod_json web-7f9c-abcde uid-d-1 "$ann")
	p=$(new_pod A "$pod")
	c=$(new_ctr A "$p" "$pod" "$(ctr_json 0 0)")
	quiet on A start "$c"
	check "$f: the identity is the annotation's plus the container's name" \
		[ "$(show_json A "$c" | jq -r .identity)" = prod/web/counter ]
	check "$f: counting" wait_for 20 bash -c '[ "$(cat "$1" 2>/dev/null || echo 0)" -gt 10 ]' _ \
		"$NFS/work/k8s/prod/web/counter/count"
	check "$f: StopContainer: checkpointed" quiet on A --timeout 10 stop "$c"
	c0=$(count_file "$NFS/work/k8s/prod/web/counter/count")
	end_pod A "$p" "$c"
	pod=$(pod_json web-7f9c-xyz12 uid-d-2 "$ann")
	p=$(new_pod B "$pod")
	c=$(new_ctr B "$p" "$pod" "$(ctr_json 0 0)")
	quiet on B start "$c"
	check "$f: another random name, the same identity: restored on B" restored B "$c"
	check "$f: the count goes on" \
		wait_for 10 bash -c '[ "$(cat "$1")" -gt "$2" ]' _ "$NFS/work/k8s/prod/web/counter/count" "$c0"
	check "$f: StopContainer on B: checkpointed" quiet on B --timeout 10 stop "$c"
	end_pod B "$p" "$c"
	pod=$(pod_json web-7f9c-qqqqq uid-d-3)
	p=$(new_pod B "$pod")
	c=$(new_ctr B "$p" "$pod" "$(ctr_json 0 0)")
	quiet on B start "$c"
	check "$f: without the annotation a new random name is a new identity" \
		[ "$(show_json B "$c" | jq -r .identity)" = prod/web-7f9c-qqqqq/counter ]
	check "$f: ... and starts fresh" not restored B "$c"
	check "$f: ... the other identity's image untouched" test -s "$img/manifest.json"
	echo 0 >"$(work_of web-7f9c-qqqqq)/stop"
	check "$f: it exits 0" wait_for 20 is_state B "$c" CONTAINER_EXITED
	end_pod B "$p" "$c"
	rm -rf "$img" "$img.lease" "$NFS/work/k8s/prod/web"
}

# arch: an image made on a node of another architecture is not restored.
arch() {
	local f="$FLAVOUR/arch" pod p c m
	pod=$(pod_json web-5 uid-h-1)
	p=$(new_pod A "$pod")
	c=$(new_ctr A "$p" "$pod" "$(ctr_json 0 0)")
	quiet on A start "$c"
	wait_for 20 count_above web-5 5
	check "$f: StopContainer: checkpointed" quiet on A --timeout 10 stop "$c"
	end_pod A "$p" "$c"
	m=$(img_of web-5)/manifest.json
	check "$f: the manifest names the architecture" [ "$(jq -r .arch "$m")" = "$(uname -m)" ]
	jq '.arch = "riscv64"' "$m" >"$m.new" && mv "$m.new" "$m"
	pod=$(pod_json web-5 uid-h-2)
	p=$(new_pod B "$pod")
	c=$(new_ctr B "$p" "$pod" "$(ctr_json 0 0)")
	quiet on B start "$c"
	check "$f: an image of a riscv64 node: fresh start" not restored B "$c"
	check "$f: ... and why" restore_reason_has B "$c" "image of a riscv64 node"
	check "$f: ... the image kept" test -s "$m"
	echo 0 >"$(work_of web-5)/stop"
	check "$f: exits 0" wait_for 20 is_state B "$c" CONTAINER_EXITED
	end_pod B "$p" "$c"
}

# lease: B's create while A's container runs, then during its checkpoint.
lease_flows() {
	local f="$FLAVOUR/lease" pod pa ca pb cb pb2 cb2 c0 waited stopper starter held
	pod=$(pod_json web-2 uid-l-1)
	pa=$(new_pod A "$pod")
	# 150 MiB written: A's checkpoint lasts long enough to be seen (and
	# held) while it runs.
	ca=$(new_ctr A "$pa" "$pod" "$(ctr_json 0 0 150)")
	quiet on A start "$ca"
	check "$f: A: counting" wait_for 20 count_above web-2 10
	pb=$(new_pod B "$(pod_json web-2 uid-l-2)")
	cb=$(new_ctr B "$pb" "$(pod_json web-2 uid-l-2)" "$(ctr_json 0 0)")
	check "$f: B's StartContainer while A's container runs" quiet on B start "$cb"
	check "$f: B's container runs" is_state B "$cb" CONTAINER_RUNNING
	check "$f: ... started fresh without tardis, logged" \
		grep -q "k8s.io/$cb: identity prod/web-2/counter: held by k8s.io/$ca on node node-A.*starting fresh without tardis" \
		"$(log_of B)"
	check "$f: ... tardis keeps no state of it" not ctl B show "k8s.io/$cb"
	check "$f: the lease is still A's" [ "$(lease web-2 id)" = "$ca" ]
	end_pod B "$pb" "$cb" 1
	check "$f: A's container still counts" wait_for 10 count_above web-2 "$(count_of web-2)"
	# B is ready to start when A's checkpoint begins.
	pb2=$(new_pod B "$(pod_json web-2 uid-l-3)")
	cb2=$(new_ctr B "$pb2" "$(pod_json web-2 uid-l-3)" "$(ctr_json 0 0)")
	on A --timeout 10 stop "$ca" >/dev/null 2>&1 &
	stopper=$!
	check "$f: A's checkpoint under way (lease: checkpointing)" wait_for 20 lease_is web-2 checkpointing
	# A's tardis-runc is held (SIGSTOP) until B's create says it waits:
	# B meets the checkpoint under way whatever the machine's speed.
	held=$(tardis_runc_of "$ca")
	check "$f: ... A's tardis-runc held mid-checkpoint" [ -n "$held" ]
	# shellcheck disable=SC2086 # pids
	[ -z "$held" ] || kill -STOP $held
	check "$f: ... the lease still says so" lease_is web-2 checkpointing
	quiet on B start "$cb2" &
	starter=$!
	wait_for 20 grep -q "k8s.io/$cb2: identity prod/web-2/counter is being checkpointed" "$(log_of B)"
	# shellcheck disable=SC2086 # pids
	[ -z "$held" ] || kill -CONT $held
	check "$f: B's StartContainer during A's checkpoint" wait "$starter"
	wait "$stopper"
	c0=$(show_json A "$ca" | jq -r '.last_checkpoint.at // empty')
	check "$f: A was checkpointed" [ -n "$c0" ]
	check "$f: B's create found A's checkpoint under way and waited for it" \
		grep -q "k8s.io/$cb2: identity prod/web-2/counter is being checkpointed by k8s.io/$ca on node node-A: waiting" \
		"$(log_of B)"
	check "$f: ... then took the identity" in_order "$(log_of B)" "k8s.io/$cb2: identity prod/web-2/counter is being" \
		"$(log_of B)" "k8s.io/$cb2: identity prod/web-2/counter is ours"
	check "$f: B restored A's image" restored B "$cb2"
	check "$f: ... the one A's checkpoint just published" \
		[ "$(show_json B "$cb2" | jq -r .restored_from.id)" = "$ca" ]
	quiet on A rm "$ca"
	end_pod A "$pa"
	echo 0 >"$(work_of web-2)/stop"
	check "$f: B's container exits 0" wait_for 20 is_state B "$cb2" CONTAINER_EXITED
	end_pod B "$pb2" "$cb2"
}

# race: two creates of one identity at once, RACE_ROUNDS times.
race() {
	local f="$FLAVOUR/race" pod p c r pa ca pb cb ra rb fa fb sa won=0 bad=0
	pod=$(pod_json web-3 uid-r-0)
	p=$(new_pod A "$pod")
	c=$(new_ctr A "$p" "$pod" "$(ctr_json 0 0)")
	quiet on A start "$c"
	wait_for 20 count_above web-3 5
	quiet on A --timeout 10 stop "$c"
	end_pod A "$p" "$c"
	check "$f: the identity has an image" test -s "$(img_of web-3)/manifest.json"
	for r in $(seq 1 "$RACE_ROUNDS"); do
		pa=$(new_pod A "$(pod_json web-3 "uid-r-$r-a")")
		ca=$(new_ctr A "$pa" "$(pod_json web-3 "uid-r-$r-a")" "$(ctr_json 0 0)")
		pb=$(new_pod B "$(pod_json web-3 "uid-r-$r-b")")
		cb=$(new_ctr B "$pb" "$(pod_json web-3 "uid-r-$r-b")" "$(ctr_json 0 0)")
		on A start "$ca" >/dev/null 2>&1 &
		sa=$!
		on B start "$cb" >/dev/null 2>&1 &
		wait "$sa" $!
		ra=0 rb=0
		restored A "$ca" && ra=1
		restored B "$cb" && rb=1
		fa=$(grep -c "k8s.io/$ca: identity.*starting fresh without tardis" "$(log_of A)")
		fb=$(grep -c "k8s.io/$cb: identity.*starting fresh without tardis" "$(log_of B)")
		if [ $((ra + rb)) = 1 ] && [ $((fa + fb)) = 1 ] && [ $((ra + fa)) = 1 ]; then
			won=$((won + 1))
		else
			bad=$((bad + 1))
			echo "# round $r: restored A=$ra B=$rb, fresh without tardis A=$fa B=$fb"
		fi
		# The one that restored checkpoints again (its lease released), the
		# other is simply stopped.
		if [ $ra = 1 ]; then end_pod A "$pa" "$ca"; end_pod B "$pb" "$cb" 1
		else end_pod B "$pb" "$cb"; end_pod A "$pa" "$ca" 1; fi
	done
	check "$f: $RACE_ROUNDS rounds of two creates at once: exactly one restored each time ($won ok, $bad not)" \
		[ "$won" = "$RACE_ROUNDS" ]
	check "$f: the lease ends released" lease_is web-3 released
}

# dead_node: A dies (containerd, shims, the container, tardisd: no more
# renewals) while its restored container holds the lease.
dead_node() {
	local f="$FLAVOUR/dead node" d pod p c pid spid apid pb cb pb2 cb2 c0
	d=$(dir_of A)
	pod=$(pod_json web-4 uid-x-1)
	p=$(new_pod A "$pod")
	c=$(new_ctr A "$p" "$pod" "$(ctr_json 0 0)")
	quiet on A start "$c"
	wait_for 20 count_above web-4 5
	quiet on A --timeout 10 stop "$c"
	quiet on A rm "$c"
	c=$(new_ctr A "$p" "$pod" "$(ctr_json 0 0)" 1)
	quiet on A start "$c"
	check "$f: A's container restored, holding the lease" \
		[ "$(restored A "$c" && lease web-4 id)" = "$c" ]
	check "$f: tardisd renews it" wait_for $((LEASE_TIMEOUT * 2)) lease_renewed web-4
	# A dies: nothing of it runs any more, nothing releases the lease.
	pid=$(show_json A "$c" | jq -r .init_pid)
	spid=$(cat "$d/containerd.pid")
	{ kill -9 "$spid" && wait "$spid"; } 2>/dev/null
	for spid in $(pgrep -f -- "-address $d/containerd.sock"); do kill -9 "$spid"; done
	kill -9 "$pid"
	# ... nor any process of its pod (the sandbox's pause): they are this
	# test's, in the pod's cgroup below the test's own cgroup root.
	for spid in $(cat /sys/fs/cgroup/pids"$CRI_CGROUP_ROOT"/poduid-x-1/*/cgroup.procs \
		/sys/fs/cgroup"$CRI_CGROUP_ROOT"/poduid-x-1/*/cgroup.procs 2>/dev/null); do
		kill -9 "$spid"
	done
	apid=$(cat "$d/tardis/tardisd.pid" 2>/dev/null)
	[ "$(cat "/proc/$apid/comm" 2>/dev/null)" = tardisd ] && kill -9 "$apid"
	c0=$(count_of web-4)
	pb=$(new_pod B "$(pod_json web-4 uid-x-2)")
	cb=$(new_ctr B "$pb" "$(pod_json web-4 uid-x-2)" "$(ctr_json 0 0)")
	quiet on B start "$cb"
	check "$f: B, before the lease expires: fresh, without tardis" \
		grep -q "k8s.io/$cb: identity prod/web-4/counter: held by k8s.io/$c on node node-A" "$(log_of B)"
	end_pod B "$pb" "$cb" 1
	check "$f: the lease expires (lease_timeout $LEASE_TIMEOUT s)" \
		wait_for $((LEASE_TIMEOUT * 3)) lease_expired web-4
	pb2=$(new_pod B "$(pod_json web-4 uid-x-3)")
	cb2=$(new_ctr B "$pb2" "$(pod_json web-4 uid-x-3)" "$(ctr_json 0 0)")
	quiet on B start "$cb2"
	check "$f: B, after: A's last image restored" restored B "$cb2"
	check "$f: the count goes on" wait_for 10 count_above web-4 "$c0"
	echo 0 >"$(work_of web-4)/stop"
	check "$f: B's container exits 0" wait_for 20 is_state B "$cb2" CONTAINER_EXITED
	end_pod B "$pb2" "$cb2"
	check "$f: image and lease removed" not test -e "$(img_of web-4)" -o -e "$(img_of web-4).lease"
}
# lease_renewed POD: the lease's renewal time moved since the first call.
RENEWED0=
lease_renewed() {
	local r
	r=$(lease "$1" renewed_at_ns)
	[ -n "$RENEWED0" ] || RENEWED0=$r
	[ "$r" != "$RENEWED0" ]
}
lease_expired() {
	local r t
	r=$(lease "$1" renewed_at_ns)
	t=$(lease "$1" timeout_s)
	[ -n "$r" ] && [ $(($(date +%s%N) - r)) -gt $((t * 1000000000)) ]
}

for FLAVOUR in $FLAVOURS; do
	if ! node_start A "$FLAVOUR" || ! node_start B "$FLAVOUR"; then
		fail "$FLAVOUR: two nodes"
		continue
	fi
	for flow in $FLOWS; do
		[ "$FLAVOUR" = 2 ] || [ "$flow" != race ] || continue
		"$flow"
	done
	cri_stop "$(dir_of A)" "$(dir_of B)"
done
summary
