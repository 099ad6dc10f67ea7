#!/bin/bash
# `make compat`: tardis's integration scenarios in other Debian userlands,
# on this host's kernel (issue 12; vmtest/ does the kernels).
#
# For every line of compat/userlands: a Debian suite debootstrapped
# (--variant=minbase) with its containerd, runc, CRIU and tardis's build
# deps (compat/lib.sh, cached: a second run skips it), entered with a
# private mount namespace and pivot_root, the repository at /src
# (read-only); tardis is built there by the suite's own compiler and
# libraries, then the line's scenarios (tests/integration/test_<s>.sh) run
# with the suite's containerd, runc and CRIU.  The `-` line is this host
# itself (its build in $OUT, scripts/build-criu.sh's CRIU).  Ends with a
# table userland x scenario -> pass/fail with counts and durations, and
# each userland's versions; exits non-zero if any cell failed.
#
# Under $OUT/compat/<name>/:
#   root/               the userland; root.stamp, root.debootstrap its stamps
#   prepare.log/.time   debootstrap + apt-get
#   out/                tardis built inside (the scenarios' OUT)
#   results/            build.log, versions, features, status, <scenario>.log
#   job                 what the run inside is asked
# $OUT/compat/shared/ (at /shared in every userland: test_upgrade's image
# made by one userland, restored by the next) and $OUT/compat/report.txt,
# the final table.
#
# Environment: COMPAT_USERLANDS="trixie sid" (a subset of names),
# COMPAT_SCENARIOS="exit_monitor" (a subset of scenarios),
# COMPAT_CRIU=distro|built (every userland's CRIU, over compat/userlands),
# COMPAT_K8S_FLOWS="reschedule crash" (test_kubernetes's K8S_FLOWS in the
# userlands; default: all), COMPAT_SCENARIO_TIMEOUT (s per scenario, default 600), COMPAT_OFFLINE=1
# (a userland not cached is a failure, nothing is fetched).
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 1
OUT=${OUT:-build}
export OUT
CD=$ROOT/$OUT/compat
export VMTEST_SCENARIO_TIMEOUT=${COMPAT_SCENARIO_TIMEOUT:-600}

# shellcheck source=compat/lib.sh
. "$ROOT/compat/lib.sh"
# shellcheck source=vmtest/lib.sh
. "$ROOT/vmtest/lib.sh"

log() { echo "compat: $*" >&2; }
die() {
	log "ERROR: $*"
	exit 2
}

# ---- inside a userland (compat_enter ... compat/run.sh --inside NAME) -------
# Builds tardis into $OUT/compat/NAME/out, then runs the job's scenarios.
inside() {
	local n=$1 d=$CD/$1 res=$CD/$1/results t0 rc s
	# shellcheck source=/dev/null
	. "$d/job"
	export TARDIS_CRIU CRI_BIN=/usr/bin K8S_FLAVOURS
	export UPGRADE_DIR=/shared/upgrade
	[ -n "$K8S_FLOWS" ] && export K8S_FLOWS || unset K8S_FLOWS
	compat_versions >"$res/versions" 2>&1
	log "[$n] building tardis (gcc $(gcc -dumpfullversion))"
	t0=$(date +%s)
	make -j2 OUT="$BUILD_OUT" all >"$res/build.log" 2>&1
	rc=$?
	echo "$(($(date +%s) - t0))" >"$res/build.time"
	if [ "$rc" -ne 0 ]; then
		log "[$n] build FAILED: $(grep -m1 -E 'error|Error' "$res/build.log")"
		for s in $SCENARIOS; do echo "$s fail 0 0 1 build failed (results/build.log)" >>"$res/status"; done
		return 1
	fi
	[ -n "$SCENARIOS" ] || return 0
	OUT=$BUILD_OUT
	vm_features "$res"
	# vmtest's progress lines, named after the userland
	# shellcheck disable=SC2086
	vm_run_scenarios "$res" $SCENARIOS 2> >(sed -u "s/^vmtest: \[[^]]*\]/compat: [$n]/" >&2)
}

if [ "${1:-}" = --inside ]; then
	inside "$2"
	exit
fi
# --prepare: only the userlands made and tardis built in them (make test
# starts this in the background at its beginning, so that the downloads
# overlap the other tests); the run after it finds them cached.
PREPARE_ONLY=0
[ "${1:-}" = --prepare ] && PREPARE_ONLY=1

