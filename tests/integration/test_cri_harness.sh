#!/bin/bash
# The CRI test harness (tests/lib/cri.sh, cri.py; docs/kubernetes.md) on
# both containerd flavours it offers: the pinned containerd 2.x and Debian
# 12's containerd 1.6 (CRI_CONTAINERD=1.6).  For each, a node with the plain
# runc, then one with tardis-runc, runs the kubelet flow for pod prod/web-0
# (host network) with a busybox counter: RunPodSandbox, CreateContainer,
# StartContainer, the count growing (read by ExecSync), StopContainer with a
# grace period (the exit code the CRI records: TERM or KILL), the removals,
# and cri_stop leaving no containerd, shim, mount or cgroup behind.  Under
# tardis-runc the counter is opted in (TARDIS_ENABLE=1): only its create is
# intercepted, never the pause container's, and CRI CheckpointContainer
# gives an archive of CRIU images while the container goes on counting
# (containerd 1.6's CRI has no CheckpointContainer: it answers
# UNIMPLEMENTED, and that check is skipped).
# shellcheck source=tests/lib/lib.sh
. "$(dirname "$0")/../lib/lib.sh"
# shellcheck source=tests/lib/containerd.sh
. "$ROOT/tests/lib/containerd.sh"
# shellcheck source=tests/lib/cri.sh
. "$ROOT/tests/lib/cri.sh"

ctd_tardis_env
on_cleanup cri_stop
GRACE=2
POD='{"namespace":"prod","name":"web-0","uid":"uid-h-1"}'
# The counter writes /work/count: a dir of its rootfs under the plain runc,
# tardis's work dir (NFS) when opted in.
# shellcheck disable=SC2119 # ctd_counter with its defaults
COUNTER="busybox mkdir -p /work
$(ctd_counter)"

quiet() { "$@" >/dev/null; }
count() { local c; c=$(cri_ exec "$1" -- cat /work/count 2>/dev/null | tr -d ' \n'); echo "${c:-0}"; }
count_above() { [ "$(count "$1")" -gt "$2" ]; }
# grows ID: the count read through the CRI goes on from its value now.
grows() {
	local n
	n=$(count "$1")
	[ "$n" -gt 0 ] && wait_for 20 count_above "$1" "$n"
}
state_of() { cri_ inspect "$1" 2>/dev/null | jq -r .status.state; }
exit_code() { cri_ inspect "$1" 2>/dev/null | jq -r '.status.exit_code // 0'; }
pod_cgroups() { find /sys/fs/cgroup -maxdepth 3 -type d -path "*$CRI_CGROUP_ROOT/poduid-h-1" 2>/dev/null; }
# leftovers DIR: what of node DIR is still there (processes on its socket,
# mounts below it, the pods' cgroups).
leftovers() {
	local p
	for p in /proc/[0-9]*; do
		tr '\0' ' ' 2>/dev/null <"$p/cmdline" | grep -q -- "$1/" && echo "process ${p#/proc/}"
	done
	findmnt -rn -o TARGET | grep "^$1/"
	find /sys/fs/cgroup -maxdepth 2 -type d -path "*$CRI_CGROUP_ROOT" 2>/dev/null
}

# run_pod F ENV_JSON: pod prod/web-0 with the counter (env ENV_JSON), started
# and counting; P and C its ids.
run_pod() {
	local ctr
	P=$(cri_ runp "$POD" | jq -r .id)
	check "$1: RunPodSandbox gives a pod id" [ -n "$P" ]
	ctr=$(jq -n --arg c "$COUNTER" --argjson env "$2" \
		'{name:"counter", image:"localhost/bb:latest", command:["sh","-c",$c], env:$env}')
	C=$(cri_ create "$P" "$ctr" "$POD" | jq -r .id)
	check "$1: CreateContainer gives a container id" [ -n "$C" ]
	check "$1: StartContainer" quiet cri_ start "$C"
	check "$1: the container runs" [ "$(state_of "$C")" = CONTAINER_RUNNING ]
	check "$1: its count (ExecSync cat) grows" grows "$C"
	check "$1: the pod's cgroup exists below $CRI_CGROUP_ROOT" [ -n "$(pod_cgroups)" ]
}

