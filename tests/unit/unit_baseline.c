/* The rootfs baseline (baseline.h) and the save against it. */
#include "unit_main.h"
#include "baseline.h"
#include "filediff.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void put(const char *dir, const char *rel, const char *text)
{
	char p[4096];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	f = fopen(p, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

static char *slurp(const char *dir, const char *rel)
{
	char p[4096], *buf = calloc(1, 65536);
	int fd;

	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	fd = open(p, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_ge(read(fd, buf, 65535), 0);
	close(fd);
	return buf;
}

START_TEST(parse_and_compare)
{
	struct baseline *b = NULL;
	tardis_error_t err = NULL;
	const char *text = "40755 0 0 4096 10.000000001 a\n"
			   "100644 0 0 3 10.5 a/f\n"
			   "40755 0 0 4096 10.0 a/d\n"
			   "100644 0 0 1 10.0 a/d/x\n"
			   "120777 0 0 1 10.0 a-link\n"
			   "100600 1000 1000 0 7.0 new\\nline\\\\x\n";
	struct stat st = { .st_mode = 0100644, .st_size = 3 };

	ck_assert_int_eq(baseline_parse(text, strlen(text), &b, &err), 0);
	ck_assert_uint_eq(baseline_size(b), 6);
	st.st_mtim.tv_sec = 10;
	st.st_mtim.tv_nsec = 5;
	ck_assert_int_eq(baseline_same(b, "a/f", &st), 1);
	st.st_size = 4;
	ck_assert_int_eq(baseline_same(b, "a/f", &st), 0); /* changed size */
	ck_assert_int_eq(baseline_same(b, "nope", &st), 0); /* new */
	st = (struct stat){ .st_mode = 0100600, .st_uid = 1000, .st_gid = 1000 };
	st.st_mtim.tv_sec = 7;
	ck_assert_int_eq(baseline_same(b, "new\nline\\x", &st), 1); /* escapes */
	baseline_free(b);
	/* Malformed: bad mode, `..`, absolute, no newline at the end, nsec. */
	for (const char *bad[] = { "zz 0 0 0 1.0 a\n", "40755 0 0 0 1.0 ../a\n",
				   "40755 0 0 0 1.0 /a\n", "40755 0 0 0 1.0 a",
				   "40755 0 0 0 1.1000000000 a\n", "40755 0 0 0 1.0\n" },
			**p = bad;
	     p < bad + 6; p++) {
		ck_assert_int_eq(baseline_parse(*p, strlen(*p), &b, &err), -1);
		ck_assert_ptr_null(b);
		tardis_error_free(&err);
	}
}
END_TEST

static int collect(void *arg, const char *path, tardis_error_t *err)
{
	strcat(arg, path);
	strcat(arg, ";");
	return 0;
}

START_TEST(gone_topmost)
{
	struct baseline *b = NULL;
	tardis_error_t err = NULL;
	const char *text = "40755 0 0 0 1.0 a\n40755 0 0 0 1.0 a/b\n100644 0 0 0 1.0 a/b/c\n"
			   "100644 0 0 0 1.0 a-x\n100644 0 0 0 1.0 keep\n100644 0 0 0 1.0 z\n";
	struct stat st = { .st_mode = 0100644 };
	char out[256] = "";

	st.st_mtim.tv_sec = 1;
	ck_assert_int_eq(baseline_parse(text, strlen(text), &b, &err), 0);
	baseline_same(b, "keep", &st);
	ck_assert_int_eq(baseline_foreach_gone(b, collect, out, &err), 0);
	/* a gone: a/b and a/b/c with it; a-x sorts between a and a/b. */
	ck_assert_str_eq(out, "a;a-x;z;");
	baseline_free(b);
}
END_TEST

START_TEST(record_then_save_since)
{
	char *root = unit_tmpdir(), *out = unit_tmpdir(), *state = unit_tmpdir(), p[4096];
	struct filediff_stats fs;
	struct baseline *b = NULL;
	tardis_error_t err = NULL;
	size_t n = 0;
	int sfd = open(state, O_RDONLY | O_DIRECTORY), ofd = open(out, O_RDONLY | O_DIRECTORY);
	char *del;

	snprintf(p, sizeof(p), "%s/d", root);
	ck_assert_int_eq(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/gone", root);
	ck_assert_int_eq(mkdir(p, 0755), 0);
	put(root, "d/same", "same");
	put(root, "d/changed", "one");
	put(root, "gone/x", "x");
	ck_assert_int_eq(baseline_record(root, sfd, BASELINE_FILE, &n, &err), 0);
	ck_assert_uint_eq(n, 5);
	/* The container: a change (size), a new file, a removed tree. */
	put(root, "d/changed", "two!");
	put(root, "d/new", "new");
	snprintf(p, sizeof(p), "%s/gone/x", root);
	unlink(p);
	snprintf(p, sizeof(p), "%s/gone", root);
	rmdir(p);
	ck_assert_int_eq(baseline_load(sfd, BASELINE_FILE, &b, &err), 0);
	ck_assert_int_eq(filediff_save_since(root, b, ofd, &fs, &err), 0);
	/* d (its mtime changed), d/changed, d/new: not d/same. */
	ck_assert_uint_eq(fs.entries, 3);
	ck_assert_uint_eq(fs.whiteouts, 1);
	del = slurp(out, FILEDIFF_DELETED);
	ck_assert_str_eq(del, "whiteout gone\n");
	free(del);
	baseline_free(b);
	/* None recorded: ENOENT. */
	ck_assert_int_eq(baseline_load(ofd, BASELINE_FILE, &b, &err), -1);
	tardis_error_free(&err);
	close(sfd);
	close(ofd);
	free(root);
	free(out);
	free(state);
}
END_TEST

Suite *baseline_suite(void)
{
	const struct unit_tcase cases[] = {
		{ "baseline", 30, UNIT_TESTS(parse_and_compare, gone_topmost, record_then_save_since) },
		{ NULL, 0, NULL },
	};

	return unit_suite("baseline", cases);
}
