/*
 * The agent's group commit.  The event loop writes each exit record and
 * renames it into place (visible: every reader on the node sees it) and
 * queues it here; a thread makes the queue durable a batch at a time --
 * the batch's records appended to the exit journal and one fdatasync of
 * it -- then logs their "exit recorded" lines.  Their registrations are
 * dropped later (moved to forgotten/, removed after that), once no record
 * came for 20 ms: in a burst of 10,000 exits those renames, the kernel
 * map's cleanup and the removals were ~40 % of the agent's CPU time, taken
 * from the exiting processes and the event loop.  While it waits for the
 * disk the loop goes on: the next batch is whatever queued meanwhile.
 * The records' own files reach the disk with the kernel's writeback; the
 * journal is emptied after a syncfs once the agent is idle (agent.h), and
 * replayed by the next agent when it starts.
 *
 * Why a journal: on this machine's disk (ext4 without a journal) each
 * record's fdatasync and its directory's fsync wrote an inode and
 * flushed the device, twice per record; a syncfs per batch waited for
 * everything dirty on the filesystem (a burst's 10,000 registrations
 * included) and bounded the burst.  One append + fdatasync per batch
 * writes a block or two and flushes once.
 */
#include "agent.h"
#include "crashpoint.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
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

/* Quiet: no record queued for this long.  Registrations are dropped and
 * forgotten/ swept only then -- or once the oldest drop waited
 * AGENT_FORGET_MAX_NS, so a steady trickle of exits does not hold them.
 * A burst's records come < 1 ms apart, but with gaps of tens of ms on a
 * busy machine: at 20 ms the drops (a rename into a 10,000-entry
 * forgotten/ each) ran inside a 10,000-exit burst, ~30 % of the agent's
 * CPU time there (perf, 2026-11-27); at 250 ms they wait for its end. */
#define AGENT_QUIET_NS (250ull * 1000000ull)
#define AGENT_FORGET_MAX_NS (5ull * 1000000000ull)
/* Dropped a few at a time: a record that comes meanwhile waits for one
 * chunk at most. */
#define FORGET_CHUNK 32

/* (pid, start)'s registration to drop later, its line logged. */
static void forget_later(struct agent *a, pid_t pid, uint64_t start_time)
{
	struct agent_commit *c = &a->commit;
	char key[64];

	agent_init_key(key, sizeof(key), pid, start_time);
	if (a->logged && str_set_add(a->logged, key) < 0) {
		agent_forget(a, pid, start_time); /* out of memory: now, then */
		return;
	}
	pthread_mutex_lock(&c->mu);
	if (c->n_forgets == c->cap_forgets) {
		size_t cap = c->cap_forgets ? c->cap_forgets * 2 : 256;
		struct pending_forget *v = realloc(c->forgets, cap * sizeof(*v));

		if (!v) {
			pthread_mutex_unlock(&c->mu);
			agent_forget(a, pid, start_time);
			if (a->logged)
				str_set_del(a->logged, key);
			return;
		}
		c->forgets = v;
		c->cap_forgets = cap;
	}
	if (!c->n_forgets)
		c->forgets_since_ns = (uint64_t)time_monotonic_ns();
	c->forgets[c->n_forgets++] = (struct pending_forget){ pid, start_time };
	pthread_mutex_unlock(&c->mu);
}

/* Up to max queued drops done (c->mu held; dropped meanwhile).  The last
 * one gives the queue's memory back: a burst's is ~1 MB. */
static void forget_some(struct agent *a, size_t max)
{
	struct agent_commit *c = &a->commit;
	struct pending_forget v[FORGET_CHUNK];
	size_t n = 0;
	int drained;

	while (n < max && n < FORGET_CHUNK && c->n_forgets)
		v[n++] = c->forgets[--c->n_forgets];
	drained = n && !c->n_forgets;
	if (drained) {
		free(c->forgets);
		c->forgets = NULL;
		c->cap_forgets = 0;
	}
	pthread_mutex_unlock(&c->mu);
	for (size_t i = 0; i < n; i++) {
		char key[64];

		crash_point("agent-forget");
		agent_forget(a, v[i].pid, v[i].start_time);
		agent_init_key(key, sizeof(key), v[i].pid, v[i].start_time);
		if (a->logged)
			str_set_del(a->logged, key);
	}
	if (drained)
		malloc_trim(0);
	pthread_mutex_lock(&c->mu);
	if (n)
		c->sweep = 1;
}

