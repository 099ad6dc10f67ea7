#!/bin/bash
# A network filesystem that hangs never wedges a runc call (issue 16).
# A private containerd whose containers keep their images (and work dirs)
# on a network filesystem of our own, NETFS:
#   sshfs (default): a mount of our own sshd (tests/lib/sshfs.sh); the hang:
#     the sshd and its per-connection processes stopped (SIGSTOP);
#   nfs: an NFSv4 mount of a private kernel nfsd (tests/lib/nfs.sh, a
#     vmtest guest: test_netfs_hang_nfs.sh); the hang: nfsd stopped
#     (`rpc.nfsd 0`), the hard mount's calls retry until it is back.
# Every access to the mount then blocks.  With TARDIS_NETWORKFS_TIMEOUT=3
# each call returns on its own, with the behaviour README "A network
# filesystem that hangs" gives:
#   stop signal: the checkpoint is abandoned, runc kills the init (over NFS
#   the container stops once the server answers: a killed process with a
#   write in flight waits for it, uninterruptibly);
#   create with a work dir: fails with an error naming it; without: fresh;
#   delete --force: the container goes; delete after exit 0: at once, the
#   image left (purge_pending) for the next create or `tardisctl gc`;
#   tardisctl list: returns, the image "unreachable".
# Then the server answers again (sshd resumed; nfsd restarted, its grace
# period waited out by the client): the helpers left behind end, no image
# is half there, the next create restores the earlier image and counts on,
# the finished containers' images are removed and never restored.
# Each call is run under a 120 s guard (it hung for 600 s before); the time
# it took is printed.
# shellcheck source=tests/lib/lib.sh
. "$(dirname "$0")/../lib/lib.sh"
# shellcheck source=tests/lib/containerd.sh
. "$ROOT/tests/lib/containerd.sh"
NETFS=${NETFS:-sshfs}
case $NETFS in
sshfs) # shellcheck source=tests/lib/sshfs.sh
	. "$ROOT/tests/lib/sshfs.sh" ;;
nfs) # shellcheck source=tests/lib/nfs.sh
	. "$ROOT/tests/lib/nfs.sh" ;;
*) fail "NETFS=$NETFS: sshfs or nfs"; summary; exit 1 ;;
esac

export TARDIS_NETWORKFS_TIMEOUT=3
ctd_tardis_env
EXPORT=$TMP/export
NFS=$TMP/node-a
# How long the server may take to answer again once it runs: an NFS client
# reconnects with a backoff (up to timeo * (retrans + 1)) and the restarted
# nfsd is in its grace period (10 s) before it opens anything.
THAW_WAIT=60
if [ "$NETFS" = sshfs ]; then
	if ! sshfs_up "$EXPORT" "$NFS" "$TMP/node-b"; then
		fail "sshfs over a private sshd"
		summary
		exit 1
	fi
else
	NFS_LOG=$TMP/nfs.log
	nfs_up "$EXPORT" "$NFS" "$TMP/node-b"
	rc=$?
	if [ "$rc" -eq 2 ]; then
		nfs_down
		echo "SKIP - netfs_hang over NFSv4: $NFS_WHY"
		summary
		exit 0
	fi
	# After ctd_stop: what is left of the containers ended and their last
	# writes on the server before it stops (a killed writer waits for its
	# writeback, uninterruptibly: with the server gone, for ever).
	on_cleanup nfs_settle
	on_cleanup nfs_down
	if [ "$rc" -ne 0 ]; then
		fail "NFSv4: $NFS_WHY"
		sed 's/^/# nfs.log: /' "$NFS_LOG"
		summary
		exit 1
	fi
	NFS_THREADS=$(cat /proc/fs/nfsd/threads)
	NFS_DEVS="$(stat -c %d "$NFS") $(stat -c %d "$TMP/node-b")"
	THAW_WAIT=180
	echo "# NFSv4 server ($NFS_THREADS threads) and mounts up in $SECONDS s"
