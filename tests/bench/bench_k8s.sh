#!/bin/bash
# `make bench`, Kubernetes (issue 10): a rescheduled pod's container
# restored at CRI StartContainer, measured side by side with a fresh start
# of the same pod and with tardis's own restore under `ctr run`, in one
# run.  Figures and ratios only: no thresholds, no pass/fail.
#
# One containerd 2.x CRI node (tests/lib/cri.sh), tardis-runc its runc, its
# own tardis state dir, BPF pin dir and log; images and work dirs on a
# network-fs dir under the temp dir.  The container is test_kubernetes.sh's
# server: busybox httpd on the host network and a counter held in memory
# (written to its work dir), opted in, checkpointed on stop.  Each round:
#   fresh    pod prod/web-0 (a new pod UID), CreateContainer, then
#            StartContainer timed: the same identity (prod/web-0/counter)
#            with no image (the previous round's exit 0 removed it), so
#            tardis-runc, tardis enabled, takes its lease and does a fresh
#            `runc create`: the restore path minus the restore.
#   restore  StopContainer (TARDIS_CHECKPOINT_ON_STOP=1: the checkpoint),
#            the container and pod removed; the pod again with a new UID, a
#            new container id; StartContainer timed: containerd's task
#            create (tardis-runc create: the restore) and task start.
#            Then the count must go on from where it was; exit 0 ends the
#            round (image, lease and work dir removed).
#   ctr      the same server under `ctr run -d --runc-binary tardis-runc`
#            on the same containerd (namespace default): `ctr task kill`
#            checkpoints it, the container removed, then `ctr run -d` of the
#            same id timed: the restore.
# The CRI calls are timed around the RPC inside one python process
# (tests/lib/cri.py's client: no interpreter start in the figure); `ctr run
# -d` is timed around the whole ctr process, which also creates the
# container (snapshot, record): compare it with CreateContainer +
# StartContainer too.  "running" is the first poll (10 ms apart) that sees
# the counter move past where it was; the counter writes every 100 ms, so
# that figure is coarse.  The ctr part goes before the k8s part in odd
# rounds, after in even ones; one warm-up round is not counted.
#
# Knobs: BENCH_K8S_ROUNDS (5).
set -u
# shellcheck source=tests/lib/lib.sh
. "$(dirname "$0")/../lib/lib.sh"
# shellcheck source=tests/lib/containerd.sh
. "$ROOT/tests/lib/containerd.sh"
# shellcheck source=tests/lib/cri.sh
. "$ROOT/tests/lib/cri.sh"
# shellcheck source=tests/lib/netns.sh
. "$ROOT/tests/lib/netns.sh"
# shellcheck source=tests/bench/bench_lib.sh
. "$ROOT/tests/bench/bench_lib.sh"
trap 'exit 130' INT TERM

ROUNDS=${BENCH_K8S_ROUNDS:-5}
T0=$SECONDS
[ "$(id -u)" -eq 0 ] || { echo "bench_k8s: must run as root" >&2; exit 1; }
[ -x "$BIN/tardis-runc" ] || { echo "bench_k8s: build first (make)" >&2; exit 1; }
for t in umoci busybox runc jq python3; do
	command -v "$t" >/dev/null || { echo "bench_k8s: skipped: $t not installed"; exit 0; }
done
ctd_tardis_env

# ---- the node ---------------------------------------------------------------
D=$TMP/node
mkdir -p "$D"
printf 'node_name = node-bench\nrestore_wait = 30\n' >"$D/tardis.conf"
export TARDIS_CONFIG=$D/tardis.conf TARDIS_STATE_DIR=$D/tardis
export TARDIS_BPF_DIR=/sys/fs/bpf/tardis-bench-k8s-$$ TARDIS_LOG_FILE=$D/tardis-runc.log
touch "$TARDIS_LOG_FILE"
on_cleanup end_all
on_cleanup cri_stop
echo
echo "# tardis k8s bench: kernel $(uname -r), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ)"
cri_start "$D" || { echo "bench_k8s: skipped: the CRI node did not start"; exit 0; }
echo "# containerd $("$CRI_BIN/containerd" --version | awk '{ print $3 }') (CRI), runc $SHIM," \
	"CRIU $("$CRIU" --version | sed -n 's/^Version: //p')"
# ctr's containers: the node's own ctr, namespace default, runc state of
# their own.
ctr_() { cri_ctr "$D" "$@"; }
ctr_ image import --base-name localhost/bb "$TMP/cri-image/bb.tar" >/dev/null ||
	{ echo "bench_k8s: image import (default namespace) failed" >&2; exit 1; }

