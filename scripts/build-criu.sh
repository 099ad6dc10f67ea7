#!/bin/sh
# Provides a CRIU binary that works on the running kernel and prints its path
# on stdout as the last line (all progress messages go to stderr).
#
#   1. the system's criu, if installed and it works (never installed here:
#      Debian 12's criu 3.17 fails on recent kernels, e.g. 6.18 vDSO);
#   2. a previous build in $OUT, if it works;
#   3. otherwise CRIU $CRIU_VERSION built from Debian's orig tarball, fetched
#      through a private apt configuration under $OUT/apt (/etc/apt is never
#      touched), with a direct download from the Debian pool as a fallback.
#
# "Works" means both `criu check` passes AND a real `criu dump` of a process
# holding a listening TCP socket succeeds on the running kernel: containers
# are mostly servers, and a CRIU that passes `check` but cannot dump a socket
# (4.1.1 on 6.18: "sockets: Can't get 1:16 opt: Operation not supported") is
# never used silently.  CRIU 4.2.1 passes both here.
#
# `build-criu.sh 4.1.1` builds that older CRIU instead (trixie's version,
# for images made by one CRIU and restored by another: vmtest's 6.12 line,
# where it dumps; on 6.18 it cannot) and checks only that it runs
# (`criu --version`): the system's CRIU is never taken for it.
#
# OUT = ${TARDIS_BUILD_DIR:-<repo>/build}/criu.  Run as root on Debian 12.
# Idempotent; safe to run concurrently (serialised with flock when available).
set -eu

# The one place the CRIU version is chosen: the newest CRIU Debian has in
# source.  Version, the suite whose deb-src carries it, and the orig tarball's
# SHA-256 from that suite's signed Sources index (Checksums-Sha256) go together.
CRIU_VERSION=4.2.1
SUITE=sid
# sid's Sources index, criu 4.2.1-1 (checked 2026-11-25).
TARBALL_SHA256=29ec0ee09e296479fe7048c80980e8ef1d0684d0b0204c2b101dfea19f6725b9
OLDER=
case ${1:-} in
"" | 4.2.1) ;;
4.1.1) # trixie's (cannot dump a TCP socket on 6.18, hangs after)
	CRIU_VERSION=4.1.1 SUITE=trixie OLDER=1
	TARBALL_SHA256=f80a66cb3726bb2116266d4759ce3bcbfab7abdb6b6d430bf20dd41911717afe
	;;
*)
	echo "build-criu: usage: build-criu.sh [4.2.1|4.1.1]" >&2
	exit 2
	;;
esac
TARBALL=criu_${CRIU_VERSION}.orig.tar.xz
POOL_URL=http://deb.debian.org/debian/pool/main/c/criu/$TARBALL
# Seconds a test dump may take before it counts as a failure.
DUMP_TIMEOUT=120
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

BUILD_DEPS="libprotobuf-dev libprotobuf-c-dev protobuf-c-compiler
protobuf-compiler python3-protobuf libnl-3-dev libnet1-dev libcap-dev
libaio-dev libbsd-dev libgnutls28-dev libnftables-dev uuid-dev pkg-config
gcc make xz-utils"

log() { echo "build-criu: $*" >&2; }
die() {
	log "ERROR: $*"
	exit 1
}

