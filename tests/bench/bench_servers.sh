#!/bin/bash
# `make bench`, containers that serve (issue #17): checkpoint and restore of a
# server container, tardis-runc against the runc it stands in for, in one
# run.  Figures and ratios only: no thresholds, no pass/fail.
#
# The container runs in a network namespace runc makes ({"type":"network"}
# without a path): busybox httpd (TCP, port 8080), syslogd on /dev/log (a
# UNIX datagram server) and an in-memory counter, on an overlay rootfs.
# Same runc, same CRIU (`runc --criu`):
#   tardis: `tardis-runc delete --force` of the running enabled container
#           (checkpoint with --tcp-established --file-locks), then
#           `tardis-runc create` (restore, with its CRIU config: tcp-close,
#           lo brought up at setup-namespaces) + `tardis-runc start`;
#   runc:   `runc checkpoint --tcp-established --file-locks`, then
#           `runc restore --detach --tcp-established --file-locks`.
# Rounds interleaved (the side that goes first alternates), one warm-up
# round not counted; medians and ratios tardis/runc.
#
# After each round's restores, and not timed: the counter went on, HTTP
# answers from inside (runc exec wget 127.0.0.1), syslogd receives a logger
# line.  A round where one of these fails prints an error line and its
# figures are not counted.  runc's restore leaves lo DOWN in a runc-made
# netns (docs/servers.md, section 2): the bench says so and brings lo up
# (nsenter, not timed) before its checks of the runc side.
#
# Knobs: BENCH_SERVERS_ROUNDS (7).
set -u
# shellcheck source=tests/lib/lib.sh
. "$(dirname "$0")/../lib/lib.sh"
# shellcheck source=tests/lib/bundle.sh
. "$ROOT/tests/lib/bundle.sh"
# shellcheck source=tests/bench/bench_lib.sh
. "$ROOT/tests/bench/bench_lib.sh"
trap 'exit 130' INT TERM

ROUNDS=${BENCH_SERVERS_ROUNDS:-7}
T0=$SECONDS
[ "$(id -u)" -eq 0 ] || { echo "bench_servers: must run as root" >&2; exit 1; }
[ -x "$BIN/tardis-runc" ] || { echo "bench_servers: build first (make)" >&2; exit 1; }
RUNC=$(command -v runc) || { echo "bench_servers: runc not installed" >&2; exit 1; }
shim_env bsrv debug 2>/dev/null

echo
echo "# tardis-runc server bench: kernel $(uname -r), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ)"

# ---- two server containers on overlay rootfs, each in a netns runc makes --
SERVER='mkdir -p /www; echo "hello from $(hostname)" > /www/index.html
httpd -p 8080 -h /www
syslogd -n -O /data/syslog &
i=0; while :; do i=$((i + 1)); echo $i > /data/.count; mv /data/.count /data/count; sleep 0.1; done'
lower_layer sh -c "$SERVER"
for a in httpd wget syslogd logger mkdir hostname ip grep timeout; do
	ln -sf busybox "$LOWER/rootfs/bin/$a"
done
mkdir -p "$LOWER/rootfs/www"
jq -e '.linux.namespaces | map(select(.type == "network" and .path == null)) | length == 1' \
	"$LOWER/config.json" >/dev/null || { echo "bench_servers: runc spec made no network namespace" >&2; exit 1; }

count_in() { # the counter; 0 while there is none
	local v
	v=$(cat "$1/rootfs/data/count" 2>/dev/null)
	[[ $v =~ ^[0-9]+$ ]] && echo "$v" || echo 0
}
count_above() { [ "$(count_in "$1")" -gt "$2" ]; }
in_ct() { timeout 20 "$RUNC" --root "$RROOT" exec "$@" </dev/null 2>/dev/null; }
# No busybox timeout inside (in_ct's guards it): its watchdog child would
# outlive the check in the host's time namespace and spoil the next image
# (runc 1.1; README, "Not done"); this busybox's wget -T crashes.
http_in() { in_ct "$1" wget -qO- "http://127.0.0.1:8080/" | grep -q "hello from"; }
lo_up() { in_ct "$1" ip link show lo | grep -q "<LOOPBACK,UP"; }
ready() { count_above "$2" 5 && [ -e "$2/rootfs/data/syslog" ] && http_in "$1"; }

