/*
 * Many registered container inits exiting at once.
 *
 *   exit_burst --count N --ns NS --prefix P [--wait-signal] [--status-file F]
 *              [--no-verify] [--timeout S]
 *     Forks N plain host processes, all blocked on one pipe; registers each
 *     through the library as NS/P-<i> (state.json, pid index, kernel map);
 *     with --wait-signal prints "READY <N>" and waits for SIGUSR1; then
 *     closes the pipe so they all exit at once, each with its own status
 *     (exit codes, SIGTERM, SIGKILL), reaps them all, writes
 *     "<id> <pid> <start_time> <wait_status>" lines to the status file and,
 *     unless --no-verify, waits until every exit record matches waitpid().
 *
 *   exit_burst --verify F --ns NS [--timeout S]
 *     Only the last step, for a status file written earlier (e.g. before the
 *     agent was restarted).
 *
 *   exit_burst --flood-ring [--flood N]
 *     Fills the exit monitor's ring buffer (run it while the agent is
 *     stopped): every pid not in use is put in the kernel's registered map
 *     (kernel map only, start time 0 = any process), N short-lived children
 *     (default: the ring's capacity in events + 2048) exit and are reaped,
 *     then exactly those map entries are removed again.  The agent sees these
 *     exits as unattributed (no pid index entry); whatever exits next is
 *     dropped from the ring and must be recovered from recent_exits.
 *
 * Last line: "VERIFY ok=<n> total=<n> mismatched=<n> missing=<n> ..."; the
 * exit status is 0 only when every exit was recorded exactly as waitpid saw it.
 */
#include "config.h"
#include "exit_record.h"
#include "monitor.h"
#include "proc.h"
#include "registry.h"
#include "state.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct child {
	char id[64];
	pid_t pid;
	uint64_t start;
	int status;  /* from waitpid */
	int done;    /* verified */
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* What child i does once released: mostly exit codes, some signals. */
static int expected_status(int i)
{
	if (i % 10 == 9)
		return SIGKILL;
	if (i % 10 == 8)
		return SIGTERM;
	return (i % 256) << 8;
}

static void child_main(int i, int rfd)
{
	char c;
	ssize_t n;

	do
		n = read(rfd, &c, 1);
	while (n < 0 && errno == EINTR);
	if (n != 0)
		_exit(126); /* only EOF releases */
	if (i % 10 == 9)
		kill(getpid(), SIGKILL);
	else if (i % 10 == 8)
		kill(getpid(), SIGTERM);
	else
		_exit(i % 256);
	_exit(125);
}

static int cmp_pid(const void *a, const void *b)
{
	const struct child *x = a, *y = b;

	return (x->pid > y->pid) - (x->pid < y->pid);
}

/* Waits until each child's exit record matches; returns the number missing
 * or wrong at the end. */
