#!/bin/bash
# `make fuzz-ci`: every libFuzzer target of tests/fuzz/ (one per parser:
# runc's command line, ctr events, config.json, exit records and state JSON,
# image manifests, files.tar/deleted.list, tardis.conf), built with ASan and
# UBSan, run from its seed corpus for FUZZ_CI_SECONDS (8 s) each.  One
# `ok/FAIL - <target>: N execs, N crashes` line per target.  `make fuzz`
# runs the same targets longer (FUZZ_SECONDS, 300 s each).
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 1
t0=$SECONDS
log=$(mktemp /tmp/tardis-test_fuzz.XXXXXX)
trap 'rm -f "$log"' EXIT

make --no-print-directory -j2 fuzz-build >"$log" 2>&1
if [ $? -ne 0 ]; then
	echo "FAIL - the fuzz targets do not build"
	grep -E 'error|Error' "$log" | head -20 | sed 's/^/#   /'
	echo "test_fuzz: 0 passed, 1 failed"
	exit 1
fi
make --no-print-directory fuzz-ci FUZZ_CI_SECONDS="${FUZZ_CI_SECONDS:-8}" >"$log" 2>&1
rc=$?
grep -E '^(ok|FAIL) - |^#   ' "$log"
line=$(grep -E '^fuzz: [0-9]+ passed, [0-9]+ failed' "$log" | tail -1)
[[ $line =~ ([0-9]+)\ passed,\ ([0-9]+)\ failed ]] || {
	tail -20 "$log" | sed 's/^/#   /'
	echo "test_fuzz: 0 passed, 1 failed"
	exit 1
}
passed=${BASH_REMATCH[1]}
failed=${BASH_REMATCH[2]}
[ "$rc" -eq 0 ] || [ "$failed" -gt 0 ] || failed=1
echo "# test_fuzz took $((SECONDS - t0)) s (crash inputs, if any, in build/fuzz/artifacts/)"
echo "test_fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
