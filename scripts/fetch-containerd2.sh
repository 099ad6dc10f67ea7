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
# The .debs come through a private apt configuration under
# OUT/containerd2/apt (/etc/apt is never touched), unpacked with
# `dpkg-deb -x`, never installed.  A second run finds both in place and
# returns at once.  OUT = ${TARDIS_BUILD_DIR:-<repo>/build}.  Run as root.
set -eu

SUITE=sid
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
MIRROR=http://deb.debian.org/debian
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
APT=$C2/apt

done_already() {
	[ -x "$BINDIR/containerd" ] && [ -x "$BINDIR/containerd-shim-runc-v2" ] &&
		[ -x "$BINDIR/ctr" ] && [ -s "$PY/api_pb2.py" ]
}

# Cached: nothing to do, not even a lock.
if done_already; then
	echo "$BINDIR"
	exit 0
fi

# Serialise concurrent runs (util-linux flock is Essential on Debian).
if command -v flock >/dev/null 2>&1; then
	exec 9>"$C2/.lock"
	flock 9 || die "cannot lock $C2/.lock"
	if done_already; then
		echo "$BINDIR"
		exit 0
	fi
fi

[ "$(id -u)" -eq 0 ] || die "must run as root (apt-get)"
for t in apt-get dpkg-deb protoc; do
	command -v "$t" >/dev/null 2>&1 || die "missing $t (scripts/setup.sh installs protobuf-compiler)"
done
[ -r "$KEYRING" ] || die "missing $KEYRING (package debian-archive-keyring)"

# The private apt: sid's binary packages for amd64, its own lists, cache and
# (empty) dpkg status, so nothing of the system's apt state is read or
# written.  Sandbox user root: no chown of the private dirs to _apt needed.
mkdir -p "$APT/lists/partial" "$APT/cache/archives/partial" "$APT/sources.list.d" "$C2/debs"
: >>"$APT/status"
echo "deb [signed-by=$KEYRING] $MIRROR $SUITE main" >"$APT/sources.list"
set -- -o "Dir::Etc::SourceList=$APT/sources.list" \
	-o "Dir::Etc::SourceParts=$APT/sources.list.d" \
	-o "Dir::State::Lists=$APT/lists" \
	-o "Dir::State::status=$APT/status" \
	-o "Dir::Cache=$APT/cache" \
	-o "APT::Architectures::=amd64" \
	-o "APT::Sandbox::User=root" \
	-o "Acquire::Languages=none" \
	-o "Acquire::Retries=3"

# fetch_deb PACKAGE APT_OPTIONS...: the path of its .deb in $C2/debs,
# downloaded if absent.
fetch_deb() {
	pkg=$1
	shift
	deb=$(find "$C2/debs" -maxdepth 1 -name "${pkg}_*.deb" | sort -V | tail -n 1)
	if [ -z "$deb" ]; then
		if [ ! -f "$APT/.updated" ]; then
			log "apt-get update ($SUITE, private config in $APT)"
			apt-get "$@" -q update >"$APT/update.log" 2>&1 || {
				tail -n 20 "$APT/update.log" >&2
				die "private apt-get update failed"
			}
			: >"$APT/.updated"
		fi
		log "apt-get download $pkg ($SUITE)"
		(cd "$C2/debs" && apt-get "$@" -q download "$pkg") >"$C2/debs/$pkg.log" 2>&1 || {
			tail -n 5 "$C2/debs/$pkg.log" >&2
			die "cannot download $pkg from $SUITE"
		}
		deb=$(find "$C2/debs" -maxdepth 1 -name "${pkg}_*.deb" | sort -V | tail -n 1)
		[ -n "$deb" ] || die "apt-get download $pkg left no .deb"
	fi
	echo "$deb"
}
ctd_deb=$(fetch_deb containerd "$@")
api_deb=$(fetch_deb golang-k8s-cri-api-dev "$@")

# Unpack into a temporary dir and rename: an interrupted run never leaves a
# half-unpacked tree behind.
if [ ! -x "$BINDIR/containerd" ] || [ ! -x "$BINDIR/containerd-shim-runc-v2" ]; then
	log "unpacking $(basename "$ctd_deb")"
	rm -rf "$C2/root.tmp" "$C2/root"
	dpkg-deb -x "$ctd_deb" "$C2/root.tmp" || die "dpkg-deb -x $ctd_deb failed"
	mv "$C2/root.tmp" "$C2/root"
fi
for b in containerd containerd-shim-runc-v2 ctr; do
	[ -x "$BINDIR/$b" ] || die "$(basename "$ctd_deb") has no usr/bin/$b"
done
"$BINDIR/containerd" --version >&2 || die "$BINDIR/containerd does not run here"

# The CRI proto: its `[debug_redact = true]` field options (parenthesised in
# some versions) are unknown to Debian 12's protoc (3.21) and only matter
# for Go's logging: removed.
if [ ! -s "$PY/api_pb2.py" ]; then
	log "compiling the CRI api.proto of $(basename "$api_deb")"
	rm -rf "$PY.tmp" && mkdir -p "$PY.tmp/deb"
	dpkg-deb -x "$api_deb" "$PY.tmp/deb" || die "dpkg-deb -x $api_deb failed"
	[ -s "$PY.tmp/deb/$PROTO_PATH" ] || die "$(basename "$api_deb") has no $PROTO_PATH"
	sed -E 's/ *\[\(?debug_redact\)? = true\]//' "$PY.tmp/deb/$PROTO_PATH" >"$PY.tmp/api.proto"
	# Imports of gogo protobuf (older cri-api) would need their own paths.
	! grep -q '^import "github.com' "$PY.tmp/api.proto" || die "api.proto imports gogo protobuf"
	(cd "$PY.tmp" && protoc --python_out=. api.proto) || die "protoc failed on api.proto"
	rm -rf "$PY.tmp/deb" "$PY"
	mv "$PY.tmp" "$PY"
fi
echo "$BINDIR"
