/*
 * tardisd: the root agent.  Keeps the exit monitor loaded and turns every
 * container init exit into an exit record in the state store.
 */
#include "agent.h"
#include "cleanup.h"
#include "log.h"

#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PID_FILE TARDISD_PID_FILE

struct opts {
	int foreground;
	int daemon;
	int verbose;
	int unload;
	const char *source;
	const char *address;
	const char *ctr;
	const char *metrics_file;
	int log_file_set;  /* given on the command line: wins over the config */
	int log_level_set;
};

static int libbpf_verbose;

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char buf[65536];

	if (level == LIBBPF_DEBUG && !libbpf_verbose)
		return 0;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	/* The verifier's log comes as one message of many lines: one log line
	 * each, so that none is lost. */
	for (char *line = buf, *nl; line && *line; line = nl ? nl + 1 : NULL) {
		nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		if (*line)
			tardis_log(level == LIBBPF_WARN ? TARDIS_LOG_WARN : TARDIS_LOG_DEBUG, "%s",
				   line);
	}
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: tardisd [options]\n"
		"  -f, --foreground        stay in the foreground (default)\n"
		"  -d, --daemon            detach; returns once the monitor is running\n"
		"      --source S          bpf (default) or ctr-events\n"
		"      --address SOCK      containerd socket for --source ctr-events\n"
		"      --ctr PATH          ctr binary for --source ctr-events\n"
		"      --state-dir DIR     state directory (default /var/lib/tardis)\n"
		"      --bpf-dir DIR       pin directory (default /sys/fs/bpf/tardis)\n"
		"      --log-file F        log file, \"syslog\" or \"stderr\"\n"
		"      --log-level L       error, warn, info, debug\n"
		"      --metrics-file F    Prometheus text file (default STATE_DIR/metrics.prom;\n"
		"                          \"none\": no metrics)\n"
		"  -v, --verbose           debug logging, libbpf's messages included\n"
		"      --unload            detach and unpin the monitor, then exit\n"
		"  -h, --help\n");
}

static int parse_opts(int argc, char **argv, struct opts *o, struct tardis_config *cfg)
{
	enum { O_SOURCE = 256, O_ADDRESS, O_CTR, O_STATE, O_BPF, O_LOGF, O_LOGL, O_UNLOAD, O_METRICS };
	static const struct option longopts[] = {
		{ "foreground", no_argument, NULL, 'f' },
		{ "daemon", no_argument, NULL, 'd' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "source", required_argument, NULL, O_SOURCE },
		{ "address", required_argument, NULL, O_ADDRESS },
		{ "ctr", required_argument, NULL, O_CTR },
		{ "state-dir", required_argument, NULL, O_STATE },
		{ "bpf-dir", required_argument, NULL, O_BPF },
		{ "log-file", required_argument, NULL, O_LOGF },
		{ "log-level", required_argument, NULL, O_LOGL },
		{ "unload", no_argument, NULL, O_UNLOAD },
		{ "metrics-file", required_argument, NULL, O_METRICS },
		{ 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "fdvh", longopts, NULL)) != -1) {
		switch (c) {
		case 'f': o->foreground = 1; break;
		case 'd': o->daemon = 1; break;
		case 'v': o->verbose = 1; o->log_level_set = 1; cfg->log_level = TARDIS_LOG_DEBUG; break;
		case 'h': usage(stdout); exit(0);
		case O_SOURCE: o->source = optarg; break;
		case O_ADDRESS: o->address = optarg; break;
		case O_CTR: o->ctr = optarg; break;
		case O_STATE:
			if (optarg[0] != '/' || strlen(optarg) >= sizeof(cfg->state_dir))
				goto bad;
			strcpy(cfg->state_dir, optarg);
			break;
		case O_BPF:
			if (optarg[0] != '/' || strlen(optarg) >= sizeof(cfg->bpf_dir))
				goto bad;
			strcpy(cfg->bpf_dir, optarg);
			break;
		case O_LOGF:
			if (strlen(optarg) >= sizeof(cfg->log_file))
				goto bad;
			strcpy(cfg->log_file, optarg);
			o->log_file_set = 1;
			break;
		case O_LOGL:
			cfg->log_level = tardis_log_level_parse(optarg);
			if (cfg->log_level < 0)
				goto bad;
			o->log_level_set = 1;
			break;
		case O_UNLOAD: o->unload = 1; break;
		case O_METRICS:
			if (strcmp(optarg, "none") != 0 && optarg[0] != '/')
				goto bad;
			o->metrics_file = optarg;
			break;
		default: usage(stderr); return -1;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "tardisd: unexpected argument `%s`\n", argv[optind]);
		return -1;
	}
	if (strcmp(o->source, "bpf") != 0 && strcmp(o->source, "ctr-events") != 0) {
		fprintf(stderr, "tardisd: --source must be bpf or ctr-events\n");
		return -1;
	}
	return 0;
