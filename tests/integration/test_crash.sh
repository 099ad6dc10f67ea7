#!/bin/bash
# Crash consistency: tardis-runc is killed with SIGKILL at each step of
# publishing a checkpoint image and of a restore (TARDIS_TEST_CRASH_AT, see
# user/crashpoint.h).  After every crash: no half-written image validates,
# the image path holds the old complete image or the new complete one, the
# next create restores it (or, with no image, starts fresh), and no file a
# killed restore applied stays in the rootfs (the next create rolls the
# leftover journal back: the rootfs listing, with content hashes, is as
# before).
# shellcheck source=tests/lib/lib.sh
. "$(dirname "$0")/../lib/lib.sh"
# shellcheck source=tests/lib/bundle.sh
. "$ROOT/tests/lib/bundle.sh"

shim_env ns1 debug
unset TARDIS_TEST_CRASH_AT

# ---- helpers -----------------------------------------------------------

# Preloaded into tardis-runc:
#   TEST_NO_EXCHANGE=FILE  renameat2(RENAME_EXCHANGE) fails with EINVAL, as
#                       on a filesystem without it (NFS), and a line is
#                       appended to FILE: the fallback publish (two renames)
#                       is taken;
#   TEST_KILL_AFTER_BACKUP_UNLINK=1  SIGKILL right after the first backup
#                       (b<n>) of a restore's journal directory is removed.
cat >"$TMP/hooks.c" <<'EOF'
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/fs.h>
long syscall(long nr, ...)
{
	static long (*real)(long, ...);
	long a[6];
	va_list ap;

	va_start(ap, nr);
	for (int i = 0; i < 6; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);
	if (nr == SYS_renameat2 && (a[4] & RENAME_EXCHANGE) && getenv("TEST_NO_EXCHANGE")) {
		int fd = open(getenv("TEST_NO_EXCHANGE"), O_WRONLY | O_APPEND | O_CREAT, 0600);

		if (fd >= 0) {
			(void)!write(fd, "refused\n", 8);
			close(fd);
		}
		errno = EINVAL;
		return -1;
	}
	if (!real)
		real = (long (*)(long, ...))dlsym(RTLD_NEXT, "syscall");
	return real(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
}
int unlinkat(int dirfd, const char *path, int flags)
{
	static int (*real)(int, const char *, int);
	const char *p = path;
	int r;

	if (!real)
		real = (int (*)(int, const char *, int))dlsym(RTLD_NEXT, "unlinkat");
	r = real(dirfd, path, flags);
	if (r == 0 && getenv("TEST_KILL_AFTER_BACKUP_UNLINK") && p[0] == 'b' && p[1] >= '0' &&
	    p[1] <= '9') {
		for (p++; *p >= '0' && *p <= '9'; p++)
			;
		if (!*p)
			raise(SIGKILL);
	}
	return r;
}
EOF
gcc -shared -fPIC -o "$TMP/hooks.so" "$TMP/hooks.c" -ldl ||
	{ fail "build the test hooks"; summary; exit 1; }
NOEXCHANGE=("LD_PRELOAD=$TMP/hooks.so" "TEST_NO_EXCHANGE=$TMP/exchange-refused")

# The lower layer: busybox; the container deletes a lower file, makes
# directories, a file, a symlink, a hard link and a fifo, then counts.
lower_layer sh -c "busybox rm -f /keep
busybox mkdir -p /newdir/sub; echo made > /newdir/sub/f; busybox ln -sf /marker /link
busybox ln /newdir/sub/f /newdir/hard; busybox mkfifo /newdir/fifo
echo first > /marker; $COUNTER_SH"
echo "from the image" >"$LOWER/rootfs/keep"

# killed ENV... ARGS: tardis-runc with ENV (name=value ...), ARGS; no shell
# notice when it is killed.  Sets RC.
killed() {
	{ env "$@" </dev/null >/dev/null 2>&1; } 2>/dev/null
	RC=$?
}
# Every entry of a rootfs: type, mode, owner, path, link target, mtime of
# every entry; the link count of every non-directory; and the content of
# every regular file.  Not data/.count:
# a restored container that ran writes it on its own (not an applied file).
listing() {
	(cd "$1" && find . -xdev ! -path ./data/.count -printf '%y %m %U:%G %p %l %T@\n' |
		LC_ALL=C sort &&
		find . -xdev ! -type d ! -path ./data/.count -printf 'links %n %p\n' | LC_ALL=C sort &&
		find . -xdev -type f ! -path ./data/.count -exec sha256sum {} + | LC_ALL=C sort)
}
# What is at and next to the image path of ID: NAME=old|new|invalid for
# each, temp names without their pid and counter.  old: identical to the
# old image; new: any other image that validates.
what_is_there() { # what_is_there ID OLD-SIG
	local id=$1 old=$2 d n k out=()
	for d in "$IMAGES/$id" "$IMAGES"/."$id".*; do
		[ -e "$d" ] || continue
		n=$(basename "$d")
		case $n in .$id.tmp.*) n=.$id.tmp ;; esac
		if ! valid "$d"; then
			k=invalid
		elif [ -n "$old" ] && [ "$(sig "$d")" = "$old" ]; then
			k=old
		else
			k=new
		fi
		out+=("$n=$k")
	done
	echo "${out[*]}"
}

