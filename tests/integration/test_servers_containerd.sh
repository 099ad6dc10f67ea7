#!/bin/bash
# Containers that serve (issue #17) under a real (private) containerd: an
# HTTP server that also counts in memory, run by `ctr run --runc-binary
# tardis-runc`, in the network namespace runc makes (ctr's default), in the
# host's (--net-host) and in one given by path (--with-ns network:PATH, as
# Docker and a Kubernetes pod sandbox give it); checkpointed by each
# trigger: containerd's checkpoint (`ctr c checkpoint --task`), the stop
# signal (TARDIS_CHECKPOINT_ON_STOP=1, `ctr task kill`) and the forced
# delete containerd runs when a container's shim dies (the shim killed:
# containerd's dead-shim cleanup calls `runc delete --force`); restored by
# the next `ctr run`.  After the restore the count goes on and the server
# answers from inside (`ctr task exec`) and from where it answered before
# (the host's port; the path-given namespace's address through a veth).  In
# the runc-made namespace that needs lo up, which CRIU, as runc drives it,
# does not restore (docs/servers.md).
#
# Established connections: a client in a namespace of its own holds a TCP
# connection to an echo server in the path-given namespace across
# containerd's checkpoint: closed on restore by default (the client sees a
# reset), kept with TARDIS_TCP_ESTABLISHED=1.
# shellcheck source=tests/lib/lib.sh
. "$(dirname "$0")/../lib/lib.sh"
# shellcheck source=tests/lib/containerd.sh
. "$ROOT/tests/lib/containerd.sh"
# shellcheck source=tests/lib/netns.sh
. "$ROOT/tests/lib/netns.sh"

ctd_tardis_env

ctd_start || { fail "containerd"; summary; exit 1; }
ctd_image || { fail "image"; summary; exit 1; }

# A namespace given by path, reachable from the host at $SUB.2 through a
# veth; a client namespace wired to it ($CSUB.2 -> $CSUB.1).
NETNS=tardis-csrv-$$
CNETNS=tardis-ccli-$$
SUB=$(pick_subnet)
CSUB=${SUB%.*}.$((${SUB##*.} + 1))
netns_to_host "$NETNS" "tcs$$" "$SUB"
check "path-given netns $NETNS answers ping from the host" busybox ping -c1 -W2 "$SUB.2" >/dev/null
netns_client "$CNETNS" "$NETNS" "$CSUB" "tcc$$"
check "client netns $CNETNS reaches the server's ($CSUB.1)" \
	ip netns exec "$CNETNS" busybox ping -c1 -W2 "$CSUB.1" >/dev/null

# The server: busybox httpd (it daemonizes) serving a page, a TCP echo
# server (nc, a process per connection), then the counter (its count in
# memory, written to /work/count).
server() { # server PORT
	printf '%s\n' 'busybox mkdir -p /www' 'echo "hello from tardis" > /www/index.html' \
		"busybox httpd -p $1 -h /www" "busybox nc -ll -p 7777 -e /bin/cat &"
	ctd_counter
}
# No busybox timeout inside (test_docker.sh says why): the guard is ctr's.
http_inside() { # http_inside ID PORT EXEC_ID
	timeout 10 ctr -a "$CTD_SOCK" task exec --exec-id "$3" "$1" busybox wget -qO- "http://127.0.0.1:$2/" 2>/dev/null |
		grep -q "hello from tardis"
}
http_at() { timeout 5 busybox wget -qO- "http://$1/" 2>/dev/null | grep -q "hello from tardis"; }

# The shim of container ID of our containerd, by its command line.
shim_pid() {
	local p
	for p in /proc/[0-9]*; do
		tr "\0" " " 2>/dev/null <"$p/cmdline" | grep -q -- "-id $1 -address $CTD_SOCK " &&
			{ echo "${p#/proc/}"; return 0; }
	done
	return 1
}

# trigger ID TRIGGER: checkpoint (containerd's), stop (the stop signal) or
# delete (the shim killed: containerd's cleanup runs runc delete --force).
trigger() {
	local pid
	case $2 in
	checkpoint) ctr_ c checkpoint --task "$1" "localhost/ckpt-$1:1" >/dev/null 2>&1 ;;
	stop) ctr_ task kill "$1" ;;
	delete)
		# containerd's cleanup of the dead shim ends with the task's
		# bundle removed (`ctr task ls` no longer lists it long before).
		pid=$(shim_pid "$1") && kill_shim "$pid"
		wait_for 120 not test -e "$CTD_DIR/state/io.containerd.runtime.v2.task/default/$1"
		;;
	esac
}