bad:
	fprintf(stderr, "tardisd: bad value `%s`\n", optarg);
	return -1;
}

/* Single instance: a lock held on the pid file for the agent's lifetime.
 * quiet: started on demand (--daemon), where losing the race to another
 * tardis-runc's agent is expected, not an error. */
static int pidfile_lock(struct tardis_store *s, int quiet)
{
	char buf[32];
	int fd;

	fd = openat(s->root_fd, PID_FILE, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		log_error("open %s/%s: %s", s->path, PID_FILE, strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);

		buf[n > 0 ? n : 0] = '\0';
		buf[strcspn(buf, "\n")] = '\0';
		tardis_log(quiet ? TARDIS_LOG_INFO : TARDIS_LOG_ERROR,
			   "tardisd already running (pid %s)", buf);
		close(fd);
		return -2;
	}
	snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, strlen(buf), 0) < 0) {
		log_error("write pid file: %s", strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static int on_ring_event(void *ctx, void *data, size_t len)
{
	struct agent *a = ctx;

	if (len < sizeof(struct tardis_exit_event))
		return 0;
	agent_handle_event(a, data, "bpf");
	return 0;
}

/* A full ring buffer drops events in the kernel; they stay in recent_exits. */
static void check_drops(struct agent *a)
{
	struct tardis_counters c;
	tardis_error_t err = NULL;

	if (monitor_counters(&a->mon, &c, &err) < 0) {
		log_warn("%s", tardis_error_msg(err));
		tardis_error_free(&err);
		return;
	}
	if (c.drops != a->stats.drops_seen) {
		log_warn("ring buffer dropped %llu events; recovering from recent_exits",
			 (unsigned long long)(c.drops - a->stats.drops_seen));
		a->stats.drops_seen = c.drops;
		agent_scan_recent(a);
	}
}

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
	tardis_log_open("tardisd", a->cfg.log_file, a->cfg.log_level);
	log_info("configuration reloaded: log_level=%s log_file=%s",
		 tardis_log_level_name(a->cfg.log_level), a->cfg.log_file[0] ? a->cfg.log_file : "stderr");
}

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

static void metrics_flush(struct agent *a, struct metrics_pace *m, int force)
{
	tardis_error_t err = NULL;
	uint64_t now = monotonic_ns();

	if (!m->path[0] || !m->pending)
		return;
	if (!force && m->last_ns && now - m->last_ns < METRICS_MIN_GAP_NS)
		return;
	if (agent_metrics_write(a, m->path, m->started_at, &err) < 0) {
		log_warn("metrics: %s", tardis_error_msg(err));
		tardis_error_free(&err);
	}
	m->last_ns = now;
	m->pending = 0;
}

/* epoll timeout: -1 (none) unless a write waits for its second. */
static int metrics_timeout_ms(const struct metrics_pace *m)
{
	uint64_t now = monotonic_ns();

	if (!m->path[0] || !m->pending)
		return -1;
	if (now - m->last_ns >= METRICS_MIN_GAP_NS)
		return 0;
	return (int)((METRICS_MIN_GAP_NS - (now - m->last_ns)) / 1000000) + 1;
}

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

static int run(struct agent *a, const struct opts *o, int ready_fd)
{
	struct ring_buffer *rb = NULL;
	cleanup_close int ep = -1;
	cleanup_close int sfd = -1;
	int ctr_fd = -1, ret = 0, stop = 0;
	pid_t ctr_pid = -1;
	char line[65536];
	size_t line_len = 0;
	struct epoll_event ev = { .events = EPOLLIN };
	struct metrics_pace mp = { .pending = 1 };
	sigset_t mask;

	{
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		mp.started_at = ts.tv_sec + ts.tv_nsec / 1e9;
	}
	if (!o->metrics_file)
		snprintf(mp.path, sizeof(mp.path), "%s/metrics.prom", a->cfg.state_dir);
	else if (strcmp(o->metrics_file, "none") != 0)
		snprintf(mp.path, sizeof(mp.path), "%s", o->metrics_file);

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (sfd < 0 || ep < 0) {
		log_error("epoll/signalfd: %s", strerror(errno));
		return 1;
	}
	ev.data.u32 = 0;
	epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &ev);

	if (strcmp(o->source, "bpf") == 0) {
		rb = ring_buffer__new(a->mon.events_fd, on_ring_event, a, NULL);
		if (!rb) {
			log_error("ring buffer: %s", strerror(errno));
			return 1;
		}
		ev.data.u32 = 1;
		epoll_ctl(ep, EPOLL_CTL_ADD, ring_buffer__epoll_fd(rb), &ev);
		/* Reconcile: the backlog in the ring, then what only the kernel's
		 * recent-exits map still holds, then inits that left no trace. */
		ring_buffer__consume(rb);
		agent_scan_recent(a);
		agent_scan_vanished(a);
		{
			struct tardis_counters c;
			tardis_error_t err = NULL;

			if (monitor_counters(&a->mon, &c, &err) == 0)
				a->stats.drops_seen = c.drops;
			tardis_error_free(&err);
		}
	} else {
		ctr_pid = spawn_ctr_events(o, &ctr_fd);
		if (ctr_pid < 0) {
			log_error("start %s events: %s", o->ctr, strerror(errno));
			return 1;
		}
		ev.data.u32 = 2;
		epoll_ctl(ep, EPOLL_CTL_ADD, ctr_fd, &ev);
		agent_scan_vanished(a);
	}
	metrics_flush(a, &mp, 1);
	log_info("tardisd %d running: source=%s state=%s bpf=%s program=%s", (int)getpid(),
		 o->source, a->cfg.state_dir, a->cfg.bpf_dir, a->mon.variant ? a->mon.variant : "-");
	if (ready_fd >= 0) {
		if (write(ready_fd, "1", 1) < 0)
			log_warn("notify parent: %s", strerror(errno));
		close(ready_fd);
	}

	while (!stop) {
		struct epoll_event evs[4];
		/* No timeout, no idle wake-ups; only a metrics write waiting
		 * for its second sets one. */
		int n = epoll_wait(ep, evs, 4, metrics_timeout_ms(&mp));

		if (n == 0)
			metrics_flush(a, &mp, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			log_error("epoll_wait: %s", strerror(errno));
			ret = 1;
			break;
		}
		for (int i = 0; i < n; i++) {
			if (evs[i].data.u32 == 0) {
				struct signalfd_siginfo si;

				if (read(sfd, &si, sizeof(si)) == sizeof(si)) {
					if (si.ssi_signo == SIGHUP) {
						reload_config(a, o);
						continue;
					}
					log_info("signal %d: stopping", (int)si.ssi_signo);
					stop = 1;
				}
			} else if (evs[i].data.u32 == 1) {
				if (ring_buffer__consume(rb) < 0)
					log_warn("ring buffer consume: %s", strerror(errno));
				check_drops(a);
				mp.pending = 1;
			} else {
				ssize_t r = read(ctr_fd, line + line_len, sizeof(line) - 1 - line_len);
				char *nl, *start = line;

				if (r <= 0) {
					log_error("ctr events stream ended");
					ret = 1;
					stop = 1;
					break;
				}
				line_len += r;
				line[line_len] = '\0';
				while ((nl = memchr(start, '\n', line + line_len - start))) {
					*nl = '\0';
					agent_handle_ctr_line(a, start);
					start = nl + 1;
				}
				line_len -= start - line;
				memmove(line, start, line_len);
				mp.pending = 1;
				if (line_len == sizeof(line) - 1) {
					log_warn("ctr events: line too long, dropped");
					line_len = 0;
				}
			}
		}
		metrics_flush(a, &mp, 0);
	}
	if (rb) {
		ring_buffer__consume(rb); /* what arrived before the signal */
		ring_buffer__free(rb);
	}
	mp.pending = 1;
	metrics_flush(a, &mp, 1);
	if (ctr_pid > 0) {
		kill(ctr_pid, SIGTERM);
		waitpid(ctr_pid, NULL, 0);
		close(ctr_fd);
	}
	log_info("tardisd stopped: recorded=%llu recovered=%llu unknown=%llu duplicates=%llu "
		 "unattributed=%llu errors=%llu",
		 (unsigned long long)a->stats.recorded, (unsigned long long)a->stats.recovered,
		 (unsigned long long)a->stats.unknown, (unsigned long long)a->stats.duplicates,
		 (unsigned long long)a->stats.unattributed, (unsigned long long)a->stats.errors);
	return ret;
}

