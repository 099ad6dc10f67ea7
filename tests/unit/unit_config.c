/* config_parse and config_load. */
#include "unit_main.h"
#include "config.h"
#include "log.h"
#include "state.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Every field of C is as given. */
static void expect_config(const struct tardis_config *c, const char *runc, const char *criu,
			  const char *state_dir, const char *bpf_dir, const char *log_file,
			  int log_level, int restore_timeout, int checkpoint_timeout)
{
	ck_assert_str_eq(c->runc, runc);
	ck_assert_str_eq(c->criu, criu);
	ck_assert_str_eq(c->state_dir, state_dir);
	ck_assert_str_eq(c->bpf_dir, bpf_dir);
	ck_assert_str_eq(c->log_file, log_file);
	ck_assert_int_eq(c->log_level, log_level);
	ck_assert_int_eq(c->restore_timeout, restore_timeout);
	ck_assert_int_eq(c->checkpoint_timeout, checkpoint_timeout);
}

START_TEST(defaults)
{
	struct tardis_config c;

	memset(&c, 0x5a, sizeof(c));
	config_defaults(&c);
	expect_config(&c, "", "", TARDIS_STATE_DIR_DEFAULT, "/sys/fs/bpf/tardis", "", TARDIS_LOG_INFO,
		      60, 120);
	ck_assert_int_eq(c.agent_rt_priority, 1);
}
END_TEST

static void expect_refused(const char *text, int line, const char *name);

/* agent_rt_priority: 0 (the normal scheduler) to 99. */
START_TEST(agent_rt_priority)
{
	static const char *const bad[] = { "-1", "100", "abc", "", "1.5" };
	tardis_error_t err = NULL;
	struct tardis_config c;

	config_defaults(&c);
	ck_assert_int_eq(config_parse(&c, "agent_rt_priority = 0", &err), 0);
	ck_assert_int_eq(c.agent_rt_priority, 0);
	ck_assert_int_eq(config_parse(&c, "agent_rt_priority = 99", &err), 0);
	ck_assert_int_eq(c.agent_rt_priority, 99);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *text = NULL;

		ck_assert(asprintf(&text, "agent_rt_priority = %s", bad[i]) > 0);
		expect_refused(text, 1, "agent_rt_priority");
		free(text);
	}
}
END_TEST

START_TEST(every_key)
{
	static const char text[] =
		"# tardis configuration\n"
		"\n"
		"runc = /usr/bin/runc\n"
		"   criu=/opt/criu/sbin/criu   \n"
		"\t# indented comment\n"
		"state_dir\t=\t/var/lib/tardis-test\n"
		"bpf_dir = /sys/fs/bpf/tardis-test # trailing comment\n"
		"log_file = syslog\n"
		"log_level = debug\n"
		"\n"
		"\n"
		"restore_timeout = 30\n"
		"checkpoint_timeout = 86400\n"
		"#last line without newline";
	tardis_error_t err = NULL;
	struct tardis_config c;

	config_defaults(&c);
	ck_assert_msg(config_parse(&c, text, &err) == 0, "%s", tardis_error_msg(err));
	ck_assert_ptr_null(err);
	expect_config(&c, "/usr/bin/runc", "/opt/criu/sbin/criu", "/var/lib/tardis-test",
		      "/sys/fs/bpf/tardis-test", "syslog", TARDIS_LOG_DEBUG, 30, 86400);
}
END_TEST