# ---- the server (test_kubernetes.sh's) --------------------------------------
SERVER=$CRI_SERVER
POD_NAME=web-0
pod_json() { jq -cn --arg n "$POD_NAME" --arg u "$1" '{namespace:"prod", name:$n, uid:$u}'; }
ctr_json() {
	jq -cn --arg c "$SERVER" --arg nfs "$NFS" --arg port "$1" \
		'{name:"counter", image:"localhost/bb:latest", command:["sh","-c",$c],
		  env:{TARDIS_ENABLE:"1", TARDIS_NETWORKFS_HOST_PATH:$nfs,
		       TARDIS_WORKDIR_CONTAINER_PATH:"/work", TARDIS_CHECKPOINT_ON_STOP:"1",
		       PORT:$port, SERVE:"1", POD:"x"}}'
}
on() { cri_ "$CRI_SOCK" "$@"; }
state_of() { on inspect "$1" 2>/dev/null | jq -r .status.state; }
is_state() { [ "$(state_of "$1")" = "$2" ]; }
K_IMG=$NFS/checkpoint/k8s/prod/$POD_NAME/counter
K_WORK=$NFS/work/k8s/prod/$POD_NAME/counter
C_ID=srv-ctr
C_IMG=$NFS/checkpoint/default/$C_ID
num_in() { # the number in FILE (COUNT_WRITE's, padded); 0 while there is none
	local v
	v=$(tr -d ' \n' 2>/dev/null <"$1")
	[[ $v =~ ^[0-9]+$ ]] && echo "$v" || echo 0
}
above() { [ "$(num_in "$1")" -gt "$2" ]; }
# (busybox wget under timeout: its own -T segfaults on Debian 12.)
answers() { timeout 2 busybox wget -qO- "http://127.0.0.1:$1/" 2>/dev/null | grep -q "page of"; }

# CreateContainer and StartContainer, each RPC timed (time.monotonic) in
# one process: prints "ID CREATE_MS START_MS START_AT" (START_AT: epoch s
# at the StartContainer call).
cat >"$TMP/timed.py" <<'EOF'
import sys, time
sys.path.insert(0, sys.argv[1])
import cri
pb = cri.pb
sock, pod_id, ctr, pod = sys.argv[2:6]
cl = cri.Client(sock, 300)
m0 = time.monotonic()
r = cl.call("CreateContainer", pb.CreateContainerRequest(
    pod_sandbox_id=pod_id, config=cri.container_config(cri.load(ctr)),
    sandbox_config=cri.pod_config(cri.load(pod))), pb.CreateContainerResponse)
at, m1 = time.time(), time.monotonic()
cl.call("StartContainer", pb.StartContainerRequest(container_id=r.container_id),
        pb.StartContainerResponse)
m2 = time.monotonic()
print(r.container_id, "%.1f" % ((m1 - m0) * 1e3), "%.1f" % ((m2 - m1) * 1e3), "%.6f" % at)
EOF
timed_create_start() { # POD_ID CTR_JSON POD_JSON
	/usr/bin/python3 "$TMP/timed.py" "$ROOT/tests/lib" "$CRI_SOCK" "$@" 2>"$TMP/timed.err"
}

# ---- the rounds -------------------------------------------------------------
mkdir -p "$TMP/r" "$TMP/round"
note() { echo "$2" >"$TMP/round/$1"; }
FAILS=0 COUNTED=0 POD='' CID='' CTR_UP=0
oops() { FAILS=$((FAILS + 1)); BAD=1; echo "  round $ROUND: error: $*"; }
log_from() { tail -n +"$(($1 + 1))" "$TARDIS_LOG_FILE"; }
# poll_until FILE ABOVE: epoch s of the first poll that sees FILE's number
# above ABOVE (10 s at most; empty if never).
poll_until() {
	for _ in $(seq 1 1000); do
		above "$1" "$2" && { echo "$EPOCHREALTIME"; return 0; }
		sleep 0.01
	done
	return 1
}
# end_pod: the current pod's container ended as kubelet ends a deleted
# pod's (exit 0 first: no checkpoint), the pod removed.
end_pod() {
	if [ -n "$CID" ]; then
		[ ! -d "$K_WORK" ] || echo 0 >"$K_WORK/stop"
		wait_for 20 is_state "$CID" CONTAINER_EXITED
		on rm "$CID" >/dev/null 2>&1
	fi
	[ -z "$POD" ] || { on stopp "$POD" >/dev/null 2>&1; on rmp "$POD" >/dev/null 2>&1; }
	POD='' CID=''
}
end_ctr() {
	[ "$CTR_UP" = 1 ] || return 0
	ctd_finish "$C_ID"
	CTR_UP=0
}
end_all() { end_pod; end_ctr; }

