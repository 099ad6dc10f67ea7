#!/bin/bash
# `make bench`, the runc wrapper: tardis-runc measured side by side with the
# runc it stands in for, in one run.  Figures and ratios only: no
# thresholds, no pass/fail.
#
#  1. Pass-through cost: `tardis-runc state <id>` against `runc state <id>`
#     for the same running containers (one enabled, one not), `--version`,
#     and `kill <id> 0` of the enabled container (tardis reads its state,
#     then passes it on).  Whole program runs, interleaved, timed by
#     tests/bench_exec (posix_spawn -> waitpid, CLOCK_MONOTONIC).
#  2. Checkpoint and restore of a busybox counter on an overlay rootfs,
#     same runc, same CRIU (`runc --criu`):
#       tardis: `tardis-runc delete --force` of the running enabled
#               container (runc state, CRIU dump, files.tar, checksums,
#               fsync, atomic publish, runc delete), then
#               `tardis-runc create` (validate, apply files, runc restore,
#               register the init) + `tardis-runc start`;
#       runc:   `runc checkpoint --image-path X --work-path Y --file-locks`,
#               then `runc restore --detach ... --file-locks --bundle B`
#               (the same options tardis passes).
#     Rounds interleaved (the side that goes first alternates), one warm-up
#     round not counted; medians, ratios, image sizes, where tardis's time
#     goes (its log, CRIU's dump.log/restore.log), and tardis's own time
#     (all but runc + CRIU), which CRIU's run-to-run spread does not blur.
#
# Knobs: BENCH_SHIM_ITER (300 runs of each command), BENCH_SHIM_ROUNDS (9),
# BENCH_SHIM_LOG (a path: keep tardis-runc's log there).
set -u
# shellcheck source=tests/lib/lib.sh
. "$(dirname "$0")/../lib/lib.sh"
# shellcheck source=tests/lib/bundle.sh
. "$ROOT/tests/lib/bundle.sh"
# shellcheck source=tests/bench/bench_lib.sh
. "$ROOT/tests/bench/bench_lib.sh"
trap 'exit 130' INT TERM

ITER=${BENCH_SHIM_ITER:-300}
ROUNDS=${BENCH_SHIM_ROUNDS:-9}
T0=$SECONDS
[ "$(id -u)" -eq 0 ] || { echo "bench_shim: must run as root" >&2; exit 1; }
[ -x "$BIN/tests/bench_exec" ] && [ -x "$BIN/tardis-runc" ] ||
	{ echo "bench_shim: build first (make)" >&2; exit 1; }
RUNC=$(command -v runc) || { echo "bench_shim: runc not installed" >&2; exit 1; }
shim_env bench debug 2>/dev/null

echo "# tardis-runc bench: kernel $(uname -r), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ)"
echo "# $($RUNC --version | head -1), CRIU $("$CRIU" --version | sed -n 's/^Version: //p') ($CRIU)"

# ---- helpers -----------------------------------------------------------
count_in() { # the counter; 0 while the file is being rewritten
	local v
	v=$(cat "$1/rootfs/data/count" 2>/dev/null)
	[[ $v =~ ^[0-9]+$ ]] && echo "$v" || echo 0
}
count_above() { [ "$(count_in "$1")" -gt "$2" ]; }

# ---- two running counters on overlay rootfs, as containerd makes them ---
lower_layer sh -c 'i=0
while :; do i=$((i + 1)); echo $i > /data/count; sleep 0.05; done'

BT=$TMP/bt # enabled: the tardis side
BR=$TMP/br # not enabled: the plain runc side
make_bundle "$BT"
plain_bundle "$BR"
for x in "bt $BT" "br $BR"; do
	set -- $x
	"$SHIM" --root "$RROOT" create --bundle "$2" --pid-file "$2/init.pid" "$1" </dev/null >/dev/null 2>&1 &&
		"$SHIM" --root "$RROOT" start "$1" &&
		wait_for 10 count_above "$2" 2 ||
		{ echo "bench_shim: container $1 did not start" >&2; tail -5 "$TARDIS_LOG_FILE" >&2; exit 1; }
done
[ -d "$TARDIS_STATE_DIR/containers/$NS/bt" ] && [ ! -d "$TARDIS_STATE_DIR/containers/$NS/br" ] ||
	{ echo "bench_shim: bt should be managed by tardis, br not" >&2; exit 1; }

