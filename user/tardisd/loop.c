/*
 * tardisd's event loop: one epoll set over the signals, the BPF ring buffer
 * (or the `ctr events` stream) and nothing else -- no periodic wake-ups
 * while nothing happens.
 */
#include "tardisd.h"
#include "failure_count.h"
#include "log.h"
#include "util.h"

#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The metrics file follows events, at most once a second: after a batch,
 * written at once if the last write is a second old, else once the second
 * is over.  Nothing happens while no event comes. */
struct metrics_pace {
	char path[4096 + 16];
	double started_at;
	uint64_t last_ns;
	int pending;
};

#define METRICS_MIN_GAP_NS 1000000000ull

enum { SRC_SIGNAL, SRC_RING, SRC_CTR, SRC_FAILURES }; /* epoll tags */

struct loop {
	struct agent *a;
	const struct opts *o;
	int ep, sfd, ifd;
	int wd_forgotten; /* ifd's watch of forgotten/ */
	int wd_pids;      /* ifd's watch of pids/: registrations into memory */
	struct ring_buffer *rb;
	pid_t ctr_pid;
	int ctr_fd;
	char line[65536];
	size_t line_len;
	struct metrics_pace mp;
	uint64_t last_ring_ns; /* the last wake-up for the ring buffer */
	int stop, ret;
};

/* ---- metrics pacing ------------------------------------------------------ */

static void metrics_pace_init(struct metrics_pace *m, const struct agent *a, const struct opts *o)
{
	memset(m, 0, sizeof(*m));
	m->pending = 1;
	m->started_at = time_realtime_ns() / 1e9;
	if (!o->metrics_file)
		snprintf(m->path, sizeof(m->path), "%s/metrics.prom", a->cfg.state_dir);
	else if (strcmp(o->metrics_file, "none") != 0)
		snprintf(m->path, sizeof(m->path), "%s", o->metrics_file);
}

static void metrics_flush(struct agent *a, struct metrics_pace *m, int force)
{
	tardis_error_t err = NULL;
	uint64_t now = time_monotonic_ns();

	if (!m->path[0] || !m->pending)
		return;
	if (!force && m->last_ns && now - m->last_ns < METRICS_MIN_GAP_NS)
		return;
	if (agent_metrics_write(a, m->path, m->started_at, &err) < 0)
		tardis_error_log_release(TARDIS_LOG_WARN, "metrics", &err);
	m->last_ns = now;
	m->pending = 0;
}

/* epoll timeout: -1 (none) unless a write waits for its second. */
static int metrics_timeout_ms(const struct metrics_pace *m)
{
	uint64_t now = time_monotonic_ns();

	if (!m->path[0] || !m->pending)
		return -1;
	if (now - m->last_ns >= METRICS_MIN_GAP_NS)
		return 0;
	return (int)((METRICS_MIN_GAP_NS - (now - m->last_ns)) / 1000000) + 1;
}

/* ---- the BPF source ------------------------------------------------------- */

static int on_ring_event(void *ctx, void *data, size_t len)
{
	struct agent *a = ctx;

	if (len < sizeof(struct tardis_exit_event))
		return 0;
	agent_sched_load(&a->sched, ++a->ring_events);
	agent_handle_event(a, data, "bpf");
	return 0;
}

/* A full ring buffer drops events in the kernel; they stay in recent_exits. */
static void check_drops(struct agent *a)
{
	struct tardis_counters c;
	tardis_error_t err = NULL;

	if (monitor_counters(&a->mon, &c, &err) < 0) {
		tardis_error_log_release(TARDIS_LOG_WARN, NULL, &err);
		return;
	}
	if (c.drops != a->stats.drops_seen) {
		log_warn("ring buffer dropped %llu events; recovering from recent_exits",
			 (unsigned long long)(c.drops - a->stats.drops_seen));
		a->stats.drops_seen = c.drops;
		agent_scan_recent(a);
	}
}

/* Once: what the ring buffer of replaced pins (another layout elsewhere,
 * this one's records) still held. */
static void drain_replaced_ring(struct agent *a)
{
	struct ring_buffer *old;
	int fd = a->mon.old_events_fd;

	if (fd < 0)
		return;
	a->mon.old_events_fd = -1;
	old = ring_buffer__new(fd, on_ring_event, a, NULL);
	if (!old) {
		log_warn("exit monitor: the replaced ring buffer cannot be read: %s", strerror(errno));
	} else {
		ring_buffer__consume(old);
		ring_buffer__free(old);
	}
	close(fd);
}

