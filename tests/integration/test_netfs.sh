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
	# shellcheck source=tests/lib/nfs.sh
	. "$ROOT/tests/lib/nfs.sh"
	NFS_LOG=$TMP/nfs.log
	netfs_up() { nfs_up "$@"; }
	on_cleanup nfs_down
	;;
*)
	fail "NETFS=$NETFS: sshfs or nfs"
	summary
	exit 1
	;;
esac
netfs_up "$EXPORT" "$FS_A" "$FS_B"
rc=$?
if [ "$NETFS" = nfs ] && [ "$rc" = 2 ]; then
	echo "SKIP - test_netfs over NFS: $NFS_WHY"
	summary
	exit 0
fi
check "$NETFS: the export mounted twice (node A, node B)" [ "$rc" = 0 ] || { summary; exit 1; }
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

part_took() { echo "# part $1: $((SECONDS - T0)) s"; T0=$SECONDS; }
T0=$SECONDS

# ==== a. cross-node restore over the two mounts ============================
if [[ $PARTS == *" a "* ]]; then
	mkdir -p "$FS_A/xnode"
	sub_test cross_node XNODE_FS_A="$FS_A/xnode" XNODE_FS_B="$FS_B/xnode" TEST_IMAGE_ROOTS="$TMP" \
		OUT="$OUT" \
		bash "$ROOT/tests/integration/test_cross_node.sh"
	check "a: nothing of the container left in the export" \
		[ -z "$(find "$EXPORT/xnode" -mindepth 3 2>/dev/null)" ]
	part_took a
fi

# ==== b, c: tardis-runc on runc bundles, the image on the network fs =======
if [[ $PARTS == *" b "* || $PARTS == *" c "* ]]; then
	# shellcheck source=tests/lib/bundle.sh
	. "$ROOT/tests/lib/bundle.sh"
	shim_env netfs debug
	start_agent || { fail "agent"; summary; exit 1; }
	# The counter stops (exit 0) once /data/stop exists.
	lower_layer sh -c 'i=0; while [ ! -e /data/stop ]; do i=$((i + 1)); echo $i > /data/.count
busybox mv /data/.count /data/count; sleep 0.1; done'
	mkdir -p "$FS_A/bundles"
	SERVER=$EXPORT/bundles/checkpoint/$NS # the truth, as the server has it
	IMG_A=$FS_A/bundles/checkpoint/$NS
	IMG_B=$FS_B/bundles/checkpoint/$NS
	# on NODE: the bundle's network fs as NODE (A, B) sees it.
	on() { [ "$1" = A ] && echo "$FS_A/bundles" || echo "$FS_B/bundles"; }
	node_bundle() { # node_bundle NODE DIR: an enabled bundle of NODE
		make_bundle "$2" ".process.env += [\"TARDIS_NETWORKFS_HOST_PATH=$(on "$1")\",
			\"TARDIS_WORKDIR_CONTAINER_PATH=/work\"]"
	}
	killed() { # killed ENV... ARGS: no shell notice of the kill; RC
		{ env "$@" </dev/null >/dev/null 2>&1; } 2>/dev/null
		RC=$?
	}
	# What is at and next to the image path of ck on the server: NAME=old|
	# new|invalid, temp names without node, pid and counter.
	what_is_there() { # what_is_there OLD-SIG
		local d n out=()
		for d in "$SERVER/ck" "$SERVER"/.ck.*; do
			[ -e "$d" ] || continue
			n=$(basename "$d")
			case $n in .ck.tmp.*) n=.ck.tmp ;; esac
			out+=("$n=$(kind_of "$d" "$1")")
		done
		echo "${out[*]}"
	}
	kind_of() { # kind_of DIR OLD-SIG: invalid, old or new
		if ! valid "$1"; then
			echo invalid
		elif [ -n "$2" ] && [ "$(sig "$1")" = "$2" ]; then
			echo old
		else
			echo new
		fi
	}
	# reset_images: nothing at or next to ck's image path, through A's
	# mount (its caches stay true to what it did).
	reset_images() {
		local d
		for d in "$SERVER/ck" "$SERVER"/.ck.*; do
			[ -e "$d" ] && rm -rf "${IMG_A:?}/$(basename "$d")"
		done
		return 0
	}
fi