# ---------------------------------------------------------------- 1. pass-through
declare -A EX # EX[label.key] = value, from bench_exec's lines
diff_us() { awk -v a="${EX[$1.p50_us]}" -v b="${EX[$2.p50_us]}" 'BEGIN { printf "%.0f", a - b }'; }
bench_pass() {
	local r=(--root "$RROOT") l k v
	echo
	echo "## 1. pass-through: whole runs, $ITER of each, interleaved (us per call)"
	BENCH_EXEC_PAIRS="tardis.state.en-static.state.en tardis.state.en-runc.state.en" \
		"$BIN/tests/bench_exec" "$ITER" \
		runc.state.en "$RUNC" "${r[@]}" state bt :: tardis.state.en "$SHIM" "${r[@]}" state bt :: \
		runc.state.off "$RUNC" "${r[@]}" state br :: tardis.state.off "$SHIM" "${r[@]}" state br :: \
		runc.version "$RUNC" --version :: tardis.version "$SHIM" --version :: \
		floor.state.en "$BIN/tests/bench_exec" exec "$RUNC" "${r[@]}" state bt :: \
		static.state.en "$BIN/tests/bench_exec_static" exec "$RUNC" "${r[@]}" state bt :: \
		runc.kill0 "$RUNC" "${r[@]}" kill bt 0 :: tardis.kill0 "$SHIM" "${r[@]}" kill bt 0 \
		>"$TMP/exec.txt" || { echo "bench_exec failed" >&2; return 1; }
	while read -r _ l rest; do
		l=${l#label=}
		for kv in $rest; do
			k=${kv%%=*} v=${kv#*=}
			EX[$l.$k]=$v
		done
	done <"$TMP/exec.txt"
	printf '%-34s %9s %9s %9s %9s %8s %8s\n' "" "runc p50" "mean" "tardis p50" "mean" "p50 x" "mean x"
	for w in "state, enabled container:state.en" "state, container not enabled:state.off" \
		"--version:version" "kill <id> 0, enabled container:kill0"; do
		l=${w##*:}
		printf '%-34s %9.0f %9.0f %9.0f %9.0f %8s %8s\n' "${w%:*}" \
			"${EX[runc.$l.p50_us]}" "${EX[runc.$l.mean_us]}" \
			"${EX[tardis.$l.p50_us]}" "${EX[tardis.$l.mean_us]}" \
			"$(ratio "${EX[tardis.$l.p50_us]}" "${EX[runc.$l.p50_us]}")" \
			"$(ratio "${EX[tardis.$l.mean_us]}" "${EX[runc.$l.mean_us]}")"
		for s in runc tardis; do
			[ "${EX[$s.$l.nonzero]}" = 0 ] || echo "  warning: $s ${w%:*}: ${EX[$s.$l.nonzero]} runs exited non-zero"
		done
	done
	printf '%-34s %9.0f %9.0f %9.0f %9.0f %8s %8s\n' "state, via a do-nothing exec wrapper" \
		"${EX[runc.state.en.p50_us]}" "${EX[runc.state.en.mean_us]}" \
		"${EX[floor.state.en.p50_us]}" "${EX[floor.state.en.mean_us]}" \
		"$(ratio "${EX[floor.state.en.p50_us]}" "${EX[runc.state.en.p50_us]}")" \
		"$(ratio "${EX[floor.state.en.mean_us]}" "${EX[runc.state.en.mean_us]}")"
	printf '%-34s %9.0f %9.0f %9.0f %9.0f %8s %8s\n' "state, via a static do-nothing wrapper" \
		"${EX[runc.state.en.p50_us]}" "${EX[runc.state.en.mean_us]}" \
		"${EX[static.state.en.p50_us]}" "${EX[static.state.en.mean_us]}" \
		"$(ratio "${EX[static.state.en.p50_us]}" "${EX[runc.state.en.p50_us]}")" \
		"$(ratio "${EX[static.state.en.mean_us]}" "${EX[runc.state.en.mean_us]}")"
	# Each round runs both, seconds apart at most: the median of the
	# rounds' differences is what tardis-runc adds, the machine's drift
	# between rounds left out (the difference of the two medians moved
	# -41..+257 us between runs of the same build, 2026-11-27).
	echo "tardis-runc state over the static do-nothing wrapper: ${EX[tardis.state.en-static.state.en.p50_diff_us]:-n/a} us" \
		"(median of the $ITER rounds' differences; target <= 50 us);" \
		"difference of the medians $(diff_us tardis.state.en static.state.en) us"
	echo "added per call (p50 - p50): tardis-runc $(diff_us tardis.state.en runc.state.en) us (state)," \
		"$(diff_us tardis.version runc.version) us (--version); the do-nothing wrapper" \
		"$(diff_us floor.state.en runc.state.en) us (bench_exec exec: one more execve, libc only)"
}

# ---------------------------------------------------------------- 2. checkpoint / restore
DIMG=$TMP/direct/img
DWORK=$TMP/direct/work
TWORK=$TARDIS_STATE_DIR/work/$NS/bt
mkdir -p "$TMP/r"
# Per-round figures go to $TMP/r/<name>, one number a line.
note() { [ "$ROUND" -gt 0 ] && echo "$2" >>"$TMP/r/$1"; return 0; }
FAILS=0
oops() { FAILS=$((FAILS + 1)); echo "  round $ROUND: $*"; }

# runc_ms VERB: how long tardis-runc's `runc VERB` ran, spawn to reap (its
# "run: ...: done in X ms" line after the "run: ... VERB" one).
runc_ms() {
	awk -v v=" $1 " 'index($0, "run: ") && index($0, v) { f = 1 }
		f && match($0, /: done in [0-9.]+ ms/) { print substr($0, RSTART + 10, RLENGTH - 13); exit }'
}

# The tardis side's split comes from its log's timestamps (one write per
# line, microseconds) and the mtime of CRIU's log (written as CRIU ends).
tardis_checkpoint() {
	local n t te lines a b d c
	n=$(wc -l <"$TARDIS_LOG_FILE")
	t=$EPOCHREALTIME
	"$SHIM" --root "$RROOT" delete --force bt >/dev/null 2>&1 || oops "tardis delete --force failed"
	te=$EPOCHREALTIME
	lines=$(tail -n +"$((n + 1))" "$TARDIS_LOG_FILE")
	grep -q "checkpointed (delete --force)" <<<"$lines" || { oops "tardis: no checkpoint"; tail -5 <<<"$lines"; return 1; }
	[ -z "$(status_of bt)" ] || oops "tardis: bt still exists after delete --force"
	a=$(log_ts 'intercepted: delete' <<<"$lines")
	b=$(log_ts 'run: .* checkpoint ' <<<"$lines")
	d=$(mtime "$TWORK/dump.log")
	c=$(log_ts 'checkpointed \(delete --force\)' <<<"$lines")
	note t.ckpt "$(ms_between "$t" "$te")"
	note t.ckpt.1start "$(ms_between "$t" "$a")"
	note t.ckpt.2state "$(ms_between "$a" "$b")"
	note t.ckpt.3dump "$(ms_between "$b" "$d")"
	note t.ckpt.4criu "$(criu_ms "$IMAGES/bt/dump.log")"
	note t.ckpt.5publish "$(ms_between "$d" "$c")"
	note t.ckpt.6delete "$(ms_between "$c" "$te")"
	# tardis-runc's own time, measured: the whole call but its runc
	# checkpoint, from spawn to reap (its debug line).
	note t.ckpt.runc "$(runc_ms checkpoint <<<"$lines")"
	note t.size "$(bytes_of "$IMAGES/bt")"
	note t.size.criu "$(bytes_of "$IMAGES/bt" ! -name manifest.json ! -name files.tar ! -name deleted.list ! -name dump.log)"
	note t.size.files "$(bytes_of "$IMAGES/bt" \( -name files.tar -o -name deleted.list \))"
}
tardis_restore() {
	local n t te lines a b r c d
	n=$(wc -l <"$TARDIS_LOG_FILE")
	t=$EPOCHREALTIME
	"$SHIM" --root "$RROOT" create --bundle "$BT" --pid-file "$BT/init.pid" bt </dev/null >/dev/null 2>&1 ||
		oops "tardis create failed"
	"$SHIM" --root "$RROOT" start bt || oops "tardis start failed"
	te=$EPOCHREALTIME
	lines=$(tail -n +"$((n + 1))" "$TARDIS_LOG_FILE")
	grep -q "create $NS/bt: restored" <<<"$lines" || { oops "tardis: not restored"; tail -5 <<<"$lines"; return 1; }
	a=$(log_ts 'intercepted: create' <<<"$lines")
	b=$(log_ts 'run: .* restore ' <<<"$lines")
	r=$(mtime "$TWORK/restore.log")
	c=$(log_ts "create $NS/bt: restored" <<<"$lines")
	d=$(log_ts 'init pid .* registered' <<<"$lines")
	note t.rest "$(ms_between "$t" "$te")"
	note t.rest.1start "$(ms_between "$t" "$a")"
	note t.rest.2apply "$(ms_between "$a" "$b")"
	note t.rest.3restore "$(ms_between "$b" "$r")"
	note t.rest.4criu "$(criu_ms "$TWORK/restore.log")"
	note t.rest.5after "$(ms_between "$r" "$c")"
	note t.rest.6register "$(ms_between "$c" "$d")"
	note t.rest.7start "$(ms_between "$d" "$te")"
	note t.rest.runc "$(runc_ms restore <<<"$lines")"
	wait_for 5 count_above "$BT" "$CKPT_COUNT_BT" || oops "tardis: the counter did not continue after $CKPT_COUNT_BT"
}
direct_checkpoint() {
	local t te d
	rm -rf "$DIMG" "$DWORK"
	mkdir -p "$DIMG" "$DWORK"
	t=$EPOCHREALTIME
	"$RUNC" --root "$RROOT" --criu "$CRIU" checkpoint --image-path "$DIMG" --work-path "$DWORK" \
		--file-locks br >/dev/null 2>&1 || { oops "runc checkpoint failed"; tail -3 "$DWORK/dump.log"; return 1; }
	te=$EPOCHREALTIME
	[ -z "$(status_of br)" ] || oops "runc: br still exists after checkpoint"
	d=$(mtime "$DWORK/dump.log")
	note r.ckpt "$(ms_between "$t" "$te")"
	note r.ckpt.3dump "$(ms_between "$t" "$d")"
	note r.ckpt.4criu "$(criu_ms "$DWORK/dump.log")"
	note r.ckpt.5publish "$(ms_between "$d" "$te")"
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
	note r.rest.3restore "$(ms_between "$t" "$r")"
	note r.rest.4criu "$(criu_ms "$DWORK/restore.log")"
	note r.rest.5after "$(ms_between "$r" "$te")"
	wait_for 5 count_above "$BR" "$CKPT_COUNT_BR" || oops "runc: the counter did not continue after $CKPT_COUNT_BR"
}

med() { [ -s "$TMP/r/$1" ] && median "$TMP/r/$1" || echo "n/a"; }
row() { # row LABEL TARDIS-NAME RUNC-NAME: medians side by side, and the ratio
	local a=n/a b=n/a
	[ "$2" = - ] || a=$(med "$2")
	[ "$3" = - ] || b=$(med "$3")
	printf '%-58s %9s %9s %7s\n' "$1" "$a" "$b" "$( [ "$3" = - ] || ratio "$a" "$b")"
}
SUM_CKPT='' SUM_REST='' SUM_BOTH='' OWN_CKPT='' OWN_REST='' EQ_CKPT='' EQ_REST=''
OWN2_CKPT='' OWN2_REST=''
bench_ckpt() {
	echo
	echo "## 2. checkpoint + restore, tardis-runc vs runc direct ($ROUNDS rounds + 1 warm-up, interleaved)"
	for ROUND in $(seq 0 "$ROUNDS"); do
		# Each container has run a while, its counter moving, before each dump.
		wait_for 5 count_above "$BT" "$(($(count_in "$BT") + 2))"
		wait_for 5 count_above "$BR" "$(($(count_in "$BR") + 2))"
		CKPT_COUNT_BT=$(count_in "$BT") CKPT_COUNT_BR=$(count_in "$BR")
		if [ $((ROUND % 2)) = 0 ]; then
			tardis_checkpoint && direct_checkpoint && tardis_restore && direct_restore
		else
			direct_checkpoint && tardis_checkpoint && direct_restore && tardis_restore
		fi || { echo "bench_shim: round $ROUND failed; no more rounds"; break; }
		[ "$ROUND" -gt 0 ] && printf '  round %d: tardis checkpoint %6.1f ms, restore %6.1f ms | runc checkpoint %6.1f ms, restore %6.1f ms\n' \
			"$ROUND" "$(tail -1 "$TMP/r/t.ckpt")" "$(tail -1 "$TMP/r/t.rest")" \
			"$(tail -1 "$TMP/r/r.ckpt")" "$(tail -1 "$TMP/r/r.rest")"
	done
	[ -s "$TMP/r/t.ckpt" ] && [ -s "$TMP/r/r.ckpt" ] && [ -s "$TMP/r/t.rest" ] && [ -s "$TMP/r/r.rest" ] || return 1
	paste "$TMP/r/t.ckpt" "$TMP/r/t.rest" | awk '{ print $1 + $2 }' >"$TMP/r/t.both"
	paste "$TMP/r/r.ckpt" "$TMP/r/r.rest" | awk '{ print $1 + $2 }' >"$TMP/r/r.both"
	echo
	printf '%-58s %9s %9s %7s\n' "median over $(wc -l <"$TMP/r/t.ckpt") rounds (ms)" tardis runc ratio
	row "checkpoint (tardis: delete --force)" t.ckpt r.ckpt
	row "restore (tardis: create + start)" t.rest r.rest
	row "checkpoint + restore" t.both r.both
	# CRIU's own time varies far more between identical runs (see the
	# rounds) than tardis adds: tardis's own time, per round, is its total
	# minus its runc+CRIU phase minus what runc itself spends after CRIU
	# (the direct side's median).
	paste "$TMP/r/t.ckpt" "$TMP/r/t.ckpt.3dump" |
		awk -v r="$(med r.ckpt.5publish)" '{ print $1 - $2 - r }' >"$TMP/r/t.ckpt.own"
	paste "$TMP/r/t.rest" "$TMP/r/t.rest.3restore" |
		awk -v r="$(med r.rest.5after)" '{ print $1 - $2 - r }' >"$TMP/r/t.rest.own"
	paste "$TMP/r/t.ckpt" "$TMP/r/t.ckpt.runc" | awk '$2 != "" { print $1 - $2 }' >"$TMP/r/t.ckpt.own2"
	paste "$TMP/r/t.rest" "$TMP/r/t.rest.runc" | awk '$2 != "" { print $1 - $2 }' >"$TMP/r/t.rest.own2"
	OWN_CKPT=$(med t.ckpt.own) OWN_REST=$(med t.rest.own)
	OWN2_CKPT=$(med t.ckpt.own2) OWN2_REST=$(med t.rest.own2)
	EQ_CKPT=$(awk -v o="$OWN_CKPT" -v r="$(med r.ckpt)" 'BEGIN { printf "%.2f", (r + o) / r }')
	EQ_REST=$(awk -v o="$OWN_REST" -v r="$(med r.rest)" 'BEGIN { printf "%.2f", (r + o) / r }')
	echo "tardis's own time, all but runc + CRIU (medians, ms):"
	printf '  checkpoint: %s ms -> ratio %s with CRIU taking the same time on both sides\n' "$OWN_CKPT" "$EQ_CKPT"
	printf '  restore:    %s ms -> ratio %s with CRIU taking the same time on both sides\n' "$OWN_REST" "$EQ_REST"
	echo "tardis's own time, measured (medians, ms): the whole call but its runc call, spawn to reap"
	printf '  checkpoint: %s ms (per round: %s)\n' "$OWN2_CKPT" "$(tr '\n' ' ' <"$TMP/r/t.ckpt.own2")"
	printf '  restore:    %s ms (per round: %s)\n' "$OWN2_REST" "$(tr '\n' ' ' <"$TMP/r/t.rest.own2")"
	echo
	echo "checkpoint, where the time goes (medians, ms):"
	row "  tardis-runc start -> delete handler" t.ckpt.1start -
	row "  runc state (is it running?)" t.ckpt.2state -
	row "  runc checkpoint, up to CRIU's end" t.ckpt.3dump r.ckpt.3dump
	row "    of which CRIU's dump (dump.log)" t.ckpt.4criu r.ckpt.4criu
	row "  runc after CRIU; tardis: + files, checksums, fsync, publish" t.ckpt.5publish r.ckpt.5publish
	row "  state update, exit lookup, exec runc delete" t.ckpt.6delete -
	echo "restore, where the time goes (medians, ms):"
	row "  tardis-runc start -> create handler" t.rest.1start -
	row "  state, validate the image (checksums), apply files" t.rest.2apply -
	row "  runc restore, up to CRIU's end" t.rest.3restore r.rest.3restore
	row "    of which CRIU's restore (restore.log)" t.rest.4criu r.rest.4criu
	row "  runc restore after CRIU" t.rest.5after r.rest.5after
	row "  register the init (agent check, pin, registry)" t.rest.6register -
	row "  exit, then tardis-runc start (answered by tardis)" t.rest.7start -
	echo
	echo "image size (bytes, median):"
	row "  tardis image, total" t.size -
	row "    CRIU's files in it" t.size.criu -
	row "    container files (files.tar, deleted.list)" t.size.files -
	row "  runc checkpoint --image-path (CRIU's files)" - r.size
	[ "$FAILS" = 0 ] || echo "warning: $FAILS problems in the rounds (see above)"
	SUM_CKPT="$(med t.ckpt) $(med r.ckpt)" SUM_REST="$(med t.rest) $(med r.rest)"
	SUM_BOTH="$(med t.both) $(med r.both)"
}

bench_pass
bench_ckpt
[ -z "${BENCH_SHIM_LOG:-}" ] || cp "$TARDIS_LOG_FILE" "$BENCH_SHIM_LOG"

# ---------------------------------------------------------------- summary
echo
echo "## summary (one run, $((SECONDS - T0)) s; tardis / runc, lower is better)"
printf '%-40s %12s %12s %8s\n' "figure" "tardis" "runc" "ratio"
for w in "state p50 (us):state.en.p50_us" "state mean (us):state.en.mean_us" \
	"state, not enabled, p50 (us):state.off.p50_us" "--version p50 (us):version.p50_us" \
	"kill <id> 0 p50 (us):kill0.p50_us"; do
	l=${w##*:}
	printf '%-40s %12s %12s %8s\n' "${w%:*}" "${EX[tardis.$l]:-n/a}" "${EX[runc.$l]:-n/a}" \
		"$(ratio "${EX[tardis.$l]:-}" "${EX[runc.$l]:-}")"
done
read -r a b <<<"${SUM_CKPT:-n/a n/a}"
printf '%-40s %12s %12s %8s\n' "checkpoint median (ms)" "$a" "$b" "$(ratio "$a" "$b")"
read -r a b <<<"${SUM_REST:-n/a n/a}"
printf '%-40s %12s %12s %8s\n' "restore median (ms)" "$a" "$b" "$(ratio "$a" "$b")"
read -r a b <<<"${SUM_BOTH:-n/a n/a}"
printf '%-40s %12s %12s %8s\n' "checkpoint + restore median (ms)" "$a" "$b" "$(ratio "$a" "$b")"
printf '%-40s %12s %12s %8s\n' "checkpoint: tardis's own time (ms)" "${OWN_CKPT:-n/a}" "" "${EQ_CKPT:-n/a}"
printf '%-40s %12s %12s %8s\n' "restore: tardis's own time (ms)" "${OWN_REST:-n/a}" "" "${EQ_REST:-n/a}"
echo "(own time: all but runc + CRIU; its ratio: (runc median + own) / runc median)"
echo
bench_line state_p50 "${EX[tardis.state.en.p50_us]:-}" us "$(ratio "${EX[tardis.state.en.p50_us]:-}" "${EX[runc.state.en.p50_us]:-}")"
bench_line state_floor_p50 "${EX[floor.state.en.p50_us]:-}" us "$(ratio "${EX[floor.state.en.p50_us]:-}" "${EX[runc.state.en.p50_us]:-}")"
bench_line state_static_floor_p50 "${EX[static.state.en.p50_us]:-}" us "$(ratio "${EX[static.state.en.p50_us]:-}" "${EX[runc.state.en.p50_us]:-}")"
bench_line state_over_static_floor "${EX[tardis.state.en-static.state.en.p50_diff_us]:-}" us
read -r a b <<<"${SUM_CKPT:-n/a n/a}"
bench_line checkpoint_ms "$a" ms "$(ratio "$a" "$b")"
read -r a b <<<"${SUM_REST:-n/a n/a}"
bench_line restore_ms "$a" ms "$(ratio "$a" "$b")"
bench_line checkpoint_own_ms "${OWN_CKPT:-}" ms "${EQ_CKPT:-}"
bench_line restore_own_ms "${OWN_REST:-}" ms "${EQ_REST:-}"
bench_line checkpoint_own_measured_ms "${OWN2_CKPT:-}" ms
bench_line restore_own_measured_ms "${OWN2_REST:-}" ms
exit 0