static int verify(struct tardis_store *store, const char *ns, struct child *c, int n,
		  int timeout_s)
{
	double t0 = now_s(), deadline = t0 + timeout_s, last_ok_at = t0;
	int ok = 0, mismatched = 0, missing, unknown = 0;
	int src_bpf = 0, src_recent = 0, src_other = 0;

	for (;;) {
		for (int i = 0; i < n; i++) {
			tardis_error_t err = NULL;
			struct exit_record r;
			char *text = NULL;
			int dfd;

			if (c[i].done)
				continue;
			dfd = store_container_dir(store, ns, c[i].id, 0, &err);
			if (dfd < 0) {
				tardis_error_free(&err);
				continue;
			}
			if (store_read(dfd, EXIT_RECORD_FILE, 1 << 16, &text, NULL, &err) < 0) {
				tardis_error_free(&err);
				close(dfd);
				continue;
			}
			close(dfd);
			if (exit_record_from_json(text, &r, &err) < 0) {
				fprintf(stderr, "%s: bad record: %s\n", c[i].id, tardis_error_msg(err));
				tardis_error_free(&err);
				r.known = 0;
				r.pid = -1;
			}
			free(text);
			c[i].done = 1;
			if (r.known && r.has_wait_status && r.wait_status == c[i].status &&
			    r.pid == c[i].pid && r.start_time == c[i].start &&
			    strcmp(r.ns, ns) == 0 && strcmp(r.id, c[i].id) == 0) {
				ok++;
			} else {
				if (!r.known)
					unknown++;
				mismatched++;
				if (mismatched <= 10)
					fprintf(stderr, "%s: pid %d waitpid 0x%x, recorded pid %d %s 0x%x\n",
						c[i].id, (int)c[i].pid, c[i].status, r.pid,
						r.known ? "wait_status" : "unknown", r.wait_status);
			}
			last_ok_at = now_s();
			if (strcmp(r.source, "bpf") == 0)
				src_bpf++;
			else if (strcmp(r.source, "bpf-recent") == 0)
				src_recent++;
			else
				src_other++;
		}
		if (ok + mismatched == n || now_s() > deadline)
			break;
		usleep(50 * 1000);
	}
	missing = n - ok - mismatched;
	for (int i = 0, shown = 0; i < n && shown < 10; i++) {
		if (!c[i].done) {
			fprintf(stderr, "%s: pid %d waitpid 0x%x: no exit record\n", c[i].id,
				(int)c[i].pid, c[i].status);
			shown++;
		}
	}
	printf("VERIFY ok=%d total=%d mismatched=%d missing=%d unknown=%d source_bpf=%d "
	       "source_bpf_recent=%d source_other=%d last_record_after_ms=%.0f\n",
	       ok, n, mismatched, missing, unknown, src_bpf, src_recent, src_other,
	       (last_ok_at - t0) * 1e3);
	return mismatched + missing;
}

static struct child *read_status_file(const char *path, int *n)
{
	struct child *c = NULL;
	size_t cap = 0;
	char line[256];
	FILE *f = fopen(path, "re");

	*n = 0;
	if (!f) {
		perror(path);
		return NULL;
	}
	while (fgets(line, sizeof(line), f)) {
		unsigned long long st;
		int pid, status;
		char id[64];

		if (sscanf(line, "%63s %d %llu %d", id, &pid, &st, &status) != 4)
			continue;
		if ((size_t)*n == cap) {
			cap = cap ? cap * 2 : 256;
			c = realloc(c, cap * sizeof(*c));
			if (!c)
				exit(2);
		}
		memset(&c[*n], 0, sizeof(*c));
		snprintf(c[*n].id, sizeof(c[*n].id), "%s", id);
		c[*n].pid = pid;
		c[*n].start = st;
		c[*n].status = status;
		(*n)++;
	}
	fclose(f);
	return c;
}

