# A private containerd with its CRI plugin, driven like kubelet by
# tests/lib/cri.py: a Kubernetes node without kubelet (issue 10,
# docs/kubernetes.md).  Sourced after tests/lib/lib.sh (uses TMP, BIN, ROOT,
# wait_up, umount_below, on_cleanup) and tests/lib/containerd.sh (kill_shim).
#
#   cri_start DIR     a containerd whose root, state, socket, runc root,
#                     log and CNI conf dir live in DIR, started with this
#                     shell's environment (TARDIS_STATE_DIR ... reach the
#                     shims and so tardis-runc); its runc is CRI_RUNC
#                     (default $SHIM, else $BIN/tardis-runc; `runc` for the
#                     plain one); localhost/pause:1 is its sandbox image
#                     and localhost/bb:latest (busybox) is imported.  Which
#                     containerd: CRI_CONTAINERD=2 (default: the pinned 2.x
#                     of scripts/fetch-containerd2.sh, or CRI_BIN) or 1.6
#                     (Debian 12's own, /usr/bin; 1.7: Debian 13's, in a
#                     compat userland, with 1.6's config).  Sets CRI_SOCK
#                     (DIR/containerd.sock) and CRI_PID.
#   cri_ [SOCK] ARGS  tests/lib/cri.py on CRI_SOCK (or SOCK, if it is one)
#   crictr_ ARGS      ctr (the node's own) in the k8s.io namespace of CRI_SOCK
#   cri_stop [DIR]    its pods stopped and removed as kubelet would, then
#                     containerd and its shims ended by pid, mounts below
#                     DIR undone, the pods' cgroups removed; without DIR:
#                     every containerd cri_start started.
# shellcheck shell=bash

CRI_BIN=${CRI_BIN:-}
CRI_SOCK=
CRI_PID=
CRI_DIRS=()
CRI_PY=$ROOT/tests/lib/cri.py

# CRI_SERVER: the server container of tests and benches (sh -c): httpd
# (unless SERVE=0) on PORT with a page naming the pod (POD), a counter in
# memory written to /work/count (COUNT_WRITE), files written and one deleted in the
# rootfs, a file of BIG MiB if set; exits with the code in /work/stop when
# that appears.
CRI_SERVER='[ -e /marker ] || {
	echo first > /marker; busybox mkdir -p /www /data
	echo "page of $POD" > /www/index.html; echo a > /data/a; echo b > /data/b
	[ "$SERVE" = 0 ] || busybox httpd -p "$PORT" -h /www
	[ -z "$BIG" ] || busybox dd if=/dev/zero of=/data/big bs=1M count="$BIG" 2>/dev/null
}
i=0
while :; do
	i=$((i + 1)); '"$COUNT_WRITE"'
	[ $i = 5 ] && { rm -f /data/b; echo c > /data/c; }
	[ -e /work/stop ] && exit "$(cat /work/stop)"
	sleep 0.1
done'

# Pods' cgroup parents (cri.py): below a root of this test's own, removed
# by cri_stop, not kubelet's /kubepods.
export CRI_CGROUP_ROOT=${CRI_CGROUP_ROOT:-/tardis-cri-$$}

# cri_bin: containerd 2.x's bin dir (scripts/fetch-containerd2.sh, cached
# after its first run) in CRI_BIN.
cri_bin() {
	[ -n "$CRI_BIN" ] || CRI_BIN=$("$ROOT/scripts/fetch-containerd2.sh") || return 1
}

