#!/bin/bash
# Containers that serve (issue #17) under a real (private) containerd: an
# HTTP server that also counts in memory, run by `ctr run --runc-binary
# tardis-runc`, in the network namespace runc makes (ctr's default) and in
# the host's (--net-host); checkpointed by containerd (`ctr c checkpoint
# --task`) and by the stop signal (TARDIS_CHECKPOINT_ON_STOP=1, `ctr task
# kill`); restored by the next `ctr run`.  After the restore the count goes
# on and the server answers from inside (`ctr task exec`) and, with
# --net-host, from the host.  In the runc-made namespace that needs lo up,
# which CRIU, as runc drives it, does not restore (docs/servers.md).
# shellcheck source=tests/lib/lib.sh
. "$(dirname "$0")/../lib/lib.sh"
# shellcheck source=tests/lib/containerd.sh
. "$ROOT/tests/lib/containerd.sh"

need_criu
export TARDIS_RUNC=$(command -v runc)
export TARDIS_LOG_FILE=$TMP/tardis-runc.log
export TARDIS_LOG_LEVEL=debug
NFS=$TMP/nfs
mkdir -p "$NFS"
RUNC_ROOT=$TMP/runc
SHIM=$BIN/tardis-runc

ctd_start || { fail "containerd"; summary; exit 1; }
ctd_image || { fail "image"; summary; exit 1; }

free_port() { # a TCP port nobody uses in the host's namespace
	local p
	for _ in $(seq 1 50); do
		p=$((20000 + RANDOM % 30000))
		! grep -qi ":$(printf %04X $p) " /proc/net/tcp /proc/net/tcp6 && {
			echo $p
			return
		}
	done
	echo 0
}

# The server: busybox httpd (it daemonizes) serving a page, then the
# counter (its count in memory, written to /work/count).
server() { # server PORT
	printf '%s\n' 'busybox mkdir -p /www' 'echo "hello from tardis" > /www/index.html' \
		"busybox httpd -p $1 -h /www"
	ctd_counter
}
http_inside() { # http_inside ID PORT EXEC_ID
	ctr_ task exec --exec-id "$3" "$1" busybox timeout 5 busybox wget -qO- "http://127.0.0.1:$2/" 2>/dev/null |
		grep -q "hello from tardis"
}
http_host() { timeout 5 busybox wget -qO- "http://127.0.0.1:$1/" 2>/dev/null | grep -q "hello from tardis"; }

# server_case ID NET TRIGGER: NET own (ctr's default: runc makes the netns)
# or host (--net-host); TRIGGER checkpoint (containerd's) or stop (kill).
server_case() {
	local id=$1 net=$2 trigger=$3 port=8080 opts=() c1 c2
	[ "$net" = own ] || {
		port=$(free_port)
		opts+=(--net-host)
	}
	[ "$trigger" = checkpoint ] || opts+=(--env TARDIS_CHECKPOINT_ON_STOP=1)
	echo "# ---- $id: network $net, trigger $trigger, port $port"
	COUNTER=$(server "$port") run_enabled "$id" "${opts[@]}"
	check "$id: running and counting" wait_for 20 count_at_least "$id" 10
	check "$id: before: HTTP from inside" http_inside "$id" "$port" before
	[ "$net" = own ] || check "$id: before: HTTP from the host" http_host "$port"
	case $trigger in
	checkpoint)
		ctr_ c checkpoint --task "$id" "localhost/ckpt-$id:1" >/dev/null 2>&1
		;;
	stop)
		ctr_ task kill "$id"
		;;
	esac
	check "$id: stopped by the $trigger" wait_for 15 task_is "$id" STOPPED
	check "$id: image published" [ -s "$(image_of "$id")/manifest.json" ]
	c1=$(count_of "$id")
	[ "$net" = own ] || check "$id: nothing answers on the host's port while it is away" \
		bash -c '! timeout 3 busybox wget -qO- "http://127.0.0.1:$1/" >/dev/null 2>&1' _ "$port"
	remove_container "$id"
	ctr_ image rm "localhost/ckpt-$id:1" >/dev/null 2>&1
	COUNTER=$(server "$port") run_enabled "$id" "${opts[@]}"
	check "$id: created again -> restored" grep -q "create default/$id: restored" "$TARDIS_LOG_FILE"
	grep "create default/$id: restore failed" "$TARDIS_LOG_FILE" | sed 's/^/# /'
	check "$id: task RUNNING after restore" task_is "$id" RUNNING
	sleep 0.5
	c2=$(count_of "$id")
	check "$id: the in-memory count continues ($c1 -> $c2)" [ "$c2" -gt "$c1" ]
	check "$id: after: HTTP from inside" http_inside "$id" "$port" after
	[ "$net" = own ] || check "$id: after: HTTP from the host" http_host "$port"
	if [ "$net" = own ]; then
		check "$id: after: lo is UP inside" \
			bash -c 'ctr -a "$1" task exec --exec-id lo "$2" busybox ip link show lo 2>/dev/null | grep -q "<LOOPBACK,UP"' _ "$CTD_SOCK" "$id"
	fi
	ctr_ task kill -s KILL "$id" >/dev/null 2>&1
	wait_for 10 task_is "$id" STOPPED
	remove_container "$id"
}

server_case srv-own-ckpt own checkpoint
server_case srv-own-stop own stop
server_case srv-host-ckpt host checkpoint
server_case srv-host-stop host stop

summary
