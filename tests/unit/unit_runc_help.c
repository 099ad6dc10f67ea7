/* The parser against every runc's own help (tests/unit/fixtures/runc-help/
 * <version>/<cmd>.txt, made by scripts/runc-help-fixtures.sh): each flag
 * each runc lists, with a value when the help says it takes one, then a
 * container id, must parse with the id where it is.  A runc that adds a
 * flag fails here until shim/runc_args.c knows it.  Also the runc version
 * cache (runc_version.h). */
#include "unit_main.h"
#include "log.h"
#include "runc_args.h"
#include "runc_version.h"
#include "state.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define HELP_DIR "tests/unit/fixtures/runc-help"
#define MAX_VERSIONS 16

static char versions[MAX_VERSIONS][32];
static int nversions;

static int by_name(const void *a, const void *b)
{
	return strcmp(a, b);
}

static void find_versions(void)
{
	DIR *d = opendir(HELP_DIR);
	struct dirent *e;

	nversions = 0;
	while (d && (e = readdir(d)) && nversions < MAX_VERSIONS)
		if (e->d_name[0] != '.')
			snprintf(versions[nversions++], sizeof(versions[0]), "%s", e->d_name);
	if (d)
		closedir(d);
	qsort(versions, (size_t)nversions, sizeof(versions[0]), by_name);
}

/* Parses `runc [GLOBAL [V]] CMD [FLAG [V]] c-id [rest]` and checks the id
 * and the flag's canonical name (the help line's first name). */
static void expect_parsed(const char *file, const char *cmd, const char *flag, int value,
			  const char *canonical, int global)
{
	char *argv[12];
	int argc = 0, takes_id = strcmp(cmd, "list") && strcmp(cmd, "spec") && strcmp(cmd, "features");
	tardis_error_t err = NULL;
	struct runc_args a;
	const struct runc_opt *o;

	argv[argc++] = "runc";
	argv[argc++] = "--root";
	argv[argc++] = "/run/x/ns";
	if (global && flag) {
		argv[argc++] = (char *)flag;
		if (value)
			argv[argc++] = "v1";
	}
	argv[argc++] = (char *)cmd;
	if (!global && flag) {
		argv[argc++] = (char *)flag;
		if (value)
			argv[argc++] = "v1";
	}
	if (takes_id)
		argv[argc++] = "c-id";
	if (!strcmp(cmd, "exec"))
		argv[argc++] = "true";
	argv[argc] = NULL;
	ck_assert_msg(runc_args_parse(argc, argv, &a, &err) == 0, "%s: %s %s: %s", file, cmd,
		      flag ? flag : "", tardis_error_msg(err));
	ck_assert_str_eq(a.cmd, cmd);
	ck_assert_str_eq(a.ns, global && flag && !strcmp(canonical, "root") ? "v1" : "ns");
	if (takes_id)
		ck_assert_msg(a.id && !strcmp(a.id, "c-id"), "%s: %s %s: id `%s`", file, cmd, flag,
			      a.id ? a.id : "(none)");
	else
		ck_assert_ptr_null(a.id);
	if (!flag || !strcmp(canonical, "help"))
		return;
	o = global ? &a.globals[a.nglobals - 1] : &a.opts[a.nopts - 1];
	ck_assert_msg((global ? a.nglobals : a.nopts) > 0, "%s: %s not parsed", file, flag);
	ck_assert_msg(!strcmp(o->name, canonical), "%s: %s parsed as %s, want %s", file, flag,
		      o->name, canonical);
	ck_assert_str_eq(o->value, value ? "v1" : "true");
}

