#!/bin/bash
# Exact files (issue 11): a real container (private containerd, tardis-runc,
# CRIU) writes every kind of file into its rootfs: a 1 GiB sparse file, two
# hard links, a fifo, a device node, a user.* xattr, a file capability, POSIX
# ACLs (access and default), a 255-byte name, a ~4,000-byte path, 64 KiB of
# xattrs on one file, setuid/setgid/sticky modes, other owners.  It is
# checkpointed (`ctr c checkpoint --task`), removed, created again and so
# restored; what stat, getfattr, getcap and getfacl show of those files
# before and after must be the same, the hard links one inode, the sparse
# file still sparse and no larger in the image than its data.
# The containerd's root is a tmpfs: ext4 without ea_inode holds only ~4 KiB
# of xattrs per inode.
# shellcheck source=tests/lib/lib.sh
. "$(dirname "$0")/../lib/lib.sh"
# shellcheck source=tests/lib/containerd.sh
. "$ROOT/tests/lib/containerd.sh"

for t in setfattr getfattr setcap getcap setfacl getfacl; do
	command -v "$t" >/dev/null || { fail "$t is not installed (scripts/setup.sh)"; summary; exit 1; }
done
ctd_tardis_env
mkdir -p "$CTD_DIR"
mount -t tmpfs -o size=2g,mode=0755 tmpfs "$CTD_DIR" || { fail "tmpfs"; summary; exit 1; }
ctd_start || { fail "containerd"; summary; exit 1; }
ctd_image || { fail "image"; summary; exit 1; }

ID=fid$$
rootfs_of() { echo "$CTD_DIR/state/io.containerd.runtime.v2.task/default/$1/rootfs"; }

# What the container itself makes (busybox).
MAKE_FILES='set -e
mkdir /fid && cd /fid
truncate -s 1G sparse
printf hello | dd of=sparse bs=1 seek=500000000 conv=notrunc 2>/dev/null
printf end | dd of=sparse bs=1 seek=1073741000 conv=notrunc 2>/dev/null
echo linked > h1 && ln h1 h2
echo x > xattr && echo c > cap && echo a > acl && echo big > bigx
mkfifo fifo && mknod null c 1 3
echo s > suid && chown 1000:2000 suid && chmod 4755 suid
echo o > owned && chown 12345:54321 owned && chmod 0640 owned
mkdir sgid && chown 7:8 sgid && chmod 2775 sgid
mkdir sticky && chmod 1777 sticky
echo name > "$(printf "%0255d" 0 | tr 0 n)"
d=deep
for i in $(seq 1 19); do d="$d/$(printf "%0200d" 0 | tr 0 d)"; done
mkdir -p "$d" && echo deep > "$d/$(printf "%0170d" 0 | tr 0 f)"
echo made'

# describe ROOTFS: what stat, getfattr, getcap and getfacl say of /fid.
describe() {
	(
		cd "$1" || exit 1
		find fid -print0 | sort -z >"$TMP/paths"
		xargs -0 stat -c '%n|%F|%a|%u:%g|%s|%h|%y|%t:%T' <"$TMP/paths"
		xargs -0 getfattr -h -d -m - --absolute-names <"$TMP/paths" 2>&1
		xargs -0 getcap <"$TMP/paths" 2>&1
		xargs -0 getfacl -p -n <"$TMP/paths" 2>&1
	) | sed 's/^/  /'
}

run_enabled "$ID"
check "running and counting" wait_for 20 count_at_least "$ID" 3
R=$(rootfs_of "$ID")
out=$(ctr_ task exec --exec-id mk "$ID" sh -c "$MAKE_FILES" 2>&1)
check "the container made its files ($out)" [ "$out" = made ]
# What busybox cannot do, done on the container's rootfs from the host.
setfattr -n user.note -v hello "$R/fid/xattr"
setcap cap_net_raw+ep "$R/fid/cap"
setfacl -m u:1000:rw "$R/fid/acl"
setfacl -d -m g:100:rx "$R/fid/sgid"
v=$(head -c 4000 /dev/zero | tr '\0' v)
for i in $(seq 10 25); do setfattr -n "user.big$i" -v "$v" "$R/fid/bigx" || break; done
check "64 KiB of xattrs on one file" \
	[ "$(getfattr -d -m 'user.big' --absolute-names "$R/fid/bigx" | grep -c '^user.big')" = 16 ]
