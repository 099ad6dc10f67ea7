/*
 * The state store hammered from many processes at once (tests/test_concurrency.sh).
 *
 *   concurrency --counter NS ID --procs K --iters M
 *     K processes each add 1 to a counter in state.json M times through
 *     cstate_update: the end value must be K*M (no lost update).
 *   concurrency --flag NS ID --cycles R --takers T
 *     skip_start's life: one setter sets the flag R times (only when it is
 *     clear, as a restore does), T takers take it (test-and-clear, as
 *     `start` does).  Every set must be taken exactly once: takes == R.
 *   concurrency --remove NS ID --procs K --iters M
 *     K updaters (create) against one remover that, under the lock, removes
 *     the container again and again: no error but "gone", no deadlock, and
 *     a live directory (with state.json) or none at the end.
 *   concurrency --watch --stop FILE
 *     Reads every containers/<ns>/<id>/{state,exit}.json and pids/<entry>
 *     in a loop until FILE exists; each must parse as a JSON object (a
 *     torn or half-written file would not).  Prints WATCH ...; exit 1 on
 *     any malformed read.
 *   concurrency --set NS ID KEY true|false
 *     Sets a boolean in state.json under the container's lock.
 *   concurrency --bad-ids
 *     Every library entry point refuses ids with '/', "..", control
 *     characters or 1 KiB, with EINVAL (the caller compares listings).
 *
 * The state dir is the config's (TARDIS_STATE_DIR).  Every mode ends by
 * itself or is killed by its own alarm (a deadlock is a failure, not a hang).
 */
#include "config.h"
#include "container_state.h"
#include "registry.h"
#include "state.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static struct tardis_store store;

static void open_store(void)
{
	struct tardis_config cfg;
	tardis_error_t err = NULL;

	if (config_load(&cfg, &err) < 0 || store_open(&store, cfg.state_dir, &err) < 0) {
		fprintf(stderr, "concurrency: %s\n", tardis_error_msg(err));
		exit(2);
	}
}