# publish_image BUNDLE ID WHAT: ID counting to 20 in a fresh BUNDLE; its
# `delete --force` publishes an image (WHAT) that validates.
publish_image() {
	make_bundle "$1"
	check "$2: create + start" create_start "$1" "$2"
	check "$2: counting" wait_for 20 count_at_least "$1" 20
	check "$2: delete --force publishes $3" shim delete --force "$2"
	check "$2: $3 validates" valid "$IMAGES/$2"
}

start_agent || { fail "agent"; summary; exit 1; }
mkdir -p "$IMAGES"

# ==== checkpoint publishing ============================================
BC=$TMP/bc
publish_image "$BC" ck "the old image"
cp -a "$IMAGES/ck" "$TMP/old-image"
OLD=$(sig "$TMP/old-image")
OLD_COUNT=$(saved_count "$TMP/old-image")
check "ck: the old image holds the count ($OLD_COUNT)" [ "$OLD_COUNT" -ge 20 ]
drop_bundle "$BC"

# crash_ckpt NAME STEP LEFT AFTER [ENV...]: with the old image published
# (unless AFTER is fresh), the container restored from it and running,
# `delete --force` killed at STEP (none: not killed).  LEFT: what is at and
# next to the image path right after the crash; AFTER: old, new or fresh,
# what the next create starts from.
crash_ckpt() {
	local name=$1 step=$2 left=$3 after=$4 rc before_ckpts got c
	shift 4
	rm -rf "${IMAGES:?}/ck" "$IMAGES"/.ck.*
	[ "$after" = fresh ] || cp -a "$TMP/old-image" "$IMAGES/ck"
	make_bundle "$BC"
	c=$((OLD_COUNT + 3))
	[ "$after" = fresh ] && c=3
	if ! create_start "$BC" ck || ! wait_for 20 count_at_least "$BC" "$c"; then
		fail "$name: the container runs (count $(count_in "$BC"))"
		rdelete ck
		drop_bundle "$BC"
		return
	fi
	before_ckpts=$(jq -r '.checkpoints // 0' "$TARDIS_STATE_DIR/containers/$NS/ck/state.json")
	mark_log
	if [ "$step" = none ]; then
		env "$@" "$SHIM" --root "$RROOT" delete --force ck
		rc=$?
		check "$name: delete --force (status $rc)" [ "$rc" = 0 ]
	else
		killed TARDIS_TEST_CRASH_AT="$step" "$@" "$SHIM" --root "$RROOT" delete --force ck
		rc=$RC
		check "$name: killed at $step (status $rc)" [ "$rc" = 137 ]
		check "$name: at that crash point" in_log "test crash point \`${step%%:*}\`"
	fi
	got=$(what_is_there ck "$OLD")
	check "$name: left [$got], want [$left]" [ "$got" = "$left" ]
	if [ "$step" = ckpt-published ]; then
		check "$name: state not updated yet" [ "$(jq -r '.checkpoints // 0' \
			"$TARDIS_STATE_DIR/containers/$NS/ck/state.json")" = "$before_ckpts" ]
	fi
	# The caller tries again; then the container is created anew (a fresh
	# rootfs, as on another node).
	mark_log
	check "$name: delete --force again" shim delete --force ck 2>/dev/null
	check "$name: the container is gone" [ -z "$(status_of ck)" ]
	drop_bundle "$BC"
	make_bundle "$BC"
	mark_log
	check "$name: create" shim create --bundle "$BC" --pid-file "$BC/init.pid" ck
	if [ "$after" = fresh ]; then
		check "$name: no image, a fresh start" [ "$(status_of ck)" = created ]
		check "$name: nothing restored" not in_log "create $NS/ck: restored"
		check "$name: no image left behind [$(what_is_there ck "")]" [ -z "$(what_is_there ck "")" ]
	else
		got=$(what_is_there ck "$OLD")
		check "$name: the image is the $after one [$got]" [ "$got" = "ck=$after" ]
		check "$name: restored from it" in_log "create $NS/ck: restored"
		c=$(saved_count "$IMAGES/ck")
		check "$name: start answered" shim start ck
		check "$name: counting on from $c" wait_for 10 count_at_least "$BC" $((c + 2))
	fi
	rdelete ck
	drop_bundle "$BC"
}

