// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The exit monitor: reports the death of every container init process,
 * once per thread group, with exactly the status waitpid() returns.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "tardis_exit.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* A macro in the kernel, so vmlinux.h does not carry it. */
#define SIGNAL_GROUP_EXIT 0x00000004

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, TARDIS_RINGBUF_BYTES);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TARDIS_REGISTERED_MAX);
	__type(key, __u32);
	__type(value, struct tardis_reg);
} registered SEC(".maps");

/* The same registrations, kept on the registered init's own task_struct
 * (user space writes them through a pidfd): the program reads
 * leader->bpf_storage, one load that is NULL for nearly every task, before
 * it asks for them.  Kernels >= 5.11; 5.10 loads tardis_exit_hash, which
 * looks up `registered` instead, and this map is not created there. */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct tardis_reg);
} registered_task SEC(".maps");

/* Bounded: the oldest exits are evicted first. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, TARDIS_RECENT_MAX);
	__type(key, struct tardis_exit_key);
	__type(value, struct tardis_exit_event);
} recent_exits SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tardis_counters);
} counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tardis_flags);
} flags SEC(".maps");

/* Which contract the pinned objects follow: never touched by the
 * program; the agent writes it once after loading and freezes it. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tardis_layout);
} layout SEC(".maps");

/* Scratch space for building an event before it is known whether the
 * ring buffer has room; too big for comfort on the 512-byte stack. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tardis_exit_event);
} scratch SEC(".maps");

static __always_inline struct tardis_counters *counters_get(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&counters, &zero);
}

/* pid->numbers[] is indexed by a run-time level: the verifier refuses a
 * variable offset into a BTF pointer, so read the entry by address. */
static __always_inline int upid_at_level(struct pid *pid, __u32 level, struct upid *out)
{
	__u64 addr = (__u64)(void *)pid;
	__u64 off = (__u64)(level & 0x3f) * bpf_core_type_size(struct upid);

	/* The size is a CO-RE constant the compiler cannot fold, so this is a
	 * multiply by a register; older verifiers forget every bound of such
	 * a product and refuse the pointer addition ("math between ptr_
	 * pointer and register with unbounded min value": Debian's 6.1;
	 * 6.18 accepts it).  An AND with a known mask bounds it again; 63
	 * entries of a 16-byte upid stay far below. */
	off &= 0xffff;
	addr += bpf_core_field_offset(struct pid, numbers);
	addr += off;
	return bpf_probe_read_kernel(out, sizeof(*out), (void *)addr);
}

static __always_inline int reg_matches(struct tardis_reg *reg, struct task_struct *leader)
{
	return reg && (reg->start_time == 0 ||
		       reg->start_time == leader->start_boottime / TARDIS_NS_PER_TICK);
}

/* The hash of registered host pids, looked up only once a client that
 * knows no task storage (a tardis-runc of the hash-only build, or any
 * client on 5.10) set the flag: the lookup of a cold bucket costs several
 * times the rest of the filter.  The array lookup is inlined. */
static __always_inline int registered_by_hash(struct task_struct *task,
					      struct task_struct *leader)
{
	struct tardis_flags *fl;
	__u32 zero = 0, tgid = task->tgid;

	fl = bpf_map_lookup_elem(&flags, &zero);
	if (!fl || !fl->host_registrations)
		return 0;
	return reg_matches(bpf_map_lookup_elem(&registered, &tgid), leader);
}

/* The exit of a task whose group is dead: report it when it is of interest
 * (reason != 0).  Nothing here, counters included, runs for other exits. */
static __always_inline int report_group_death(struct task_struct *task,
					      struct task_struct *leader, __u32 level,
					      struct upid *upid, __u32 reason)
{
	struct tardis_counters *cnt = counters_get();
	struct tardis_exit_event *ev;
	struct tardis_exit_key key = {};
	struct signal_struct *sig;
	__u32 tgid = task->tgid, zero = 0;
	__u64 start_time = leader->start_boottime / TARDIS_NS_PER_TICK;
	void *slot;
	long err;

