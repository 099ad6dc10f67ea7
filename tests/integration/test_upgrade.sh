#!/bin/bash
# A node upgraded under a kept container: a server checkpointed by one
# userland's tardis, containerd, runc and CRIU ("from") is restored by
# another's ("to") through a shared directory, and serves and counts on.
# make compat runs it in trixie (containerd 1.7, runc 1.1.15) then in sid
# (containerd 2.1, runc 1.3.6): UPGRADE_DIR is their shared directory
# (compat/run.sh empties it when it starts), and the phase is "from" while
# it holds no image, "to" after.  Without UPGRADE_DIR both phases run here,
# one containerd after the other.
# shellcheck source=tests/lib/lib.sh
. "$(dirname "$0")/../lib/lib.sh"
# shellcheck source=tests/lib/containerd.sh
. "$ROOT/tests/lib/containerd.sh"

ctd_tardis_env
UP=${UPGRADE_DIR:-$TMP/upgrade}
NFS=$UP/nfs
ID=upgraded
mkdir -p "$NFS"
export TARDIS_IMAGE_ROOTS=$TARDIS_IMAGE_ROOTS:$UP
# Its first start (only) starts busybox httpd on 8080 in the container's
# own network namespace, writes a file and deletes one of the image.
COUNTER=$(ctd_counter '{ echo "first start: $(cat /work/from)"; busybox httpd -p 8080 -h /; echo kept >/written; rm /etc/keep; }' 0.1)
versions() { echo "$(runc --version | head -1), $(containerd --version | awk '{print $3}'), CRIU $("$TARDIS_CRIU" --version | sed -n 's/^Version: //p')"; }
# listening ID PORT: a TCP socket (v4 or v6: httpd binds ::) listening on
# PORT in the task's network namespace
listening() {
	local pid
	pid=$(task_pid "$1")
	[ -n "$pid" ] && cat "/proc/$pid/net/tcp" "/proc/$pid/net/tcp6" 2>/dev/null |
		grep -q "$(printf ':%04X ' "$2").* 0A "
}

phase_from() {
	echo "# from: $(versions)"
	mkdir -p "$NFS/work/default/$ID"
	versions >"$NFS/work/default/$ID/from"
	run_enabled "$ID"
	check "from: counting" wait_for 30 count_at_least "$ID" 15 || return 1
	check "from: tardis has it" [ -s "$TARDIS_STATE_DIR/containers/default/$ID/state.json" ] || return 1
	check "from: httpd listening" wait_for 10 listening "$ID" 8080
	ctr_ c checkpoint --task "$ID" "localhost/ckpt-$ID:1" >/dev/null 2>&1
	check "from: image published" [ -s "$(image_of "$ID")/manifest.json" ]
	check "from: the task stopped" wait_for 10 task_is "$ID" STOPPED
	count_of "$ID" >"$UP/count"
	remove_container "$ID"
	ctr_ image rm "localhost/ckpt-$ID:1" >/dev/null 2>&1
	versions >"$UP/ready"
}

phase_to() {
	local c1 c2 root
	c1=$(cat "$UP/count")
	echo "# to: $(versions); the image made by: $(cat "$UP/ready")"
	run_enabled "$ID"
	# ("from" restores nothing: a "restored" line in this log is this create's.)
	check "to: restored" grep -q "create default/$ID: restored" "$TARDIS_LOG_FILE" || return 1
	check "to: running" wait_for 10 task_is "$ID" RUNNING
	moved() { [ "$(count_of "$ID")" != "$c1" ]; }
	wait_for 10 moved
	c2=$(count_of "$ID")
	check "to: counts on ($c1 -> $c2)" [ "$c2" -gt "$c1" ]
	check "to: httpd still listening on 8080" listening "$ID" 8080
	root=/proc/$(task_pid "$ID")/root
	check "to: /marker is the first start's, on the old node" \
		[ "$(cat "$root/marker" 2>/dev/null)" = "first start: $(cat "$UP/ready")" ]
	check "to: the file it wrote is there" [ "$(cat "$root/written" 2>/dev/null)" = kept ]
	check "to: the image's file it deleted stays deleted" [ ! -e "$root/etc/keep" ]
	rm -f "$UP/ready"
	ctd_finish "$ID"
	check "to: exit 0 removed the image" [ ! -e "$(image_of "$ID")" ]
}

# The container image is the one "from" built (with its userland's
# busybox), as a registry would serve it to both nodes: CRIU restores only
# onto the same files.
image_from() {
	ctd_image && cp "$TMP/image/bb.tar" "$UP/bb.tar"
}
image_to() { ctr_ image import --base-name localhost/bb "$UP/bb.tar" >/dev/null; }

ctd_start || { fail "containerd"; summary; exit 1; }
if [ -n "${UPGRADE_DIR:-}" ] && [ -s "$UP/ready" ]; then
	image_to || { fail "image"; summary; exit 1; }
	phase_to
elif [ -n "${UPGRADE_DIR:-}" ]; then
	image_from || { fail "image"; summary; exit 1; }
	phase_from
else
	image_from || { fail "image"; summary; exit 1; }
	phase_from || { summary; exit 1; }
	ctd_stop
	stop_agent_of "$TARDIS_STATE_DIR"
	ctd_start || { fail "containerd again"; summary; exit 1; }
	image_to || { fail "image again"; summary; exit 1; }
	phase_to
fi
summary