START_TEST(values)
{
	static const struct {
		const char *text;
		int level;
	} levels[] = { { "log_level=error", TARDIS_LOG_ERROR }, { "log_level=warn", TARDIS_LOG_WARN },
		       { "log_level=warning", TARDIS_LOG_WARN }, { "log_level=INFO", TARDIS_LOG_INFO },
		       { "log_level = Debug", TARDIS_LOG_DEBUG } };
	tardis_error_t err = NULL;
	struct tardis_config c;

	for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
		config_defaults(&c);
		ck_assert_msg(config_parse(&c, levels[i].text, &err) == 0, "%s: %s", levels[i].text,
			      tardis_error_msg(err));
		ck_assert_int_eq(c.log_level, levels[i].level);
	}
	/* Empty text, only comments, CRLF-free blank lines: nothing changes. */
	config_defaults(&c);
	ck_assert_int_eq(config_parse(&c, "", &err), 0);
	ck_assert_int_eq(config_parse(&c, "\n\n# x = y\n   \n\t\n", &err), 0);
	ck_assert_str_eq(c.state_dir, TARDIS_STATE_DIR_DEFAULT);
	ck_assert_int_eq(c.restore_timeout, 60);
	/* A later line wins; empty strings are allowed where they mean "default". */
	ck_assert_int_eq(config_parse(&c, "runc=/a\nrunc=/b\nlog_file=/var/log/t.log\nlog_file=\n",
				      &err),
			 0);
	ck_assert_str_eq(c.runc, "/b");
	ck_assert_str_eq(c.log_file, "");
	/* Value with '=' in it: split at the first one. */
	ck_assert_int_eq(config_parse(&c, "runc = /opt/a=b/runc", &err), 0);
	ck_assert_str_eq(c.runc, "/opt/a=b/runc");
	ck_assert_int_eq(config_parse(&c, "restore_timeout=1\ncheckpoint_timeout=1", &err), 0);
	ck_assert_int_eq(c.restore_timeout, 1);
	ck_assert_int_eq(c.checkpoint_timeout, 1);
	/* Parsing does not scribble on the caller's text. */
	{
		const char text[] = "runc = /x # c\nlog_level = error\n";
		char copy[sizeof(text)];

		memcpy(copy, text, sizeof(text));
		ck_assert_int_eq(config_parse(&c, copy, &err), 0);
		ck_assert_mem_eq(copy, text, sizeof(text));
	}
}
END_TEST

/* text must be refused with "line <line>" and name in the message. */
static void expect_refused(const char *text, int line, const char *name)
{
	tardis_error_t err = NULL;
	struct tardis_config c;
	char want[64];

	config_defaults(&c);
	ck_assert_msg(config_parse(&c, text, &err) < 0, "accepted: %s", text);
	ck_assert_ptr_nonnull(err);
	snprintf(want, sizeof(want), "line %d:", line);
	ck_assert_msg(strstr(tardis_error_msg(err), want) != NULL, "`%s` for `%s`: no `%s`",
		      tardis_error_msg(err), text, want);
	if (name)
		ck_assert_msg(strstr(tardis_error_msg(err), name) != NULL, "`%s`: no `%s`",
			      tardis_error_msg(err), name);
	tardis_error_free(&err);
}

START_TEST(unknown_keys)
{
	expect_refused("bogus = 1", 1, "bogus");
	expect_refused("runc = /usr/bin/runc\nstate-dir = /x\n", 2, "state-dir");
	expect_refused("RUNC = /usr/bin/runc", 1, "RUNC");
	expect_refused("= /x", 1, NULL);
	expect_refused("runc /usr/bin/runc", 1, NULL);
	expect_refused("just some words\n", 1, NULL);
	/* Line numbers count blank and comment lines. */
	expect_refused("# comment\n\nrunc = /r\n\n\n# another\nnope = 1\n", 7, "nope");
	expect_refused("\n\n\n\nnope = 1", 5, "nope");
	expect_refused("\n\n\nnot a pair\nrunc=/x", 4, NULL);
	expect_refused("runc=/x\r\nnope=1\n", 2, "nope");
}
END_TEST

START_TEST(bad_values)
{
	char *longv = NULL;

	expect_refused("state_dir = relative/path", 1, "state_dir");
	expect_refused("state_dir =", 1, "state_dir");
	expect_refused("bpf_dir = sys/fs/bpf", 1, "bpf_dir");
	expect_refused("log_level = loud", 1, "log_level");
	expect_refused("log_level =", 1, "log_level");
	expect_refused("log_level = 3", 1, "log_level");
	for (int k = 0; k < 2; k++) {
		const char *key = k ? "checkpoint_timeout" : "restore_timeout";
		static const char *const bad[] = { "0", "-1", "abc", "10s", "", "86401", "1e3",
						   "99999999999999999999", "0x10", "1 2" };

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			char *text = NULL;

			ck_assert(asprintf(&text, "# c\n\n%s = %s\n", key, bad[i]) > 0);
			expect_refused(text, 3, key);
			free(text);
		}
	}
	/* Longer than the field. */
	longv = malloc(5000);
	ck_assert_ptr_nonnull(longv);
	memcpy(longv, "runc = /", 8);
	memset(longv + 8, 'r', 4990);
	longv[4998] = '\0';
	expect_refused(longv, 1, "runc");
	free(longv);
}
END_TEST