	ev = bpf_map_lookup_elem(&scratch, &zero);
	if (!ev)
		return 0;
	sig = task->signal;
	ev->tgid = tgid;
	ev->status = (sig->flags & SIGNAL_GROUP_EXIT) ? sig->group_exit_code : leader->exit_code;
	ev->start_time = start_time;
	ev->start_ns = leader->start_boottime;
	ev->cgroup_id = bpf_get_current_cgroup_id();
	ev->exit_ns = bpf_ktime_get_ns();
	ev->pidns_level = level;
	ev->pidns_inum = 0;
	if (level > 0 && upid->ns)
		ev->pidns_inum = BPF_CORE_READ(upid->ns, ns.inum);
	ev->reason = reason;
	ev->cpu = bpf_get_smp_processor_id();
	bpf_probe_read_kernel_str(ev->comm, sizeof(ev->comm), leader->comm);

	key.tgid = tgid;
	key.start_time = start_time;
	/* Before 6.16 more than one exiting thread can see signal->live == 0;
	 * the first insert wins and the others are the same death again. */
	err = bpf_map_update_elem(&recent_exits, &key, ev, BPF_NOEXIST);
	if (err == -17 /* EEXIST */) {
		if (cnt)
			cnt->duplicates++;
		return 0;
	}
	if (err && cnt)
		cnt->recent_full++;
	if (cnt)
		cnt->captured++;

	slot = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
	if (!slot) {
		/* Not lost: the agent recovers it from recent_exits. */
		if (cnt)
			cnt->drops++;
		return 0;
	}
	__builtin_memcpy(slot, ev, sizeof(*ev));
	bpf_ringbuf_submit(slot, 0);
	return 0;
}

/* The whole check of an exit whose group is dead (task_storage: the
 * leader's task storage is read, the hash only once a hash-only client set
 * the flag).  Out of line: a subprogram of its own, JITed apart, so the
 * filter below that every exit runs is a few instructions in a cache line
 * or two -- inlined, the unrelated path jumped across 1.9 KB of code to the
 * epilogue, and cost 1.15-2.4x the empty program by where the JIT put it
 * (medians of 8 loads of each program on 6.18: 1.37x inlined, 0.94x). */
static __noinline int handle_group_death(struct task_struct *task, int task_storage)
{
	struct task_struct *leader = task->group_leader;
	struct pid *pid = leader->thread_pid;
	struct upid upid = {};
	__u32 level = pid->level, reason = 0;

	if (level > 0 && upid_at_level(pid, level, &upid) == 0 && upid.nr == 1)
		reason |= TARDIS_REASON_PIDNS_INIT;
	if (task_storage) {
		if (leader->bpf_storage &&
		    reg_matches(bpf_task_storage_get(&registered_task, leader, 0, 0), leader))
			reason |= TARDIS_REASON_REGISTERED;
	}
	if (!(reason & TARDIS_REASON_REGISTERED) && registered_by_hash(task, leader))
		reason |= TARDIS_REASON_REGISTERED;
	if (!reason)
		return 0;
	return report_group_death(task, leader, level, &upid, reason);
}

/* The filter every exit of a dead group runs, a few loads: a process of
 * the host's pid namespace with no task storage, while no hash-only
 * client registered anything, is of no interest.  Anything else (a
 * process in a container's pid namespace too) gets the whole check. */
static __always_inline int group_death(struct task_struct *task, int task_storage)
{
	struct task_struct *leader = task->group_leader;
	struct tardis_flags *fl;
	__u32 zero = 0;

	if (__builtin_expect(leader->thread_pid->level == 0, 1) &&
	    !(task_storage && leader->bpf_storage)) {
		fl = bpf_map_lookup_elem(&flags, &zero);
		if (__builtin_expect(!fl || !fl->host_registrations, 1))
			return 0;
	}
	return handle_group_death(task, task_storage);
}

/* Kernels >= 6.16 tell the tracepoint whether this thread ended the group. */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(tardis_exit_gd, struct task_struct *task, bool group_dead)
{
	if (!group_dead)
		return 0;
	return group_death(task, 1);
}

/* Older kernels: the group is dead once signal->live reached zero. */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(tardis_exit, struct task_struct *task)
{
	if (task->signal->live.counter != 0)
		return 0;
	return group_death(task, 1);
}

/* 5.10, where tracing programs have no task storage: the hash only. */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(tardis_exit_hash, struct task_struct *task)
{
	if (task->signal->live.counter != 0)
		return 0;
	return group_death(task, 0);
}

/* The baseline `make bench` compares against: does nothing at all. */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(tardis_exit_empty)
{
	return 0;
}
