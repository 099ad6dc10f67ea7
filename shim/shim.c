/* The shim's context: the state store, state.json, the call the library's
 * engines see. */
#include "shim.h"
#include "cleanup.h"
#include "container_state.h"
#include "exit_record.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

int shim_open_store(struct shim *s)
{
	cleanup_error tardis_error_t err = NULL;

	if (s->have_store)
		return 0;
	if (store_open(&s->store, s->cfg.state_dir, &err) < 0) {
		log_error("state store: %s", tardis_error_msg(err));
		return -1;
	}
	s->have_store = 1;
	return 0;
}

cJSON *shim_load_state(struct shim *s)
{
	cleanup_error tardis_error_t err = NULL;
	cJSON *st = NULL;

	if (!s->args.id || !store_id_valid(s->args.ns) || !store_id_valid(s->args.id))
		return NULL;
	if (shim_open_store(s) < 0)
		return NULL;
	if (cstate_load(&s->store, s->args.ns, s->args.id, &st, &err) < 0) {
		if (err && err->errnum != ENOENT)
			log_warn("%s/%s: %s", s->args.ns, s->args.id, tardis_error_msg(err));
		return NULL;
	}
	/* A create refused by image_roots: runc's alone (create.c). */
	if (cJSON_GetObjectItemCaseSensitive(st, "refused")) {
		cJSON_Delete(st);
		return NULL;
	}
	return st;
}

const struct runc_call *shim_runc_call(struct shim *s)
{
	struct runc_call *c = &s->call;

	shim_open_store(s);
	for (int i = 0; i < s->args.nopts; i++) {
		const struct runc_opt *o = &s->args.opts[i];

		s->call_opts[i] = (struct runc_call_opt){ o->name, s->argv + o->index, o->ntokens };
	}
	*c = (struct runc_call){
		.cfg = &s->cfg,
		.store = &s->store,
		.runc = s->runc,
		/* The global flags as given: between argv[0] and the subcommand. */
		.globals = s->argv + 1,
		.nglobals = s->args.cmd_index - 1,
		.criu_given = runc_args_global(&s->args, "criu") != NULL,
		.opts = s->call_opts,
		.nopts = s->args.nopts,
		.ns = s->args.ns,
		.id = s->args.id,
	};
	return c;
}

void shim_runc_error(struct shim *s, const char *msg)
{
	const char *path = runc_args_global(&s->args, "log");
	const char *fmt = runc_args_global(&s->args, "log-format");
	cleanup_json cJSON *o = NULL;
	cleanup_free char *line = NULL;
	cleanup_close int fd = -1;
	char when[64];

	fprintf(stderr, "tardis-runc: %s\n", msg);
	if (!path || !*path)
		return;
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return;
	if (!fmt || strcmp(fmt, "json") != 0) {
		dprintf(fd, "level=error msg=\"%s\"\n", msg);
		return;
	}
	rfc3339_format(time_realtime_ns(), when, sizeof(when));
	o = cJSON_CreateObject();
	if (!o)
		return;
	cJSON_AddStringToObject(o, "level", "error");
	cJSON_AddStringToObject(o, "msg", msg);
	cJSON_AddStringToObject(o, "time", when);
	line = cJSON_PrintUnformatted(o);
	if (line)
		dprintf(fd, "%s\n", line);
}
