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

/*
 * The layout of everything below, as one number.  Pinned objects outlive
 * the agent that made them, so an upgraded agent meets maps and a ring
 * buffer of an older (or newer) build: it reads them only when this number
 * and every size agree (monitor_pin_open_checked, monitor_pin_layout_check
 * in user/lib/monitor_maps.c), and replaces them otherwise.  Bump it
 * whenever a struct here changes its meaning, even if no size changes.  1 is also what pins without a `layout` map (before
 * the layout was recorded) are taken to be, when their sizes agree.
 */
#define TARDIS_LAYOUT_VERSION 1

/* tests/integration/test_pin_layout.sh builds a BPF object "of another
 * release" with -DTARDIS_LAYOUT_TEST_COMM_LEN=N: a larger or smaller event
 * and record, and no size assertions. */
#ifdef TARDIS_LAYOUT_TEST_COMM_LEN
#define TARDIS_COMM_LEN TARDIS_LAYOUT_TEST_COMM_LEN
#else
#define TARDIS_COMM_LEN 16
#endif

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

/* Value of the registered-pids map (key: host tgid, __u32), and of the
 * registered_task task-storage map (key: a pidfd of the init, from user
 * space; the program reads it on the init's task_struct).  Registration
 * writes both; a client that could not write the task storage sets
 * tardis_flags.host_registrations so that the program looks at the hash. */
struct tardis_reg {
	__u64 start_time;    /* clock ticks; 0 = do not check */
	__u64 registered_ns; /* CLOCK_MONOTONIC at registration */
};

/* The single value of the flags map.  host_registrations becomes 1 the
 * first time an init is registered in the hash only (no registered_task
 * map pinned: 5.10, or a client of a build without it) and stays so:
 * until then the program skips the registered-map lookup, the costly part
 * of its filter for unrelated exits. */
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

/* The single value of the `layout` map: which contract the pinned objects
 * follow.  Written once when the agent pins them, then frozen. */
struct tardis_layout {
	__u32 version;    /* TARDIS_LAYOUT_VERSION */
	__u32 event_size; /* sizeof(struct tardis_exit_event): ring records, recent values */
};

/* Names of the pinned objects under the pin directory. */
#define TARDIS_PIN_DIR_DEFAULT "/sys/fs/bpf/tardis"
#define TARDIS_PIN_PROG "prog"
#define TARDIS_PIN_LINK "link"
#define TARDIS_PIN_EVENTS "events"
#define TARDIS_PIN_REGISTERED "registered"
#define TARDIS_PIN_REGISTERED_TASK "registered_task" /* kernels >= 5.11 only */
#define TARDIS_PIN_RECENT "recent_exits"
#define TARDIS_PIN_COUNTERS "counters"
#define TARDIS_PIN_FLAGS "flags"
#define TARDIS_PIN_LAYOUT "layout"

#define TARDIS_RINGBUF_BYTES (4u << 20)
#define TARDIS_REGISTERED_MAX 65536
#define TARDIS_RECENT_MAX 65536

/* USER_HZ is 100 on every Linux architecture tardis supports. */
#define TARDIS_NS_PER_TICK 10000000ull

/*
 * The sizes and offsets both sides compile against (clang -target bpf and
 * gcc): a field moved or resized here fails the build of both, instead of
 * an agent misreading the kernel's records.  A change here is a new
 * TARDIS_LAYOUT_VERSION.
 */
#ifndef TARDIS_LAYOUT_TEST_COMM_LEN
#define TARDIS_ASSERT_FIELD(type, field, off, size)                                    \
	_Static_assert(__builtin_offsetof(struct type, field) == (off) &&              \
			       sizeof(((struct type *)0)->field) == (size),                    \
		       #type "." #field " is at " #off ", " #size " bytes")
#define TARDIS_ASSERT_SIZE(type, size) \
	_Static_assert(sizeof(struct type) == (size), "sizeof(struct " #type ") is " #size)

TARDIS_ASSERT_SIZE(tardis_exit_event, 72);
TARDIS_ASSERT_FIELD(tardis_exit_event, tgid, 0, 4);
TARDIS_ASSERT_FIELD(tardis_exit_event, status, 4, 4);
TARDIS_ASSERT_FIELD(tardis_exit_event, start_time, 8, 8);
TARDIS_ASSERT_FIELD(tardis_exit_event, start_ns, 16, 8);
TARDIS_ASSERT_FIELD(tardis_exit_event, cgroup_id, 24, 8);
TARDIS_ASSERT_FIELD(tardis_exit_event, exit_ns, 32, 8);
TARDIS_ASSERT_FIELD(tardis_exit_event, pidns_level, 40, 4);
TARDIS_ASSERT_FIELD(tardis_exit_event, pidns_inum, 44, 4);
TARDIS_ASSERT_FIELD(tardis_exit_event, reason, 48, 4);
TARDIS_ASSERT_FIELD(tardis_exit_event, cpu, 52, 4);
TARDIS_ASSERT_FIELD(tardis_exit_event, comm, 56, 16);

TARDIS_ASSERT_SIZE(tardis_exit_key, 16);
TARDIS_ASSERT_FIELD(tardis_exit_key, tgid, 0, 4);
TARDIS_ASSERT_FIELD(tardis_exit_key, pad, 4, 4);
TARDIS_ASSERT_FIELD(tardis_exit_key, start_time, 8, 8);

TARDIS_ASSERT_SIZE(tardis_reg, 16);
TARDIS_ASSERT_FIELD(tardis_reg, start_time, 0, 8);
TARDIS_ASSERT_FIELD(tardis_reg, registered_ns, 8, 8);

TARDIS_ASSERT_SIZE(tardis_flags, 8);
TARDIS_ASSERT_FIELD(tardis_flags, host_registrations, 0, 4);
TARDIS_ASSERT_FIELD(tardis_flags, pad, 4, 4);

TARDIS_ASSERT_SIZE(tardis_counters, 32);
TARDIS_ASSERT_FIELD(tardis_counters, captured, 0, 8);
TARDIS_ASSERT_FIELD(tardis_counters, drops, 8, 8);
TARDIS_ASSERT_FIELD(tardis_counters, duplicates, 16, 8);
TARDIS_ASSERT_FIELD(tardis_counters, recent_full, 24, 8);

TARDIS_ASSERT_SIZE(tardis_layout, 8);
TARDIS_ASSERT_FIELD(tardis_layout, version, 0, 4);
TARDIS_ASSERT_FIELD(tardis_layout, event_size, 4, 4);

#undef TARDIS_ASSERT_FIELD
#undef TARDIS_ASSERT_SIZE
#endif

#endif
