/* str_set: the agent's log lines known to be written. */
#include "unit_main.h"
#include "str_set.h"

#include <pthread.h>

START_TEST(test_add_has_del)
{
	struct str_set *s = str_set_new();

	ck_assert_ptr_nonnull(s);
	ck_assert_int_eq(str_set_has(s, "exit recorded a/b pid=1 "), 0);
	ck_assert_int_eq(str_set_add(s, "exit recorded a/b pid=1 "), 0);
	ck_assert_int_eq(str_set_add(s, "exit recorded a/b pid=1 "), 0); /* twice: one */
	ck_assert_uint_eq(str_set_count(s), 1);
	ck_assert_int_eq(str_set_has(s, "exit recorded a/b pid=1 "), 1);
	ck_assert_int_eq(str_set_has(s, "exit recorded a/b pid=1"), 0); /* exact */
	ck_assert_int_eq(str_set_has(s, "exit recorded a/b pid=12 "), 0);
	ck_assert_int_eq(str_set_add(s, ""), 0);
	ck_assert_int_eq(str_set_has(s, ""), 1);
	str_set_del(s, "exit recorded a/b pid=1 ");
	str_set_del(s, "exit recorded a/b pid=1 "); /* twice: nothing */
	ck_assert_int_eq(str_set_has(s, "exit recorded a/b pid=1 "), 0);
	ck_assert_uint_eq(str_set_count(s), 1);
	str_set_clear(s);
	ck_assert_uint_eq(str_set_count(s), 0);
	ck_assert_int_eq(str_set_has(s, ""), 0);
	str_set_free(s);
	str_set_free(NULL);
}
END_TEST

/* A burst's worth, added and removed in turns while the table grows;
 * every survivor still found, every removed one gone. */
START_TEST(test_many)
{
	struct str_set *s = str_set_new();
	char k[64];

	for (int i = 0; i < 20000; i++) {
		snprintf(k, sizeof(k), "%d.%d", i, i * 7);
		ck_assert_int_eq(str_set_add(s, k), 0);
	}
	for (int i = 0; i < 20000; i += 3) {
		snprintf(k, sizeof(k), "%d.%d", i, i * 7);
		str_set_del(s, k);
	}
	for (int i = 0; i < 20000; i++) {
		snprintf(k, sizeof(k), "%d.%d", i, i * 7);
		ck_assert_int_eq(str_set_has(s, k), i % 3 != 0);
	}
	ck_assert_uint_eq(str_set_count(s), 20000 - 6667);
	str_set_free(s);
}
END_TEST

/* The commit thread adds and removes while the event loop asks. */
static void *adder(void *arg)
{
	struct str_set *s = arg;
	char k[32];

	for (int i = 0; i < 5000; i++) {
		snprintf(k, sizeof(k), "t%d", i);
		str_set_add(s, k);
		if (i % 2)
			str_set_del(s, k);
	}
	return NULL;
}

START_TEST(test_threads)
{
	struct str_set *s = str_set_new();
	pthread_t t;
	char k[32];

	ck_assert_int_eq(pthread_create(&t, NULL, adder, s), 0);
	for (int n = 0; n < 20000; n++) {
		snprintf(k, sizeof(k), "t%d", n % 5000);
		(void)str_set_has(s, k);
	}
	pthread_join(t, NULL);
	for (int i = 0; i < 5000; i++) {
		snprintf(k, sizeof(k), "t%d", i);
		ck_assert_int_eq(str_set_has(s, k), i % 2 == 0);
	}
	str_set_free(s);
}
END_TEST

UNIT_SUITE(str_set, "str_set", test_add_has_del, test_many, test_threads)
