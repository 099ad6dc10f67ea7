#include "runc_call.h"
#include "image_roots.h"
#include "cleanup.h"
#include "container_state.h"
#include "image.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/* The value of a `--name value` / `--name=value` option, or NULL. */
static const char *opt_value(const struct runc_call_opt *o)
{
	const char *eq;

	if (!o)
		return NULL;
	if (o->ntokens == 2)
		return o->tokens[1];
	eq = strchr(o->tokens[0], '=');
	return eq ? eq + 1 : NULL;
}

pid_t runc_call_init_pid(const struct runc_call *c)
{
	const char *pid_file = opt_value(runc_call_opt(c, "pid-file"));
	cleanup_argv struct argv_buf a = { 0 };
	cleanup_free char *text = NULL;
	cleanup_error tardis_error_t err = NULL;
	long pid = -1;

	if (pid_file && store_read(AT_FDCWD, pid_file, 64, &text, NULL, &err) == 0 && text)
		pid = strtol(text, NULL, 10);
	else if (runc_call_argv(c, &a, "state") == 0 && argv_push(&a, c->id) == 0 &&
		 run_wait(a.v, 0, 30, &text, &err) == 0 && text) {
		cleanup_json cJSON *o = cJSON_Parse(text);

		pid = cjson_get_int(o, "pid", -1);
	}
	return pid > 0 && pid <= INT_MAX ? (pid_t)pid : -1;
}

/* An image path outside the state dir (the container's
 * CHECKPOINT_HOST_PATH or NETWORKFS_HOST_PATH) lies in an image root,
 * its parents made from the root down when asked (image_roots.h). */
static int image_in_roots(const struct runc_call *c, const char *image_path, int create)
{
	char parent[PATH_MAX], why[4096];
	const char *slash = strrchr(image_path, '/');
	int r;

	if (!slash || slash == image_path ||
	    snprintf(parent, sizeof(parent), "%.*s", (int)(slash - image_path), image_path) >=
		    (int)sizeof(parent))
		r = image_root_check(c->cfg, image_path, why, sizeof(why));
	else if (create)
		r = image_root_mkdir(c->cfg, parent, 0700, why, sizeof(why));
	else
		r = image_root_check(c->cfg, image_path, why, sizeof(why));
	if (r < 0)
		log_error("%s/%s: image directory refused: %s", c->ns, c->id, why);
	return r;
}

int runc_call_image_safe(const struct runc_call *c, const char *image_path, int create)
{
	cleanup_error tardis_error_t err = NULL;

	if (!store_holds_path(c->store, image_path) && image_in_roots(c, image_path, create) < 0)
		return -1;
	if (image_parent_check(c->store, image_path, create, &err) == 0)
		return 0;
	if (tardis_error_errno(err) != ENOENT)
		log_error("%s/%s: image directory %s: %s", c->ns, c->id, image_path,
			  tardis_error_msg(err));
	return -1;
}

/* The value of the call's own --criu, or NULL. */
static const char *given_criu(const struct runc_call *c)
{
	for (int i = 0; i < c->nglobals; i++) {
		const char *t = c->globals[i];

		if (strncmp(t, "--criu=", 7) == 0 || strncmp(t, "-criu=", 6) == 0)
			return strchr(t, '=') + 1;
		if ((strcmp(t, "--criu") == 0 || strcmp(t, "-criu") == 0) && i + 1 < c->nglobals)
			return c->globals[i + 1];
	}
	return NULL;
}

static int on_path(const char *name)
{
	const char *path = getenv("PATH");
	char dir[PATH_MAX + 8];

	while (path && *path) {
		size_t n = strcspn(path, ":");

		if (n && n < PATH_MAX && snprintf(dir, sizeof(dir), "%.*s/%s", (int)n, path, name) > 0 &&
		    access(dir, X_OK) == 0)
			return 1;
		path += n + (path[n] == ':');
	}
	return 0;
}

int runc_call_criu_missing(const struct runc_call *c, char *why, size_t len)
{
	const char *criu = c->criu_given ? given_criu(c) : c->cfg->criu;

	if (!criu || !*criu)
		criu = "criu";
	if (!strchr(criu, '/')) {
		if (on_path(criu))
			return 0;
		snprintf(why, len, "CRIU not found: no %s on PATH", criu);
		return 1;
	}
	if (access(criu, X_OK) == 0)
		return 0;
	snprintf(why, len, "CRIU not found: %s: %s", criu, strerror(errno));
	return 1;
}

const char *runc_call_criu_path(const struct runc_call *c)
{
	const char *criu = c->criu_given ? given_criu(c) : c->cfg->criu;

	return criu && *criu ? criu : "criu";
}
