/* Runs every unit suite; the last line is `unit: N passed, N failed`. */
#include "unit_main.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char unit_base[64];

static int rm_one(const char *path, const struct stat *st, int type, struct FTW *f)
{
	(void)st;
	(void)f;
	if (type == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

void unit_rmrf(const char *path)
{
	if (path && *path)
		nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

char *unit_tmpdir(void)
{
	char *p = NULL;

	ck_assert_msg(unit_base[0], "no base temp dir");
	ck_assert(asprintf(&p, "%s/t.XXXXXX", unit_base) > 0);
	ck_assert_msg(mkdtemp(p) != NULL, "mkdtemp %s", p);
	return p;
}

void unit_assert_contains(const char *text, const char *const *want)
{
	ck_assert_ptr_nonnull(text);
	for (; *want; want++)
		ck_assert_msg(strstr(text, *want) != NULL, "`%s` not in `%s`", *want, text);
}

Suite *unit_suite(const char *name, const struct unit_tcase *cases)
{
	Suite *s = suite_create(name);

	for (; cases->name; cases++) {
		TCase *tc = tcase_create(cases->name);

		if (cases->timeout > 0)
			tcase_set_timeout(tc, cases->timeout);
		for (const TTest *const *t = cases->tests; *t; t++)
			tcase_add_test(tc, *t);
		suite_add_tcase(s, tc);
	}
	return s;
}

int main(void)
{
	/* In this order; a weak one is NULL when its file is not built. */
	Suite *(*const suites[])(void) = {
		exit_record_suite, ctr_events_suite, state_suite,   config_suite,
		runc_args_suite,   sha256_suite,     filediff_suite, oci_config_suite,
		metrics_suite,     config_edit_suite, container_summary_suite, process_suite,
		failure_count_suite, lease_suite,
		netns_suite,       preflight_suite, baseline_suite, image_roots_suite,
		agent_lock_suite, deadline_suite, runc_help_suite, agent_commit_suite,
		shim_docker_suite, image_suite, reg_cache_suite, str_set_suite,
	};
	SRunner *sr;
	int run, failed;

	/* check's own default is 4 s a test: a slow disk (this one creates
	 * files 4-5x slower for ~35 s after a mass deletion) is not a
	 * failure.  A hang still is, after a minute.  Before the suites are
	 * made: tcase_create reads it. */
	setenv("CK_DEFAULT_TIMEOUT", "60", 0);
	snprintf(unit_base, sizeof(unit_base), "/tmp/tardis-unit.XXXXXX");
	if (!mkdtemp(unit_base)) {
		perror("mkdtemp");
		return 2;
	}
	sr = srunner_create(NULL);
	for (size_t i = 0; i < sizeof(suites) / sizeof(suites[0]); i++)
		if (suites[i])
			srunner_add_suite(sr, suites[i]());
	srunner_run_all(sr, CK_NORMAL);
	run = srunner_ntests_run(sr);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	unit_rmrf(unit_base);
	printf("unit: %d passed, %d failed\n", run - failed, failed);
	return failed == 0 && run > 0 ? 0 : 1;
}