static int flood_ring(long n)
{
	struct tardis_config cfg;
	struct tardis_monitor mon;
	tardis_error_t err = NULL;
	unsigned char *mine;
	long pid_max = 32768, mapped = 0;
	double t0 = now_s();
	FILE *f;

	if (config_load(&cfg, &err) < 0 || monitor_open_pinned(&mon, cfg.bpf_dir, &err) < 0) {
		fprintf(stderr, "exit_burst: %s\n", tardis_error_msg(err));
		return 2;
	}
	f = fopen("/proc/sys/kernel/pid_max", "re");
	if (f) {
		if (fscanf(f, "%ld", &pid_max) != 1)
			pid_max = 32768;
		fclose(f);
	}
	if (n <= 0)
		n = TARDIS_RINGBUF_BYTES / (sizeof(struct tardis_exit_event) + 8) + 2048;
	mine = calloc(pid_max + 1, 1);
	if (!mine)
		return 2;
	/* Pids not yet alive have no task storage: the hash, looked at. */
	if (monitor_use_hash(&mon, &err) < 0) {
		fprintf(stderr, "exit_burst: %s\n", tardis_error_msg(err));
		return 2;
	}
	/* Pids in use (the processes of the test among them) keep their entries. */
	for (long p = 300; p <= pid_max; p++) {
		if (kill((pid_t)p, 0) == 0 || errno != ESRCH)
			continue;
		if (monitor_register_pid(&mon, (pid_t)p, 0, &err) < 0) {
			fprintf(stderr, "exit_burst: %s\n", tardis_error_msg(err));
			tardis_error_free(&err);
			break;
		}
		mine[p] = 1;
		mapped++;
	}
	for (long i = 0; i < n; i++) {
		pid_t pid = fork();

		if (pid == 0)
			_exit(0);
		if (pid < 0) {
			perror("fork");
			break;
		}
		waitpid(pid, NULL, 0);
	}
	for (long p = 300; p <= pid_max; p++)
		if (mine[p])
			monitor_unregister_pid(&mon, (pid_t)p, 0);
	free(mine);
	monitor_close(&mon);
	printf("FLOOD exits=%ld pids_mapped=%ld took_ms=%.0f\n", n, mapped, (now_s() - t0) * 1e3);
	return 0;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: exit_burst --count N --ns NS --prefix P [--wait-signal] [--status-file F]\n"
		"                  [--no-verify] [--timeout S]\n"
		"       exit_burst --verify F --ns NS [--timeout S]\n"
		"       exit_burst --flood-ring [--flood N]\n");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "count", required_argument, NULL, 'n' },
		{ "ns", required_argument, NULL, 's' },
		{ "prefix", required_argument, NULL, 'p' },
		{ "wait-signal", no_argument, NULL, 'w' },
		{ "status-file", required_argument, NULL, 'f' },
		{ "no-verify", no_argument, NULL, 'N' },
		{ "verify", required_argument, NULL, 'V' },
		{ "timeout", required_argument, NULL, 't' },
		{ "flood-ring", no_argument, NULL, 'F' },
		{ "flood", required_argument, NULL, 'L' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	long flood = -1;
	const char *ns = NULL, *prefix = NULL, *status_file = NULL, *verify_file = NULL;
	int count = 0, wait_signal = 0, no_verify = 0, timeout_s = 60, opt, bad = 0;
	struct tardis_config cfg;
	struct tardis_store store;
	struct tardis_monitor mon;
	tardis_error_t err = NULL;
	struct child *c;
	int rel[2], forked = 0, reaped = 0;
	double t_fork, t_reg, t_rel, t_last = 0;
	sigset_t usr1;

	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'n': count = atoi(optarg); break;
		case 's': ns = optarg; break;
		case 'p': prefix = optarg; break;
		case 'w': wait_signal = 1; break;
		case 'f': status_file = optarg; break;
		case 'N': no_verify = 1; break;
		case 'V': verify_file = optarg; break;
		case 't': timeout_s = atoi(optarg); break;
		case 'F': flood = flood < 0 ? 0 : flood; break;
		case 'L': flood = atol(optarg); break;
		default: usage(); return 2;
		}
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (flood >= 0)
		return flood_ring(flood);
	if (!ns || (!verify_file && (count <= 0 || !prefix))) {
		usage();
		return 2;
	}
	if (config_load(&cfg, &err) < 0 || store_open(&store, cfg.state_dir, &err) < 0) {
		fprintf(stderr, "exit_burst: %s\n", tardis_error_msg(err));
		return 2;
	}
	if (verify_file) {
		c = read_status_file(verify_file, &count);
		if (!c || count == 0) {
			fprintf(stderr, "exit_burst: nothing in %s\n", verify_file);
			return 2;
		}
		return verify(&store, ns, c, count, timeout_s) ? 1 : 0;
	}

	c = calloc(count, sizeof(*c));
	if (!c || pipe(rel) < 0) {
		perror("exit_burst");
		return 2;
	}
	/* Children first, holding nothing but the read end of the pipe. */
	t_fork = now_s();
	for (; forked < count; forked++) {
		pid_t pid = fork();

		if (pid < 0) {
			fprintf(stderr, "exit_burst: fork #%d: %s\n", forked, strerror(errno));
			break;
		}
		if (pid == 0) {
			close(rel[1]);
			close(store.root_fd);
			child_main(forked, rel[0]);
		}
		c[forked].pid = pid;
		snprintf(c[forked].id, sizeof(c[forked].id), "%s-%d", prefix, forked);
	}
	close(rel[0]);
	if (forked < count) {
		/* Not started: end them (they exit on EOF), reap, give up. */
		close(rel[1]);
		while (wait(NULL) > 0)
			;
		return 2;
	}
	t_reg = now_s();
	printf("forked %d in %.0f ms\n", count, (t_reg - t_fork) * 1e3);

	if (monitor_open_pinned(&mon, cfg.bpf_dir, &err) < 0) {
		fprintf(stderr, "exit_burst: %s\n", tardis_error_msg(err));
		bad = 1;
	}
	for (int i = 0; i < count && !bad; i++) {
		if (proc_start_time(c[i].pid, &c[i].start) < 0 ||
		    registry_register(&store, &mon, ns, c[i].id, c[i].pid, c[i].start, &err) < 0) {
			fprintf(stderr, "exit_burst: register %s pid %d: %s\n", c[i].id,
				(int)c[i].pid, err ? tardis_error_msg(err) : "no /proc entry");
			tardis_error_free(&err);
			bad = 1;
		}
	}
	if (bad) {
		for (int i = 0; i < count; i++)
			kill(c[i].pid, SIGKILL);
		close(rel[1]);
		while (wait(NULL) > 0)
			;
		return 2;
	}
	printf("registered %d in %.0f ms\n", count, (now_s() - t_reg) * 1e3);

	if (wait_signal) {
		/* The test sends it sooner or ends us; on a loaded machine
		 * test_burst's ring flood took 314 s. */
		struct timespec ts = { .tv_sec = 1800 };

		sigemptyset(&usr1);
		sigaddset(&usr1, SIGUSR1);
		sigprocmask(SIG_BLOCK, &usr1, NULL);
		printf("READY %d\n", count);
		if (sigtimedwait(&usr1, NULL, &ts) < 0) {
			fprintf(stderr, "exit_burst: no SIGUSR1 within %ld s\n", (long)ts.tv_sec);
			bad = 1;
		}
	}

	/* EOF on the pipe releases all of them at once. */
	t_rel = now_s();
	close(rel[1]);
	qsort(c, count, sizeof(*c), cmp_pid);
	while (reaped < count) {
		struct child key, *ch;
		int status;
		pid_t pid = waitpid(-1, &status, 0);

		if (pid < 0) {
			if (errno == EINTR)
				continue;
			perror("waitpid");
			return 2;
		}
		key.pid = pid;
		ch = bsearch(&key, c, count, sizeof(*c), cmp_pid);
		if (!ch)
			continue;
		ch->status = status;
		reaped++;
		t_last = now_s();
	}
	printf("released %d: all exited and reaped within %.0f ms\n", count, (t_last - t_rel) * 1e3);

	/* The processes did what they were told (checks the test itself). */
	{
		int wrong = 0;

		for (int i = 0; i < count; i++) {
			int idx = atoi(strrchr(c[i].id, '-') + 1);

			if (c[i].status != expected_status(idx) && wrong++ < 5)
				fprintf(stderr, "%s: waitpid 0x%x, expected 0x%x\n", c[i].id,
					c[i].status, expected_status(idx));
		}
		printf("waitpid statuses as intended: %d of %d\n", count - wrong, count);
		if (wrong)
			bad = 1;
	}
	if (status_file) {
		FILE *f = fopen(status_file, "we");

		if (!f) {
			perror(status_file);
			return 2;
		}
		for (int i = 0; i < count; i++)
			fprintf(f, "%s %d %llu %d\n", c[i].id, (int)c[i].pid,
				(unsigned long long)c[i].start, c[i].status);
		if (fclose(f) != 0) {
			perror(status_file);
			return 2;
		}
	}
	if (!no_verify && verify(&store, ns, c, count, timeout_s))
		bad = 1;
	monitor_close(&mon);
	store_close(&store);
	return bad ? 1 : 0;
}
