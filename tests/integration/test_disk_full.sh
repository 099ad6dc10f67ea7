#!/bin/bash
# Resource exhaustion, disk full.  Images on a small filesystem that holds a
# valid old image but has no room for a new one: `delete --force` of the
# running container publishes nothing, the old image stays intact and
# valid, the delete still deletes, the log names ENOSPC, and the next create
# restores the old image.  The state directory on a full filesystem:
# tardis-runc fails open, every call does what runc does.
# shellcheck source=tests/lib/lib.sh
. "$(dirname "$0")/../lib/lib.sh"
# shellcheck source=tests/lib/bundle.sh
. "$ROOT/tests/lib/bundle.sh"

shim_env ns1 debug
# Images on a 32 MiB tmpfs, the state directory on a 16 MiB one.
IMGFS=$TMP/imgfs
# The counter's bundles, their images on IMGFS.  The state dir's tmpfs is
# unmounted last (after the agent that keeps its pid file there).
lower_layer sh -c "echo first > /marker; $COUNTER_SH"
# shellcheck disable=SC2034 # read by bundle.sh
KEEP_MOUNTED=$TARDIS_STATE_DIR
BUNDLE_FILTER=".process.env += [\"TARDIS_CHECKPOINT_HOST_PATH=$IMGFS\"]"
mkdir -p "$IMGFS" "$TARDIS_STATE_DIR"
mount -t tmpfs -o size=32m,mode=0700 tardis-test-images "$IMGFS" ||
	{ fail "mount a tmpfs"; summary; exit 1; }
mount -t tmpfs -o size=16m,mode=0700 tardis-test-state "$TARDIS_STATE_DIR" ||
	{ umount "$IMGFS"; fail "mount a tmpfs"; summary; exit 1; }
# The agent keeps its pid file in the state dir: stopped before that goes.
on_cleanup 'stop_agent; umount -l "$TARDIS_STATE_DIR"'
start_agent || { fail "agent"; summary; exit 1; }

avail() { df --output=avail -B1 "$1" | tail -1 | tr -d ' '; }
# fill FS BYTES: leaves about BYTES free on FS (a filler file).
fill() {
	rm -f "$1/filler"
	local n=$(($(avail "$1") - $2))
	[ "$n" -gt 0 ] && fallocate -l "$n" "$1/filler"
}
unfill() { rm -f "$1/filler"; }

# ==== images: no room for a new one ====================================
ID="df"
IMAGE=$IMGFS/$NS/$ID
B=$TMP/b
make_bundle "$B"
check "create + start" create_start "$B" $ID
check "counting" wait_for 20 count_at_least "$B" 10
check "delete --force publishes the old image" shim delete --force $ID
check "the old image validates" valid "$IMAGE"
OLD=$(sig "$IMAGE")
OLD_COUNT=$(saved_count "$IMAGE")
IMG_SIZE=$(du -sb "$IMAGE" | cut -f1)
FILES_SIZE=$(($(stat -c %s "$IMAGE/files.tar") + $(stat -c %s "$IMAGE/deleted.list")))
echo "# old image: $IMG_SIZE bytes, of which the container's files $FILES_SIZE"
drop_bundle "$B"

# full_case NAME FREE [SETUP]: the container restored from the old image and
# running (SETUP then runs), IMGFS filled up to FREE bytes, delete --force.
full_case() {
	local name=$1 free=$2 setup=${3:-} rc c
	make_bundle "$B"
	mark_log
	check "$name: restored from the old image" create_start "$B" $ID
	check "$name: ... (log)" in_log "create $NS/$ID: restored"
	check "$name: counting on" wait_for 20 count_at_least "$B" $((OLD_COUNT + 5))
	[ -z "$setup" ] || eval "$setup"
	fill "$IMGFS" "$free"
	echo "# $name: $(avail "$IMGFS") bytes free for a new image"
	mark_log
	shim delete --force $ID 2>"$TMP/delete.err"
	rc=$?
	check "$name: delete --force exits 0 ($rc)" [ "$rc" = 0 ]
	check "$name: the container is gone" [ -z "$(status_of $ID)" ]
	check "$name: a warning: the checkpoint failed, deleting anyway" \
		in_log "delete $NS/$ID: checkpoint failed; deleting anyway"
	check "$name: the log names ENOSPC" in_log "No space left on device|ENOSPC"
	new_log | grep -E "No space left on device|ENOSPC" | head -2 | sed 's/^[^ ]* /# /'
	check "$name: no new image published: the old one is intact" [ "$(sig "$IMAGE")" = "$OLD" ]
	check "$name: the old image still validates" valid "$IMAGE"
	check "$name: no temp image left [$(ls -A "$IMGFS/$NS" | tr '\n' ' ')]" \
		[ "$(ls -A "$IMGFS/$NS")" = "$ID" ]
	unfill "$IMGFS"
	drop_bundle "$B"
	# The next create restores the old image.
	make_bundle "$B"
	mark_log
	check "$name: next create restores the old image" create_start "$B" $ID
	check "$name: ... (log)" in_log "create $NS/$ID: restored from $IMAGE"
	c=$(count_in "$B")
	check "$name: ... counting on from the old image's $OLD_COUNT ($c)" \
		wait_for 10 count_at_least "$B" $((OLD_COUNT + 1))
	runc --root "$RROOT" delete -f $ID >/dev/null 2>&1
	drop_bundle "$B"
}