ST=$TMP/st # enabled: the tardis side
SR=$TMP/sr # not enabled: the plain runc side
make_bundle "$ST"
plain_bundle "$SR"
for x in "st $ST" "sr $SR"; do
	set -- $x
	"$SHIM" --root "$RROOT" create --bundle "$2" --pid-file "$2/init.pid" "$1" </dev/null >/dev/null 2>&1 &&
		"$SHIM" --root "$RROOT" start "$1" &&
		wait_for 20 ready "$1" "$2" ||
		{ echo "bench_servers: server $1 did not start" >&2; tail -5 "$TARDIS_LOG_FILE" >&2; exit 1; }
done
[ -d "$TARDIS_STATE_DIR/containers/$NS/st" ] && [ ! -d "$TARDIS_STATE_DIR/containers/$NS/sr" ] ||
	{ echo "bench_servers: st should be managed by tardis, sr not" >&2; exit 1; }

# ---- the rounds ----------------------------------------------------------
DIMG=$TMP/direct/img
DWORK=$TMP/direct/work
TWORK=$TARDIS_STATE_DIR/work/$NS/st
mkdir -p "$TMP/r" "$TMP/round"
# A round's figures go to $TMP/round/<name>, and to $TMP/r/<name> (one
# number a line) once the round's restores have been checked.
note() { echo "$2" >"$TMP/round/$1"; }
FAILS=0 LO_DOWN=0 COUNTED=0
oops() { FAILS=$((FAILS + 1)); BAD=1; echo "  round $ROUND: error: $*"; }

# The runc + CRIU part of each side's time: from the tardis log line that
# runs runc (the direct side: from its start) to the mtime of CRIU's log
# (written as CRIU ends).
tardis_checkpoint() {
	local n t te b
	n=$(wc -l <"$TARDIS_LOG_FILE")
	t=$EPOCHREALTIME
	"$SHIM" --root "$RROOT" delete --force st >/dev/null 2>&1 || oops "tardis delete --force failed"
	te=$EPOCHREALTIME
	tail -n +"$((n + 1))" "$TARDIS_LOG_FILE" | grep -q "checkpointed (delete --force)" ||
		{ oops "tardis: no checkpoint"; tail -n +"$((n + 1))" "$TARDIS_LOG_FILE" | tail -5; return 1; }
	[ -z "$(status_of st)" ] || oops "tardis: st still exists after delete --force"
	b=$(tail -n +"$((n + 1))" "$TARDIS_LOG_FILE" | log_ts 'run: .* checkpoint ')
	note t.ckpt "$(ms_between "$t" "$te")"
	note t.ckpt.run "$(ms_between "$b" "$(mtime "$TWORK/dump.log")")"
	note t.ckpt.criu "$(criu_ms "$IMAGES/st/dump.log")"
	note t.size "$(bytes_of "$IMAGES/st")"
}
tardis_restore() {
	local n t te b
	n=$(wc -l <"$TARDIS_LOG_FILE")
	t=$EPOCHREALTIME
	"$SHIM" --root "$RROOT" create --bundle "$ST" --pid-file "$ST/init.pid" st </dev/null >/dev/null 2>&1 ||
		oops "tardis create failed"
	"$SHIM" --root "$RROOT" start st || oops "tardis start failed"
	te=$EPOCHREALTIME
	tail -n +"$((n + 1))" "$TARDIS_LOG_FILE" | grep -q "create $NS/st: restored" ||
		{ oops "tardis: not restored"; tail -n +"$((n + 1))" "$TARDIS_LOG_FILE" | tail -5; return 1; }
	b=$(tail -n +"$((n + 1))" "$TARDIS_LOG_FILE" | log_ts 'run: .* restore ')
	note t.rest "$(ms_between "$t" "$te")"
	note t.rest.run "$(ms_between "$b" "$(mtime "$TWORK/restore.log")")"
	note t.rest.criu "$(criu_ms "$TWORK/restore.log")"
}
direct_checkpoint() {
	local t te
	rm -rf "$DIMG" "$DWORK"
	mkdir -p "$DIMG" "$DWORK"
	t=$EPOCHREALTIME
	"$RUNC" --root "$RROOT" --criu "$CRIU" checkpoint --image-path "$DIMG" --work-path "$DWORK" \
		--tcp-established --file-locks sr >/dev/null 2>&1 ||
		{ oops "runc checkpoint failed"; tail -3 "$DWORK/dump.log"; return 1; }
	te=$EPOCHREALTIME
	[ -z "$(status_of sr)" ] || oops "runc: sr still exists after checkpoint"
	note r.ckpt "$(ms_between "$t" "$te")"
	note r.ckpt.run "$(ms_between "$t" "$(mtime "$DWORK/dump.log")")"
	note r.ckpt.after "$(ms_between "$(mtime "$DWORK/dump.log")" "$te")"
	note r.ckpt.criu "$(criu_ms "$DWORK/dump.log")"
	note r.size "$(bytes_of "$DIMG")"
}
direct_restore() {
	local t te
	t=$EPOCHREALTIME
	"$RUNC" --root "$RROOT" --criu "$CRIU" restore --detach --image-path "$DIMG" --work-path "$DWORK" \
		--tcp-established --file-locks --bundle "$SR" --pid-file "$SR/init.pid" sr </dev/null >/dev/null 2>&1 ||
		{ oops "runc restore failed"; tail -3 "$DWORK/restore.log"; return 1; }
	te=$EPOCHREALTIME
	note r.rest "$(ms_between "$t" "$te")"
	note r.rest.run "$(ms_between "$t" "$(mtime "$DWORK/restore.log")")"
	note r.rest.after "$(ms_between "$(mtime "$DWORK/restore.log")" "$te")"
	note r.rest.criu "$(criu_ms "$DWORK/restore.log")"
}

