#!/bin/bash
# `make bench`, big containers: tardis-runc's checkpoint (delete --force)
# and restore (create + start) against raw `runc checkpoint` / `runc
# restore` of the same kind of container, in one run.  Figures and ratios
# only: no thresholds, no pass/fail.
#
#   mem     a process with BENCH_BIG_MEM_MIB (1024) MiB of touched anonymous
#           memory (256 if the host has not that much to spare, see below)
#   files   one that wrote BENCH_BIG_FILES (10000) small files
#   sparse  one that wrote a 1 GiB sparse file (a few 4 KiB blocks of data)
# Each container's init is a small static C program (compiled here) that
# does the above, then writes a counter to /data/count every 50 ms and
# checks its memory.  The tardis side restores onto a fresh overlay rootfs
# (a new snapshot, as a recreated pod's container gets: its files come from
# the image); the runc side restores onto its own rootfs (runc keeps no
# files).  tardis's own time is as in bench_shim.sh: its total minus its
# runc + CRIU phase minus what runc itself spends after CRIU (the direct
# side's median); its ratio here is own / runc's total.
#
# Knobs: BENCH_BIG_ROUNDS (3, medians), BENCH_BIG_CASES ("mem files
# sparse"), BENCH_BIG_MEM_MIB, BENCH_BIG_FILES, BENCH_BIG_SHIM (another
# tardis-runc, e.g. an older build, to compare).
set -u
# shellcheck source=tests/lib/lib.sh
. "$(dirname "$0")/../lib/lib.sh"
# shellcheck source=tests/lib/bundle.sh
. "$ROOT/tests/lib/bundle.sh"
# shellcheck source=tests/bench/bench_lib.sh
. "$ROOT/tests/bench/bench_lib.sh"
trap 'exit 130' INT TERM

ROUNDS=${BENCH_BIG_ROUNDS:-3}
CASES=${BENCH_BIG_CASES:-mem files sparse}
N_FILES=${BENCH_BIG_FILES:-10000}
T0=$SECONDS
[ "$(id -u)" -eq 0 ] || { echo "bench_big: must run as root" >&2; exit 1; }
RUNC=$(command -v runc) || { echo "bench_big: runc not installed" >&2; exit 1; }
shim_env bigct debug 2>/dev/null
SHIM=${BENCH_BIG_SHIM:-$SHIM}
[ -x "$SHIM" ] || { echo "bench_big: build first (make)" >&2; exit 1; }

# Two containers of the mem case run at once, each image is as large again
# (page cache): 1 GiB when 6 GiB are available, else 256 MiB.
AVAIL=$(awk '/^MemAvailable:/ { print int($2 / 1024) }' /proc/meminfo)
MEM_MIB=${BENCH_BIG_MEM_MIB:-$([ "$AVAIL" -ge 6144 ] && echo 1024 || echo 256)}
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
echo "# tardis big-container bench: kernel $(uname -r), $(nproc) CPUs, load $LOAD0, $(date -u +%FT%TZ)"
echo "# $($RUNC --version | head -1), CRIU $("$CRIU" --version | sed -n 's/^Version: //p'); $SHIM"
echo "# memory available ${AVAIL} MiB: mem case ${MEM_MIB} MiB; $N_FILES files; sparse 1 GiB"

