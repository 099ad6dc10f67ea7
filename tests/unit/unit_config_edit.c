/* config_edit: settings changed in place, everything else kept. */
#include "unit_main.h"
#include "config.h"
#include "config_edit.h"

#include <sys/stat.h>
#include <unistd.h>

static char *edit(const char *text, const char *k1, const char *v1, const char *k2, const char *v2)
{
	struct config_setting set[2] = { { k1, v1 }, { k2, v2 } };

	return config_edit_text(text, set, k2 ? 2 : 1);
}

START_TEST(test_replace_in_place)
{
	char *out = edit("# head\nrestore_timeout = 61 # mine\nlog_level=info\n\n# tail\n",
			 "log_level", "debug", NULL, NULL);

	ck_assert_str_eq(out, "# head\nrestore_timeout = 61 # mine\nlog_level = debug\n\n# tail\n");
	free(out);
}
END_TEST

START_TEST(test_duplicates_dropped)
{
	/* The parser takes the last one: after the edit there is one. */
	char *out = edit("log_level = warn\nx_other = 1\n  log_level = error\n", "log_level", "info",
			 NULL, NULL);

	ck_assert_str_eq(out, "log_level = info\nx_other = 1\n");
	free(out);
}
END_TEST

START_TEST(test_added_under_commented_default)
{
	char *out = edit("# log_file = /var/log/tardis-runc.log\nlog_level = info\n", "log_file",
			 "/tmp/x.log", "log_level", "warn");

	ck_assert_str_eq(out, "# log_file = /var/log/tardis-runc.log\nlog_file = /tmp/x.log\n"
			      "log_level = warn\n");
	free(out);
}
END_TEST

START_TEST(test_appended_and_no_trailing_newline)
{
	char *out = edit("runc = /usr/sbin/runc", "log_file", "syslog", NULL, NULL);

	ck_assert_str_eq(out, "runc = /usr/sbin/runc\nlog_file = syslog\n");
	free(out);
	out = edit(NULL, "log_level", "debug", NULL, NULL);
	ck_assert_str_eq(out, "log_level = debug\n");
	free(out);
	/* A key that only starts like ours is another key. */
	out = edit("log_levels = 1\n", "log_level", "debug", NULL, NULL);
	ck_assert_str_eq(out, "log_levels = 1\nlog_level = debug\n");
	free(out);
}
END_TEST

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = calloc(1, 4096);

	ck_assert_ptr_nonnull(f);
	ck_assert_int_ge((int)fread(buf, 1, 4095, f), 0);
	fclose(f);
	return buf;
}

START_TEST(test_file_update)
{
	char *dir = unit_tmpdir(), path[4200], link[4200], fresh[4200], *text;
	struct config_setting set[] = { { "log_level", "debug" } };
	struct config_setting bad[] = { { "log_level", "loud" } };
	struct config_setting hash[] = { { "log_file", "/tmp/a#b" } };
	tardis_error_t err = NULL;
	struct stat st;
	FILE *f;

	snprintf(path, sizeof(path), "%s/tardis.conf", dir);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs("# c\nlog_level = info\n", f);
	fclose(f);
	chmod(path, 0640);
	ck_assert_int_eq(config_file_update(path, set, 1, &err), 0);
	text = slurp(path);
	ck_assert_str_eq(text, "# c\nlog_level = debug\n");
	free(text);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0640); /* mode kept */

	/* Through a symlink: the target changes, the link stays. */
	snprintf(link, sizeof(link), "%s/link.conf", dir);
	ck_assert_int_eq(symlink(path, link), 0);
	set[0].value = "warn";
	ck_assert_int_eq(config_file_update(link, set, 1, &err), 0);
	ck_assert_int_eq(lstat(link, &st), 0);
	ck_assert(S_ISLNK(st.st_mode));
	text = slurp(path);
	ck_assert_str_eq(text, "# c\nlog_level = warn\n");
	free(text);

	/* What would not parse is not written. */
	ck_assert_int_lt(config_file_update(path, bad, 1, &err), 0);
	ck_assert_ptr_nonnull(strstr(tardis_error_msg(err), "bad value"));
	tardis_error_free(&err);
	ck_assert_int_lt(config_file_update(path, hash, 1, &err), 0);
	tardis_error_free(&err);
	text = slurp(path);
	ck_assert_str_eq(text, "# c\nlog_level = warn\n");
	free(text);

	/* A missing file (and directory) is created. */
	snprintf(fresh, sizeof(fresh), "%s/etc/tardis/tardis.conf", dir);
	ck_assert_int_eq(config_file_update(fresh, set, 1, &err), 0);
	text = slurp(fresh);
	ck_assert_str_eq(text, "log_level = warn\n");
	free(text);
	ck_assert_int_eq(stat(fresh, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0644);
	free(dir);
}
END_TEST

UNIT_SUITE(config_edit, "core", test_replace_in_place, test_duplicates_dropped,
	   test_added_under_commented_default, test_appended_and_no_trailing_newline,
	   test_file_update)
