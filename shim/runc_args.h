/*
 * runc's command line, parsed the way runc (urfave/cli v1) parses it:
 * global flags before the subcommand, `--flag=value` and `--flag value`,
 * single-dash long flags, flags after the positional arguments (runc
 * reorders them) except for exec and ps, which keep what follows the id.
 */
#ifndef TARDIS_RUNC_ARGS_H
#define TARDIS_RUNC_ARGS_H

#include "error.h"

#define RUNC_ARGS_MAX_OPTS 64
#define RUNC_ARGS_MAX_POS 8

struct runc_opt {
	const char *name;  /* canonical long name, e.g. "bundle" */
	const char *value; /* the value; "true"/"false" for a boolean */
	int index;         /* argv index of the flag */
	int ntokens;       /* 1 (--f=v, --bool) or 2 (--f v) */
};

struct runc_args {
	int argc;
	char **argv;
	/* global flags */
	struct runc_opt globals[16];
	int nglobals;
	int cmd_index; /* argv index of the subcommand, -1 if none */
	const char *cmd;
	const char *id; /* the container id, NULL if the command has none */
	int id_index;
	char ns[256];   /* last path component of --root */
	struct runc_opt opts[RUNC_ARGS_MAX_OPTS];
	int nopts;
	/* positional arguments after the id (kill's signal); for exec and ps
	 * everything after the id is kept verbatim in argv from rest_index. */
	const char *pos[RUNC_ARGS_MAX_POS];
	int npos;
	int rest_index;
};

/* Returns 0, or -1 with err for what runc itself would refuse. */
int runc_args_parse(int argc, char **argv, struct runc_args *out, tardis_error_t *err);
/* The value of a global or subcommand option by canonical name, or NULL. */
const char *runc_args_global(const struct runc_args *a, const char *name);
const char *runc_args_opt(const struct runc_args *a, const char *name);
/* 1 if a boolean option is set to true. */
int runc_args_flag(const struct runc_args *a, const char *name);

#endif