fi
# nfs_settle: the processes (the test's containers) with a file or their
# cwd on the mounts killed and waited for, everything flushed; at most 60 s.
nfs_settle() {
	local i pids
	for i in $(seq 1 60); do
		pids=$(timeout -s KILL 10 python3 - $NFS_DEVS <<-'PY'
			import os, sys
			devs = {int(d) for d in sys.argv[1:]}
			for p in filter(str.isdigit, os.listdir("/proc")):
			    try:
			        ents = [f"/proc/{p}/cwd"] + [f"/proc/{p}/fd/{f}" for f in os.listdir(f"/proc/{p}/fd")]
			    except OSError:
			        continue
			    for e in ents:
			        try:
			            if os.stat(e).st_dev in devs:
			                print(p)
			                break
			        except OSError:
			            pass
		PY
		)
		[ -n "$pids" ] || break
		echo "# still on the NFS mounts: $(echo $pids)"
		# shellcheck disable=SC2086
		kill -KILL $pids 2>/dev/null
		sleep 1
	done
	timeout -s KILL 60 sync
}
ctd_start || { fail "containerd"; summary; exit 1; }
ctd_image || { fail "image"; summary; exit 1; }

# The image and work dir of ID as the server has them (never through the
# mount, which may hang).
srv_image() { echo "$EXPORT/checkpoint/default/$1"; }
srv_count() { count_file "$EXPORT/work/default/$1/count"; }
srv_count_above() { [ "$(srv_count "$1")" -gt "$2" ]; }
restored() { grep -c "create default/$1: restored" "$TARDIS_LOG_FILE"; }

# The container of ID without a work dir: it counts in its rootfs and ends
# with 0 once /stop is there; its image on the mount.
ROOT_COUNTER='i=0; while [ ! -e /stop ]; do i=$((i + 1)); echo $i > /count.txt; sleep 0.1; done; exit 0'
run_nowork() {
	ctr_ run -d --runc-binary "$SHIM" --runc-root "$RUNC_ROOT" --env TARDIS_ENABLE=1 \
		--env TARDIS_NETWORKFS_HOST_PATH="$NFS" localhost/bb:latest "$1" sh -c "$ROOT_COUNTER"
}
rootfs_count() { ctr_ task exec --exec-id "c$RANDOM" "$1" cat /count.txt 2>/dev/null || echo 0; }

# timed CMD...: CMD (a command or one of the functions exported here) under
# a 120 s guard; RC its status, SECS its duration, its output in timed.out.
export CTD_SOCK SHIM RUNC_ROOT NFS ROOT_COUNTER
export -f ctr_ run_enabled run_nowork remove_container ctd_counter
timed() {
	local t0
	t0=$(date +%s.%N)
	timeout -s KILL 120 bash -c '"$@"' _ "$@" >"$TMP/timed.out" 2>&1
	RC=$?
	SECS=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
}
returned() { [ "$RC" != 137 ]; }
# killed PID: PID is gone, exiting (PF_EXITING) or has SIGKILL pending.
killed() {
	local flags pnd
	[ -n "$1" ] || return 1
	flags=$(awk '{ print $9 }' "/proc/$1/stat" 2>/dev/null) || return 0
	[ -n "$flags" ] || return 0
	[ $((flags & 0x4)) = 0 ] || return 0
	for pnd in $(sed -n 's/^\(SigPnd\|ShdPnd\):[[:space:]]*//p' "/proc/$1/status" 2>/dev/null); do
		[ $((0x$pnd & 0x100)) = 0 ] || return 0
	done
	return 1
}
keep_gone_or_stopped() { ! ctr_ c info keep >/dev/null 2>&1 || task_is keep STOPPED; }

