#!/bin/bash
# test_cross_node.sh over NFSv4: a private NFS server on this kernel
# (tests/lib/nfs.sh) exports one tmpfs, mounted twice with superblocks of
# their own (nosharecache: own attribute caches, as on two nodes); node A
# uses one mount, node B the other (XNODE_FS_A / XNODE_FS_B).  The image A
# publishes is read by B through B's mount, and back.  A kernel without
# NFS (this host's) gives one SKIP line and nothing else: the vmtest
# scenario cross_node_nfs runs it in a Debian kernel with nfsd/nfsv4.
# shellcheck source=tests/lib/lib.sh
. "$(dirname "$0")/../lib/lib.sh"
# shellcheck source=tests/lib/nfs.sh
. "$ROOT/tests/lib/nfs.sh"

EXPORT=$TMP/export
FS_A=$TMP/nfs-a
FS_B=$TMP/nfs-b
NFS_LOG=$TMP/nfs.log
nfs_up "$EXPORT" "$FS_A" "$FS_B"
rc=$?
on_cleanup nfs_down
if [ "$rc" -eq 2 ]; then
	echo "SKIP - cross_node over NFSv4: $NFS_WHY"
	summary
	exit 0
fi
echo "# NFS server and mounts up in $SECONDS s"
if ! check "NFS: server up, two NFSv4 mounts of its export" [ "$rc" -eq 0 ]; then
	echo "# $NFS_WHY"
	sed 's/^/# nfs.log: /' "$NFS_LOG"
	summary
	exit 1
fi
check "NFS: A and B are NFSv4 mounts" \
	[ "$(stat -f -c %T "$FS_A")" = nfs -a "$(stat -f -c %T "$FS_B")" = nfs ]
check "NFS: A and B are two superblocks (their own caches)" \
	[ "$(stat -c %d "$FS_A")" != "$(stat -c %d "$FS_B")" ]
echo probe >"$FS_A/probe"
check "NFS: a file written through A is read through B" [ "$(cat "$FS_B/probe")" = probe ]
rm -f "$FS_B/probe"
# NFS has no RENAME_EXCHANGE: image_publish takes its two-rename fallback
# whenever an image is already there (B's checkpoint over A's image).
mkdir "$FS_A/x1" "$FS_A/x2"
python3 -c 'import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
r = libc.renameat2(-100, sys.argv[1].encode(), -100, sys.argv[2].encode(), 2)
print("# renameat2(RENAME_EXCHANGE) on NFS:", "ok" if r == 0 else os.strerror(ctypes.get_errno()))' \
	"$FS_B/x1" "$FS_B/x2" 2>&1
rmdir "$FS_A/x1" "$FS_A/x2"

# test_cross_node.sh makes its own temp dir: the mounts, in ours, are lent
# to it as image roots.  It is kept (KEEP_TMP) for the nodes' tardis-runc
# logs, quoted below, then removed here.
before=$(ls -d /tmp/tardis-test_cross_node.* 2>/dev/null)
XNODE_FS_A=$FS_A XNODE_FS_B=$FS_B TEST_IMAGE_ROOTS=$TMP KEEP_TMP=1 \
	bash "$ROOT/tests/integration/test_cross_node.sh" 2>&1 | tee "$TMP/cross_node.log"
for d in /tmp/tardis-test_cross_node.*; do
	[ -d "$d" ] && ! grep -qxF "$d" <<<"$before" || continue
	for n in A B; do
		grep -hE 'checkpointed|restored|publish|image|lease| (warn|error): ' "$d/node-$n/tardis-runc.log" 2>/dev/null |
			cut -c1-300 | sed "s/^/# node $n tardis-runc.log: /"
	done
	umount_below "$d"
	rm -rf "$d"
done
line=$(grep -E '^test_cross_node: [0-9]+ passed, [0-9]+ failed' "$TMP/cross_node.log" | tail -1)
if [[ $line =~ ([0-9]+)\ passed,\ ([0-9]+)\ failed ]]; then
	PASSED=$((PASSED + BASH_REMATCH[1]))
	FAILED=$((FAILED + BASH_REMATCH[2]))
else
	fail "test_cross_node.sh over NFS ended without its counts"
fi
check "NFS: nothing left on the export after the exit 0 (no .nfsXXXX)" \
	bash -c '[ -z "$(find "$1" -mindepth 1 ! -type d 2>/dev/null)" ]' _ "$EXPORT"
find "$EXPORT" -mindepth 1 2>/dev/null | head -20 | sed 's/^/# left on the export: /'

# The lease's link(2) compare-and-swap through two client superblocks: two
# racers per round, one through each mount; exactly one may win.
mkdir -p "$FS_A/race"
t0=$SECONDS
"$BIN/tests/lease_race" "$FS_A/race" "$FS_B/race" 20 >"$TMP/lease_race.log" 2>&1
rc=$?
sed 's/^/# /' "$TMP/lease_race.log"
echo "# lease races: $((SECONDS - t0)) s"
check "NFS: lease races through the two mounts: one winner in each of 20 rounds" \
	[ "$rc" -eq 0 ]
rm -rf "$FS_A/race"
summary