# ---- the host ---------------------------------------------------------------
[ "$(id -u)" -eq 0 ] || die "must run as root (debootstrap, mount namespaces, BPF, runc)"
case $OUT in /*) die "OUT must be relative to the repository (the userland sees it at /src/OUT)" ;; esac
grep -q ' /sys/fs/bpf bpf ' /proc/mounts || mount -t bpf bpf /sys/fs/bpf || die "cannot mount bpffs"

NAMES=()
declare -A SUITE CRIU_OF K8S SCEN
while read -r name suite criu k8s scen; do
	case $name in '' | '#'*) continue ;; esac
	if [ -n "${COMPAT_USERLANDS:-}" ] && [[ " $COMPAT_USERLANDS " != *" $name "* ]]; then
		continue
	fi
	if [ -n "${COMPAT_SCENARIOS:-}" ]; then
		picked=
		for s in $scen; do
			[[ " $COMPAT_SCENARIOS " == *" $s "* ]] && picked="$picked $s"
		done
		scen=${picked# }
	fi
	NAMES+=("$name")
	[ -z "${COMPAT_CRIU:-}" ] || [ "$suite" = - ] || criu=$COMPAT_CRIU
	[ "$PREPARE_ONLY" = 0 ] || { [ "$suite" != - ] && scen=; } || continue
	SUITE[$name]=$suite CRIU_OF[$name]=$criu K8S[$name]=$k8s SCEN[$name]=$scen
done <"$ROOT/compat/userlands"
[ ${#NAMES[@]} -gt 0 ] || die "no userland selected (COMPAT_USERLANDS=${COMPAT_USERLANDS:-})"

need_debootstrap() {
	command -v debootstrap >/dev/null 2>&1 && return 0
	[ "${COMPAT_OFFLINE:-0}" = 1 ] && return 1
	log "installing debootstrap"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null 2>&1 ||
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null; }
}

# prepare NAME: the userland, in the background; its outcome in prepare.rc.
prepare() {
	local n=$1
	rm -f "$CD/$n/prepare.rc"
	mkdir -p "$CD/$n"
	if [ "${COMPAT_OFFLINE:-0}" = 1 ]; then
		compat_prepare_cached "$n" "${SUITE[$n]}"
	else
		compat_prepare "$n" "${SUITE[$n]}"
	fi
	echo $? >"$CD/$n/prepare.rc"
}
compat_prepare_cached() { [ -s "$CD/$1/root.stamp" ] && echo cached >"$CD/$1/prepare.time"; }

write_job() { # write_job NAME CRIU
	{
		printf 'SCENARIOS=%q\n' "${SCEN[$1]}"
		printf 'K8S_FLAVOURS=%q\n' "${K8S[$1]/#-/}"
		printf 'K8S_FLOWS=%q\n' "${COMPAT_K8S_FLOWS:-}"
		printf 'TARDIS_CRIU=%q\n' "$2"
		printf 'BUILD_OUT=%q\n' "$OUT/compat/$1/out"
		printf 'VMTEST_SCENARIO_TIMEOUT=%q\n' "$VMTEST_SCENARIO_TIMEOUT"
	} >"$CD/$1/job"
}

run_host() {
	local n=$1 res=$CD/$1/results t0 criu
	rm -rf "$res"
	mkdir -p "$res"
	log "$n: this host, scenarios: ${SCEN[$n]}"
	t0=$(date +%s)
	criu=$("$ROOT/scripts/build-criu.sh" 2>"$res/build-criu.log") || criu=
	for b in tardisd tardisctl tardis-runc tardis-runc-full; do
		[ -x "$OUT/$b" ] || die "$OUT/$b missing: run make first"
	done
	(
		[ -z "$criu" ] || export TARDIS_CRIU=$criu
		export K8S_FLAVOURS=${K8S[$n]/#-/}
		compat_versions >"$res/versions" 2>&1
		vm_features "$res"
		# shellcheck disable=SC2086
		vm_run_scenarios "$res" ${SCEN[$n]}
	)
	echo "host build, $(($(date +%s) - t0)) s" >"$res/state"
}

run_userland() {
	local n=$1 d=$CD/$1 res=$CD/$1/results t0 criu rc
	rm -rf "$res"
	mkdir -p "$res" "$d/out"
	t0=$(date +%s)
	if [ "$(cat "$d/prepare.rc" 2>/dev/null)" != 0 ]; then
		echo "userland not prepared: $(tail -1 "$d/prepare.log" 2>/dev/null) (see $d/prepare.log)" >"$res/state"
		log "$n: $(cat "$res/state")"
		return 1
	fi
	log "$n: ${SUITE[$n]} userland ($(cat "$d/prepare.time")), criu ${CRIU_OF[$n]}, scenarios: ${SCEN[$n]}"
	criu=/usr/sbin/criu
	if [ "${CRIU_OF[$n]}" = built ]; then
		rm -rf "$d/criu"
		mkdir -p "$d/criu"
		criu=$("$ROOT/scripts/build-criu.sh" 2>"$res/build-criu.log") && cp "$criu" "$d/criu/criu" &&
			criu=/src/$OUT/compat/$n/criu/criu || criu=/usr/sbin/criu
	fi
	write_job "$n" "$criu"
	COMPAT_SHARED=$CD/shared compat_enter "$d" "$ROOT" env OUT="$OUT" bash compat/run.sh --inside "$n" </dev/null
	rc=$?
	echo "${SUITE[$n]} ($(cat "$d/prepare.time")), build $(cat "$res/build.time" 2>/dev/null) s, $(($(date +%s) - t0)) s" >"$res/state"
	log "$n: $(cat "$res/state")"
	return $rc
}

T0=$(date +%s)
mkdir -p "$CD"
# What the userlands share (test_upgrade: one userland's image, the next's
# restore), emptied for every run.
if [ "$PREPARE_ONLY" = 0 ]; then
	rm -rf "$CD/shared"
	mkdir -p "$CD/shared"
fi
PREP=()
for n in "${NAMES[@]}"; do
	[ "${SUITE[$n]}" = - ] || PREP+=("$n")
done
if [ ${#PREP[@]} -gt 0 ]; then
	need_debootstrap || die "debootstrap not found (Debian package debootstrap)"
	# The kubernetes scenario's CRI client code (build/cri-py), made on the host.
	if [[ " ${SCEN[*]} " == *" kubernetes "* ]]; then
		"$ROOT/scripts/fetch-containerd2.sh" >/dev/null 2>"$CD/fetch-containerd2.log" ||
			log "scripts/fetch-containerd2.sh failed (see $CD/fetch-containerd2.log)"
	fi
	# The userlands are made in parallel (mostly downloads), while the
	# host's own line runs.
	for n in "${PREP[@]}"; do
		log "$n: preparing the ${SUITE[$n]} userland"
		prepare "$n" &
	done
fi
for n in "${NAMES[@]}"; do
	[ "${SUITE[$n]}" = - ] && run_host "$n"
done
wait
PREPARED=0
for n in "${PREP[@]}"; do
	run_userland "$n" && PREPARED=$((PREPARED + 1))
done
if [ "$PREPARE_ONLY" = 1 ]; then
	log "prepared ${PREPARED} of ${#PREP[@]} userlands in $(($(date +%s) - T0)) s"
	[ "$PREPARED" -eq ${#PREP[@]} ]
	exit
fi

# ---- the table ----------------------------------------------------------------
ver() { sed -n "s/^$2: \([^ ]*\).*/\1/p" "$CD/$1/results/versions" 2>/dev/null | head -1; }