# The sshd and everything it forked (the sftp sessions): stopped, resumed.
sshd_tree() {
	local pids=$SSHFS_SSHD_PID p more=1
	[ -n "$pids" ] || return 0
	while [ -n "$more" ]; do
		more=
		for p in /proc/[0-9]*; do
			p=${p#/proc/}
			case " $pids " in *" $p "*) continue ;; esac
			local pp
			pp=$(awk '{ print $4 }' "/proc/$p/stat" 2>/dev/null)
			[ -n "$pp" ] || continue
			case " $pids " in *" $pp "*) pids="$pids $p" more=1 ;; esac
		done
	done
	echo "$pids"
}
sshd_signal() { # STOP | CONT
	local pids
	pids=$(sshd_tree)
	# shellcheck disable=SC2086
	[ -z "$pids" ] || kill -"$1" $pids 2>/dev/null
}
# The server stopped (freeze) and running again (thaw; a no-op unless frozen).
FROZEN=
freeze() {
	FROZEN=1
	case $NETFS in
	sshfs) sshd_signal STOP ;;
	nfs) rpc.nfsd 0 >>"$NFS_LOG" 2>&1 ;;
	esac
}
thaw() {
	[ -n "$FROZEN" ] || return 0
	FROZEN=
	case $NETFS in
	sshfs) sshd_signal CONT ;;
	nfs) rpc.nfsd -H 127.0.0.1 -N 3 --no-udp "$NFS_THREADS" >>"$NFS_LOG" 2>&1 ;;
	esac
}
# First of all the clean-ups: the mounts cannot go while their server is stopped.
CLEANUP_HOOKS=('thaw' "${CLEANUP_HOOKS[@]}")
# A lookup the client cannot answer from its caches (NFS keeps a
# directory's attributes up to 30 s): a name never looked up before.
probe() { timeout -s KILL "$1" stat "$NFS/checkpoint/.probe-$RANDOM$RANDOM" >/dev/null 2>&1; [ $? != 137 ]; }
# A file made and removed: also past a restarted nfsd's grace period (no
# OPEN until it ends), which each network call of tardis would not wait out.
probe_write() {
	timeout -s KILL "$1" sh -c 'f=$1/.probe-$$; : >"$f" && rm -f "$f"' _ "$NFS/checkpoint" 2>/dev/null
}

# ---- before the hang: an image for "keep", restored; "fin", "fin2" and
# "force" running with images on the mount --------------------------------
# FIN: the containers that exit 0 during the hang; FORCE: the one deleted
# with --force.  Under TCG (the NFS variant's vmtest guest, within its
# 420 s) each checkpoint and restore takes half a minute: there only "fin"
# (the next create removes its image); not "fin2" (gc does) nor "force"
# (its checkpoint abandoned as the stop signal's is), both checked over sshfs.
FIN="fin fin2" FORCE=force
[ "$NETFS" = sshfs ] || FIN=fin FORCE=
run_enabled keep --env TARDIS_CHECKPOINT_ON_STOP=1
check "keep: counting on the $NETFS work dir" wait_for 60 srv_count_above keep 10
ctr_ c checkpoint --task keep localhost/ckpt-keep:1 >/dev/null 2>&1
check "keep: image v1 on the server" [ -s "$(srv_image keep)/manifest.json" ]
c1=$(srv_count keep)
remove_container keep
ctr_ image rm localhost/ckpt-keep:1 >/dev/null 2>&1
run_enabled keep --env TARDIS_CHECKPOINT_ON_STOP=1
check "keep: restored from v1" [ "$(restored keep)" = 1 ]
check "keep: counts on ($c1 ->)" wait_for 20 srv_count_above keep "$c1"
for id in $FIN $FORCE; do
	run_nowork "$id"
	wait_for 20 task_is "$id" RUNNING
	ctr_ c checkpoint --task "$id" "localhost/ckpt-$id:1" >/dev/null 2>&1
	remove_container "$id"
	ctr_ image rm "localhost/ckpt-$id:1" >/dev/null 2>&1
	run_nowork "$id"
	check "$id: restored from its image on the mount" [ "$(restored "$id")" = 1 ]
