#!/bin/bash
# `make bench`: the exit monitor measured side by side with what it replaces,
# in one run.  Figures and ratios only: no thresholds, no pass/fail.
#
#  1. container exit -> exit record visible / durable (tardisd's own log), against
#     containerd's /tasks/exit as read from `ctr events`, for the same containers
#     of a private containerd; all relative to the kernel's exit timestamp
#     (exit_mono_ns of exit.json, CLOCK_MONOTONIC).
#  2. BPF cost per sched_process_exit of unrelated processes: the tardis program
#     against an empty program on the same tracepoint (bpf_stats).
#  3. tardisd's memory and CPU: idle, and during a burst of registered exits.
# Then tardis-runc against runc: bench_shim.sh (pass-through, checkpoint and
# restore of a counter), bench_servers.sh (of a server container) and
# bench_k8s.sh (a rescheduled pod's container restored at CRI StartContainer)
# and bench_big.sh (big containers: 1 GiB of memory, 10,000 files, a 1 GiB
# sparse file).
#
# Knobs: BENCH_CONTAINERS (50), BENCH_SPACING (s between exits, 0.1),
# BENCH_COST_EXITS (10000), BENCH_COST_ROUNDS (3), BENCH_COST_LOADS (3), BENCH_IDLE (s, 5),
# BENCH_BURST (10000), BENCH_BURSTS (2: bursts to the same agent, for RSS flat),
# BENCH_AGENT_ONLY (1: not the other benches).
set -u
# shellcheck source=tests/lib/lib.sh
. "$(dirname "$0")/../lib/lib.sh"
# shellcheck source=tests/lib/containerd.sh
. "$(dirname "$0")/../lib/containerd.sh"
# shellcheck source=tests/bench_lib.sh
. "$(dirname "$0")/bench_lib.sh"
trap 'exit 130' INT TERM

N_CT=${BENCH_CONTAINERS:-50}
SPACING=${BENCH_SPACING:-0.1}
COST_EXITS=${BENCH_COST_EXITS:-10000}
COST_ROUNDS=${BENCH_COST_ROUNDS:-3}
# The pair loaded afresh this many times: where the JIT puts a program
# moves its cost more than what it does (bench_bpf.c).
COST_LOADS=${BENCH_COST_LOADS:-3}
IDLE_S=${BENCH_IDLE:-5}
N_BURST=${BENCH_BURST:-10000}
BENCH=$BIN/tests/bench_bpf
T0=$SECONDS

[ "$(id -u)" -eq 0 ] || { echo "bench: must run as root" >&2; exit 1; }
echo "# tardis bench: kernel $(uname -r), $(nproc) CPUs, $(date -u +%FT%TZ)"
echo "# state $TARDIS_STATE_DIR, pins $TARDIS_BPF_DIR"
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
echo "# load average $LOAD0 (other work on the host skews every figure below)"
start_agent || exit 1
echo "# tardisd pid $AGENT_PID: $(grep -o 'program=[a-z_]*' "$TMP/tardisd.log" | head -1)"