static char *write_conf(const char *dir, const char *text)
{
	char *path = NULL;
	int fd;

	ck_assert(asprintf(&path, "%s/tardis.conf", dir) > 0);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

static const char *const env_names[] = { "TARDIS_CONFIG",   "TARDIS_RUNC",     "TARDIS_CRIU",
					 "TARDIS_STATE_DIR", "TARDIS_BPF_DIR", "TARDIS_LOG_FILE",
					 "TARDIS_LOG_LEVEL" };

static void clear_env(void)
{
	for (size_t i = 0; i < sizeof(env_names) / sizeof(env_names[0]); i++)
		unsetenv(env_names[i]);
}

START_TEST(load_file_and_env)
{
	tardis_error_t err = NULL;
	struct tardis_config c;
	char *dir = unit_tmpdir(), *path, *missing = NULL;

	clear_env();
	path = write_conf(dir, "runc = /file/runc\nstate_dir = /file/state\nlog_level = error\n"
			       "restore_timeout = 5\n");
	setenv("TARDIS_CONFIG", path, 1);
	ck_assert_msg(config_load(&c, &err) == 0, "%s", tardis_error_msg(err));
	ck_assert_str_eq(c.runc, "/file/runc");
	ck_assert_str_eq(c.state_dir, "/file/state");
	ck_assert_int_eq(c.log_level, TARDIS_LOG_ERROR);
	ck_assert_int_eq(c.restore_timeout, 5);
	ck_assert_int_eq(c.checkpoint_timeout, 120);
	/* The environment wins over the file. */
	setenv("TARDIS_STATE_DIR", "/env/state", 1);
	setenv("TARDIS_RUNC", "/env/runc", 1);
	setenv("TARDIS_CRIU", "/env/criu", 1);
	setenv("TARDIS_BPF_DIR", "/env/bpf", 1);
	setenv("TARDIS_LOG_FILE", "/env/log", 1);
	setenv("TARDIS_LOG_LEVEL", "debug", 1);
	ck_assert_int_eq(config_load(&c, &err), 0);
	ck_assert_str_eq(c.state_dir, "/env/state");
	ck_assert_str_eq(c.runc, "/env/runc");
	ck_assert_str_eq(c.criu, "/env/criu");
	ck_assert_str_eq(c.bpf_dir, "/env/bpf");
	ck_assert_str_eq(c.log_file, "/env/log");
	ck_assert_int_eq(c.log_level, TARDIS_LOG_DEBUG);
	ck_assert_int_eq(c.restore_timeout, 5);
	/* A bad environment value is an error naming the variable. */
	setenv("TARDIS_STATE_DIR", "relative", 1);
	ck_assert_int_lt(config_load(&c, &err), 0);
	ck_assert_ptr_nonnull(strstr(tardis_error_msg(err), "TARDIS_STATE_DIR"));
	tardis_error_free(&err);
	unsetenv("TARDIS_STATE_DIR");
	setenv("TARDIS_LOG_LEVEL", "loud", 1);
	ck_assert_int_lt(config_load(&c, &err), 0);
	ck_assert_ptr_nonnull(strstr(tardis_error_msg(err), "TARDIS_LOG_LEVEL"));
	tardis_error_free(&err);
	clear_env();
	/* A missing file is fine: defaults. */
	ck_assert(asprintf(&missing, "%s/none.conf", dir) > 0);
	setenv("TARDIS_CONFIG", missing, 1);
	ck_assert_int_eq(config_load(&c, &err), 0);
	ck_assert_str_eq(c.state_dir, TARDIS_STATE_DIR_DEFAULT);
	/* A bad file is an error naming the file and the line. */
	free(path);
	path = write_conf(dir, "runc = /r\n\nfoo = bar\n");
	setenv("TARDIS_CONFIG", path, 1);
	ck_assert_int_lt(config_load(&c, &err), 0);
	ck_assert_ptr_nonnull(strstr(tardis_error_msg(err), path));
	ck_assert_ptr_nonnull(strstr(tardis_error_msg(err), "line 3"));
	tardis_error_free(&err);
	/* A config path that is a directory is refused. */
	setenv("TARDIS_CONFIG", dir, 1);
	ck_assert_int_lt(config_load(&c, &err), 0);
	tardis_error_free(&err);
	clear_env();
	unit_rmrf(dir);
	free(missing);
	free(path);
	free(dir);
}
END_TEST

Suite *config_suite(void)
{
	const struct unit_tcase cases[] = {
		{ "config", 60,
		  UNIT_TESTS(defaults, agent_rt_priority, every_key, values, unknown_keys,
			     bad_values, load_file_and_env) },
		{ NULL, 0, NULL },
	};

	return unit_suite("config", cases);
}
