/* reg_cache: the agent's registrations in memory. */
#include "unit_main.h"
#include "reg_cache.h"

static struct registration reg(pid_t pid, uint64_t start, const char *ns, const char *id)
{
	struct registration r = { .pid = pid, .start_time = start };

	snprintf(r.ns, sizeof(r.ns), "%s", ns);
	snprintf(r.id, sizeof(r.id), "%s", id);
	return r;
}

START_TEST(test_put_get_drop)
{
	struct reg_cache *c = reg_cache_new();
	struct registration r = reg(42, 1000, "k8s.io", "c1"), out;

	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(reg_cache_get(c, 42, 1000, &out), 0);
	ck_assert_int_eq(reg_cache_put(c, &r), 0);
	ck_assert_int_eq(reg_cache_get(c, 42, 1000, &out), 1);
	ck_assert_str_eq(out.ns, "k8s.io");
	ck_assert_str_eq(out.id, "c1");
	ck_assert_int_eq(out.pid, 42);
	ck_assert_uint_eq(out.start_time, 1000);
	/* Keyed by pid and start time: a reused pid is another entry. */
	ck_assert_int_eq(reg_cache_get(c, 42, 1001, &out), 0);
	r = reg(42, 1000, "default", "c2"); /* replaced */
	ck_assert_int_eq(reg_cache_put(c, &r), 0);
	ck_assert_int_eq(reg_cache_get(c, 42, 1000, &out), 1);
	ck_assert_str_eq(out.id, "c2");
	ck_assert_uint_eq(reg_cache_count(c), 1);
	reg_cache_drop(c, 42, 1000);
	reg_cache_drop(c, 42, 1000); /* twice: nothing */
	ck_assert_int_eq(reg_cache_get(c, 42, 1000, &out), 0);
	ck_assert_uint_eq(reg_cache_count(c), 0);
	ck_assert_int_eq(reg_cache_get(c, 0, 0, &out), 0);
	reg_cache_free(c);
	reg_cache_free(NULL);
}
END_TEST

/* A node's burst: 10,000 registrations, dropped and added in turns (the
 * table grows and sheds its tombstones), every survivor still found. */
START_TEST(test_many)
{
	struct reg_cache *c = reg_cache_new();
	struct registration r, out;
	char id[32];

	for (int round = 0; round < 3; round++) {
		for (int i = 1; i <= 10000; i++) {
			snprintf(id, sizeof(id), "c%d-%d", i, round);
			r = reg(i, (uint64_t)round * 7 + 5, "ns", id);
			ck_assert_int_eq(reg_cache_put(c, &r), 0);
		}
		for (int i = 1; i <= 10000; i += 2)
			reg_cache_drop(c, i, (uint64_t)round * 7 + 5);
	}
	ck_assert_uint_eq(reg_cache_count(c), 3 * 5000);
	reg_cache_clear(c);
	ck_assert_uint_eq(reg_cache_count(c), 0);
	ck_assert_int_eq(reg_cache_get(c, 2, 5, &out), 0);
	for (int round = 0; round < 3; round++)
		for (int i = 1; i <= 10000; i++) {
			snprintf(id, sizeof(id), "c%d-%d", i, round);
			r = reg(i, (uint64_t)round * 7 + 5, "ns", id);
			ck_assert_int_eq(reg_cache_put(c, &r), 0);
			if (i % 2)
				reg_cache_drop(c, i, (uint64_t)round * 7 + 5);
		}
	for (int round = 0; round < 3; round++)
		for (int i = 1; i <= 10000; i++) {
			int hit = reg_cache_get(c, i, (uint64_t)round * 7 + 5, &out);

			ck_assert_int_eq(hit, i % 2 == 0);
			if (hit) {
				snprintf(id, sizeof(id), "c%d-%d", i, round);
				ck_assert_str_eq(out.id, id);
			}
		}
	reg_cache_free(c);
}
END_TEST

START_TEST(test_parse_name)
{
	pid_t pid;
	uint64_t st;

	ck_assert_int_eq(reg_cache_parse_name("1234.987654321", &pid, &st), 0);
	ck_assert_int_eq(pid, 1234);
	ck_assert_uint_eq(st, 987654321);
	ck_assert_int_eq(reg_cache_parse_name("7.0", &pid, &st), 0);
	ck_assert_int_eq(pid, 7);
	ck_assert_uint_eq(st, 0);
	static const char *const bad[] = { "",          ".123.5.tmp",  "0.5",     "12",
					   "12.",       "12.x",        "-1.5",    "12.5x",
					   "99999999999.5", "12.99999999999999999999999", "a.1", "12 .5" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(reg_cache_parse_name(bad[i], &pid, &st) == -1, "accepted `%s`", bad[i]);
}
END_TEST

UNIT_SUITE(reg_cache, "reg_cache", test_put_get_drop, test_many, test_parse_name)
