#include "runc_call.h"
#include "image_roots.h"
#include "cleanup.h"
#include "container_state.h"
#include "image.h"
#include "log.h"
#include "proc.h"
#include "runc_version.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* How many tokens of globals[i..] are a --criu of the caller's: 1
 * (--criu=path), 2 (--criu path), 0 (not --criu). */
static int criu_tokens(const struct runc_call *c, int i)
{
	const char *t = c->globals[i];

	if (strncmp(t, "--criu=", 7) == 0 || strncmp(t, "-criu=", 6) == 0)
		return 1;
	if (strcmp(t, "--criu") == 0 || strcmp(t, "-criu") == 0)
		return i + 1 < c->nglobals ? 2 : 1;
	return 0;
}

/* The value of the call's own --criu, or NULL. */
static const char *given_criu(const struct runc_call *c)
{
	for (int i = 0; i < c->nglobals; i++) {
		int n = criu_tokens(c, i);

		if (n == 1 && strchr(c->globals[i], '='))
			return strchr(c->globals[i], '=') + 1;
		if (n == 2)
			return c->globals[i + 1];
	}
	return NULL;
}

/* A CRIU whose file is not named `criu` (tardis.conf's, or the caller's
 * --criu) is reached through <state>/criu-path/<hash>/criu, a symlink to
 * it: the directory runc >= 1.2 gets first on PATH.  dir gets it; 0, or -1
 * (logged). */
