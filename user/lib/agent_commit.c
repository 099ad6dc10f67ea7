/*
 * The agent's group commit.  The event loop writes each exit record and
 * renames it into place (visible: every reader on the node sees it) and
 * queues it here; a thread makes the queue durable a batch at a time --
 * the batch's records appended to the exit journal and one fdatasync of
 * it -- then logs their "exit recorded" lines and drops their
 * registrations (moved to forgotten/, removed when no record waits).
 * While it waits for the disk the loop goes on: the next batch is
 * whatever queued meanwhile.  The records' own files reach the disk with
 * the kernel's writeback; the journal is emptied after a syncfs once the
 * agent is idle (agent.h), and replayed by the next agent when it starts.
 *
 * Why a journal: on this machine's disk (ext4 without a journal) each
 * record's fdatasync and its directory's fsync wrote an inode and
 * flushed the device, twice per record; a syncfs per batch waited for
 * everything dirty on the filesystem (a burst's 10,000 registrations
 * included) and bounded the burst.  One append + fdatasync per batch
 * writes a block or two and flushes once.
 */
#include "agent.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* The batch's lines appended to the journal and made durable: 0, or -1
 * (errno) -- then a syncfs of the state dir's filesystem does it. */
static int journal_append(struct agent_commit *c, const struct pending_exit *v, size_t n)
{
	size_t len = 0, off = 0;
	char *buf;
	int ret;

	if (c->journal_fd < 0)
		return errno = EBADF, -1;
	for (size_t i = 0; i < n; i++)
		len += strlen(v[i].json) + 1;
	buf = malloc(len);
	if (!buf)
		return -1;
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(v[i].json);

		memcpy(buf + off, v[i].json, l);
		buf[off + l] = '\n';
		off += l + 1;
	}
	ret = write_full(c->journal_fd, buf, len);
	free(buf);
	if (ret < 0) {
		int e = errno;

		/* No half line for the next batch's first to be glued to. */
		if (ftruncate(c->journal_fd, (off_t)c->journal_bytes) < 0)
			log_warn("exit journal: cut back: %s", strerror(errno));
		errno = e;
		return -1;
	}
	ret = fdatasync(c->journal_fd);
	if (ret == 0) {
		if (!c->journal_bytes)
			c->journal_since_ns = (uint64_t)time_monotonic_ns();
		c->journal_bytes += len;
	}
	return ret;
}

/* The journal emptied once every record it holds is on disk in its own
 * file: a syncfs of the state dir's filesystem first. */
static void journal_retire(struct agent *a)
{
	struct agent_commit *c = &a->commit;

	if (c->journal_fd < 0 || !c->journal_bytes)
		return;
	if (syncfs(a->store.root_fd) < 0 || ftruncate(c->journal_fd, 0) < 0 ||
	    fdatasync(c->journal_fd) < 0) {
		log_warn("exit journal: not emptied: %s (kept; replayed by the next agent)",
			 strerror(errno));
		c->journal_since_ns = (uint64_t)time_monotonic_ns(); /* again later */
		return;
	}
	c->journal_bytes = 0;
}

/* 1 when the journal is due to be emptied; *wait_ns: until when not. */
static int journal_due(const struct agent_commit *c, uint64_t *wait_ns)
{
	uint64_t now = (uint64_t)time_monotonic_ns();

	*wait_ns = 0;
	if (c->journal_fd < 0 || !c->journal_bytes)
		return 0;
	if (c->journal_bytes >= EXIT_JOURNAL_RETIRE_BYTES ||
	    now - c->journal_since_ns >= EXIT_JOURNAL_RETIRE_NS)
		return 1;
	*wait_ns = c->journal_since_ns + EXIT_JOURNAL_RETIRE_NS - now;
	return 0;
}

