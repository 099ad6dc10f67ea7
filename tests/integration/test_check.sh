#!/bin/bash
# tardisctl check, the node preflight, against real things: the real BPF
# program loaded by our own tardisd (private state and pin dirs), the real
# runc, CRIU 4.2.1 (`criu check` and a real dump of a TCP listener), CRIU
# 4.1.1 (cannot dump a socket on 6.x kernels) and the distribution's CRIU
# 3.17 when they are there, a missing and a failing CRIU, no agent, no pins,
# a broken image root, containerd configs with and without tardis-runc.
# shellcheck source=tests/lib/lib.sh
. "$(dirname "$0")/../lib/lib.sh"

CTL=$BIN/tardisctl
STATE=$TARDIS_STATE_DIR
PROBE_TMP=$TMP/probe-tmp
mkdir -p "$PROBE_TMP"
CRIU_421=$ROOT/build/criu/criu-4.2.1/criu/criu
# CRIU 4.1.1, built (cached) by scripts/build-criu.sh: on this 6.18 kernel
# it passes `criu check` but cannot dump a TCP socket.
CRIU_411=$("$ROOT/scripts/build-criu.sh" 4.1.1 2>"$TMP/build-criu-4.1.1.log" | tail -1) || CRIU_411=
if [ -x "$CRIU_421" ]; then export TARDIS_CRIU=$CRIU_421; else need_criu; fi
GOOD_CRIU=$TARDIS_CRIU

cat >"$TMP/containerd-tardis.toml" <<'EOF'
version = 2
[plugins]
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
      # BinaryName = "/usr/sbin/runc"
      BinaryName = "/usr/local/bin/tardis-runc"
[timeouts]
  "io.containerd.timeout.shim.cleanup" = "2m30s"
