#!/bin/bash
# `make test`: the unit tests, then every integration test; one summary line.
set -u
OUT=${OUT:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 1
total_pass=0
total_fail=0
failed=()

# What a failing suite said, repeated at the end (CI shows only the tail).
FAIL_NOTES=$(mktemp)
trap 'rm -f "$FAIL_NOTES"' EXIT
TIMES=()

run() { # run name command...
	local name=$1 log t0
	shift
	log=$(mktemp)
	echo "=== $name"
	t0=$(date +%s)
	"$@" 2>&1 | tee "$log"
	local rc=${PIPESTATUS[0]}
	local line
	TIMES+=("$name $(($(date +%s) - t0))")
	line=$(grep -E '[0-9]+ passed, [0-9]+ failed' "$log" | tail -1)
	if [[ $line =~ ([0-9]+)\ passed,\ ([0-9]+)\ failed ]]; then
		total_pass=$((total_pass + BASH_REMATCH[1]))
		total_fail=$((total_fail + BASH_REMATCH[2]))
	fi
	if [ "$rc" -ne 0 ]; then
		failed+=("$name")
		{
			echo "--- $name (status $rc):"
			grep -E 'FAIL - |^not ok|panic|timed out|ERROR|^# restore.log|fail [0-9]+s|not run' "$log" | head -n 25
		} >>"$FAIL_NOTES"
		[[ $line =~ ([0-9]+)\ failed ]] && [ "${BASH_REMATCH[1]}" -gt 0 ] || total_fail=$((total_fail + 1))
	fi
	rm -f "$log"
}

# compat's userlands (debootstrap, apt-get, tardis built in them) are made
# in the background while the tests run; its run at the end waits for them.
# make test leaves out compat's host line (the tests below are it).
if [ "${COMPAT:-1}" != 0 ] && [ -z "${TESTS:-}" ]; then
	export COMPAT_USERLANDS=${COMPAT_USERLANDS:-trixie sid} COMPAT_K8S_FLOWS=${COMPAT_K8S_FLOWS-reschedule crash}
	mkdir -p "$OUT/compat" && compat/run.sh --prepare >"$OUT/compat/prepare-bg.log" 2>&1 &
	COMPAT_PREP=$!
fi
run unit env CK_FORK=yes "$OUT/tests/unit"
for t in tests/integration/test_*.sh; do
	[ -e "$t" ] || continue
	if [ -n "${TESTS:-}" ] && [[ " $TESTS " != *" $(basename "$t" .sh) "* ]]; then
		continue
	fi
	run "$(basename "$t" .sh)" env OUT="$OUT" bash "$t"
done
# Other kernels in qemu (issue #4): VMTEST=0 leaves them out; vmtest's host
# line is left out (the tests above are it).
if [ "${VMTEST:-1}" != 0 ] && [ -z "${TESTS:-}" ]; then
	run vmtest env OUT="$OUT" VMTEST_NO_HOST=1 vmtest/run.sh
fi
# Other Debian userlands (issue 12): COMPAT=0 leaves them out.
if [ "${COMPAT:-1}" != 0 ] && [ -z "${TESTS:-}" ]; then
	wait "$COMPAT_PREP"
	run compat env OUT="$OUT" compat/run.sh
fi
echo "==="
echo "time (s): $(printf '%s\n' "${TIMES[@]}" | sort -k2,2nr | head -n 8 | tr ' \n' '=,' | sed 's/,$//') (slowest)"
cat "$FAIL_NOTES"
[ ${#failed[@]} -eq 0 ] || echo "failing: ${failed[*]}"
echo "all: $total_pass passed, $total_fail failed"
[ ${#failed[@]} -eq 0 ]
