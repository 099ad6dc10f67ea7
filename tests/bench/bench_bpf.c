/*
 * The C half of `make bench` (tests/bench.sh drives it):
 *
 *   bench_bpf events SOCK OUT   run `ctr -a SOCK events`, write every line to OUT
 *                               prefixed with the CLOCK_MONOTONIC ns at which
 *                               read() returned it (until SIGTERM/SIGINT)
 *   bench_bpf cost [N [ROUNDS [LOADS]]]
 *                               BPF cost per sched_process_exit: a copy of the
 *                               pinned tardis program (TARDIS_BPF_DIR, its maps)
 *                               against the skeleton's empty tardis_exit_empty,
 *                               both attached after the agent's, in turn first,
 *                               over N unrelated fork+_exit, ROUNDS times, the
 *                               pair loaded afresh LOADS times (1)
 *   bench_bpf solo N            N registered host processes exit one at a time
 *                               (100 ms apart): the agent's latency without
 *                               containerd's own work competing for the CPUs
 *   bench_bpf burst N AGENT_PID N registered processes exit at once; how fast and
 *                               at what cost the agent records them
 *
 * Results are printed as `name key=value ...` lines for bench.sh to tabulate.
 * Needs kernel.bpf_stats_enabled=1 for `cost` (bench.sh sets and restores it).
 */
#include "cleanup.h"
#include "config.h"
#include "exit_record.h"
#include "monitor.h"
#include "registry.h"
#include "state.h"
#include "tardis_exit.skel.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "bench_bpf: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(1);
}

/* pipe2(O_CLOEXEC) and fork(), or the bench ends. */
static void pipe_or_die(int p[2])
{
	if (pipe2(p, O_CLOEXEC) < 0)
		die("pipe: %s", strerror(errno));
}

static pid_t fork_or_die(void)
{
	pid_t pid = fork();

	if (pid < 0)
		die("fork: %s", strerror(errno));
	return pid;
}

static int libbpf_quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	return level == LIBBPF_WARN ? vfprintf(stderr, fmt, ap) : 0;
}

/* ---- events: a ctr events reader whose timestamps are not distorted ---- */

static volatile sig_atomic_t stop_events;

static void on_stop(int sig)
{
	stop_events = 1;
}