# Not even room for CRIU's files.
full_case "no room for CRIU" $((64 << 10))
# Room for CRIU's files, not for the files the container wrote.
full_case "no room for the container's files" $((IMG_SIZE - FILES_SIZE + (1 << 20))) \
	'head -c $((6 << 20)) /dev/urandom >"$B/rootfs/data/big"'

# ==== the state directory on a full filesystem ==========================
ST=$TARDIS_STATE_DIR

# A new enabled container, the state dir full from the start.
make_bundle "$B"
fill "$ST" 0
check "state full: nothing can be written" not sh -c "echo x >'$ST/probe'" 2>/dev/null
rm -f "$ST/probe"
mark_log
check "state full: create exits 0" shim create --bundle "$B" --pid-file "$B/init.pid" sf
check "state full: the container is created" [ "$(status_of sf)" = created ]
check "state full: the log names ENOSPC" in_log "No space left on device"
check "state full: start exits 0" shim start sf
check "state full: running" [ "$(status_of sf)" = running ]
check "state full: counting" wait_for 10 count_at_least "$B" 3
check "state full: kill exits 0" shim kill sf KILL
check "state full: stopped" wait_for 10 sh -c "[ \"\$(runc --root '$RROOT' state sf | jq -r .status)\" = stopped ]"
check "state full: delete exits 0" shim delete sf
check "state full: gone" [ -z "$(status_of sf)" ]
unfill "$ST"
drop_bundle "$B"

# A container that was enabled and restored while there was room; the state
# dir fills up before start and delete --force.
make_bundle "$B"
check "state fills later: create + start (room)" create_start "$B" $ID
check "state fills later: restored" in_log "create $NS/$ID: restored"
runc --root "$RROOT" delete -f $ID >/dev/null 2>&1
drop_bundle "$B"
make_bundle "$B"
mark_log
check "state fills later: create (restore, room)" shim create --bundle "$B" --pid-file "$B/init.pid" $ID
check "state fills later: ... restored" in_log "create $NS/$ID: restored"
fill "$ST" 0
mark_log
check "state fills later: start of the restored container exits 0" shim start $ID
check "state fills later: running" [ "$(status_of $ID)" = running ]
check "state fills later: counting on" wait_for 10 count_at_least "$B" $((OLD_COUNT + 3))
# CRIU's log goes to the work dir in the state dir: with no room it stays
# empty although the dump succeeds.  Such an image never validates and
# must not replace the old one.
unfill "$ST"
rm -f "$ST/work/$NS/$ID/"*
fill "$ST" 0
mark_log
shim delete --force $ID 2>/dev/null
rc=$?
check "state fills later: delete --force exits 0 ($rc)" [ "$rc" = 0 ]
check "state fills later: the container is gone" [ -z "$(status_of $ID)" ]
check "state fills later: an image CRIU's log does not vouch for is not sealed" \
	in_log "not sealed \(dump.log\)"
check "state fills later: the old image is intact" [ "$(sig "$IMAGE")" = "$OLD" ]
check "state fills later: and valid" valid "$IMAGE"
check "state fills later: no temp image left" [ "$(ls -A "$IMGFS/$NS")" = "$ID" ]
drop_bundle "$B"

# Still full: a create with a valid image is a plain create (nothing can
# be recorded, so nothing is restored), as runc would do it.
make_bundle "$B"
mark_log
check "state full, image there: create exits 0" shim create --bundle "$B" --pid-file "$B/init.pid" $ID
check "state full, image there: a fresh container" [ "$(status_of $ID)" = created ]
check "state full, image there: not restored" not in_log "create $NS/$ID: restored"
check "state full, image there: the log names ENOSPC" in_log "No space left on device"
check "state full, image there: start exits 0" shim start $ID
check "state full, image there: counting from 1" wait_for 10 count_at_least "$B" 1
check "state full, image there: the image is untouched" [ "$(sig "$IMAGE")" = "$OLD" ]
check "state full, image there: delete --force exits 0" shim delete --force $ID 2>/dev/null
check "state full, image there: gone" [ -z "$(status_of $ID)" ]
unfill "$ST"
drop_bundle "$B"

summary