/* Detach; the parent returns only once the child reports it is running. */
static int daemonize(int *ready_fd)
{
	int p[2];
	pid_t pid;
	char c;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid > 0) {
		close(p[1]);
		/* '1' running, '3' another agent runs (main's exit codes). */
		exit(read(p[0], &c, 1) == 1 ? (c == '3' ? 3 : 0) : 1);
	}
	close(p[0]);
	setsid();
	pid = fork();
	if (pid < 0)
		_exit(1);
	if (pid > 0)
		_exit(0);
	if (chdir("/") < 0)
		_exit(1);
	{
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);

		if (null >= 0) {
			dup2(null, 0);
			dup2(null, 1);
			dup2(null, 2);
			close(null);
		}
	}
	umask(077);
	*ready_fd = p[1];
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o = { .source = "bpf", .address = "/run/containerd/containerd.sock",
			  .ctr = "ctr" };
	struct agent a;
	cleanup_error tardis_error_t err = NULL;
	int ready_fd = -1, lock_fd, ret;

	memset(&a, 0, sizeof(a));
	if (config_load(&a.cfg, &err) < 0) {
		fprintf(stderr, "tardisd: %s\n", tardis_error_msg(err));
		return 1;
	}
	if (parse_opts(argc, argv, &o, &a.cfg) < 0)
		return 2;
	libbpf_verbose = o.verbose;
	libbpf_set_print(libbpf_print);
	if (o.unload) {
		if (monitor_unpin(a.cfg.bpf_dir, &err) < 0) {
			fprintf(stderr, "tardisd: %s\n", tardis_error_msg(err));
			return 1;
		}
		return 0;
	}
	if (o.daemon && !o.foreground && daemonize(&ready_fd) < 0) {
		fprintf(stderr, "tardisd: daemonize: %s\n", strerror(errno));
		return 1;
	}
	/* Detached, stderr is /dev/null: without a log file, use syslog. */
	if (o.daemon && !o.foreground && !a.cfg.log_file[0])
		strcpy(a.cfg.log_file, "syslog");
	if (tardis_log_open("tardisd", a.cfg.log_file, a.cfg.log_level) < 0)
		fprintf(stderr, "tardisd: cannot open log `%s`, using stderr\n", a.cfg.log_file);
	if (store_open(&a.store, a.cfg.state_dir, &err) < 0) {
		log_error("%s", tardis_error_msg(err));
		return 1;
	}
	lock_fd = pidfile_lock(&a.store, o.daemon && !o.foreground);
	if (lock_fd < 0) {
		if (lock_fd == -2 && ready_fd >= 0 && write(ready_fd, "3", 1) < 0)
			log_warn("notify parent: %s", strerror(errno));
		return lock_fd == -2 ? 3 : 1;
	}
	if (strcmp(o.source, "bpf") == 0) {
		if (monitor_load_or_reuse(&a.mon, a.cfg.bpf_dir, &err) < 0) {
			log_error("exit monitor: %s", tardis_error_msg(err));
			return 1;
		}
		a.have_monitor = 1;
	} else if (monitor_open_pinned(&a.mon, a.cfg.bpf_dir, &err) == 0) {
		a.have_monitor = 1; /* registrations still reach the kernel map */
	} else {
		tardis_error_free(&err);
	}
	ret = run(&a, &o, ready_fd);
	unlinkat(a.store.root_fd, PID_FILE, 0);
	close(lock_fd);
	monitor_close(&a.mon);
	store_close(&a.store);
	tardis_log_close();
	return ret;
}
