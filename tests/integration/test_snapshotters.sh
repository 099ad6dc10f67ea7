#!/bin/bash
# Not only overlayfs (issue #15) under a real (private) containerd: a
# server container (busybox httpd and a counter) whose rootfs comes from
# the native snapshotter (a full copy of the image, bind-mounted) and from
# the btrfs one (a subvolume snapshot; containerd's root on a loop-mounted
# btrfs).  tardis records the rootfs's baseline at create and saves what
# differs from it; containerd's checkpoint -> the next `ctr run` (a fresh
# snapshot) restores it with the written, changed and deleted files exact,
# the count goes on and the server answers.
# shellcheck source=tests/lib/lib.sh
. "$(dirname "$0")/../lib/lib.sh"
# shellcheck source=tests/lib/containerd.sh
. "$ROOT/tests/lib/containerd.sh"

ctd_tardis_env
in_ct() { # in_ct ID EXEC-ID COMMAND: a shell command inside the container
	ctr_ task exec --exec-id "$2" "$1" sh -c "$3" 2>/dev/null
}

# The container: busybox httpd serving a page (a listening socket in the
# network namespace runc makes), then the counter.
server() {
	printf '%s\n' 'busybox mkdir -p /www' 'echo "hello from tardis" > /www/index.html' \
		'busybox httpd -p 8080 -h /www'
	ctd_counter
}

# snap_case ID SNAPSHOTTER
snap_case() {
	local id=$1 snap=$2 img c1 c2
	img=$(image_of "$id")
	echo "# ---- $id: the $snap snapshotter"
	COUNTER=$(server) run_enabled "$id" --snapshotter "$snap" || { fail "$id: ctr run --snapshotter $snap"; return; }
	check "$id: running and counting" wait_for 20 count_at_least "$id" 5
	check "$id: the create recorded the rootfs's baseline" \
		grep -q "create default/$id: rootfs .* is a [a-z0-9]* mount: baseline of" "$TARDIS_LOG_FILE"
	in_ct "$id" w 'echo new > /written && busybox mkdir -p /newdir/sub && echo deep > /newdir/sub/f &&
		busybox rm /bin/true && busybox chmod 700 /bin/busybox && echo more >> /etc/keep'
	check "$id: the container changed its files" in_ct "$id" w2 'test -e /written && ! test -e /bin/true'
	ctr_ c checkpoint --task "$id" "localhost/ckpt-$id:1" >/dev/null 2>&1
	check "$id: stopped by containerd's checkpoint" wait_for 30 not task_is "$id" RUNNING
	check "$id: image published" [ -s "$img/manifest.json" ]
	check "$id: the manifest says snapshot" bash -c '[ "$(jq -r .rootfs_kind "$1")" = snapshot ]' _ "$img/manifest.json"
	check "$id: files.tar holds the changes, not the image" \
		bash -c 'tar -tf "$1/files.tar" | grep -qx written && ! tar -tf "$1/files.tar" | grep -qx bin/sleep' _ "$img"
	check "$id: deleted.list names /bin/true" grep -qx "whiteout bin/true" "$img/deleted.list"
	c1=$(count_of "$id")
	remove_container "$id"
	ctr_ image rm "localhost/ckpt-$id:1" >/dev/null 2>&1
	COUNTER=$(server) run_enabled "$id" --snapshotter "$snap"
	check "$id: created again -> restored" grep -q "create default/$id: restored" "$TARDIS_LOG_FILE"
	grep "create default/$id: restore failed" "$TARDIS_LOG_FILE" | sed 's/^/# /'
	check "$id: task RUNNING after restore" task_is "$id" RUNNING
	wait_for 10 not [ "$(count_of "$id")" = "$c1" ]
	c2=$(count_of "$id")
	check "$id: the in-memory count continues ($c1 -> $c2)" [ "$c2" -gt "$c1" ]
	check "$id: the written file is back" bash -c '[ "$(ctr -a "$1" task exec --exec-id r1 "$2" cat /written)" = new ]' _ "$CTD_SOCK" "$id"
	check "$id: and the new tree" bash -c '[ "$(ctr -a "$1" task exec --exec-id r2 "$2" cat /newdir/sub/f)" = deep ]' _ "$CTD_SOCK" "$id"
	check "$id: the deleted file is gone" in_ct "$id" r3 '! test -e /bin/true'
	check "$id: the mode change is back" in_ct "$id" r4 '[ "$(busybox stat -c %a /bin/busybox)" = 700 ]'
	check "$id: HTTP answers from inside" in_ct "$id" h1 'busybox wget -qO- http://127.0.0.1:8080/ | busybox grep -q "hello from tardis"'
	check "$id: the changed file is changed" in_ct "$id" r5 '[ "$(busybox tail -1 /etc/keep)" = more ]'
	ctd_finish "$id"
	check "$id: exit 0 removed the image" [ ! -e "$img" ]
}

ctd_start || { fail "containerd"; summary; exit 1; }
ctd_image || { fail "image"; summary; exit 1; }
snap_case snap-native native
ctd_stop

# ---- btrfs: containerd's root on a loop-mounted btrfs --------------------------
if ! command -v mkfs.btrfs >/dev/null || ! grep -qw btrfs /proc/filesystems; then
	echo "SKIP - btrfs: no mkfs.btrfs or no btrfs in this kernel"
else
	truncate -s 1G "$TMP/btrfs.img"
	mkfs.btrfs -q "$TMP/btrfs.img" >/dev/null
	mkdir -p "$TMP/btrfs"
	mount -o loop "$TMP/btrfs.img" "$TMP/btrfs" && on_cleanup 'umount -l "$TMP/btrfs" 2>/dev/null'
	check "btrfs: a loop-mounted btrfs" bash -c '[ "$(stat -f -c %T "$1")" = btrfs ]' _ "$TMP/btrfs"
	CTD_DIR=$TMP/btrfs/containerd
	CTD_SOCK=$CTD_DIR/containerd.sock
	ctd_start || { fail "containerd on btrfs"; summary; exit 1; }
	check "btrfs: containerd's btrfs snapshotter is loaded" \
		bash -c 'ctr -a "$1" plugins ls | grep -q "io.containerd.snapshotter.v1 *btrfs .* ok"' _ "$CTD_SOCK"
	ctd_image || { fail "image (btrfs)"; summary; exit 1; }
	snap_case snap-btrfs btrfs
	ctd_stop
fi

summary
