# A private containerd with a busybox image, for tests, bench and demo.
# Sourced after tests/lib.sh (uses TMP, on_cleanup).
# shellcheck shell=bash

CTD_DIR=$TMP/containerd
CTD_SOCK=$CTD_DIR/containerd.sock
CTD_PID=

ctr_() { ctr -a "$CTD_SOCK" "$@"; }

# A containerd of our own: its root, state and socket live under $TMP, so
# nothing of a system containerd is touched.  Shim sockets still go to
# /run/containerd/s (containerd puts them there whatever `state` says).
ctd_start() {
	mkdir -p "$CTD_DIR/root" "$CTD_DIR/state"
	cat >"$CTD_DIR/config.toml" <<-EOF
		version = 2
		root = "$CTD_DIR/root"
		state = "$CTD_DIR/state"
		disabled_plugins = ["io.containerd.grpc.v1.cri"]
		[grpc]
		  address = "$CTD_SOCK"
	EOF
	containerd --config "$CTD_DIR/config.toml" >"$CTD_DIR/containerd.log" 2>&1 &
	CTD_PID=$!
	on_cleanup ctd_stop
	for _ in $(seq 1 100); do
		ctr_ version >/dev/null 2>&1 && return 0
		kill -0 "$CTD_PID" 2>/dev/null || break
		sleep 0.1
	done
	echo "containerd did not start:" >&2
	tail -20 "$CTD_DIR/containerd.log" >&2
	return 1
}

# localhost/bb:latest: an OCI layout built by umoci from a rootfs holding
# the static busybox, imported without any registry.
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
	local ids id p
	if [ -n "$CTD_PID" ] && kill -0 "$CTD_PID" 2>/dev/null; then
		ids=$(ctr_ task ls -q 2>/dev/null)
		for id in $ids; do ctr_ task kill -s KILL "$id" >/dev/null 2>&1; done
		[ -z "$ids" ] || ctr_ task rm -f $ids >/dev/null 2>&1
		ids=$(ctr_ c ls -q 2>/dev/null)
		[ -z "$ids" ] || ctr_ c rm $ids >/dev/null 2>&1
		kill -TERM "$CTD_PID" 2>/dev/null
		wait "$CTD_PID" 2>/dev/null
	fi
	CTD_PID=
	for p in /proc/[0-9]*; do
		[ -r "$p/cmdline" ] || continue
		if tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -q -- "-address $CTD_SOCK "; then
			kill -KILL "${p#/proc/}" 2>/dev/null
		fi
	done
	findmnt -rn -o TARGET | grep "^$TMP/" | sort -r | while read -r p; do
		umount -l "$p" 2>/dev/null
	done
	return 0
}

