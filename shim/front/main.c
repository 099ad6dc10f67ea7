/*
 * tardis-runc, the front: the binary containerd runs as its runc.  Linked
 * statically (no dynamic loader, no shared library), it reads the command
 * line and the config and sends each call one of two ways:
 *   - a call tardis has no part in (`state`, `ps`, `exec`, `events`,
 *     `features`, ... -- containerd's most frequent ones; a `kill` with a
 *     signal that does not stop the container) to runc, by execv, at once;
 *   - the start of a container tardis restored (it runs already): answered
 *     here, 0, when its create left the word for it (skip_start.h);
 *   - a call tardis may handle (handled.h), CRIU's action script, a --criu
 *     to check against runc's version, a command line it cannot parse, to
 *     the whole program, tardis-runc-full beside it, with the runc found
 *     here in $TARDIS_RUNC (so the whole program never searches PATH, and
 *     never finds this front installed as `runc`).
 * Without tardis-runc-full the call goes to runc (fail open) and the log
 * says why.
 */
#include "config.h"
#include "handled.h"
#include "log.h"
#include "runc_args.h"
#include "runc_exec.h"
#include "skip_start.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* tardis-runc-full in this binary's directory: 0, or -1. */
static int full_path(char *out, size_t len)
{
	ssize_t n = readlink("/proc/self/exe", out, len);
	char *slash;

	if (n <= 0 || (size_t)n >= len)
		return -1;
	out[n] = '\0';
	slash = strrchr(out, '/');
	if (!slash || (size_t)(slash + 1 - out) + sizeof(SHIM_FULL_NAME) > len)
		return -1;
	memcpy(slash + 1, SHIM_FULL_NAME, sizeof(SHIM_FULL_NAME));
	return 0;
}

/* Whether the call is runc's alone: one tardis has no part in, or a kill
 * with a signal that does not stop the container. */
static int runc_only(const struct runc_args *args)
{
	int kill_no_stop = args->cmd && strcmp(args->cmd, "kill") == 0 &&
			   !shim_kill_stops(args->npos ? args->pos[0] : NULL);

	return (shim_cmd_handled(args->cmd) < 0 || kill_no_stop) &&
	       !runc_args_global(args, "criu");
}

/* A restored container's start, answered here: 1 (logged as the whole
 * program would), else 0 -- the whole program does the rest. */
static int start_answered(const struct tardis_config *cfg, const struct runc_args *args)
{
	struct tardis_store store;
	tardis_error_t err = NULL;
	int r;

	if (!args->cmd || strcmp(args->cmd, "start") != 0 || !args->id ||
	    runc_args_global(args, "criu"))
		return 0;
	if (store_open(&store, cfg->state_dir, &err) < 0) {
		tardis_error_free(&err); /* the whole program logs it */
		return 0;
	}
	r = skip_start_take(&store, args->ns, args->id, &err);
	store_close(&store);
	tardis_error_free(&err); /* the whole program looks again */
	if (r != 1)
		return 0;
	shim_log_open(cfg);
	log_info("intercepted: start %s/%s answered by tardis (skip_start)", args->ns, args->id);
	return 1;
}

int main(int argc, char **argv)
{
	struct tardis_config cfg;
	struct runc_args args;
	tardis_error_t err = NULL;
	char runc[PATH_MAX], full[PATH_MAX];
	int parsed;

	if (config_load(&cfg, &err) < 0) {
		/* The whole program says so and goes on with the defaults. */
		tardis_error_free(&err);
		config_defaults(&cfg);
	} else if (!criu_action_wanted(argc)) {
		if (runc_find_reported(&cfg, runc, sizeof(runc)) < 0)
			return 127;
		parsed = runc_args_parse(argc, argv, &args, &err) == 0;
		tardis_error_free(&err); /* the whole program logs it */
		if (parsed && start_answered(&cfg, &args))
			return 0;
		if (parsed && runc_only(&args)) {
			runc_exec_original(runc, argv);
			fprintf(stderr, "tardis-runc: exec %s: %s\n", runc, strerror(errno));
			return 127;
		}
		if (setenv("TARDIS_RUNC", runc, 1) < 0)
			return 127;
	}
	if (full_path(full, sizeof(full)) == 0)
		execv(full, argv);
	/* No whole program: runc does the call without tardis. */
	shim_log_open(&cfg);
	log_error("%s: %s: runc runs this call without tardis", full, strerror(errno));
	if (runc_find_reported(&cfg, runc, sizeof(runc)) < 0)
		return 127;
	runc_exec_original(runc, argv);
	fprintf(stderr, "tardis-runc: exec %s: %s\n", runc, strerror(errno));
	return 127;
}
