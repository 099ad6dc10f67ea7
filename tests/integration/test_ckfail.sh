#!/bin/bash
# Failed checkpoints and restores are visible beyond the log, and the
# trigger's fate is what it asked for.  A container CRIU cannot dump (it
# holds an io_uring instance): the stop signal still stops it, delete
# --force still deletes it, containerd's checkpoint is passed to runc; CRIU
# missing is named; a corrupted image and a missing CRIU at create are
# failed restores.  Each shows in `tardisctl show` / `list` (--json: the
# objects) with its reason, stays after a later success, and is counted in
# tardisd's metrics (tardis_checkpoint_failures_total{trigger},
# tardis_restore_failures_total).
# shellcheck source=tests/lib/lib.sh
. "$(dirname "$0")/../lib/lib.sh"
# shellcheck source=tests/lib/bundle.sh
. "$ROOT/tests/lib/bundle.sh"

CTL=$BIN/tardisctl
M=$TARDIS_STATE_DIR/metrics.prom
shim_env ckf debug
check "tardisd starts" start_agent

# ---- the container CRIU cannot dump ------------------------------------
# Its init holds an io_uring instance and, as a server does, ends on
# SIGTERM (an init without a handler would ignore it).
cat >"$TMP/uring.c" <<'EOF'
#include <linux/io_uring.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static void on_term(int sig) { _exit(128 + sig); }

int main(void)
{
	struct io_uring_params p;

	memset(&p, 0, sizeof(p));
	signal(SIGTERM, on_term);
	if (syscall(__NR_io_uring_setup, 8, &p) < 0) {
		perror("io_uring_setup");
		return 1;
	}
	for (;;)
		pause();
}
EOF
check "the io_uring helper compiles (cc -static)" cc -static -O2 -o "$TMP/uring" "$TMP/uring.c"
lower_layer /uring
cp "$TMP/uring" "$LOWER/rootfs/uring"
ON_STOP='.process.env += ["TARDIS_CHECKPOINT_ON_STOP=1"]'
COUNTER=".process.args = [\"sh\", \"-c\", $(jq -n --arg v "$COUNTER_SH" '$v')]"

