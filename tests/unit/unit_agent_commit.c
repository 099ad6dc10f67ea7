/* agent_commit: the group commit's queue.  A record queued (or being
 * committed) is found by (pid, start time), and adopting it with forget
 * leaves the registration to its commit: an exit seen twice before its
 * commit (the recent-exits scan, then the pid index scan) must not drop
 * the registration early -- a successor agent replays from it. */
#include "unit_main.h"
#include "agent.h"

static struct pending_exit record(pid_t pid, uint64_t start, int forget)
{
	struct pending_exit p;

	memset(&p, 0, sizeof(p));
	p.pid = pid;
	p.start_time = start;
	p.forget = forget;
	return p;
}

START_TEST(test_adopt)
{
	static struct agent a;
	struct pending_exit p = record(100, 7, 0);

	ck_assert_int_eq(agent_commit_init(&a), 0);
	agent_commit_add(&a, &p);
	p = record(101, 8, 1);
	agent_commit_add(&a, &p);
	ck_assert_uint_eq(a.commit.n_queue, 2);

	/* Not queued: another pid, or the same pid of another process. */
	ck_assert_int_eq(agent_commit_adopt(&a, 102, 7, 1), 0);
	ck_assert_int_eq(agent_commit_adopt(&a, 100, 9, 1), 0);
	/* Queued: found; without forget nothing changes. */
	ck_assert_int_eq(agent_commit_adopt(&a, 100, 7, 0), 1);
	ck_assert_int_eq(a.commit.queue[0].forget, 0);
	ck_assert_int_eq(agent_commit_adopt(&a, 100, 7, 1), 1);
	ck_assert_int_eq(a.commit.queue[0].forget, 1);
	ck_assert_int_eq(a.commit.queue[1].forget, 1);

	/* Being committed (the batch): found too. */
	a.commit.batch[0] = record(200, 3, 0);
	a.commit.n_batch = 1;
	ck_assert_int_eq(agent_commit_adopt(&a, 200, 3, 1), 1);
	ck_assert_int_eq(a.commit.batch[0].forget, 1);

	a.commit.n_queue = a.commit.n_batch = 0; /* nothing to commit */
	free(a.commit.queue);
	free(a.commit.batch);
}
END_TEST

UNIT_SUITE(agent_commit, "agent_commit", test_adopt)
