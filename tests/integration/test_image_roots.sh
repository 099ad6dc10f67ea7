#!/bin/bash
# image_roots: a container's CHECKPOINT_HOST_PATH / NETWORKFS_HOST_PATH is
# honoured only inside tardis.conf's image_roots (TARDIS_IMAGE_ROOTS, here
# the test's temp dir).  Pointing at /etc, /, a `..` path, a symlink inside
# the root that points out of it, or below a root that is itself a symlink:
# nothing is created, bind-mounted or removed outside the roots (the
# filesystem walked before and after), the container runs unmanaged under
# runc, the log and `tardisctl show` say why.  A path inside the root
# works as before (checkpoint, restore, the count goes on); gc removes no
# image a forged state.json names outside the roots.
# shellcheck source=tests/lib/lib.sh
. "$(dirname "$0")/../lib/lib.sh"
# shellcheck source=tests/lib/bundle.sh
. "$ROOT/tests/lib/bundle.sh"

shim_env roots
lower_layer sh -c "$COUNTER_SH"
STATE=$TARDIS_STATE_DIR
U=tardis-roots-$$                 # a name nothing else uses
OUTSIDE=/var/tmp/$U-outside       # outside the roots (and outside $TMP)
mkdir -p "$OUTSIDE/target"
on_cleanup 'rm -rf "$OUTSIDE"'
ln -s "$OUTSIDE/target" "$TMP/sym-out"    # a symlink in the root, pointing out
ln -s "$OUTSIDE/target" "$TMP/sym-root"   # a root that is itself a symlink
touch "$TMP/t.out"

# What lies outside the roots where a refused container could write.
snapshot() {
	ls -A /
	find /etc -maxdepth 1 | LC_ALL=C sort
	find "$OUTSIDE" | LC_ALL=C sort
	grep -E " (/etc|/var/tmp|/$NS|/checkpoint|/work)(/| )" /proc/self/mountinfo | cut -d' ' -f5
}
BEFORE=$(snapshot)
untouched() { [ "$(snapshot)" = "$BEFORE" ]; }

# refused NAME FILTER PATH [ROOTS]: a container whose config is LOWER's
# through FILTER, created with image_roots ROOTS (default: $TMP): it runs
# under runc, unmanaged; the log and tardisctl show name PATH as refused;
# delete removes it and its minimal state; nothing changed outside.
refused() {
	local name=$1 filter=$2 path=$3 roots=${4:-$TMP} b=$TMP/$1
	make_bundle "$b" "$filter"
	mark_log
	check "$name: create + start" env TARDIS_IMAGE_ROOTS="$roots" "$SHIM" --root "$RROOT" \
		create --bundle "$b" --pid-file "$b/init.pid" "$name" </dev/null >/dev/null 2>&1
	shim start "$name"
	check "$name: runs (runc)" [ "$(status_of "$name")" = running ]
	check "$name: the log says why, once" \
		[ "$(new_log | grep -cF "create $NS/$name: refused: $path is not under image_roots")" = 1 ]
	check "$name: not managed (no init registered)" \
		jq -e >/dev/null 'has("refused") and (has("init_pid") | not)' "$STATE/containers/$NS/$name/state.json"
	"$BIN/tardisctl" show "$NS/$name" >"$TMP/show.out" 2>&1
	check "$name: tardisctl show: state refused" grep -Eq "state +refused" "$TMP/show.out"
	check "$name: tardisctl show says why" \
		grep -qF "refused: $path is not under image_roots" "$TMP/show.out"
	check "$name: nothing outside the roots changed" untouched
	check "$name: kill passes through" shim kill "$name" KILL
	wait_for 10 bash -c '[ "$(runc --root "$1" state "$2" | jq -r .status)" = stopped ]' _ "$RROOT" "$name"
	check "$name: delete" shim delete --force "$name"
	check "$name: gone" gone "$name"
	check "$name: its minimal state removed" [ ! -e "$STATE/containers/$NS/$name" ]
	check "$name: nothing outside the roots changed after delete" untouched
	drop_bundle "$b"
}
env_of() { # env_of VAR=VALUE...: a jq filter adding them to process.env
	local f=".process.env += [" sep="" v
	for v in "$@"; do f+="$sep\"$v\"" sep=","; done
	echo "$f]"
}
W=TARDIS_WORKDIR_CONTAINER_PATH=/work

