#!/bin/bash
# Docker as a client (issue 14): a private dockerd (Debian 12's docker.io,
# Docker 20.10, with the containerd it starts itself) given tardis-runc as
# a runtime (--add-runtime tardis=...), its data, exec root, socket, pid
# file and containers' cgroups all of this test's.  The containers are
# servers: busybox httpd and an nc listener, a sleeping child, a file
# written and deleted, and a counter whose count lives in memory (written
# to the tardis work dir).  What is asserted is what the system did: the
# count going on past the count at the checkpoint (a fresh start begins at
# 1), tardis-runc's log, the images on the network-fs directory, `docker
# inspect`'s state.
#
#   stop/start    docker stop checkpoints (TARDIS_CHECKPOINT_ON_STOP=1),
#                 docker start restores; exit 3 keeps the image, exit 0
#                 removes it and the work dir.
#   restart/kill  docker restart restores; docker kill -s KILL checkpoints;
#                 without checkpoint-on-stop docker rm -f saves nothing.
#   identity      docker rm -f checkpoints; docker run of a new container
#                 with the same TARDIS_IDENTITY restores it.
#   checkpoint    Docker's own (dockerd --experimental): `docker checkpoint
#                 create` goes to runc untouched (CRIU's files in Docker's
#                 checkpoint directory, no tardis image), `docker start
#                 --checkpoint` restores them, the work dir mounted again;
#                 tardis's again from its next docker start.
#   plain         a container not enabled: the same commands under
#                 --runtime tardis and under runc give the same exit codes
#                 and `docker inspect` state.
#   live_restore  dockerd restarted with --live-restore: the container runs
#                 on, its exit 3 meanwhile is the agent's record; restore
#                 afterwards.
# DOCKER_CASES="stop_start plain ..." runs only those.
# At the end dockerd is stopped and nothing of it is left: no dockerd,
# containerd or shim process, no mount below the test's dir, no cgroup.
# shellcheck source=tests/lib/lib.sh
. "$(dirname "$0")/../lib/lib.sh"
# shellcheck source=tests/lib/containerd.sh
. "$ROOT/tests/lib/containerd.sh"

# Debian's docker.io, named by path: a docker CLI elsewhere on PATH (say
# /usr/local/bin) is not the one this test is about.
DOCKERD=/usr/sbin/dockerd
DOCKER=/usr/bin/docker
if [ ! -x "$DOCKERD" ] || [ ! -x "$DOCKER" ]; then
	echo "SKIP - test_docker: no $DOCKERD or $DOCKER (Debian's docker.io; scripts/setup.sh installs it)"
	summary
	exit 0
fi

ctd_tardis_env
DK=$TMP/docker
TMP_CTRD_BEFORE=$(ls -d /tmp/ctrd-checkpoint* 2>/dev/null)
DOCKERD_PID=
CGROUP_PARENT=tardis-test-docker-$$
dk() { DOCKER_CONFIG=$DK/cli "$DOCKER" -H "unix://$DK/docker.sock" "$@"; }
dkq() { dk "$@" >/dev/null; } # the names docker echoes left out

# dockerd_start [dockerd options...]: dockerd with tardis-runc as runtime
# `tardis`, experimental (docker checkpoint), no iptables, no bridge; its
# containerd is its own (under $DK/exec).  CRIU for runc's own checkpoint
# and restore (Docker's, passed through) is the working one, first on PATH.
# Its temporary dirs go under $DK/tmp: containerd 1.6 leaves the
# ctrd-checkpoint* dir of each `docker checkpoint create` behind.
dockerd_start() {
	mkdir -p "$DK/bin" "$DK/cli" "$DK/tmp"
	ln -sf "$CRIU" "$DK/bin/criu"
	PATH=$DK/bin:$PATH TMPDIR=$DK/tmp XDG_RUNTIME_DIR=$DK/tmp \
		"$DOCKERD" --data-root "$DK/data" --exec-root "$DK/exec" \
		-H "unix://$DK/docker.sock" --pidfile "$DK/docker.pid" \
		--iptables=false --ip-masq=false --bridge=none --experimental \
		--cgroup-parent "$CGROUP_PARENT" \
		--add-runtime "tardis=$BIN/tardis-runc" "$@" >>"$DK/dockerd.log" 2>&1 &
	DOCKERD_PID=$!
	[ -n "${DOCKERD_CLEANUP:-}" ] || on_cleanup dockerd_stop
	DOCKERD_CLEANUP=1
	wait_up 300 0.1 "$DOCKERD_PID" dk version && return 0
	echo "dockerd did not start:" >&2
	tail -20 "$DK/dockerd.log" >&2
	return 1
}

