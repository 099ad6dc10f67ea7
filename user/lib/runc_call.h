/*
 * One container's call of the real runc on tardis's behalf: what every
 * engine (checkpoint, restore) needs to build runc's command line the way
 * the original caller would have — runc's path, the caller's global flags
 * (--root, --log, ...) and the options of its subcommand — plus tardis's
 * configuration and state store.  The programs fill it in; the library
 * never sees how they parsed their command line.
 */
#ifndef TARDIS_RUNC_CALL_H
#define TARDIS_RUNC_CALL_H

#include <stddef.h>
#include "config.h"
#include "error.h"
#include "process.h"
#include "state.h"

/* One option of the original subcommand, as the caller wrote it. */
struct runc_call_opt {
	const char *name;     /* canonical long name, e.g. "bundle" */
	char *const *tokens;  /* its argv tokens: "--f=v" / "--bool", or "--f" "v" */
	int ntokens;
};

struct runc_call {
	const struct tardis_config *cfg;
	struct tardis_store *store;       /* open */
	const char *runc;                 /* the real runc's absolute path */
	char *const *globals;             /* the original global flags' tokens, in order */
	int nglobals;
	int criu_given;                   /* --criu among them: cfg->criu is not added */
	const struct runc_call_opt *opts; /* the original subcommand's options */
	int nopts;
	const char *ns, *id;              /* valid store ids (store_id_valid) */
};

/* runc, the original global flags, then cmd.  For checkpoint and restore
 * the CRIU of the config (or of the caller's --criu) is chosen the way
 * this runc takes it (runc_version.h asks which runc it is, cached): by
 * --criu for runc 1.1; for runc >= 1.2 by its directory first on this
 * process's PATH, which every runc it runs from then on inherits (1.2
 * ignores --criu).  runc >= 1.4 rejects --criu: the caller's is dropped
 * (logged) from every command. */
int runc_call_argv(const struct runc_call *c, struct argv_buf *a, const char *cmd);
/* Appends the original options for which keep(name) is true, verbatim. */
int runc_call_forward(const struct runc_call *c, struct argv_buf *a, int (*keep)(const char *name));
/* The original option `name`, or NULL. */
const struct runc_call_opt *runc_call_opt(const struct runc_call *c, const char *name);
/* `runc state <id>`'s status: running, paused, created, stopped; "" if none. */
void runc_call_status(const struct runc_call *c, char *out, size_t len);
/* NAME in runc's directory of the call's container (the directory itself
 * for ""), under the call's --root or runc's default: 0, or -1 when that
 * is not known (another user than root without --root) or too long. */
int runc_call_container_path(const struct runc_call *c, const char *name, char *out, size_t len);
/* The same without running runc, for the container whose init is (pid,
 * start_time): none without runc's state.json under the call's root,
 * stopped once the init is gone (or a zombie), created while runc's exec
 * fifo waits for `start`, else running (a paused one included).  Asks
 * runc when the init is not known. */
void runc_call_status_of(const struct runc_call *c, pid_t pid, uint64_t start_time, char *out,
			 size_t len);
/* The container's init pid: the call's --pid-file when it has one, else
 * `runc state`'s; -1 when neither tells. */
pid_t runc_call_init_pid(const struct runc_call *c);

/* 1 when the CRIU runc would run is not there (why: "CRIU not found:
 * ..."): a --criu path of the call or the config that is not executable,
 * or no criu on PATH.  0 otherwise (a CRIU that is there may still fail). */
int runc_call_criu_missing(const struct runc_call *c, char *why, size_t len);
/* The CRIU the call would use: its --criu, the config's, or "criu" (a
 * name runc looks up on PATH). */
const char *runc_call_criu_path(const struct runc_call *c);

/* The call's image path: the default one lies in the state directory, and
 * no symlink is followed there (image_parent_check).  0: usable; -1
 * refused (logged) or absent. */
int runc_call_image_safe(const struct runc_call *c, const char *image_path, int create);

#endif