refused etc-ck "$(env_of "TARDIS_CHECKPOINT_HOST_PATH=/etc/$U")" "/etc/$U"
refused etc-nfs "$(env_of "TARDIS_NETWORKFS_HOST_PATH=/etc/$U" "$W")" "/etc/$U"
refused slash-ck "$(env_of "TARDIS_CHECKPOINT_HOST_PATH=/")" "/"
refused slash-nfs "$(env_of "TARDIS_NETWORKFS_HOST_PATH=/" "$W")" "/"
refused link-nfs "$(env_of "TARDIS_NETWORKFS_HOST_PATH=$TMP/sym-out/nfs" "$W")" "$TMP/sym-out/nfs"
refused link-ck "$(env_of "TARDIS_CHECKPOINT_HOST_PATH=$TMP/sym-out")" "$TMP/sym-out"
refused rootlink "$(env_of "TARDIS_NETWORKFS_HOST_PATH=$TMP/sym-root/nfs" "$W")" \
	"$TMP/sym-root/nfs" "$TMP/sym-root"
# A sibling whose name starts with the root's.
mkdir -p "$TMP-sibling"
on_cleanup 'rm -rf "$TMP-sibling"'
refused sibling "$(env_of "TARDIS_CHECKPOINT_HOST_PATH=$TMP-sibling")" "$TMP-sibling"
check "sibling: nothing made in it" [ -z "$(ls -A "$TMP-sibling")" ]

# A `..` path is no clean path: the settings are refused before any path
# is built; the container still runs under runc.
b=$TMP/dotdot
make_bundle "$b" "$(env_of "TARDIS_NETWORKFS_HOST_PATH=$TMP/nfs/../../var/tmp/$U-outside" "$W")"
mark_log
check "dotdot: create + start" create_start "$b" dotdot
check "dotdot: runs (runc)" [ "$(status_of dotdot)" = running ]
check "dotdot: the log says why" in_log "create dotdot: .*is not a clean absolute path.*not handled"
check "dotdot: nothing outside the roots changed" untouched
check "dotdot: delete" shim delete --force dotdot
check "dotdot: nothing outside the roots changed after delete" untouched
drop_bundle "$b"

# ---- allowed: inside the root, as before ------------------------------------
NFS=$TMP/nfs
mkdir -p "$NFS"
b=$TMP/ok
make_bundle "$b" "$(env_of "TARDIS_NETWORKFS_HOST_PATH=$NFS" "$W")"
mark_log
check "ok: create + start" create_start "$b" ok
check "ok: counting" wait_for 20 count_at_least "$b" 5
check "ok: its work dir made in the root" [ -d "$NFS/work/$NS/ok" ]
check "ok: not refused" not in_log "refused"
check "ok: delete --force checkpoints it" shim delete --force ok
check "ok: the image is in the root" [ -s "$NFS/checkpoint/$NS/ok/manifest.json" ]
n=$(count_in "$b")
drop_bundle "$b"
make_bundle "$b" "$(env_of "TARDIS_NETWORKFS_HOST_PATH=$NFS" "$W")"
mark_log
check "ok: create again + start" create_start "$b" ok
check "ok: restored" in_log "create $NS/ok: restored from $NFS/checkpoint/$NS/ok"
check "ok: the count goes on from $n" wait_for 20 count_at_least "$b" $((n + 3))
check "ok: nothing outside the roots changed" untouched
rdelete ok
drop_bundle "$b"

# ---- purge: a forged state.json naming an image outside the roots --------
mkdir -p "$OUTSIDE/$NS/forged"
echo '{}' >"$OUTSIDE/$NS/forged/manifest.json"
BEFORE=$(snapshot)
(umask 077 && mkdir -p "$STATE/containers/$NS/forged" &&
	jq -n --arg img "$OUTSIDE/$NS/forged" --arg work "$OUTSIDE/target" \
		'{image_path: $img, work_dir: $work, created_at: "2000-01-01T00:00:00Z"}' \
		>"$STATE/containers/$NS/forged/state.json")
touch -d 2000-01-01 "$STATE/containers/$NS/forged/state.json"
"$BIN/tardisctl" gc --older-than 1h --now $(($(date +%s) + 86400)) >"$TMP/gc.out" 2>&1
sed 's/^/# /' "$TMP/gc.out"
check "gc: the image outside the roots is kept" [ -s "$OUTSIDE/$NS/forged/manifest.json" ]
check "gc: nothing outside the roots changed" untouched
check "gc: says why" grep -q "not under image_roots" "$TMP/gc.out"

summary