static void commit_batch(struct agent *a, struct pending_exit *v, size_t n)
{
	struct agent_commit *c = &a->commit;
	uint64_t durable_ns;
	size_t i;

	if (!n)
		return;
	if (journal_append(c, v, n) < 0) {
		if (c->journal_fd >= 0)
			log_warn("exit journal: %s; the records made durable by a syncfs",
				 strerror(errno));
		if (syncfs(a->store.root_fd) < 0) {
			log_error("%zu exit record(s): not durable: %s", n, strerror(errno));
			__atomic_fetch_add(&a->stats.errors, n, __ATOMIC_RELAXED);
		}
	}
	durable_ns = (uint64_t)time_monotonic_ns();
	for (i = 0; i < n; i++) {
		struct pending_exit *p = &v[i];

		if (p->exit_status < 0)
			; /* "unknown", said when it was written */
		else if (p->exit_mono_ns)
			log_info("exit recorded %s/%s pid=%d exit_status=%d source=%s visible_us=%.1f "
				 "durable_us=%.1f",
				 p->ns, p->id, p->pid, p->exit_status, p->source,
				 (p->visible_ns - p->exit_mono_ns) / 1e3,
				 (durable_ns - p->exit_mono_ns) / 1e3);
		else
			log_info("exit recorded %s/%s pid=%d exit_status=%d source=%s", p->ns, p->id,
				 p->pid, p->exit_status, p->source);
		free(p->json);
		p->json = NULL;
		/* Last: until here a killed agent's successor replays the exit
		 * (recorded already) and writes the line. */
		if (__atomic_load_n(&p->forget, __ATOMIC_ACQUIRE)) {
			agent_forget(a, p->pid, p->start_time);
			c->sweep = 1;
		}
	}
	if (c->journal_bytes >= EXIT_JOURNAL_RETIRE_BYTES)
		journal_retire(a);
}

/* Forgotten registrations removed a few at a time while no record waits
 * (c->mu held; dropped meanwhile). */
#define SWEEP_CHUNK 4

/* 1 while there may be more: the listing goes on, or it removed some --
 * then one more listing finds what was moved in while it ran. */
static int sweep_chunk(struct agent *a)
{
	struct agent_commit *c = &a->commit;

	c->sweep_removed += store_sweep(&a->store, &c->sweep_dir, SWEEP_CHUNK);
	if (c->sweep_dir)
		return 1;
	if (!c->sweep_removed)
		return 0;
	c->sweep_removed = 0;
	return 1;
}

static void sweep_some(struct agent *a)
{
	struct agent_commit *c = &a->commit;
	int more;

	pthread_mutex_unlock(&c->mu);
	more = sweep_chunk(a);
	pthread_mutex_lock(&c->mu);
	c->sweep = more;
}

static void *committer(void *arg)
{
	struct agent *a = arg;
	struct agent_commit *c = &a->commit;
	struct pending_exit *t;
	struct agent_sched sched;

	agent_sched_init(&sched, a->cfg.agent_rt_priority, "commit");
	pthread_mutex_lock(&c->mu);
	c->sweep = 1; /* what an agent before us left */
	for (;;) {
		while (!c->n_queue && !c->stop) {
			uint64_t wait_ns, now = (uint64_t)time_monotonic_ns();

			if (c->sweep_at_ns && now >= c->sweep_at_ns) {
				c->sweep_at_ns = 0;
				c->sweep = 1;
			}
			if (c->sweep) {
				sweep_some(a);
			} else if (journal_due(c, &wait_ns)) {
				pthread_mutex_unlock(&c->mu);
				journal_retire(a);
				pthread_mutex_lock(&c->mu);
			} else if (wait_ns || c->sweep_at_ns) {
				struct timespec until;

				if (c->sweep_at_ns && (!wait_ns || c->sweep_at_ns - now < wait_ns))
					wait_ns = c->sweep_at_ns - now;
				clock_gettime(CLOCK_REALTIME, &until);
				until.tv_nsec += (long)(wait_ns % 1000000000ull);
				until.tv_sec += (time_t)(wait_ns / 1000000000ull) + until.tv_nsec / 1000000000l;
				until.tv_nsec %= 1000000000l;
				pthread_cond_timedwait(&c->cv, &c->mu, &until);
			} else {
				pthread_cond_wait(&c->cv, &c->mu);
			}
		}
		if (!c->n_queue)
			break;
		t = c->batch;
		c->batch = c->queue;
		c->queue = t;
		c->n_batch = c->n_queue;
		c->n_queue = 0;
		pthread_cond_broadcast(&c->cv); /* room in the queue */
		pthread_mutex_unlock(&c->mu);
		agent_sched_load(&sched, c->n_batch);
		commit_batch(a, c->batch, c->n_batch);
		pthread_mutex_lock(&c->mu);
		c->n_batch = 0;
		pthread_cond_broadcast(&c->cv); /* for agent_commit_flush */
	}
	pthread_mutex_unlock(&c->mu);
	return NULL;
}

