#!/bin/bash
# tardis over a real network filesystem: two mounts of one export, the
# shared directory as two "nodes" see it, each with its own caches.
# NETFS=sshfs (default): a private sshd on 127.0.0.1 and two sshfs mounts
# (tests/lib/sshfs.sh).  NETFS=nfs: tests/lib/nfs.sh's nfs_up / nfs_down
# (an NFS server and client in a vmtest guest).
#   a. test_cross_node.sh over the two mounts (A checkpoints, B restores,
#      back to A, exit 0 cleans the network fs);
#   b. SIGKILL of tardis-runc at each step of publishing an image on the
#      network fs: node B's view holds the old or the new image, complete,
#      never a half one that validates, and node B restores it;
#   c. exit 0 and `tardisctl rm` of an image whose files the other node
#      has open: image and work dir gone from both views;
#   d. test_kubernetes.sh's reschedule and lease flows over the two mounts.
# NETFS_PARTS (default "a b c d") picks parts.
# shellcheck source=tests/lib/lib.sh
. "$(dirname "$0")/../lib/lib.sh"

NETFS=${NETFS:-sshfs}
PARTS=" ${NETFS_PARTS:-a b c d} "
EXPORT=$TMP/export
FS_A=$TMP/node-a-fs
FS_B=$TMP/node-b-fs
case $NETFS in
sshfs)
	# shellcheck source=tests/lib/sshfs.sh
	. "$ROOT/tests/lib/sshfs.sh"
	netfs_up() { sshfs_up "$@"; }
	;;
nfs)
	# shellcheck source=/dev/null
	. "$ROOT/tests/lib/nfs.sh"
	netfs_up() { nfs_up "$@"; }
	on_cleanup nfs_down
	;;
*)
	fail "NETFS=$NETFS: sshfs or nfs"
	summary
	exit 1
	;;
esac
export TARDIS_IMAGE_ROOTS=$TMP:$FS_A:$FS_B
check "$NETFS: the export mounted twice (node A, node B)" netfs_up "$EXPORT" "$FS_A" "$FS_B" ||
	{ summary; exit 1; }
echo "# $(findmnt -n -o SOURCE,FSTYPE,OPTIONS "$FS_A")"
probe=$FS_A/probe.$$
echo seen >"$probe"
check "node B sees what node A wrote" wait_for 30 grep -qx seen "$FS_B/probe.$$"
rm -f "$probe"

# sub_test NAME ENV... SCRIPT: another test run as a part of this one, its
# checks shown and counted here.
sub_test() {
	local name=$1 log line
	shift
	log=$TMP/$name.log
	echo "# ---- $name"
	env "$@" 2>&1 | tee "$log" | sed 's/^/    /'
	line=$(grep -E '[0-9]+ passed, [0-9]+ failed' "$log" | tail -1)
	if [[ $line =~ ([0-9]+)\ passed,\ ([0-9]+)\ failed ]]; then
		PASSED=$((PASSED + BASH_REMATCH[1]))
		FAILED=$((FAILED + BASH_REMATCH[2]))
	else
		fail "$name: no summary line"
	fi
}

# ==== a. cross-node restore over the two mounts ============================
if [[ $PARTS == *" a "* ]]; then
	mkdir -p "$FS_A/xnode"
	sub_test cross_node XNODE_FS_A="$FS_A/xnode" XNODE_FS_B="$FS_B/xnode" OUT="$OUT" \
		bash "$ROOT/tests/integration/test_cross_node.sh"
	check "a: nothing of the container left in the export" \
		[ -z "$(find "$EXPORT/xnode" -mindepth 3 2>/dev/null)" ]
fi

summary
