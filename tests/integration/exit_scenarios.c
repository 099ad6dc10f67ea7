/*
 * Kernel-level scenarios for the exit monitor: real processes, the real BPF
 * program in the running kernel, a running tardisd (started by the caller
 * with the same TARDIS_STATE_DIR / TARDIS_BPF_DIR).
 *
 * Every scenario runs twice: as pid 1 of a fresh pid namespace (a container
 * init) and as a plain registered host process (a container sharing the
 * host pid namespace).  The process is registered through the library
 * while it is blocked on a pipe, then released; the status waitpid() gives
 * us must be the recorded wait_status in containers/test/<id>/exit.json.
 *
 * Output, one line per check (the shell script turns them into ok/fail):
 *   RESULT ok|FAIL <scenario> id=<id> pid=<pid> waitpid=0x.. recorded=0x.. ...
 *   UNREG host|pidns <pid>      (pids the script cross-checks in `tardisctl exits`)
 * Exit status: 0 when every check passed, 1 otherwise, 2 on setup errors.
 */
#include "config.h"
#include "exit_record.h"
#include "monitor.h"
#include "proc.h"
#include "registry.h"
#include "state.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NS "test"
#define EXPECT_0_OR_9 (-1)

enum mode { MODE_PIDNS, MODE_HOST };

struct scenario {
	const char *name;
	void (*body)(void); /* runs in the child once released; must not return */
	int kill_sig;       /* sent by the parent after the release (0: none) */
	int expect;         /* expected wait status; for signals the core bit is ignored */
	int host_only;      /* a pid-ns init ignores this (SIGTERM with SIG_DFL) */
};

static struct tardis_store store;
static struct tardis_monitor mon;
static const char *state_dir;
static const char *core_dir = "/tmp";
static int timeout_s = 15;
static int failures;

/* The children fault and exit on purpose, with exact statuses: in a
 * sanitizer build (make SAN=1) neither ASan's SEGV handler nor
 * LeakSanitizer (which cannot run once the leader thread is gone) may turn
 * them into reports and exit status 1. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
	return "handle_segv=0:detect_leaks=0";
}

/* ---- what the children do ------------------------------------------------ */

static void body_exit0(void) { exit(0); }
static void body_exit1(void) { exit(1); }
static void body_exit3(void) { exit(3); }
static void body_exit255(void) { exit(255); }

static void body_wait_for_signal(void)
{
	for (;;)
		pause();
}

static void body_segv(void)
{
	*(volatile int *)NULL = 1; /* a real fault */
	_exit(100);
}

static void body_trap(void)
{
	__builtin_trap();
}

static void *thread_exit7(void *arg)
{
	exit(7); /* exit_group from a thread that is not the leader */
}

static void body_thread_exit_group(void)
{
	pthread_t t;

	if (pthread_create(&t, NULL, thread_exit7, NULL) != 0)
		_exit(101);
	for (;;)
		pause();
}

static void *thread_late_exit5(void *arg)
{
	usleep(100 * 1000); /* the leader is gone by now */
	exit(5);
}

static void *thread_late_sys_exit9(void *arg)
{
	usleep(100 * 1000);
	syscall(SYS_exit, 9); /* only this thread: no group exit */
	return NULL;
}

static void body_leader_gone_then_exit_group(void)
{
	pthread_t t;

	if (pthread_create(&t, NULL, thread_late_exit5, NULL) != 0)
		_exit(101);
	pthread_exit(NULL);
}

static void body_leader_gone_then_sys_exit(void)
{
	pthread_t t;

	if (pthread_create(&t, NULL, thread_late_sys_exit9, NULL) != 0)
		_exit(101);
	pthread_exit(NULL);
}

static const struct scenario scenarios[] = {
	{ "exit0", body_exit0, 0, 0 << 8, 0 },
	{ "exit1", body_exit1, 0, 1 << 8, 0 },
	{ "exit3", body_exit3, 0, 3 << 8, 0 },
	{ "exit255", body_exit255, 0, 255 << 8, 0 },
	{ "sigkill", body_wait_for_signal, SIGKILL, SIGKILL, 0 },
	{ "sigterm", body_wait_for_signal, SIGTERM, SIGTERM, 1 },
	{ "segv", body_segv, 0, SIGSEGV, 0 },
	{ "trap", body_trap, 0, SIGILL, 0 },
	{ "thread-exit-group", body_thread_exit_group, 0, 7 << 8, 0 },
	{ "leader-gone-exit-group", body_leader_gone_then_exit_group, 0, 5 << 8, 0 },
	/* Not a group exit: waitpid reports the leader's exit_code, which is the
	 * leader's own pthread_exit 0 on older kernels, while newer ones (6.18
	 * here) hand the last thread's code (9) to the zombie leader.  Either is
	 * fine; the recorded status must be the one waitpid gives. */
	{ "leader-gone-sys-exit", body_leader_gone_then_sys_exit, 0, EXPECT_0_OR_9, 0 },
};

