# A private containerd with a busybox image, for tests, bench and demo; the
# counter they run in it, opted in to tardis.
# Sourced after tests/lib/lib.sh (uses TMP, BIN, on_cleanup, umount_below).
# shellcheck shell=bash

CTD_DIR=$TMP/containerd
CTD_SOCK=$CTD_DIR/containerd.sock
CTD_PID=

ctr_() { ctr -a "$CTD_SOCK" "$@"; }

# ctd_tardis_env: tardis-runc as the containerd tests run it: a working
# CRIU (need_criu), the system's runc behind it, its debug log in $TMP,
# images and work dirs on NFS ($TMP/nfs), runc's state under RUNC_ROOT (not
# the shared /run/containerd/runc: the namespace is still the last
# component of runc's --root, <root>/default), SHIM.
ctd_tardis_env() {
	need_criu
	TARDIS_RUNC=$(command -v runc)
	export TARDIS_RUNC
	export TARDIS_LOG_FILE=$TMP/tardis-runc.log
	export TARDIS_LOG_LEVEL=debug
	NFS=$TMP/nfs
	mkdir -p "$NFS"
	RUNC_ROOT=$TMP/runc
	SHIM=$BIN/tardis-runc
}

# A containerd of our own: its root, state and socket live under $TMP, so
# nothing of a system containerd is touched.  Shim sockets still go to
# /run/containerd/s (containerd puts them there whatever `state` says).
ctd_start() {
	ctd_launch "$CTD_DIR"
	CTD_PID=$LAUNCHED_PID
	on_cleanup ctd_stop
	ctd_ready "$CTD_DIR" "$CTD_PID" 100
}

# ctd_launch DIR: a containerd whose root, state, socket (DIR/containerd.sock)
# and log live in DIR, started in the background with this shell's
# environment; its pid in LAUNCHED_PID.  Its dead-shim cleanup (`runc delete
# --force`, a tardis checkpoint) may take 120 s, not containerd's 5 s
# (README: containerd's cleanup timeout).
ctd_launch() {
	local d=$1
	mkdir -p "$d/root" "$d/state"
	cat >"$d/config.toml" <<-EOF
		version = 2
		root = "$d/root"
		state = "$d/state"
		disabled_plugins = ["io.containerd.grpc.v1.cri"]
		[grpc]
		  address = "$d/containerd.sock"
		[timeouts]
		  "io.containerd.timeout.shim.cleanup" = "120s"
	EOF
	containerd --config "$d/config.toml" >"$d/containerd.log" 2>&1 &
	LAUNCHED_PID=$!
}

# ctd_ready DIR PID TRIES: waits (TRIES x 0.1 s) until the containerd of DIR
# answers; its log's tail on stderr if it does not.
ctd_ready() {
	wait_up "$3" 0.1 "$2" ctr -a "$1/containerd.sock" version && return 0
	echo "containerd ($1) did not start:" >&2
	tail -20 "$1/containerd.log" >&2
	return 1
}

# localhost/bb:latest: an OCI layout built by umoci from a rootfs holding
# the static busybox (and /etc/keep, a file of the image to change),
# imported without any registry.
ctd_image() {
	local d=$TMP/image a
	mkdir -p "$d"
	(
		set -e
		cd "$d"
		umoci init --layout oci
		umoci new --image oci:latest
		umoci unpack --image oci:latest bundle
		mkdir -p bundle/rootfs/bin
		cp "$(command -v busybox)" bundle/rootfs/bin/busybox
		for a in sh sleep cat echo true; do ln -s busybox "bundle/rootfs/bin/$a"; done
		mkdir -p bundle/rootfs/etc && echo original >bundle/rootfs/etc/keep
		umoci repack --image oci:latest bundle
		umoci config --image oci:latest --config.cmd /bin/sh --config.env PATH=/bin
		tar -C oci -cf bb.tar .
	) >"$d/build.log" 2>&1 || { cat "$d/build.log" >&2; return 1; }
	ctr_ image import --base-name localhost/bb "$d/bb.tar" >/dev/null
}

# Tasks killed and removed, containerd stopped by pid, shims of this
# containerd (their command line names our socket) ended by pid, mounts
# below $TMP undone.
ctd_stop() {
	ctd_teardown "$CTD_SOCK" "$CTD_PID"
	CTD_PID=
	umount_below "$TMP"
}

