#!/bin/bash
# The sanitizer build (`make SAN=1`: clang, ASan + UBSan, into build/san,
# -fno-sanitize-recover=all so the first UB aborts), then the unit tests and
# two quick integration tests with those binaries (tardis-runc, tardisd and
# tardisctl under the sanitizers, against the real kernel, runc and CRIU).
# Every process writes its sanitizer reports to one directory (log_path), so
# a report from the agent tardis-runc starts in the background, or from a
# tardis-runc whose stderr containerd would have swallowed, is not missed:
# there must be none, and none in any test output either.
set -u
# shellcheck source=tests/lib/lib.sh
. "$(dirname "$0")/../lib/lib.sh"
cd "$ROOT" || exit 1
SAN_OUT=build/san
WORK=$TMP
REPORTS=$WORK/reports
mkdir -p "$REPORTS"
# Reports go to $REPORTS/san.<pid> (UBSan's and ASan's share the options
# parser: the same log_path for both).  LeakSanitizer is on (the default).
export ASAN_OPTIONS="log_path=$REPORTS/san"
export UBSAN_OPTIONS="log_path=$REPORTS/san:print_stacktrace=1:halt_on_error=1"
SAN_PATTERN='ERROR: (AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer)|runtime error:|Sanitizer:DEADLYSIGNAL|LeakSanitizer has encountered a fatal error'

t0=$SECONDS
if make --no-print-directory -j2 SAN=1 >"$WORK/build.log" 2>&1; then
	ok "make SAN=1 builds everything into $SAN_OUT ($((SECONDS - t0)) s)"
else
	fail "make SAN=1"
	tail -20 "$WORK/build.log" | sed 's/^/#   /'
	summary
	exit 1
fi

# Instrumented, and UB aborts instead of printing and going on.
cc_line=$(make --no-print-directory -n -B SAN=1 "$SAN_OUT/lib/log.o" 2>/dev/null | grep -- '-c user/lib/log.c')
if grep -q -- '-fsanitize=address,undefined' <<<"$cc_line" &&
	grep -q -- '-fno-sanitize-recover=all' <<<"$cc_line"; then
	ok "SAN=1 compiles with -fsanitize=address,undefined -fno-sanitize-recover=all"
else
	fail "SAN=1 compile line lacks the sanitizer flags: $cc_line"
fi
for b in tardis-runc tardis-runc-full tardisd tardisctl tests/unit; do
	if nm "$SAN_OUT/$b" 2>/dev/null | grep -q ' __asan_init$' &&
		nm "$SAN_OUT/$b" | grep -q '__ubsan_handle_.*_abort$'; then
		ok "$b: built with ASan and UBSan"
	else
		fail "$b: not built with ASan and UBSan"
	fi
done

# run NAME COMMAND...: one ok/FAIL for the suite's own verdict.
run() {
	local name=$1 log=$WORK/$1.out rc line t=$SECONDS
	shift
	"$@" >"$log" 2>&1
	rc=$?
	line=$(grep -E '[0-9]+ passed, [0-9]+ failed' "$log" | tail -1)
	if [ "$rc" -eq 0 ]; then
		ok "$name with the sanitizer build: ${line##*: } ($((SECONDS - t)) s)"
	else
		fail "$name with the sanitizer build (exit $rc): ${line##*: }"
		grep -E '^FAIL' "$log" | head -10 | sed 's/^/#   /'
	fi
	if grep -Eq "$SAN_PATTERN" "$log"; then
		fail "$name: sanitizer report in its output"
		grep -E "$SAN_PATTERN" "$log" | head -5 | sed 's/^/#   /'
	else
		ok "$name: no sanitizer report in its output"
	fi
}

run unit env CK_FORK=yes "$SAN_OUT/tests/unit"
run test_exit_monitor env OUT=$SAN_OUT bash tests/integration/test_exit_monitor.sh
run test_shim_runc env OUT=$SAN_OUT bash tests/integration/test_shim_runc.sh

# Every process's report file (empty files are not reports).
reports=$(find "$REPORTS" -type f -size +0 2>/dev/null)
if [ -z "$reports" ]; then
	ok "no sanitizer report from any process (tardis-runc, tardisd, tardisctl, tests)"
else
	fail "sanitizer reports from $(wc -l <<<"$reports") processes"
	for f in $reports; do
		echo "# --- $f"
		grep -E "$SAN_PATTERN|^    #[0-9] |SUMMARY" "$f" | head -12 | sed 's/^/#   /'
	done
fi
echo "# test_sanitizers took $((SECONDS - t0)) s"
summary