# ---- the containers' init ------------------------------------------------
cat >"$TMP/bigct.c" <<'C'
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
static uint64_t *mem;
static size_t words;
static void put(const char *path, const char *s)
{
	int fd = open("/data/.tmp", O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, s, strlen(s)) < 0 || close(fd) < 0 || rename("/data/.tmp", path) < 0)
		exit(2);
}
static uint64_t pat(size_t i) { return i * 0x9e3779b97f4a7c15ull; }
static int write_files(long n)
{
	char buf[64];
	mkdir("/data/f", 0755);
	for (long i = 0; i < n; i++) {
		snprintf(buf, sizeof(buf), "/data/f/%ld", i);
		int fd = open(buf, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0 || dprintf(fd, "file %ld of a container that wrote many\n", i) < 0 || close(fd) < 0)
			return 1;
	}
	return 0;
}
static int read_files(void)
{
	char buf[4096];
	DIR *d = opendir("/data/f");
	struct dirent *de;
	while (d && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		int fd = openat(dirfd(d), de->d_name, O_RDONLY);
		if (fd >= 0 && read(fd, buf, sizeof(buf)) < 0)
			return 1;
		if (fd >= 0)
			close(fd);
	}
	return d ? 0 : 1;
}
int main(int argc, char **argv)
{
	char buf[64];
	/* The floor of the files case: the same files written, or read
	 * back, by a plain process, then exit. */
	if (argc > 2 && !strcmp(argv[1], "files-only"))
		return write_files(atol(argv[2]));
	if (argc > 1 && !strcmp(argv[1], "read-files"))
		return read_files();
	if (argc > 2 && !strcmp(argv[1], "mem")) {
		words = (size_t)atol(argv[2]) << 17; /* MiB of 8-byte words */
		mem = mmap(NULL, words * 8, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (mem == MAP_FAILED)
			return 1;
		for (size_t i = 0; i < words; i++)
			mem[i] = pat(i);
	} else if (argc > 2 && !strcmp(argv[1], "files")) {
		if (write_files(atol(argv[2])))
			return 1;
	} else if (argc > 2 && !strcmp(argv[1], "sparse")) {
		off_t size = (off_t)atol(argv[2]) << 20;
		int fd = open("/data/sparse", O_WRONLY | O_CREAT | O_TRUNC, 0644);
		memset(buf, 's', sizeof(buf));
		if (fd < 0 || ftruncate(fd, size) < 0)
			return 1;
		for (int k = 0; k < 4; k++)
			if (pwrite(fd, buf, sizeof(buf), k * (size / 4) + 4096 * k) < 0)
				return 1;
		close(fd);
	}
	for (unsigned long n = 1;; n++) {
		for (size_t i = 0; i < words; i += words / 64 + 1)
			if (mem[i] != pat(i))
				put("/data/bad", "memory changed\n");
		snprintf(buf, sizeof(buf), "%lu\n", n);
		put("/data/count", buf);
		nanosleep(&(struct timespec){ 0, 50 * 1000 * 1000 }, NULL);
	}
}
C
${CC:-cc} -static -O2 -o "$TMP/bigct" "$TMP/bigct.c" ||
	{ echo "bench_big: cannot build the containers' init (static libc?)" >&2; exit 1; }
lower_layer sleep 1
cp "$TMP/bigct" "$LOWER/rootfs/bigct"

# ---- helpers -----------------------------------------------------------
count_in() { # the counter; 0 before the first
	local v
	v=$(cat "$1/rootfs/data/count" 2>/dev/null)
	[[ $v =~ ^[0-9]+$ ]] && echo "$v" || echo 0
}
count_above() { [ "$(count_in "$1")" -gt "$2" ]; }
FAILS=0
oops() { FAILS=$((FAILS + 1)); echo "  $CASE round $ROUND: $*"; }
note() { echo "$2" >>"$TMP/r/$CASE.$1"; }
med() { [ -s "$TMP/r/$CASE.$1" ] && median "$TMP/r/$CASE.$1" || echo "n/a"; }

BT=$TMP/bt # enabled: the tardis side
BR=$TMP/br # not enabled: the plain runc side
TWORK=$TARDIS_STATE_DIR/work/$NS/bt
DIMG=$TMP/direct/img
DWORK=$TMP/direct/work
ARGS_FILTER() { jq -nc --args '$ARGS.positional' /bigct "$@"; }
tardis_bundle() { make_bundle "$BT" ".process.args = $ARGS"; }
start_side() { # start_side ID BUNDLE
	"$SHIM" --root "$RROOT" create --bundle "$2" --pid-file "$2/init.pid" "$1" </dev/null >/dev/null 2>&1 &&
		"$SHIM" --root "$RROOT" start "$1" && wait_for 120 count_above "$2" 1
}

tardis_checkpoint() {
	local n t te lines b d c
	n=$(wc -l <"$TARDIS_LOG_FILE")
	t=$EPOCHREALTIME
	"$SHIM" --root "$RROOT" delete --force bt >/dev/null 2>&1 || oops "tardis delete --force failed"
	te=$EPOCHREALTIME
	lines=$(tail -n +"$((n + 1))" "$TARDIS_LOG_FILE")
	grep -q "checkpointed (delete --force)" <<<"$lines" || { oops "tardis: no checkpoint"; tail -5 <<<"$lines"; return 1; }
	b=$(log_ts 'run: .* checkpoint ' <<<"$lines")
	d=$(mtime "$TWORK/dump.log")
	c=$(log_ts 'checkpointed \(delete --force\)' <<<"$lines")
	note t.ckpt "$(ms_between "$t" "$te")"
	note t.ckpt.before "$(ms_between "$t" "$b")"
	note t.ckpt.dump "$(ms_between "$b" "$d")"
	note t.ckpt.publish "$(ms_between "$d" "$c")"
	note t.ckpt.after "$(ms_between "$c" "$te")"
	note t.size "$(bytes_of "$IMAGES/bt")"
	note t.size.files "$(bytes_of "$IMAGES/bt" \( -name files.tar -o -name deleted.list \))"
	echo "$lines" >"$TMP/$CASE.ckpt.log"
}
tardis_restore() {
	local n t te lines b r
	[ "$CASE" != files ] || set_aside "$BT"
	tardis_bundle # a fresh rootfs: the files come from the image
	[ "$CASE" != files ] || floor_create
	n=$(wc -l <"$TARDIS_LOG_FILE")
	t=$EPOCHREALTIME
	"$SHIM" --root "$RROOT" create --bundle "$BT" --pid-file "$BT/init.pid" bt </dev/null >/dev/null 2>&1 ||
		oops "tardis create failed"
	"$SHIM" --root "$RROOT" start bt || oops "tardis start failed"
	te=$EPOCHREALTIME
	lines=$(tail -n +"$((n + 1))" "$TARDIS_LOG_FILE")
	grep -q "create $NS/bt: restored" <<<"$lines" || { oops "tardis: not restored"; tail -5 <<<"$lines"; return 1; }
	b=$(log_ts 'run: .* restore ' <<<"$lines")
	r=$(mtime "$TWORK/restore.log")
	note t.rest "$(ms_between "$t" "$te")"
	note t.rest.before "$(ms_between "$t" "$b")"
	note t.rest.restore "$(ms_between "$b" "$r")"
	note t.rest.after "$(ms_between "$r" "$te")"
	echo "$lines" >"$TMP/$CASE.rest.log"
	wait_for 10 count_above "$BT" "$CKPT_COUNT_BT" || oops "tardis: the counter did not continue after $CKPT_COUNT_BT"
	[ ! -e "$BT/rootfs/data/bad" ] || oops "tardis: the restored process found its memory changed"
	[ "$CASE" != sparse ] || note t.sparse.kib "$(du -k "$BT.up/data/sparse" | cut -f1)"
	[ "$CASE" != files ] || note t.files.n "$(find "$BT.up/data/f" -type f | wc -l)"
	[ "$CASE" != files ] || floor_read
}
direct_checkpoint() {
	local t te d
	rm -rf "$DIMG" "$DWORK"
	mkdir -p "$DIMG" "$DWORK"
	t=$EPOCHREALTIME
	"$RUNC" --root "$RROOT" --criu "$CRIU" checkpoint --image-path "$DIMG" --work-path "$DWORK" \
		--file-locks br >/dev/null 2>&1 || { oops "runc checkpoint failed"; tail -3 "$DWORK/dump.log"; return 1; }
	te=$EPOCHREALTIME
	# What making runc's image durable adds (tardis's is, before it
	# answers): an fsync of each of its files.
	sync "$DIMG"/* || oops "sync of runc's image failed"
	note r.ckpt.durable "$(ms_between "$t" "$EPOCHREALTIME")"
	d=$(mtime "$DWORK/dump.log")
	note r.ckpt "$(ms_between "$t" "$te")"
	note r.ckpt.dump "$(ms_between "$t" "$d")"
	note r.ckpt.after "$(ms_between "$d" "$te")"
	note r.size "$(bytes_of "$DIMG")"
}
direct_restore() {
	local t te r
	t=$EPOCHREALTIME
	"$RUNC" --root "$RROOT" --criu "$CRIU" restore --detach --image-path "$DIMG" --work-path "$DWORK" \
		--file-locks --bundle "$BR" --pid-file "$BR/init.pid" br </dev/null >/dev/null 2>&1 ||
		{ oops "runc restore failed"; tail -3 "$DWORK/restore.log"; return 1; }
	te=$EPOCHREALTIME
	r=$(mtime "$DWORK/restore.log")
	note r.rest "$(ms_between "$t" "$te")"
	note r.rest.restore "$(ms_between "$t" "$r")"
	note r.rest.after "$(ms_between "$r" "$te")"
	wait_for 10 count_above "$BR" "$CKPT_COUNT_BR" || oops "runc: the counter did not continue after $CKPT_COUNT_BR"
}

# The floor of the files case, on this machine, now: a plain process (not
# a container: chroot) writes the same files into a fresh overlay rootfs,
# as a restore must create them, and reads them back, as a checkpoint
# must.  Old rootfs are set aside, not removed, until the bench ends:
# ext4 without a journal (this machine's) will not reuse an inode freed
# less than 60 s ago (300 s more while its inode table block is dirty),
# and each creation walks past every such inode of its group (the
# kernel's recently_deleted(), fs/ext4/ialloc.c).  Right after a removal
# of 30,000 files, creating 200 took 79-168 ms here instead of 4.5 ms
# (measured), which made whichever side or case came next slower: a
# figure of the disk's recent past, not of what is measured.
ASIDE=0
set_aside() { # set_aside BUNDLE: its rootfs unmounted, its upper dir kept aside
	umount "$1/rootfs" 2>/dev/null
	[ -d "$1.up" ] && mv "$1.up" "$TMP/aside.$((ASIDE += 1))"
	rm -rf "$1" "$1.work"
}
floor_create() {
	local t
	overlay_rootfs "$TMP/bf"
	t=$EPOCHREALTIME
	chroot "$TMP/bf/rootfs" /bigct files-only "$N_FILES" || oops "floor: files not written"
	note f.create "$(ms_between "$t" "$EPOCHREALTIME")"
}
floor_read() {
	local t
	sync -f "$TMP/bf/rootfs/data" # written back by then, as the container's were
	t=$EPOCHREALTIME
	chroot "$TMP/bf/rootfs" /bigct read-files || oops "floor: files not read"
	note f.read "$(ms_between "$t" "$EPOCHREALTIME")"
	set_aside "$TMP/bf"
}

# Where tardis's own time went in the last round: its log lines, ms after
# the first one.
timeline() {
	local t0
	t0=$(head -1 "$1" | cut -d' ' -f1)
	[ -n "$t0" ] || return 0
	while read -r ts rest; do
		printf '    %8.1f  %s\n' "$(ms_between "$(date -u -d "$t0" +%s.%6N)" "$(date -u -d "$ts" +%s.%6N)")" \
			"$(cut -c1-110 <<<"${rest#* }")"
	done <"$1"
}

declare -A SUMMARY
bench_case() { # bench_case NAME MODE ARG
	CASE=$1
	ARGS=$(ARGS_FILTER "$2" "$3")
	echo
	echo "## $CASE: /bigct $2 $3 ($ROUNDS rounds, interleaved)"
	# Each case on a settled disk: the one before leaves its gigabytes to
	# write back, and tardis's write-ahead waits (runc has none) would
	# stand behind them.
	sync
	tardis_bundle
	plain_bundle "$BR" ".process.args = $ARGS"
	{ start_side bt "$BT" && start_side br "$BR"; } ||
		{ echo "bench_big: $CASE: a container did not start" >&2; tail -5 "$TARDIS_LOG_FILE" >&2; return 1; }
	for ROUND in $(seq 1 "$ROUNDS"); do
		wait_for 10 count_above "$BT" "$(($(count_in "$BT") + 2))"
		wait_for 10 count_above "$BR" "$(($(count_in "$BR") + 2))"
		CKPT_COUNT_BT=$(count_in "$BT") CKPT_COUNT_BR=$(count_in "$BR")
		if [ $((ROUND % 2)) = 1 ]; then
			tardis_checkpoint && direct_checkpoint && tardis_restore && direct_restore
		else
			direct_checkpoint && tardis_checkpoint && direct_restore && tardis_restore
		fi || { echo "  $CASE round $ROUND failed; no more rounds"; break; }
		printf '  round %d: tardis checkpoint %7.1f ms, restore %7.1f ms | runc checkpoint %7.1f ms, restore %7.1f ms\n' \
			"$ROUND" "$(tail -1 "$TMP/r/$CASE.t.ckpt")" "$(tail -1 "$TMP/r/$CASE.t.rest")" \
			"$(tail -1 "$TMP/r/$CASE.r.ckpt")" "$(tail -1 "$TMP/r/$CASE.r.rest")"
	done
	"$SHIM" --root "$RROOT" delete --force bt >/dev/null 2>&1
	rdelete br
	# The case's upper dirs are set aside, not removed, until the bench's
	# end: removed here, the next case's creations would walk past them.
	set_aside "$BT"
	set_aside "$BR"
	rm -rf "${IMAGES:?}/bt" "$DIMG" "$DWORK"
	[ -s "$TMP/r/$CASE.t.ckpt" ] && [ -s "$TMP/r/$CASE.r.ckpt" ] && [ -s "$TMP/r/$CASE.t.rest" ] || return 1
	paste "$TMP/r/$CASE.t.ckpt" "$TMP/r/$CASE.t.ckpt.dump" |
		awk -v r="$(med r.ckpt.after)" '{ print $1 - $2 - r }' >"$TMP/r/$CASE.t.ckpt.own"
	paste "$TMP/r/$CASE.t.rest" "$TMP/r/$CASE.t.rest.restore" |
		awk -v r="$(med r.rest.after)" '{ print $1 - $2 - r }' >"$TMP/r/$CASE.t.rest.own"
	printf '%-50s %10s %10s %7s\n' "median over $(wc -l <"$TMP/r/$CASE.t.ckpt") rounds (ms)" tardis runc ratio
	for w in "checkpoint (tardis: delete --force):ckpt" "restore (tardis: create + start):rest"; do
		k=${w##*:}
		printf '%-50s %10s %10s %7s\n' "${w%:*}" "$(med "t.$k")" "$(med "r.$k")" "$(ratio "$(med "t.$k")" "$(med "r.$k")")"
		printf '%-50s %10s %10s %7s\n' "  runc + CRIU, up to CRIU's end" "$(med "t.$k.$([ "$k" = ckpt ] && echo dump || echo restore)")" \
			"$(med "r.$k.$([ "$k" = ckpt ] && echo dump || echo restore)")" ""
		printf '%-50s %10s %10s %7s\n' "  tardis's own time (own / runc total)" "$(med "t.$k.own")" "" \
			"$(ratio "$(med "t.$k.own")" "$(med "r.$k")")"
		SUMMARY[$CASE.$k]="$(med "t.$k") $(med "r.$k") $(med "t.$k.own")"
	done
	SUMMARY[$CASE.durable]=$(med r.ckpt.durable)
	printf '%-50s %10s %10s %7s\n' "runc checkpoint, then its image fsynced (durable)" "" "$(med r.ckpt.durable)" \
		"$(ratio "$(med t.ckpt)" "$(med r.ckpt.durable)")"
	printf '%-50s %10s %10s\n' "  tardis before runc (ckpt) / files + sums + fsync + publish" \
		"$(med t.ckpt.before)" "$(med t.ckpt.publish)"
	printf '%-50s %10s %10s\n' "  tardis before runc restore (validate, apply files)" "$(med t.rest.before)" ""
	printf '%-50s %10s %10s\n' "image size (bytes): tardis / runc" "$(med t.size)" "$(med r.size)"
	printf '%-50s %10s\n' "  of which container files (files.tar, deleted.list)" "$(med t.size.files)"
	[ "$CASE" != sparse ] || printf '%-50s %10s\n' "restored sparse file: KiB allocated (of 1 GiB)" "$(med t.sparse.kib)"
	[ "$CASE" != files ] || printf '%-50s %10s\n' "restored files in the fresh upper dir" "$(med t.files.n)"
	if [ "$CASE" = files ]; then
		printf '%-50s %10s %10s\n' "floor: a plain process creates / reads them" "$(med f.create)" "$(med f.read)"
		SUMMARY[files.floor]="$(med f.create) $(med f.read)"
	fi
	echo "  the last checkpoint, tardis's log (ms after its first line):"
	timeline "$TMP/$CASE.ckpt.log"
	echo "  the last restore, tardis's log:"
	timeline "$TMP/$CASE.rest.log"
}

mkdir -p "$TMP/r"
for c in $CASES; do
	case $c in
	mem) bench_case mem mem "$MEM_MIB" ;;
	files) bench_case files files "$N_FILES" ;;
	sparse) bench_case sparse sparse 1024 ;;
	*) echo "bench_big: unknown case $c" >&2 ;;
	esac
done

echo
echo "## summary, big containers (one run, $((SECONDS - T0)) s; load average $LOAD0 at start," \
	"$(cut -d' ' -f1-3 /proc/loadavg) at end)"
printf '%-34s %10s %10s %10s %9s\n' "median (ms)" tardis runc "own" "own/runc"
for c in $CASES; do
	for k in ckpt rest; do
		[ -n "${SUMMARY[$c.$k]:-}" ] || continue
		read -r t r o <<<"${SUMMARY[$c.$k]}"
		w=$([ "$k" = ckpt ] && echo checkpoint || echo restore)
		printf '%-34s %10s %10s %10s %9s\n' "$c ($([ "$c" = mem ] && echo "$MEM_MIB MiB"
			[ "$c" = files ] && echo "$N_FILES files"; [ "$c" = sparse ] && echo "1 GiB")): $w" \
			"$t" "$r" "$o" "$(ratio "$o" "$r")"
	done
done
echo "(own: all but runc + CRIU; goal: own <= 10% of runc's time; $FAILS problems in the rounds)"
if [ -n "${SUMMARY[files.floor]:-}" ]; then
	read -r fc fr <<<"${SUMMARY[files.floor]}"
	echo "(files: the floor here, a plain process creating the $N_FILES files through an overlay: $fc ms," \
		"reading them back: $fr ms)"
	echo "BENCH big_files_create_floor $fc ms"
	echo "BENCH big_files_read_floor $fr ms"
fi
for c in $CASES; do
	for k in ckpt rest; do
		[ -n "${SUMMARY[$c.$k]:-}" ] || continue
		read -r t r o <<<"${SUMMARY[$c.$k]}"
		echo "BENCH big_${c}_${k}_tardis $t ms ratio $(ratio "$t" "$r")"
		echo "BENCH big_${c}_${k}_runc $r ms"
		echo "BENCH big_${c}_${k}_own $o ms ratio $(ratio "$o" "$r")"
	done
	[ -z "${SUMMARY[$c.durable]:-}" ] || echo "BENCH big_${c}_ckpt_runc_durable ${SUMMARY[$c.durable]} ms"
done
rm -rf "$TMP"/aside.*
exit 0