# server_case ID NET TRIGGER: NET own (ctr's default: runc makes the
# netns), host (--net-host) or path (--with-ns network:PATH).
server_case() {
	local id=$1 net=$2 trigger=$3 port=8080 opts=() at="" c1 c2
	case $net in
	host)
		port=$(free_port)
		opts+=(--net-host)
		at=127.0.0.1:$port
		;;
	path)
		opts+=(--with-ns "network:/var/run/netns/$NETNS")
		at=$SUB.2:$port
		;;
	esac
	[ "$trigger" != stop ] || opts+=(--env TARDIS_CHECKPOINT_ON_STOP=1)
	echo "# ---- $id: network $net, trigger $trigger, port $port"
	COUNTER=$(server "$port") run_enabled "$id" "${opts[@]}"
	check "$id: running and counting" wait_for 20 count_at_least "$id" 10
	check "$id: before: HTTP from inside" http_inside "$id" "$port" before
	[ -z "$at" ] || check "$id: before: HTTP at $at" http_at "$at"
	trigger "$id" "$trigger"
	check "$id: stopped by the $trigger" wait_for 30 not task_is "$id" RUNNING
	check "$id: image published" [ -s "$(image_of "$id")/manifest.json" ]
	c1=$(count_of "$id")
	[ -z "$at" ] || check "$id: nothing answers at $at while it is away" \
		not http_at "$at"
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
	[ -z "$at" ] || check "$id: after: HTTP at $at" http_at "$at"
	if [ "$net" = own ]; then
		check "$id: after: lo is UP inside" \
			bash -c 'ctr -a "$1" task exec --exec-id lo "$2" busybox ip link show lo 2>/dev/null | grep -q "<LOOPBACK,UP"' _ "$CTD_SOCK" "$id"
	fi
	[ "$net" != path ] || check "$id: CRIU's network lock is gone from the path-given netns" \
		not criu_lock_left "$NETNS"
	ctd_finish "$id"
}

# est_case ID KEEP(0|1): a connection from the client namespace to the echo
# server of a container in the path-given namespace, held across
# containerd's checkpoint.
est_case() {
	local id=$1 keep=$2 ctl=$TMP/ctl-$1 opts=(--with-ns "network:/var/run/netns/$NETNS") cpid res
	[ "$keep" = 0 ] || opts+=(--env TARDIS_TCP_ESTABLISHED=1)
	echo "# ---- $id: an established connection, kept: $keep"
	mkdir -p "$ctl"
	COUNTER=$(server 8080) run_enabled "$id" "${opts[@]}"
	check "$id: running and counting" wait_for 20 count_at_least "$id" 5
	ip netns exec "$CNETNS" python3 "$ROOT/tests/lib/tcp_hold.py" "$CSUB.1" 7777 "$ctl" &
	cpid=$!
	on_cleanup "kill $cpid 2>/dev/null"
	check "$id: the client's connection echoes" wait_for 30 grep -sqx one "$ctl/first"
	trigger "$id" checkpoint
	check "$id: stopped by containerd's checkpoint" wait_for 30 not task_is "$id" RUNNING
	check "$id: image published" [ -s "$(image_of "$id")/manifest.json" ]
	remove_container "$id"
	ctr_ image rm "localhost/ckpt-$id:1" >/dev/null 2>&1
	COUNTER=$(server 8080) run_enabled "$id" "${opts[@]}"
	check "$id: created again -> restored" grep -q "create default/$id: restored" "$TARDIS_LOG_FILE"
	touch "$ctl/go"
	wait_for 20 test -s "$ctl/result"
	res=$(cat "$ctl/result" 2>/dev/null)
	wait "$cpid" 2>/dev/null
	if [ "$keep" = 1 ]; then
		check "$id: the connection is kept: it still echoes (got: ${res:-nothing})" [ "$res" = echo ]
	else
		check "$id: the old connection was closed (got: ${res:-nothing})" \
			bash -c '[ "$1" = reset ] || [ "$1" = eof ]' _ "$res"
	fi
	check "$id: a new connection is served" bash -c \
		'[ "$(echo new | ip netns exec "$1" timeout 5 busybox nc -w 3 "$2" 7777 2>/dev/null | head -1)" = new ]' _ "$CNETNS" "$CSUB.1"
	ctd_finish "$id"
}

# SERVER_CASES="srv-own-ckpt est-keep ..." runs only those (all by default).
want() { [ -z "${SERVER_CASES:-}" ] || [[ " $SERVER_CASES " == *" $1 "* ]]; }
for c in "srv-own-ckpt own checkpoint" "srv-own-stop own stop" "srv-own-delete own delete" \
	"srv-host-ckpt host checkpoint" "srv-host-stop host stop" "srv-host-delete host delete" \
	"srv-path-ckpt path checkpoint" "srv-path-stop path stop" "srv-path-delete path delete"; do
	# shellcheck disable=SC2086
	want ${c%% *} && server_case $c
done
# The agent tardis-runc started on demand from under a shim holds none of
# the shim's fds: with the shim's listening socket, containerd's next shim
# for a container whose shim died would connect to the agent and hang.
agent_fds_own() {
	local pid
	pid=$(cat "$TARDIS_STATE_DIR/tardisd.pid" 2>/dev/null) && [ -d "/proc/$pid/fd" ] &&
		! ls -l "/proc/$pid/fd" 2>/dev/null | grep -q "socket:\|pipe:"
}
check "the agent started on demand holds no socket or pipe it inherited" agent_fds_own

want est-close && est_case est-close 0
want est-keep && est_case est-keep 1

summary
