# tardis-runc driven directly on runc bundles, for tests and bench: the
# shim's environment, overlay bundles over one busybox lower layer (as
# containerd makes them), the counter they run, and the small probes the
# tests ask of them.  Sourced after tests/lib/lib.sh (uses TMP, BIN, ROOT,
# on_cleanup, need_criu).
# shellcheck shell=bash disable=SC2034 # its variables are for the tests that source it

# shim_env NS [LOG-LEVEL]: tardis-runc with a working CRIU, the system's
# runc, its log in $TMP; SHIM, NS, RROOT (runc's --root: the namespace is
# its last component), IMAGES (the namespace's images in the state dir), LOG.
# Containers left under RROOT and mounts left below TMP go at the end.
shim_env() {
	need_criu
	TARDIS_RUNC=$(command -v runc)
	export TARDIS_RUNC
	export TARDIS_LOG_FILE=$TMP/tardis-runc.log
	[ -z "${2:-}" ] || export TARDIS_LOG_LEVEL=$2
	SHIM=$BIN/tardis-runc
	NS=$1
	RROOT=$TMP/runc/$NS
	IMAGES=$TARDIS_STATE_DIR/checkpoints/$NS
	LOG=$TARDIS_LOG_FILE
	on_cleanup 'delete_all_in "$RROOT"'
	on_cleanup own_cgroups_end
}

# own_cgroups_end: what is left in the test's own cgroups (OWN_CGROUP) once
# its containers are deleted -- a plain runc create that lost a race for
# its id leaves its `runc init` there, in no runc state -- is killed and
# the cgroups removed.
own_cgroups_end() {
	local d p dirs
	dirs=$(find /sys/fs/cgroup -maxdepth 2 -type d -name "tardis-test-$$-*" 2>/dev/null)
	[ -n "$dirs" ] || return 0
	for d in $dirs; do
		for p in $(cat "$d/cgroup.procs" 2>/dev/null); do
			kill -KILL "$p" 2>/dev/null
		done
	done
	for d in $dirs; do
		wait_for 5 bash -c '[ ! -s "$1/cgroup.procs" ]' _ "$d"
		rmdir "$d" 2>/dev/null
	done
	return 0
}

# delete_all_in ROOT: every runc container under ROOT deleted (forced).
delete_all_in() {
	local c
	for c in $(runc --root "$1" list -q 2>/dev/null); do
		runc --root "$1" delete -f "$c" >/dev/null 2>&1
	done
}

# The counter, in a busybox shell: counts in memory and writes the count to
# /data/count, written aside and renamed so that a checkpoint never catches
# it half-written.
COUNTER_SH='i=0
while :; do i=$((i + 1)); echo $i > /data/.count; busybox mv /data/.count /data/count; sleep 0.1; done'

# lower_layer COMMAND...: LOWER, a busybox bundle (scripts/rootfs.sh) whose
# process runs COMMAND, with an empty /data; the lower layer of every
# bundle make_bundle makes.  Mounts below TMP go at the end.
lower_layer() {
	LOWER=$TMP/lower
	"$ROOT/scripts/rootfs.sh" "$LOWER" "$@" >/dev/null
	mkdir -p "$LOWER/rootfs/data"
	on_cleanup 'umount_below "$TMP" "${KEEP_MOUNTED:-}"'
}

# overlay_rootfs DIR: DIR/rootfs a fresh overlay (upper DIR.up) over LOWER.
overlay_rootfs() {
	local b=$1
	mkdir -p "$b/rootfs" "$b.up" "$b.work"
	mount -t overlay overlay -o "lowerdir=$LOWER/rootfs,upperdir=$b.up,workdir=$b.work" "$b/rootfs"
}

# bundle_config DIR FILTER: DIR/config.json, LOWER's through the jq FILTER.
# In it $name is the bundle's name (DIR's basename) and OWN_CGROUP a
# cgroup of the test's own for it (other tests may use the same ids).
OWN_CGROUP='.linux.cgroupsPath = "/tardis-test-\($pid)-\($name)"'
bundle_config() {
	jq --arg name "$(basename "$1")" --arg pid "$$" --arg lower "$LOWER/rootfs" "$2" \
		"$LOWER/config.json" >"$1/config.json"
}

# plain_bundle DIR [FILTER]: a fresh bundle in DIR, its rootfs an overlay
# over LOWER, its config LOWER's made writable and given a cgroup of its own
# (runc's default, /<id>, is shared with any other run using the same id,
# and CRIU dumps the whole cgroup), then through the jq FILTER and
# BUNDLE_FILTER (the test's, for every bundle).
plain_bundle() {
	local b=$1
	drop_bundle "$b"
	overlay_rootfs "$b"
	bundle_config "$b" ".root.readonly = false | $OWN_CGROUP | ${2:-.} | ${BUNDLE_FILTER:-.}"
}
# make_bundle DIR [FILTER]: the same, opted in (TARDIS_ENABLE=1).
ENABLE='.process.env += ["TARDIS_ENABLE=1"]'
make_bundle() { plain_bundle "$1" "$ENABLE | ${2:-.}"; }

# drop_bundle DIR: its rootfs unmounted, the bundle and its layers removed.
drop_bundle() {
	umount "$1/rootfs" 2>/dev/null
	rm -rf "$1" "$1.up" "$1.work"
}

shim() { "$SHIM" --root "$RROOT" "$@"; }
status_of() { runc --root "$RROOT" state "$1" 2>/dev/null | jq -r .status; }
gone() { [ -z "$(status_of "$1")" ]; }
# create_start BUNDLE ID: tardis-runc create (stdio on /dev/null: CRIU
# cannot dump an fd on a file outside the container), then start.
create_start() {
	shim create --bundle "$1" --pid-file "$1/init.pid" "$2" </dev/null >/dev/null 2>&1 &&
		shim start "$2"
}
rdelete() { runc --root "$RROOT" delete -f "$1" >/dev/null 2>&1; true; }
# The counter of bundle DIR (0 before its first count).
count_in() { cat "$1/rootfs/data/count" 2>/dev/null || echo 0; }
count_at_least() { [ "$(count_in "$1")" -ge "$2" ] 2>/dev/null; }

# ---- images -------------------------------------------------------------
# The count saved in an image's files.
saved_count() { tar -xOf "$1/files.tar" data/count 2>/dev/null || echo 0; }
# Every file of an image with its checksum.
sig() { (cd "$1" 2>/dev/null && find . -type f | LC_ALL=C sort | xargs -r sha256sum); }
# valid DIR: is DIR a valid image (tardisctl validate)?
valid() { "$BIN/tardisctl" validate "$1" >/dev/null 2>&1; }

# ---- the log --------------------------------------------------------------
# mark_log, then in_log ERE: a line written since the mark matches.
mark_log() { MARK=$(wc -l <"$LOG" 2>/dev/null || echo 0); }
new_log() { tail -n +$((MARK + 1)) "$LOG"; }
in_log() { new_log | grep -Eq -- "$1"; }