done
IMG_KEEP=$(stat -c %Y "$(srv_image keep)/manifest.json")

# ---- the hang ---------------------------------------------------------------
freeze
[ "$NETFS" = sshfs ] || echo "# nfsd threads: $(cat /proc/fs/nfsd/threads)"
check "the mount hangs (a stat of a new name in it does not return in 5 s)" not probe 5
mark=$(wc -l <"$TARDIS_LOG_FILE")
newlog() { tail -n +"$((mark + 1))" "$TARDIS_LOG_FILE"; }

keep_init=$(ctr_ task ls 2>/dev/null | awk '$1 == "keep" { print $2 }')
timed ctr_ task kill -s KILL keep
check "stop signal: ctr task kill -s KILL returned (${SECS} s, status $RC)" returned
check "stop signal: runc killed the init ($keep_init: gone, exiting or SIGKILL pending)" \
	wait_for 20 killed "$keep_init"
# Over NFS (a hard mount) an init killed with a write in flight waits,
# uninterruptibly, in close() or exit for the server to take it: the
# container stops once the server answers.  sshfs lets it go at once.
if [ "$NETFS" = sshfs ]; then
	check "stop signal: the container stopped" wait_for 60 task_is keep STOPPED
fi
check "stop signal: the checkpoint was abandoned (the log says the network filesystem did not answer)" \
	bash -c 'tail -n +"$1" "$2" | grep -q "default/keep: checkpoint: preparing the image of .* did not answer"' _ "$((mark + 1))" "$TARDIS_LOG_FILE"
check "stop signal: nothing checkpointed" not bash -c 'tail -n +"$1" "$2" | grep -q "default/keep: checkpointed"' _ "$((mark + 1))" "$TARDIS_LOG_FILE"
timed remove_container keep
check "keep: removed, or its removal refused while its init waits (${SECS} s)" returned

timed run_enabled new1
check "create with a work dir: returned (${SECS} s)" returned
check "create with a work dir: failed (status $RC)" [ "$RC" != 0 ]
check "create with a work dir: the error names the work dir: $(head -c 300 "$TMP/timed.out")" \
	grep -q "work dir .*did not answer" "$TMP/timed.out"
check "create with a work dir: no task" not task_is new1 RUNNING
remove_container new1

timed run_nowork fresh1
check "create without a work dir: returned (${SECS} s, status $RC)" [ "$RC" = 0 ]
check "create without a work dir: running, fresh, without tardis" task_is fresh1 RUNNING
check "create without a work dir: the log says so" \
	bash -c 'tail -n +"$1" "$2" | grep -q "create default/fresh1: starting fresh without tardis"' _ "$((mark + 1))" "$TARDIS_LOG_FILE"

if [ -n "$FORCE" ]; then
	timed "$SHIM" --root "$RUNC_ROOT/default" delete --force force
	check "delete --force: returned (${SECS} s, status $RC)" [ "$RC" = 0 ]
	check "delete --force: the container is gone" \
		not bash -c '"$1" --root "$2" state force >/dev/null 2>&1' _ "$(command -v runc)" "$RUNC_ROOT/default"
	timed remove_container force
	check "force: removed from containerd (${SECS} s)" returned
fi

for id in $FIN; do
	ctr_ task exec --exec-id stop "$id" sh -c ': > /stop'
	check "$id: exits 0" wait_for 30 task_is "$id" STOPPED
	timed remove_container "$id"
	check "$id: delete after exit 0 returned (${SECS} s)" returned
	check "$id: its state says purge_pending" \
		[ "$(jq -r .purge_pending "$TARDIS_STATE_DIR/containers/default/$id/state.json" 2>/dev/null)" = true ]
	check "$id: its image is still on the server" [ -s "$(srv_image "$id")/manifest.json" ]
done

timed "$BIN/tardisctl" list
check "tardisctl list: returned (${SECS} s, status $RC)" returned
check "tardisctl list: an image is unreachable" grep -q unreachable "$TMP/timed.out"
sed 's/^/#   /' "$TMP/timed.out"