# ---------------------------------------------------------------- 1. latency
VIS_P50= VIS_P99= DUR_P50= DUR_P99= CTR_P50= CTR_P99= LAT_NOTE=
bench_latency() {
	local prefix="tb$$-" i id pid n_run n_rec n_ev ev_pid
	local ids=()

	echo
	echo "## 1. exit -> record, tardisd vs containerd's ctr events ($N_CT containers)"
	for t in containerd ctr umoci busybox runc; do
		command -v "$t" >/dev/null || { LAT_NOTE="skipped: $t not installed"; echo "$LAT_NOTE"; return 0; }
	done
	ctd_start || { LAT_NOTE="skipped: containerd did not start"; return 0; }
	ctd_image || { LAT_NOTE="skipped: image import failed"; return 0; }

	# The reader timestamps each line when read() returns it (C, CLOCK_MONOTONIC).
	"$BENCH" events "$CTD_SOCK" "$TMP/events.txt" &
	ev_pid=$!
	on_cleanup "kill $ev_pid 2>/dev/null; wait $ev_pid 2>/dev/null"

	mkdir -p "$TMP/fifos"
	for i in $(seq 1 "$N_CT"); do
		id=$prefix$i
		ids+=("$id")
		mkfifo "$TMP/fifos/$id"
		# The init blocks on its fifo until we let it exit: exits are ours to time.
		ctr_ run -d --mount "type=bind,src=$TMP/fifos,dst=/f,options=rbind:rw" \
			localhost/bb:latest "$id" sh -c "read x </f/$id; exit 3" >/dev/null ||
			{ echo "ctr run $id failed" >&2; break; }
	done
	n_run=0
	while read -r id pid _; do
		[[ $id == "$prefix"* ]] || continue
		"$BIN/tardisctl" register "default/$id" "$pid" && n_run=$((n_run + 1))
	done < <(ctr_ task ls)
	echo "started and registered $n_run containers"

	for id in "${ids[@]}"; do
		echo go >"$TMP/fifos/$id" # builtin: no fork in the measured path
		sleep "$SPACING"
	done
	all_seen() {
		n_rec=$(find "$TARDIS_STATE_DIR/containers/default" -name exit.json 2>/dev/null | wc -l)
		n_ev=$(grep -c ' /tasks/exit ' "$TMP/events.txt")
		[ "$n_rec" -ge "$n_run" ] && [ "$n_ev" -ge "$n_run" ]
	}
	wait_for 15 all_seen || echo "warning: $n_rec records, $n_ev ctr exit events of $n_run"

	# id exit_mono_ns, from each exit record
	for id in "${ids[@]}"; do
		f=$TARDIS_STATE_DIR/containers/default/$id/exit.json
		[ -e "$f" ] || continue
		echo "$id $(grep -o '"exit_mono_ns":[0-9.e+]*' "$f" | cut -d: -f2)"
	done >"$TMP/exit_mono.txt"
	# One pass: the agent's figures and the reader's timestamps, per container.
	awk -v prefix="$prefix" -v dir="$TMP" '
		FILENAME ~ /exit_mono.txt$/ { mono[$1] = $2 + 0; next }
		FILENAME ~ /tardisd.log$/ && /exit recorded default\// {
			match($0, /default\/[^ ]*/); id = substr($0, RSTART + 8, RLENGTH - 8)
			if (index(id, prefix) != 1 || !/source=bpf /) next
			match($0, /visible_us=[0-9.]*/); vis[id] = substr($0, RSTART + 11, RLENGTH - 11)
			match($0, /durable_us=[0-9.]*/); dur[id] = substr($0, RSTART + 11, RLENGTH - 11)
			if (!/exit_status=3 /) bad++
			next
		}
		FILENAME ~ /events.txt$/ && $7 == "/tasks/exit" {
			if (!match($0, /"container_id":"[^"]*","id":"[^"]*"/)) next
			split(substr($0, RSTART, RLENGTH), kv, "\"")
			if (kv[4] != kv[8] || !(kv[4] in mono) || (kv[4] in ctr)) next
			ctr[kv[4]] = ($1 - mono[kv[4]]) / 1e3
			if (!/"exit_status":3[,}]/) bad++
		}
		END {
			for (id in mono) {
				if (id in vis) { print vis[id] > (dir "/vis.txt"); print dur[id] > (dir "/dur.txt") }
				if (id in ctr) print ctr[id] > (dir "/ctr.txt")
				if ((id in vis) && (id in ctr)) both++
			}
			printf "%d containers with both figures, %d wrong exit statuses\n", both, bad
		}' "$TMP/exit_mono.txt" "$TMP/tardisd.log" "$TMP/events.txt"
	touch "$TMP/vis.txt" "$TMP/dur.txt" "$TMP/ctr.txt"
	VIS_P50=$(pct 50 "$TMP/vis.txt") VIS_P99=$(pct 99 "$TMP/vis.txt")
	DUR_P50=$(pct 50 "$TMP/dur.txt") DUR_P99=$(pct 99 "$TMP/dur.txt")
	CTR_P50=$(pct 50 "$TMP/ctr.txt") CTR_P99=$(pct 99 "$TMP/ctr.txt")
	printf '%-36s %10s %10s   (us after the kernel exit, n=%d)\n' "" p50 p99 "$(wc -l <"$TMP/vis.txt")"
	printf '%-36s %10.1f %10.1f\n' "tardisd record visible (renamed)" "$VIS_P50" "$VIS_P99"
	printf '%-36s %10.1f %10.1f\n' "tardisd record durable (dir fsynced)" "$DUR_P50" "$DUR_P99"
	printf '%-36s %10.1f %10.1f\n' "containerd /tasks/exit via ctr events" "$CTR_P50" "$CTR_P99"
	echo "ctr-events p50 / visible p99 = $(fmt_ratio "$CTR_P50" "$VIS_P99")x (target >= 5x)"
	echo "visible p99 <= 1 ms: $(awk -v v="$VIS_P99" 'BEGIN { print (v <= 1000) ? "yes" : "no" }')"

	ctr_ task rm "${ids[@]}" >/dev/null 2>&1
	ctr_ c rm "${ids[@]}" >/dev/null 2>&1
	kill "$ev_pid" 2>/dev/null
	wait "$ev_pid" 2>/dev/null
	ctd_stop
}