report() {
	local n s all=() cell line verdict dur p f note w=20
	for n in "${NAMES[@]}"; do
		for s in ${SCEN[$n]}; do
			[[ " ${all[*]} " == *" $s "* ]] || all+=("$s")
		done
	done
	printf '%-10s%-14s%-12s%-14s' userland containerd runc criu
	for s in "${all[@]}"; do printf "%-${w}s " "$s"; done
	printf '%s\n' "run"
	for n in "${NAMES[@]}"; do
		printf '%-10s%-14s%-12s%-14s' "$n" "$(ver "$n" containerd)" "$(ver "$n" runc)" \
			"$(ver "$n" criu) ${CRIU_OF[$n]}"
		for s in "${all[@]}"; do
			cell=-
			if [[ " ${SCEN[$n]} " == *" $s "* ]]; then
				line=$(awk -v s="$s" '$1 == s' "$CD/$n/results/status" 2>/dev/null | tail -1)
				if [ -n "$line" ]; then
					read -r _ verdict dur p f note <<<"$line"
					cell="$verdict ${dur}s ($p/$((p + f)))"
					[[ $note =~ ([0-9]+)\ skipped: ]] && cell+=" +${BASH_REMATCH[1]} skip"
					if [ "$verdict" = pass ]; then PASSES=$((PASSES + 1)); else FAILS=$((FAILS + 1)); fi
				else
					cell="not run"
					FAILS=$((FAILS + 1))
				fi
			fi
			printf "%-${w}s " "$cell"
		done
		cat "$CD/$n/results/state" 2>/dev/null || echo
	done
	echo
	for n in "${NAMES[@]}"; do
		echo "$n:"
		sed 's/^/    /' "$CD/$n/results/versions" 2>/dev/null
		grep -vE '^(criu|criu check|kernel):' "$CD/$n/results/features" 2>/dev/null | sed 's/^/    /'
		awk '$2 != "pass" || NF > 5 { $3 = $3 "s"; print "    " $0 }' "$CD/$n/results/status" 2>/dev/null
		for s in ${SCEN[$n]}; do
			[ -f "$CD/$n/results/$s.log" ] || continue
			grep -E '^FAIL' "$CD/$n/results/$s.log" | head -5 | sed "s/^/    $s: /"
		done
	done
	echo
	echo "compat: ${#NAMES[@]} userlands on $(uname -r) in $(($(date +%s) - T0)) s; results in $CD/<userland>/results"
	echo "compat: $PASSES passed, $FAILS failed (userland x scenario)"
}
FAILS=0
PASSES=0
report >"$CD/report.txt"
cat "$CD/report.txt"
[ "$FAILS" -eq 0 ]
