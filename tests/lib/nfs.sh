# A private NFSv4 server on this kernel and two client mounts of its one
# export: the shared directory of two "nodes" (test_cross_node_nfs.sh).
# Meant for a vmtest guest (root, the kernel's own module tree, / being the
# host's over 9p): everything it changes is guest-only -- a tmpfs over
# /var/lib/nfs (the server's state: etab, rmtab, client tracking), a tmpfs
# as the export (9p cannot be exported), fs.leases-enable, nfsd's threads.
# Sourced after tests/lib/lib.sh.
#
#   nfs_up EXPORT MOUNT_A MOUNT_B   0: up; 2: NFS cannot run here, NFS_WHY
#                                   says why (a SKIP); 1: it failed, NFS_WHY
#   nfs_down                        undoes what nfs_up did, in reverse
# shellcheck shell=bash

# shellcheck disable=SC2034 # read by the sourcing test
NFS_WHY=
NFS_UNDO=()   # shell commands, run last first by nfs_down
NFS_MOUNTD_PID=
NFS_LOG=

_nfs_undo() { NFS_UNDO+=("$*"); }

# nfs_available: 0 if this kernel and userland can serve NFSv4 here, else
# NFS_WHY says why.  Nothing is changed on a machine that cannot.
nfs_available() {
	local c
	for c in rpc.nfsd rpc.mountd exportfs mount.nfs4; do
		command -v "$c" >/dev/null 2>&1 || {
			NFS_WHY="$c not found (Debian nfs-kernel-server / nfs-common; scripts/setup.sh installs them)"
			return 1
		}
	done
	[ "$(id -u)" -eq 0 ] || {
		NFS_WHY="needs root"
		return 1
	}
	if ! grep -qw nfsd /proc/filesystems && ! modprobe -q nfsd 2>/dev/null; then
		NFS_WHY="kernel $(uname -r) has no nfsd (no module in /lib/modules/$(uname -r))"
		return 1
	fi
	if ! grep -qw nfs4 /proc/filesystems && ! modprobe -q nfsv4 2>/dev/null; then
		NFS_WHY="kernel $(uname -r) has no NFSv4 client (no nfsv4 module)"
		return 1
	fi
	# Someone else's server on this kernel (not a vmtest guest): left alone.
	if [ "$(cat /proc/fs/nfsd/threads 2>/dev/null || echo 0)" != 0 ]; then
		NFS_WHY="an NFS server already runs on this kernel; not touching it"
		return 1
	fi
	return 0
}

# _nfs_server EXPORT: nfsd (NFSv4 only, on 127.0.0.1) serving EXPORT, a
# fresh tmpfs, to 127.0.0.1.
_nfs_server() {
	local exp=$1 old
	if ! grep -q ' /proc/fs/nfsd ' /proc/mounts; then
		mount -t nfsd nfsd /proc/fs/nfsd || return 1
		_nfs_undo umount /proc/fs/nfsd
	fi
	# The server's state off the host's disk (/var/lib/nfs is the host's).
	mount -t tmpfs -o mode=0755 nfsstate /var/lib/nfs || return 1
	_nfs_undo umount -l /var/lib/nfs
	mkdir -p /var/lib/nfs/v4recovery /var/lib/nfs/nfsdcltrack /var/lib/nfs/sm
	: >/var/lib/nfs/etab
	: >/var/lib/nfs/rmtab
	# Without a record of earlier clients nfsd starts in a grace period
	# (no OPEN until it ends): the shortest the kernel allows.
	echo 10 >/proc/fs/nfsd/nfsv4leasetime 2>/dev/null
	echo 10 >/proc/fs/nfsd/nfsv4gracetime 2>/dev/null
	# One kernel, one NFS client for both mounts: a delegation handed to
	# mount A would not be recalled when mount B (the same client to the
	# server) writes the file, a staleness two real nodes never see.
	# nfsd hands out delegations as file leases; none while this runs.
	old=$(cat /proc/sys/fs/leases-enable)
	echo 0 >/proc/sys/fs/leases-enable
	_nfs_undo "echo $old >/proc/sys/fs/leases-enable"

	mkdir -p "$exp" && mount -t tmpfs -o mode=0755 nfsexport "$exp" || return 1
	_nfs_undo umount -l "$exp"
	# v4 needs mountd for the kernel's export upcalls (auth.unix.ip,
	# nfsd.export, nfsd.fh), not for the MOUNT protocol: v2/v3 off.
	rpc.mountd -F -N 2 -N 3 --no-udp >>"$NFS_LOG" 2>&1 &
	NFS_MOUNTD_PID=$!
	_nfs_undo '_nfs_stop_mountd'
	# fsid=0: the export is NFSv4's root ("127.0.0.1:/").  Any other fsid
	# makes mountd build a pseudo root from / down, and / (9p) and /tmp
	# cannot be exported ("Cannot export /, ... fsid= required").
	exportfs -o rw,no_root_squash,sync,no_subtree_check,insecure,fsid=0 \
		"127.0.0.1:$exp" >>"$NFS_LOG" 2>&1 || return 1
	_nfs_undo exportfs -u "127.0.0.1:$exp"
	rpc.nfsd -H 127.0.0.1 -N 3 --no-udp 4 >>"$NFS_LOG" 2>&1 || return 1
	# shellcheck disable=SC2016 # expanded by nfs_down's eval
	_nfs_undo 'rpc.nfsd 0 >>"$NFS_LOG" 2>&1'
	[ "$(cat /proc/fs/nfsd/threads)" -gt 0 ]
}

_nfs_stop_mountd() {
	[ -n "$NFS_MOUNTD_PID" ] || return 0
	kill "$NFS_MOUNTD_PID" 2>/dev/null
	wait "$NFS_MOUNTD_PID" 2>/dev/null
	NFS_MOUNTD_PID=
}

# _nfs_mount EXPORT DIR: an NFSv4.2 mount of EXPORT (the server's root) at DIR with a
# superblock of its own (nosharecache): its own inodes, dentries and
# attribute cache, as on another node.  The first one waits out the
# server's grace period.
_nfs_mount() {
	local i
	mkdir -p "$2" || return 1
	for i in $(seq 1 60); do
		mount -t nfs4 -o vers=4.2,proto=tcp,sec=sys,nosharecache,hard,timeo=100 \
			127.0.0.1:/ "$2" >>"$NFS_LOG" 2>&1 && break
		[ "$i" -lt 60 ] || return 1
		sleep 1
	done
	_nfs_undo "umount -f '$2' 2>/dev/null || umount -l '$2'"
}

nfs_up() {
	local exp=$1 a=$2 b=$3
	NFS_WHY=
	nfs_available || return 2
	NFS_LOG=${NFS_LOG:-${TMP:-/tmp}/nfs.log}
	: >>"$NFS_LOG"
	if ! _nfs_server "$exp"; then
		NFS_WHY="the NFS server did not start: $(tail -3 "$NFS_LOG" | paste -sd' ' -)"
		return 1
	fi
	if ! _nfs_mount "$exp" "$a" || ! _nfs_mount "$exp" "$b"; then
		NFS_WHY="mount -t nfs4 127.0.0.1:/ ($exp) failed: $(tail -3 "$NFS_LOG" | paste -sd' ' -)"
		return 1
	fi
	return 0
}

nfs_down() {
	local i
	for ((i = ${#NFS_UNDO[@]} - 1; i >= 0; i--)); do
		eval "${NFS_UNDO[$i]}" || true
	done
	NFS_UNDO=()
}