# k8s_start WHAT UID PORT: pod prod/web-0 with UID, its container created
# and started (timed); figures k.WHAT.start, k.WHAT.create, k.WHAT.run
# (StartContainer call -> the count moves past ABOVE, the global).
k8s_start() {
	local what=$1 n out at t c_ms s_ms
	n=$(wc -l <"$TARDIS_LOG_FILE")
	POD=$(on runp "$(pod_json "$2")" | jq -r .id)
	[ -n "$POD" ] || { oops "RunPodSandbox failed"; return 1; }
	out=$(timed_create_start "$POD" "$(ctr_json "$3")" "$(pod_json "$2")") ||
		{ oops "k8s $what: create/start failed: $(tail -1 "$TMP/timed.err")"; return 1; }
	read -r CID c_ms s_ms at <<<"$out"
	t=$(poll_until "$K_WORK/count" "$ABOVE") || oops "k8s $what: the count did not move past $ABOVE"
	note "k.$what.create" "$c_ms"
	note "k.$what.start" "$s_ms"
	note "k.$what.run" "$(ms_between "$at" "$t")"
	is_state "$CID" CONTAINER_RUNNING || oops "k8s $what: $CID is not running"
	if [ "$what" = restore ]; then
		log_from "$n" | grep -q "create k8s.io/$CID: restored" ||
			{ oops "k8s: not restored"; log_from "$n" | tail -3; return 1; }
		note k.restore.tardis "$(log_from "$n" | sed -n "s/.*create k8s.io\/$CID: restored from .* in \([0-9]*\) ms.*/\1/p")"
	else
		! log_from "$n" | grep -q "create k8s.io/$CID: restored" || oops "k8s fresh: it restored"
		[ -d "$TARDIS_STATE_DIR/containers/k8s.io/$CID" ] || oops "k8s fresh: not under tardis"
	fi
}

# k8s_part: fresh start, checkpoint by StopContainer, rescheduled restore, exit 0.
k8s_part() {
	local port c0
	port=$(free_port)
	ABOVE=0
	k8s_start fresh "uid-$ROUND-a" "$port" || return 1
	wait_for 20 above "$K_WORK/count" 10 || oops "k8s: not counting"
	wait_for 10 answers "$port" || oops "k8s fresh: httpd does not answer"
	on --timeout 10 stop "$CID" >/dev/null 2>&1 || oops "k8s: StopContainer failed"
	grep -q "k8s.io/$CID: checkpointed (stop signal)" "$TARDIS_LOG_FILE" ||
		{ oops "k8s: no checkpoint on stop"; return 1; }
	c0=$(num_in "$K_WORK/count")
	on rm "$CID" >/dev/null 2>&1
	CID=''
	end_pod
	ABOVE=$c0
	k8s_start restore "uid-$ROUND-b" "$port" || return 1
	wait_for 10 answers "$port" || oops "k8s restore: httpd does not answer again"
	end_pod
	wait_for 10 not test -e "$K_IMG" -o -e "$K_WORK" ||
		oops "k8s: exit 0 left the image or the work dir"
}

# ctr_run WHAT PORT: `ctr run -d` of the server, timed: c.WHAT, c.WHAT.run.
ctr_run() {
	local what=$1 n t te tr
	n=$(wc -l <"$TARDIS_LOG_FILE")
	t=$EPOCHREALTIME
	COUNTER=$SERVER run_enabled "$C_ID" --net-host --env TARDIS_CHECKPOINT_ON_STOP=1 \
		--env PORT="$2" --env SERVE=1 --env POD=x || { oops "ctr $what: ctr run failed"; return 1; }
	te=$EPOCHREALTIME
	CTR_UP=1
	tr=$(poll_until "$NFS/work/default/$C_ID/count" "$ABOVE") || oops "ctr $what: the count did not move past $ABOVE"
	note "c.$what" "$(ms_between "$t" "$te")"
	note "c.$what.run" "$(ms_between "$t" "$tr")"
	if [ "$what" = restore ]; then
		log_from "$n" | grep -q "create default/$C_ID: restored" ||
			{ oops "ctr: not restored"; log_from "$n" | tail -3; return 1; }
		note c.restore.tardis "$(log_from "$n" | sed -n "s/.*create default\/$C_ID: restored from .* in \([0-9]*\) ms.*/\1/p")"
	fi
}