EOF
grep -v "timeout" "$TMP/containerd-tardis.toml" >"$TMP/containerd-5s.toml"
cat >"$TMP/containerd-plain.toml" <<'EOF'
version = 2
[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
  BinaryName = "/usr/sbin/runc"
EOF
CTD="--containerd-config $TMP/containerd-tardis.toml"

# run_check ARGS...: tardisctl check ARGS; output in $TMP/out, status in RC.
run_check() {
	TMPDIR=$PROBE_TMP "$CTL" check "$@" >"$TMP/out" 2>"$TMP/err"
	RC=$?
	sed 's/^/  | /' "$TMP/out"
}
line() { grep -q -- "$1" "$TMP/out"; }         # line PATTERN: the output has it
no_fail() { ! grep -q '^FAIL' "$TMP/out"; }

# ---- misuse ------------------------------------------------------------------
for args in "extra" "--dump-timeout 0" "--dump-timeout 5x" "--bogus"; do
	# shellcheck disable=SC2086
	"$CTL" check $args >/dev/null 2>&1
	check "misuse, rc 2: tardisctl check $args" [ $? = 2 ]
done
out=$("$CTL" check --help)
check "check --help: its usage" [ "${out#usage: tardisctl check}" != "$out" ]
check "tardisctl --help lists check" bash -c '"$1" --help | grep -q "^  check "' _ "$CTL"

# ---- no agent, no pins, no state dir ----------------------------------------
run_check --no-dump $CTD
check "no agent: rc 1" [ "$RC" = 1 ]
check "no pins: FAIL exit monitor, with the fix" \
	line "^FAIL  exit monitor: no program pinned at $TARDIS_BPF_DIR/prog.* -- fix: start tardisd"
check "no state dir: FAIL naming it" line "^FAIL  state dir: $STATE: No such file"
check "no agent: FAIL agent with the fix" line "^FAIL  agent: .* -- fix: start tardisd"
check "the check created no state dir" [ ! -e "$STATE" ]
check "runc: ok with its version" line "^ok    runc: .*, version [0-9]"
check "bpffs and BTF ok" bash -c 'grep -q "^ok    bpffs:" "$1" && grep -q "^ok    btf:" "$1"' _ "$TMP/out"

# ---- the real agent: all ok ---------------------------------------------------
check "tardisd starts" start_agent
run_check $CTD
check "all ok: rc 0" [ "$RC" = 0 ]
check "  ...and no FAIL line" no_fail
check "criu: ok with version 4.2.1" line "^ok    criu: $GOOD_CRIU, version 4.2.1"
check "criu check: ok" line "^ok    criu check: Looks good"
check "criu dump of a TCP listener: ok" line "^ok    criu dump: dumped a process listening on a TCP socket"
check "exit monitor: loaded and attached" \
	line "^ok    exit monitor: program tardis_exit.* attached to sched_process_exit .*pinned at $TARDIS_BPF_DIR"
check "agent: our tardisd, this state and pin dir" \
	line "^ok    agent: tardisd pid $AGENT_PID, state dir $STATE, pin dir $TARDIS_BPF_DIR\$"
check "image root: ok" line "^ok    image root: $STATE/checkpoints"
check "containerd: names tardis-runc" line "^ok    containerd: .*BinaryName = /usr/local/bin/tardis-runc"
check "runc as cached: a note before the first checkpoint" line "^note  runc as cached: .* not asked yet"
check "containerd: its shim cleanup timeout covers checkpoint_timeout" \
	line "^ok    containerd shim cleanup: .* 150 s >= checkpoint_timeout 120 s"
check "the dump test left no temp dir" [ -z "$(ls -A "$PROBE_TMP")" ]
run_check --json $CTD
check "--json: ok true, 14 checks, none failed" \
	bash -c 'jq -e ".ok == true and (.checks | length) == 14 and all(.checks[]; .status != \"fail\")" "$1" >/dev/null' _ "$TMP/out"

# ---- CRIU: missing, failing, unable to dump a server ----------------------------
TARDIS_CRIU=$TMP/no-such-criu run_check --no-dump $CTD
check "missing CRIU: rc 1" [ "$RC" = 1 ]
check "missing CRIU: FAIL naming it, with the fix" \
	line "^FAIL  criu: CRIU not found: $TMP/no-such-criu: No such file or directory -- fix: run scripts/build-criu.sh"
check "missing CRIU: the rest is ok" [ "$(grep -c '^FAIL' "$TMP/out")" = 1 ]

cat >"$TMP/bad-criu" <<'EOF'
#!/bin/sh
case "$1" in
--version) echo "Version: 9.9" ;;
*) echo "Error (criu/fake.c:1): fake: this kernel is too new" >&2; exit 1 ;;
esac
EOF
chmod +x "$TMP/bad-criu"
TARDIS_CRIU=$TMP/bad-criu run_check $CTD
check "failing criu check: rc 1" [ "$RC" = 1 ]
check "failing criu check: FAIL with its error line" \
	line "^FAIL  criu check: Error (criu/fake.c:1): fake: this kernel is too new (exit status 1) -- fix:"
check "failing criu: the dump test fails too" line "^FAIL  criu dump: "

if [ -x "$CRIU_411" ]; then
	TARDIS_CRIU=$CRIU_411 run_check --dump-timeout 60s $CTD
	check "CRIU 4.1.1: criu check passes" line "^ok    criu check:"
	check "CRIU 4.1.1: FAIL criu dump with CRIU's error (a TCP socket option)" \
		line "^FAIL  criu dump: cannot dump a process with a listening TCP socket: Error (criu/sockets.c:[0-9]*): sockets: Can't get 1:"
	check "CRIU 4.1.1: rc 1" [ "$RC" = 1 ]
	check "  ...and the dump test left no temp dir" [ -z "$(ls -A "$PROBE_TMP")" ]
else
	echo "# CRIU 4.1.1 could not be built: its socket case not run"
	tail -3 "$TMP/build-criu-4.1.1.log" | sed 's/^/#   /'
fi

DISTRO_CRIU=${DISTRO_CRIU:-}
for c in /usr/sbin/criu "$ROOT/build/vmtest/criu/bookworm/usr/sbin/criu"; do
	[ -n "$DISTRO_CRIU" ] || { [ -x "$c" ] && DISTRO_CRIU=$c; }
