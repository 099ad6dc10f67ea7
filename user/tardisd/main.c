/*
 * tardisd: the root agent.  Keeps the exit monitor loaded and turns every
 * container init exit into an exit record in the state store.
 */
#include "tardisd.h"
#include "deadline.h"
#include "agent_lock.h"
#include "cleanup.h"
#include "log.h"

#include <bpf/libbpf.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

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
		"  -h, --help\n"
		"exit status: 3 a tardisd already runs for this state dir; 4 a tardisd of\n"
		"another state dir already consumes the pin dir (one agent per pin dir)\n");
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

	fd = openat(s->root_fd, TARDISD_PID_FILE, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		log_error("open %s/%s: %s", s->path, TARDISD_PID_FILE, strerror(errno));
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

/* Every fd from 3 up but keep closed.  Started on demand, the agent
 * inherits what its starter held: under containerd, tardis-runc's fds
 * are the shim's, among them the shim's listening socket.  An agent that
 * kept it would answer for a dead shim: containerd's next shim for that
 * container connects to it and waits forever. */
static void close_inherited(int keep)
{
	DIR *d;
	struct dirent *e;

	if ((keep <= 3 || close_range(3, keep - 1, 0) == 0) &&
	    close_range(keep < 3 ? 3 : keep + 1, ~0U, 0) == 0)
		return;
	d = opendir("/proc/self/fd");
	if (!d)
		return;
	while ((e = readdir(d))) {
		int fd = atoi(e->d_name);

		if (fd >= 3 && fd != keep && fd != dirfd(d))
			close(fd);
	}
	closedir(d);
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
		char msg[8192];
		ssize_t n;

		close(p[1]);
		/* '1' running, '3' another agent runs, '4' + why: another
		 * agent consumes the pin dir (main's exit codes). */
		n = read(p[0], msg, sizeof(msg) - 1);
		c = n > 0 ? msg[0] : '\0';
		if (c == '4' && n > 1)
			fprintf(stderr, "%.*s\n", (int)(n - 1), msg + 1);
		exit(n <= 0 ? 1 : c == '3' ? 3 : c == '4' ? 4 : 0);
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
	close_inherited(p[1]);
	umask(077);
	*ready_fd = p[1];
	return 0;
}

/* The exit monitor: loaded (or reused) for the BPF source; for ctr
 * events, only if pinned, so that registrations still reach the kernel. */
static int monitor_start(struct agent *a, const struct opts *o)
{
	tardis_error_t err = NULL;

	if (strcmp(o->source, "bpf") != 0) {
		a->have_monitor = monitor_open_optional(&a->mon, a->cfg.bpf_dir, NULL) != NULL;
		return 0;
	}
	if (monitor_load_or_reuse(&a->mon, a->cfg.bpf_dir, &err) < 0) {
		tardis_error_log_release(TARDIS_LOG_ERROR, "exit monitor", &err);
		return -1;
	}
	a->have_monitor = 1;
	return 0;
}

/* The ring buffer's only consumer: the lock on the pin dir (agent_lock.h).
 * Returns its fd (-1 for ctr events, which do not read the ring buffer),
 * -2 an error, -4 another agent holds it. */
static int pin_dir_lock(struct agent *a, const struct opts *o, int ready_fd)
{
	tardis_error_t err = NULL;
	struct agent_holder h;
	char msg[8192];
	int fd;

	if (strcmp(o->source, "bpf") != 0)
		return -1;
	if (monitor_pin_dir_ensure(a->cfg.bpf_dir, &err) < 0) {
		tardis_error_log_release(TARDIS_LOG_ERROR, "exit monitor", &err);
		return -2;
	}
	fd = agent_lock_acquire(a->cfg.bpf_dir, a->cfg.state_dir, &h, &err);
	if (fd == -1) {
		tardis_error_log_release(TARDIS_LOG_ERROR, NULL, &err);
		return -2;
	}
	if (fd >= 0)
		return fd;
	snprintf(msg, sizeof(msg),
		 "4tardisd: another tardisd (pid %d, state dir %s) already consumes the BPF pin dir %s",
		 (int)h.pid, h.state_dir[0] ? h.state_dir : "unknown", a->cfg.bpf_dir);
	log_error("%s", msg + strlen("4tardisd: "));
	if (ready_fd >= 0 && write(ready_fd, msg, strlen(msg)) < 0)
		log_warn("notify parent: %s", strerror(errno));
	else if (ready_fd < 0 && strcmp(a->cfg.log_file, "stderr") != 0 && a->cfg.log_file[0])
		fprintf(stderr, "%s\n", msg + 1);
	return -4;
}

/* Logging, the state store and the single-instance locks (the state
 * dir's pid file, then the pin dir); returns the pid file's fd, or
 * -(main's exit code). */
static int agent_open(struct agent *a, const struct opts *o, int ready_fd, int *pin_fd)
{
	tardis_error_t err = NULL;
	int detached = o->daemon && !o->foreground, lock_fd;

	/* Detached, stderr is /dev/null: without a log file, use syslog. */
	if (detached && !a->cfg.log_file[0])
		strcpy(a->cfg.log_file, "syslog");
	if (tardis_log_open("tardisd", a->cfg.log_file, a->cfg.log_level) < 0)
		fprintf(stderr, "tardisd: cannot open log `%s`, using stderr\n", a->cfg.log_file);
	if (store_open(&a->store, a->cfg.state_dir, &err) < 0) {
		tardis_error_log_release(TARDIS_LOG_ERROR, NULL, &err);
		return -1;
	}
	lock_fd = pidfile_lock(&a->store, detached);
	if (lock_fd == -2 && ready_fd >= 0 && write(ready_fd, "3", 1) < 0)
		log_warn("notify parent: %s", strerror(errno));
	if (lock_fd < 0)
		return lock_fd == -2 ? -3 : -1;
	/* The single instance: pids/, containers/ and the namespaces kept open. */
	if (store_keep_dirs(&a->store, &err) < 0)
		tardis_error_log_release(TARDIS_LOG_WARN, "state directory (walked from its root)",
					 &err);
	*pin_fd = pin_dir_lock(a, o, ready_fd);
	if (*pin_fd < -1) {
		/* Not ours to run: the pid file names no agent. */
		unlinkat(a->store.root_fd, TARDISD_PID_FILE, 0);
		close(lock_fd);
		return *pin_fd == -4 ? -4 : -1;
	}
	/* The lease renewal's helpers (leases.c) may outlive a killed agent. */
	deadline_close_in_helpers(lock_fd);
	deadline_close_in_helpers(*pin_fd);
	/* Before any event, and before the parent hears we run: the records
	 * a power loss took from their files are back. */
	agent_journal_open(a);
	return lock_fd;
}

/* --unload works under a running agent too (it then has no monitor any
 * more): said, not refused. */
static int unload(const struct tardis_config *cfg)
{
	cleanup_error tardis_error_t err = NULL;
	struct agent_holder h;

	if (agent_lock_probe(cfg->bpf_dir, &h) == 1)
		fprintf(stderr, "tardisd: warning: tardisd (pid %d, state dir %s) still consumes %s\n",
			(int)h.pid, h.state_dir[0] ? h.state_dir : "unknown", cfg->bpf_dir);
	else
		agent_lock_forget(cfg->bpf_dir); /* a killed agent's name for it */
	if (monitor_unpin(cfg->bpf_dir, &err) < 0) {
		fprintf(stderr, "tardisd: %s\n", tardis_error_msg(err));
		return 1;
	}
	return 0;
}

/* The commit queue's arrays (agent_commit_init), on every way out. */
static int agent_free(struct agent *a, int ret)
{
	reg_cache_free(a->regs);
	a->regs = NULL;
	str_set_free(a->logged);
	str_set_free(a->logged_tail);
	a->logged = a->logged_tail = NULL;
	free(a->commit.forgets);
	a->commit.forgets = NULL;
	free(a->commit.queue);
	free(a->commit.batch);
	a->commit.queue = a->commit.batch = NULL;
	if (a->commit.journal_fd >= 0)
		close(a->commit.journal_fd);
	a->commit.journal_fd = -1;
	return ret;
}

int main(int argc, char **argv)
{
	struct opts o = { .source = "bpf", .address = "/run/containerd/containerd.sock",
			  .ctr = "ctr" };
	struct agent a;
	cleanup_error tardis_error_t err = NULL;
	int ready_fd = -1, lock_fd, pin_fd = -1, ret;

	memset(&a, 0, sizeof(a));
	monitor_init(&a.mon);
	if (agent_commit_init(&a) < 0 || !(a.regs = reg_cache_new()) ||
	    !(a.logged = str_set_new()) || !(a.logged_tail = str_set_new())) {
		fprintf(stderr, "tardisd: out of memory\n");
		return agent_free(&a, 1);
	}
	if (config_load(&a.cfg, &err) < 0) {
		fprintf(stderr, "tardisd: %s\n", tardis_error_msg(err));
		return agent_free(&a, 1);
	}
	if (parse_opts(argc, argv, &o, &a.cfg) < 0)
		return agent_free(&a, 2);
	libbpf_verbose = o.verbose;
	libbpf_set_print(libbpf_print);
	if (o.unload)
		return agent_free(&a, unload(&a.cfg));
	if (o.daemon && !o.foreground && daemonize(&ready_fd) < 0) {
		fprintf(stderr, "tardisd: daemonize: %s\n", strerror(errno));
		return agent_free(&a, 1);
	}
	lock_fd = agent_open(&a, &o, ready_fd, &pin_fd);
	if (lock_fd < 0) {
		store_close(&a.store);
		return agent_free(&a, -lock_fd);
	}
	ret = monitor_start(&a, &o) < 0 ? 1 : tardisd_run(&a, &o, ready_fd);
	unlinkat(a.store.root_fd, TARDISD_PID_FILE, 0);
	close(lock_fd);
	monitor_close(&a.mon);
	agent_lock_release(pin_fd, a.cfg.bpf_dir);
	store_close(&a.store);
	tardis_log_close();
	return agent_free(&a, ret);
}
