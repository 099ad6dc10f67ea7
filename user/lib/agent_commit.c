/*
 * The agent's group commit.  The event loop writes each exit record and
 * renames it into place (visible: every reader on the node sees it) and
 * queues it here; a thread makes the queue durable a batch at a time --
 * the records' writes started together, an fdatasync each (the first
 * forces the journal commit the rest share) and an fsync of each
 * container dir, or for a burst one syncfs -- then logs their "exit
 * recorded" lines and drops their registrations (moved to forgotten/,
 * removed when no record waits).  While it waits for the disk the loop
 * goes on: the next batch is whatever queued meanwhile.
 */
#include "agent.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A batch this big (a burst) is made durable by one syncfs of the state
 * dir's filesystem: it writes every record and directory and flushes the
 * device once, where each record's fdatasync and fsync write its inode
 * and flush the device again (ext4 without a journal, as here: the agent's
 * context switches in a 10,000-exit burst 256 -> 103; its rate is bound by
 * the event loop, not by this).  A smaller batch never waits for the rest
 * of the filesystem's dirty data. */
#define SYNCFS_BATCH 64

/* synced[i] = 1 for the records that syncfs made durable: those in the
 * state dir's filesystem, when it succeeded. */
static void batch_syncfs(struct agent *a, const struct pending_exit *v, size_t n,
			 unsigned char *synced)
{
	struct stat root, st;
	size_t i;

	memset(synced, 0, n);
	if (n < SYNCFS_BATCH || fstat(a->store.root_fd, &root) < 0)
		return;
	for (i = 0; i < n; i++)
		synced[i] = fstat(v[i].dfd, &st) == 0 && st.st_dev == root.st_dev;
	if (syncfs(a->store.root_fd) < 0) {
		log_warn("exit records: syncfs: %s; each one synced on its own", strerror(errno));
		memset(synced, 0, n);
	}
}

static void commit_batch(struct agent *a, struct pending_exit *v, size_t n)
{
	unsigned char synced[AGENT_PENDING_MAX];
	uint64_t durable_ns;
	size_t i;

	batch_syncfs(a, v, n, synced);
	for (i = 0; i < n; i++)
		if (!synced[i])
			sync_file_range(v[i].fd, 0, 0, SYNC_FILE_RANGE_WRITE);
	for (i = 0; i < n; i++) {
		if (synced[i])
			continue;
		if (fdatasync(v[i].fd) < 0 || fsync(v[i].dfd) < 0) {
			log_error("exit record of %s/%s pid %d: not durable: %s", v[i].ns, v[i].id,
				  v[i].pid, strerror(errno));
			__atomic_fetch_add(&a->stats.errors, 1, __ATOMIC_RELAXED);
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
		close(p->fd);
		close(p->dfd);
		/* Last: until here a killed agent's successor replays the exit
		 * (recorded already) and writes the line. */
		if (__atomic_load_n(&p->forget, __ATOMIC_ACQUIRE)) {
			registry_forget(&a->store, a->have_monitor ? &a->mon : NULL, p->pid,
					p->start_time);
			a->commit.sweep = 1;
		}
	}
}

/* Forgotten registrations removed a few at a time while no record waits
 * (c->mu held; dropped meanwhile). */
#define SWEEP_CHUNK 4

static void sweep_some(struct agent *a)
{
	struct agent_commit *c = &a->commit;
	int more;

	pthread_mutex_unlock(&c->mu);
	more = registry_sweep(&a->store, &c->sweep_dir, SWEEP_CHUNK) == SWEEP_CHUNK;
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
			if (c->sweep)
				sweep_some(a);
			else
				pthread_cond_wait(&c->cv, &c->mu);
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
		c->sweep = registry_sweep(&a->store, &c->sweep_dir, SWEEP_CHUNK) == SWEEP_CHUNK;
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
