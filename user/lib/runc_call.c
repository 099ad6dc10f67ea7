#include "runc_call.h"
#include "cleanup.h"
#include "container_state.h"
#include "image.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int runc_call_argv(const struct runc_call *c, struct argv_buf *a, const char *cmd)
{
	if (argv_push(a, c->runc) < 0)
		return -1;
	for (int i = 0; i < c->nglobals; i++)
		if (argv_push(a, c->globals[i]) < 0)
			return -1;
	if (c->cfg->criu[0] && !c->criu_given &&
	    (argv_push(a, "--criu") < 0 || argv_push(a, c->cfg->criu) < 0))
		return -1;
	return argv_push(a, cmd);
}

int runc_call_forward(const struct runc_call *c, struct argv_buf *a, int (*keep)(const char *name))
{
	for (int i = 0; i < c->nopts; i++) {
		const struct runc_call_opt *o = &c->opts[i];

		if (!keep(o->name))
			continue;
		for (int k = 0; k < o->ntokens; k++)
			if (argv_push(a, o->tokens[k]) < 0)
				return -1;
	}
	return 0;
}

const struct runc_call_opt *runc_call_opt(const struct runc_call *c, const char *name)
{
	for (int i = 0; i < c->nopts; i++)
		if (strcmp(c->opts[i].name, name) == 0)
			return &c->opts[i];
	return NULL;
}

void runc_call_status(const struct runc_call *c, char *out, size_t len)
{
	cleanup_argv struct argv_buf a = { 0 };
	cleanup_free char *text = NULL;
	cleanup_error tardis_error_t err = NULL;

	out[0] = '\0';
	if (runc_call_argv(c, &a, "state") < 0 || argv_push(&a, c->id) < 0)
		return;
	if (run_wait(a.v, 0, 30, &text, &err) == 0 && text) {
		cleanup_json cJSON *o = cJSON_Parse(text);
		const char *v = cjson_get_str(o, "status");

		snprintf(out, len, "%s", v ? v : "");
	}
}

int runc_call_image_safe(const struct runc_call *c, const char *image_path, int create)
{
	cleanup_error tardis_error_t err = NULL;

	if (image_parent_check(c->store, image_path, create, &err) == 0)
		return 0;
	if (tardis_error_errno(err) != ENOENT)
		log_error("%s/%s: image directory %s: %s", c->ns, c->id, image_path,
			  tardis_error_msg(err));
	return -1;
}