# server_dump_ok CRIU: dumps a process that holds a listening TCP socket
# (busybox httpd on 127.0.0.1, else python3) in its own session; the dump must say
# "Dumping finished successfully".  The process is killed afterwards whatever
# happened (CRIU's dump kills it already on success).
server_dump_ok() {
	criu=$1
	d=$(mktemp -d "${TMPDIR:-/tmp}/build-criu-dump.XXXXXX") || return 1
	port=$(( ($$ % 20000) + 30000 ))
	pid=
	tries=0
	while [ $tries -lt 5 ]; do
		tries=$((tries + 1))
		port=$((port + 1))
		if command -v busybox >/dev/null 2>&1; then
			mkdir -p "$d/www"
			setsid busybox httpd -f -p "127.0.0.1:$port" -h "$d/www" </dev/null >/dev/null 2>&1 9>&- &
		elif command -v python3 >/dev/null 2>&1; then
			setsid python3 -c 'import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(1); time.sleep(600)' \
				"$port" </dev/null >/dev/null 2>&1 9>&- &
		else
			log "server dump test: neither busybox nor python3 to run a listener"
			rm -rf "$d"
			return 1
		fi
		pid=$!
		hexport=$(printf ':%04X ' "$port")
		n=0
		while [ $n -lt 50 ]; do
			# state 0A = LISTEN, in the listener's own network namespace.
			grep -q "$hexport.* 0A " "/proc/$pid/net/tcp" 2>/dev/null && break
			kill -0 "$pid" 2>/dev/null || break
			n=$((n + 1))
			sleep 0.05
		done
		grep -q "$hexport.* 0A " "/proc/$pid/net/tcp" 2>/dev/null && break
		kill -9 "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		pid=
	done
	if [ -z "$pid" ]; then
		log "server dump test: could not start a TCP listener"
		rm -rf "$d"
		return 1
	fi
	# fd 9 (our flock) is closed for the listener: CRIU refuses a task
	# holding file locks.  The listener is a session leader (setsid);
	# --shell-job covers the case where setsid could not make it one.
	# -v4: "Dumping finished successfully" is an info line.  Under a
	# timeout: CRIU 4.1.1 on 6.18 fails on the socket and then hangs in
	# wait4() while it cures the task.
	rc=0
	timeout -s KILL "$DUMP_TIMEOUT" "$criu" dump -t "$pid" --shell-job -D "$d" -o dump.log -v4 \
		>/dev/null 2>&1 || rc=$?
	kill -9 "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	if [ $rc -eq 0 ] && grep -q "Dumping finished successfully" "$d/dump.log" 2>/dev/null; then
		rm -rf "$d"
		return 0
	fi
	log "$criu cannot dump a process with a listening TCP socket (exit $rc); dump.log:"
	[ $rc -ne 137 ] || log "(killed after $DUMP_TIMEOUT s)"
	grep "Error" "$d/dump.log" 2>/dev/null | grep -v RLIMIT_NOFILE | head -n 5 >&2
	rm -rf "$d"
	return 1
}

# criu_works CRIU [quiet]: `criu check` and a real dump of a TCP server.
criu_works() {
	if ! out=$("$1" check 2>&1); then
		[ -n "${2:-}" ] || {
			log "$1 check failed on kernel $(uname -r):"
			printf '%s\n' "$out" | tail -n 5 >&2
		}
		return 1
	fi
	server_dump_ok "$1"
}

# criu_runs CRIU: an older version is only asked its version.
criu_runs() {
	"$1" --version 2>/dev/null | grep -qx "Version: $CRIU_VERSION"
}

# criu_fits CRIU: what this run asks of a CRIU (the version it builds).
criu_fits() {
	if [ -n "$OLDER" ]; then criu_runs "$1"; else criu_works "$1"; fi
}

# 1. The distribution's criu, if it works on this kernel.
if [ -z "$OLDER" ] && sys_criu=$(command -v criu 2>/dev/null) && criu_works "$sys_criu"; then
	log "system criu works: $sys_criu"
	echo "$sys_criu"
	exit 0
fi

REPO=$(cd "$(dirname "$0")/.." && pwd)
OUT=${TARDIS_BUILD_DIR:-$REPO/build}/criu
mkdir -p "$OUT" || die "cannot create $OUT"
OUT=$(cd "$OUT" && pwd)
SRC=$OUT/criu-$CRIU_VERSION
BIN=$SRC/criu/criu
LOG=$OUT/build-$CRIU_VERSION.log
APT=$OUT/apt

# Serialise concurrent runs (util-linux flock is Essential on Debian).
if command -v flock >/dev/null 2>&1; then
	exec 9>"$OUT/.lock"
	flock 9 || die "cannot lock $OUT/.lock"
fi

# 2. Cached build.
if [ -x "$BIN" ] && criu_fits "$BIN"; then
	log "using cached build of $CRIU_VERSION"
	echo "$BIN"
	exit 0
fi

[ "$(id -u)" -eq 0 ] || die "must run as root (apt-get, criu check)"

# 3a. Build dependencies.
missing=""
for p in $BUILD_DEPS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing="$missing $p"
done
if [ -n "$missing" ]; then
	log "installing build dependencies:$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >&2 || die "apt-get update failed"
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing >&2 ||
		die "cannot install build dependencies:$missing"
fi

tarball_ok() {
	[ -s "$OUT/$TARBALL" ] &&
		echo "$TARBALL_SHA256  $OUT/$TARBALL" | sha256sum -c --status -
}

