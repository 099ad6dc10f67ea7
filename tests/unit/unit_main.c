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

int main(void)
{
	SRunner *sr;
	int run, failed;

	snprintf(unit_base, sizeof(unit_base), "/tmp/tardis-unit.XXXXXX");
	if (!mkdtemp(unit_base)) {
		perror("mkdtemp");
		return 2;
	}
	sr = srunner_create(exit_record_suite());
	srunner_add_suite(sr, ctr_events_suite());
	srunner_add_suite(sr, state_suite());
	srunner_add_suite(sr, config_suite());
	srunner_add_suite(sr, runc_args_suite());
	if (sha256_suite)
		srunner_add_suite(sr, sha256_suite());
	if (filediff_suite)
		srunner_add_suite(sr, filediff_suite());
	if (oci_config_suite)
		srunner_add_suite(sr, oci_config_suite());
	if (metrics_suite)
		srunner_add_suite(sr, metrics_suite());
	if (config_edit_suite)
		srunner_add_suite(sr, config_edit_suite());
	if (container_summary_suite)
		srunner_add_suite(sr, container_summary_suite());
	srunner_run_all(sr, CK_NORMAL);
	run = srunner_ntests_run(sr);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	unit_rmrf(unit_base);
	printf("unit: %d passed, %d failed\n", run - failed, failed);
	return failed == 0 && run > 0 ? 0 : 1;
}