static int loop_watch(struct loop *l, int fd, uint32_t tag)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = tag };

	return epoll_ctl(l->ep, EPOLL_CTL_ADD, fd, &ev);
}

/* Registrations as tardis-runc makes and drops them (the pid index's
 * entries renamed into place, moved aside or removed): an exit's lookup
 * is then from memory.  Until pids/ exists (the first registration makes
 * it) or after it is removed, tried again at each batch of exits. */
static void pids_watch(struct loop *l)
{
	char path[4096 + 16];

	if (l->ifd < 0 || !l->a->regs)
		return;
	snprintf(path, sizeof(path), "%s/pids", l->a->cfg.state_dir);
	l->wd_pids = inotify_add_watch(l->ifd, path,
				       IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_ONLYDIR |
					       IN_DONT_FOLLOW);
}

/* tardis-runc counts failed checkpoints and restores in failures.json
 * (renamed into place): the metrics follow it, without polling. */
static void failures_watch(struct loop *l)
{
	char path[4096 + 16];

	l->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (l->ifd < 0 || inotify_add_watch(l->ifd, l->a->cfg.state_dir, IN_MOVED_TO) < 0 ||
	    loop_watch(l, l->ifd, SRC_FAILURES) < 0) {
		log_warn("watch %s/" FAILURES_FILE ": %s (its metrics follow other events only)",
			 l->a->cfg.state_dir, strerror(errno));
		return;
	}
	/* Replaced images tardis-runc moves to forgotten/: removed by us. */
	snprintf(path, sizeof(path), "%s/forgotten", l->a->cfg.state_dir);
	l->wd_forgotten = inotify_add_watch(l->ifd, path, IN_MOVED_TO | IN_ONLYDIR | IN_DONT_FOLLOW);
	if (l->wd_forgotten < 0)
		log_warn("watch %s: %s (what is put there waits for the next exit)", path,
			 strerror(errno));
	pids_watch(l);
}

static void on_failures(struct loop *l)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t n;

	while ((n = read(l->ifd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;

			if (ev->mask & IN_Q_OVERFLOW)
				agent_registration_seen(l->a, NULL, 0);
			else if (ev->wd == l->wd_pids && (ev->mask & IN_IGNORED))
				l->wd_pids = -1; /* pids/ removed */
			else if (ev->wd == l->wd_pids && ev->len)
				agent_registration_seen(l->a, ev->name, (ev->mask & IN_MOVED_TO) != 0);
			else if (ev->wd == l->wd_forgotten)
				agent_commit_sweep_soon(l->a);
			else if (ev->len && strcmp(ev->name, FAILURES_FILE) == 0)
				l->mp.pending = 1;
			p += sizeof(*ev) + ev->len;
		}
	}
}

static int source_bpf_start(struct loop *l)
{
	struct agent *a = l->a;
	struct tardis_counters c;
	tardis_error_t err = NULL;

	l->rb = ring_buffer__new(a->mon.events_fd, on_ring_event, a, NULL);
	if (!l->rb) {
		log_error("ring buffer: %s", strerror(errno));
		return -1;
	}
	loop_watch(l, ring_buffer__epoll_fd(l->rb), SRC_RING);
	/* Reconcile: the backlog in the ring, then what only the kernel's
	 * recent-exits map still holds, then inits that left no trace. */
	drain_replaced_ring(a);
	ring_buffer__consume(l->rb);
	agent_scan_recent(a);
	agent_scan_vanished(a);
	agent_commit(a);
	agent_started(a);
	if (monitor_counters(&a->mon, &c, &err) == 0)
		a->stats.drops_seen = c.drops;
	tardis_error_free(&err);
	return 0;
}

/* A wake-up that found several exits, or came within BURST_FLOW_NS of the
 * one before, is a burst: a short pause after it lets the next exits
 * gather, so the agent takes the CPU once per batch rather than once per
 * exit.  Woken for each exit, the real-time thread preempted the exiting
 * processes ~8,000 times in a 10,000-exit burst and the kernel took
 * 1.5-3 s instead of 0.8 s to end them; woken for one or two at a time
 * (no pause below 4), it still made 7,000-17,000 wake-ups of 60-100 us of
 * CPU each.  An exit alone (none just before) never waits. */
