#!/bin/bash
# Runs fuzz targets (built by `make fuzz-build` into build/fuzz/) for a
# bounded time each: run.sh SECONDS TARGET...
#
# Seeds: tests/fuzz/corpus/<target>/ (read only; crashers found once are kept
# there as regression inputs, and every seed runs first).  What libFuzzer
# finds goes to build/fuzz/corpus/<target>/, kept between runs; crashes to
# build/fuzz/artifacts/.  Prints one `ok/FAIL - <target>: N execs, N crashes`
# line per target and `N passed, N failed`.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 1
SECONDS_EACH=${1:?usage: run.sh SECONDS TARGET...}
shift
OUTDIR=build/fuzz
passed=0
failed=0
mkdir -p "$OUTDIR/artifacts"

# Scratch space on tmpfs (apply and validate fsync), removed per target.
TMPBASE=/dev/shm
[ -d "$TMPBASE" ] && [ -w "$TMPBASE" ] || TMPBASE=${TMPDIR:-/tmp}

export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

for t in "$@"; do
	bin=$OUTDIR/$t
	seeds=tests/fuzz/corpus/$t
	work=$OUTDIR/corpus/$t
	log=$OUTDIR/$t.log
	opts=(-max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048
		-print_final_stats=1 -artifact_prefix="$OUTDIR/artifacts/$t-")
	[ -f "tests/fuzz/$t.dict" ] && opts+=(-dict="tests/fuzz/$t.dict")
	case $t in
	fuzz_filediff_tar) opts+=(-max_len=65536) ;;
	fuzz_oci_config | fuzz_manifest) opts+=(-max_len=16384) ;;
	esac
	if [ ! -x "$bin" ]; then
		echo "FAIL - $t: not built ($bin)"
		failed=$((failed + 1))
		continue
	fi
	mkdir -p "$work" "$seeds"
	export FUZZ_TMPDIR
	FUZZ_TMPDIR=$(mktemp -d "$TMPBASE/tardis-fuzz-run.XXXXXX")
	before=$(ls "$OUTDIR/artifacts" | grep -c "^$t-")
	"$bin" "${opts[@]}" "$work" "$seeds" >"$log" 2>&1
	rc=$?
	rm -rf "$FUZZ_TMPDIR"
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	[ -n "$execs" ] || execs=$(grep -oE '^#[0-9]+' "$log" | tail -1 | tr -d '#')
	after=$(ls "$OUTDIR/artifacts" | grep -c "^$t-")
	crashes=$((after - before))
	if [ "$rc" -eq 0 ] && [ "$crashes" -eq 0 ] &&
		! grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:|fuzz invariant failed' "$log"; then
		echo "ok - $t: ${execs:-0} execs, 0 crashes ($(ls "$work" | wc -l) corpus inputs)"
		passed=$((passed + 1))
	else
		[ "$crashes" -gt 0 ] || crashes=1
		echo "FAIL - $t: ${execs:-0} execs, $crashes crashes (exit $rc; log $log)"
		grep -E 'ERROR: |runtime error:|fuzz invariant failed|SUMMARY:|Test unit written to' "$log" |
			head -8 | sed 's/^/#   /'
		failed=$((failed + 1))
	fi
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
