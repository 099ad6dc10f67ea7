/* lease (one identity, one life): records, CAS, renewal, expiry, pruning,
 * the create's claim policy, and eight processes claiming at once. */
#include "unit_main.h"
#include "error.h"
#include "lease.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NS_PER_S ((int64_t)1000000000)

/* An image path below a fresh dir, its parents not made yet (as on a fresh
 * NFS export); malloc'd. */
static char *image_path(void)
{
	char *dir = unit_tmpdir(), *p = NULL;

	ck_assert(asprintf(&p, "%s/checkpoint/k8s/prod/web-0/counter", dir) > 0);
	free(dir);
	return p;
}

static struct lease lease_of(enum lease_state st, const char *node, const char *ns,
			     const char *id, int timeout_s)
{
	struct lease l;

	memset(&l, 0, sizeof(l));
	l.state = st;
	snprintf(l.node, sizeof(l.node), "%s", node);
	snprintf(l.ns, sizeof(l.ns), "%s", ns);
	snprintf(l.id, sizeof(l.id), "%s", id);
	l.timeout_s = timeout_s;
	return l;
}

static void record_file(const char *image, uint64_t seq, char *buf, size_t len)
{
	char dir[4096];

	ck_assert_int_eq(lease_dir_path(image, dir, sizeof(dir)), 0);
	snprintf(buf, len, "%s/%020" PRIu64, dir, seq);
}

/* Writes record l->seq by hand, as another node's tardis would (its
 * renewed_ns whatever the test needs). */
static void put_record(const char *image, const struct lease *l)
{
	char dir[4096], path[4200];
	FILE *f;

	ck_assert_int_eq(lease_dir_path(image, dir, sizeof(dir)), 0);
	ck_assert_int_eq(mkdir_p(dir, 0700), 0);
	record_file(image, l->seq, path, sizeof(path));
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f,
		"{\"version\":1,\"seq\":%" PRIu64 ",\"state\":\"%s\",\"node\":\"%s\",\"ns\":\"%s\","
		"\"id\":\"%s\",\"renewed_at_ns\":%" PRId64 ",\"timeout_s\":%d,\"image\":\"%s\","
		"\"failed_restores\":%d}",
		l->seq, lease_state_name(l->state), l->node, l->ns, l->id, l->renewed_ns,
		l->timeout_s, l->image, l->failed_restores);
	ck_assert_int_eq(fclose(f), 0);
}

static int count_records(const char *image, uint64_t *lowest)
{
	char dir[4096];
	DIR *d;
	struct dirent *de;
	int n = 0;

	ck_assert_int_eq(lease_dir_path(image, dir, sizeof(dir)), 0);
	d = opendir(dir);
	ck_assert_ptr_nonnull(d);
	*lowest = UINT64_MAX;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.') {
			uint64_t s = strtoull(de->d_name, NULL, 10);

			n++;
			if (s < *lowest)
				*lowest = s;
		}
	closedir(d);
	return n;
}

static void assert_same(const struct lease *a, const struct lease *b)
{
	ck_assert_uint_eq(a->seq, b->seq);
	ck_assert_int_eq(a->state, b->state);
	ck_assert_str_eq(a->node, b->node);
	ck_assert_str_eq(a->ns, b->ns);
	ck_assert_str_eq(a->id, b->id);
	ck_assert_int_eq(a->renewed_ns, b->renewed_ns);
	ck_assert_int_eq(a->timeout_s, b->timeout_s);
	ck_assert_str_eq(a->image, b->image);
	ck_assert_int_eq(a->failed_restores, b->failed_restores);
}

