/*
 * tardis-runc-full, the whole tardis-runc: what the front
 * (shim/front/main.c, the binary containerd runs) execs for the calls
 * tardis may handle (handled.h).  One call, top to bottom:
 *   parse -> is it ours? -> handle -> exec the real runc.
 * Everything tardis does not handle, and every container that is not
 * enabled, goes to runc unchanged by execv.  When tardis itself fails it
 * logs and falls back to plain runc; it never writes to stdout.
 *
 * The handlers are one file each (create.c, start.c, checkpoint.c,
 * kill.c, delete.c); the engines they call are the library's
 * (user/lib/checkpoint.c, restore.c, purge.c, exit_lookup.c).  Run by
 * CRIU as its action script, it is that and nothing else (criu_action.c).
 */
#include "shim.h"
#include "cleanup.h"
#include "log.h"
#include "runc_exec.h"
#include "runc_version.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* One per shim_handled_cmds (handled.h), in its order. */
static const shim_handler handlers[] = {
	handle_create, handle_start, handle_checkpoint, handle_resume, handle_kill, handle_delete,
	handle_restore,
};
_Static_assert(sizeof(handlers) / sizeof(handlers[0]) == SHIM_HANDLED_N,
	       "a handler for each of shim_handled_cmds");

static void log_open(const struct shim *s)
{
	shim_log_open(&s->cfg);
}

/* The handler's answer, or SHIM_PASS_THROUGH when the call is not one
 * tardis may handle. */
static enum shim_result dispatch(struct shim *s, int *exit_code)
{
	int i = shim_cmd_handled(s->args.cmd);

	if (i < 0 || runc_args_flag(&s->args, "help"))
		return SHIM_PASS_THROUGH;
	/* Only calls tardis may handle open the log: `state`, `ps`,
	 * `features`... go straight to runc. */
	log_open(s);
	return handlers[i](s, exit_code);
}

/* The caller's own --criu, taken out of argv when this runc rejects it
 * (>= 1.4): every call would fail on it (runc >= 1.2 finds CRIU on PATH,
 * runc_call.h).  Before any handler, so that what tardis runs of the
 * original command (create's) has it out too.  Asks which runc it is
 * (cached) only when the call has a --criu.  Fails open: a runc that
 * cannot be told keeps the command line as it is.  Returns the new argc. */
static int drop_rejected_criu(struct shim *s, char **argv)
{
	cleanup_error tardis_error_t err = NULL;
	struct runc_info info;
	int argc = s->args.argc;

	if (!runc_args_global(&s->args, "criu"))
		return argc;
	log_open(s);
	if (shim_open_store(s) < 0 || runc_info_get(s->store.root_fd, s->runc, &info, &err) < 0 ||
	    !runc_info_at_least(&info, 1, 4))
		return argc;
	/* From the last, so the earlier ones' indices stay right. */
	for (int g = s->args.nglobals - 1; g >= 0; g--) {
		const struct runc_opt *o = &s->args.globals[g];

		if (strcmp(o->name, "criu") != 0)
			continue;
		log_info("runc %s rejects --criu: `%s%s%s` dropped from `%s`", info.version,
			 argv[o->index], o->ntokens == 2 ? " " : "", o->ntokens == 2 ? argv[o->index + 1] : "",
			 s->args.cmd ? s->args.cmd : "");
		memmove(argv + o->index, argv + o->index + o->ntokens,
			(size_t)(argc + 1 - o->index - o->ntokens) * sizeof(*argv));
		argc -= o->ntokens;
	}
	return argc;
}

int main(int argc, char **argv)
{
	cleanup_error tardis_error_t err = NULL;
	enum shim_result res = SHIM_PASS_THROUGH;
	struct shim s;
	int exit_code = 0, parsed, n;

	if (criu_action_wanted(argc))
		return criu_action_main();
	memset(&s, 0, sizeof(s));
	s.argv = argv;
	s.store.root_fd = -1;
	if (config_load(&s.cfg, &err) < 0) {
		fprintf(stderr, "tardis-runc: %s\n", tardis_error_msg(err));
		tardis_error_free(&err);
		config_defaults(&s.cfg);
	}
	if (runc_find_reported(&s.cfg, s.runc, sizeof(s.runc)) < 0)
		return 127;
	parsed = runc_args_parse(argc, argv, &s.args, &err);
	if (parsed == 0 && (n = drop_rejected_criu(&s, argv)) != argc) {
		argc = n;
		parsed = runc_args_parse(argc, argv, &s.args, &err);
	}
	if (parsed < 0) {
		log_open(&s);
		log_info("not parsed (%s): passed to runc", tardis_error_msg(err));
	} else {
		res = dispatch(&s, &exit_code);
	}
	if (s.have_store)
		store_close(&s.store);
	if (res == SHIM_DONE)
		return exit_code;
	tardis_log_close();
	runc_exec_original(s.runc, argv);
	fprintf(stderr, "tardis-runc: exec %s: %s\n", s.runc, strerror(errno));
	return 127;
}
