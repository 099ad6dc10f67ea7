#!/bin/sh
# Provides containerd 2.x (Debian sid's `containerd` package, whose binaries
# run on Debian 12 as they are) and a Python CRI client's generated code (the
# CRI api.proto of sid's `golang-k8s-cri-api-dev`, compiled with Debian 12's
# protoc); for the Kubernetes tests (issue 10, docs/kubernetes.md).
#
#   OUT/containerd2/root/usr/bin   containerd, containerd-shim-runc-v2, ctr
#   OUT/cri-py/                    api_pb2.py (import it with PYTHONPATH)
#
# Prints the bin dir on stdout as the last line (progress goes to stderr).
# Both .debs are pinned (name and sha256 below) and kept in
# OUT/containerd2/debs; they are unpacked with `dpkg-deb -x`, never
# installed.  A pinned .deb comes from the live mirror's pool while sid
# still has it, else from snapshot.debian.org (by its sha1, then through an
# archive snapshot of sid that had it), with apt's own downloader
# (apt-helper: no curl needed), and is checked against its sha256 before
# use.  A second run finds everything in place (stamps name the pinned
# .debs) and returns at once, offline.  OUT = ${TARDIS_BUILD_DIR:-<repo>/build}.
# Run as root; no stdin needed.
set -eu

# The pins: what sid had on 2026-11-26 (docs/kubernetes.md).  To move on,
# change a name and its hashes together (sha256sum/sha1sum of the .deb).
CTD_DEB=containerd_2.1.9+ds1-5_amd64.deb
CTD_POOL=pool/main/c/containerd
CTD_SHA256=2dda86ce7033fd612fc50e136679d8174ccad680eb29cd4611e0d2a1b84cf591
CTD_SHA1=f36c73c3f281a44234b4d507cdfc85d2fcdcd39c
API_DEB=golang-k8s-cri-api-dev_0.36.4-1_all.deb
API_POOL=pool/main/g/golang-k8s-cri-api
API_SHA256=48943754d63d9f463660219677a6bdd85b744c659b3abf0011cfb838ec1838e4
API_SHA1=169d2f98b1a0128934a30f3f1f1d37c9b0d86c91
# A snapshot.debian.org time at which sid had both (the archive URL
# resolves to the last snapshot before it).
SNAPSHOT_TS=20261126T000000Z

MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
SNAPSHOT=${DEBIAN_SNAPSHOT:-https://snapshot.debian.org}
APT_HELPER=/usr/lib/apt/apt-helper
PROTO_PATH=usr/share/gocode/src/k8s.io/cri-api/pkg/apis/runtime/v1/api.proto

log() { echo "fetch-containerd2: $*" >&2; }
die() {
	log "ERROR: $*"
	exit 1
}

REPO=$(cd "$(dirname "$0")/.." && pwd)
OUT=${TARDIS_BUILD_DIR:-$REPO/build}
mkdir -p "$OUT/containerd2" || die "cannot create $OUT/containerd2"
OUT=$(cd "$OUT" && pwd)
C2=$OUT/containerd2
BINDIR=$C2/root/usr/bin
PY=$OUT/cri-py
DEBS=$C2/debs
CTD_STAMP="$CTD_DEB $CTD_SHA256"
API_STAMP="$API_DEB $API_SHA256"

# stamp_is FILE TEXT: FILE holds TEXT (what was unpacked into that tree).
stamp_is() { [ -f "$1" ] && [ "$(cat "$1")" = "$2" ]; }

ctd_done() {
	stamp_is "$C2/root/.pinned" "$CTD_STAMP" && [ -x "$BINDIR/containerd" ] &&
		[ -x "$BINDIR/containerd-shim-runc-v2" ] && [ -x "$BINDIR/ctr" ]
}
api_done() { stamp_is "$PY/.pinned" "$API_STAMP" && [ -s "$PY/api_pb2.py" ]; }

# Cached: nothing to do, not even a lock.
if ctd_done && api_done; then
	echo "$BINDIR"
	exit 0
fi

# Serialise concurrent runs (util-linux flock is Essential on Debian).
if command -v flock >/dev/null 2>&1; then
	exec 9>"$C2/.lock"
	flock 9 || die "cannot lock $C2/.lock"
	if ctd_done && api_done; then
		echo "$BINDIR"
		exit 0
	fi
fi

[ "$(id -u)" -eq 0 ] || die "must run as root"
for t in dpkg-deb protoc sha256sum; do
	command -v "$t" >/dev/null 2>&1 || die "missing $t (scripts/setup.sh installs protobuf-compiler)"
done
mkdir -p "$DEBS"

# sha_ok FILE SHA256: FILE exists and has that sha256.
sha_ok() { [ -f "$1" ] && [ "$(sha256sum <"$1" | cut -d' ' -f1)" = "$2" ]; }

# fetch_deb DEB POOL SHA256 SHA1: $DEBS/DEB with that sha256, downloaded if
# absent (or damaged): the live mirror first, then snapshot.debian.org.
fetch_deb() {
	deb=$1 pool=$2 sha256=$3 sha1=$4
	sha_ok "$DEBS/$deb" "$sha256" && return 0
	[ -x "$APT_HELPER" ] || die "missing $APT_HELPER (package apt)"
	rm -f "$DEBS/$deb" "$DEBS/$deb.FAILED"
	for url in "$MIRROR/$pool/$deb" "$SNAPSHOT/file/$sha1" \
		"$SNAPSHOT/archive/debian/$SNAPSHOT_TS/$pool/$deb"; do
		log "downloading $deb from $url"
		# apt-helper checks the hash itself; as root, without dropping to
		# _apt (the target dir is root's).
		if "$APT_HELPER" -o APT::Sandbox::User=root -o Acquire::Retries=2 \
			download-file "$url" "$DEBS/$deb.part" "SHA256:$sha256" \
			>"$DEBS/$deb.log" 2>&1 </dev/null &&
			sha_ok "$DEBS/$deb.part" "$sha256"; then
			mv "$DEBS/$deb.part" "$DEBS/$deb"
			return 0
		fi
		sed -n 's/^E: /  /p' "$DEBS/$deb.log" >&2
		rm -f "$DEBS/$deb.part" "$DEBS/$deb.part.FAILED"
	done
	die "cannot get $deb (sha256 $sha256) from $MIRROR or $SNAPSHOT"
}

# Unpack into a temporary dir and rename: an interrupted run never leaves a
# half-unpacked tree behind.
if ! ctd_done; then
	fetch_deb "$CTD_DEB" "$CTD_POOL" "$CTD_SHA256" "$CTD_SHA1"
	log "unpacking $CTD_DEB"
	rm -rf "$C2/root.tmp" "$C2/root"
	dpkg-deb -x "$DEBS/$CTD_DEB" "$C2/root.tmp" || die "dpkg-deb -x $CTD_DEB failed"
	for b in containerd containerd-shim-runc-v2 ctr; do
		[ -x "$C2/root.tmp/usr/bin/$b" ] || die "$CTD_DEB has no usr/bin/$b"
	done
	echo "$CTD_STAMP" >"$C2/root.tmp/.pinned"
	mv "$C2/root.tmp" "$C2/root"
	"$BINDIR/containerd" --version >&2 || die "$BINDIR/containerd does not run here"
fi

# The CRI proto: its `[debug_redact = true]` field options (parenthesised in
# some versions) are unknown to Debian 12's protoc (3.21) and only matter
# for Go's logging: removed.
if ! api_done; then
	fetch_deb "$API_DEB" "$API_POOL" "$API_SHA256" "$API_SHA1"
	log "compiling the CRI api.proto of $API_DEB"
	rm -rf "$PY.tmp" && mkdir -p "$PY.tmp/deb"
	dpkg-deb -x "$DEBS/$API_DEB" "$PY.tmp/deb" || die "dpkg-deb -x $API_DEB failed"
	[ -s "$PY.tmp/deb/$PROTO_PATH" ] || die "$API_DEB has no $PROTO_PATH"
	sed -E 's/ *\[\(?debug_redact\)? = true\]//' "$PY.tmp/deb/$PROTO_PATH" >"$PY.tmp/api.proto"
	# Imports of gogo protobuf (older cri-api) would need their own paths.
	! grep -q '^import "github.com' "$PY.tmp/api.proto" || die "api.proto imports gogo protobuf"
	(cd "$PY.tmp" && protoc --python_out=. api.proto) || die "protoc failed on api.proto"
	rm -rf "$PY.tmp/deb" "$PY"
	echo "$API_STAMP" >"$PY.tmp/.pinned"
	mv "$PY.tmp" "$PY"
fi
echo "$BINDIR"
