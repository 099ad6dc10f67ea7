/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The contract between the exit monitor's BPF program and user space:
 * the ring-buffer event, the map keys and values.  Fixed-width, no pointers.
 */
#ifndef TARDIS_EXIT_H
#define TARDIS_EXIT_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define TARDIS_COMM_LEN 16

/* Where the exit was caught: why the kernel program kept it. */
enum tardis_exit_reason {
	TARDIS_REASON_PIDNS_INIT = 1, /* pid 1 of a non-root pid namespace */
	TARDIS_REASON_REGISTERED = 2, /* host pid registered by tardis-runc */
};

/* One dead thread group.  `status` is exactly what waitpid() returns. */
struct tardis_exit_event {
	__u32 tgid;         /* host (init-namespace) tgid */
	__u32 status;       /* raw wait status */
	__u64 start_time;   /* leader start, clock ticks since boot (/proc stat #22) */
	__u64 start_ns;     /* leader start_boottime, ns */
	__u64 cgroup_id;    /* cgroup v2 id of the exiting task */
	__u64 exit_ns;      /* bpf_ktime_get_ns() at the group's death (CLOCK_MONOTONIC) */
	__u32 pidns_level;  /* level of the leader's pid namespace (0 = root) */
	__u32 pidns_inum;   /* inode number of that pid namespace */
	__u32 reason;       /* bitmask of enum tardis_exit_reason */
	__u32 cpu;
	char comm[TARDIS_COMM_LEN];
};

/* Key of the recent-exits map: a process, told apart from pid reuse. */
struct tardis_exit_key {
	__u32 tgid;
	__u32 pad;
	__u64 start_time; /* clock ticks, as in /proc/<pid>/stat */
};

/* Value of the registered-pids map (key: host tgid, __u32). */
struct tardis_reg {
	__u64 start_time;    /* clock ticks; 0 = do not check */
	__u64 registered_ns; /* CLOCK_MONOTONIC at registration */
};

/* The single value of the flags map.  host_registrations becomes 1 the
 * first time a host-pid-namespace init is registered and stays so: until
 * then the program skips the registered-map lookup, the costly part of
 * its filter for unrelated exits. */
struct tardis_flags {
	__u32 host_registrations;
	__u32 pad;
};

/* The single value of the per-CPU counters map. */
/* No counter on the path of unrelated exits: even a per-CPU increment
 * costs a third of the program there. */
struct tardis_counters {
	__u64 captured;    /* container-init / registered exits reported */
	__u64 drops;       /* ring buffer full: event kept only in recent_exits */
	__u64 duplicates;  /* second report of one group death, suppressed */
	__u64 recent_full; /* recent_exits insert failed (other than duplicate) */
};

/* Names of the pinned objects under the pin directory. */
#define TARDIS_PIN_DIR_DEFAULT "/sys/fs/bpf/tardis"
#define TARDIS_PIN_PROG "prog"
#define TARDIS_PIN_LINK "link"
#define TARDIS_PIN_EVENTS "events"
#define TARDIS_PIN_REGISTERED "registered"
#define TARDIS_PIN_RECENT "recent_exits"
#define TARDIS_PIN_COUNTERS "counters"
#define TARDIS_PIN_FLAGS "flags"

#define TARDIS_RINGBUF_BYTES (4u << 20)
#define TARDIS_REGISTERED_MAX 65536
#define TARDIS_RECENT_MAX 65536

/* USER_HZ is 100 on every Linux architecture tardis supports. */
#define TARDIS_NS_PER_TICK 10000000ull

#endif
