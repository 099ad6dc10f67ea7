#!/bin/sh
# Provides a CRIU binary that works on the running kernel and prints its path
# on stdout as the last line (all progress messages go to stderr).
#
#   1. the system's criu, if installed and `criu check` passes (never installed
#      here: Debian 12's criu 3.17 fails on recent kernels, e.g. 6.18 vDSO);
#   2. a previous build in $OUT, if `criu check` passes with it;
#   3. otherwise CRIU 4.1.1 built from Debian's orig tarball, fetched through a
#      private apt configuration under $OUT/apt (/etc/apt is never touched),
#      with a direct download from the Debian pool as a fallback.
#
# OUT = ${TARDIS_BUILD_DIR:-<repo>/build}/criu.  Run as root on Debian 12.
# Idempotent; safe to run concurrently (serialised with flock when available).
set -eu

CRIU_VERSION=4.1.1
TARBALL=criu_${CRIU_VERSION}.orig.tar.xz
# From trixie's signed Sources index (criu 4.1.1-1, Checksums-Sha256).
TARBALL_SHA256=f80a66cb3726bb2116266d4759ce3bcbfab7abdb6b6d430bf20dd41911717afe
POOL_URL=http://deb.debian.org/debian/pool/main/c/criu/$TARBALL
SUITE=trixie
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

criu_works() { "$1" check >/dev/null 2>&1; }

# 1. The distribution's criu, if it works on this kernel.
if sys_criu=$(command -v criu 2>/dev/null) && criu_works "$sys_criu"; then
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
LOG=$OUT/build.log
APT=$OUT/apt

# Serialise concurrent runs (util-linux flock is Essential on Debian).
if command -v flock >/dev/null 2>&1; then
	exec 9>"$OUT/.lock"
	flock 9 || die "cannot lock $OUT/.lock"
fi

# 2. Cached build.
if [ -x "$BIN" ] && criu_works "$BIN"; then
	log "using cached build"
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

# 3d. Verify on the running kernel.
if ! check_out=$("$BIN" check 2>&1); then
	log "$BIN check failed on kernel $(uname -r):"
	printf '%s\n' "$check_out" >&2
	die "criu check failed"
fi
log "criu check: $(printf '%s\n' "$check_out" | tail -n 1)"
echo "$BIN"
