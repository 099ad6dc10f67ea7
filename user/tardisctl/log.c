/* tardisctl log: show or set log_level / log_file in the config file. */
#include "tardisctl.h"
#include "cleanup.h"
#include "config_edit.h"
#include "log.h"
#include "oci_config.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

/* The file's own values (not the environment's overrides). */
static int log_show(const char *path)
{
	cleanup_error tardis_error_t err = NULL;
	cleanup_free char *text = NULL;
	struct tardis_config f;
	const char *env;

	config_defaults(&f);
	if (store_read(AT_FDCWD, path, 1 << 20, &text, NULL, &err) < 0 &&
	    tardis_error_errno(err) != ENOENT) {
		/* A symlinked config: store_read refuses links, follow it here. */
		char real[PATH_MAX];

		tardis_error_free(&err);
		if (!realpath(path, real) || store_read(AT_FDCWD, real, 1 << 20, &text, NULL, &err) < 0) {
			fprintf(stderr, "tardisctl: config `%s`: %s\n", path,
				err ? tardis_error_msg(err) : strerror(errno));
			return 1;
		}
	}
	if (text && config_parse(&f, text, &err) < 0) {
		fprintf(stderr, "tardisctl: config `%s`: %s\n", path, tardis_error_msg(err));
		return 1;
	}
	printf("log_level = %s\nlog_file = %s\n", tardis_log_level_name(f.log_level), f.log_file);
	if ((env = getenv("TARDIS_LOG_LEVEL")) && *env)
		fprintf(stderr, "tardisctl: note: $TARDIS_LOG_LEVEL=%s overrides log_level\n", env);
	if ((env = getenv("TARDIS_LOG_FILE")) && *env)
		fprintf(stderr, "tardisctl: note: $TARDIS_LOG_FILE=%s overrides log_file\n", env);
	return 0;
}

/* tardis-runc reads the file at every call; the agent on SIGHUP. */
static void log_reload_agent(struct ctl *c)
{
	cleanup_error tardis_error_t err = NULL;
	pid_t agent;

	if (store_open(&c->store, c->cfg.state_dir, &err) == 0 && (agent = ctl_agent_pid(c)) > 0) {
		if (kill(agent, SIGHUP) == 0)
			printf("tardisd (pid %d) told to reload\n", (int)agent);
	}
}

/* -1 when --level and --file are good, else EXIT_MISUSE (reported). */
static int log_check(struct ctl *c, const char *level, const char *file)
{
	if (level && tardis_log_level_parse(level) < 0)
		return ctl_misuse(c, "bad --level `%s` (error, warn, info, debug)", level);
	if (file && *file && strcmp(file, "syslog") != 0 && strcmp(file, "stderr") != 0 &&
	    !path_is_clean_absolute(file))
		return ctl_misuse(c, "bad --file `%s` (an absolute path, syslog or stderr)", file);
	if (file && (strchr(file, '#') || strchr(file, '\n')))
		return ctl_misuse(c, "bad --file `%s` (no `#` or newline)", file);
	return -1;
}

static int log_main(struct ctl *c, int argc, char **argv)
{
	const char *level = NULL, *file = NULL, *path = config_file_path();
	struct ctl_opt opts[] = {
		CTL_STRING("level", 'l', &level),
		CTL_STRING("file", 'f', &file),
		CTL_OPT_END,
	};
	struct ctl_cmdline cl = { .opts = opts };
	cleanup_error tardis_error_t err = NULL;
	struct config_setting set[2];
	size_t n = 0;
	int ret;

	if ((ret = opts_parse(c, argc, argv, &cl)) >= 0)
		return ret;
	if (!level && !file)
		return log_show(path);
	if ((ret = log_check(c, level, file)) >= 0)
		return ret;
	if (level)
		set[n++] = (struct config_setting){ "log_level",
						    tardis_log_level_name(tardis_log_level_parse(level)) };
	if (file)
		set[n++] = (struct config_setting){ "log_file", file };
	if (config_file_update(path, set, n, &err) < 0) {
		fprintf(stderr, "tardisctl: %s\n", tardis_error_msg(err));
		return 1;
	}
	printf("%s:%s%s%s%s%s\n", path, level ? " log_level = " : "", level ? set[0].value : "",
	       level && file ? "," : "", file ? " log_file = " : "", file ? file : "");
	log_reload_agent(c);
	return 0;
}

TARDISCTL_COMMAND(log, 0, "show or set log_level / log_file in the config file",
		  "usage: tardisctl log [--level LEVEL] [--file FILE]\n"
		  "Writes log_level and/or log_file into the config file ($TARDIS_CONFIG or\n"
		  "/etc/tardis/tardis.conf) atomically, keeping every other line, and tells a running\n"
		  "tardisd to reload.  Without options, prints the current values.\n"
		  "  --level LEVEL     error, warn, info or debug\n"
		  "  --file FILE       an absolute path, syslog, or stderr (\"\" for the default:\n"
		  "                    /var/log/tardis-runc.log for tardis-runc, stderr for tardisd)\n");
