#!/bin/bash
# A node set up by the README's install steps and nothing else: `make
# install` (PREFIX=/usr/local), tardisd started as its unit starts it, a
# containerd whose runtime is /usr/local/bin/tardis-runc, an enabled
# container, and no TARDIS_* environment anywhere (the installed
# /etc/tardis/tardis.conf and the defaults: /var/lib/tardis,
# /sys/fs/bpf/tardis, /var/log/tardis-runc.log).  checkpoint and restore
# work and `tardisctl check` is all ok; with the installed CRIU gone,
# `tardisctl check` names it and `tardisctl show` gives the failed
# checkpoint's reason.
#
# The machine is left as it was: all of it runs in a private mount
# namespace where /etc, /var and /usr/local are overlays whose upper dirs
# are in the test's temp dir, and /sys/fs/bpf is a bpffs of its own.
if [ -z "${TARDIS_NODE_NS:-}" ]; then
	exec unshare -m --propagation private env TARDIS_NODE_NS=1 bash "$0" "$@"
fi
# shellcheck source=tests/lib/lib.sh
. "$(dirname "$0")/../lib/lib.sh"
. "$ROOT/tests/lib/containerd.sh"
unset TARDIS_NODE_NS

CTL=/usr/local/bin/tardisctl
SHIM=/usr/local/bin/tardis-runc
LOG=/var/log/tardis-runc.log
STATE=/var/lib/tardis

for d in etc var usr/local; do
	mkdir -p "$TMP/ov/$d/up" "$TMP/ov/$d/work"
	mount -t overlay overlay -o "lowerdir=/$d,upperdir=$TMP/ov/$d/up,workdir=$TMP/ov/$d/work" "/$d" ||
		{ fail "overlay on /$d"; summary; exit 1; }
done
mount -t bpf bpf /sys/fs/bpf || { fail "a private bpffs"; summary; exit 1; }

# ---- README: make && sudo make install --------------------------------
make -C "$ROOT" --no-print-directory OUT="$OUT" install >"$TMP/install.log" 2>&1
check "make install: rc 0" [ $? = 0 ]
unset TARDIS_STATE_DIR TARDIS_BPF_DIR TARDIS_CONFIG TARDIS_IMAGE_ROOTS TARDIS_CRIU TARDIS_RUNC \
	TARDIS_LOG_FILE TARDIS_LOG_LEVEL
check "no TARDIS_* variable in the environment" bash -c '! env | grep -q ^TARDIS_'
check "/etc/tardis/tardis.conf names the installed CRIU" \
	grep -qx "criu = /usr/local/libexec/tardis/criu" /etc/tardis/tardis.conf

# ---- the unit's tardisd -------------------------------------------------
AGENT_LOG=$TMP/tardisd.log
/usr/local/bin/tardisd --foreground --log-file "$AGENT_LOG" </dev/null >/dev/null 2>&1 &
NODE_AGENT=$!
on_cleanup 'kill -TERM $NODE_AGENT 2>/dev/null; wait $NODE_AGENT 2>/dev/null'
check "tardisd (as its unit runs it) is up" wait_for 20 test -e /sys/fs/bpf/tardis/prog

# ---- a containerd that runs tardis-runc -----------------------------------
ctd_launch "$CTD_DIR"
CTD_PID=$LAUNCHED_PID
on_cleanup ctd_stop
cat >>"$CTD_DIR/config.toml" <<EOF
[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
  BinaryName = "$SHIM"
EOF
check "containerd answers" ctd_ready "$CTD_DIR" "$CTD_PID" 100
ctd_image || { fail "image"; summary; exit 1; }
"$CTL" check --containerd-config "$CTD_DIR/config.toml" >"$TMP/check.out" 2>&1
rc=$?
sed 's/^/  | /' "$TMP/check.out"
check "tardisctl check: all ok (rc $rc)" [ $rc = 0 ]
check "  ...no FAIL line" bash -c '! grep -q "^FAIL" "$1"' _ "$TMP/check.out"

# The counter (in memory) writes its count into its own rootfs.
run_node() {
	ctr_ run -d --runc-binary "$SHIM" --env TARDIS_ENABLE=1 localhost/bb:latest "$1" sh -c \
		'i=0; while :; do i=$((i + 1)); echo $i > /count.tmp; mv /count.tmp /count; sleep 0.1; done' \
		>/dev/null
}
count() { ctr_ task exec --exec-id "c$RANDOM" "$1" cat /count 2>/dev/null || echo 0; }
above() { [ "$(count "$1")" -gt "$2" ]; }

id=node-$$
run_node "$id"
check "$id: enabled, counting" wait_for 20 above "$id" 10
n0=$(count "$id")
ctr_ c checkpoint --task "$id" "localhost/ckpt-$id:1" >/dev/null 2>&1
check "$id: checkpointed into $STATE/checkpoints/default/$id" \
	test -s "$STATE/checkpoints/default/$id/manifest.json"
check "$id: stopped by the checkpoint" wait_for 10 task_is "$id" STOPPED
remove_container "$id"
ctr_ image rm "localhost/ckpt-$id:1" >/dev/null 2>&1
run_node "$id"
check "$id: created again: restored (the log at $LOG)" grep -q "create default/$id: restored" "$LOG"
n=$(count "$id")
check "$id: the count went on from memory ($n0 -> $n)" [ "$n" -ge "$n0" ]
check "$id: tardisctl show: 1 restore" \
	[ "$("$CTL" show --json "default/$id" | jq -r .restores)" = 1 ]

# ---- CRIU gone ----------------------------------------------------------
rm -f /usr/local/libexec/tardis/criu
"$CTL" check --containerd-config "$CTD_DIR/config.toml" >"$TMP/check2.out" 2>&1
rc=$?
check "without CRIU: tardisctl check fails (rc $rc) naming it" \
	bash -c '[ "$1" = 1 ] && grep -q "^FAIL.*criu.*/usr/local/libexec/tardis/criu" "$2"' _ "$rc" "$TMP/check2.out"
grep "criu" "$TMP/check2.out" | sed 's/^/  | /'
ctr_ c checkpoint --task "$id" "localhost/ckpt-$id:2" >/dev/null 2>&1
"$CTL" show "default/$id" >"$TMP/show.out" 2>&1
sed 's/^/  | /' "$TMP/show.out"
check "without CRIU: tardisctl show gives the failed checkpoint and why" \
	grep -Eq "failed checkpoints +1" "$TMP/show.out"
check "  ...the reason names the missing CRIU" \
	bash -c 'grep -A3 "failed checkpoints" "$1" | grep -qi criu' _ "$TMP/show.out"
ctr_ task kill -s KILL "$id" >/dev/null 2>&1
wait_for 10 task_is "$id" STOPPED
remove_container "$id"
summary
