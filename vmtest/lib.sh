# Shared by vmtest/run.sh (the host row) and vmtest/guest.sh (inside a VM):
# probe the kernel's features by name, then run a list of scenarios
# (tests/test_<scenario>.sh) and record one status line per scenario.
# shellcheck shell=bash

# Scenarios that need a CRIU.
VMTEST_NEEDS_CRIU=" shim_runc shim_containerd cross_node cross_node_nfs netfs_hang_nfs netfs_nfs servers "

# The cases of tests/integration/test_servers.sh that vmtest runs (its
# SERVER_CASES): the whole suite takes about 10 minutes under TCG, these
# five about 3.  own-delete: a runc-made netns (lo and a net.* sysctl back
# after the restore; TCP v4/v6, UDP, UNIX stream/datagram, socketpair, pipe,
# FIFO); path-delete: the same in a path-given netns (CRIU's lock lifted);
# est-close / est-keep: a path-given netns, an established TCP connection
# from another netns closed (tcp-close) or kept (TCP repair) across the
# checkpoint; path-fallback: an image not restored in a path-given netns,
# CRIU's network lock removed before the fresh start.  VMTEST_SERVER_CASES overrides it; make test runs
# every case on the host.
VMTEST_SERVER_CASES=${VMTEST_SERVER_CASES:-own-delete path-delete est-close est-keep path-fallback}

# vm_features RESULTS_DIR: what this kernel offers, by name, one line each
# ("feature: value"), into RESULTS_DIR/features; the report prints it and
# uses it to say why something cannot work.  The BPF part is a real load:
# tardisd -v in a private pin dir, whose libbpf/verifier log is kept in
# RESULTS_DIR/tardisd-probe.log.
vm_features() {
	local res=$1 f=$1/features probe=/tmp/vmtest-probe.$$ pins=/sys/fs/bpf/vmtest-probe-$$ pid line i
	{
		echo "kernel: $(uname -r)"
		if [ -r /sys/kernel/btf/vmlinux ]; then
			echo "btf: yes"
			if bpftool btf dump file /sys/kernel/btf/vmlinux 2>/dev/null |
				grep -q "TYPEDEF 'btf_trace_sched_process_exit'"; then
				echo "tp_btf sched_process_exit: yes"
			else
				echo "tp_btf sched_process_exit: no (btf_trace_sched_process_exit not in BTF)"
			fi
		else
			echo "btf: BTF missing (no /sys/kernel/btf/vmlinux)"
		fi
		if grep -qw bpf /proc/filesystems; then echo "bpffs: yes"; else echo "bpffs: missing"; fi
		mkdir -p "$probe"
		"$ROOT/$OUT/tardisd" -v --state-dir "$probe/state" --bpf-dir "$pins" \
			--log-file "$res/tardisd-probe.log" --log-level debug </dev/null >/dev/null 2>&1 &
		pid=$!
		line=
		for i in $(seq 1 300); do
			line=$(grep -o 'running: .*' "$res/tardisd-probe.log" 2>/dev/null)
			[ -z "$line" ] && kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if [ -n "$line" ]; then
			echo "tardisd load: ok, ${line##* }"
			kill "$pid" 2>/dev/null
		else
			echo "tardisd load: FAILED: $(grep -E ' (error|warn[a-z]*): ' "$res/tardisd-probe.log" | tail -1)"
			kill -KILL "$pid" 2>/dev/null
		fi
		wait "$pid" 2>/dev/null
		"$ROOT/$OUT/tardisd" --unload --bpf-dir "$pins" >/dev/null 2>&1
		rm -rf "$probe"
		if [ -n "${TARDIS_CRIU:-}" ]; then
			echo "criu: $TARDIS_CRIU ($("$TARDIS_CRIU" --version 2>/dev/null | head -1))"
			echo "criu check: $("$TARDIS_CRIU" check 2>&1 | tail -1)"
		else
			echo "criu: none"
		fi
		[ -z "${TARDIS_CRIU_OLD:-}" ] ||
			echo "older criu: $TARDIS_CRIU_OLD ($("$TARDIS_CRIU_OLD" --version 2>/dev/null | head -1)), check: $("$TARDIS_CRIU_OLD" check 2>&1 | tail -1)"
	} >"$f" 2>&1
}

# vm_run_scenarios RESULTS_DIR SCENARIO...: runs each tests/integration/test_<s>.sh from
# the repository root ($ROOT) with OUT=$OUT, log in RESULTS_DIR/<s>.log,
# a line "<s> <pass|fail|skip> <seconds> <passed> <failed> <note>" appended
# to RESULTS_DIR/status.  VMTEST_SCENARIO_TIMEOUT bounds each one.
vm_run_scenarios() {
	local res=$1 s t0 rc dur line p f verdict note sk
	shift
	for s in "$@"; do
		echo "vmtest: [$(uname -r)] $s ..." >&2
		if [[ $VMTEST_NEEDS_CRIU == *" $s "* ]] && [ -z "${TARDIS_CRIU:-}" ]; then
			echo "$s skip 0 0 0 no CRIU for this kernel in vmtest/kernels" >>"$res/status"
			continue
		fi
		if [ ! -f "$ROOT/tests/integration/test_$s.sh" ]; then
			echo "$s fail 0 0 1 tests/integration/test_$s.sh does not exist" >>"$res/status"
			continue
		fi
		t0=$(date +%s)
		(cd "$ROOT" && SERVER_CASES=$VMTEST_SERVER_CASES OUT=$OUT timeout -k 10 "${VMTEST_SCENARIO_TIMEOUT:-600}" \
			bash "tests/integration/test_$s.sh") </dev/null >"$res/$s.log" 2>&1
		rc=$?
		dur=$(($(date +%s) - t0))
		line=$(grep -E '[0-9]+ passed, [0-9]+ failed' "$res/$s.log" | tail -1)
		p=0 f=0
		if [[ $line =~ ([0-9]+)\ passed,\ ([0-9]+)\ failed ]]; then
			p=${BASH_REMATCH[1]} f=${BASH_REMATCH[2]}
		fi
		# "SKIP - what: why" lines (test_servers on a CRIU that cannot do a
		# case): counted and named in the note, never as passed.
		sk=$(grep -c '^SKIP - ' "$res/$s.log")
		note=
		[ "$sk" -eq 0 ] || note="$sk skipped: $(grep '^SKIP - ' "$res/$s.log" | sed 's/^SKIP - //' | paste -sd ';' -)"
		if [ "$rc" -eq 0 ] && [ "$f" -eq 0 ] && [ "$p" -gt 0 ]; then
			verdict=pass
		elif [ "$rc" -eq 0 ] && [ "$f" -eq 0 ] && [ "$sk" -gt 0 ]; then
			verdict=skip # nothing to check on this kernel (cross_node_nfs without nfsd)
		else
			verdict=fail
			case $rc in
			124 | 137) note="timed out after ${VMTEST_SCENARIO_TIMEOUT:-600} s${note:+; $note}" ;;
			*) note="rc=$rc${note:+; $note}" ;;
			esac
		fi
		echo "$s $verdict $dur $p $f $note" >>"$res/status"
		echo "vmtest: [$(uname -r)] $s $verdict in ${dur}s ($p passed, $f failed)" >&2
	done
}