# ---- the filesystem answers again -----------------------------------------
thaw
t_thaw=$SECONDS
[ "$NETFS" = sshfs ] || echo "# nfsd threads: $(cat /proc/fs/nfsd/threads)"
stuck=$(newlog | sed -n 's/.*(helper \([0-9]*\) left behind).*/\1/p' | sort -u)
echo "# helpers left behind: $(echo $stuck)"
check "helpers were left behind" [ -n "$stuck" ]
all_gone() {
	local p
	for p in $stuck; do kill -0 "$p" 2>/dev/null && return 1; done
	return 0
}
check "the helpers left behind end once the filesystem answers" wait_for "$THAW_WAIT" all_gone
check "the mount answers again (a file made and removed)" wait_for "$THAW_WAIT" probe_write 20
echo "# the mount answered $((SECONDS - t_thaw)) s after the server ran again"
half=0
for d in "$EXPORT"/checkpoint/default/* "$EXPORT"/checkpoint/default/.*; do
	[ -d "$d" ] || continue
	case ${d##*/} in . | ..) continue ;; esac
	case ${d##*/} in
	.*) # a temporary sibling must never validate as an image
		"$BIN/tardisctl" validate "$d" >/dev/null 2>&1 && half=$((half + 1)) ;;
	*) "$BIN/tardisctl" validate "$d" >/dev/null 2>&1 || half=$((half + 1)) ;;
	esac
done
check "no image half there ($half bad)" [ "$half" = 0 ]
check "keep: its image is still v1" [ "$(stat -c %Y "$(srv_image keep)/manifest.json")" = "$IMG_KEEP" ]

check "stop signal: the container stopped (at the latest once the server answered)" \
	wait_for 60 keep_gone_or_stopped
remove_container keep
c2=$(srv_count keep)
run_enabled keep
if ! check "keep: the next create restores v1" [ "$(restored keep)" = 2 ]; then
	grep -E "Error|Warn|fail" "$TARDIS_STATE_DIR/work/default/keep/restore.log" 2>/dev/null | tail -n 20 | sed 's/^/# restore.log: /'
fi
# v1's memory: on from v1's count (c1), not from where it was killed (c2),
# nor from 1 (a fresh start): the first count written after the create.
moved() { [ "$(srv_count keep)" != "$c2" ]; }
wait_for 20 moved
c3=$(srv_count keep)
from_v1() { [ "$c3" -gt "$c1" ] && [ "$c3" -lt "$c2" ]; }
check "keep: counts on from v1's count ($c1 -> $c3, killed at $c2)" from_v1

run_nowork fin
check "fin: the next create does not restore the finished container's image" [ "$(restored fin)" = 1 ]
check "fin: the log says why" grep -q "create default/fin: the last container of this id exited 0" "$TARDIS_LOG_FILE"
check "fin: its old image is gone" [ ! -e "$(srv_image fin)/manifest.json" ]
check "fin: its state is no longer purge_pending" \
	[ "$(jq -r '.purge_pending // false' "$TARDIS_STATE_DIR/containers/default/fin/state.json")" = false ]

timed "$BIN/tardisctl" gc --older-than 1d
sed 's/^/#   /' "$TMP/timed.out"
check "tardisctl gc: returned (${SECS} s, status $RC)" [ "$RC" = 0 ]
if [ "$FIN" != fin ]; then
	check "fin2: gc removed its image" [ ! -e "$(srv_image fin2)" ]
	check "fin2: gc removed its state" [ ! -e "$TARDIS_STATE_DIR/containers/default/fin2" ]
fi
echo "# what the calls said of the hang:"
newlog | grep "did not answer\|left for" | sed 's/^/#   /'
check "no error lines but the hang's" \
	not bash -c 'grep " error: " "$1" | grep -v "did not answer\|does not answer"' _ "$TARDIS_LOG_FILE"

summary