done
if [ -n "$DISTRO_CRIU" ] && ! "$DISTRO_CRIU" check >/dev/null 2>&1; then
	TARDIS_CRIU=$DISTRO_CRIU run_check --no-dump $CTD
	check "distribution CRIU ($DISTRO_CRIU) failing here: FAIL criu check with its error" \
		line "^FAIL  criu check: Error ("
else
	echo "# no distribution CRIU that fails \`criu check\` here: its case not run"
fi

# ---- runc, image root, containerd config ------------------------------------------
TARDIS_RUNC=$TMP/no-runc run_check --no-dump $CTD
check "missing runc: FAIL naming it" line "^FAIL  runc: not executable .*$TMP/no-runc -- fix:"
rmdir "$STATE/checkpoints" 2>/dev/null
touch "$STATE/checkpoints"
run_check --no-dump $CTD
check "image root not a directory: FAIL" line "^FAIL  image root: $STATE/checkpoints is not a directory"
rm -f "$STATE/checkpoints"
run_check --no-dump --containerd-config "$TMP/containerd-plain.toml"
check "containerd config without tardis-runc: FAIL with the fix" \
	line "^FAIL  containerd: .*no runtime runs tardis-runc (it names /usr/sbin/runc) -- fix: set BinaryName"
run_check --no-dump --containerd-config "$TMP/containerd-5s.toml"
check "containerd's default shim cleanup timeout (5 s): FAIL with the fix" \
	line "^FAIL  containerd shim cleanup: .* 5 s (containerd's default), checkpoint_timeout 120 s: .* -- fix: add \[timeouts\]"
run_check --no-dump --containerd-config "$TMP/no-config.toml"
check "a containerd config given but missing: FAIL" line "^FAIL  containerd: cannot read"
run_check --no-dump --containerd-config none
check "--containerd-config none: no containerd line" bash -c '! grep -q containerd "$1"' _ "$TMP/out"

# ---- an agent of another pin dir; the agent stopped, pins left ----------------------
OTHER_PINS=$TARDIS_BPF_DIR-2
"$BIN/tardisd" --state-dir "$TMP/state2" --bpf-dir "$OTHER_PINS" --log-file "$TMP/tardisd2.log" &
AGENT2=$!
on_cleanup "kill $AGENT2 2>/dev/null; wait $AGENT2 2>/dev/null; $BIN/tardisd --unload --bpf-dir $OTHER_PINS >/dev/null 2>&1"
check "a second tardisd starts (its own state and pin dirs)" \
	wait_up 100 0.05 "$AGENT2" grep -q "tardisd $AGENT2 running" "$TMP/tardisd2.log"
TARDIS_BPF_DIR=$OTHER_PINS run_check --no-dump $CTD
check "our state dir's agent does not read that pin dir: FAIL agent" \
	line "^FAIL  agent: tardisd pid $AGENT_PID runs for $STATE but does not read the monitor pinned at $OTHER_PINS -- fix:"
check "  ...while the monitor there is ok" line "^ok    exit monitor: .*pinned at $OTHER_PINS"
TARDIS_STATE_DIR=$TMP/state2 TARDIS_BPF_DIR=$OTHER_PINS run_check --no-dump $CTD
check "the second agent with its own dirs: ok" line "^ok    agent: tardisd pid $AGENT2, "

run_check --no-dump $CTD
check "before stopping: no FAIL" no_fail
stop_agent TERM
run_check --no-dump $CTD
check "agent stopped: rc 1" [ "$RC" = 1 ]
check "agent stopped: FAIL agent with the fix" \
	line "^FAIL  agent: no tardisd running for $STATE .* -- fix: start tardisd"
TARDIS_BPF_DIR=$TARDIS_BPF_DIR-other run_check --no-dump $CTD
check "no pins at this pin dir: FAIL exit monitor" line "^FAIL  exit monitor: no program pinned at $TARDIS_BPF_DIR-other"

summary