static int cmd_events(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_stop };
	char buf[65536];
	cleanup_file FILE *out = NULL;
	int p[2], status;
	size_t have = 0;
	pid_t ctr;

	if (argc != 3)
		die("usage: bench_bpf events SOCK OUT");
	out = fopen(argv[2], "we");
	if (!out)
		die("open %s: %s", argv[2], strerror(errno));
	/* No SA_RESTART: a stop signal must interrupt the blocking read. */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	pipe_or_die(p);
	ctr = fork_or_die();
	if (ctr == 0) {
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		dup2(p[1], 1);
		execlp("ctr", "ctr", "-a", argv[1], "events", (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	while (!stop_events) {
		ssize_t n = read(p[0], buf + have, sizeof(buf) - 1 - have);
		struct timespec ts;
		uint64_t now;
		char *start, *nl;

		/* Taken first: this is the moment the line reached a reader. */
		clock_gettime(CLOCK_MONOTONIC, &ts);
		now = (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		have += n;
		buf[have] = '\0';
		start = buf;
		while ((nl = memchr(start, '\n', buf + have - start))) {
			*nl = '\0';
			fprintf(out, "%" PRIu64 " %s\n", now, start);
			start = nl + 1;
		}
		fflush(out);
		have -= start - buf;
		memmove(buf, start, have);
		if (have == sizeof(buf) - 1)
			have = 0; /* a line longer than 64 KiB: not an exit event */
	}
	kill(ctr, SIGTERM);
	waitpid(ctr, &status, 0);
	return 0;
}

/* ---- cost: ns per sched_process_exit, tardis against an empty program ---- */

struct prog_stats {
	uint64_t run_time_ns;
	uint64_t run_cnt;
};

static void prog_stats(int fd, struct prog_stats *s)
{
	struct bpf_prog_info info;
	__u32 len = sizeof(info);

	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(fd, &info, &len) < 0)
		die("bpf prog info: %s", strerror(errno));
	s->run_time_ns = info.run_time_ns;
	s->run_cnt = info.run_cnt;
}

static uint32_t prog_id(int fd)
{
	struct bpf_prog_info info;
	__u32 len = sizeof(info);

	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(fd, &info, &len) < 0)
		die("bpf prog info: %s", strerror(errno));
	return info.id;
}

/* n unrelated processes that exit at once: fork, _exit, reap. */
static void fork_exit_workload(long n)
{
	for (long i = 0; i < n; i++) {
		pid_t pid = fork_or_die();

		if (pid == 0)
			_exit(0);
		if (waitpid(pid, NULL, 0) < 0)
			die("waitpid: %s", strerror(errno));
	}
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The pinned program's name (the variant the agent loaded). */
static void prog_name(int fd, char *out, size_t len)
{
	struct bpf_prog_info info;
	__u32 ilen = sizeof(info);

	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(fd, &info, &ilen) < 0)
		die("bpf prog info: %s", strerror(errno));
	snprintf(out, len, "%s", info.name);
}

/* A copy of the agent's program on the agent's own (pinned) maps, and the
 * empty program, both from one skeleton; a map the agent did not pin is
 * made afresh (scratch) or, when the variant has no use for it, not at all. */
static struct tardis_exit_bpf *load_pair(const char *bpf_dir, const char *variant,
					 struct bpf_program **copy)
{
	struct tardis_exit_bpf *skel = tardis_exit_bpf__open();
	struct bpf_program *prog;
	struct bpf_map *map;
	char path[4200];

	if (!skel)
		die("open skeleton: %s", strerror(errno));
	/* The kernel cuts program names at 15 characters. */
	*copy = strncmp(variant, "tardis_exit_has", 15) == 0 ? skel->progs.tardis_exit_hash
		: strcmp(variant, "tardis_exit_gd") == 0 ? skel->progs.tardis_exit_gd
		: skel->progs.tardis_exit;
	bpf_object__for_each_program(prog, skel->obj)
		bpf_program__set_autoload(prog, prog == *copy || prog == skel->progs.tardis_exit_empty);
	bpf_object__for_each_map(map, skel->obj) {
		snprintf(path, sizeof(path), "%s/%s", bpf_dir, bpf_map__name(map));
		if (access(path, F_OK) == 0) {
			if (bpf_map__set_pin_path(map, path) < 0)
				die("pin path %s: %s", path, strerror(errno));
		} else if (map == skel->maps.registered_task || strchr(bpf_map__name(map), '.')) {
			bpf_map__set_autocreate(map, false);
		}
	}
	if (tardis_exit_bpf__load(skel) < 0)
		die("load %s and tardis_exit_empty: %s", variant, strerror(errno));
	return skel;
}

/* ns per call of each program over one workload of n exits. */
static void run_round(int a_fd, int b_fd, long n, double *a_per, double *b_per, double *wall_us)
{
	struct prog_stats a0, a1, b0, b1;
	uint64_t w0, w1;

	prog_stats(a_fd, &a0);
	prog_stats(b_fd, &b0);
	w0 = monotonic_ns();
	fork_exit_workload(n);
	w1 = monotonic_ns();
	prog_stats(a_fd, &a1);
	prog_stats(b_fd, &b1);
	if (a1.run_cnt == a0.run_cnt || b1.run_cnt == b0.run_cnt)
		die("a program did not run (bpf_stats off?)");
	*a_per = (double)(a1.run_time_ns - a0.run_time_ns) / (a1.run_cnt - a0.run_cnt);
	*b_per = (double)(b1.run_time_ns - b0.run_time_ns) / (b1.run_cnt - b0.run_cnt);
	*wall_us = (w1 - w0) / 1e3 / n;
}

static double median(double *v, int n)
{
	qsort(v, n, sizeof(double), cmp_double);
	return v[n / 2];
}

/* The agent's program runs first on the trampoline and pays its cold path
 * (some 150-200 ns here, whatever the program does), so it is not the
 * figure: a copy of it, on the same maps, against the empty program, the
 * two attached after it in turn -- odd rounds the copy first, even rounds
 * the empty one -- each round's ratio pairing the two on the same exits.
 * The pair is loaded afresh LOADS times: where the JIT puts a program
 * moves its cost more than anything it does (one load's ratio was 1.15,
 * another's 2.4, the same program), so the figure is the median over
 * every round of every load. */
#define COST_MAX_ROUNDS 64

static int cmd_cost(int argc, char **argv)
{
	struct tardis_config cfg;
	cleanup_error tardis_error_t err = NULL;
	char path[4200], variant[32];
	long n = argc > 1 ? atol(argv[1]) : 20000;
	int rounds = argc > 2 ? atoi(argv[2]) : 3;
	int loads = argc > 3 ? atoi(argv[3]) : 1;
	double tardis_per[COST_MAX_ROUNDS], empty_per[COST_MAX_ROUNDS], ratio[COST_MAX_ROUNDS];
	double pinned_per[COST_MAX_ROUNDS], wall;
	int pinned_fd, enabled = 0, k = 0;
	FILE *f;

	if (n <= 0 || rounds <= 0 || loads <= 0 || rounds * loads > COST_MAX_ROUNDS)
		die("usage: bench_bpf cost [N [ROUNDS [LOADS]]] (ROUNDS x LOADS <= %d)",
		    COST_MAX_ROUNDS);
	f = fopen("/proc/sys/kernel/bpf_stats_enabled", "re");
	if (!f || fscanf(f, "%d", &enabled) != 1 || !enabled)
		die("kernel.bpf_stats_enabled is not 1");
	fclose(f);
	if (config_load(&cfg, &err) < 0)
		die("%s", tardis_error_msg(err));
	snprintf(path, sizeof(path), "%s/%s", cfg.bpf_dir, TARDIS_PIN_PROG);
	pinned_fd = bpf_obj_get(path);
	if (pinned_fd < 0)
		die("no tardis program pinned at %s: %s", path, strerror(errno));
	prog_name(pinned_fd, variant, sizeof(variant));

	for (int load = 0; load < loads; load++) {
		struct bpf_program *copy;
		struct tardis_exit_bpf *skel = load_pair(cfg.bpf_dir, variant, &copy);
		int copy_fd = bpf_program__fd(copy);
		int empty_fd = bpf_program__fd(skel->progs.tardis_exit_empty);

		printf("cost_progs load=%d pinned_id=%u variant=%s copy_id=%u empty_id=%u "
		       "exits_per_round=%ld rounds=%d\n",
		       load + 1, prog_id(pinned_fd), variant, prog_id(copy_fd), prog_id(empty_fd), n,
		       rounds);
		for (int r = 0; r < rounds; r++, k++) {
			struct bpf_program *first = r % 2 ? skel->progs.tardis_exit_empty : copy;
			struct bpf_program *second = r % 2 ? copy : skel->progs.tardis_exit_empty;
			struct bpf_link *l1, *l2;
			struct prog_stats p0, p1;

			l1 = bpf_program__attach(first);
			l2 = l1 ? bpf_program__attach(second) : NULL;
			if (!l1 || !l2)
				die("attach: %s", strerror(errno));
			fork_exit_workload(200); /* warm up the programs and the fork path */
			prog_stats(pinned_fd, &p0);
			run_round(copy_fd, empty_fd, n, &tardis_per[k], &empty_per[k], &wall);
			prog_stats(pinned_fd, &p1);
			bpf_link__destroy(l2);
			bpf_link__destroy(l1);
			pinned_per[k] = p1.run_cnt > p0.run_cnt ?
				(double)(p1.run_time_ns - p0.run_time_ns) / (p1.run_cnt - p0.run_cnt) : 0;
			ratio[k] = tardis_per[k] / empty_per[k];
			printf("cost_round load=%d round=%d first=%s tardis_ns_per_call=%.1f "
			       "empty_ns_per_call=%.1f ratio=%.2f pinned_ns_per_call=%.1f "
			       "wall_us_per_fork_exit=%.1f\n",
			       load + 1, r + 1, r % 2 ? "empty" : "tardis", tardis_per[k], empty_per[k],
			       ratio[k], pinned_per[k], wall);
			fflush(stdout);
		}
		tardis_exit_bpf__destroy(skel);
	}
	printf("cost_median tardis_ns_per_call=%.1f empty_ns_per_call=%.1f ratio=%.2f "
	       "pinned_ns_per_call=%.1f loads=%d rounds=%d\n",
	       median(tardis_per, k), median(empty_per, k), median(ratio, k), median(pinned_per, k),
	       loads, k);
	close(pinned_fd);
	return 0;
}

/* ---- solo: registered exits one at a time, nothing else going on ---- */

static int cmd_solo(int argc, char **argv)
{
	static const char ns[] = "bench-solo";
	struct tardis_config cfg;
	struct tardis_store store;
	struct tardis_monitor mon;
	cleanup_error tardis_error_t err = NULL;
	long n = argc > 1 ? atol(argv[1]) : 50;

	if (n <= 0)
		die("usage: bench_bpf solo N");
	if (config_load(&cfg, &err) < 0 || store_open(&store, cfg.state_dir, &err) < 0 ||
	    monitor_open_pinned(&mon, cfg.bpf_dir, &err) < 0)
		die("%s", tardis_error_msg(err));
	for (long i = 0; i < n; i++) {
		int gate[2];
		char id[32];
		pid_t pid;

		pipe_or_die(gate);
		pid = fork_or_die();
		if (pid == 0) {
			char b;

			close(gate[1]);
			while (read(gate[0], &b, 1) < 0 && errno == EINTR)
				;
			_exit(3);
		}
		close(gate[0]);
		snprintf(id, sizeof(id), "s%ld", i);
		if (registry_register(&store, &mon, ns, id, pid, 0, &err) < 0)
			die("register %s/%s: %s", ns, id, tardis_error_msg(err));
		usleep(20000);
		close(gate[1]);
		waitpid(pid, NULL, 0);
		usleep(100000);
	}
	monitor_close(&mon);
	store_close(&store);
	return 0;
}

/* ---- burst: N registered processes exit at once ---- */

struct proc_usage {
	uint64_t cpu_ticks;  /* utime + stime */
	uint64_t rss_kb;     /* VmRSS */
	uint64_t hwm_kb;     /* VmHWM */
	uint64_t vcsw, ivcsw;
};

static void proc_usage(pid_t pid, struct proc_usage *u)
{
	char path[64], line[1024], *p;
	unsigned long long ut = 0, st = 0;
	FILE *f;

	memset(u, 0, sizeof(*u));
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "re");
	if (!f || !fgets(line, sizeof(line), f))
		die("read %s: %s", path, strerror(errno));
	fclose(f);
	p = strrchr(line, ')');
	/* fields 14 and 15, counted from field 3 right after ") " */
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut,
			 &st) != 2)
		die("parse %s", path);
	u->cpu_ticks = ut + st;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (!f)
		die("read %s: %s", path, strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		unsigned long long v;

		if (sscanf(line, "VmRSS: %llu", &v) == 1)
			u->rss_kb = v;
		else if (sscanf(line, "VmHWM: %llu", &v) == 1)
			u->hwm_kb = v;
		else if (sscanf(line, "voluntary_ctxt_switches: %llu", &v) == 1)
			u->vcsw = v;
		else if (sscanf(line, "nonvoluntary_ctxt_switches: %llu", &v) == 1)
			u->ivcsw = v;
	}
	fclose(f);
}

