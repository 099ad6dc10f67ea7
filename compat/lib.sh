# compat/run.sh's userland handling: make a Debian userland (debootstrap +
# apt-get, cached), enter it (private mount namespace + pivot_root), run a
# command there with the source tree at /src.
# shellcheck shell=bash

# What a userland gets besides minbase: tardis's build deps (the suite's own
# compiler, libbpf, cJSON, check, libarchive), the runtimes under test, and
# what the scenarios call (tests/lib/*.sh, tests/integration/test_*.sh).
COMPAT_PKGS="gcc libc6-dev make pkg-config clang llvm bpftool libbpf-dev libelf-dev zlib1g-dev
libcjson-dev check libarchive-dev libssl-dev libxxhash-dev
containerd runc criu
iptables iproute2 jq umoci busybox-static procps kmod util-linux mount python3 python3-grpcio
python3-protobuf"

# compat_mirror: the Debian mirror of the host's apt sources (deb822 or
# one-line), deb.debian.org if none is found.
compat_mirror() {
	local m
	m=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources \
		2>/dev/null | grep -v '^#' | grep -oE 'https?://[^ ]+/debian/?( |$)' | grep -v security | head -1)
	m=${m%% }
	echo "${m:-http://deb.debian.org/debian}"
}

# compat_prepare NAME SUITE: $CD/NAME/root holds SUITE's minbase with
# COMPAT_PKGS installed; skipped when its stamp (suite, mirror, package
# list) matches; a finished debootstrap (root.debootstrap: suite, mirror)
# is kept when only the packages changed.  Timings in $CD/NAME/prepare.time,
# the log in prepare.log.
compat_prepare() {
	local suite=$2 d=$CD/$1 mirror base stamp t0 t1 t2
	mirror=$(compat_mirror)
	base="$suite $mirror"
	stamp=$(printf '%s\n' "$base" $COMPAT_PKGS | sha256sum | cut -c1-16)
	mkdir -p "$d"
	if [ "$(cat "$d/root.stamp" 2>/dev/null)" = "$stamp" ] && [ -x "$d/root/usr/bin/containerd" ]; then
		echo "cached" >"$d/prepare.time"
		return 0
	fi
	rm -f "$d/root.stamp"
	t0=$(date +%s)
	{
		if [ "$(cat "$d/root.debootstrap" 2>/dev/null)" != "$base" ]; then
			rm -f "$d/root.debootstrap"
			rm -rf "$d/root"
			echo "debootstrap --variant=minbase $suite $d/root $mirror"
			debootstrap --variant=minbase "$suite" "$d/root" "$mirror" || return 1
			echo "$base" >"$d/root.debootstrap"
		fi
		t1=$(date +%s)
		# No service starts from a postinst (containerd's).
		printf '#!/bin/sh\nexit 101\n' >"$d/root/usr/sbin/policy-rc.d"
		chmod 0755 "$d/root/usr/sbin/policy-rc.d"
		# A mirror's sid may be older than its Release's Valid-Until
		# (a snapshot, a stale mirror): install from it all the same.
		echo 'Acquire::Check-Valid-Until "false";' >"$d/root/etc/apt/apt.conf.d/99compat"
		# shellcheck disable=SC2086
		compat_enter "$d" "" env DEBIAN_FRONTEND=noninteractive sh -c \
			'apt-get -q update && apt-get install -y -q --no-install-recommends "$@" && apt-get clean' \
			_ $COMPAT_PKGS || return 1
		t2=$(date +%s)
	} >"$d/prepare.log" 2>&1
	echo "debootstrap $((t1 - t0)) s, apt-get $((t2 - t1)) s" >"$d/prepare.time"
	echo "$stamp" >"$d/root.stamp"
}

# compat_enter DIR SRC CMD...: CMD run in the userland DIR/root, entered
# with a private mount namespace and pivot_root (a chroot is not enough for
# CRIU: it would see the host's mount tree): proc, /sys and /dev (rbind,
# with bpffs and cgroups), tmpfs on /run and /tmp.  With SRC (the
# repository): it is at /src, read-only, but for DIR itself (writable,
# where the build and the results go; DIR must be inside SRC).  With
# COMPAT_SHARED (a host directory): it is at /shared, writable, the same for
# every userland (test_upgrade's).  CMD runs in /src (or /) with a clean
# environment (PATH, HOME, LANG).
compat_enter() {
	local d=$1 src=$2
	shift 2
	unshare --mount --propagation private -- /bin/bash -c '
		set -e
		r=$1/root d=$1 src=$2 shared=$3
		shift 3
		mount --bind "$r" "$r"
		if [ -n "$shared" ]; then
			mkdir -p "$r/shared"
			mount --bind "$shared" "$r/shared"
		fi
		mount -t proc proc "$r/proc"
		mount --rbind /sys "$r/sys"
		mount --rbind /dev "$r/dev"
		mount -t tmpfs tmpfs "$r/run"
		mount -t tmpfs tmpfs "$r/tmp"
		mkdir -p "$r/oldroot" "$r/src"
		cwd=/
		if [ -n "$src" ]; then
			mount --bind "$src" "$r/src"
			mount -o remount,bind,ro "$r/src"
			mount --bind "$d" "$r/src/${d#"$src"/}"
			cwd=/src
		fi
		cd "$r"
		pivot_root . oldroot
		umount -l /oldroot
		cd "$cwd"
		exec /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
			HOME=/root LANG=C.UTF-8 TERM=dumb "$@"
	' compat-enter "$d" "$src" "${COMPAT_SHARED:-}" "$@"
}

# compat_versions: the userland's components, one "what: version" a line
# (run inside it, or on the host).
compat_versions() {
	local v
	echo "containerd: $(containerd --version 2>/dev/null | awk '{print $3}')"
	echo "runc: $(runc --version 2>/dev/null | awk 'NR == 1 {print $3}')"
	v=${TARDIS_CRIU:-$(command -v criu)}
	echo "criu: $("$v" --version 2>/dev/null | awk '/^Version/ {print $2}') ($v)"
	echo "criu check: $("$v" check 2>&1 | tail -1)"
	echo "gcc: $(gcc -dumpfullversion 2>/dev/null)"
	echo "clang: $(clang --version 2>/dev/null | head -1 | grep -oE '[0-9]+\.[0-9.]+' | head -1)"
	echo "libbpf: $(dpkg-query -W -f '${Version}' libbpf-dev 2>/dev/null)"
	echo "libcjson: $(dpkg-query -W -f '${Version}' libcjson-dev 2>/dev/null)"
	echo "glibc: $(dpkg-query -W -f '${Version}' libc6 2>/dev/null)"
	echo "python3-grpcio: $(dpkg-query -W -f '${Version}' python3-grpcio 2>/dev/null)"
}