/* One help line "   --name value, -n value   usage": each spelling tried. */
static int check_line(const char *file, const char *cmd, const char *line, int global)
{
	char names[256], canonical[64] = "", *save = NULL, *tok;
	const char *p = line + strspn(line, " ");
	size_t n = strcspn(p, "\t");
	const char *gap = strstr(p, "  ");
	int tried = 0;

	if (gap && (size_t)(gap - p) < n)
		n = (size_t)(gap - p);
	snprintf(names, sizeof(names), "%.*s", (int)n, p);
	for (tok = strtok_r(names, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char flag[64];
		int value;

		tok += strspn(tok, " ");
		value = strstr(tok, " value") != NULL;
		snprintf(flag, sizeof(flag), "%.*s", (int)strcspn(tok, " "), tok);
		if (!canonical[0])
			snprintf(canonical, sizeof(canonical), "%s", flag + strspn(flag, "-"));
		expect_parsed(file, cmd, flag, value, canonical, global);
		tried++;
	}
	return tried;
}

/* Every option line of FILE (after OPTIONS: or GLOBAL OPTIONS:). */
static int check_help(const char *version, const char *cmd, int global)
{
	char file[512], line[1024];
	FILE *f;
	int in_opts = 0, tried = 0;

	snprintf(file, sizeof(file), "%s/%s/%s.txt", HELP_DIR, version, global ? "global" : cmd);
	f = fopen(file, "r");
	ck_assert_msg(f != NULL, "%s missing", file);
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (!strcmp(line, global ? "GLOBAL OPTIONS:" : "OPTIONS:")) {
			in_opts = 1;
			continue;
		}
		if (in_opts && line[0] && line[0] != ' ')
			in_opts = 0;
		if (in_opts && !strncmp(line, "   -", 4))
			tried += check_line(file, cmd, line, global);
	}
	fclose(f);
	return tried;
}

START_TEST(test_help_flags)
{
	const char *version = versions[_i];
	char path[512], line[256];
	FILE *f;
	int in_cmds = 0, ncmds = 0, nflags = 0;

	snprintf(path, sizeof(path), "%s/%s/global.txt", HELP_DIR, version);
	f = fopen(path, "r");
	ck_assert_msg(f != NULL, "%s missing", path);
	while (fgets(line, sizeof(line), f)) {
		char cmd[64];

		if (!strncmp(line, "COMMANDS:", 9)) {
			in_cmds = 1;
			continue;
		}
		if (in_cmds && line[0] != ' ')
			break;
		if (!in_cmds || sscanf(line, " %63[a-z-]", cmd) != 1 || !strcmp(cmd, "help"))
			continue;
		expect_parsed(path, cmd, NULL, 0, NULL, 0); /* the command itself */
		nflags += check_help(version, cmd, 0);
		ncmds++;
	}
	fclose(f);
	nflags += check_help(version, "state", 1);
	ck_assert_msg(ncmds >= 15, "%s: %d commands", path, ncmds);
	ck_assert_msg(nflags >= 90, "%s: %d flags", path, nflags);
}
END_TEST

/* The runcs of the matrix are all there (a lost fixture is no pass). */
START_TEST(test_help_versions)
{
	const char *want[] = { "1.1.5", "1.1.15", "1.3.6", "1.4.3" };

	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		int found = 0;

		for (int k = 0; k < nversions; k++)
			found |= !strcmp(versions[k], want[i]);
		ck_assert_msg(found, "no fixtures of runc %s in %s", want[i], HELP_DIR);
	}
}
END_TEST

/* Flags runc hides from its help but still takes. */
START_TEST(test_hidden_flags)
{
	expect_parsed("hidden", "state", "--criu", 1, "criu", 1);
	expect_parsed("hidden", "kill", "--all", 0, "all", 0);
	expect_parsed("hidden", "kill", "-a", 0, "all", 0);
}
END_TEST

START_TEST(test_version_parse)
{
	struct runc_info i;

	ck_assert_int_eq(runc_info_parse("runc version 1.3.6+ds1\ncommit: x\n",
					 "{\"annotations\":{\"org.opencontainers.runc.checkpoint.enabled\":\"false\"}}", &i), 0);
	ck_assert_str_eq(i.version, "1.3.6+ds1");
	ck_assert_int_eq(i.major, 1);
	ck_assert_int_eq(i.minor, 3);
	ck_assert_int_eq(i.checkpoint, 0);
	ck_assert(runc_info_at_least(&i, 1, 2));
	ck_assert(!runc_info_at_least(&i, 1, 4));
	ck_assert_int_eq(runc_info_parse("runc version 1.1.5\n", NULL, &i), 0);
	ck_assert_int_eq(i.checkpoint, -1);
	ck_assert(!runc_info_at_least(&i, 1, 2));
	ck_assert_int_eq(runc_info_parse("crun version 1.8\n", NULL, &i), -1);
	ck_assert_int_eq(runc_info_parse(NULL, NULL, &i), -1);
}
END_TEST

/* A fake runc (a script): asked once, then answered from the cache until
 * the binary changes. */