static int criu_link_dir(const struct runc_call *c, const char *criu, char *dir, size_t len)
{
	char name[32], target[PATH_MAX], tmp[48];
	cleanup_error tardis_error_t err = NULL;
	cleanup_close int base = -1;
	cleanup_close int dfd = -1;
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */
	ssize_t n;

	for (const char *p = criu; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ULL;
	snprintf(name, sizeof(name), "%016llx", (unsigned long long)h);
	if (!c->store || (base = store_subdir(c->store->root_fd, "criu-path", 1, &err)) < 0 ||
	    (dfd = store_subdir(base, name, 1, &err)) < 0) {
		log_warn("runc >= 1.2 runs `criu` from PATH: no directory for a link to %s (%s)", criu,
			 err ? tardis_error_msg(err) : "no state dir");
		return -1;
	}
	n = readlinkat(dfd, "criu", target, sizeof(target) - 1);
	if (n < 0 || (size_t)n != strlen(criu) || memcmp(target, criu, (size_t)n) != 0) {
		snprintf(tmp, sizeof(tmp), ".criu.%d", (int)getpid());
		unlinkat(dfd, tmp, 0);
		if (symlinkat(criu, dfd, tmp) < 0 || renameat(dfd, tmp, dfd, "criu") < 0) {
			log_warn("runc >= 1.2 runs `criu` from PATH: link to %s: %s", criu,
				 strerror(errno));
			unlinkat(dfd, tmp, 0);
			return -1;
		}
	}
	return snprintf(dir, len, "%s/criu-path/%s", c->cfg->state_dir, name) < (int)len ? 0 : -1;
}

/* runc >= 1.2 runs the `criu` it finds on PATH (its --criu is ignored,
 * and rejected from 1.4 on): the chosen CRIU's directory goes first on
 * the PATH of every runc this process runs from now on. */
static void criu_first_on_path(const struct runc_call *c)
{
	const char *criu = runc_call_criu_path(c);
	const char *slash = strrchr(criu, '/');
	const char *path = getenv("PATH");
	cleanup_free char *next = NULL;
	char dir[PATH_MAX];

	if (!slash)
		return; /* none configured, or a name runc looks up on PATH anyway */
	if (strcmp(slash + 1, "criu") == 0) {
		snprintf(dir, sizeof(dir), "%.*s", slash == criu ? 1 : (int)(slash - criu), criu);
	} else if (criu_link_dir(c, criu, dir, sizeof(dir)) < 0) {
		return;
	}
	if (!path || !*path)
		path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
	if (strncmp(path, dir, strlen(dir)) == 0 && (path[strlen(dir)] == ':' || !path[strlen(dir)]))
		return;
	if (asprintf(&next, "%s:%s", dir, path) < 0 || setenv("PATH", next, 1) < 0)
		log_warn("runc: %s first on PATH: %s", dir, strerror(errno));
}

/* runc's version, from the state dir's cache or asked once (runc_version.h). */
static int call_info(const struct runc_call *c, struct runc_info *info)
{
	cleanup_error tardis_error_t err = NULL;

	if (runc_info_get(c->store ? c->store->root_fd : -1, c->runc, info, &err) == 0)
		return 0;
	log_warn("%s: runc version not known, its command line kept as for runc 1.1",
		 tardis_error_msg(err));
	return -1;
}

int runc_call_argv(const struct runc_call *c, struct argv_buf *a, const char *cmd)
{
	int criu_cmd = strcmp(cmd, "checkpoint") == 0 || strcmp(cmd, "restore") == 0;
	struct runc_info info;
	int known = (criu_cmd || c->criu_given) && call_info(c, &info) == 0;
	int path_criu = known && runc_info_at_least(&info, 1, 2);
	int rejects_criu = known && runc_info_at_least(&info, 1, 4);

	if (argv_push(a, c->runc) < 0)
		return -1;
	for (int i = 0; i < c->nglobals; i++) {
		int n = rejects_criu ? criu_tokens(c, i) : 0;

		if (n) {
			log_info("runc %s rejects --criu: the caller's `%s%s%s` dropped", info.version,
				 c->globals[i], n == 2 ? " " : "", n == 2 ? c->globals[i + 1] : "");
			i += n - 1;
		} else if (argv_push(a, c->globals[i]) < 0) {
			return -1;
		}
	}
	/* runc runs CRIU only to checkpoint and restore. */
	if (criu_cmd && path_criu)
		criu_first_on_path(c);
	else if (criu_cmd && c->cfg->criu[0] && !c->criu_given &&
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

/* The call's runc root: its --root (`--root X` or `--root=X`), else runc's
 * default ("" for another user than root: runc's is then under
 * $XDG_RUNTIME_DIR, not guessed). */
static const char *call_root(const struct runc_call *c)
{
	for (int i = 0; i < c->nglobals; i++) {
		const char *t = c->globals[i];

		if (strcmp(t, "--root") == 0 && i + 1 < c->nglobals)
			return c->globals[i + 1];
		if (strncmp(t, "--root=", 7) == 0)
			return t + 7;
	}
	return geteuid() == 0 ? "/run/runc" : "";
}

int runc_call_container_path(const struct runc_call *c, const char *name, char *out, size_t len)
{
	const char *root = call_root(c);

	if (!*root || snprintf(out, len, "%s/%s%s%s", root, c->id, *name ? "/" : "", name) >= (int)len)
		return -1;
	return 0;
}

void runc_call_status_of(const struct runc_call *c, pid_t pid, uint64_t start_time, char *out,
			 size_t len)
{
	char state[PATH_MAX], fifo[PATH_MAX];

	if (pid <= 0 || !start_time ||
	    runc_call_container_path(c, "state.json", state, sizeof(state)) < 0 ||
	    runc_call_container_path(c, "exec.fifo", fifo, sizeof(fifo)) < 0) {
		runc_call_status(c, out, len);
		return;
	}
	out[0] = '\0';
	/* runc's own test: no state.json, no container. */
	if (access(state, F_OK) < 0)
		return;
	if (!proc_is_same(pid, start_time))
		snprintf(out, len, "stopped");
	else if (access(fifo, F_OK) == 0)
		snprintf(out, len, "created"); /* runc waits for `start` on its exec fifo */
	else
		snprintf(out, len, "running");
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
	const char *criu = runc_call_criu_path(c);

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
