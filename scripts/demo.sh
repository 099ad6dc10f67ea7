#!/bin/bash
# The main job: build, start the exit monitor, run real containers with
# runc and show how each one ended, as the kernel reported it.
# Everything is private (state dir, bpffs pins, runc root) and removed at the end.
set -euo pipefail
OUT=${OUT:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=$ROOT/$OUT
[ "$(id -u)" -eq 0 ] || { echo "demo: run as root" >&2; exit 1; }

DEMO=$(mktemp -d /tmp/tardis-demo.XXXXXX)
export TARDIS_STATE_DIR=$DEMO/state
export TARDIS_BPF_DIR=/sys/fs/bpf/tardis-demo-$$
export TARDIS_CONFIG=$DEMO/none.conf
RUNC_ROOT=$DEMO/runc
AGENT=
cleanup() {
	for c in $(runc --root "$RUNC_ROOT" list -q 2>/dev/null); do
		runc --root "$RUNC_ROOT" delete --force "$c" >/dev/null 2>&1 || true
	done
	[ -z "$AGENT" ] || { kill "$AGENT" 2>/dev/null; wait "$AGENT" 2>/dev/null || true; }
	"$BIN/tardisd" --unload 2>/dev/null || true
	rm -rf "$DEMO"
}
trap cleanup EXIT
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "start tardisd (state $TARDIS_STATE_DIR, pins $TARDIS_BPF_DIR)"
"$BIN/tardisd" --log-file "$DEMO/tardisd.log" &
AGENT=$!
for _ in $(seq 100); do grep -q running "$DEMO/tardisd.log" 2>/dev/null && break; sleep 0.05; done
cat "$DEMO/tardisd.log"
bpftool prog show pinned "$TARDIS_BPF_DIR/prog"

# run_container ID ARGS...: create with runc, register the init pid with the
# exit monitor (what tardis-runc does after every create), start.
run_container() {
	local id=$1
	shift
	"$ROOT/scripts/rootfs.sh" "$DEMO/$id" "$@"
	runc --root "$RUNC_ROOT" create --bundle "$DEMO/$id" --pid-file "$DEMO/$id.pid" "$id" \
		</dev/null >/dev/null 2>&1
	"$BIN/tardisctl" register "default/$id" "$(cat "$DEMO/$id.pid")"
	runc --root "$RUNC_ROOT" start "$id"
	echo "started $id (host pid $(cat "$DEMO/$id.pid")): $*"
}

wait_record() {
	for _ in $(seq 200); do
		[ -e "$TARDIS_STATE_DIR/containers/default/$1/exit.json" ] && return 0
		sleep 0.05
	done
	echo "no exit record for $1" >&2
	return 1
}

step "run three busybox containers with runc"
run_container ok sh -c 'echo working; sleep 0.2; exit 0'
run_container failing sh -c 'sleep 0.2; exit 3'
run_container killed sleep 1000
sleep 0.3
runc --root "$RUNC_ROOT" kill killed KILL

step "exit records written by tardisd (tardisctl show)"
for id in ok failing killed; do
	wait_record "$id"
	"$BIN/tardisctl" show "default/$id" | jq -c '{id, exit: (.exit | {state, exit_status, signal, wait_status, exited_at, source})}'
done

step "the kernel side, with bpftool"
echo "\$ bpftool map dump pinned $TARDIS_BPF_DIR/counters   (summed)"
"$BIN/tardisctl" counters
echo "\$ tardisctl exits   (the recent_exits map; reading it consumes nothing)"
"$BIN/tardisctl" exits

step "agent log"
grep -E "exit recorded|running" "$DEMO/tardisd.log"
