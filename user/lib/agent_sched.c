#include "agent_sched.h"
#include "log.h"

#include <errno.h>
#include <sched.h>
#include <string.h>

static int set_policy(int policy, int prio)
{
	struct sched_param p = { .sched_priority = prio };

	/* pid 0: the calling thread, not the whole process. */
	return sched_setscheduler(0, policy | SCHED_RESET_ON_FORK, &p);
}

void agent_sched_init(struct agent_sched *s, int prio, const char *thread)
{
	s->prio = 0;
	s->demoted = 0;
	if (prio <= 0)
		return;
	if (set_policy(SCHED_FIFO, prio) < 0) {
		log_warn("%s thread: SCHED_FIFO %d refused (%s): normal scheduling", thread, prio,
			 strerror(errno));
		return;
	}
	s->prio = prio;
}

void agent_sched_load(struct agent_sched *s, size_t n)
{
	if (!s->prio)
		return;
	if (!s->demoted && n > AGENT_RT_BURST) {
		if (set_policy(SCHED_OTHER, 0) == 0)
			s->demoted = 1;
	} else if (s->demoted && n <= AGENT_RT_BURST / 16) {
		if (set_policy(SCHED_FIFO, s->prio) == 0)
			s->demoted = 0;
	}
}