cri_() {
	local sock=$CRI_SOCK
	if [ $# -gt 0 ] && [ -S "$1" ]; then
		sock=$1
		shift
	fi
	/usr/bin/python3 "$CRI_PY" --sock "$sock" "$@"
}
crictr_() { cri_ctr "${CRI_SOCK%/*}" -n k8s.io "$@"; }
# cri_ctr DIR ARGS: the ctr of node DIR's containerd (its bin dir, written
# by cri_start) on its socket.
cri_ctr() {
	local d=$1 bin
	shift
	bin=$(cat "$d/containerd.bin" 2>/dev/null) || bin=$CRI_BIN
	"$bin/ctr" -a "$d/containerd.sock" "$@"
}

# cri_config DIR RUNC: containerd 2.x's config (version 3).
# restrict_oom_score_adj: root here lacks CAP_SYS_RESOURCE, so runc cannot
# set the sandbox's oom_score_adj of -998.  NRI is off (its socket is
# machine-wide); the CNI conf dir is DIR's own (host-network pods need
# none).  The shim cleanup timeout as in containerd.sh (README).
cri_config() {
	local d=$1 runc=$2
	cat <<-EOF
		version = 3
		root = "$d/root"
		state = "$d/state"
		[grpc]
		  address = "$d/containerd.sock"
		[timeouts]
		  "io.containerd.timeout.shim.cleanup" = "120s"
		[plugins]
		  [plugins.'io.containerd.nri.v1.nri']
		    disable = true
		  [plugins.'io.containerd.cri.v1.images']
		    snapshotter = 'overlayfs'
		    [plugins.'io.containerd.cri.v1.images'.pinned_images]
		      sandbox = 'localhost/pause:1'
		  [plugins.'io.containerd.cri.v1.runtime']
		    restrict_oom_score_adj = true
		    disable_apparmor = true
		    [plugins.'io.containerd.cri.v1.runtime'.cni]
		      conf_dir = '$d/cni/net.d'
		    [plugins.'io.containerd.cri.v1.runtime'.containerd]
		      default_runtime_name = 'runc'
		      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
		        runtime_type = 'io.containerd.runc.v2'
		        pod_annotations = ['tardis.io/*']
		        container_annotations = ['tardis.io/*']
		        [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
		          BinaryName = '$runc'
		          Root = '$d/runc'
	EOF
}

# cri_config_16 DIR RUNC: containerd 1.6's config (version 2: the CRI
# plugin is io.containerd.grpc.v1.cri, images and runtime in one).  1.6 has
# no pinned images: a sandbox_image already in k8s.io is used as it is,
# never pulled.  1.6 has no NRI.  As cri_config otherwise.
cri_config_16() {
	local d=$1 runc=$2 p='plugins."io.containerd.grpc.v1.cri"'
	cat <<-EOF
		version = 2
		root = "$d/root"
		state = "$d/state"
		[grpc]
		  address = "$d/containerd.sock"
		[timeouts]
		  "io.containerd.timeout.shim.cleanup" = "120s"
		[plugins]
		  [$p]
		    sandbox_image = "localhost/pause:1"
		    restrict_oom_score_adj = true
		    disable_apparmor = true
		    [$p.cni]
		      conf_dir = "$d/cni/net.d"
		    [$p.containerd]
		      snapshotter = "overlayfs"
		      default_runtime_name = "runc"
		      [$p.containerd.runtimes.runc]
		        runtime_type = "io.containerd.runc.v2"
		        pod_annotations = ["tardis.io/*"]
		        container_annotations = ["tardis.io/*"]
		        [$p.containerd.runtimes.runc.options]
		          BinaryName = "$runc"
		          Root = "$d/runc"
	EOF
}

# cri_images: the OCI layout tars of localhost/bb:latest (busybox, as
# containerd.sh's ctd_image) and localhost/pause:1 (busybox sleeping as
# pid 1), built once per test under $TMP/cri-image.
cri_images() {
	local d=$TMP/cri-image a
	[ -s "$d/bb.tar" ] && [ -s "$d/pause.tar" ] && return 0
	mkdir -p "$d"
	(
		set -e
		cd "$d"
		rm -rf oci bundle
		umoci init --layout oci
		umoci new --image oci:latest
		umoci unpack --image oci:latest bundle
		mkdir -p bundle/rootfs/bin bundle/rootfs/etc
		cp "$(command -v busybox)" bundle/rootfs/bin/busybox
		for a in sh sleep cat echo true; do ln -s busybox "bundle/rootfs/bin/$a"; done
		echo original >bundle/rootfs/etc/keep
		umoci repack --image oci:latest bundle
		umoci config --image oci:latest --config.cmd /bin/sh --config.env PATH=/bin
		tar -C oci -cf bb.tar .
		# The pause image: the same rootfs, tag 1, sleeping for ever;
		# TERM or INT ends it, as they end kubernetes' pause.
		umoci config --image oci:latest --tag 1 --config.env PATH=/bin \
			--config.entrypoint /bin/sh --config.entrypoint -c \
			--config.entrypoint "trap 'exit 0' TERM INT; while :; do sleep 3600 & wait \$!; done" \
			--clear=config.cmd
		umoci rm --image oci:latest
		umoci gc --layout oci
		tar -C oci -cf pause.tar .
	) >"$d/build.log" 2>&1 || {
		cat "$d/build.log" >&2
		return 1
	}
}

# cri_start DIR: see the top of this file.
cri_start() {
	local d=$1 runc=${CRI_RUNC:-${SHIM:-$BIN/tardis-runc}} flavour=${CRI_CONTAINERD:-2} bin
	cri_bin || return 1
	cri_images || return 1
	[ "$runc" = runc ] && runc=$(command -v runc)
	mkdir -p "$d/root" "$d/state" "$d/runc" "$d/cni/net.d" "$d/pods"
	case $flavour in
	2 | 2.x)
		bin=$CRI_BIN
		cri_config "$d" "$runc" >"$d/config.toml"
		;;
	1.6 | 1.7)
		bin=/usr/bin
		"$bin/containerd" --version 2>/dev/null | grep -q " v\\?${flavour/./\\.}\\." || {
			echo "cri_start: $bin/containerd is not containerd $flavour" >&2
			return 1
		}
		cri_config_16 "$d" "$runc" >"$d/config.toml"
		;;
	*)
		echo "cri_start: CRI_CONTAINERD=$flavour: 2, 1.6 or 1.7" >&2
		return 1
		;;
	esac
	echo "$bin" >"$d/containerd.bin"
	# Its own shim (containerd-shim-runc-v2 of the same version) first in
	# PATH, then the CRIU tests use (TARDIS_CRIU): CRI's
	# CheckpointContainer looks `criu` up in containerd's PATH (and runc
	# in the shim's).
	PATH=$bin${TARDIS_CRIU:+:${TARDIS_CRIU%/*}}:$PATH "$bin/containerd" --config "$d/config.toml" >"$d/containerd.log" 2>&1 &
	CRI_PID=$!
	echo "$CRI_PID" >"$d/containerd.pid"
	# The agent tardis-runc starts on demand for this node, and its pins,
	# go with the node (cri_stop).
	printf '%s\n%s\n' "$TARDIS_STATE_DIR" "$TARDIS_BPF_DIR" >"$d/tardis.dirs"
	CRI_DIRS+=("$d")
	CRI_SOCK=$d/containerd.sock
	if ! wait_up 300 0.1 "$CRI_PID" cri_ version; then
		echo "containerd $flavour ($d) did not start:" >&2
		tail -20 "$d/containerd.log" >&2
		return 1
	fi
	if ! crictr_ image import --base-name localhost/bb "$TMP/cri-image/bb.tar" >/dev/null ||
		! crictr_ image import --base-name localhost/pause "$TMP/cri-image/pause.tar" >/dev/null; then
		echo "containerd $flavour ($d): image import failed" >&2
		return 1
	fi
}

# cri_stop [DIR]: see the top of this file.
cri_stop() {
	local dirs=("$@") d sock pid ids id p c state pins
	[ $# -gt 0 ] || dirs=("${CRI_DIRS[@]}")
	for d in "${dirs[@]}"; do
		sock=$d/containerd.sock
		pid=$(cat "$d/containerd.pid" 2>/dev/null)
		if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
			ids=$(cri_ "$sock" pods 2>/dev/null | jq -r '.items[]?.id')
			for id in $ids; do
				cri_ "$sock" stopp "$id" >/dev/null 2>&1
				cri_ "$sock" rmp "$id" >/dev/null 2>&1
			done
			# What the CRI left: killed, as ctd_teardown does.
			ids=$(cri_ctr "$d" -n k8s.io task ls -q 2>/dev/null)
			for id in $ids; do
				cri_ctr "$d" -n k8s.io task kill -s KILL "$id" >/dev/null 2>&1
			done
			kill -TERM "$pid" 2>/dev/null
			wait "$pid" 2>/dev/null
		fi
		rm -f "$d/containerd.pid"
		for p in /proc/[0-9]*; do
			if tr '\0' ' ' 2>/dev/null <"$p/cmdline" | grep -q -- "-address $sock "; then
				kill_shim "${p#/proc/}"
			fi
		done
		umount_below "$d"
		if [ -s "$d/tardis.dirs" ]; then
			{ read -r state && read -r pins; } <"$d/tardis.dirs"
			stop_agent_of "$state"
			[ -z "$pins" ] || [ ! -d "$pins" ] ||
				TARDIS_BPF_DIR=$pins "$BIN/tardisd" --unload >/dev/null 2>&1
			rm -f "$d/tardis.dirs"
		fi
	done
	# The pods' (empty) cgroups, deepest first, in every hierarchy.
	for c in /sys/fs/cgroup/*"$CRI_CGROUP_ROOT" /sys/fs/cgroup"$CRI_CGROUP_ROOT"; do
		[ -d "$c" ] && find "$c" -depth -type d -exec rmdir {} + 2>/dev/null
	done
	return 0
}