# 3b. Source tarball: private apt configuration first.
fetch_with_apt() {
	mkdir -p "$APT/lists/partial" "$APT/cache/archives/partial" \
		"$APT/sources.list.d"
	[ -r "$KEYRING" ] || {
		log "missing $KEYRING (package debian-archive-keyring)"
		return 1
	}
	echo "deb-src [signed-by=$KEYRING] http://deb.debian.org/debian $SUITE main" \
		>"$APT/sources.list"
	# Sandbox user root: no chown of the private dirs to _apt needed.
	set -- -o "Dir::Etc::SourceList=$APT/sources.list" \
		-o "Dir::Etc::SourceParts=$APT/sources.list.d" \
		-o "Dir::State::Lists=$APT/lists" \
		-o "Dir::Cache=$APT/cache" \
		-o "APT::Sandbox::User=root" \
		-o "Acquire::Languages=none"
	log "apt-get update ($SUITE deb-src, private config in $APT)"
	apt-get "$@" -q update >"$APT/update.log" 2>&1 || {
		log "private apt-get update failed:"
		tail -n 20 "$APT/update.log" >&2
		return 1
	}
	# The .dsc and .debian.tar.xz may 404 (only the orig tarball is kept on
	# some mirrors), which makes apt-get source fail: only the tarball counts.
	log "apt-get source --download-only criu"
	(cd "$OUT" && apt-get "$@" -q source --download-only criu) \
		>"$APT/source.log" 2>&1 || true
	tarball_ok || {
		log "apt-get source did not yield a valid $TARBALL:"
		tail -n 20 "$APT/source.log" >&2
		return 1
	}
}

fetch_direct() {
	tmp=$OUT/$TARBALL.part
	rm -f "$tmp"
	log "downloading $POOL_URL"
	if command -v curl >/dev/null 2>&1; then
		curl -fsSL --retry 3 -o "$tmp" "$POOL_URL"
	elif command -v wget >/dev/null 2>&1; then
		wget -q -O "$tmp" "$POOL_URL"
	elif command -v python3 >/dev/null 2>&1; then
		python3 -c 'import sys, urllib.request
urllib.request.urlretrieve(sys.argv[1], sys.argv[2])' "$POOL_URL" "$tmp"
	else
		log "no curl, wget or python3 to download with"
		return 1
	fi || {
		log "download of $POOL_URL failed"
		rm -f "$tmp"
		return 1
	}
	mv -f "$tmp" "$OUT/$TARBALL"
	tarball_ok || {
		log "$TARBALL: SHA-256 mismatch (expected $TARBALL_SHA256)"
		rm -f "$OUT/$TARBALL"
		return 1
	}
}

if [ ! -f "$SRC/Makefile" ]; then
	if tarball_ok; then
		log "using downloaded $TARBALL"
	else
		rm -f "$OUT/$TARBALL"
		fetch_with_apt || fetch_direct ||
			die "cannot fetch $TARBALL (tried private apt $SUITE deb-src and $POOL_URL)"
	fi
	# Extract into a temporary dir and rename: an interrupted run never
	# leaves a half-extracted tree behind.
	rm -rf "$OUT/extract.tmp"
	mkdir "$OUT/extract.tmp"
	tar -C "$OUT/extract.tmp" -xJf "$OUT/$TARBALL" ||
		die "cannot extract $OUT/$TARBALL"
	[ -f "$OUT/extract.tmp/criu-$CRIU_VERSION/Makefile" ] ||
		die "$TARBALL does not contain criu-$CRIU_VERSION/Makefile"
	rm -rf "$SRC"
	mv "$OUT/extract.tmp/criu-$CRIU_VERSION" "$SRC"
	rm -rf "$OUT/extract.tmp"
fi

# 3c. Build (incremental if a previous run was interrupted).
log "building CRIU $CRIU_VERSION (make -j2 criu, log: $LOG)"
if ! make -C "$SRC" -j2 criu >"$LOG" 2>&1; then
	log "build failed, last lines of $LOG:"
	tail -n 40 "$LOG" >&2
	die "make criu failed"
fi
[ -x "$BIN" ] || die "build succeeded but $BIN is missing"

if [ -n "$OLDER" ]; then
	criu_runs "$BIN" || die "$BIN does not say Version: $CRIU_VERSION"
	echo "$BIN"
	exit 0
fi

# 3d. Verify on the running kernel: `criu check` and a TCP server dump.
if ! check_out=$("$BIN" check 2>&1); then
	log "$BIN check failed on kernel $(uname -r):"
	printf '%s\n' "$check_out" >&2
	die "criu check failed"
fi
log "criu check: $(printf '%s\n' "$check_out" | tail -n 1)"
server_dump_ok "$BIN" || die "CRIU $CRIU_VERSION cannot dump a TCP server on kernel $(uname -r)"
log "criu dump of a listening TCP socket: ok"
echo "$BIN"