int agent_commit_init(struct agent *a)
{
	struct agent_commit *c = &a->commit;

	memset(c, 0, sizeof(*c));
	c->journal_fd = -1;
	c->queue = calloc(AGENT_PENDING_MAX, sizeof(*c->queue));
	c->batch = calloc(AGENT_PENDING_MAX, sizeof(*c->batch));
	if (!c->queue || !c->batch)
		return -1;
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->cv, NULL);
	return 0;
}

void agent_commit_start(struct agent *a)
{
	struct agent_commit *c = &a->commit;
	int e = pthread_create(&c->thread, NULL, committer, a);

	if (e) {
		log_warn("exit records: no commit thread (%s): committed after each batch of events",
			 strerror(e));
		return;
	}
	c->running = 1;
}

void agent_commit_add(struct agent *a, const struct pending_exit *p)
{
	struct agent_commit *c = &a->commit;

	pthread_mutex_lock(&c->mu);
	while (c->n_queue == AGENT_PENDING_MAX) {
		if (!c->running) {
			pthread_mutex_unlock(&c->mu);
			agent_commit(a);
			pthread_mutex_lock(&c->mu);
			continue;
		}
		pthread_cond_wait(&c->cv, &c->mu);
	}
	c->queue[c->n_queue++] = *p;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

void agent_commit(struct agent *a)
{
	struct agent_commit *c = &a->commit;
	size_t n;

	if (c->running)
		return; /* the thread has it */
	pthread_mutex_lock(&c->mu);
	n = c->n_queue;
	c->n_queue = 0;
	pthread_mutex_unlock(&c->mu);
	commit_batch(a, c->queue, n);
	while (c->sweep)
		c->sweep = sweep_chunk(a);
}

void agent_commit_flush(struct agent *a)
{
	struct agent_commit *c = &a->commit;

	if (!c->running) {
		agent_commit(a);
		return;
	}
	pthread_mutex_lock(&c->mu);
	while (c->n_queue || c->n_batch)
		pthread_cond_wait(&c->cv, &c->mu);
	pthread_mutex_unlock(&c->mu);
}

/* A replaced image is removed this long after the last one came: its
 * unlinks wait for the device's discards, and right away they slowed the
 * end of the checkpoint that put it there (runc delete's own unlinks
 * queued behind them: checkpoint own time 7.5 -> 18 ms). */
#define SWEEP_DELAY_NS 1000000000ull

void agent_commit_sweep_soon(struct agent *a)
{
	struct agent_commit *c = &a->commit;

	pthread_mutex_lock(&c->mu);
	c->sweep_at_ns = (uint64_t)time_monotonic_ns() + SWEEP_DELAY_NS;
	if (!c->running)
		c->sweep = 1; /* no thread: after the next commit */
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

void agent_commit_stop(struct agent *a)
{
	struct agent_commit *c = &a->commit;

	if (c->running) {
		pthread_mutex_lock(&c->mu);
		c->stop = 1;
		pthread_cond_broadcast(&c->cv);
		pthread_mutex_unlock(&c->mu);
		pthread_join(c->thread, NULL);
		c->running = 0;
	}
	/* What is left in forgotten/ is the next agent's to remove. */
	c->sweep = 0;
	if (c->sweep_dir)
		closedir(c->sweep_dir);
	c->sweep_dir = NULL;
	agent_commit(a); /* nothing left, unless there was no thread */
	c->sweep = 0;
}

static struct pending_exit *find(struct pending_exit *v, size_t n, pid_t pid, uint64_t start_time)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].pid == pid && v[i].start_time == start_time)
			return &v[i];
	return NULL;
}

int agent_commit_adopt(struct agent *a, pid_t pid, uint64_t start_time, int forget)
{
	struct agent_commit *c = &a->commit;
	struct pending_exit *p;

	pthread_mutex_lock(&c->mu);
	p = find(c->queue, c->n_queue, pid, start_time);
	if (!p)
		p = find(c->batch, c->n_batch, pid, start_time);
	/* The batch's commit reads it without the lock. */
	if (p && forget)
		__atomic_store_n(&p->forget, 1, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&c->mu);
	return p != NULL;
}