# The same figures for plain registered host processes with no containerd
# around: what the agent and the disk cost on their own.
SOLO_VIS50= SOLO_VIS99= SOLO_DUR50= SOLO_DUR99=
bench_solo() {
	echo
	echo "## 1b. exit -> record for $N_CT plain registered processes, no containerd running"
	"$BENCH" solo "$N_CT" || return 0
	wait_for 5 eval '[ "$(grep -c "exit recorded bench-solo/" "$TMP/tardisd.log")" -ge "$N_CT" ]'
	grep 'exit recorded bench-solo/.* source=bpf ' "$TMP/tardisd.log" |
		sed -n 's/.*visible_us=\([0-9.]*\) durable_us=\([0-9.]*\).*/\1 \2/p' >"$TMP/solo.txt"
	cut -d' ' -f1 "$TMP/solo.txt" >"$TMP/solo_vis.txt"
	cut -d' ' -f2 "$TMP/solo.txt" >"$TMP/solo_dur.txt"
	SOLO_VIS50=$(pct 50 "$TMP/solo_vis.txt") SOLO_VIS99=$(pct 99 "$TMP/solo_vis.txt")
	SOLO_DUR50=$(pct 50 "$TMP/solo_dur.txt") SOLO_DUR99=$(pct 99 "$TMP/solo_dur.txt")
	printf '%-36s %10s %10s   (us after the kernel exit, n=%d)\n' "" p50 p99 "$(wc -l <"$TMP/solo.txt")"
	printf '%-36s %10.1f %10.1f\n' "tardisd record visible (renamed)" "$SOLO_VIS50" "$SOLO_VIS99"
	printf '%-36s %10.1f %10.1f\n' "tardisd record durable (dir fsynced)" "$SOLO_DUR50" "$SOLO_DUR99"
}