START_TEST(test_read_advance)
{
	cleanup_error tardis_error_t err = NULL;
	char *img = image_path(), dir[4096], path[4200];
	struct lease zero, cur, next = lease_of(LEASE_CHECKPOINTING, "node-a", "k8s.io", "c1", 30);
	struct stat st;
	int64_t before = time_realtime_ns();

	memset(&zero, 0, sizeof(zero));
	ck_assert_int_eq(lease_read(img, &cur, &err), 0);
	ck_assert_uint_eq(cur.seq, 0);
	snprintf(next.image, sizeof(next.image), "%s", "sha256:abc");
	next.failed_restores = 2;
	ck_assert_int_eq(lease_advance(img, &zero, &next, &err), 1);
	ck_assert_uint_eq(next.seq, 1);
	ck_assert_int_ge(next.renewed_ns, before - 1000);
	ck_assert_int_eq(lease_read(img, &cur, &err), 1);
	assert_same(&cur, &next);
	ck_assert_str_eq(lease_state_name(cur.state), "checkpointing");
	record_file(img, 1, path, sizeof(path));
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(lease_dir_path(img, dir, sizeof(dir)), 0);
	ck_assert_int_eq(stat(dir, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0700);
	/* A trailing slash names the same lease. */
	ck_assert_int_eq(lease_dir_path("/x/img/", dir, sizeof(dir)), 0);
	ck_assert_str_eq(dir, "/x/img.lease");
	free(img);
}
END_TEST

START_TEST(test_malformed)
{
	cleanup_error tardis_error_t err = NULL;
	char *img = image_path(), path[4200], path4[4200];
	struct lease cur, l = lease_of(LEASE_RUNNING, "node-a", "k8s.io", "c1", 30);
	FILE *f;

	l.seq = 1;
	put_record(img, &l);
	record_file(img, 2, path, sizeof(path));
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs("{\"version\":1,\"seq\":2,\"state\":\"sleeping\"", f);
	fclose(f);
	ck_assert_int_eq(lease_read(img, &cur, &err), -1);
	UNIT_ASSERT_CONTAINS(tardis_error_msg(err), "malformed", path);
	tardis_error_free(&err);
	/* The number in the record must be its name's. */
	l.seq = 3;
	put_record(img, &l);
	record_file(img, 3, path, sizeof(path));
	record_file(img, 4, path4, sizeof(path4));
	ck_assert_int_eq(rename(path, path4), 0);
	ck_assert_int_eq(lease_read(img, &cur, &err), -1);
	UNIT_ASSERT_CONTAINS(tardis_error_msg(err), "malformed", path4, "seq");
	free(img);
}
END_TEST

START_TEST(test_cas)
{
	cleanup_error tardis_error_t err = NULL;
	char *img = image_path();
	struct lease zero, cur, a = lease_of(LEASE_RUNNING, "node-a", "k8s.io", "c1", 30),
				b = lease_of(LEASE_RUNNING, "node-b", "k8s.io", "c1", 30);

	memset(&zero, 0, sizeof(zero));
	ck_assert_int_eq(lease_advance(img, &zero, &a, &err), 1);
	ck_assert_int_eq(lease_advance(img, &zero, &b, &err), 0);
	ck_assert_int_eq(lease_read(img, &cur, &err), 1);
	ck_assert_str_eq(cur.node, "node-a");
	/* From the same current record, again: one wins. */
	ck_assert_int_eq(lease_advance(img, &cur, &b, &err), 1);
	ck_assert_int_eq(lease_advance(img, &cur, &a, &err), 0);
	ck_assert_int_eq(lease_read(img, &cur, &err), 1);
	ck_assert_uint_eq(cur.seq, 2);
	ck_assert_str_eq(cur.node, "node-b");
	ck_assert_ptr_null(err);
	free(img);
}
END_TEST

START_TEST(test_stale_cur_after_prune)
{
	cleanup_error tardis_error_t err = NULL;
	char *img = image_path(), path[4200];
	struct lease zero, old, cur, l = lease_of(LEASE_RUNNING, "node-a", "k8s.io", "c1", 30);
	struct stat st;

	memset(&zero, 0, sizeof(zero));
	ck_assert_int_eq(lease_advance(img, &zero, &l, &err), 1);
	old = l;
	for (int i = 0; i < 5; i++) {
		ck_assert_int_eq(lease_read(img, &cur, &err), 1);
		ck_assert_int_eq(lease_advance(img, &cur, &l, &err), 1);
	}
	/* Record 2 was pruned; a writer still holding record 1 must lose. */
	record_file(img, 2, path, sizeof(path));
	ck_assert_int_eq(stat(path, &st), -1);
	ck_assert_int_eq(lease_advance(img, &old, &l, &err), 0);
	ck_assert_int_eq(stat(path, &st), -1);
	ck_assert_int_eq(lease_read(img, &cur, &err), 1);
	ck_assert_uint_eq(cur.seq, 6);
	free(img);
}
END_TEST

START_TEST(test_renew)
{
	cleanup_error tardis_error_t err = NULL;
	char *img = image_path();
	const struct timespec ms2 = { 0, 2000000 };
	struct lease zero, cur, mine = lease_of(LEASE_RUNNING, "node-a", "k8s.io", "c1", 30),
				other = lease_of(LEASE_RUNNING, "node-b", "k8s.io", "c1", 30), fake;
	int64_t first;

	memset(&zero, 0, sizeof(zero));
	ck_assert_int_eq(lease_renew(img, &mine, &err), 0); /* no lease at all */
	ck_assert_int_eq(lease_advance(img, &zero, &mine, &err), 1);
	first = mine.renewed_ns;
	nanosleep(&ms2, NULL);
	ck_assert_int_eq(lease_renew(img, &mine, &err), 1);
	ck_assert_int_gt(mine.renewed_ns, first);
	ck_assert_int_eq(lease_read(img, &cur, &err), 1);
	assert_same(&cur, &mine);
	/* The same number held by someone else is not mine. */
	fake = mine;
	snprintf(fake.node, sizeof(fake.node), "%s", "node-c");
	ck_assert_int_eq(lease_renew(img, &fake, &err), 0);
	/* Someone advanced past it. */
	ck_assert_int_eq(lease_advance(img, &cur, &other, &err), 1);
	ck_assert_int_eq(lease_renew(img, &mine, &err), 0);
	ck_assert_int_eq(lease_read(img, &cur, &err), 1);
	assert_same(&cur, &other);
	ck_assert_ptr_null(err);
	free(img);
}
END_TEST

START_TEST(test_expiry)
{
	int64_t now = time_realtime_ns();
	struct lease l = lease_of(LEASE_RUNNING, "node-a", "k8s.io", "c1", 1);

	l.seq = 1;
	l.renewed_ns = now - 2 * NS_PER_S;
	ck_assert_int_eq(lease_expired(&l, now), 1);
	l.state = LEASE_CHECKPOINTING;
	ck_assert_int_eq(lease_expired(&l, now), 1);
	l.state = LEASE_RELEASED;
	ck_assert_int_eq(lease_expired(&l, now), 0);
	l.state = LEASE_RUNNING;
	l.renewed_ns = now;
	ck_assert_int_eq(lease_expired(&l, now), 0);
}
END_TEST

START_TEST(test_prune)
{
	cleanup_error tardis_error_t err = NULL;
	char *img = image_path(), dir[4096], old_tmp[4200], new_tmp[4200];
	struct lease zero, cur, l = lease_of(LEASE_RUNNING, "node-a", "k8s.io", "c1", 30);
	struct timespec two_min_ago[2] = { { time(NULL) - 120, 0 }, { time(NULL) - 120, 0 } };
	struct stat st;
	uint64_t lowest;
	int fd;

	memset(&zero, 0, sizeof(zero));
	ck_assert_int_eq(lease_advance(img, &zero, &l, &err), 1);
	ck_assert_int_eq(lease_dir_path(img, dir, sizeof(dir)), 0);
	snprintf(old_tmp, sizeof(old_tmp), "%s/.tmp.gone.1.1", dir);
	snprintf(new_tmp, sizeof(new_tmp), "%s/.tmp.busy.1.1", dir);
	fd = open(old_tmp, O_WRONLY | O_CREAT, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(futimens(fd, two_min_ago), 0);
	close(fd);
	fd = open(new_tmp, O_WRONLY | O_CREAT, 0600);
	ck_assert_int_ge(fd, 0);
	close(fd);
	for (int i = 0; i < 9; i++) {
		ck_assert_int_eq(lease_read(img, &cur, &err), 1);
		ck_assert_int_eq(lease_advance(img, &cur, &l, &err), 1);
		ck_assert_int_le(count_records(img, &lowest), LEASE_KEEP + 2);
	}
	ck_assert_int_eq(lease_read(img, &cur, &err), 1);
	ck_assert_uint_eq(cur.seq, 10);
	ck_assert_int_eq(stat(old_tmp, &st), -1);
	ck_assert_int_eq(stat(new_tmp, &st), 0);
	unlink(new_tmp);
	ck_assert_int_eq(count_records(img, &lowest), LEASE_KEEP);
	ck_assert_uint_eq(lowest, 8);
	/* remove: all of it; missing is fine. */
	ck_assert_int_eq(lease_remove(img, &err), 0);
	ck_assert_int_eq(stat(dir, &st), -1);
	ck_assert_int_eq(lease_read(img, &cur, &err), 0);
	ck_assert_int_eq(lease_remove(img, &err), 0);
	ck_assert_ptr_null(err);
	free(img);
}
END_TEST

static struct lease_claim claim_as(const char *node, const char *id)
{
	return (struct lease_claim){ .node = node, .ns = "k8s.io", .id = id, .timeout_s = 30 };
}

static int alive_says(const struct lease *owner, void *arg)
{
	int *answer = arg;

	answer[1]++; /* calls */
	return answer[0];
}

START_TEST(test_claim_basic)
{
	char *img = image_path(), why[512];
	struct lease prev, out, l = lease_of(LEASE_RUNNING, "node-b", "k8s.io", "old", 30);
	struct lease_claim c = claim_as("node-a", "new");

	ck_assert_int_eq(lease_claim(img, &c, &prev, &out, why, sizeof(why)), LEASE_GRANTED);
	ck_assert_uint_eq(prev.seq, 0);
	ck_assert_uint_eq(out.seq, 1);
	ck_assert_int_eq(out.state, LEASE_RUNNING);
	ck_assert_str_eq(out.node, "node-a");
	ck_assert_str_eq(out.id, "new");
	ck_assert_int_eq(out.timeout_s, 30);
	/* Mine already (the same container created again): granted. */
	ck_assert_int_eq(lease_claim(img, &c, &prev, &out, why, sizeof(why)), LEASE_GRANTED);
	ck_assert_uint_eq(prev.seq, 1);
	ck_assert_uint_eq(out.seq, 2);
	/* Another node's fresh record. */
	l.seq = 3;
	l.renewed_ns = time_realtime_ns();
	put_record(img, &l);
	ck_assert_int_eq(lease_claim(img, &c, &prev, &out, why, sizeof(why)), LEASE_BUSY);
	UNIT_ASSERT_CONTAINS(why, "held by k8s.io/old on node node-b, renewed ", " s ago");
	/* The same, expired. */
	l.seq = 4;
	l.timeout_s = 1;
	l.renewed_ns = time_realtime_ns() - 5 * NS_PER_S;
	put_record(img, &l);
	ck_assert_int_eq(lease_claim(img, &c, &prev, &out, why, sizeof(why)), LEASE_GRANTED);
	ck_assert_uint_eq(prev.seq, 4);
	ck_assert_str_eq(prev.node, "node-b");
	ck_assert_uint_eq(out.seq, 5);
	free(img);
}
END_TEST

START_TEST(test_claim_same_node)
{
	char *img = image_path(), why[512];
	struct lease prev, out, l = lease_of(LEASE_RUNNING, "node-a", "k8s.io", "old", 30);
	struct lease_claim c = claim_as("node-a", "new");
	int answer[2] = { 1, 0 };

	c.alive = alive_says;
	c.arg = answer;
	l.seq = 1;
	l.renewed_ns = time_realtime_ns();
	put_record(img, &l);
	ck_assert_int_eq(lease_claim(img, &c, &prev, &out, why, sizeof(why)), LEASE_BUSY);
	UNIT_ASSERT_CONTAINS(why, "held by k8s.io/old on node node-a");
	ck_assert_int_eq(answer[1], 1);
	c.alive = NULL; /* treated as alive */
	ck_assert_int_eq(lease_claim(img, &c, &prev, &out, why, sizeof(why)), LEASE_BUSY);
	c.alive = alive_says;
	answer[0] = 0; /* the old container is gone */
	ck_assert_int_eq(lease_claim(img, &c, &prev, &out, why, sizeof(why)), LEASE_GRANTED);
	ck_assert_int_eq(answer[1], 2);
	ck_assert_str_eq(prev.id, "old");
	ck_assert_str_eq(out.id, "new");
	ck_assert_uint_eq(out.seq, 2);
	free(img);
}
END_TEST

START_TEST(test_claim_carries_guard)
{
	char *img = image_path(), why[512];
	struct lease prev, out, cur, l = lease_of(LEASE_RELEASED, "node-b", "k8s.io", "old", 30);
	struct lease_claim c = claim_as("node-a", "new");
	cleanup_error tardis_error_t err = NULL;

	l.seq = 7;
	l.renewed_ns = time_realtime_ns();
	snprintf(l.image, sizeof(l.image), "%s", "2026-11-26T02:00:00Z");
	l.failed_restores = 2;
	put_record(img, &l);
	ck_assert_int_eq(lease_claim(img, &c, &prev, &out, why, sizeof(why)), LEASE_GRANTED);
	ck_assert_int_eq(prev.state, LEASE_RELEASED);
	ck_assert_str_eq(out.image, "2026-11-26T02:00:00Z");
	ck_assert_int_eq(out.failed_restores, 2);
	ck_assert_int_eq(lease_read(img, &cur, &err), 1);
	assert_same(&cur, &out);
	free(img);
}
END_TEST

START_TEST(test_claim_waits_for_checkpoint)
{
	char *img = image_path(), why[512];
	struct lease prev, out, l = lease_of(LEASE_CHECKPOINTING, "node-b", "k8s.io", "old", 30);
	struct lease_claim c = claim_as("node-a", "new");
	cleanup_error tardis_error_t err = NULL;
	struct lease zero;
	int status;
	pid_t pid;

	memset(&zero, 0, sizeof(zero));
	ck_assert_int_eq(lease_advance(img, &zero, &l, &err), 1);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) { /* the old pod's checkpoint ends after ~300 ms */
		const struct timespec t = { 0, 300000000 };
		tardis_error_t cerr = NULL;
		struct lease rel = l;

		nanosleep(&t, NULL);
		rel.state = LEASE_RELEASED;
		_exit(lease_advance(img, &l, &rel, &cerr) == 1 ? 0 : 1);
	}
	c.wait_s = 30;
	ck_assert_int_eq(lease_claim(img, &c, &prev, &out, why, sizeof(why)), LEASE_GRANTED);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ck_assert_int_eq(prev.state, LEASE_RELEASED);
	ck_assert_uint_eq(prev.seq, 2);
	ck_assert_uint_eq(out.seq, 3);
	free(img);
}
END_TEST

START_TEST(test_claim_checkpoint_never_ends)
{
	char *img = image_path(), why[512];
	struct lease prev, out, cur, l = lease_of(LEASE_CHECKPOINTING, "node-b", "k8s.io", "old", 30);
	struct lease_claim c = claim_as("node-a", "new");
	cleanup_error tardis_error_t err = NULL;
	struct lease zero;

	memset(&zero, 0, sizeof(zero));
	ck_assert_int_eq(lease_advance(img, &zero, &l, &err), 1);
	c.wait_s = 1;
	ck_assert_int_eq(lease_claim(img, &c, &prev, &out, why, sizeof(why)), LEASE_BUSY);
	UNIT_ASSERT_CONTAINS(why, "identity checkpointing on node node-b for more than 1 s");
	ck_assert_int_eq(lease_read(img, &cur, &err), 1);
	assert_same(&cur, &l);
	free(img);
}
END_TEST

#define RACERS 8
#define ROUNDS 20

/* One round: RACERS processes claim a fresh identity at once (released
 * together by closing a pipe); returns how many were granted, *busy the
 * others that were refused. */
static int race_round(int *busy)
{
	char *img = image_path();
	pid_t pids[RACERS];
	int go[2], granted = 0;
	struct lease cur;
	tardis_error_t err = NULL;

	ck_assert_int_eq(pipe(go), 0);
	for (int i = 0; i < RACERS; i++) {
		pids[i] = fork();
		ck_assert_int_ge(pids[i], 0);
		if (pids[i] == 0) {
			char node[32], why[512], b;
			struct lease prev, out;
			struct lease_claim c;

			snprintf(node, sizeof(node), "node-%d", i);
			c = claim_as(node, "web-0");
			close(go[1]);
			if (read(go[0], &b, 1) != 0)
				_exit(3);
			switch (lease_claim(img, &c, &prev, &out, why, sizeof(why))) {
			case LEASE_GRANTED: _exit(0);
			case LEASE_BUSY: _exit(strstr(why, "held by") ? 1 : 4);
			default: _exit(2);
			}
		}
	}
	close(go[0]);
	close(go[1]); /* go */
	*busy = 0;
	for (int i = 0; i < RACERS; i++) {
		int status;

		ck_assert_int_eq(waitpid(pids[i], &status, 0), pids[i]);
		ck_assert(WIFEXITED(status));
		granted += WEXITSTATUS(status) == 0;
		*busy += WEXITSTATUS(status) == 1;
	}
	ck_assert_int_eq(lease_read(img, &cur, &err), 1);
	ck_assert_uint_eq(cur.seq, 1); /* one write, the winner's */
	free(img);
	return granted;
}

START_TEST(test_claim_race)
{
	for (int r = 0; r < ROUNDS; r++) {
		int busy, granted = race_round(&busy);

		ck_assert_msg(granted == 1 && busy == RACERS - 1, "round %d: %d granted, %d busy", r,
			      granted, busy);
	}
}
END_TEST

Suite *lease_suite(void)
{
	const struct unit_tcase cases[] = {
		{ "core", 0,
		  UNIT_TESTS(test_read_advance, test_malformed, test_cas, test_stale_cur_after_prune,
			     test_renew, test_expiry, test_prune) },
		{ "claim", 60,
		  UNIT_TESTS(test_claim_basic, test_claim_same_node, test_claim_carries_guard,
			     test_claim_waits_for_checkpoint, test_claim_checkpoint_never_ends,
			     test_claim_race) },
		{ NULL, 0, NULL },
	};

	return unit_suite("lease", cases);
}
