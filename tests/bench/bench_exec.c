/*
 * The exec timer of tests/bench_shim.sh: the wall time of whole program
 * runs (spawn -> exit reaped), several commands interleaved so that drift
 * (CPU frequency, page cache, other load) hits all of them alike.
 *
 *   bench_exec N LABEL CMD [ARG...] [:: LABEL CMD [ARG...]]...
 *
 * Every command runs WARMUP (5) times uncounted, then N times; in round i
 * the commands run in the order rotated by i, so none is always first.
 * stdin, stdout and stderr are /dev/null.  One line per command:
 *
 *   exec label=L n=N mean_us=.. p50_us=.. p90_us=.. p99_us=.. min_us=.. nonzero=K
 *
 * nonzero counts runs whose exit status was not 0 (a sign that the two
 * sides of a comparison did not do the same thing).  With BENCH_EXEC_PAIRS
 * ("A-B ..." of labels), one line per pair, from each round's two runs
 * (minutes apart runs would differ by the machine's drift, not by what
 * they do):
 *
 *   pair label=A-B n=N p50_diff_us=.. mean_diff_us=..
 *
 *   bench_exec exec CMD [ARG...]
 *
 * only execs CMD: the cheapest possible exec wrapper, the floor for
 * tardis-runc's pass-through (one more execve and dynamic load).
 */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define WARMUP 5

extern char **environ;

struct cmd {
	const char *label;
	char **argv;
	uint64_t *ns; /* the N samples, in ns */
	int nonzero;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

/* One run: its wall time in ns, or 0 when it could not be started. */
static uint64_t run_once(struct cmd *c, const posix_spawn_file_actions_t *fa)
{
	uint64_t t0 = now_ns(), t1;
	pid_t pid;
	int st, e;

	e = posix_spawn(&pid, c->argv[0], fa, NULL, c->argv, environ);
	if (e) {
		fprintf(stderr, "bench_exec: spawn %s: %s\n", c->argv[0], strerror(e));
		return 0;
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return 0;
	t1 = now_ns();
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		c->nonzero++;
	return t1 - t0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted v[n]. */
static double pct(const uint64_t *v, int n, double p)
{
	int r = (int)(p / 100.0 * n + 0.999999);

	if (r < 1)
		r = 1;
	if (r > n)
		r = n;
	return v[r - 1] / 1000.0;
}

static struct cmd *find_cmd(struct cmd *cmds, int k, const char *label, size_t len)
{
	for (int j = 0; j < k; j++)
		if (strlen(cmds[j].label) == len && strncmp(cmds[j].label, label, len) == 0)
			return &cmds[j];
	return NULL;
}

/* BENCH_EXEC_PAIRS: the median of A's run minus B's, round by round. */
static void pairs(struct cmd *cmds, int k, int n)
{
	const char *spec = getenv("BENCH_EXEC_PAIRS");
	int64_t *d = calloc(n, sizeof(*d));

	while (d && spec && *spec) {
		size_t len = strcspn(spec, " ");
		const char *dash = memchr(spec, '-', len);
		struct cmd *a, *b;
		double sum = 0;

		if (dash && (a = find_cmd(cmds, k, spec, dash - spec)) &&
		    (b = find_cmd(cmds, k, dash + 1, spec + len - dash - 1))) {
			for (int r = 0; r < n; r++) {
				d[r] = (int64_t)a->ns[r] - (int64_t)b->ns[r];
				sum += d[r];
			}
			qsort(d, n, sizeof(*d), cmp_i64);
			printf("pair label=%.*s n=%d p50_diff_us=%.1f mean_diff_us=%.1f\n", (int)len,
			       spec, n, (n % 2 ? d[n / 2] : (d[n / 2 - 1] + d[n / 2]) / 2.0) / 1000.0,
			       sum / n / 1000.0);
		}
		spec += len;
		spec += strspn(spec, " ");
	}
	free(d);
}

int main(int argc, char **argv)
{
	posix_spawn_file_actions_t fa;
	struct cmd cmds[16];
	int n, k = 0;

	if (argc >= 3 && strcmp(argv[1], "exec") == 0) {
		execv(argv[2], &argv[2]);
		return 127;
	}
	if (argc < 4 || (n = atoi(argv[1])) <= 0) {
		fprintf(stderr, "usage: bench_exec N LABEL CMD [ARG...] [:: LABEL CMD [ARG...]]...\n");
		return 2;
	}
	for (int i = 2; i < argc;) {
		if (k == 16 || i + 1 >= argc) {
			fprintf(stderr, "bench_exec: at most 16 commands, each LABEL CMD [ARG...]\n");
			return 2;
		}
		cmds[k].label = argv[i];
		cmds[k].argv = &argv[i + 1];
		cmds[k].nonzero = 0;
		cmds[k].ns = calloc(n, sizeof(uint64_t));
		if (!cmds[k].ns)
			return 1;
		for (i += 2; i < argc && strcmp(argv[i], "::") != 0; i++)
			;
		if (i < argc)
			argv[i++] = NULL; /* ends this command's argv */
		k++;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);

	for (int r = 0; r < WARMUP; r++)
		for (int j = 0; j < k; j++)
			if (!run_once(&cmds[j], &fa))
				return 1;
	for (int j = 0; j < k; j++)
		cmds[j].nonzero = 0;
	for (int r = 0; r < n; r++)
		for (int j = 0; j < k; j++) {
			struct cmd *c = &cmds[(r + j) % k];
			uint64_t ns = run_once(c, &fa);

			if (!ns)
				return 1;
			c->ns[r] = ns;
		}

	pairs(cmds, k, n);
	for (int j = 0; j < k; j++) {
		struct cmd *c = &cmds[j];
		double sum = 0;

		for (int r = 0; r < n; r++)
			sum += c->ns[r];
		qsort(c->ns, n, sizeof(uint64_t), cmp_u64);
		printf("exec label=%s n=%d mean_us=%.1f p50_us=%.1f p90_us=%.1f p99_us=%.1f "
		       "min_us=%.1f nonzero=%d\n",
		       c->label, n, sum / n / 1000.0, pct(c->ns, n, 50), pct(c->ns, n, 90),
		       pct(c->ns, n, 99), c->ns[0] / 1000.0, c->nonzero);
		free(c->ns);
	}
	posix_spawn_file_actions_destroy(&fa);
	return 0;
}