# verify SIDE ID BUNDLE COUNT: after the restore, not timed.
verify() {
	local side=$1 id=$2 b=$3 c=$4 msg="restored-$ROUND-$1"
	[ "$(status_of "$id")" = running ] || { oops "$side: $id is not running after the restore"; return 1; }
	wait_for 5 count_above "$b" "$c" || oops "$side: the counter did not continue after $c (at $(count_in "$b"))"
	if ! lo_up "$id"; then
		if [ "$side" = runc ]; then
			LO_DOWN=$((LO_DOWN + 1))
			nsenter -t "$(cat "$b/init.pid")" -n ip link set lo up || oops "runc: cannot bring lo up"
		else
			oops "$side: lo is DOWN in the restored netns"
		fi
	fi
	http_in "$id" || oops "$side: httpd does not answer HTTP from inside (127.0.0.1:8080)"
	in_ct "$id" logger "$msg"
	wait_for 5 grep -q "$msg" "$b/rootfs/data/syslog" || oops "$side: syslogd (UNIX datagram /dev/log) did not receive"
}

bench_round() {
	local cst csr f
	# Each server has run a while, its counter moving, before each dump.
	wait_for 5 count_above "$ST" "$(($(count_in "$ST") + 2))"
	wait_for 5 count_above "$SR" "$(($(count_in "$SR") + 2))"
	cst=$(count_in "$ST") csr=$(count_in "$SR")
	rm -f "$TMP/round/"*
	BAD=0
	if [ $((ROUND % 2)) = 0 ]; then
		tardis_checkpoint && direct_checkpoint && tardis_restore && direct_restore
	else
		direct_checkpoint && tardis_checkpoint && direct_restore && tardis_restore
	fi || return 1
	verify tardis st "$ST" "$cst"
	verify runc sr "$SR" "$csr"
	[ "$BAD" = 0 ] || { echo "  round $ROUND: not counted"; return 0; }
	[ "$ROUND" -gt 0 ] || return 0
	for f in "$TMP/round/"*; do
		cat "$f" >>"$TMP/r/${f##*/}"
	done
	COUNTED=$((COUNTED + 1))
	printf '  round %d: tardis checkpoint %6.1f ms, restore %6.1f ms | runc checkpoint %6.1f ms, restore %6.1f ms\n' \
		"$ROUND" "$(cat "$TMP/round/t.ckpt")" "$(cat "$TMP/round/t.rest")" \
		"$(cat "$TMP/round/r.ckpt")" "$(cat "$TMP/round/r.rest")"
}