# end_pod F DIR: StopContainer (grace GRACE), the removals, cri_stop DIR.
end_pod() {
	local code
	check "$1: StopContainer --timeout $GRACE" quiet cri_ --timeout "$GRACE" stop "$C"
	code=$(exit_code "$C")
	check "$1: the container exited" [ "$(state_of "$C")" = CONTAINER_EXITED ]
	check "$1: its exit code ($code) is TERM's or KILL's" [ "$code" = 143 -o "$code" = 137 ]
	check "$1: RemoveContainer" quiet cri_ rm "$C"
	check "$1: StopPodSandbox" quiet cri_ stopp "$P"
	check "$1: RemovePodSandbox" quiet cri_ rmp "$P"
	check "$1: no pod and no container left" \
		[ "$(cri_ pods | jq '.items | length')$(cri_ ps | jq '.containers | length')" = 00 ]
	cri_stop "$2"
	local left
	left=$(leftovers "$2")
	check "$1: cri_stop leaves no process, mount or cgroup${left:+ (left: $left)}" [ -z "$left" ]
}

# plain F: the flow under the plain runc.
plain() {
	local d=$TMP/$1-runc
	if ! CRI_CONTAINERD=$1 CRI_RUNC=runc cri_start "$d"; then
		fail "$1/runc: cri_start"
		return
	fi
	check "$1/runc: CRI runtime.v1 Version answers" \
		[ "$(cri_ version | jq -r .runtime_api_version)" = v1 ]
	run_pod "$1/runc" '{}'
	end_pod "$1/runc" "$d"
}

# tardis F: the flow under tardis-runc, the counter opted in.
tardis() {
	local d=$TMP/$1-tardis f=$1/tardis-runc err
	mkdir -p "$d"
	if ! CRI_CONTAINERD=$1 TARDIS_STATE_DIR=$d/tardis TARDIS_BPF_DIR=/sys/fs/bpf/tardis-test-$$-$1 \
		TARDIS_LOG_FILE=$d/tardis-runc.log cri_start "$d"; then
		fail "$f: cri_start"
		return
	fi
	run_pod "$f" "$(jq -n --arg nfs "$NFS" '{TARDIS_ENABLE:"1", TARDIS_NETWORKFS_HOST_PATH:$nfs,
		TARDIS_WORKDIR_CONTAINER_PATH:"/work"}')"
	check "$f: the count lives in tardis's work dir" [ -s "$NFS/work/k8s/prod/web-0/counter/count" ]
	check "$f: one create intercepted, the container's (never the pause's)" \
		[ "$(grep -c 'intercepted: create' "$d/tardis-runc.log")" = 1 -a \
		"$(grep 'intercepted: create' "$d/tardis-runc.log" | grep -c "k8s.io/$C ")" = 1 ]
	if cri_ --timeout 60 checkpoint "$C" "$d/ck.tar" >/dev/null 2>"$d/ck.err"; then
		tar tf "$d/ck.tar" >"$d/ck.list" 2>&1
		check "$f: CheckpointContainer's archive holds CRIU's images ($(grep -c '\.img$' "$d/ck.list"))" \
			grep -qx 'checkpoint/inventory.img' "$d/ck.list"
		check "$f: ... and pages" grep -q '^checkpoint/pages-[0-9]*\.img$' "$d/ck.list"
		check "$f: the container goes on running" [ "$(state_of "$C")" = CONTAINER_RUNNING ]
		check "$f: ... and counting" grows "$C"
	elif [ "$1" = 1.6 ] && grep -q 'checkpoint: UNIMPLEMENTED' "$d/ck.err"; then
		echo "skip - $f: CheckpointContainer ($(cat "$d/ck.err"))"
		check "$f: the container still runs" grows "$C"
	else
		err=$(cat "$d/ck.err")
		fail "$f: CheckpointContainer: $err"
	fi
	end_pod "$f" "$d"
}

for flavour in 2 1.6; do
	plain "$flavour"
	tardis "$flavour"
done
summary