# Processes of our dockerd: its containerd, the shims (their command
# line names its socket).
# One grep over every cmdline (a fork per process is minutes on a loaded
# machine); [c] keeps grep, whose own cmdline is among them, from matching.
our_containerd() {
	local f p
	for f in $(grep -las -- "$DK/exec/[c]ontainerd/" /proc/[0-9]*/cmdline); do
		p=${f#/proc/}
		echo "${p%/cmdline}"
	done
	return 0
}

nothing_of_ours() { [ -z "$(our_containerd)" ]; }

# dockerd_stop: every container removed, dockerd stopped by pid; its
# containerd and shims, if any are left, ended by pid; mounts below $DK
# undone; the cgroups of the containers removed.
dockerd_stop() {
	local ids p c
	if [ -n "$DOCKERD_PID" ] && kill -0 "$DOCKERD_PID" 2>/dev/null; then
		ids=$(dk ps -aq 2>/dev/null)
		# shellcheck disable=SC2086
		[ -z "$ids" ] || dk rm -f $ids >/dev/null 2>&1
		kill -TERM "$DOCKERD_PID" 2>/dev/null
		wait "$DOCKERD_PID" 2>/dev/null
	fi
	DOCKERD_PID=
	# With --live-restore dockerd leaves its containerd running.
	for p in $(our_containerd); do kill -KILL "$p" 2>/dev/null; done
	wait_for 10 nothing_of_ours
	umount_below "$DK"
	for c in /sys/fs/cgroup/*/"$CGROUP_PARENT" /sys/fs/cgroup/"$CGROUP_PARENT"; do
		[ -d "$c" ] || continue
		find "$c" -mindepth 1 -depth -type d -exec rmdir {} + 2>/dev/null
		rmdir "$c" 2>/dev/null
	done
	return 0
}

# localhost/bb: `docker import` of a rootfs holding the static busybox.
dk_image() {
	local r=$TMP/rootfs a
	mkdir -p "$r/bin" "$r/etc" "$r/tmp"
	cp "$(command -v busybox)" "$r/bin/busybox"
	for a in sh sleep cat echo true rm mkdir ps; do ln -s busybox "$r/bin/$a"; done
	echo original >"$r/etc/keep"
	tar -C "$r" -cf "$TMP/bb.tar" .
	dk import -c 'CMD ["/bin/sh"]' -c 'ENV PATH=/bin' "$TMP/bb.tar" localhost/bb:latest >/dev/null
}

# The server: httpd (it daemonizes), an nc listener, a sleeping child, a
# file written and deleted, then the counter (ctd_counter: its count in
# memory, written to /work/count; /work/stop holds the exit code to end
# with).
server() {
	printf '%s\n' 'busybox mkdir -p /www' 'echo "hello from tardis" > /www/index.html' \
		'busybox httpd -p 8080 -h /www' 'busybox nc -ll -p 7777 -e /bin/cat &' \
		'sleep 100000 &' 'echo gone > /tmp/gone; rm /tmp/gone'
	ctd_counter
}

# run_enabled NAME [docker run options...]: the server, opted in, its
# stop a checkpoint, its work dir and image on $NFS.
run_enabled() {
	local name=$1
	shift
	dk run -d --name "$name" --runtime tardis -e TARDIS_ENABLE=1 \
		-e TARDIS_CHECKPOINT_ON_STOP=1 -e TARDIS_NETWORKFS_HOST_PATH="$NFS" \
		-e TARDIS_WORKDIR_CONTAINER_PATH=/work "$@" localhost/bb sh -c "$(server)" >/dev/null
}

id_of() { dk inspect -f '{{.Id}}' "$1" 2>/dev/null; }
# state NAME: docker inspect's "Status ExitCode Running".
state() { dk inspect -f '{{.State.Status}} {{.State.ExitCode}} {{.State.Running}}' "$1" 2>/dev/null; }
state_is() { [ "$(state "$1")" = "$2" ]; }
# The work dir and image of a container by id (KEY: moby/<id>) or by
# identity (k8s/<identity>).
work_of() { echo "$NFS/work/$1"; }
image_at() { echo "$NFS/checkpoint/$1"; }
count_at() { count_file "$(work_of "$1")/count"; }
count_above() { [ "$(count_at "$1")" -gt "$2" ]; }
# zero_count KEY: the count file set to 0 at its width (an open file's size
# must not change for CRIU): a fresh start counts from 1, a restore goes on
# from the count in its memory.
zero_count() { printf "%10d\n" 0 1<>"$(work_of "$1")/count"; }
absent() { ! dk inspect "$1" >/dev/null 2>&1; }
runtime_known() { dk info -f '{{json .Runtimes}}' 2>/dev/null | grep -q '"tardis"'; }
criu_image_in() { [ -s "$1/inventory.img" ] && ls "$1"/pages-*.img >/dev/null 2>&1; }
cgroup_left() {
	local c
	for c in /sys/fs/cgroup/*/"$CGROUP_PARENT" /sys/fs/cgroup/"$CGROUP_PARENT"; do
		[ ! -d "$c" ] || return 0
	done
	return 1
}
cp_listed() { dk checkpoint ls "$1" 2>/dev/null | grep -qx "$2"; }
has_image() { [ -s "$(image_at "$1")/manifest.json" ]; }
log_lines() { grep -c -- "$1" "$TARDIS_LOG_FILE" 2>/dev/null || true; }
# Never busybox timeout inside: its watchdog grandchild outlives the exec
# by up to 1 s, an orphan of the container's init in the host's time
# namespace, and CRIU cannot restore an image holding it (a restored
# container's tasks are in a time namespace of their own).
http_inside() {
	timeout 10 env DOCKER_CONFIG="$DK/cli" "$DOCKER" -H "unix://$DK/docker.sock" \
		exec "$1" busybox wget -qO- http://127.0.0.1:8080/ 2>/dev/null | grep -q "hello from tardis"
}
# what_runs NAME: the server's processes as `ps` in the container shows them.
what_runs() {
	dk exec "$1" busybox ps -o comm,args 2>/dev/null |
		awk '/httpd -p 8080/ { h = 1 } /nc -ll -p 7777/ { n = 1 } /sleep 100000/ { s = 1 }
			END { exit !(h && n && s) }'
}
# gone_file_gone NAME: /tmp lists, without the file deleted before.
gone_file_gone() {
	local l
	l=$(dk exec "$1" busybox ls -a /tmp 2>/dev/null) && [ -n "$l" ] && ! grep -qx gone <<<"$l"
}
# listens NAME PORT: a TCP socket listens on PORT in the container.
listens() { dk exec "$1" busybox netstat -ltn 2>/dev/null | grep -q ":$2 .*LISTEN"; }
# finish NAME KEY: the counter exits 0 (its image and work dir go).
finish() {
	echo 0 >"$(work_of "$2")/stop"
	wait_for 20 state_is "$1" "exited 0 false"
}

# restored NAME KEY WHAT C0 [N]: the container was restored (its create
# logged "restored from" its image, N times in all) and its count went on
# past C0 (at least 50: a fresh start, counting from 1 every 0.1 s, needs
# 5 s for that, more than the 3 s given); the server runs as before.
restored() {
	local name=$1 key=$2 what=$3 c0=$4 id
	id=$(id_of "$name")
	check "$what: restored (log: create moby/${id:0:12}...: restored from $(image_at "$key"))" \
		wait_for 10 log_has "create moby/$id: restored from $(image_at "$key") " "$TARDIS_LOG_FILE" "${5:-1}" ||
		grep -E "$id.*(restor|checkpoint|fresh|create)" "$TARDIS_LOG_FILE" | cut -c 1-300 | sed 's/^/# /'
	check "$what: running" state_is "$name" "running 0 true"
	check "$what: the in-memory count goes on past $c0" wait_for 3 count_above "$key" "$c0"
	echo "# $what: count $(count_at "$key")"
	check "$what: httpd answers inside" http_inside "$name"
	check "$what: httpd, nc and the sleeping child run" what_runs "$name"
	check "$what: the deleted file stays deleted" gone_file_gone "$name"
}

# checkpointed KEY WHAT N: the stop signal checkpointed the container
# (N "checkpointed (stop signal)" lines for KEY's image in all), its image
# is there.
checkpointed() {
	check "$2: checkpointed (log: checkpointed (stop signal) into $(image_at "$1"))" \
		wait_for 10 log_has "checkpointed (stop signal) into $(image_at "$1"):" "$TARDIS_LOG_FILE" "$3"
	check "$2: image published" has_image "$1"
}

case_stop_start() {
	local key c0
	echo "# ---- stop/start"
	run_enabled s1
	key=moby/$(id_of s1)
	check "s1: running and counting" wait_for 20 count_above "$key" 50
	check "s1: httpd answers inside" http_inside s1
	check "s1: docker stop" dkq stop s1
	checkpointed "$key" "s1: docker stop" 1
	check "s1: exited as killed (137)" wait_for 20 state_is s1 "exited 137 false"
	c0=$(count_at "$key")
	zero_count "$key"
	check "s1: docker start" dkq start s1
	restored s1 "$key" "s1: docker start" "$c0"
	echo 3 >"$(work_of "$key")/stop"
	check "s1: exit 3" wait_for 20 state_is s1 "exited 3 false"
	check "s1: exit 3 keeps the image" wait_for 10 log_has "$key exited with 3: image kept" "$TARDIS_LOG_FILE" 1
	check "s1: the image is there" has_image "$key"
	rm -f "$(work_of "$key")/stop"
	zero_count "$key"
	check "s1: docker start after exit 3" dkq start s1
	restored s1 "$key" "s1: docker start after exit 3, from the same image" "$c0" 2
	finish s1 "$key"
	check "s1: exit 0 removes the image" wait_for 10 not test -e "$(image_at "$key")"
	check "s1: exit 0 removes the work dir" wait_for 10 not test -e "$(work_of "$key")"
	dk rm s1 >/dev/null
}

case_restart_kill() {
	local key c0
	echo "# ---- restart/kill"
	run_enabled r1
	key=moby/$(id_of r1)
	check "r1: running and counting" wait_for 20 count_above "$key" 50
	c0=$(count_at "$key")
	check "r1: docker restart" dkq restart r1
	checkpointed "$key" "r1: docker restart" 1
	sleep 1 # a fresh start would have written 1.. by now
	restored r1 "$key" "r1: docker restart" "$c0"
	check "r1: docker kill -s KILL" dkq kill -s KILL r1
	checkpointed "$key" "r1: docker kill -s KILL" 2
	check "r1: exited as killed (137)" wait_for 20 state_is r1 "exited 137 false"
	c0=$(count_at "$key")
	zero_count "$key"
	check "r1: docker start" dkq start r1
	restored r1 "$key" "r1: docker start after the kill" "$c0" 2
	finish r1 "$key"
	check "r1: exit 0 removes the image" wait_for 10 not test -e "$(image_at "$key")"
	dk rm r1 >/dev/null
	# Without checkpoint-on-stop, docker rm -f kills: nothing is saved.
	dkq run -d --name r2 --runtime tardis -e TARDIS_ENABLE=1 -e TARDIS_NETWORKFS_HOST_PATH="$NFS" \
		-e TARDIS_WORKDIR_CONTAINER_PATH=/work localhost/bb sh -c "$(server)"
	key=moby/$(id_of r2)
	check "r2 (no checkpoint on stop): running and counting" wait_for 20 count_above "$key" 5
	check "r2: docker rm -f" dkq rm -f r2
	check "r2: tardis saw it killed (exit 137)" wait_for 10 log_has "$key exited with 137" "$TARDIS_LOG_FILE" 1
	check "r2: nothing checkpointed" [ "$(log_lines "$key: checkpointed")" -eq 0 ]
	check "r2: no image" not has_image "$key"
}

case_identity() {
	local ident=tardis-test/docker-$$ key c0
	key=k8s/$ident
	echo "# ---- identity: docker rm -f, docker run with the same TARDIS_IDENTITY"
	run_enabled i1 -e TARDIS_IDENTITY="$ident"
	check "i1: running and counting (work dir $(work_of "$key"))" wait_for 20 count_above "$key" 50
	check "i1: docker rm -f" dkq rm -f i1
	checkpointed "$key" "i1: docker rm -f" 1
	check "i1: gone from docker" absent i1
	c0=$(count_at "$key")
	zero_count "$key"
	run_enabled i2 -e TARDIS_IDENTITY="$ident"
	restored i2 "$key" "i2 (a new container, the same identity)" "$c0"
	finish i2 "$key"
	check "i2: exit 0 removes the image" wait_for 10 not test -e "$(image_at "$key")"
	dk rm i2 >/dev/null
}

# start_checkpoint NAME CP: docker start --checkpoint; again (up to 3
# times) when Docker 20.10 fails to upload the checkpoint to its containerd
# because the content is still there from its creation ("commit failed:
# content sha256:... already exists", under runc too).
start_checkpoint() {
	local e
	for _ in 1 2 3; do
		e=$(dk start --checkpoint "$2" "$1" 2>&1 >/dev/null) && return 0
		echo "# docker start --checkpoint: $e"
		grep -q "already exists" <<<"$e" || return 1
		sleep 1
	done
	return 1
}

# Docker's own checkpoint: runc's (CRIU's files in Docker's checkpoint
# directory), not tardis's; Docker restores it.
case_docker_checkpoint() {
	local key id dir c0
	echo "# ---- Docker's checkpoint"
	run_enabled k1
	id=$(id_of k1)
	key=moby/$id
	dir=$DK/data/containers/$id/checkpoints/cp1
	check "k1: running and counting" wait_for 20 count_above "$key" 50
	check "k1: docker checkpoint create" dkq checkpoint create k1 cp1
	check "k1: tardis passed it to runc" log_has "$key: Docker's checkpoint: passed to runc" "$TARDIS_LOG_FILE" 1
	check "k1: Docker's checkpoint directory holds CRIU's image" criu_image_in "$dir"
	check "k1: no tardis image" not has_image "$key"
	check "k1: stopped (checkpoint without --leave-running)" wait_for 20 not state_is k1 "running 0 true"
	c0=$(count_at "$key")
	zero_count "$key"
	check "k1: docker checkpoint ls lists cp1" cp_listed k1 cp1
	check "k1: docker start --checkpoint cp1" start_checkpoint k1 cp1
	check "k1: tardis gave runc's restore the work dir mount" \
		log_has "restore $key: work dir $(work_of "$key") mounted at /work" "$TARDIS_LOG_FILE" 1
	check "k1: running" state_is k1 "running 0 true"
	check "k1: the in-memory count goes on past $c0" wait_for 3 count_above "$key" "$c0"
	# lo is down in the namespace Docker made for the restore, as under
	# runc (Docker's --network none): the listener is checked, not HTTP.
	check "k1: httpd's socket listens again" listens k1 8080
	check "k1: no tardis restore" [ "$(log_lines "create $key: restored")" -eq 0 ]
	# Not tardis's until its next create: the stop is a plain stop.
	check "k1: docker stop -t 1" dkq stop -t 1 k1
	check "k1: stopped as under runc (TERM ignored by sh, KILL: 137)" \
		wait_for 20 state_is k1 "exited 137 false"
	check "k1: nothing checkpointed" [ "$(log_lines "$key: checkpointed")" -eq 0 ]
	zero_count "$key"
	check "k1: docker start: fresh (no image)" dkq start k1
	check "k1: counting again" wait_for 10 count_above "$key" 0
	check "k1: not restored" [ "$(log_lines "create $key: restored")" -eq 0 ]
	echo 0 >"$(work_of "$key")/stop"
	check "k1: exit 0" wait_for 20 state_is k1 "exited 0 false"
	check "k1: exit 0 removes the work dir" wait_for 10 not test -e "$(work_of "$key")"
	dk rm k1 >/dev/null
}

# A daemon restart with --live-restore: the container runs on while dockerd
# is down and exits 3 then; the restarted dockerd sees exit 3, and tardis's
# delete takes it from the agent's record (the image of an earlier stop is
# kept).  Then stop/start checkpoint and restore as before.
case_live_restore() {
	local key c0 c1 pid ipid
	echo "# ---- dockerd restarted with --live-restore"
	dockerd_stop
	dockerd_start --live-restore || { fail "dockerd --live-restore"; return 1; }
	run_enabled l1
	key=moby/$(id_of l1)
	check "l1: running and counting" wait_for 20 count_above "$key" 50
	check "l1: docker stop" dkq stop l1
	checkpointed "$key" "l1: docker stop" 1
	c0=$(count_at "$key")
	zero_count "$key"
	check "l1: docker start" dkq start l1
	restored l1 "$key" "l1: docker start" "$c0"
	ipid=$(dk inspect -f '{{.State.Pid}}' l1)
	pid=$DOCKERD_PID
	kill -TERM "$pid"
	wait "$pid" 2>/dev/null
	c1=$(count_at "$key")
	check "l1: counts on while dockerd is down" wait_for 10 count_above "$key" "$((c1 + 5))"
	echo 3 >"$(work_of "$key")/stop"
	check "l1: its init ($ipid) exits while dockerd is down" wait_for 10 not kill -0 "$ipid" 2>/dev/null
	check "l1: the agent recorded its exit 3" wait_for 10 log_has \
		"exit recorded $key pid=$ipid exit_status=3 " "$TMP/tardisd.log" 1
	dockerd_start --live-restore || { fail "dockerd restarted"; return 1; }
	check "l1: the restarted dockerd sees exit 3" wait_for 30 state_is l1 "exited 3 false"
	check "l1: tardis's delete: exit 3 (the agent's record), image kept" \
		wait_for 10 log_has "$key exited with 3: image kept" "$TARDIS_LOG_FILE" 1
	check "l1: the image is there" has_image "$key"
	rm -f "$(work_of "$key")/stop"
	zero_count "$key"
	check "l1: docker start after the daemon restart" dkq start l1
	restored l1 "$key" "l1: docker start after the daemon restart" "$c0" 2
	finish l1 "$key"
	check "l1: exit 0 removes the image" wait_for 10 not test -e "$(image_at "$key")"
	dk rm l1 >/dev/null
}

# plain_run RUNTIME: the same commands on a container not enabled, under
# RUNTIME; what each answered and docker inspect's state after it, a line
# each.
plain_run() {
	local rt=$1 n=p-$1 rc
	step() { # step WHAT command...
		local what=$1
		shift
		"$@" >/dev/null 2>&1
		rc=$?
		echo "$what: rc $rc, state $(state "$n")"
	}
	signal_step() { # signal_step WHAT command...: its rc; the state comes once it settled
		"${@:2}" >/dev/null 2>&1
		echo "$1: rc $?"
	}
	dk run --rm --runtime "$rt" localhost/bb sh -c 'exit 5' >/dev/null 2>&1
	echo "run --rm, exit 5: rc $?"
	step "run -d" dk run -d --name "$n" --runtime "$rt" -e TARDIS_CHECKPOINT_ON_STOP=1 \
		localhost/bb sh -c 'trap "exit 7" TERM; while :; do sleep 0.1; done'
	step "stop" dk stop -t 5 "$n"
	step "start" dk start "$n"
	step "restart" dk restart -t 5 "$n"
	signal_step "kill -s KILL" dk kill -s KILL "$n"
	wait_for 10 not state_is "$n" "running 0 true"
	echo "after the kill: state $(state "$n")"
	step "start" dk start "$n"
	step "checkpoint create" dk checkpoint create "$n" cp1
	wait_for 10 not state_is "$n" "running 0 true"
	step "start --checkpoint" start_checkpoint "$n" cp1
	signal_step "kill -s TERM" dk kill -s TERM "$n"
	wait_for 10 not state_is "$n" "running 0 true"
	echo "after TERM: state $(state "$n")"
	step "rm -f" dk rm -f "$n"
}

case_plain() {
	local a b n0
	echo "# ---- not enabled: --runtime tardis and runc"
	n0=$(log_lines "intercepted")
	a=$(plain_run tardis)
	b=$(plain_run runc)
	sed 's/^/# tardis: /' <<<"$a"
	[ "$a" = "$b" ] || sed 's/^/# runc:   /' <<<"$b"
	check "not enabled: the same exit codes and docker inspect states as under runc" [ "$a" = "$b" ]
	check "not enabled: tardis intercepted none of it" [ "$(log_lines "intercepted")" -eq "$n0" ]
}

# Nothing of dockerd left: processes, mounts, cgroups.
case_teardown() {
	local pid
	echo "# ---- dockerd stopped"
	pid=$DOCKERD_PID
	dockerd_stop
	check "dockerd ($pid) ended" not kill -0 "$pid" 2>/dev/null
	check "no containerd or shim of it left" nothing_of_ours ||
		for pid in $(our_containerd); do
			echo "# left: $(cat "/proc/$pid/stat" 2>&1) / $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>&1)"
		done
	check "no mount below $TMP left" [ -z "$(findmnt -rn -o TARGET | grep "^$TMP/")" ]
	check "no ctrd-checkpoint dir of its checkpoints left in /tmp" \
		[ "$(ls -d /tmp/ctrd-checkpoint* 2>/dev/null)" = "$TMP_CTRD_BEFORE" ]
	check "no cgroup $CGROUP_PARENT left" \
		not cgroup_left
}

check "tardisd starts" start_agent || { summary; exit 1; }
dockerd_start || { fail "dockerd"; summary; exit 1; }
check "dockerd $(dk version -f '{{.Server.Version}}' 2>/dev/null) runs, runtime tardis known" runtime_known
dk_image || { fail "image"; summary; exit 1; }

# DOCKER_CASES="stop_start plain ..." runs only those (all by default);
# teardown always runs.
for c in stop_start restart_kill identity docker_checkpoint plain live_restore; do
	[ -z "${DOCKER_CASES:-}" ] || [[ " $DOCKER_CASES " == *" $c "* ]] || continue
	t0=$SECONDS
	"case_$c"
	echo "# $c: $((SECONDS - t0)) s"
done
case_teardown

summary
