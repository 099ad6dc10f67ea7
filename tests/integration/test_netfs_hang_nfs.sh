#!/bin/bash
# test_netfs_hang.sh over NFSv4 (NETFS=nfs): a private kernel nfsd
# (tests/lib/nfs.sh) serving the images and work dirs, stopped (`rpc.nfsd
# 0`) while the runc calls are made, restarted after.  A kernel without NFS
# (this host's) gives one SKIP line and nothing else: the vmtest scenario
# netfs_hang_nfs runs it in a Debian kernel with nfsd/nfsv4.
NETFS=nfs exec bash "$(dirname "$0")/test_netfs_hang.sh" "$@"
