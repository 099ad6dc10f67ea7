# Shared by the integration tests: a private agent, counters, cleanup.
# Every test gets its own temp dir, state dir and bpffs pin dir, and ends
# only the processes it started, by pid.
# shellcheck shell=bash

OUT=${OUT:-build}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN=$ROOT/$OUT
PASSED=0
FAILED=0
TEST_NAME=$(basename "$0" .sh)
TMP=$(mktemp -d "/tmp/tardis-$TEST_NAME.XXXXXX")
export TARDIS_STATE_DIR=$TMP/state
export TARDIS_BPF_DIR=/sys/fs/bpf/tardis-test-$$
export TARDIS_CONFIG=$TMP/none.conf
# Every network-fs or checkpoint host path a test names is in its temp dir
# (and in TEST_IMAGE_ROOTS: what a wrapper test lends, e.g. its NFS mounts).
export TARDIS_IMAGE_ROOTS=$TMP${TEST_IMAGE_ROOTS:+:$TEST_IMAGE_ROOTS}
AGENT_PID=
CLEANUP_HOOKS=()

ok() { PASSED=$((PASSED + 1)); echo "ok - $*"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL - $*"; }
not() { ! "$@"; } # not command...: for check and wait_for
# COUNT_WRITE: how a test container's counter (sh, its count in memory, i)
# writes it to /work/count, a work dir that lives on beside its images:
# in place and at a fixed width, never truncated or renamed.  A checkpoint
# may catch the shell with the file open; CRIU then records the file's size
# and restores only while it has that size (it refuses the image otherwise:
# a fresh start) -- with a fixed width it always has.
COUNT_WRITE='printf "%10d\n" "$i" 1<>/work/count'
# count_file FILE: the count a counter wrote there (0 before the first).
count_file() {
	local c
	c=$(tr -d ' \n' 2>/dev/null <"$1")
	echo "${c:-0}"
}

check() { # check "description" command...
	local what=$1
	shift
	if "$@"; then ok "$what"; else fail "$what"; return 1; fi
}

# Starts tardisd in the background with the test's dirs; waits until it runs.
start_agent() {
	"$BIN/tardisd" --log-file "$TMP/tardisd.log" --log-level "${AGENT_LOG_LEVEL:-info}" "$@" &
	AGENT_PID=$!
	wait_up 100 0.05 "$AGENT_PID" grep -q "tardisd $AGENT_PID running" "$TMP/tardisd.log" && return 0
	echo "tardisd did not start:" >&2
	tail -20 "$TMP/tardisd.log" >&2
	return 1
}

# wait_up TRIES PAUSE PID command...: polls (TRIES times, PAUSE seconds
# apart) until the command succeeds (its output is dropped); gives up early
# once PID, the process that should answer it, is gone.
wait_up() {
	local tries=$1 pause=$2 pid=$3
	shift 3
	for _ in $(seq 1 "$tries"); do
		"$@" >/dev/null 2>&1 && return 0
		kill -0 "$pid" 2>/dev/null || return 1
		sleep "$pause"
	done
	return 1
}

stop_agent() { # stop_agent [signal]
	[ -n "$AGENT_PID" ] || return 0
	kill "-${1:-TERM}" "$AGENT_PID" 2>/dev/null
	wait "$AGENT_PID" 2>/dev/null
	AGENT_PID=
}

# log_count PATTERN FILE: lines of FILE matching PATTERN (grep -c), once
# at least MIN (default 1) are there or 60 s passed: the agent logs an
# "exit recorded" line after its batch is durable, a moment after the
# record itself is visible (thousands of fdatasyncs on a loaded disk:
# tens of seconds).
log_count() {
	wait_for 60 log_has "$1" "$2" "${3:-1}"
	grep -c -- "$1" "$2" 2>/dev/null || true
}
log_has() { # log_has PATTERN FILE MIN
	local n
	n=$(grep -c -- "$1" "$2" 2>/dev/null)
	[ "${n:-0}" -ge "$3" ]
}

# wait_for SECONDS command...: polls until the command succeeds.
wait_for() {
	local deadline=$((SECONDS + $1))
	shift
	until "$@"; do
		[ $SECONDS -lt $deadline ] || return 1
		sleep 0.05
	done
}

on_cleanup() { CLEANUP_HOOKS+=("$*"); }

# need_criu: CRIU and TARDIS_CRIU (exported), a CRIU that works on this
# kernel: one already set (vmtest: a distribution criu) wins, else
# scripts/build-criu.sh's.  Without one the test fails here.
need_criu() {
	CRIU=${TARDIS_CRIU:-$("$ROOT/scripts/build-criu.sh")} || { fail "no working CRIU"; summary; exit 1; }
	export TARDIS_CRIU=$CRIU
}

# stop_agent_of STATE_DIR: the agent tardis-runc started on demand for
# STATE_DIR, ended by pid, only if that pid is still a tardisd using it.
stop_agent_of() {
	local apid
	apid=$(cat "$1/tardisd.pid" 2>/dev/null)
	if [ -n "$apid" ] && [ "$(cat "/proc/$apid/comm" 2>/dev/null)" = tardisd ] &&
		tr '\0' '\n' <"/proc/$apid/environ" 2>/dev/null | grep -qx "TARDIS_STATE_DIR=$1"; then
		kill "$apid" 2>/dev/null
		sleep 0.2
	fi
}

# umount_below DIR [EXCEPT]: every mount below DIR (but EXCEPT), deepest
# first, lazily.
umount_below() {
	local m
	for m in $(findmnt -rn -o TARGET | grep "^$1/" | grep -vx "${2:-/}" | sort -r); do
		umount -l "$m" 2>/dev/null
	done
	return 0
}

# room_for_processes N: N live processes at once need pids (kernel.pid_max
# raised for the test, restored on exit) and, for a lowered soft limit,
# RLIMIT_NPROC (root is not bound by it otherwise).
room_for_processes() {
	local n=$1 old need nproc
	old=$(cat /proc/sys/kernel/pid_max)
	need=$((32768 + n))
	if [ "$old" -lt "$need" ]; then
		echo "# raising kernel.pid_max $old -> $need for the test"
		echo "$need" >/proc/sys/kernel/pid_max
		on_cleanup "echo $old >/proc/sys/kernel/pid_max"
	fi
	check "pid_max ($(cat /proc/sys/kernel/pid_max)) leaves room for $n processes" \
		[ "$(cat /proc/sys/kernel/pid_max)" -ge "$need" ]
	nproc=$(ulimit -u)
	if [ "$nproc" != unlimited ] && [ "$nproc" -lt $((n + 1000)) ]; then
		ulimit -u $((n + 1000)) 2>/dev/null || ulimit -S -u "$(ulimit -H -u)"
	fi
}

cleanup() {
	local h
	# A failed test shows the end of tardis-runc's log (compat and vmtest
	# keep only the test's output; its TMP goes).
	if [ "$FAILED" -gt 0 ] && [ -s "${TARDIS_LOG_FILE:-}" ]; then
		echo "# the last 150 lines of $TARDIS_LOG_FILE:"
		tail -n 150 "$TARDIS_LOG_FILE" | sed 's/^/# log| /'
	fi
	for h in "${CLEANUP_HOOKS[@]}"; do eval "$h" || true; done
	stop_agent TERM
	stop_agent_of "$TARDIS_STATE_DIR"
	"$BIN/tardisd" --unload >/dev/null 2>&1 || true
	[ -n "${KEEP_TMP:-}" ] || rm -rf "$TMP"
}
trap cleanup EXIT
# A test ended by a signal (vmtest's and compat's per-scenario timeout: TERM
# to its process group) still cleans up after itself.
trap 'exit 143' TERM
trap 'exit 130' INT

summary() {
	echo "$TEST_NAME: $PASSED passed, $FAILED failed"
	[ "$FAILED" -eq 0 ]
}