START_TEST(test_version_cache)
{
	char *dir = unit_tmpdir(), runc[512], count[512], state[512];
	tardis_error_t err = NULL;
	struct runc_info i;
	FILE *f;
	int fd, asked = 0;

	snprintf(runc, sizeof(runc), "%s/runc", dir);
	snprintf(count, sizeof(count), "%s/asked", dir);
	snprintf(state, sizeof(state), "%s/state", dir);
	ck_assert_int_eq(mkdir(state, 0700), 0);
	fd = open(state, O_RDONLY | O_DIRECTORY);
	f = fopen(runc, "w");
	fprintf(f, "#!/bin/sh\necho x >>%s\n[ \"$1\" = --version ] && echo 'runc version 1.4.0'\n"
		   "[ \"$1\" = features ] && echo '{\"annotations\":"
		   "{\"org.opencontainers.runc.checkpoint.enabled\":\"true\"}}'\n"
		   "exit 0\n", count);
	fclose(f);
	ck_assert_int_eq(chmod(runc, 0755), 0);
	ck_assert_int_eq(runc_info_cached(fd, runc, &i), -1);
	ck_assert_int_eq(runc_info_get(fd, runc, &i, &err), 0);
	ck_assert_str_eq(i.version, "1.4.0");
	ck_assert_int_eq(i.checkpoint, 1);
	ck_assert_int_eq(runc_info_get(fd, runc, &i, &err), 0);
	ck_assert_int_eq(runc_info_cached(fd, runc, &i), 0);
	ck_assert_int_eq(i.minor, 4);
	/* Asked twice (--version, features), both by the first get. */
	f = fopen(count, "r");
	ck_assert_ptr_nonnull(f);
	while (fgets(state, sizeof(state), f))
		asked++;
	fclose(f);
	ck_assert_int_eq(asked, 2);
	/* The binary changed (appended to): no longer the cached one. */
	f = fopen(runc, "a");
	fprintf(f, "# upgraded\n");
	fclose(f);
	ck_assert_int_eq(runc_info_cached(fd, runc, &i), -1);
	close(fd);
	unit_rmrf(dir);
	free(dir);
}
END_TEST

/* A runc built without checkpoint support: the log says so once, when it
 * is asked, not on every call. */
START_TEST(test_version_no_checkpoint)
{
	char *dir = unit_tmpdir(), runc[512], log[512], line[1024];
	tardis_error_t err = NULL;
	struct runc_info i;
	FILE *f;
	int fd, said = 0;

	snprintf(runc, sizeof(runc), "%s/runc", dir);
	snprintf(log, sizeof(log), "%s/log", dir);
	fd = open(dir, O_RDONLY | O_DIRECTORY);
	f = fopen(runc, "w");
	fprintf(f, "#!/bin/sh\n[ \"$1\" = --version ] && echo 'runc version 1.2.8'\n"
		   "[ \"$1\" = features ] && echo '{\"annotations\":"
		   "{\"org.opencontainers.runc.checkpoint.enabled\":\"false\"}}'\nexit 0\n");
	fclose(f);
	ck_assert_int_eq(chmod(runc, 0755), 0);
	ck_assert_int_eq(tardis_log_open("unit", log, TARDIS_LOG_INFO), 0);
	for (int k = 0; k < 3; k++) {
		ck_assert_int_eq(runc_info_get(fd, runc, &i, &err), 0);
		ck_assert_int_eq(i.checkpoint, 0);
		ck_assert_int_eq(i.minor, 2);
	}
	tardis_log_close();
	f = fopen(log, "r");
	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f))
		said += strstr(line, "built without checkpoint support") != NULL;
	fclose(f);
	ck_assert_int_eq(said, 1);
	close(fd);
	unit_rmrf(dir);
	free(dir);
}
END_TEST

Suite *runc_help_suite(void)
{
	Suite *s = suite_create("runc_help");
	TCase *tc = tcase_create("help");

	find_versions();
	tcase_add_loop_test(tc, test_help_flags, 0, nversions);
	tcase_add_test(tc, test_help_versions);
	tcase_add_test(tc, test_hidden_flags);
	tcase_add_test(tc, test_version_parse);
	tcase_add_test(tc, test_version_cache);
	tcase_add_test(tc, test_version_no_checkpoint);
	suite_add_tcase(s, tc);
	return s;
}
