/* The unit tests (libcheck): one suite per module, run by unit_main.c. */
#ifndef TARDIS_UNIT_MAIN_H
#define TARDIS_UNIT_MAIN_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

Suite *exit_record_suite(void);
Suite *ctr_events_suite(void);
Suite *state_suite(void);
Suite *config_suite(void);
Suite *runc_args_suite(void);
/* Weak: each runs when its tests/unit_*.c file is part of the build. */
Suite *sha256_suite(void) __attribute__((weak));
Suite *filediff_suite(void) __attribute__((weak));
Suite *oci_config_suite(void) __attribute__((weak));
Suite *metrics_suite(void) __attribute__((weak));
Suite *config_edit_suite(void) __attribute__((weak));
Suite *container_summary_suite(void) __attribute__((weak));
Suite *process_suite(void) __attribute__((weak));
Suite *failure_count_suite(void) __attribute__((weak));
Suite *lease_suite(void) __attribute__((weak));
Suite *netns_suite(void) __attribute__((weak));
Suite *preflight_suite(void) __attribute__((weak));
Suite *baseline_suite(void) __attribute__((weak));
Suite *image_roots_suite(void) __attribute__((weak));
Suite *agent_lock_suite(void) __attribute__((weak));
Suite *deadline_suite(void) __attribute__((weak));
Suite *runc_help_suite(void) __attribute__((weak));
Suite *agent_commit_suite(void) __attribute__((weak));
Suite *shim_docker_suite(void) __attribute__((weak));
Suite *image_suite(void) __attribute__((weak));
Suite *reg_cache_suite(void) __attribute__((weak));
Suite *str_set_suite(void) __attribute__((weak));

/* One test case of a suite: its name, check's timeout in seconds (0: check's
 * default), its tests (a list ending with NULL: UNIT_TESTS). */
struct unit_tcase {
	const char *name;
	double timeout;
	const TTest *const *tests;
};
#define UNIT_TESTS(...) ((const TTest *const[]){ __VA_ARGS__, NULL })
/* The suite NAME of CASES, a table ending with { NULL }. */
Suite *unit_suite(const char *name, const struct unit_tcase *cases);
/* The usual suite: NAME_suite(), one test case TCASE of the tests given,
 * check's default timeout. */
#define UNIT_SUITE(name, tcase, ...)                                                  \
	Suite *name##_suite(void)                                                     \
	{                                                                             \
		const struct unit_tcase cases[] = { { tcase, 0, UNIT_TESTS(__VA_ARGS__) }, \
						    { NULL, 0, NULL } };                       \
		return unit_suite(#name, cases);                                      \
	}

/* Each of the strings (a list ending with NULL) occurs in TEXT. */
void unit_assert_contains(const char *text, const char *const *want);
#define UNIT_ASSERT_CONTAINS(text, ...) \
	unit_assert_contains((text), (const char *const[]){ __VA_ARGS__, NULL })

/* A fresh mkdtemp directory below the run's own directory in /tmp (which
 * main removes at the end, whatever the tests left); malloc'd path. */
char *unit_tmpdir(void);
/* rm -rf without following symlinks. */
void unit_rmrf(const char *path);

#endif
