#!/bin/bash
# Not only overlayfs (issue #15): a rootfs that is not an overlay mount.
#
#  - A plain directory (a runc bundle as users make it, no mount): the next
#    create reuses it as it is, so nothing needs saving; the image says so
#    (manifest rootfs_kind "reused", no files.tar) and the restore goes on
#    top of it.  `delete --force` -> `create` restores: the count goes on,
#    and a 512 MiB process comes back with every page as it was.
#  - A mount that is no overlay, as containerd's native snapshotter gives
#    it (a bind mount of a full copy of the image; here made by hand): the
#    create records the rootfs's baseline, the checkpoint saves what
#    differs from it (rootfs_kind "snapshot"), and a restore onto a fresh
#    copy has the written, changed and deleted files exact.
#  - Such a mount without a baseline (a snapshotter tardis cannot diff,
#    simulated by removing it): the checkpoint is refused before anything
#    stops the container.  runc's own checkpoint (--leave-running) runs
#    instead and the container goes on; the stop signal stops it as runc's
#    would; `tardisctl show` says why.
# shellcheck source=tests/lib/lib.sh
. "$(dirname "$0")/../lib/lib.sh"
# shellcheck source=tests/lib/bundle.sh
. "$ROOT/tests/lib/bundle.sh"

shim_env rk
CTL=$BIN/tardisctl
MIB=${ROOTFS_MEM_MIB:-512}

# A process that holds MIB MiB, every 4 KiB page holding its own index,
# and checks them all every second: /data/mem is "ok N" (the Nth full
# check) or "bad PAGE".
cat >"$TMP/memhog.c" <<'CEOF'
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
int main(int argc, char **argv)
{
	size_t pages = (size_t)atol(argv[1]) * 256, n = 0;
	unsigned long *m = malloc(pages * 4096);
	if (!m)
		return 1;
	for (size_t p = 0; p < pages; p++)
		m[p * 512] = p * 2654435761u;
	for (;;) {
		FILE *f = fopen("/data/.mem", "w");
		size_t bad = 0;
		for (size_t p = 0; p < pages && !bad; p++)
			if (m[p * 512] != p * 2654435761u)
				bad = p ? p : 1;
		if (!f)
			return 1;
		if (bad)
			fprintf(f, "bad %zu\n", bad);
		else
			fprintf(f, "ok %zu\n", ++n);
		fclose(f);
		rename("/data/.mem", "/data/mem");
		sleep(1);
	}
}
CEOF
cc -static -O2 -o "$TMP/memhog" "$TMP/memhog.c" || { fail "build memhog"; summary; exit 1; }

lower_layer sh -c "$COUNTER_SH"
cp "$TMP/memhog" "$LOWER/rootfs/bin/memhog"
echo original >"$LOWER/rootfs/data/keep"
start_agent || { fail "tardisd"; summary; exit 1; }

# dir_bundle DIR MIB [bind]: DIR/rootfs a copy of LOWER's, a plain
# directory, or (bind) a bind mount of a copy elsewhere; opted in, its
# process the counter and a memhog of MIB MiB.
dir_bundle() {
	local b=$1 mib=$2 args
	shift
	drop_bundle "$b"
	mkdir -p "$b"
	if [ "${2:-}" = bind ]; then
		rm -rf "$b.src"
		cp -a "$LOWER/rootfs" "$b.src"
		mkdir -p "$b/rootfs"
		mount --bind "$b.src" "$b/rootfs"
	else
		cp -a "$LOWER/rootfs" "$b/rootfs"
	fi
	args=$(jq -n --arg c "/bin/memhog $mib & $COUNTER_SH" '["sh", "-c", $c]')
	bundle_config "$b" ".root.readonly = false | $OWN_CGROUP | $ENABLE | .process.args = $args | .process.env += [\"TARDIS_CHECKPOINT_ON_STOP=1\"]"
}
mem_of() { cat "$1/rootfs/data/mem" 2>/dev/null; }
mem_ok_after() { # mem_ok_after B N: a full check later than the Nth passed
	local m
	m=$(mem_of "$1")
	[ "${m%% *}" = ok ] && [ "${m#ok }" -gt "$2" ]
}
show_has() { "$CTL" show "$NS/$1" | grep -Eq -- "$2"; }