# ---------------------------------------------------------------- 2. BPF cost
COST_T= COST_E= COST_R= COST_WAKE= COST_OTHER= COST_PINNED= COST_REG_T= COST_REG_R=
bench_cost() {
	local old a b k0 k1
	echo
	echo "## 2. BPF cost per sched_process_exit: tardis vs empty program" \
		"($COST_LOADS loads x $COST_ROUNDS rounds x $COST_EXITS unrelated exits)"
	old=$(sysctl -n kernel.bpf_stats_enabled)
	on_cleanup "sysctl -qw kernel.bpf_stats_enabled=$old"
	sysctl -qw kernel.bpf_stats_enabled=1
	k0=$(captured)
	a=$(proc_figures "$AGENT_PID")
	"$BENCH" cost "$COST_EXITS" "$COST_ROUNDS" "$COST_LOADS" | tee "$TMP/cost.txt"
	b=$(proc_figures "$AGENT_PID")
	k1=$(captured)
	sysctl -qw kernel.bpf_stats_enabled="$old"
	COST_T=$(sed -n 's/^cost_median .*tardis_ns_per_call=\([0-9.]*\).*/\1/p' "$TMP/cost.txt")
	COST_E=$(sed -n 's/^cost_median .*empty_ns_per_call=\([0-9.]*\).*/\1/p' "$TMP/cost.txt")
	# median of the per-round ratios (each round pairs both programs on the same exits)
	COST_R=$(sed -n 's/^cost_median .*ratio=\([0-9.]*\).*/\1/p' "$TMP/cost.txt")
	read -r _ _ va iva <<<"$a"
	read -r _ _ vb ivb <<<"$b"
	COST_WAKE=$((vb - va + ivb - iva))
	echo "median: tardis ${COST_T} ns/call, empty ${COST_E} ns/call, ratio ${COST_R}x (target <= 1.5x)," \
		"tardis costs $(awk -v t="$COST_T" -v e="$COST_E" 'BEGIN { printf "%.0f", t - e }') ns more per exit"
	COST_OTHER=$((k1 - k0))
	echo "tardisd context switches during the unrelated exits: $COST_WAKE" \
		"(pid-ns init exits elsewhere on the host meanwhile: $COST_OTHER)"
	COST_PINNED=$(sed -n 's/^cost_median .*pinned_ns_per_call=\([0-9.]*\).*/\1/p' "$TMP/cost.txt")
	# The same with a host-pid init registered (a hostPID pod's, as on a node
	# that ran one): its registration lives in its own task storage.
	local holder
	sleep 600 &
	holder=$!
	"$BIN/tardisctl" register default/bench-holder-$$ "$holder" >/dev/null ||
		echo "warning: the host pid $holder could not be registered"
	sysctl -qw kernel.bpf_stats_enabled=1
	"$BENCH" cost "$COST_EXITS" "$COST_ROUNDS" "$COST_LOADS" | tee "$TMP/cost-reg.txt"
	sysctl -qw kernel.bpf_stats_enabled="$old"
	kill "$holder"
	wait "$holder" 2>/dev/null
	COST_REG_T=$(sed -n 's/^cost_median .*tardis_ns_per_call=\([0-9.]*\).*/\1/p' "$TMP/cost-reg.txt")
	COST_REG_R=$(sed -n 's/^cost_median .*ratio=\([0-9.]*\).*/\1/p' "$TMP/cost-reg.txt")
	echo "with a host pid registered: tardis ${COST_REG_T} ns/call, ratio ${COST_REG_R}x (target <= 1.5x)"
}