# ctr_part: fresh run, checkpoint by `ctr task kill`, restore by `ctr run`, exit 0.
ctr_part() {
	local port c0 t te
	port=$(free_port)
	ABOVE=0
	ctr_run fresh "$port" || return 1
	wait_for 20 count_at_least "$C_ID" 10 || oops "ctr: not counting"
	t=$EPOCHREALTIME
	ctr_ task kill "$C_ID" >/dev/null 2>&1
	wait_for 30 not task_is "$C_ID" RUNNING || oops "ctr: still running after kill"
	te=$EPOCHREALTIME
	note c.kill "$(ms_between "$t" "$te")"
	t=$EPOCHREALTIME
	ctr_ version >/dev/null 2>&1
	note c.version "$(ms_between "$t" "$EPOCHREALTIME")"
	[ -s "$C_IMG/manifest.json" ] || { oops "ctr: no image after kill"; return 1; }
	c0=$(count_of "$C_ID")
	remove_container "$C_ID"
	CTR_UP=0
	ABOVE=$c0
	ctr_run restore "$port" || return 1
	wait_for 10 answers "$port" || oops "ctr restore: httpd does not answer again"
	end_ctr
	wait_for 10 not test -e "$C_IMG" -o -e "$NFS/work/default/$C_ID" ||
		oops "ctr: exit 0 left the image or the work dir"
}

bench_round() {
	local f
	rm -f "$TMP/round/"*
	BAD=0
	if [ $((ROUND % 2)) = 1 ]; then
		ctr_part && k8s_part
	else
		k8s_part && ctr_part
	fi || return 1
	[ "$BAD" = 0 ] || { echo "  round $ROUND: not counted"; end_all; return 0; }
	[ "$ROUND" -gt 0 ] || { echo "  round 0 (warm-up): k8s restore $(cat "$TMP/round/k.restore.start") ms"; return 0; }
	for f in "$TMP/round/"*; do
		cat "$f" >>"$TMP/r/${f##*/}"
	done
	COUNTED=$((COUNTED + 1))
	printf '  round %d: k8s StartContainer: restore %6.1f ms, fresh %6.1f ms | ctr run -d: restore %6.1f ms, fresh %6.1f ms\n' \
		"$ROUND" "$(cat "$TMP/round/k.restore.start")" "$(cat "$TMP/round/k.fresh.start")" \
		"$(cat "$TMP/round/c.restore")" "$(cat "$TMP/round/c.fresh")"
}

med() { [ -s "$TMP/r/$1" ] && median "$TMP/r/$1" || echo "n/a"; }
sum_of() { paste "$TMP/r/$1" "$TMP/r/$2" | awk '{ print $1 + $2 }' >"$TMP/r/$3"; }
row() { printf '%-58s %9s\n' "$1" "$(med "$2")"; }

echo
echo "## 4. Kubernetes: a rescheduled pod (prod/web-0: new pod UID, new container id) restored at" \
	"CRI StartContainer, vs a fresh start and vs ctr's restore ($ROUNDS rounds + 1 warm-up, interleaved)"
for ROUND in $(seq 0 "$ROUNDS"); do
	bench_round || { echo "bench_k8s: round $ROUND failed; no more rounds"; end_all; break; }
done
KR=$(med k.restore.start) KF=$(med k.fresh.start) CR=$(med c.restore)
if [ "$COUNTED" -gt 0 ]; then
	sum_of k.restore.create k.restore.start k.restore.both
	sum_of k.fresh.create k.fresh.start k.fresh.both
	echo
	printf '%-58s %9s\n' "median over $COUNTED checked rounds (ms)" ""
	row "k8s restore: StartContainer (task create = restore, start)" k.restore.start
	row "  of which tardis's restore (its log: restored in)" k.restore.tardis
	row "  CreateContainer before it" k.restore.create
	row "  CreateContainer + StartContainer" k.restore.both
	row "  StartContainer call -> the count goes on" k.restore.run
	row "k8s fresh start: StartContainer (same pod, no image)" k.fresh.start
	row "  CreateContainer + StartContainer" k.fresh.both
	row "  StartContainer call -> the first count" k.fresh.run
	row "ctr restore: ctr run -d (container + task create = restore, start)" c.restore
	row "  of which tardis's restore (its log: restored in)" c.restore.tardis
	row "  ctr run -d -> the count goes on" c.restore.run
	row "ctr fresh: ctr run -d (no image)" c.fresh
	row "ctr task kill -> stopped (the checkpoint)" c.kill
	row "ctr version (ctr's own process start + one RPC)" c.version
fi
[ "$FAILS" = 0 ] || echo "warning: $FAILS errors in the rounds (see above); those rounds are not counted"
echo
echo "## k8s summary (one run, $((SECONDS - T0)) s; medians, lower is better)"
echo "k8s restore (StartContainer) $KR ms vs fresh start $KF ms ($(ratio "$KR" "$KF"))"
echo "k8s restore (StartContainer) $KR ms vs ctr restore $CR ms ($(ratio "$KR" "$CR"))"
if [ "$COUNTED" -gt 0 ]; then
	echo "k8s restore (CreateContainer + StartContainer) $(med k.restore.both) ms vs ctr restore $CR ms" \
		"($(ratio "$(med k.restore.both)" "$CR"); ctr run -d also creates the container, and is a process of its own)"
fi
exit 0