/* Waits until the agent's CPU time has stood still for polls x 50 ms (at
 * most 30 s); *u its usage then. */
static void agent_settle(pid_t agent, int polls, struct proc_usage *u)
{
	proc_usage(agent, u);
	for (int still = 0, waited = 0; still < polls && waited < 600; waited++) {
		struct proc_usage now;

		usleep(50000);
		proc_usage(agent, &now);
		still = now.cpu_ticks == u->cpu_ticks ? still + 1 : 0;
		*u = now;
	}
}

static int recorded(int ns_fd, long i)
{
	char name[64];
	struct stat st;

	snprintf(name, sizeof(name), "b%ld/" EXIT_RECORD_FILE, i);
	return fstatat(ns_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

/* A burst child: blocked until the gate closes, then all exit at once.
 * Raw system calls only: it shares the bench's memory, errno included. */
#define BURST_STACK (16 << 10)
static int burst_gate[2];

static int burst_child(void *arg)
{
	char b;

	syscall(SYS_close, burst_gate[1]);
	while (syscall(SYS_read, burst_gate[0], &b, 1) != 0)
		;
	syscall(SYS_exit_group, (int)((long)arg % 200));
	return 0;
}

static int cmd_burst(int argc, char **argv)
{
	const char *ns = argc > 3 ? argv[3] : "bench-burst";
	struct tardis_config cfg;
	struct tardis_store store;
	struct tardis_monitor mon;
	struct tardis_counters c0, c1;
	struct proc_usage u0, u1, u2;
	cleanup_error tardis_error_t err = NULL;
	long n = argc > 1 ? atol(argv[1]) : 10000, done = 0;
	pid_t agent = argc > 2 ? atoi(argv[2]) : 0, *kids;
	uint64_t t_reg0, t_reg1, t_release, t_dead, t_all, deadline;
	long ticks = sysconf(_SC_CLK_TCK);
	int gate[2], ns_fd;
	char *stacks;
	struct rlimit rl;
	struct sigaction old_chld;

	if (n <= 0 || agent <= 0)
		die("usage: bench_bpf burst N AGENT_PID");
	if (config_load(&cfg, &err) < 0 || store_open(&store, cfg.state_dir, &err) < 0 ||
	    monitor_open_pinned(&mon, cfg.bpf_dir, &err) < 0)
		die("%s", tardis_error_msg(err));
	if (getrlimit(RLIMIT_NPROC, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur < (rlim_t)n + 1000) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NPROC, &rl);
	}
	kids = calloc(n, sizeof(*kids));
	if (!kids || pipe2(gate, O_CLOEXEC) < 0)
		die("setup: %s", strerror(errno));
	/* Reaped by the kernel as each exits (SA_NOCLDWAIT), as their own
	 * parents would in parallel (a shim each), not here one by one:
	 * 10,000 zombies released by one process bounded the figure (1.1-1.6
	 * s on 2 CPUs, the records all written 0.7 s after the release). */
	{
		struct sigaction sa = { .sa_handler = SIG_DFL, .sa_flags = SA_NOCLDWAIT };

		sigemptyset(&sa.sa_mask);
		if (sigaction(SIGCHLD, &sa, &old_chld) < 0)
			die("sigaction: %s", strerror(errno));
	}
	/* Each child shares this process's memory (CLONE_VM) on a stack of
	 * its own: its exit costs the kernel no address space to tear down.
	 * fork()ed, the kernel took 1.0-2.0 s to end 10,000 of them on 2 CPUs
	 * here -- the bound of the figure, the records following within tens
	 * of ms; now the agent's rate is what is measured. */
	stacks = mmap(NULL, (size_t)n * BURST_STACK, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (stacks == MAP_FAILED)
		die("stacks: %s", strerror(errno));
	burst_gate[0] = gate[0];
	burst_gate[1] = gate[1];
	for (long i = 0; i < n; i++) {
		kids[i] = clone(burst_child, stacks + (size_t)(i + 1) * BURST_STACK, CLONE_VM | SIGCHLD,
				(void *)i);
		if (kids[i] < 0)
			die("clone #%ld: %s", i, strerror(errno));
	}
	close(gate[0]);
	t_reg0 = monotonic_ns();
	for (long i = 0; i < n; i++) {
		char id[32];

		snprintf(id, sizeof(id), "b%ld", i);
		if (registry_register(&store, &mon, ns, id, kids[i], 0, &err) < 0)
			die("register %s/%s pid %d: %s", ns, id, (int)kids[i], tardis_error_msg(err));
	}
	t_reg1 = monotonic_ns();
	{
		cleanup_close int cfd = store_subdir(store.root_fd, "containers", 0, &err);

		if (cfd < 0 || (ns_fd = store_subdir(cfd, ns, 0, &err)) < 0)
			die("%s", tardis_error_msg(err));
	}
	if (monitor_counters(&mon, &c0, &err) < 0)
		die("%s", tardis_error_msg(err));
	/* A settled node, as a drained one is: the agent has read the
	 * registrations (it watches the pid index) before the exits come. */
	agent_settle(agent, 4, &u0);

	t_release = monotonic_ns();
	close(gate[1]);
	/* Records are written roughly in exit order: poll from the first missing. */
	deadline = t_release + 120ull * 1000000000ull;
	for (;;) {
		while (done < n && recorded(ns_fd, done))
			done++;
		if (done == n || monotonic_ns() > deadline)
			break;
		usleep(5000);
	}
	t_all = monotonic_ns();
	proc_usage(agent, &u1); /* the records' CPU time, not the drops' after them */
	/* Waited for only now: a waiting parent scans all its children at
	 * each one's exit (18 % of the burst's CPU time when waited for
	 * meanwhile).  Then all are gone, or were already. */
	while (waitpid(-1, NULL, 0) >= 0 || errno == EINTR)
		;
	t_dead = monotonic_ns();
	sigaction(SIGCHLD, &old_chld, NULL);
	/* RSS flat: what the agent holds once it has forgotten the burst's
	 * registrations. */
	agent_settle(agent, 10, &u2);
	if (monitor_counters(&mon, &c1, &err) < 0)
		die("%s", tardis_error_msg(err));
	if (done < n) {
		long missing = 0;

		for (long i = 0; i < n; i++)
			missing += !recorded(ns_fd, i);
		printf("burst_error missing=%ld\n", missing);
	}
	printf("burst n=%ld register_s=%.3f all_dead_s=%.3f recorded_s=%.3f exits_per_s=%.0f "
	       "agent_cpu_s=%.2f agent_rss_before_kb=%" PRIu64 " agent_rss_after_kb=%" PRIu64
	       " agent_rss_settled_kb=%" PRIu64
	       " agent_hwm_kb=%" PRIu64 " agent_vcsw=%" PRIu64 " agent_ivcsw=%" PRIu64
	       " kernel_captured=%llu kernel_drops=%llu\n",
	       n, (t_reg1 - t_reg0) / 1e9, (t_dead - t_release) / 1e9, (t_all - t_release) / 1e9,
	       done / ((t_all - t_release) / 1e9),
	       (double)(u1.cpu_ticks - u0.cpu_ticks) / ticks, u0.rss_kb, u1.rss_kb, u2.rss_kb, u1.hwm_kb,
	       u1.vcsw - u0.vcsw, u1.ivcsw - u0.ivcsw,
	       (unsigned long long)(c1.captured - c0.captured),
	       (unsigned long long)(c1.drops - c0.drops));
	close(ns_fd);
	munmap(stacks, (size_t)n * BURST_STACK);
	free(kids);
	monitor_close(&mon);
	store_close(&store);
	return done == n ? 0 : 1;
}

int main(int argc, char **argv)
{
	libbpf_set_print(libbpf_quiet);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc >= 2 && strcmp(argv[1], "events") == 0)
		return cmd_events(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "cost") == 0)
		return cmd_cost(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "solo") == 0)
		return cmd_solo(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "burst") == 0)
		return cmd_burst(argc - 1, argv + 1);
	fprintf(stderr, "usage: bench_bpf events SOCK OUT | cost [N [ROUNDS [LOADS]]] | solo N | "
			"burst N AGENT_PID [NAMESPACE]\n");
	return 2;
}
