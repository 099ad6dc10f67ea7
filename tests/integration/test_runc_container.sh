#!/bin/bash
# A real busybox container run by the real runc: its init's exit, caught by
# the BPF program, is recorded for default/<id> once registered the way
# tardis-runc does it (pid from runc's pid file, between create and start).
set -u
. "$(dirname "$0")/../lib/lib.sh"

RUNC=${RUNC:-runc}
RUNC_ROOT=$TMP/runc
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
BUSYBOX=$(command -v busybox || echo /bin/busybox)
CONTAINERS=()

on_cleanup 'for c in "${CONTAINERS[@]}"; do "$RUNC" --root "$RUNC_ROOT" delete --force "$c" >/dev/null 2>&1; done'

# make_bundle DIR ARG...: rootfs with a static busybox, config.json from
# `runc spec` with process.args set and no terminal.
make_bundle() {
	local b=$1
	shift
	mkdir -p "$b/rootfs/bin" "$b/rootfs/proc" "$b/rootfs/dev" "$b/rootfs/sys" "$b/rootfs/tmp" || return 1
	cp "$BUSYBOX" "$b/rootfs/bin/busybox" || return 1
	ln -s busybox "$b/rootfs/bin/sh"
	ln -s busybox "$b/rootfs/bin/sleep"
	(cd "$b" && "$RUNC" spec) || return 1
	"$PY" - "$b/config.json" "$@" <<'EOF'
import json, sys
path, args = sys.argv[1], sys.argv[2:]
with open(path) as f:
    c = json.load(f)
c["process"]["args"] = args
c["process"]["terminal"] = False
with open(path, "w") as f:
    json.dump(c, f, indent=1)
EOF
}

# json_get FIELD: reads one top-level field of the exit record on stdin.
exit_field() {
	"$PY" -c 'import json,sys; e=json.load(sys.stdin)["exit"]; print("" if e is None else e.get(sys.argv[1], ""))' "$1"
}

exit_recorded() { # exit_recorded ID
	[ -s "$TARDIS_STATE_DIR/containers/default/$1/exit.json" ]
}

# run_container ID WANT_STATUS WANT_WAIT KILL(0/1) ARG...
run_container() {
	local id=$1 want=$2 want_wait=$3 killit=$4
	shift 4
	local b=$TMP/bundle-$id pid show n
	local t0=$SECONDS

	check "$id: bundle (busybox rootfs, runc spec, args: $*)" make_bundle "$b" "$@"
	CONTAINERS+=("$id")
	check "$id: runc create" "$RUNC" --root "$RUNC_ROOT" create --bundle "$b" \
		--pid-file "$b/init.pid" "$id" </dev/null >"$b/out.log" 2>&1
	pid=$(cat "$b/init.pid" 2>/dev/null)
	if [ -z "$pid" ]; then
		fail "$id: no pid file"
		cat "$b/out.log"
		return
	fi
	check "$id: init $pid is pid 1 of its own pid namespace" \
		bash -c 'grep -qE "^NSpid:\s+$1\s+1$" /proc/$1/status' _ "$pid"
	check "$id: tardisctl register default/$id $pid" "$BIN/tardisctl" register "default/$id" "$pid"
	check "$id: runc start" "$RUNC" --root "$RUNC_ROOT" start "$id"
	if [ "$killit" = 1 ]; then
		check "$id: running" bash -c '"$1" --root "$2" state "$3" | grep -q "\"status\": \"running\""' \
			_ "$RUNC" "$RUNC_ROOT" "$id"
		check "$id: not recorded while it runs" bash -c '! [ -e "$1" ]' _ \
			"$TARDIS_STATE_DIR/containers/default/$id/exit.json"
		check "$id: runc kill $id KILL" "$RUNC" --root "$RUNC_ROOT" kill "$id" KILL
	fi
	check "$id: exit recorded within 20 s" wait_for 20 exit_recorded "$id"
	show=$("$BIN/tardisctl" show --json "default/$id")
	echo "# $show"
	check "$id: exit_status $want" [ "$(exit_field exit_status <<<"$show")" = "$want" ]
	check "$id: wait_status $want_wait" [ "$(exit_field wait_status <<<"$show")" = "$want_wait" ]
	check "$id: record names init pid $pid" [ "$(exit_field pid <<<"$show")" = "$pid" ]
	check "$id: pidns_level 1, source bpf" \
		[ "$(exit_field pidns_level <<<"$show")/$(exit_field source <<<"$show")" = "1/bpf" ]
	n=$(log_count "exit recorded default/$id pid=" "$TMP/tardisd.log")
	check "$id: exactly one 'exit recorded' line (got $n)" [ "$n" -eq 1 ]
	check "$id: runc state says stopped" bash -c '"$1" --root "$2" state "$3" | grep -q "\"status\": \"stopped\""' \
		_ "$RUNC" "$RUNC_ROOT" "$id"
	check "$id: runc delete" "$RUNC" --root "$RUNC_ROOT" delete "$id"
	check "$id: gone from runc list" bash -c '! "$1" --root "$2" list -q | grep -qx "$3"' _ "$RUNC" "$RUNC_ROOT" "$id"
	echo "# $id took $((SECONDS - t0)) s"
}

check "runc is installed ($("$RUNC" --version 2>/dev/null | head -1))" bash -c 'command -v "$1" >/dev/null' _ "$RUNC"
check "busybox is static" bash -c 'file -L "$1" 2>/dev/null | grep -q static || ! ldd "$1" >/dev/null 2>&1' _ "$BUSYBOX"
check "tardisd starts" start_agent
[ -n "$AGENT_PID" ] || { summary; exit 1; }

run_container "tardis-exit7-$$" 7 1792 0 sh -c "exit 7"
run_container "tardis-kill-$$" 137 9 1 sh -c "sleep 1000"

check "agent log has no error lines" bash -c '! grep -q " error: " "$1"' _ "$TMP/tardisd.log"
stop_agent TERM
check "agent stopped with recorded=2 errors=0" grep -q "tardisd stopped: recorded=2 .* errors=0$" "$TMP/tardisd.log"
summary