init_of() { cat "$TMP/$1/init.pid" 2>/dev/null; }
holds_uring() {
	local fd
	for fd in "/proc/$(init_of "$1")"/fd/*; do
		[ "$(readlink "$fd" 2>/dev/null)" = "anon_inode:[io_uring]" ] && return 0
	done
	return 1
}
stopped() { [ "$(status_of "$1")" = stopped ] || gone "$1"; }
# show_has ID ERE: `tardisctl show` of NS/ID matches
show_has() { "$CTL" show "$NS/$1" | grep -Eq -- "$2"; }
# list_marks ID ERE: the container's row of the `tardisctl list` table matches
list_marks() { "$CTL" list | grep -E "^$NS +$1 " | grep -Eq -- "$2"; }
# json_is ID JQ-EXPR: true for the container's object of `list --json`
json_is() {
	"$CTL" list --json | jq -e --arg id "$1" ".[] | select(.namespace == \"$NS\" and .id == \$id) | $2" >/dev/null
}
metric_is() { [ "$(awk -v n="$1" '$1 == n { print $2 }' "$M" 2>/dev/null)" = "$2" ]; }
uring_container() { # uring_container ID [FILTER]: created, started, holding its io_uring
	make_bundle "$TMP/$1" "${2:-.}"
	check "$1: create + start" create_start "$TMP/$1" "$1"
	check "$1: its init holds an io_uring instance" wait_for 10 holds_uring "$1"
}

# ---- the stop signal: the checkpoint fails, the container stops anyway --
uring_container u1 "$ON_STOP"
check "u1: kill TERM answered 0" shim kill u1 TERM
check "u1: stopped by the signal (passed to runc)" wait_for 10 stopped u1
check "u1: no image published" [ ! -e "$IMAGES/u1/manifest.json" ]
"$CTL" show "$NS/u1" | sed 's/^/# /'
check "u1: show counts the failed checkpoint" show_has u1 '^  failed checkpoints 1; last .* by kill: '
check "u1: show gives CRIU's error line" show_has u1 'failed checkpoints .*Error \('
# CRIU does not name the io_uring: the kernel refuses to pass its fd over a
# UNIX socket, so the parasite's first error is "send_fds failed (-22)".
show_has u1 'failed checkpoints .*(io_uring|send_fds)' || echo "# u1: an unexpected first CRIU error"
check "u1: show has no failed restore" show_has u1 '^  failed restores    0$'
check "u1: list --json has the failure object" \
	json_is u1 '.checkpoint_failures == 1 and .last_checkpoint_failure.trigger == "kill" and (.last_checkpoint_failure.reason | test("^Error \\(")) and (.last_checkpoint_failure.at | length > 0)'
check "u1: list --json: no restore failure" json_is u1 '.restore_failures == 0 and .last_restore_failure == null'
check "u1: the list table marks it" list_marks u1 'checkpoint by kill, .*: Error'
check "u1: the log has the same reason" grep -q "$NS/u1: checkpoint (stop signal) failed" "$LOG"

# ---- delete --force: the checkpoint fails, the container is deleted ----
uring_container u2
check "u2: delete --force answered 0" shim delete --force u2
check "u2: deleted anyway" gone u2
check "u2: show: failed checkpoint by delete" show_has u2 '^  failed checkpoints 1; last .* by delete: Error \('
check "u2: list --json: trigger delete" json_is u2 '.last_checkpoint_failure.trigger == "delete"'

# ---- containerd's checkpoint: tardis's fails, runc gets the original ----
uring_container u4
check "u4: checkpoint fails (runc's own attempt too)" \
	not shim checkpoint --image-path "$TMP/u4-img" --work-path "$TMP/u4-work" u4
check "u4: still running" [ "$(status_of u4)" = running ]
check "u4: show: failed checkpoint by checkpoint" show_has u4 'by checkpoint: Error \('
rdelete u4

# ---- CRIU missing: named, and the stop signal still stops ---------------
uring_container u3 "$ON_STOP"
check "u3: kill TERM with no CRIU answered 0" \
	env TARDIS_CRIU=/nonexistent/criu "$SHIM" --root "$RROOT" kill u3 TERM
check "u3: stopped" wait_for 10 stopped u3
check "u3: show says CRIU is missing" \
	show_has u3 'failed checkpoints 1; last .* by kill: CRIU not found: /nonexistent/criu: No such file'

# ---- runc fails before CRIU writes a log: runc's own error is the reason --
# A CRIU that is no CRIU (runc 1.3 built with runc_nocriu fails the same
# way, before any dump.log, with its own message).
printf '#!/bin/sh\necho "not criu" >&2\nexit 1\n' >"$TMP/notcriu"
chmod +x "$TMP/notcriu"
uring_container u6 "$ON_STOP"
check "u6: kill TERM with a broken CRIU answered 0" \
	env TARDIS_CRIU="$TMP/notcriu" "$SHIM" --root "$RROOT" kill u6 TERM 2>"$TMP/u6.err"
check "u6: stopped" wait_for 10 stopped u6
check "u6: show gives runc's own error, not 'exit status 1'" \
	show_has u6 'failed checkpoints 1; last .* by kill: runc checkpoint: .*[A-Za-z]'
check "u6: ...and runc's output still reached the caller" [ -s "$TMP/u6.err" ]
"$CTL" show "$NS/u6" | grep "failed checkpoints" | sed 's/^/  | /'

# ---- history stays after a success --------------------------------------
# A counter whose init (a shell) ignores SIGTERM: the kill passed through
# leaves it running; then a checkpoint that works.
make_bundle "$TMP/c2" "$ON_STOP | $COUNTER"
check "c2: create + start" create_start "$TMP/c2" c2
check "c2: counting" wait_for 20 count_at_least "$TMP/c2" 3
check "c2: kill with no CRIU answered 0" \
	env TARDIS_CRIU=/nonexistent/criu "$SHIM" --root "$RROOT" kill c2 TERM
check "c2: its shell ignored SIGTERM: still running" [ "$(status_of c2)" = running ]
check "c2: kill TERM with CRIU: checkpointed" shim kill c2 TERM
check "c2: an image was published" [ -s "$IMAGES/c2/manifest.json" ]
check "c2: the container is gone" wait_for 10 stopped c2
check "c2: show: one checkpoint" show_has c2 '^  checkpoints +1; last .* by stop signal'
check "c2: show: and, still, the failed one" show_has c2 '^  failed checkpoints 1; .*CRIU not found'
check "c2: list --json: last_checkpoint and last_checkpoint_failure both there" \
	json_is c2 '.checkpoints == 1 and .last_checkpoint != null and .checkpoint_failures == 1'
rdelete c2
cp -a "$IMAGES/c2" "$TMP/good-image"
drop_bundle "$TMP/c2"

# ---- failed restores ------------------------------------------------------
image_for() { # image_for ID: the good image, as ID's
	rm -rf "${IMAGES:?}/$1"
	cp -a "$TMP/good-image" "$IMAGES/$1"
	jq --arg id "$1" '.id = $id' "$TMP/good-image/manifest.json" >"$IMAGES/$1/manifest.json"
}
image_for r1
truncate -s 100 "$IMAGES/r1/pages-1.img"
make_bundle "$TMP/r1" "$COUNTER"
check "r1 (corrupted image): create falls back to a fresh start" create_start "$TMP/r1" r1
check "r1: show names the failed restore" show_has r1 '^  failed restores    1; last .*: files: pages-1.img: size'
check "r1: list --json has it" \
	json_is r1 '.restore_failures == 1 and (.last_restore_failure.reason | test("pages-1.img"))'
check "r1: the list table marks it" list_marks r1 'restore, .*pages-1.img'
rdelete r1
image_for r2
make_bundle "$TMP/r2" "$COUNTER"
check "r2 (no CRIU): create falls back to a fresh start" \
	env TARDIS_CRIU=/nonexistent/criu "$SHIM" --root "$RROOT" create --bundle "$TMP/r2" --pid-file "$TMP/r2/init.pid" r2
check "r2: the rootfs files were not applied" [ ! -e "$TMP/r2/rootfs/data/count" ]
check "r2: show says CRIU is missing" show_has r2 '^  failed restores    1; last .*: CRIU not found: /nonexistent/criu'
rdelete r2

# ---- metrics ----------------------------------------------------------------
# tardisd writes at most once a second: each figure is waited for.
check "metrics: kill failures 4 (u1, u3, u6, c2)" \
	wait_for 5 metric_is 'tardis_checkpoint_failures_total{trigger="kill"}' 4
check "metrics: delete failures 1" wait_for 5 metric_is 'tardis_checkpoint_failures_total{trigger="delete"}' 1
check "metrics: checkpoint failures 1" wait_for 5 metric_is 'tardis_checkpoint_failures_total{trigger="checkpoint"}' 1
check "metrics: restore failures 2" wait_for 5 metric_is tardis_restore_failures_total 2
check "metrics pass the strict checker" awk -f "$ROOT/tests/lib/prom_check.awk" "$M"
grep -E '^tardis_(checkpoint|restore)_failures_total' "$M" | sed 's/^/# /'
# A checkpoint failure with no exit to follow (u4's kind) reaches the file
# too: tardisd watches the counts.
uring_container u5
shim checkpoint --image-path "$TMP/u5-img" --work-path "$TMP/u5-work" u5 >/dev/null 2>&1
check "metrics: follow a failure with no exit (checkpoint 2)" \
	wait_for 5 metric_is 'tardis_checkpoint_failures_total{trigger="checkpoint"}' 2
rdelete u5

summary