/* Children report through their exit status; a signal is a failure. */
static int wait_all(pid_t *pids, int n)
{
	int bad = 0;

	for (int i = 0; i < n; i++) {
		int st;

		if (waitpid(pids[i], &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			fprintf(stderr, "concurrency: worker %d: %s %d\n", (int)pids[i],
				WIFSIGNALED(st) ? "signal" : "status",
				WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
			bad++;
		}
	}
	return bad;
}

/* ---- --counter ---------------------------------------------------------- */

static int add_one(cJSON *st, void *arg)
{
	cjson_set_num(st, "counter", cjson_get_num(st, "counter", 0) + 1);
	cjson_set_num(st, "last_writer", (double)getpid());
	return 0;
}

static int read_num(const char *ns, const char *id, const char *k, double *v)
{
	tardis_error_t err = NULL;
	cJSON *st;

	if (cstate_load(&store, ns, id, &st, &err) < 0) {
		fprintf(stderr, "concurrency: load %s/%s: %s\n", ns, id, tardis_error_msg(err));
		tardis_error_free(&err);
		return -1;
	}
	*v = cjson_get_num(st, k, -1);
	cJSON_Delete(st);
	return 0;
}

static int mode_counter(const char *ns, const char *id, int procs, int iters)
{
	pid_t pids[procs];
	double got;
	int bad;

	for (int p = 0; p < procs; p++) {
		pids[p] = fork();
		if (pids[p] < 0)
			return 2;
		if (pids[p] == 0) {
			for (int i = 0; i < iters; i++) {
				tardis_error_t err = NULL;

				if (cstate_update(&store, ns, id, CSTATE_CREATE, add_one, NULL, &err) < 0) {
					fprintf(stderr, "concurrency: update: %s\n", tardis_error_msg(err));
					_exit(1);
				}
			}
			_exit(0);
		}
	}
	bad = wait_all(pids, procs);
	if (read_num(ns, id, "counter", &got) < 0)
		return 1;
	printf("COUNTER procs=%d iters=%d expected=%d got=%.0f failed_workers=%d\n", procs, iters,
	       procs * iters, got, bad);
	return bad || got != (double)procs * iters;
}

/* ---- --flag ------------------------------------------------------------- */

static int set_flag(cJSON *st, void *arg)
{
	if (cjson_get_bool(st, "skip_start"))
		return -1; /* the last one is not taken yet */
	cjson_set_bool(st, "skip_start", 1);
	cjson_set_num(st, "sets", cjson_get_num(st, "sets", 0) + 1);
	return 0;
}

static int take_flag(cJSON *st, void *arg)
{
	if (!cjson_get_bool(st, "skip_start"))
		return -1; /* nothing to take: refused, nothing written */
	cjson_set_bool(st, "skip_start", 0);
	cjson_set_num(st, "takes", cjson_get_num(st, "takes", 0) + 1);
	return 0;
}

static int mode_flag(const char *ns, const char *id, int cycles, int takers)
{
	tardis_error_t err = NULL;
	int done[2], counts[2];
	pid_t pids[takers + 1];
	double sets, takes;
	long total = 0;
	int bad;

	if (cstate_update(&store, ns, id, CSTATE_CREATE, add_one, NULL, &err) < 0 || pipe(done) < 0 ||
	    pipe(counts) < 0) {
		fprintf(stderr, "concurrency: %s\n", err ? tardis_error_msg(err) : strerror(errno));
		return 2;
	}
	for (int t = 0; t < takers; t++) {
		pids[t] = fork();
		if (pids[t] < 0)
			return 2;
		if (pids[t] == 0) {
			long mine = 0;
			int finished = 0;

			close(done[1]);
			close(counts[0]);
			fcntl(done[0], F_SETFL, O_NONBLOCK);
			for (;;) {
				char c;
				int r = cstate_update(&store, ns, id, 0, take_flag, NULL, &err);

				if (r == 0) {
					mine++;
					continue;
				}
				if (err->errnum != ECANCELED) {
					fprintf(stderr, "concurrency: take: %s\n", tardis_error_msg(err));
					_exit(1);
				}
				tardis_error_free(&err);
				/* Nothing to take.  Once the setter is done (EOF), one
				 * more look, then stop. */
				if (finished)
					break;
				if (read(done[0], &c, 1) == 0)
					finished = 1;
			}
			if (write(counts[1], &mine, sizeof(mine)) != (ssize_t)sizeof(mine))
				_exit(1);
			_exit(0);
		}
	}
	close(counts[1]);
	close(done[0]);
	pids[takers] = fork();
	if (pids[takers] < 0)
		return 2;
	if (pids[takers] == 0) {
		close(counts[0]);
		for (int r = 0; r < cycles;) {
			if (cstate_update(&store, ns, id, 0, set_flag, NULL, &err) == 0) {
				r++;
				continue;
			}
			if (err->errnum != ECANCELED) {
				fprintf(stderr, "concurrency: set: %s\n", tardis_error_msg(err));
				_exit(1);
			}
			tardis_error_free(&err);
			sched_yield();
		}
		/* The last set is taken before the takers are told to stop. */
		for (;;) {
			double v = 1;
			cJSON *st;

			if (cstate_load(&store, ns, id, &st, &err) < 0)
				_exit(1);
			v = cjson_get_bool(st, "skip_start");
			cJSON_Delete(st);
			if (!v)
				break;
			usleep(1000);
		}
		close(done[1]);
		_exit(0);
	}
	close(done[1]);
	bad = wait_all(pids, takers + 1);
	for (;;) {
		long n;

		if (read(counts[0], &n, sizeof(n)) != (ssize_t)sizeof(n))
			break;
		total += n;
	}
	if (read_num(ns, id, "sets", &sets) < 0 || read_num(ns, id, "takes", &takes) < 0)
		return 1;
	printf("FLAG cycles=%d takers=%d taken=%ld state_sets=%.0f state_takes=%.0f failed_workers=%d\n",
	       cycles, takers, total, sets, takes, bad);
	return bad || total != cycles || sets != cycles || takes != cycles;
}

/* ---- --remove ----------------------------------------------------------- */

static int mode_remove(const char *ns, const char *id, int procs, int iters)
{
	pid_t pids[procs + 1];
	int stop[2], bad, removed = 0;

	if (pipe(stop) < 0)
		return 2;
	for (int p = 0; p < procs; p++) {
		pids[p] = fork();
		if (pids[p] < 0)
			return 2;
		if (pids[p] == 0) {
			close(stop[1]);
			for (int i = 0; i < iters; i++) {
				tardis_error_t err = NULL;

				if (cstate_update(&store, ns, id, CSTATE_CREATE, add_one, NULL, &err) < 0) {
					fprintf(stderr, "concurrency: update under removal: %s\n",
						tardis_error_msg(err));
					_exit(1);
				}
			}
			_exit(0);
		}
	}
	close(stop[0]);
	bad = 0;
	/* The remover: this process, until the updaters are done. */
	for (int alive = procs; alive > 0;) {
		tardis_error_t err = NULL;
		int dfd, st;
		pid_t w;

		dfd = store_container_lock(&store, ns, id, 0, &err);
		if (dfd >= 0) {
			if (store_container_remove(&store, ns, id, &err) < 0) {
				fprintf(stderr, "concurrency: remove: %s\n", tardis_error_msg(err));
				bad++;
			} else {
				removed++;
			}
			close(dfd);
		} else if (err->errnum != ENOENT) {
			fprintf(stderr, "concurrency: lock for removal: %s\n", tardis_error_msg(err));
			bad++;
		}
		tardis_error_free(&err);
		while ((w = waitpid(-1, &st, WNOHANG)) > 0) {
			alive--;
			if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
				bad++;
		}
		usleep(200);
	}
	/* What is left is a whole container or nothing. */
	{
		tardis_error_t err = NULL;
		cJSON *st = NULL;
		int r = cstate_load(&store, ns, id, &st, &err);

		if (r < 0 && err->errnum != ENOENT) {
			fprintf(stderr, "concurrency: after removals: %s\n", tardis_error_msg(err));
			bad++;
		}
		cJSON_Delete(st);
		tardis_error_free(&err);
	}
	printf("REMOVE procs=%d iters=%d removals=%d failures=%d\n", procs, iters, removed, bad);
	return bad != 0;
}

/* ---- --watch ------------------------------------------------------------ */

static long reads, malformed;

static void check_file(int dfd, const char *name, const char *where)
{
	tardis_error_t err = NULL;
	char *text = NULL;
	cJSON *o;

	if (store_read(dfd, name, 1 << 20, &text, NULL, &err) < 0) {
		/* Gone between the listing and the read: fine. */
		if (err->errnum != ENOENT) {
			fprintf(stderr, "WATCH %s/%s: %s\n", where, name, tardis_error_msg(err));
			malformed++;
		}
		tardis_error_free(&err);
		return;
	}
	reads++;
	o = cJSON_Parse(text);
	if (!cJSON_IsObject(o)) {
		if (malformed++ < 10)
			fprintf(stderr, "WATCH %s/%s is not a JSON object: `%.200s`\n", where, name,
				text);
	}
	cJSON_Delete(o);
	free(text);
}

/* Calls fn(fd, name) for the entries of parent/path. */
static void each_entry(int parent, const char *path, void (*fn)(int, const char *, const char *),
		       const char *where)
{
	int fd = openat(parent, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct dirent *de;
	DIR *d;

	if (fd < 0)
		return;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return;
	}
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			fn(dirfd(d), de->d_name, where);
	closedir(d);
}

static void watch_container(int nsfd, const char *id, const char *where)
{
	int fd = openat(nsfd, id, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		return;
	check_file(fd, "state.json", id);
	check_file(fd, "exit.json", id);
	close(fd);
}

static void watch_ns(int cfd, const char *ns, const char *where)
{
	each_entry(cfd, ns, watch_container, ns);
}

static void watch_pid(int pfd, const char *name, const char *where)
{
	check_file(pfd, name, "pids");
}

static int mode_watch(const char *stop_file)
{
	long rounds = 0;

	while (access(stop_file, F_OK) < 0) {
		each_entry(store.root_fd, "containers", watch_ns, "containers");
		each_entry(store.root_fd, "pids", watch_pid, "pids");
		rounds++;
	}
	printf("WATCH rounds=%ld reads=%ld malformed=%ld\n", rounds, reads, malformed);
	return malformed != 0;
}

/* ---- --set, --bad-ids ----------------------------------------------------- */

struct set_arg {
	const char *key;
	int v;
};

static int set_bool(cJSON *st, void *arg)
{
	const struct set_arg *a = arg;

	cjson_set_bool(st, a->key, a->v);
	return 0;
}

static int mode_set(const char *ns, const char *id, const char *key, const char *v)
{
	struct set_arg a = { key, strcmp(v, "true") == 0 };
	tardis_error_t err = NULL;

	if (cstate_update(&store, ns, id, 0, set_bool, &a, &err) < 0) {
		fprintf(stderr, "concurrency: set %s: %s\n", key, tardis_error_msg(err));
		return 1;
	}
	return 0;
}

static int expect_einval(const char *what, const char *ns, const char *id, int rc,
			 tardis_error_t *err)
{
	int ok = rc < 0 && *err && (*err)->errnum == EINVAL;

	if (!ok)
		fprintf(stderr, "BADID %s accepted `%.40s`/`%.40s` (rc %d, %s)\n", what, ns, id, rc,
			*err ? tardis_error_msg(*err) : "no error");
	tardis_error_free(err);
	return ok ? 0 : 1;
}

static int mode_bad_ids(void)
{
	char long_id[1025], ctl[] = "a\nb", tab[] = "a\tb", esc[] = "a\033[2Jb", del[] = "a\177b";
	const char *bad[] = { "a/b", "/abs", "..", ".", "../x", "x/..", "", ctl, tab, esc, del,
			      long_id, "a b", "a\\b", "$(id)", "a;b" };
	int fails = 0, n = 0;

	memset(long_id, 'a', sizeof(long_id) - 1);
	long_id[sizeof(long_id) - 1] = '\0';
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		for (int which = 0; which < 2; which++) {
			const char *ns = which ? "ok" : bad[i], *id = which ? bad[i] : "ok";
			tardis_error_t err = NULL;
			int rc;
			cJSON *st = NULL;

			rc = store_container_dir(&store, ns, id, 1, &err);
			fails += expect_einval("store_container_dir", ns, id, rc, &err);
			rc = store_container_lock(&store, ns, id, 1, &err);
			fails += expect_einval("store_container_lock", ns, id, rc, &err);
			rc = cstate_update(&store, ns, id, CSTATE_CREATE, add_one, NULL, &err);
			fails += expect_einval("cstate_update", ns, id, rc, &err);
			rc = cstate_load(&store, ns, id, &st, &err);
			fails += expect_einval("cstate_load", ns, id, rc, &err);
			rc = store_container_remove(&store, ns, id, &err);
			fails += expect_einval("store_container_remove", ns, id, rc, &err);
			rc = registry_register(&store, NULL, ns, id, getpid(), 0, &err);
			fails += expect_einval("registry_register", ns, id, rc, &err);
			n += 6;
		}
	}
	printf("BADIDS calls=%d accepted=%d\n", n, fails);
	return fails != 0;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "counter", no_argument, NULL, 'c' }, { "flag", no_argument, NULL, 'f' },
		{ "remove", no_argument, NULL, 'r' },  { "watch", no_argument, NULL, 'w' },
		{ "stop", required_argument, NULL, 's' }, { "set", no_argument, NULL, 'S' },
		{ "bad-ids", no_argument, NULL, 'b' },  { "procs", required_argument, NULL, 'p' },
		{ "iters", required_argument, NULL, 'i' }, { "cycles", required_argument, NULL, 'y' },
		{ "takers", required_argument, NULL, 't' }, { "timeout", required_argument, NULL, 'T' },
		{ 0 },
	};
	int mode = 0, procs = 8, iters = 100, cycles = 100, takers = 8, timeout_s = 300, opt;
	const char *stop = NULL;

	while ((opt = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (opt) {
		case 'c': case 'f': case 'r': case 'S': case 'b': mode = opt; break;
		case 'w': mode = 'w'; break;
		case 's': stop = optarg; break;
		case 'p': procs = atoi(optarg); break;
		case 'i': iters = atoi(optarg); break;
		case 'y': cycles = atoi(optarg); break;
		case 't': takers = atoi(optarg); break;
		case 'T': timeout_s = atoi(optarg); break;
		default: return 2;
		}
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	/* A deadlock ends as SIGALRM, in every process of the mode. */
	alarm(timeout_s);
	open_store();
	switch (mode) {
	case 'c':
		if (argc - optind != 2 || procs < 1 || procs > 256)
			return 2;
		return mode_counter(argv[optind], argv[optind + 1], procs, iters);
	case 'f':
		if (argc - optind != 2 || takers < 1 || takers > 256)
			return 2;
		return mode_flag(argv[optind], argv[optind + 1], cycles, takers);
	case 'r':
		if (argc - optind != 2 || procs < 1 || procs > 256)
			return 2;
		return mode_remove(argv[optind], argv[optind + 1], procs, iters);
	case 'w':
		if (!stop)
			return 2;
		return mode_watch(stop);
	case 'S':
		if (argc - optind != 4)
			return 2;
		return mode_set(argv[optind], argv[optind + 1], argv[optind + 2], argv[optind + 3]);
	case 'b':
		return mode_bad_ids();
	}
	fprintf(stderr, "usage: see tests/concurrency.c\n");
	return 2;
}