SAME="ck=old .ck.tmp=invalid"
crash_ckpt "after the temp dir" ckpt-tmp-created "$SAME" new
crash_ckpt "after runc checkpoint" ckpt-criu-done "$SAME" old
crash_ckpt "after dump.log" ckpt-dump-log-copied "$SAME" old
crash_ckpt "after the files" ckpt-files-saved "$SAME" old
crash_ckpt "seal, before the manifest" seal-before-manifest "$SAME" old
# The manifest is written with the files it lists, then all are made
# durable at once: a crash meanwhile leaves a whole temporary image,
# never published (the next checkpoint removes it).
crash_ckpt "seal, after the manifest" seal-manifest-written "ck=old .ck.tmp=new" old
crash_ckpt "seal, 1 file fsynced" seal-file-synced:1 "ck=old .ck.tmp=new" old
crash_ckpt "seal, 3 files fsynced" seal-file-synced:3 "ck=old .ck.tmp=new" old
crash_ckpt "after the exchange" publish-exchanged "ck=new .ck.tmp=old" new
crash_ckpt "published, state not updated" ckpt-published "ck=new" new
# No RENAME_EXCHANGE (NFS): the old image is moved aside, then the new one
# takes its place.
crash_ckpt "fallback publish" none "ck=new" new "${NOEXCHANGE[@]}"
crash_ckpt "fallback, between the renames" publish-between-renames ".ck.old=old .ck.tmp=new" old "${NOEXCHANGE[@]}"
check "fallback: both publishes were refused the exchange" [ "$(wc -l <"$TMP/exchange-refused")" = 2 ]
# The first image (nothing to exchange with) takes the fallback path.
crash_ckpt "first image, between the renames" publish-between-renames ".ck.tmp=new" fresh

# ==== restore ============================================================
BR=$TMP/br
publish_image "$BR" cr "its image"
GOLD=$(sig "$IMAGES/cr")
GOLD_COUNT=$(saved_count "$IMAGES/cr")
check "cr: the image deletes /keep" grep -qx "whiteout keep" "$IMAGES/cr/deleted.list"
drop_bundle "$BR"