/* ---- helpers ------------------------------------------------------------- */

static int self_pidns_fd = -1;

/* Forks a child blocked on rel[0]; in MODE_PIDNS it is pid 1 of a new pid
 * namespace.  The child runs body once a byte arrives, _exit(126) on EOF. */
static pid_t spawn_blocked(enum mode mode, int rel[2], void (*body)(void))
{
	pid_t pid;

	if (pipe(rel) < 0)
		return -1;
	if (mode == MODE_PIDNS && unshare(CLONE_NEWPID) < 0) {
		perror("unshare(CLONE_NEWPID)");
		return -1;
	}
	pid = fork();
	if (mode == MODE_PIDNS && pid != 0) {
		/* Later children (and threads) stay in our own pid namespace. */
		if (setns(self_pidns_fd, CLONE_NEWPID) < 0) {
			perror("setns back to our pid namespace");
			exit(2);
		}
	}
	if (pid < 0) {
		perror("fork");
		return -1;
	}
	if (pid == 0) {
		char c;
		ssize_t n;

		close(rel[1]);
		close(self_pidns_fd);
		if (mode == MODE_PIDNS && getpid() != 1)
			_exit(125);
		do
			n = read(rel[0], &c, 1);
		while (n < 0 && errno == EINTR);
		if (n != 1)
			_exit(126);
		close(rel[0]);
		body();
		_exit(127);
	}
	close(rel[0]);
	return pid;
}

static void release(int rel[2])
{
	if (write(rel[1], "g", 1) != 1)
		perror("release");
	close(rel[1]);
}

/* The pid of the process in its innermost pid namespace (NSpid's last field),
 * and how many pid namespaces it is in. */
static int nspid(pid_t pid, int *inner, int *levels)
{
	char path[64], line[512];
	FILE *f;
	int ret = -1;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		char *p, *save = NULL;
		int n = 0, last = 0;

		if (strncmp(line, "NSpid:", 6) != 0)
			continue;
		for (p = strtok_r(line + 6, " \t\n", &save); p; p = strtok_r(NULL, " \t\n", &save)) {
			last = atoi(p);
			n++;
		}
		*inner = last;
		*levels = n;
		ret = 0;
		break;
	}
	fclose(f);
	return ret;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Polls containers/NS/<id>/exit.json: 1 parsed, 0 timed out. */
static int wait_record(const char *id, struct exit_record *r, char *raw, size_t rawlen)
{
	double deadline = now_s() + timeout_s;

	do {
		tardis_error_t err = NULL;
		char *text = NULL;
		int dfd = store_container_dir(&store, NS, id, 0, &err);

		if (dfd >= 0 && store_read(dfd, EXIT_RECORD_FILE, 1 << 20, &text, NULL, &err) == 0) {
			int ok = exit_record_from_json(text, r, &err) == 0;

			snprintf(raw, rawlen, "%s", text);
			free(text);
			close(dfd);
			if (ok)
				return 1;
			fprintf(stderr, "%s: unparsable exit record: %s\n", id, tardis_error_msg(err));
			tardis_error_free(&err);
			return 0;
		}
		if (dfd >= 0)
			close(dfd);
		tardis_error_free(&err);
		usleep(20 * 1000);
	} while (now_s() < deadline);
	return 0;
}

