#include "runc_args.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

enum { BOOL = 0, VALUE = 1 };

struct flag_spec {
	const char *name;  /* canonical */
	const char *alias; /* short name or NULL */
	int kind;
};

struct cmd_spec {
	const char *name;
	const struct flag_spec *flags;
	int takes_id;     /* 1: first positional is a container id */
	int keep_rest;    /* exec, ps: what follows the id is not parsed */
	int max_pos;      /* positional arguments after the id */
};

static const struct flag_spec global_flags[] = {
	{ "debug", NULL, BOOL },     { "log", NULL, VALUE },
	{ "log-format", NULL, VALUE }, { "root", NULL, VALUE },
	{ "criu", NULL, VALUE },     { "systemd-cgroup", NULL, BOOL },
	{ "rootless", NULL, VALUE }, { "help", "h", BOOL },
	{ "version", "v", BOOL },    { NULL, NULL, 0 },
};

/* Every flag of runc 1.1 to 1.4, hidden ones too (the global --criu:
 * ignored since 1.2, rejected by 1.4; kill's --all).  Checked against each
 * runc's own help by tests/unit/unit_runc_help.c. */
static const struct flag_spec create_flags[] = {
	{ "bundle", "b", VALUE },     { "console-socket", NULL, VALUE },
	{ "pidfd-socket", NULL, VALUE }, /* 1.2 */
	{ "pid-file", NULL, VALUE },  { "no-pivot", NULL, BOOL },
	{ "no-new-keyring", NULL, BOOL }, { "preserve-fds", NULL, VALUE },
	{ "help", "h", BOOL },        { NULL, NULL, 0 },
};

static const struct flag_spec run_flags[] = {
	{ "bundle", "b", VALUE },     { "console-socket", NULL, VALUE },
	{ "pidfd-socket", NULL, VALUE }, /* 1.2 */
	{ "detach", "d", BOOL },      { "keep", NULL, BOOL },
	{ "pid-file", NULL, VALUE },  { "no-subreaper", NULL, BOOL },
	{ "no-pivot", NULL, BOOL },   { "no-new-keyring", NULL, BOOL },
	{ "preserve-fds", NULL, VALUE }, { "help", "h", BOOL },
	{ NULL, NULL, 0 },
};

static const struct flag_spec delete_flags[] = {
	{ "force", "f", BOOL }, { "help", "h", BOOL }, { NULL, NULL, 0 },
};

static const struct flag_spec kill_flags[] = {
	{ "all", "a", BOOL }, { "help", "h", BOOL }, { NULL, NULL, 0 },
};

static const struct flag_spec checkpoint_flags[] = {
	{ "image-path", NULL, VALUE },  { "work-path", NULL, VALUE },
	{ "parent-path", NULL, VALUE }, { "leave-running", NULL, BOOL },
	{ "tcp-established", NULL, BOOL }, { "ext-unix-sk", NULL, BOOL },
	{ "tcp-skip-in-flight", NULL, BOOL }, { "link-remap", NULL, BOOL }, /* 1.3 */
	{ "shell-job", NULL, BOOL },    { "lazy-pages", NULL, BOOL },
	{ "status-fd", NULL, VALUE },   { "page-server", NULL, VALUE },
	{ "file-locks", NULL, BOOL },   { "pre-dump", NULL, BOOL },
	{ "manage-cgroups-mode", NULL, VALUE }, { "empty-ns", NULL, VALUE },
	{ "auto-dedup", NULL, BOOL },   { "help", "h", BOOL },
	{ NULL, NULL, 0 },
};

static const struct flag_spec restore_flags[] = {
	{ "console-socket", NULL, VALUE }, { "image-path", NULL, VALUE },
	{ "work-path", NULL, VALUE },   { "tcp-established", NULL, BOOL },
	{ "ext-unix-sk", NULL, BOOL },  { "shell-job", NULL, BOOL },
	{ "file-locks", NULL, BOOL },   { "manage-cgroups-mode", NULL, VALUE },
	{ "bundle", "b", VALUE },       { "detach", "d", BOOL },
	{ "pid-file", NULL, VALUE },    { "no-subreaper", NULL, BOOL },
	{ "no-pivot", NULL, BOOL },     { "empty-ns", NULL, VALUE },
	{ "auto-dedup", NULL, BOOL },   { "lazy-pages", NULL, BOOL },
	{ "lsm-profile", NULL, VALUE }, { "lsm-mount-context", NULL, VALUE },
	{ "help", "h", BOOL },          { NULL, NULL, 0 },
};