med() { [ -s "$TMP/r/$1" ] && median "$TMP/r/$1" || echo "n/a"; }
row() { # row LABEL TARDIS-NAME RUNC-NAME: medians side by side, and the ratio
	local a=n/a b=n/a
	[ "$2" = - ] || a=$(med "$2")
	[ "$3" = - ] || b=$(med "$3")
	printf '%-58s %9s %9s %7s\n' "$1" "$a" "$b" "$([ "$2" = - ] || [ "$3" = - ] || ratio "$a" "$b")"
}
# minus A B OUT: OUT = A - B, line by line
minus() { paste "$TMP/r/$1" "$TMP/r/$2" | awk '{ print $1 - $2 }' >"$TMP/r/$3"; }
# own X: tardis's own time per round, all but runc + CRIU: its total less its
# runc + CRIU part less what runc spends after CRIU (the direct side's median).
own() {
	paste "$TMP/r/t.$1" "$TMP/r/t.$1.run" | awk -v r="$(med "r.$1.after")" '{ print $1 - $2 - r }' >"$TMP/r/t.$1.own"
}
# own_ratio X: the ratio if CRIU took the same time on both sides.
own_ratio() { awk -v o="$(med "t.$1.own")" -v r="$(med "r.$1")" 'BEGIN { printf "%.2f", (r + o) / r }'; }

echo
echo "## 3. server container (httpd, syslogd, counter; netns made by runc): checkpoint + restore," \
	"tardis-runc vs runc direct ($ROUNDS rounds + 1 warm-up, interleaved)"
for ROUND in $(seq 0 "$ROUNDS"); do
	bench_round || { echo "bench_servers: round $ROUND failed; no more rounds"; break; }
done
if [ "$COUNTED" -gt 0 ]; then
	minus t.ckpt t.ckpt.criu t.ckpt.rest
	minus r.ckpt r.ckpt.criu r.ckpt.rest
	minus t.rest t.rest.criu t.rest.rest
	minus r.rest r.rest.criu r.rest.rest
	own ckpt
	own rest
	paste "$TMP/r/t.ckpt" "$TMP/r/t.rest" | awk '{ print $1 + $2 }' >"$TMP/r/t.both"
	paste "$TMP/r/r.ckpt" "$TMP/r/r.rest" | awk '{ print $1 + $2 }' >"$TMP/r/r.both"
	echo
	printf '%-58s %9s %9s %7s\n' "median over $COUNTED checked rounds (ms)" tardis runc ratio
	row "server checkpoint (tardis: delete --force)" t.ckpt r.ckpt
	row "  of which CRIU's dump (dump.log)" t.ckpt.criu r.ckpt.criu
	row "  all but CRIU's dump" t.ckpt.rest r.ckpt.rest
	row "  runc checkpoint, up to CRIU's end" t.ckpt.run r.ckpt.run
	row "server restore (tardis: create + start)" t.rest r.rest
	row "  of which CRIU's restore (restore.log)" t.rest.criu r.rest.criu
	row "  all but CRIU's restore" t.rest.rest r.rest.rest
	row "  runc restore, up to CRIU's end" t.rest.run r.rest.run
	row "server checkpoint + restore" t.both r.both
	row "image size (bytes; tardis: + files.tar, manifest)" t.size r.size
	echo "tardis's own time, all but runc + CRIU (medians, ms):"
	printf '  checkpoint: %s ms -> ratio %s with CRIU taking the same time on both sides\n' "$(med t.ckpt.own)" "$(own_ratio ckpt)"
	printf '  restore:    %s ms -> ratio %s with CRIU taking the same time on both sides\n' "$(med t.rest.own)" "$(own_ratio rest)"
fi
[ "$LO_DOWN" = 0 ] || echo "runc: lo was DOWN after $LO_DOWN restores (docs/servers.md, section 2); brought up, not timed, before the checks"
[ "$FAILS" = 0 ] || echo "warning: $FAILS errors in the rounds (see above); those rounds are not counted"
echo
echo "## server summary (one run, $((SECONDS - T0)) s; tardis / runc, lower is better)"
printf '%-40s %12s %12s %8s\n' "figure" "tardis" "runc" "ratio"
for w in "server checkpoint median (ms):ckpt" "server restore median (ms):rest" \
	"server checkpoint + restore median (ms):both"; do
	a=$(med "t.${w##*:}") b=$(med "r.${w##*:}")
	printf '%-40s %12s %12s %8s\n' "${w%:*}" "$a" "$b" "$(ratio "$a" "$b")"
done
if [ "$COUNTED" -gt 0 ]; then
	printf '%-40s %12s %12s %8s\n' "server checkpoint: tardis's own (ms)" "$(med t.ckpt.own)" "" "$(own_ratio ckpt)"
	printf '%-40s %12s %12s %8s\n' "server restore: tardis's own (ms)" "$(med t.rest.own)" "" "$(own_ratio rest)"
	echo "(own time: all but runc + CRIU; its ratio: (runc median + own) / runc median)"
fi
exit 0