#define BURST_GATHER_EVENTS 4
#define BURST_FLOW_NS 1000000ull
#define BURST_GATHER_NS 200000

static void on_ring(struct loop *l)
{
	uint64_t now = (uint64_t)time_monotonic_ns();
	int flowing = now - l->last_ring_ns < BURST_FLOW_NS;

	l->last_ring_ns = now;
	if (l->wd_pids < 0)
		pids_watch(l);
	l->a->ring_events = 0;
	if (ring_buffer__consume(l->rb) < 0)
		log_warn("ring buffer consume: %s", strerror(errno));
	/* A burst read: real-time again when the next wake-up finds few. */
	agent_sched_load(&l->a->sched, l->a->ring_events);
	check_drops(l->a);
	l->mp.pending = 1;
	if (l->a->ring_events >= BURST_GATHER_EVENTS || (flowing && l->a->ring_events))
		nanosleep(&(struct timespec){ 0, BURST_GATHER_NS }, NULL);
}

/* ---- the ctr events source ------------------------------------------------ */

static pid_t spawn_ctr_events(const struct opts *o, int *out_fd)
{
	int p[2];
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		dup2(p[1], 1);
		execlp(o->ctr, o->ctr, "-a", o->address, "events", (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	*out_fd = p[0];
	return pid;
}

static int source_ctr_start(struct loop *l)
{
	l->ctr_pid = spawn_ctr_events(l->o, &l->ctr_fd);
	if (l->ctr_pid < 0) {
		log_error("start %s events: %s", l->o->ctr, strerror(errno));
		return -1;
	}
	loop_watch(l, l->ctr_fd, SRC_CTR);
	agent_scan_vanished(l->a);
	agent_commit(l->a);
	agent_started(l->a);
	return 0;
}

/* Whole lines to the agent; a partial one waits for the rest. */
static void on_ctr_data(struct loop *l)
{
	ssize_t r = read(l->ctr_fd, l->line + l->line_len, sizeof(l->line) - 1 - l->line_len);
	char *nl, *start = l->line;

	if (r <= 0) {
		log_error("ctr events stream ended");
		l->ret = 1;
		l->stop = 1;
		return;
	}
	l->line_len += r;
	l->line[l->line_len] = '\0';
	while ((nl = memchr(start, '\n', l->line + l->line_len - start))) {
		*nl = '\0';
		agent_handle_ctr_line(l->a, start);
		start = nl + 1;
	}
	l->line_len -= start - l->line;
	memmove(l->line, start, l->line_len);
	l->mp.pending = 1;
	if (l->line_len == sizeof(l->line) - 1) {
		log_warn("ctr events: line too long, dropped");
		l->line_len = 0;
	}
}

/* ---- signals ---------------------------------------------------------------- */

/* SIGHUP: the log settings of the config file (tardisctl log), unless the
 * command line set them, then the log is reopened (logrotate). */
static void reload_config(struct agent *a, const struct opts *o)
{
	struct tardis_config fresh;
	tardis_error_t err = NULL;

	if (config_load(&fresh, &err) < 0) {
		log_warn("reload: %s; keeping the current settings", tardis_error_msg(err));
		tardis_error_free(&err);
	} else {
		if (!o->log_file_set)
			strcpy(a->cfg.log_file, fresh.log_file);
		if (!o->log_level_set)
			a->cfg.log_level = fresh.log_level;
	}
	agent_commit_flush(a); /* its lines go to the old log first */
	tardis_log_open("tardisd", a->cfg.log_file, a->cfg.log_level);
	log_info("configuration reloaded: log_level=%s log_file=%s",
		 tardis_log_level_name(a->cfg.log_level), a->cfg.log_file[0] ? a->cfg.log_file : "stderr");
}

static void on_signal(struct loop *l)
{
	struct signalfd_siginfo si;

	if (read(l->sfd, &si, sizeof(si)) != sizeof(si))
		return;
	if (si.ssi_signo == SIGHUP) {
		reload_config(l->a, l->o);
		return;
	}
	log_info("signal %d: stopping", (int)si.ssi_signo);
	l->stop = 1;
}

/* ---- the loop ----------------------------------------------------------------- */

static int loop_open(struct loop *l)
{
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	l->sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	l->ep = epoll_create1(EPOLL_CLOEXEC);
	if (l->sfd < 0 || l->ep < 0) {
		log_error("epoll/signalfd: %s", strerror(errno));
		return -1;
	}
	loop_watch(l, l->sfd, SRC_SIGNAL);
	return 0;
}

static void notify_ready(int ready_fd)
{
	if (ready_fd < 0)
		return;
	if (write(ready_fd, "1", 1) < 0)
		log_warn("notify parent: %s", strerror(errno));
	close(ready_fd);
}

/* One epoll round. */
static void loop_once(struct loop *l)
{
	struct epoll_event evs[4];
	/* No timeout, no idle wake-ups; only a metrics write waiting for
	 * its second sets one. */
	int n = epoll_wait(l->ep, evs, 4, metrics_timeout_ms(&l->mp));

	if (n == 0)
		metrics_flush(l->a, &l->mp, 0);
	if (n < 0 && errno == EINTR)
		return;
	if (n < 0) {
		log_error("epoll_wait: %s", strerror(errno));
		l->ret = 1;
		l->stop = 1;
		return;
	}
	for (int i = 0; i < n && !(l->stop && l->ret); i++) {
		switch (evs[i].data.u32) {
		case SRC_SIGNAL: on_signal(l); break;
		case SRC_RING: on_ring(l); break;
		case SRC_FAILURES: on_failures(l); break;
		default: on_ctr_data(l); break;
		}
	}
	agent_commit(l->a);
	metrics_flush(l->a, &l->mp, 0);
}

static void log_stopped(const struct agent_stats *st)
{
	log_info("tardisd stopped: recorded=%llu recovered=%llu unknown=%llu duplicates=%llu "
		 "unattributed=%llu lookups_memory=%llu lookups_index=%llu errors=%llu",
		 (unsigned long long)st->recorded, (unsigned long long)st->recovered,
		 (unsigned long long)st->unknown, (unsigned long long)st->duplicates,
		 (unsigned long long)st->unattributed, (unsigned long long)st->lookups_memory,
		 (unsigned long long)st->lookups_index, (unsigned long long)st->errors);
}

/* After the last round: what arrived before the signal, the last figures. */
static void loop_finish(struct loop *l)
{
	if (l->rb)
		ring_buffer__consume(l->rb);
	agent_commit_stop(l->a);
	l->mp.pending = 1;
	metrics_flush(l->a, &l->mp, 1);
	log_stopped(&l->a->stats);
}

static void loop_close(struct loop *l)
{
	ring_buffer__free(l->rb);
	if (l->ctr_pid > 0) {
		kill(l->ctr_pid, SIGTERM);
		waitpid(l->ctr_pid, NULL, 0);
		close(l->ctr_fd);
	}
	if (l->sfd >= 0)
		close(l->sfd);
	if (l->ifd >= 0)
		close(l->ifd);
	if (l->ep >= 0)
		close(l->ep);
}

int tardisd_run(struct agent *a, const struct opts *o, int ready_fd)
{
	struct loop *l = calloc(1, sizeof(*l));
	int ret;

	if (!l) {
		log_error("out of memory");
		return 1;
	}
	*l = (struct loop){ .a = a, .o = o, .ep = -1, .sfd = -1, .ifd = -1, .wd_forgotten = -1, .wd_pids = -1,
			    .ctr_pid = -1, .ctr_fd = -1 };
	metrics_pace_init(&l->mp, a, o);
	if (loop_open(l) < 0) {
		loop_close(l);
		free(l);
		return 1;
	}
	/* After loop_open: the thread inherits its blocked signals (and,
	 * with agent_sched_init first, its scheduling). */
	agent_sched_init(&a->sched, a->cfg.agent_rt_priority, "event loop");
	agent_commit_start(a);
	if ((strcmp(o->source, "bpf") == 0 ? source_bpf_start(l) : source_ctr_start(l)) < 0) {
		agent_commit_stop(a);
		loop_close(l);
		free(l);
		return 1;
	}
	failures_watch(l);
	leases_start(a);
	metrics_flush(a, &l->mp, 1);
	log_info("tardisd %d running: source=%s state=%s bpf=%s program=%s", (int)getpid(),
		 o->source, a->cfg.state_dir, a->cfg.bpf_dir, a->mon.variant ? a->mon.variant : "-");
	notify_ready(ready_fd);
	while (!l->stop)
		loop_once(l);
	loop_finish(l);
	loop_close(l);
	ret = l->ret;
	free(l);
	return ret;
}