static const struct flag_spec exec_flags[] = {
	{ "console-socket", NULL, VALUE }, { "cwd", NULL, VALUE },
	{ "pidfd-socket", NULL, VALUE }, /* 1.2 */
	{ "env", "e", VALUE },          { "tty", "t", BOOL },
	{ "user", "u", VALUE },         { "additional-gids", "g", VALUE },
	{ "process", "p", VALUE },      { "detach", "d", BOOL },
	{ "pid-file", NULL, VALUE },    { "process-label", NULL, VALUE },
	{ "apparmor", NULL, VALUE },    { "no-new-privs", NULL, BOOL },
	{ "cap", "c", VALUE },          { "preserve-fds", NULL, VALUE },
	{ "cgroup", NULL, VALUE },      { "ignore-paused", NULL, BOOL },
	{ "help", "h", BOOL },          { NULL, NULL, 0 },
};

static const struct flag_spec ps_flags[] = {
	{ "format", "f", VALUE }, { "help", "h", BOOL }, { NULL, NULL, 0 },
};

static const struct flag_spec list_flags[] = {
	{ "format", "f", VALUE }, { "quiet", "q", BOOL }, { "help", "h", BOOL }, { NULL, NULL, 0 },
};

static const struct flag_spec events_flags[] = {
	{ "interval", NULL, VALUE }, { "stats", NULL, BOOL }, { "help", "h", BOOL }, { NULL, NULL, 0 },
};

static const struct flag_spec spec_flags[] = {
	{ "bundle", "b", VALUE }, { "rootless", NULL, BOOL }, { "help", "h", BOOL }, { NULL, NULL, 0 },
};

static const struct flag_spec update_flags[] = {
	{ "resources", "r", VALUE },    { "blkio-weight", NULL, VALUE },
	{ "cpu-period", NULL, VALUE },  { "cpu-quota", NULL, VALUE },
	{ "cpu-burst", NULL, VALUE },   { "cpu-share", NULL, VALUE },
	{ "cpu-rt-period", NULL, VALUE }, { "cpu-rt-runtime", NULL, VALUE },
	{ "cpuset-cpus", NULL, VALUE }, { "cpuset-mems", NULL, VALUE },
	{ "memory", NULL, VALUE },      { "cpu-idle", NULL, VALUE },
	{ "memory-reservation", NULL, VALUE }, { "memory-swap", NULL, VALUE },
	{ "pids-limit", NULL, VALUE },  { "l3-cache-schema", NULL, VALUE },
	{ "mem-bw-schema", NULL, VALUE }, { "help", "h", BOOL },
	{ NULL, NULL, 0 },
};

static const struct flag_spec only_help[] = {
	{ "help", "h", BOOL }, { NULL, NULL, 0 },
};

static const struct cmd_spec commands[] = {
	{ "create", create_flags, 1, 0, 0 },
	{ "run", run_flags, 1, 0, 0 },
	{ "start", only_help, 1, 0, 0 },
	{ "delete", delete_flags, 1, 0, 0 },
	{ "kill", kill_flags, 1, 0, 1 },
	{ "checkpoint", checkpoint_flags, 1, 0, 0 },
	{ "restore", restore_flags, 1, 0, 0 },
	{ "pause", only_help, 1, 0, 0 },
	{ "resume", only_help, 1, 0, 0 },
	{ "state", only_help, 1, 0, 0 },
	{ "exec", exec_flags, 1, 1, 0 },
	{ "ps", ps_flags, 1, 1, 0 },
	{ "events", events_flags, 1, 0, 0 },
	{ "update", update_flags, 1, 0, 0 },
	{ "list", list_flags, 0, 0, 0 },
	{ "features", only_help, 0, 0, 0 },
	{ "spec", spec_flags, 0, 0, 0 },
	{ NULL, NULL, 0, 0, 0 },
};

static const struct flag_spec *find_flag(const struct flag_spec *flags, const char *name,
					 size_t len)
{
	for (; flags->name; flags++) {
		if (strlen(flags->name) == len && strncmp(flags->name, name, len) == 0)
			return flags;
		if (flags->alias && strlen(flags->alias) == len &&
		    strncmp(flags->alias, name, len) == 0)
			return flags;
	}
	return NULL;
}

static int is_bool_word(const char *v)
{
	return strcasecmp(v, "true") == 0 || strcasecmp(v, "false") == 0 || strcmp(v, "1") == 0 ||
	       strcmp(v, "0") == 0 || strcasecmp(v, "t") == 0 || strcasecmp(v, "f") == 0;
}

/* Parses the flag at argv[*i] into *opt; advances *i past its value.
 * Returns 1 for a flag, 0 for "not a flag", -1 for an error. */
static int parse_flag(const struct flag_spec *flags, int argc, char **argv, int *i,
		      struct runc_opt *opt, tardis_error_t *err)
{
	const char *arg = argv[*i], *name, *eq;
	const struct flag_spec *f;
	size_t len;

