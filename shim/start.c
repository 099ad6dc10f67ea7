/*
 * start / resume of a container tardis has already set up: a restored
 * container runs already (`runc restore --detach`), so containerd's start
 * is answered by tardis (skip_start.h: usually by the front, here when it
 * could not); a checkpointed one is gone, so the resume containerd sends
 * after its checkpoint is answered too (skip_resume).
 */
#include "shim.h"
#include "cleanup.h"
#include "container_state.h"
#include "log.h"
#include "skip_start.h"
#include "util.h"

#include <errno.h>
#include <string.h>

static int take_flag(cJSON *st, void *arg)
{
	const char *flag = arg;

	if (!cjson_get_bool(st, flag))
		return -1; /* nothing to change */
	cjson_set_bool(st, flag, 0);
	return 0;
}

static enum shim_result handle_skip(struct shim *s, const char *flag, int *exit_code)
{
	cleanup_error tardis_error_t err = NULL;
	cleanup_json cJSON *st = shim_load_state(s);

	if (!st || !cjson_get_bool(st, flag))
		return SHIM_PASS_THROUGH;
	/* Not synced: lost to a power loss the flag is stale only for a
	 * container that is gone, and the create that brings it back sets it
	 * anew (note_create) -- 2 syncs less in every restore's start. */
	if (cstate_update(&s->store, s->args.ns, s->args.id, CSTATE_NO_SYNC, take_flag,
			  (void *)flag, &err) < 0) {
		char status[32];

		if (tardis_error_errno(err) == ECANCELED)
			return SHIM_PASS_THROUGH; /* somebody else took it */
		/* Set but not cleared (a full state dir), maybe stale (a create
		 * that could not record itself): runc does it if it can, else
		 * tardis did (a restored container runs, a checkpointed one is
		 * gone) and runc would fail. */
		runc_call_status(shim_runc_call(s), status, sizeof(status));
		if (strcmp(status, strcmp(flag, "skip_start") == 0 ? "created" : "paused") == 0)
			return SHIM_PASS_THROUGH;
		log_warn("%s %s/%s: clear %s: %s; answered anyway", s->args.cmd, s->args.ns,
			 s->args.id, flag, tardis_error_msg(err));
	}
	log_info("intercepted: %s %s/%s answered by tardis (%s)", s->args.cmd, s->args.ns,
		 s->args.id, flag);
	*exit_code = 0;
	return SHIM_DONE;
}

enum shim_result handle_start(struct shim *s, int *exit_code)
{
	cleanup_error tardis_error_t err = NULL;
	int r = shim_open_store(s) < 0 ? 0 : skip_start_take(&s->store, s->args.ns, s->args.id, &err);

	if (r < 0)
		log_warn("start %s/%s: %s", s->args.ns, s->args.id, tardis_error_msg(err));
	if (r == 1) {
		log_info("intercepted: start %s/%s answered by tardis (skip_start)", s->args.ns,
			 s->args.id);
		*exit_code = 0;
		return SHIM_DONE;
	}
	/* The flag in the state (tardis before 2026-11-27). */
	return handle_skip(s, "skip_start", exit_code);
}

enum shim_result handle_resume(struct shim *s, int *exit_code)
{
	return handle_skip(s, "skip_resume", exit_code);
}