before=$(describe "$R")
echo "$before" >"$TMP/before.txt"
blocks_before=$(stat -c %b "$R/fid/sparse")
check "the sparse file is sparse ($blocks_before blocks)" [ "$blocks_before" -lt 2048 ]

out=$(ctr_ c checkpoint --task "$ID" "localhost/ckpt-$ID:1" 2>&1)
echo "  ctr c checkpoint: rc=$? $out"
check "image published with files.tar" [ -s "$(image_of "$ID")/files.tar" ]
check "stopped after the checkpoint" wait_for 10 task_is "$ID" STOPPED
tar_size=$(stat -c %s "$(image_of "$ID")/files.tar" 2>/dev/null || echo 0)
check "files.tar with a 1 GiB sparse file is < 1 MiB ($tar_size bytes)" \
	[ "$tar_size" -gt 0 -a "$tar_size" -lt 1048576 ]
check "the image's files.tar is pax with the xattrs" \
	grep -qa 'SCHILY.xattr.security.capability' "$(image_of "$ID")/files.tar"
c1=$(count_of "$ID")
remove_container "$ID"
ctr_ image rm "localhost/ckpt-$ID:1" >/dev/null 2>&1
check "the old rootfs is gone" [ ! -e "$R/fid" ]

run_enabled "$ID"
check "created again -> restored" grep -q "create default/$ID: restored" "$TARDIS_LOG_FILE"
check "task RUNNING after restore" wait_for 10 task_is "$ID" RUNNING
check "the count continues" wait_for 10 count_at_least "$ID" $((c1 + 1))
R=$(rootfs_of "$ID")
after=$(describe "$R")
echo "$after" >"$TMP/after.txt"
if [ "$before" = "$after" ]; then
	ok "stat, xattrs, capabilities and ACLs the same after the restore"
else
	fail "stat, xattrs, capabilities and ACLs the same after the restore"
	diff -u "$TMP/before.txt" "$TMP/after.txt" | head -60 | sed 's/^/#   /'
fi
# The same, item by item (and proof that `describe` saw them).
check "sparse: 1 GiB, still sparse ($(stat -c %b "$R/fid/sparse") blocks)" \
	[ "$(stat -c %s "$R/fid/sparse")" = 1073741824 -a "$(stat -c %b "$R/fid/sparse")" -lt 2048 ]
check "sparse: its data back" [ "$(dd if="$R/fid/sparse" bs=1 skip=500000000 count=5 2>/dev/null)" = hello ]
check "hard links: one inode, 2 links" \
	[ "$(stat -c %i "$R/fid/h1")" = "$(stat -c %i "$R/fid/h2")" -a "$(stat -c %h "$R/fid/h1")" = 2 ]
check "fifo" [ -p "$R/fid/fifo" ]
check "device node c 1 3" [ "$(stat -c '%F %t:%T' "$R/fid/null")" = "character special file 1:3" ]
check "user.* xattr" [ "$(getfattr --only-values -n user.note "$R/fid/xattr" 2>/dev/null)" = hello ]
check "file capability" grep -q 'cap_net_raw=ep' <(getcap "$R/fid/cap")
check "ACL" grep -q '^user:1000:rw-' <(getfacl -p -n "$R/fid/acl" 2>/dev/null)
check "default ACL" grep -q '^default:group:100:r-x' <(getfacl -p -n "$R/fid/sgid" 2>/dev/null)
check "64 KiB of xattrs" \
	[ "$(getfattr -d -m 'user.big' --absolute-names "$R/fid/bigx" | grep -c '^user.big')" = 16 ]
check "setuid, owner" [ "$(stat -c '%a %u:%g' "$R/fid/suid")" = "4755 1000:2000" ]
check "setgid dir, sticky dir" \
	[ "$(stat -c %a "$R/fid/sgid")/$(stat -c %a "$R/fid/sticky")" = "2775/1777" ]
check "255-byte name" [ -f "$R/fid/$(printf "%0255d" 0 | tr 0 n)" ]
deep=$(cd "$R" && find fid/deep -type f)
check "~4,000-byte path (${#deep} bytes)" [ "${#deep}" -gt 3900 ]
check "the container sees them too" \
	[ "$(ctr_ task exec --exec-id chk "$ID" sh -c 'cat /fid/h2; ls -l /fid/fifo | cut -c1' 2>&1 | tr '\n' ' ')" = "linked p " ]

ctd_finish "$ID"
summary