/* Everything queued dropped now (the agent stops, or has no thread). */
static void forget_all(struct agent *a)
{
	struct agent_commit *c = &a->commit;

	pthread_mutex_lock(&c->mu);
	while (c->n_forgets)
		forget_some(a, FORGET_CHUNK);
	pthread_mutex_unlock(&c->mu);
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
	/* The batch's lines in one write, all of them before any of its
	 * registrations may be dropped (forget_later, below). */
	tardis_log_batch_begin();
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
	}
	tardis_log_batch_end();
	for (i = 0; i < n; i++) {
		struct pending_exit *p = &v[i];

		free(p->json);
		p->json = NULL;
		/* Last: until it is dropped a killed agent's successor replays
		 * the exit (recorded already) and writes the line unless the
		 * log has it. */
		if (__atomic_load_n(&p->forget, __ATOMIC_ACQUIRE))
			forget_later(a, p->pid, p->start_time);
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

/* Records that come while the previous batch's commit ended less than
 * COMMIT_FLOW_NS ago are a burst: the commit waits up to COMMIT_GATHER_NS
 * for COMMIT_GATHER_MIN of them.  Committed as they came, a 10,000-exit
 * burst made ~3,000 batches of a few records, and their fdatasyncs (a
 * device flush each) were a quarter of the agent's CPU time.  A record
 * alone (no commit just before) is committed at once. */
#define COMMIT_FLOW_NS (2ull * 1000000ull)
#define COMMIT_GATHER_NS (1ull * 1000000ull)
#define COMMIT_GATHER_MIN 64

/* c->mu held. */
static void gather(struct agent_commit *c)
{
	uint64_t now = (uint64_t)time_monotonic_ns(), until_ns;
	struct timespec until;

	if (c->n_queue >= COMMIT_GATHER_MIN || c->stop || now - c->last_commit_ns >= COMMIT_FLOW_NS)
		return;
	clock_gettime(CLOCK_REALTIME, &until);
	until_ns = (uint64_t)until.tv_sec * 1000000000ull + (uint64_t)until.tv_nsec + COMMIT_GATHER_NS;
	until.tv_sec = (time_t)(until_ns / 1000000000ull);
	until.tv_nsec = (long)(until_ns % 1000000000ull);
	c->gathering = 1;
	while (c->n_queue < COMMIT_GATHER_MIN && !c->stop &&
	       pthread_cond_timedwait(&c->cv, &c->mu, &until) == 0)
		;
	c->gathering = 0;
}

/* A batch array a burst grew, back to AGENT_PENDING_MAX once committed
 * (c->mu held, the batch empty). */
static void shrink_batch(struct agent_commit *c)
{
	struct pending_exit *v;

	if (c->cap_batch <= AGENT_PENDING_MAX)
		return;
	v = realloc(c->batch, AGENT_PENDING_MAX * sizeof(*v));
	if (!v)
		return;
	c->batch = v;
	c->cap_batch = AGENT_PENDING_MAX;
}

static void *committer(void *arg)
{
	struct agent *a = arg;
	struct agent_commit *c = &a->commit;
	struct pending_exit *t;
	size_t cap;
	struct agent_sched sched;

	agent_sched_init(&sched, a->cfg.agent_rt_priority, "commit");
	pthread_mutex_lock(&c->mu);
	c->sweep = 1; /* what an agent before us left */
	for (;;) {
		while (!c->n_queue && !c->stop) {
			uint64_t wait_ns, now = (uint64_t)time_monotonic_ns();
			uint64_t quiet_at = c->last_add_ns + AGENT_QUIET_NS;
			int quiet = now >= quiet_at;

			if (c->sweep_at_ns && now >= c->sweep_at_ns) {
				c->sweep_at_ns = 0;
				c->sweep = 1;
			}
			if (c->n_forgets &&
			    (quiet || now - c->forgets_since_ns >= AGENT_FORGET_MAX_NS)) {
				forget_some(a, FORGET_CHUNK);
			} else if (c->sweep && quiet) {
				sweep_some(a);
			} else if (journal_due(c, &wait_ns)) {
				pthread_mutex_unlock(&c->mu);
				journal_retire(a);
				pthread_mutex_lock(&c->mu);
			} else if (wait_ns || c->sweep_at_ns || c->n_forgets || c->sweep) {
				struct timespec until;

				/* Drops and sweeps wait for the quiet. */
				if ((c->n_forgets || c->sweep) && !quiet &&
				    (!wait_ns || quiet_at - now < wait_ns))
					wait_ns = quiet_at - now;
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
		gather(c);
		t = c->batch;
		c->batch = c->queue;
		c->queue = t;
		cap = c->cap_batch;
		c->cap_batch = c->cap_queue;
		c->cap_queue = cap;
		c->n_batch = c->n_queue;
		c->n_queue = 0;
		pthread_cond_broadcast(&c->cv); /* room in the queue */
		pthread_mutex_unlock(&c->mu);
		agent_sched_load(&sched, c->n_batch);
		commit_batch(a, c->batch, c->n_batch);
		pthread_mutex_lock(&c->mu);
		c->last_commit_ns = (uint64_t)time_monotonic_ns();
		c->n_batch = 0;
		shrink_batch(c);
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
	c->cap_queue = c->cap_batch = AGENT_PENDING_MAX;
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
	while (c->n_queue == c->cap_queue) {
		struct pending_exit *v = NULL;

		if (c->cap_queue < AGENT_PENDING_LIMIT)
			v = realloc(c->queue, 2 * c->cap_queue * sizeof(*v));
		if (v) {
			c->queue = v;
			c->cap_queue *= 2;
			break;
		}
		if (!c->running) {
			pthread_mutex_unlock(&c->mu);
			agent_commit(a);
			pthread_mutex_lock(&c->mu);
			continue;
		}
		pthread_cond_wait(&c->cv, &c->mu);
	}
	c->queue[c->n_queue++] = *p;
	c->last_add_ns = (uint64_t)time_monotonic_ns();
	/* A gathering commit wants its batch full, not each record. */
	if (!c->gathering || c->n_queue >= COMMIT_GATHER_MIN)
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
	forget_all(a);
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
	/* Every registration whose line is logged dropped: a clean stop
	 * leaves the next agent nothing to replay. */
	forget_all(a);
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
