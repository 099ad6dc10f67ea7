#!/bin/bash
# test_netfs.sh's publish kills (part b: tardis-runc SIGKILLed at each step
# of publishing an image onto node A's mount; node B restores the old or
# the new image, never a half one) over NFSv4 (tests/lib/nfs.sh): the
# vmtest scenario netfs_nfs, in a Debian kernel with nfsd/nfsv4.  Parts a
# and c over NFS are test_cross_node_nfs's.  Without NFS (this host's
# kernel): one SKIP line.
NETFS=nfs NETFS_PARTS=${NETFS_PARTS:-b} exec bash "$(dirname "$0")/test_netfs.sh"