# ---------------------------------------------------------------- 3. agent
IDLE_CPU= IDLE_CS= IDLE_RSS= IDLE_OTHER= BURST_LINE= BURST2_LINE=
bench_agent() {
	local a b c0 r0 v0 iv0 c1 r1 v1 iv1 hz k0 k1
	hz=$(getconf CLK_TCK)
	echo
	echo "## 3. tardisd resources: idle ${IDLE_S} s, then $N_BURST registered exits at once"
	k0=$(captured)
	a=$(proc_figures "$AGENT_PID")
	sleep "$IDLE_S"
	b=$(proc_figures "$AGENT_PID")
	k1=$(captured)
	read -r c0 r0 v0 iv0 <<<"$a"
	read -r c1 r1 v1 iv1 <<<"$b"
	IDLE_CPU=$(awk -v t=$((c1 - c0)) -v hz="$hz" 'BEGIN { printf "%.2f", t / hz }')
	IDLE_CS=$((v1 - v0 + iv1 - iv0))
	IDLE_RSS=$r1
	IDLE_OTHER=$((k1 - k0))
	echo "idle: RSS ${r1} KiB, CPU ${IDLE_CPU} s, context switches (wake-ups) $IDLE_CS" \
		"(pid-ns init exits elsewhere on the host meanwhile: $IDLE_OTHER)"
	"$BENCH" burst "$N_BURST" "$AGENT_PID" | tee "$TMP/burst.txt"
	BURST_LINE=$(grep '^burst ' "$TMP/burst.txt")
	grep -q '^burst_error' "$TMP/burst.txt" && tail -5 "$TMP/tardisd.log"
	# RSS flat: more bursts (other containers) to the same agent,
	# BENCH_BURSTS in all (2); what it holds once settled after the last,
	# beside the first's.
	for i in $(seq 2 "${BENCH_BURSTS:-2}"); do
		"$BENCH" burst "$N_BURST" "$AGENT_PID" "bench-burst-$i" | tee "$TMP/burst$i.txt"
		BURST2_LINE=$(grep '^burst ' "$TMP/burst$i.txt")
	done
}
# Exits the kernel program kept (pid-ns inits and registered pids, host-wide).
captured() { "$BIN/tardisctl" counters | sed -n 's/.*"captured":\([0-9]*\).*/\1/p'; }
bv() { # bv NAME [LINE]: NAME's value in the burst's line (or LINE)
	local line=$BURST_LINE
	[ $# -lt 2 ] || line=$2
	sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$line"
}

bench_latency
bench_solo
bench_cost
bench_agent

# ---------------------------------------------------------------- summary
echo
echo "## summary (one run, $((SECONDS - T0)) s; load average $LOAD0 at start," \
	"$(cut -d' ' -f1-3 /proc/loadavg) at end)"
echo "latency: tardis = its exit record, replaced = containerd's /tasks/exit seen by a ctr events"
echo "reader, for the same container exits (us after the kernel's exit timestamp);"
echo "BPF: replaced = an empty program on the same tracepoint, same exits"
row() { printf '%-42s %12s %12s   %s\n' "$@"; }
row "figure" "tardis" "replaced" "ratio"
row "exit -> record visible, p50 (us)" "${VIS_P50:-n/a}" "${CTR_P50:-n/a}" \
	"ctr/tardis $(fmt_ratio "$CTR_P50" "$VIS_P50")x"
row "exit -> record visible, p99 (us)" "${VIS_P99:-n/a}" "${CTR_P99:-n/a}" \
	"ctr/tardis $(fmt_ratio "$CTR_P99" "$VIS_P99")x"
row "exit -> record durable, p50 (us)" "${DUR_P50:-n/a}" "${CTR_P50:-n/a}" \
	"ctr/tardis $(fmt_ratio "$CTR_P50" "$DUR_P50")x"
row "exit -> record durable, p99 (us)" "${DUR_P99:-n/a}" "${CTR_P99:-n/a}" \
	"ctr/tardis $(fmt_ratio "$CTR_P99" "$DUR_P99")x"
row "ctr events p50 vs visible p99" "${VIS_P99:-n/a}" "${CTR_P50:-n/a}" \
	"$(fmt_ratio "$CTR_P50" "$VIS_P99")x (target >= 5x)"
row "visible p99 <= 1 ms" \
	"$(awk -v v="${VIS_P99:-nan}" 'BEGIN { print (v != "nan" && v <= 1000) ? "yes" : "no" }')" "" ""
row "no containerd: visible p50 / p99 (us)" "${SOLO_VIS50:-n/a}" "" "p99 ${SOLO_VIS99:-n/a}"
row "no containerd: durable p50 / p99 (us)" "${SOLO_DUR50:-n/a}" "" "p99 ${SOLO_DUR99:-n/a}"
row "BPF ns per sched_process_exit (median)" "${COST_T:-n/a}" "${COST_E:-n/a}" \
	"tardis/empty ${COST_R:-n/a}x (target <= 1.5x)"
row "  the same, a host pid registered" "${COST_REG_T:-n/a}" "" \
	"tardis/empty ${COST_REG_R:-n/a}x (target <= 1.5x)"
row "  the agent's own, first on the trampoline" "${COST_PINNED:-n/a}" "" \
	"(the first program pays the trampoline's cold path)"
row "tardisd idle: RSS (KiB)" "${IDLE_RSS:-n/a}" "" ""
row "tardisd idle: CPU over ${IDLE_S} s (s)" "${IDLE_CPU:-n/a}" "" ""
row "tardisd idle: wake-ups (context switches)" "${IDLE_CS:-n/a}" "" \
	"other containers exiting meanwhile: ${IDLE_OTHER:-n/a}"
row "tardisd wake-ups, $((COST_LOADS * COST_ROUNDS * COST_EXITS)) unrelated exits" "${COST_WAKE:-n/a}" "" \
	"other containers exiting meanwhile: ${COST_OTHER:-n/a}"
if [ -n "$BURST_LINE" ]; then
	row "burst of $N_BURST: exits recorded per s" "$(bv exits_per_s)" "" \
		"all recorded after $(bv recorded_s) s"
	row "burst: tardisd CPU (s)" "$(bv agent_cpu_s)" "" ""
	row "burst: tardisd RSS before / all recorded / settled (KiB)" \
		"$(bv agent_rss_before_kb) / $(bv agent_rss_after_kb) / $(bv agent_rss_settled_kb)" "" \
		"peak $(bv agent_hwm_kb); settled: its registrations forgotten"
	row "burst: tardisd RSS settled after the last of ${BENCH_BURSTS:-2} bursts (KiB)" \
		"$(bv agent_rss_settled_kb "$BURST2_LINE")" "" "$(bv exits_per_s "$BURST2_LINE") exits/s"
	row "burst: ring buffer drops" "$(bv kernel_drops)" "" ""
fi
[ -z "$LAT_NOTE" ] || echo "note: latency $LAT_NOTE"
# One line per figure, to compare run to run: BENCH name value unit [ratio x]
# (ratio: tardis's figure over the replaced one's, lower is better, but for
# ctr_over_visible: containerd's over tardis's, higher is better).
echo
bench_line vis_p50 "$VIS_P50" us "$(fmt_ratio "$VIS_P50" "$CTR_P50")"
bench_line vis_p99 "$VIS_P99" us "$(fmt_ratio "$VIS_P99" "$CTR_P99")"
bench_line durable_p50 "$DUR_P50" us "$(fmt_ratio "$DUR_P50" "$CTR_P50")"
bench_line durable_p99 "$DUR_P99" us "$(fmt_ratio "$DUR_P99" "$CTR_P99")"
bench_line ctr_events_p50 "$CTR_P50" us
bench_line ctr_over_visible_p99 "$(fmt_ratio "$CTR_P50" "$VIS_P99")" x
bench_line solo_vis_p99 "$SOLO_VIS99" us
bench_line solo_durable_p99 "$SOLO_DUR99" us
bench_line bpf_ns_per_exit "$COST_T" ns "$COST_R"
bench_line bpf_empty_ns_per_exit "$COST_E" ns
bench_line bpf_ns_per_exit_registered "$COST_REG_T" ns "$COST_REG_R"
bench_line bpf_pinned_first_ns_per_exit "$COST_PINNED" ns
bench_line agent_idle_rss "$IDLE_RSS" KiB
bench_line agent_idle_wakeups "$IDLE_CS" count
if [ -n "$BURST_LINE" ]; then
	bench_line burst_exits_per_s "$(bv exits_per_s)" 1/s
	bench_line burst_recorded_s "$(bv recorded_s)" s
	bench_line burst_agent_rss_peak "$(bv agent_hwm_kb)" KiB
	bench_line burst_agent_rss_before "$(bv agent_rss_before_kb)" KiB
	bench_line burst_agent_rss_settled "$(bv agent_rss_settled_kb)" KiB \
		"$(fmt_ratio "$(bv agent_rss_settled_kb)" "$(bv agent_rss_before_kb)")"
	bench_line burst2_agent_rss_settled "$(bv agent_rss_settled_kb "$BURST2_LINE")" KiB \
		"$(fmt_ratio "$(bv agent_rss_settled_kb "$BURST2_LINE")" "$(bv agent_rss_settled_kb)")"
	bench_line burst_missing "$(cat "$TMP"/burst*.txt | sed -n 's/^burst_error missing=//p' |
		awk '{ n += $1 } END { print n + 0 }')" count
fi

# The runc wrapper (tardis-runc vs runc), then the same for a server
# container, each in a process of its own: its own state dir, agent, pins
# and cleanup.  BENCH_AGENT_ONLY=1: the agent's figures above only.
[ "${BENCH_AGENT_ONLY:-0}" = 1 ] && exit 0
echo
bash "$(dirname "$0")/bench_shim.sh"
bash "$(dirname "$0")/bench_servers.sh"
bash "$(dirname "$0")/bench_k8s.sh"
bash "$(dirname "$0")/bench_big.sh"
exit 0