if [[ $PARTS == *" b "* ]]; then
	echo "# ---- b. SIGKILL while publishing to the network fs"
	BC=$TMP/bc
	node_bundle A "$BC"
	check "b: ck runs on A" create_start "$BC" ck
	check "b: ck counting" wait_for 20 count_at_least "$BC" 20
	check "b: delete --force publishes the old image" shim delete --force ck
	check "b: node B sees it valid" valid "$IMG_B/ck"
	cp -a "$SERVER/ck" "$TMP/old-image"
	OLD=$(sig "$TMP/old-image")
	OLD_COUNT=$(saved_count "$TMP/old-image")
	drop_bundle "$BC"

	# crash_publish NAME STEP LEFT AFTER: the old image in place (unless
	# AFTER is fresh), ck restored from it on A and running, its
	# `delete --force` killed at STEP (none: not killed).  LEFT: what the
	# server holds right after; AFTER: old, new or fresh, what a create on
	# node B starts from.
	crash_publish() {
		local name=$1 step=$2 left=$3 after=$4 c=3 got
		reset_images
		[ "$after" = fresh ] || { cp -a "$TMP/old-image" "$IMG_A/ck"; c=$((OLD_COUNT + 3)); }
		node_bundle A "$BC"
		if ! create_start "$BC" ck || ! wait_for 20 count_at_least "$BC" "$c"; then
			fail "$name: ck runs on A (count $(count_in "$BC"))"
			rdelete ck
			return
		fi
		mark_log
		if [ "$step" = none ]; then
			check "$name: delete --force" shim delete --force ck
		else
			killed TARDIS_TEST_CRASH_AT="$step" "$SHIM" --root "$RROOT" delete --force ck
			check "$name: killed at $step (status $RC)" [ "$RC" = 137 ]
		fi
		got=$(what_is_there "$OLD")
		check "$name: the server holds [$got], want [$left]" [ "$got" = "$left" ]
		shim delete --force ck >/dev/null 2>&1
		check "$name: ck gone from A" gone ck
		drop_bundle "$BC"
		node_bundle B "$BC"
		mark_log
		check "$name: B: create" shim create --bundle "$BC" --pid-file "$BC/init.pid" ck
		if [ "$after" = fresh ]; then
			check "$name: B: nothing restored" not in_log "create $NS/ck: restored"
		else
			got=$(kind_of "$SERVER/ck" "$OLD")
			check "$name: B: restored" in_log "create $NS/ck: restored"
			check "$name: B: from the $after image ($got)" [ "$got" = "$after" ]
			c=$(saved_count "$IMG_B/ck")
			check "$name: B: start" shim start ck
			check "$name: B: counting on from $c" wait_for 10 count_at_least "$BC" $((c + 2))
		fi
		# Temp dirs go with the next listing that shows them (B's may be
		# 20 s old); the aside copy at once.
		check "$name: B: no aside copy left [$(what_is_there "$OLD")]" [ ! -e "$SERVER/.ck.old" ]
		rdelete ck
		shim delete --force ck >/dev/null 2>&1
		drop_bundle "$BC"
	}
	crash_publish "sealed, not published" seal-manifest-written "ck=old .ck.tmp=new" old
	crash_publish "between the renames" publish-between-renames ".ck.old=old .ck.tmp=new" old
	crash_publish "renamed, old not removed" publish-renamed "ck=new .ck.old=old" new
	crash_publish "published, state not updated" ckpt-published "ck=new" new
	crash_publish "first image, between the renames" publish-between-renames ".ck.tmp=new" fresh
	part_took b
fi

if [[ $PARTS == *" c "* ]]; then
	echo "# ---- c. exit 0 over the network fs, the image and work dir open elsewhere"
	BC=$TMP/bc
	reset_images
	node_bundle A "$BC"
	check "c: ck runs on A" create_start "$BC" ck
	check "c: ck counting" wait_for 20 count_at_least "$BC" 10
	check "c: delete --force checkpoints it" shim delete --force ck
	drop_bundle "$BC"
	WORK_B=$FS_B/bundles/work/$NS/ck
	node_bundle B "$BC"
	mark_log
	check "c: restored on B" create_start "$BC" ck
	check "c: ... from A's image" in_log "create $NS/ck: restored"
	check "c: ck counts on B" wait_for 10 count_at_least "$BC" 12
	# Node A's mount holds files of the image and of the work dir open.
	touch "$WORK_B/held"
	exec 8<"$IMG_A/ck/inventory.img" 9<"$FS_A/bundles/work/$NS/ck/held"
	touch "$BC/rootfs/data/stop"
	stopped() { [ "$(status_of ck)" = stopped ]; }
	check "c: ck exits" wait_for 10 stopped
	check "c: exit 0 recorded" "$BIN/tardisctl" wait --timeout 10s "$NS/ck"
	mark_log
	check "c: delete after exit 0" shim delete ck
	check "c: ... its image and state removed" in_log "finished with exit code 0: removing its image"
	check "c: no error removing them" not in_log " error: "
	check "c: the image gone from the server" [ ! -e "$SERVER/ck" ]
	check "c: the work dir gone from the server" [ ! -e "$EXPORT/bundles/work/$NS/ck" ]
	# A's listing and attributes are cached (sshfs: 20 s): they follow.
	check "c: the image gone from A's view" wait_for 30 not test -e "$IMG_A/ck"
	check "c: the work dir gone from A's view" wait_for 30 not test -e "$FS_A/bundles/work/$NS/ck"
	check "c: A's open file still reads" bash -c 'head -c 4 <&8 | wc -c | grep -qx 4'
	exec 8<&- 9<&-
	check "c: nothing left next to the image" [ -z "$(ls -A "$SERVER")" ]
	drop_bundle "$BC"
	part_took c
fi

# ==== d. Kubernetes: reschedule and the lease over the two mounts =========
if [[ $PARTS == *" d "* ]]; then
	mkdir -p "$FS_A/k8s"
	# The test looks at the server's truth; the nodes use their mounts.
	sub_test kubernetes K8S_FS_A="$FS_A/k8s" K8S_FS_B="$FS_B/k8s" K8S_FS_VIEW="$EXPORT/k8s" \
		TEST_IMAGE_ROOTS="$TMP" \
		K8S_FLAVOURS=2 K8S_FLOWS="${NETFS_K8S_FLOWS:-reschedule lease_flows race}" \
		K8S_RACE_ROUNDS="${NETFS_RACE_ROUNDS:-2}" OUT="$OUT" \
		bash "$ROOT/tests/integration/test_kubernetes.sh"
	part_took d
fi

summary