# A fresh rootfs with files of its own that the image replaces (data/count),
# extends (newdir) or leaves alone (other).
prep_rootfs() {
	make_bundle "$BR"
	echo preexisting >"$BR/rootfs/data/count"
	echo untouched >"$BR/rootfs/other"
	mkdir -p "$BR/rootfs/newdir"
	echo mine >"$BR/rootfs/newdir/mine"
	touch -d '2001-02-03 04:05:06' "$BR/rootfs/data/count" "$BR/rootfs/newdir"
	BEFORE=$(listing "$BR/rootfs")
}
journal_left() { [ -s "$TARDIS_STATE_DIR/restore/$NS/cr/journal" ]; }
# crash_create NAME STEP [ENV...]: create killed at STEP; what containerd
# does after a failed create (delete the container) follows.
crash_create() {
	local name=$1 step=$2 rc
	shift 2
	mark_log
	killed TARDIS_TEST_CRASH_AT="$step" "$@" "$SHIM" --root "$RROOT" create --bundle "$BR" \
		--pid-file "$BR/init.pid" cr
	rc=$RC
	if [ "$rc" = 137 ] && in_log "test crash point \`${step%%:*}\`"; then
		ok "$name: killed at $step"
	else
		fail "$name: killed at $step (status $rc)"
	fi
	check "$name: the image is untouched" [ "$(sig "$IMAGES/cr")" = "$GOLD" ]
	check "$name: the image validates" valid "$IMAGES/cr"
	rdelete cr
}
# The next create, with a CRIU that fails: the leftover journal is rolled
# back, the image applied, the restore fails and is undone, a fresh
# container is created: the rootfs must be exactly as before.
next_falls_back_clean() { # NAME
	mark_log
	killed TARDIS_CRIU=/bin/false "$SHIM" --root "$RROOT" create --bundle "$BR" \
		--pid-file "$BR/init.pid" cr
	check "$1: next create (restore fails) exits 0 ($RC)" [ "$RC" = 0 ]
	check "$1: ... fell back" in_log "create $NS/cr: restore failed, starting fresh"
	check "$1: ... a fresh container" [ "$(status_of cr)" = created ]
	rdelete cr
	check "$1: no applied file left (rootfs listing and contents as before)" \
		[ "$(listing "$BR/rootfs")" = "$BEFORE" ]
	[ "$(listing "$BR/rootfs")" = "$BEFORE" ] ||
		diff <(echo "$BEFORE") <(listing "$BR/rootfs") | head -20
	check "$1: no journal left" not journal_left
}
image_files_there() {
	[ "$(cat "$BR/rootfs/newdir/sub/f")" = made ] && [ ! -e "$BR/rootfs/keep" ] &&
		[ "$BR/rootfs/newdir/hard" -ef "$BR/rootfs/newdir/sub/f" ] && [ -p "$BR/rootfs/newdir/fifo" ] &&
		[ "$(readlink "$BR/rootfs/link")" = /marker ] && [ "$(cat "$BR/rootfs/other")" = untouched ]
}
# And the next create with a working CRIU restores.
next_restores() { # NAME
	mark_log
	check "$1: next create" shim create --bundle "$BR" --pid-file "$BR/init.pid" cr
	check "$1: ... restored" in_log "create $NS/cr: restored"
	check "$1: ... start answered" shim start cr
	check "$1: ... counting on from $GOLD_COUNT" wait_for 10 count_at_least "$BR" $((GOLD_COUNT + 2))
	check "$1: ... the image's files are there" image_files_there
	rdelete cr
}

for step in restore-validated restore-applied restore-runc-done; do
	prep_rootfs
	crash_create "$step" "$step"
	[ "$step" = restore-validated ] || check "$step: the journal of the applied files is left" journal_left
	next_falls_back_clean "$step"
	next_restores "$step"
	drop_bundle "$BR"
done

