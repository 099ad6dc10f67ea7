/* The agent's scheduling: its two threads (the event loop, the group
 * commit) run SCHED_FIFO at agent_rt_priority (tardis.conf, default 1, the
 * lowest real-time priority; 0: the normal scheduler), so that an exit is
 * recorded before the work the same exit causes elsewhere (containerd and
 * its shims handle it on the same CPUs at the same moment).  Measured
 * beside 50 containerd exits: visible p99 2.0-3.2 ms -> 0.83-1.11 ms,
 * durable p99 3.2-4.6 -> 2.0-2.9 ms; nice -20 gave nothing.
 *
 * A burst must not take a CPU from the rest of the node: a thread with
 * more than AGENT_RT_BURST events (or records) at hand drops to the normal
 * scheduler until it has few again.  SCHED_RESET_ON_FORK: what the agent
 * forks runs normally. */
#ifndef TARDIS_AGENT_SCHED_H
#define TARDIS_AGENT_SCHED_H

#include <stddef.h>

#define AGENT_RT_BURST 256

struct agent_sched {
	int prio;    /* 0: not real-time (configured so, or refused) */
	int demoted; /* in a burst: the normal scheduler for now */
};

/* The calling thread real-time at prio (0: left alone); a refusal (no
 * CAP_SYS_NICE, a cgroup without RT runtime) is logged once, not fatal. */
void agent_sched_init(struct agent_sched *s, int prio, const char *thread);
/* n events (records) at hand: demoted above AGENT_RT_BURST, back to
 * real-time at AGENT_RT_BURST / 16 or fewer. */
void agent_sched_load(struct agent_sched *s, size_t n);

#endif
