#!/bin/bash
# PID 1 inside a vmtest VM, reached by switch_root from the initramfs with
# the host's root (9p) as /.  Mounts what a machine has (proc, sys, devtmpfs,
# devpts, /dev/shm, /run, /tmp, bpffs, tracefs, cgroup2), makes this
# kernel's modules visible at /lib/modules/$(uname -r) for the kernel's
# module autoloading, brings lo up, runs the scenarios named by the job file
# (tardis.job= on the kernel command line, written by vmtest/run.sh), writes
# every result under the job's results dir on the host, and powers off.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root LANG=C.UTF-8
umask 022

exec </dev/null >/dev/console 2>&1
say() { echo "vmtest-guest: $*"; }

off() {
	sync
	busybox poweroff -f
	echo o >/proc/sysrq-trigger
	sleep 60
}

arg() {
	local w
	for w in $(cat /proc/cmdline); do
		case $w in "$1"=*) echo "${w#*=}" ;; esac
	done
}

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,gid=5 devpts /dev/pts
[ -e /dev/ptmx ] || ln -s pts/ptmx /dev/ptmx
mount -t tmpfs -o mode=1777 shm /dev/shm
mount -t tmpfs -o mode=0755 run /run
# The guest's /tmp is its own tmpfs (overlay upperdirs cannot live on 9p),
# but a checkout under the host's /tmp (CI may clone there) must stay
# visible: its top directory is carried over the tmpfs with a bind mount.
JOB=$(arg tardis.job)
keep=
case $JOB in /tmp/?*/*) keep=yes ;; esac
if [ -n "$keep" ]; then
	top=${JOB#/tmp/}
	keep=/tmp/${top%%/*}
	mkdir -p /run/vmtest-keep
	mount --bind "$keep" /run/vmtest-keep
fi
mount -t tmpfs -o mode=1777 tmp /tmp
if [ -n "$keep" ]; then
	mkdir -p "$keep"
	mount --move /run/vmtest-keep "$keep"
fi
mount -t bpf -o mode=0700 bpf /sys/fs/bpf
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
mount -t cgroup2 cgroup2 /sys/fs/cgroup
ln -sf /proc/self/fd /dev/fd 2>/dev/null
ln -sf /proc/self/fd/0 /dev/stdin 2>/dev/null
ln -sf /proc/self/fd/1 /dev/stdout 2>/dev/null
ln -sf /proc/self/fd/2 /dev/stderr 2>/dev/null
ip link set lo up 2>/dev/null || busybox ip link set lo up
hostname vmtest 2>/dev/null

JOB=$(arg tardis.job)
if [ -z "$JOB" ] || [ ! -r "$JOB" ]; then
	say "no job file (tardis.job=$JOB)"
	off
fi
# NAME ROOT OUT RESULTS MODULES SCENARIOS CRIU CRIU_OLD VMTEST_SCENARIO_TIMEOUT
# shellcheck disable=SC1090
. "$JOB"
export OUT

# This kernel's modules, for the kernel's own request_module() (overlay,
# nf_tables, ...): a guest-only tmpfs over /lib/modules, nothing of the
# host's tree is changed.
KVER=$(uname -r)
if [ -d "$MODULES/$KVER" ]; then
	mount -t tmpfs -o mode=0755 modules /lib/modules
	mkdir -p "/lib/modules/$KVER"
	mount --bind -o ro "$MODULES/$KVER" "/lib/modules/$KVER"
fi

# shellcheck source=vmtest/lib.sh
. "$ROOT/vmtest/lib.sh"
[ -z "$CRIU" ] || export TARDIS_CRIU=$CRIU
[ -z "${CRIU_OLD:-}" ] || export TARDIS_CRIU_OLD=$CRIU_OLD
say "kernel $KVER up after $(cut -d' ' -f1 /proc/uptime) s; scenarios: $SCENARIOS"
: >"$RESULTS/status"
vm_features "$RESULTS"
sed 's/^/vmtest-guest: /' "$RESULTS/features"
if [ -n "${CMD:-}" ]; then # VMTEST_CMD: a diagnostic command instead
	(cd "$ROOT" && bash -c "$CMD") >"$RESULTS/cmd.log" 2>&1
	echo "cmd rc=$?" >>"$RESULTS/cmd.log"
else
	# shellcheck disable=SC2086
	vm_run_scenarios "$RESULTS" $SCENARIOS 2>&1
fi
dmesg >"$RESULTS/dmesg.log" 2>/dev/null
echo "done $(cut -d' ' -f1 /proc/uptime)" >"$RESULTS/done"
say "done"
off