# Every step of applying the files and of undoing them after a failed
# restore: kill at the N-th step until the create gets through.
prep_rootfs
apply_steps=0 undo_steps=0
for n in $(seq 1 300); do
	mark_log
	killed TARDIS_CRIU=/bin/false TARDIS_TEST_CRASH_AT="filediff-step:$n" \
		"$SHIM" --root "$RROOT" create --bundle "$BR" --pid-file "$BR/init.pid" cr
	rc=$RC
	if [ "$rc" = 0 ]; then
		check "filediff sweep: step $n is past the end: created fresh" [ "$(status_of cr)" = created ]
		rdelete cr
		check "filediff sweep: after it the rootfs is as before" [ "$(listing "$BR/rootfs")" = "$BEFORE" ]
		break
	fi
	if [ "$rc" != 137 ] || ! in_log "test crash point \`filediff-step\`"; then
		fail "filediff sweep: step $n: status $rc, no crash point"
		break
	fi
	if in_log "run: .* restore "; then
		undo_steps=$((undo_steps + 1)) # killed while undoing
	else
		apply_steps=$((apply_steps + 1))
	fi
	rdelete cr
	# The next create rolls back what the killed one left.
	env TARDIS_CRIU=/bin/false "$SHIM" --root "$RROOT" create --bundle "$BR" \
		--pid-file "$BR/init.pid" cr </dev/null >/dev/null 2>&1
	rc=$?
	rdelete cr
	if [ "$rc" != 0 ] || [ "$(listing "$BR/rootfs")" != "$BEFORE" ] || journal_left; then
		fail "filediff sweep: killed at step $n, the next create (status $rc) leaves the rootfs changed"
		diff <(echo "$BEFORE") <(listing "$BR/rootfs") | head -20
		break
	fi
done
check "filediff sweep: every kill undone by the next create ($apply_steps apply steps, $undo_steps undo steps)" \
	[ "$apply_steps" -ge 10 -a "$undo_steps" -ge 10 ]
next_restores "after the sweep"
drop_bundle "$BR"

# A rollback of a leftover journal, killed again and again.
prep_rootfs
half=$((apply_steps / 2))
crash_create "half applied" "filediff-step:$half"
check "half applied: a journal is left" journal_left
lines=$(wc -l <"$TARDIS_STATE_DIR/restore/$NS/cr/journal" 2>/dev/null || echo 0)
# Each journal record is at least one step of the rollback: k <= lines
# kills it while it undoes the leftover records.
for k in 1 $(((lines + 1) / 2)) "$lines"; do
	crash_create "leftover rollback, step $k" "filediff-step:$k" TARDIS_CRIU=/bin/false
	check "leftover rollback, step $k: killed before any new apply" not in_log "run: .* restore "
	check "leftover rollback, step $k: the journal is kept" journal_left
done
next_falls_back_clean "rollback killed 3 times"
next_restores "rollback killed 3 times"
drop_bundle "$BR"

# A kill while undoing after a failed restore (runc restore ran), then a
# working create.
prep_rootfs
crash_create "undo after a failed restore" "filediff-step:$((apply_steps + 2))" TARDIS_CRIU=/bin/false
check "undo after a failed restore: killed after runc restore" in_log "run: .* restore "
next_restores "undo after a failed restore"
drop_bundle "$BR"

# A restore that succeeded, killed while it drops its journal and backups
# (after the first backup is removed): the next create must find all the
# applied files undone (the journal was whole) or none (it was gone), never
# a mix.
prep_rootfs
mark_log
killed LD_PRELOAD="$TMP/hooks.so" TEST_KILL_AFTER_BACKUP_UNLINK=1 \
	"$SHIM" --root "$RROOT" create --bundle "$BR" --pid-file "$BR/init.pid" cr
check "killed dropping the journal: killed ($RC)" [ "$RC" = 137 ]
check "killed dropping the journal: after runc restore succeeded" in_log "run: .* restore "
rdelete cr
killed TARDIS_CRIU=/bin/false "$SHIM" --root "$RROOT" create --bundle "$BR" --pid-file "$BR/init.pid" cr
check "killed dropping the journal: next create (restore fails) exits 0 ($RC)" [ "$RC" = 0 ]
rdelete cr
all_or_nothing() {
	[ "$(listing "$BR/rootfs")" = "$BEFORE" ] && return 0
	image_files_there && [ -e "$BR/rootfs/marker" ] &&
		[ "$(cat "$BR/rootfs/data/count")" != preexisting ]
}
check "killed dropping the journal: all applied files undone, or none" all_or_nothing
all_or_nothing || diff <(echo "$BEFORE") <(listing "$BR/rootfs") | head -20
next_restores "killed dropping the journal"
drop_bundle "$BR"

summary