static void result(int ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void result(int ok, const char *fmt, ...)
{
	va_list ap;

	if (!ok)
		failures++;
	printf("RESULT %s ", ok ? "ok" : "FAIL");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

/* ---- registered scenarios ------------------------------------------------ */

static void run_scenario(const struct scenario *sc, enum mode mode)
{
	const char *mname = mode == MODE_PIDNS ? "pidns" : "host";
	char name[128], id[160], why[512] = "", raw[4096] = "";
	struct exit_record r;
	tardis_error_t err = NULL;
	uint64_t start = 0;
	int rel[2], status = -1, inner = 0, levels = 0, ok = 1, expect_ok;
	pid_t pid;

	snprintf(name, sizeof(name), "%s-%s", sc->name, mname);
	pid = spawn_blocked(mode, rel, sc->body);
	if (pid < 0) {
		result(0, "%s spawn failed", name);
		return;
	}
	snprintf(id, sizeof(id), "%s-%d", name, (int)pid);
	if (nspid(pid, &inner, &levels) < 0 || proc_start_time(pid, &start) < 0) {
		result(0, "%s id=%s cannot read /proc/%d", name, id, (int)pid);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return;
	}
	if (mode == MODE_PIDNS && inner != 1) {
		result(0, "%s id=%s is pid %d in its namespace, not 1", name, id, inner);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return;
	}
	/* Registered before it can do anything. */
	if (registry_register(&store, &mon, NS, id, pid, 0, &err) < 0) {
		result(0, "%s id=%s register: %s", name, id, tardis_error_msg(err));
		tardis_error_free(&err);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return;
	}
	release(rel);
	if (sc->kill_sig)
		kill(pid, sc->kill_sig);
	if (waitpid(pid, &status, 0) != pid) {
		result(0, "%s id=%s waitpid: %s", name, id, strerror(errno));
		return;
	}
	/* The scenario did what it meant to (the test checks itself). */
	if (sc->expect == EXPECT_0_OR_9)
		expect_ok = status == 0 || status == 9 << 8;
	else if (sc->expect & 0x7f)
		expect_ok = WIFSIGNALED(status) && WTERMSIG(status) == WTERMSIG(sc->expect);
	else
		expect_ok = status == sc->expect;
	if (!expect_ok) {
		ok = 0;
		snprintf(why + strlen(why), sizeof(why) - strlen(why),
			 " scenario-misbehaved(expected 0x%x)", sc->expect);
	}
	if (!wait_record(id, &r, raw, sizeof(raw))) {
		result(0, "%s id=%s pid=%d waitpid=0x%x no exit record within %ds", name, id,
		       (int)pid, status, timeout_s);
		return;
	}
	if (!r.known || !r.has_wait_status) {
		ok = 0;
		strcat(why, " not-known");
	}
	if (r.wait_status != status) {
		ok = 0;
		strcat(why, " wait_status-differs");
	}
	if (r.pid != pid || r.start_time != start) {
		ok = 0;
		strcat(why, " pid/start_time-differs");
	}
	if (strcmp(r.ns, NS) != 0 || strcmp(r.id, id) != 0) {
		ok = 0;
		strcat(why, " ns/id-differs");
	}
	{
		struct exit_status st;

		exit_status_decode(status, &st);
		if (r.st.exit_status != st.exit_status || r.st.signal != st.signal ||
		    r.st.core_dumped != st.core_dumped) {
			ok = 0;
			strcat(why, " decoded-fields-differ");
		}
	}
	/* NSpid has one field per pid namespace the process is in. */
	if (r.pidns_level != (uint32_t)(levels - 1)) {
		ok = 0;
		strcat(why, " pidns_level-wrong");
	}
	result(ok, "%s id=%s pid=%d waitpid=0x%x recorded=0x%x exit_status=%d signal=%d "
		   "core_dumped=%d pidns_level=%u source=%s%s",
	       name, id, (int)pid, status, r.wait_status, r.st.exit_status, r.st.signal,
	       WIFSIGNALED(status) && WCOREDUMP(status) ? 1 : 0, r.pidns_level, r.source, why);
	if (!ok)
		fprintf(stderr, "%s: exit.json = %s\n", id, raw);
}

/* A restored init can die before runc restore returns, while its
 * container's other processes still have to go: a pid-namespace init
 * waits in the kernel (zap_pid_ns_processes) until they are gone -- not a
 * zombie yet, its /proc entry that of a live process -- and its exit event
 * already went by the agent, unattributed, when tardis-runc registers it.
 * The record must still be written (the kernel's recent exits keep it).
 * Here the init's child is held by ptrace: a traced child that dies stays
 * until its tracer (this test) reaps it, and the init waits for it. */
static int gate[2] = { -1, -1 };

static void body_child_then_exit3(void)
{
	char c;

	if (fork() == 0) {
		for (;;)
			pause();
	}
	if (read(gate[0], &c, 1) != 1)
		_exit(126);
	exit(3);
}

/* The first process whose parent is pid (host pid namespace). */
static pid_t child_of(pid_t pid)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	pid_t found = 0;

	while (d && !found && (e = readdir(d))) {
		char path[300], line[512], *p;
		int ppid;
		FILE *f;

		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
		f = fopen(path, "re");
		if (!f)
			continue;
		p = fgets(line, sizeof(line), f) ? strrchr(line, ')') : NULL;
		fclose(f);
		if (p && sscanf(p + 2, "%*c %d", &ppid) == 1 && ppid == pid)
			found = atoi(e->d_name);
	}
	if (d)
		closedir(d);
	return found;
}

static void run_dead_before_register(void)
{
	const char *name = "dead-before-register-pidns";
	char id[160], raw[4096] = "";
	struct tardis_exit_event ev;
	struct exit_record r;
	tardis_error_t err = NULL;
	uint64_t start = 0;
	int rel[2], status = -1, i, registered;
	pid_t pid, child = 0;

	if (pipe2(gate, O_CLOEXEC) < 0) {
		result(0, "%s pipe: %s", name, strerror(errno));
		return;
	}
	pid = spawn_blocked(MODE_PIDNS, rel, body_child_then_exit3);
	close(gate[0]);
	if (pid < 0 || proc_start_time(pid, &start) < 0) {
		result(0, "%s spawn failed", name);
		close(gate[1]);
		return;
	}
	snprintf(id, sizeof(id), "%s-%d", name, (int)pid);
	release(rel);
	for (i = 0; i < timeout_s * 100 && !(child = child_of(pid)); i++)
		usleep(10000);
	if (!child || ptrace(PTRACE_SEIZE, child, NULL, NULL) < 0) {
		result(0, "%s id=%s child %d: %s", name, id, (int)child, child ? strerror(errno) : "none");
		close(gate[1]);
		waitpid(pid, NULL, 0);
		return;
	}
	if (write(gate[1], "x", 1) != 1)
		perror("gate");
	close(gate[1]);
	/* Dead in the kernel's map, held by its traced child; the agent's turn. */
	for (i = 0; i < timeout_s * 100 && monitor_recent_lookup(&mon, pid, start, &ev) != 1; i++)
		usleep(10000);
	usleep(300000);
	registered = registry_register(&store, &mon, NS, id, pid, 0, &err);
	waitpid(child, NULL, __WALL);
	if (waitpid(pid, &status, 0) != pid) {
		result(0, "%s id=%s waitpid: %s", name, id, strerror(errno));
		return;
	}
	if (registered < 0) {
		result(0, "%s id=%s register: %s", name, id, tardis_error_msg(err));
		tardis_error_free(&err);
		return;
	}
	if (!wait_record(id, &r, raw, sizeof(raw))) {
		result(0, "%s container=%s pid=%d waitpid=0x%x no exit record within %ds", name, id,
		       (int)pid, status, timeout_s);
		return;
	}
	result(r.wait_status == status && r.pid == pid && r.start_time == start,
	       "%s container=%s pid=%d waitpid=0x%x recorded=0x%x source=%s", name, id, (int)pid,
	       status, r.wait_status, r.source);
}

/* ---- unregistered processes ---------------------------------------------- */

struct unreg {
	pid_t pid;
	uint64_t start;
};

static void body_exit42(void) { exit(42); }
static void body_exit43(void) { exit(43); }

static int run_unregistered(enum mode mode, struct unreg *u)
{
	const char *name = mode == MODE_PIDNS ? "unregistered-pidns-init" : "unregistered-host";
	struct tardis_exit_event ev;
	int rel[2], status, found;

	u->pid = spawn_blocked(mode, rel, mode == MODE_PIDNS ? body_exit43 : body_exit42);
	if (u->pid < 0 || proc_start_time(u->pid, &u->start) < 0) {
		result(0, "%s spawn failed", name);
		return -1;
	}
	release(rel);
	if (waitpid(u->pid, &status, 0) != u->pid) {
		result(0, "%s waitpid", name);
		return -1;
	}
	printf("UNREG %s %d\n", mode == MODE_PIDNS ? "pidns" : "host", (int)u->pid);
	/* sched_process_exit ran before waitpid could return: the map is final. */
	found = monitor_recent_lookup(&mon, u->pid, u->start, &ev);
	if (mode == MODE_HOST) {
		result(found == 0, "%s pid=%d waitpid=0x%x in-recent_exits=%d (want 0: filtered in the kernel)",
		       name, (int)u->pid, status, found);
	} else {
		int ok = found == 1 && ev.status == (uint32_t)status &&
			 (ev.reason & TARDIS_REASON_PIDNS_INIT) &&
			 !(ev.reason & TARDIS_REASON_REGISTERED) && ev.pidns_level > 0;

		result(ok, "%s pid=%d waitpid=0x%x in-recent_exits=%d kernel-status=0x%x reason=%u "
			   "pidns_level=%u (want captured, reason pidns-init only)",
		       name, (int)u->pid, status, found, found == 1 ? ev.status : 0,
		       found == 1 ? ev.reason : 0, found == 1 ? ev.pidns_level : 0);
	}
	return 0;
}

/* No exit record anywhere in the store names one of these processes. */
static void check_not_attributed(const struct unreg *u, int n)
{
	char path[4200], cpath[4500], file[4800];
	DIR *nsd, *cd;
	struct dirent *a, *b;
	int bad = 0, seen = 0;

	snprintf(path, sizeof(path), "%s/containers", state_dir);
	nsd = opendir(path);
	while (nsd && (a = readdir(nsd))) {
		if (a->d_name[0] == '.')
			continue;
		snprintf(cpath, sizeof(cpath), "%s/%s", path, a->d_name);
		cd = opendir(cpath);
		while (cd && (b = readdir(cd))) {
			struct exit_record r;
			tardis_error_t err = NULL;
			char buf[8192];
			ssize_t len;
			int fd;

			if (b->d_name[0] == '.')
				continue;
			snprintf(file, sizeof(file), "%s/%s/%s", cpath, b->d_name, EXIT_RECORD_FILE);
			fd = open(file, O_RDONLY | O_CLOEXEC);
			if (fd < 0)
				continue;
			len = read(fd, buf, sizeof(buf) - 1);
			close(fd);
			if (len <= 0)
				continue;
			buf[len] = '\0';
			seen++;
			if (exit_record_from_json(buf, &r, &err) < 0) {
				tardis_error_free(&err);
				continue;
			}
			for (int i = 0; i < n; i++) {
				if (u[i].pid > 0 && r.pid == u[i].pid && r.start_time == u[i].start) {
					fprintf(stderr, "%s names unregistered pid %d\n", file, r.pid);
					bad++;
				}
			}
		}
		if (cd)
			closedir(cd);
	}
	if (nsd)
		closedir(nsd);
	result(bad == 0, "unregistered-not-attributed records-scanned=%d attributed=%d", seen, bad);
}

static void usage(void)
{
	fprintf(stderr, "usage: exit_scenarios [--core-dir DIR] [--timeout SECONDS] [--only NAME]\n"
			"  a tardisd must be running with the same TARDIS_STATE_DIR/TARDIS_BPF_DIR\n");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "core-dir", required_argument, NULL, 'c' },
		{ "timeout", required_argument, NULL, 't' },
		{ "only", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct tardis_config cfg;
	tardis_error_t err = NULL;
	struct unreg unreg[2] = { 0 };
	struct rlimit core = { RLIM_INFINITY, RLIM_INFINITY };
	const char *only = NULL;
	int c;

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': core_dir = optarg; break;
		case 't': timeout_s = atoi(optarg); break;
		case 'o': only = optarg; break;
		default: usage(); return 2;
		}
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (config_load(&cfg, &err) < 0 || store_open(&store, cfg.state_dir, &err) < 0 ||
	    monitor_open_pinned(&mon, cfg.bpf_dir, &err) < 0) {
		fprintf(stderr, "exit_scenarios: %s\n", tardis_error_msg(err));
		return 2;
	}
	state_dir = cfg.state_dir;
	self_pidns_fd = open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC);
	if (self_pidns_fd < 0) {
		perror("open /proc/self/ns/pid");
		return 2;
	}
	/* Core dumps land in a directory the caller removes. */
	if (setrlimit(RLIMIT_CORE, &core) < 0)
		perror("setrlimit(RLIMIT_CORE)");
	if (chdir(core_dir) < 0) {
		perror("chdir core dir");
		return 2;
	}

	/* Unregistered first: once the registered ones are recorded, the agent
	 * has handled everything the ring buffer delivered before them. */
	run_unregistered(MODE_HOST, &unreg[0]);
	run_unregistered(MODE_PIDNS, &unreg[1]);

	for (int m = MODE_PIDNS; m <= MODE_HOST; m++) {
		for (size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++) {
			if (only && strcmp(only, scenarios[i].name) != 0)
				continue;
			if (m == MODE_PIDNS && scenarios[i].host_only) {
				printf("SKIP %s-pidns: a pid-ns init ignores %s with SIG_DFL\n",
				       scenarios[i].name, strsignal(scenarios[i].kill_sig));
				continue;
			}
			run_scenario(&scenarios[i], m);
		}
	}
	if (!only || strcmp(only, "dead-before-register") == 0)
		run_dead_before_register();
	check_not_attributed(unreg, 2);
	monitor_close(&mon);
	store_close(&store);
	return failures ? 1 : 0;
}