	if (arg[0] != '-' || arg[1] == '\0')
		return 0;
	name = arg + 1;
	if (*name == '-')
		name++;
	if (*name == '\0' || *name == '-' || *name == '=')
		return tardis_make_error(err, EINVAL, "bad flag syntax: %s", arg);
	eq = strchr(name, '=');
	len = eq ? (size_t)(eq - name) : strlen(name);
	f = find_flag(flags, name, len);
	if (!f)
		return tardis_make_error(err, EINVAL, "flag provided but not defined: %s", arg);
	opt->name = f->name;
	opt->index = *i;
	opt->ntokens = 1;
	if (f->kind == BOOL) {
		if (eq && !is_bool_word(eq + 1))
			return tardis_make_error(err, EINVAL, "invalid boolean value for %s", arg);
		opt->value = (!eq || strcasecmp(eq + 1, "true") == 0 || strcmp(eq + 1, "1") == 0 ||
			      strcasecmp(eq + 1, "t") == 0) ? "true" : "false";
	} else if (eq) {
		opt->value = eq + 1;
	} else {
		if (*i + 1 >= argc)
			return tardis_make_error(err, EINVAL, "flag needs an argument: %s", arg);
		opt->value = argv[++*i];
		opt->ntokens = 2;
	}
	(*i)++;
	return 1;
}

static void set_namespace(struct runc_args *a)
{
	const char *root = runc_args_global(a, "root");
	const char *end, *start;
	size_t len;

	if (!root || !*root)
		root = "/run/runc";
	end = root + strlen(root);
	while (end > root && end[-1] == '/')
		end--;
	start = end;
	while (start > root && start[-1] != '/')
		start--;
	len = end - start;
	if (len >= sizeof(a->ns))
		len = 0;
	memcpy(a->ns, start, len);
	a->ns[len] = '\0';
}

int runc_args_parse(int argc, char **argv, struct runc_args *a, tardis_error_t *err)
{
	const struct cmd_spec *cmd = NULL;
	int i = 1, r, flags_done = 0;

	memset(a, 0, sizeof(*a));
	a->argc = argc;
	a->argv = argv;
	a->cmd_index = -1;
	a->id_index = -1;
	a->rest_index = -1;
	if (argc < 1 || !argv)
		return tardis_make_error(err, EINVAL, "empty command line");

	while (i < argc) {
		if (strcmp(argv[i], "--") == 0)
			return tardis_make_error(err, EINVAL, "no subcommand");
		if (a->nglobals >= (int)(sizeof(a->globals) / sizeof(a->globals[0])))
			return tardis_make_error(err, E2BIG, "too many global flags");
		r = parse_flag(global_flags, argc, argv, &i, &a->globals[a->nglobals], err);
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		a->nglobals++;
	}
	set_namespace(a);
	if (i >= argc)
		return 0; /* `runc --version`, `runc --help`, or just `runc` */

	a->cmd_index = i;
	a->cmd = argv[i];
	for (const struct cmd_spec *c = commands; c->name; c++)
		if (strcmp(c->name, a->cmd) == 0)
			cmd = c;
	if (!cmd)
		return tardis_make_error(err, EINVAL, "unknown subcommand `%.64s`", a->cmd);
	i++;

	while (i < argc) {
		if (!flags_done && strcmp(argv[i], "--") == 0) {
			flags_done = 1;
			i++;
			continue;
		}
		if (!flags_done) {
			if (a->nopts >= RUNC_ARGS_MAX_OPTS)
				return tardis_make_error(err, E2BIG, "too many flags");
			r = parse_flag(cmd->flags, argc, argv, &i, &a->opts[a->nopts], err);
			if (r < 0)
				return -1;
			if (r == 1) {
				a->nopts++;
				continue;
			}
		}
		/* A positional argument. */
		if (cmd->takes_id && !a->id) {
			a->id = argv[i];
			a->id_index = i;
			i++;
			if (cmd->keep_rest) {
				a->rest_index = i;
				break;
			}
			continue;
		}
		if (a->npos >= cmd->max_pos)
			return tardis_make_error(err, EINVAL, "%s: unexpected argument `%.64s`",
						 a->cmd, argv[i]);
		a->pos[a->npos++] = argv[i++];
	}
	if (cmd->takes_id && !a->id && !runc_args_flag(a, "help"))
		return tardis_make_error(err, EINVAL, "%s: missing container id", a->cmd);
	return 0;
}

static const char *lookup(const struct runc_opt *opts, int n, const char *name)
{
	const char *v = NULL;

	/* The last occurrence wins, as with Go's flag package. */
	for (int i = 0; i < n; i++)
		if (strcmp(opts[i].name, name) == 0)
			v = opts[i].value;
	return v;
}

const char *runc_args_global(const struct runc_args *a, const char *name)
{
	return lookup(a->globals, a->nglobals, name);
}

const char *runc_args_opt(const struct runc_args *a, const char *name)
{
	return lookup(a->opts, a->nopts, name);
}

int runc_args_flag(const struct runc_args *a, const char *name)
{
	const char *v = runc_args_opt(a, name);

	return v && strcmp(v, "true") == 0;
}