# ctd_teardown SOCKET PID: the containerd PID listening on SOCKET: its
# tasks killed and removed, its containers removed, it stopped; its shims
# (their command line names SOCKET) ended by pid.
ctd_teardown() {
	local sock=$1 pid=$2 ids id p
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		ids=$(ctr -a "$sock" task ls -q 2>/dev/null)
		for id in $ids; do ctr -a "$sock" task kill -s KILL "$id" >/dev/null 2>&1; done
		[ -z "$ids" ] || ctr -a "$sock" task rm -f $ids >/dev/null 2>&1
		ids=$(ctr -a "$sock" c ls -q 2>/dev/null)
		[ -z "$ids" ] || ctr -a "$sock" c rm $ids >/dev/null 2>&1
		kill -TERM "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	fi
	for p in /proc/[0-9]*; do
		if tr '\0' ' ' 2>/dev/null <"$p/cmdline" | grep -q -- "-address $sock "; then
			kill_shim "${p#/proc/}"
		fi
	done
	return 0
}

# kill_shim PID: a shim ended by SIGKILL, as a crash would end it, and the
# socket it listened on (under /run/containerd/s) removed: a killed shim
# cannot remove it itself.
kill_shim() {
	local socks
	socks=$(ss -xlpn 2>/dev/null | awk -v p="pid=$1," 'index($0, p) && $5 ~ "^/run/containerd/s/" { print $5 }')
	kill -KILL "$1" 2>/dev/null || return 1
	# shellcheck disable=SC2086
	[ -z "$socks" ] || rm -f $socks
}

# ---- the counter ----------------------------------------------------------
# ctd_counter [MARKER [PAUSE [ALSO]]]: the busybox counter, a shell script.
# Its count lives in memory (i) and is written to its work dir /work
# (COUNT_WRITE), then ALSO runs; /marker (what the command MARKER prints, "first
# start" by default) is written once, at the first start; /work/stop holds
# the exit code to end with; PAUSE seconds (0.1) between counts.
ctd_counter() {
	local marker=${1:-echo \"first start\"} pause=${2:-0.1} also=${3:-}
	printf '%s\n' "[ -e /marker ] || $marker > /marker" \
		'i=0' \
		'while :; do' \
		"	i=\$((i + 1)); $COUNT_WRITE${also:+; $also}" \
		'	[ -e /work/stop ] && exit "$(cat /work/stop)"' \
		"	sleep $pause" \
		'done'
}

# run_enabled ID [ctr run options...]: the counter (COUNTER, else
# ctd_counter's) detached as container ID, opted in (TARDIS_ENABLE=1),
# tardis-runc (SHIM) its runc, its work dir and images on NFS; runc's state
# under RUNC_ROOT when that is set.
run_enabled() {
	local id=$1
	shift
	ctr_ run -d --runc-binary "${SHIM:-$BIN/tardis-runc}" ${RUNC_ROOT:+--runc-root "$RUNC_ROOT"} \
		--env TARDIS_ENABLE=1 --env TARDIS_NETWORKFS_HOST_PATH="$NFS" \
		--env TARDIS_WORKDIR_CONTAINER_PATH=/work \
		"$@" localhost/bb:latest "$id" sh -c "${COUNTER:-$(ctd_counter)}" >/dev/null
}

# The counter of ID: its count (0 before the first), whether it got to N.
count_of() { count_file "$NFS/work/default/$1/count"; }
count_at_least() { [ "$(count_of "$1")" -ge "$2" ]; }
# exit_with ID CODE: the counter ends with CODE.
exit_with() { echo "$2" >"$NFS/work/default/$1/stop"; }
image_of() { echo "$NFS/checkpoint/default/$1"; }
# The task of ID as `ctr task ls` shows it: its status, its pid.
task_status() { ctr_ task ls 2>/dev/null | awk -v id="$1" '$1 == id { print $3 }'; }
task_pid() { ctr_ task ls 2>/dev/null | awk -v id="$1" '$1 == id { print $2 }'; }
task_is() { [ "$(task_status "$1")" = "$2" ]; }
# ctd_finish ID: the counter ends with exit 0 (tardis removes its image; a
# KILL would be a stop signal, checkpointed when opted in), the container
# removed.
ctd_finish() {
	exit_with "$1" 0
	wait_for 20 task_is "$1" STOPPED || ctr_ task kill -s KILL "$1" >/dev/null 2>&1
	wait_for 10 task_is "$1" STOPPED
	remove_container "$1"
}
# remove_container ID: task rm + container rm, as a user would.
remove_container() {
	ctr_ task rm "$1" >/dev/null 2>&1
	ctr_ c rm "$1" >/dev/null 2>&1
}