# ---- a plain directory: reused as it is -------------------------------------
echo "# ---- plain directory rootfs, a ${MIB} MiB process"
b=$TMP/plain
dir_bundle "$b" "$MIB"
check "plain: its rootfs is no mount point" not mountpoint -q "$b/rootfs"
create_start "$b" plain
check "plain: counting, and the memory checked" wait_for 60 mem_ok_after "$b" 3
echo "written before the checkpoint" >"$b/rootfs/data/note"
check "plain: delete --force checkpoints it" shim delete --force plain
check "plain: gone" gone plain
check "plain: an image was published" [ -s "$IMAGES/plain/manifest.json" ]
check "plain: the manifest says the rootfs is reused" \
	bash -c '[ "$(jq -r .rootfs_kind "$1")" = reused ]' _ "$IMAGES/plain/manifest.json"
check "plain: no files.tar in it" [ ! -e "$IMAGES/plain/files.tar" ]
check "plain: the log says no files were saved" grep -q "rk/plain: rootfs is a plain directory, reused" "$LOG"
c1=$(count_in "$b")
m1=$(mem_of "$b")
m1=${m1#ok }
create_start "$b" plain
check "plain: created again -> restored" grep -q "create rk/plain: restored" "$LOG"
grep "create rk/plain: restore failed" "$LOG" | sed 's/^/# /'
check "plain: running" [ "$(status_of plain)" = running ]
# A fresh start would count from 1 and check from "ok 1": the first new
# value must be past the old one.
wait_for 10 not [ "$(count_in "$b")" = "$c1" ]
check "plain: the count continues ($c1 -> $(count_in "$b"))" [ "$(count_in "$b")" -gt "$c1" ]
wait_for 30 not [ "$(mem_of "$b")" = "ok $m1" ]
check "plain: the ${MIB} MiB came back page for page, and the checks go on (ok $m1 -> $(mem_of "$b"))" \
	mem_ok_after "$b" "${m1:-0}"
check "plain: the file written before is there" grep -q "written before" "$b/rootfs/data/note"
rdelete plain

# ---- a snapshotter's rootfs: compared with its baseline ---------------------
echo "# ---- a bind-mounted copy (containerd's native snapshotter): the baseline"
b=$TMP/snap
dir_bundle "$b" 16 bind
check "snap: its rootfs is a bind mount" mountpoint -q "$b/rootfs"
mark_log
create_start "$b" snap
check "snap: the create recorded a baseline" in_log "create rk/snap: rootfs .* is a [a-z0-9]+ mount: baseline of [0-9]+ entries"
check "snap: counting" wait_for 60 count_at_least "$b" 3
# What the container changes (written from here: the same files).
echo "new file" >"$b/rootfs/data/written"
mkdir -p "$b/rootfs/data/newdir/sub" && echo deep >"$b/rootfs/data/newdir/sub/f"
echo "changed" >>"$b/rootfs/data/keep"
rm -f "$b/rootfs/bin/seq"
chmod 0700 "$b/rootfs/bin/busybox"
rm -rf "$b/rootfs/tmp"
check "snap: delete --force checkpoints it" shim delete --force snap
check "snap: an image was published" [ -s "$IMAGES/snap/manifest.json" ]
check "snap: the manifest says snapshot" \
	bash -c '[ "$(jq -r .rootfs_kind "$1")" = snapshot ]' _ "$IMAGES/snap/manifest.json"
check "snap: files.tar holds the changes, not the image" \
	bash -c 'tar -tf "$1/files.tar" | grep -qx data/written && ! tar -tf "$1/files.tar" | grep -qx bin/sh' _ "$IMAGES/snap"
check "snap: deleted.list names the deletions (tmp once, not what was below it)" \
	bash -c 'grep -qx "whiteout bin/seq" "$1" && grep -qx "whiteout tmp" "$1"' _ "$IMAGES/snap/deleted.list"
c1=$(count_in "$b")
# The next create: a fresh copy of the image, as the snapshotter makes one.
dir_bundle "$b" 16 bind
check "snap: the fresh copy has none of it" [ ! -e "$b/rootfs/data/written" ]
create_start "$b" snap
check "snap: created again -> restored" grep -q "create rk/snap: restored" "$LOG"
grep "create rk/snap: restore failed" "$LOG" | sed 's/^/# /'
wait_for 10 not [ "$(count_in "$b")" = "$c1" ]
check "snap: the count continues ($c1 -> $(count_in "$b"))" [ "$(count_in "$b")" -gt "$c1" ]
check "snap: the written file is back" grep -qx "new file" "$b/rootfs/data/written"
check "snap: and the new tree" grep -qx deep "$b/rootfs/data/newdir/sub/f"
check "snap: the changed file is changed" bash -c '[ "$(cat "$1")" = "$(printf "original\nchanged")" ]' _ "$b/rootfs/data/keep"
check "snap: the deleted file is gone" [ ! -e "$b/rootfs/bin/seq" ] && [ ! -L "$b/rootfs/bin/seq" ]
check "snap: the deleted directory is gone" [ ! -e "$b/rootfs/tmp" ]
check "snap: the mode change is back" [ "$(stat -c %a "$b/rootfs/bin/busybox")" = 700 ]
rdelete snap
drop_bundle "$b"
rm -rf "$b.src"

# ---- a mount tardis cannot diff: refused up front --------------------------------
echo "# ---- a bind-mounted rootfs without a baseline (a snapshotter tardis cannot diff)"
b=$TMP/bound
dir_bundle "$b" 16 bind
check "bound: its rootfs is a bind mount" mountpoint -q "$b/rootfs"
create_start "$b" bound
rm -f "$TARDIS_STATE_DIR/containers/rk/bound/rootfs.baseline"
check "bound: counting" wait_for 60 count_at_least "$b" 3
mark_log
# runc finds this CRIU only by --criu (tardis's TARDIS_CRIU is not runc's).
"$SHIM" --root "$RROOT" --criu "$TARDIS_CRIU" checkpoint --image-path "$TMP/own-image" \
	--work-path "$TMP/own-work" --leave-running bound >/dev/null 2>&1
check "bound: runc's checkpoint --leave-running ran instead" [ -s "$TMP/own-image/inventory.img" ]
check "bound: the container still runs" [ "$(status_of bound)" = running ]
c1=$(count_in "$b")
check "bound: and counts on" wait_for 10 count_at_least "$b" $((c1 + 2))
check "bound: the log says why" in_log "rk/bound: checkpoint \(checkpoint\) refused: rootfs .* is a [a-z0-9]+ mount, not overlay, with no baseline"
check "bound: no tardis image" [ ! -e "$IMAGES/bound" ]
check "bound: show names the refused checkpoint" \
	show_has bound "^  failed checkpoints 1; last .* by checkpoint: rootfs .* mount, not overlay"
mark_log
check "bound: a signal that does not stop it (WINCH): runc's answer" shim kill bound WINCH
check "bound: still running after it" [ "$(status_of bound)" = running ]
check "bound: tardis took no part in it (nothing in its log)" not in_log "rk/bound|kill"
mark_log
shim kill bound KILL
check "bound: the stop signal (KILL) stops it, as runc's would" wait_for 10 bash -c '[ "$(runc --root "$1" state bound 2>/dev/null | jq -r .status)" = stopped ]' _ "$RROOT"
check "bound: refused again, and said so" in_log "rk/bound: checkpoint \(stop signal\) refused"
check "bound: still no tardis image" [ ! -e "$IMAGES/bound" ]
check "bound: show counts both" show_has bound "^  failed checkpoints 2; last .* by kill: rootfs .* mount, not overlay"
rdelete bound
drop_bundle "$b"
rm -rf "$b.src"

summary
