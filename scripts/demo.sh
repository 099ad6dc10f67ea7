#!/bin/bash
# The main job: the whole tardis flow on this machine, under a private
# containerd with tardis-runc as its runc and a real CRIU:
#   a counter container is stopped and deleted while it runs -> it is saved,
#   created again -> restored, its count continues -> it finishes (exit 0)
#   -> its image is cleaned up.  Exit codes come from the eBPF monitor.
# Everything is private (state dir, bpffs pins, containerd) and removed at the end.
set -euo pipefail
[ "$(id -u)" -eq 0 ] || { echo "demo: run as root" >&2; exit 1; }

# The tests' library: a private temp dir, state dir and bpffs pin dir, all
# removed at the end; a private containerd.
# shellcheck source=tests/lib/lib.sh
. "$(dirname "$0")/../tests/lib/lib.sh"
# shellcheck source=tests/lib/containerd.sh
. "$ROOT/tests/lib/containerd.sh"
export TARDIS_BPF_DIR=/sys/fs/bpf/tardis-demo-$$
export TARDIS_LOG_FILE=$TMP/tardis.log
export TARDIS_RUNC=$(command -v runc)
need_criu 2>/dev/null
NFS=$TMP/networkfs
mkdir -p "$NFS"
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
say() { printf '   %s\n' "$*"; }
wait_status() { for _ in $(seq 100); do task_is counter "$1" && return 0; sleep 0.1; done; return 1; }

step "a private containerd; tardis-runc is the runc it calls; CRIU: $TARDIS_CRIU"
ctd_start
ctd_image
say "image localhost/bb:latest imported"

# The counter keeps its count in memory and writes it to its work dir (on
# the "network filesystem") and to a file of its own rootfs.
COUNTER=$(ctd_counter date 0.2 'echo $i > /count.txt')
run_counter() { run_enabled counter --env TARDIS_CHECKPOINT_ON_STOP=1; }

step "ctr run an opted-in counter (TARDIS_ENABLE=1, TARDIS_CHECKPOINT_ON_STOP=1)"
run_counter
sleep 3
say "task $(task_status counter), count = $(count_of counter), tardisd started on demand (pid $(cat "$TARDIS_STATE_DIR/tardisd.pid"))"

step "stop it and delete it while it runs (ctr task kill; ctr task rm; ctr c rm) — as a node drain does"
ctr_ task kill counter
wait_status STOPPED
before=$(count_of counter)
say "task $(task_status counter) at count $before"
ctr_ task rm counter >/dev/null
ctr_ c rm counter
say "saved image: $NFS/checkpoint/default/counter"
jq -c '{format_version, namespace, id, node, created_at, checkpoint_duration_ms, total_size, files: (.files | length)}' \
	"$NFS/checkpoint/default/counter/manifest.json"
"$BIN/tardisctl" show --json default/counter | jq -c '.exit | {state, exit_status, signal, source}'

step "ctr run the same container again: restored instead of started fresh"
run_counter
sleep 2
say "task $(task_status counter), count = $(count_of counter) (it was $before when it stopped: the count continued)"
say "the file it wrote before: /marker = $(ctr_ task exec --exec-id m counter cat /marker)"
grep -E "restored|answered" "$TARDIS_LOG_FILE" | sed 's/^/   log: /'

step "it finishes with exit code 0"
echo 0 >"$NFS/work/default/counter/stop"
wait_status STOPPED
"$BIN/tardisctl" show --json default/counter | jq -c '.exit | {state, exit_status, exited_at, source}'
ctr_ task rm counter >/dev/null
ctr_ c rm counter
if [ -e "$NFS/checkpoint/default/counter" ]; then say "image still there (unexpected)"; else say "image removed"; fi
if [ -e "$TARDIS_STATE_DIR/containers/default/counter" ]; then say "state still there (unexpected)"; else say "state removed"; fi
grep -E "exit code 0" "$TARDIS_LOG_FILE" | sed 's/^/   log: /'

step "the kernel side: the exit monitor's pinned objects (bpftool)"
bpftool prog show pinned "$TARDIS_BPF_DIR/prog" | sed -n 1,2p # sed reads it all: no SIGPIPE under pipefail
"$BIN/tardisctl" counters
"$BIN/tardisctl" exits
