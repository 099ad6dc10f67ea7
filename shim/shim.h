/*
 * tardis-runc's context for one runc call, shared by main.c and the
 * handlers (create.c, start.c, checkpoint.c, kill.c, delete.c,
 * caller_restore.c).  A handler decides whether tardis handles the call;
 * the work itself is the library's (checkpoint.h, restore.h, purge.h, exit_lookup.h).
 */
#ifndef TARDIS_SHIM_H
#define TARDIS_SHIM_H

#include <limits.h>
#include "config.h"
#include "handled.h"
#include "runc_args.h"
#include "runc_call.h"
#include "state.h"

struct cJSON;

struct shim {
	struct tardis_config cfg;
	struct runc_args args;
	char runc[PATH_MAX];
	struct tardis_store store;
	int have_store;
	char **argv;
	/* What the library's engines see of this call (shim_runc_call). */
	struct runc_call call;
	struct runc_call_opt call_opts[RUNC_ARGS_MAX_OPTS];
};

/* What a handler did with the call. */
enum shim_result {
	SHIM_PASS_THROUGH, /* runc gets the original command, unchanged (execv) */
	SHIM_DONE,         /* tardis answered it: exit with *exit_code */
};

typedef enum shim_result (*shim_handler)(struct shim *s, int *exit_code);

enum shim_result handle_create(struct shim *s, int *exit_code);
enum shim_result handle_start(struct shim *s, int *exit_code);
enum shim_result handle_resume(struct shim *s, int *exit_code);
enum shim_result handle_checkpoint(struct shim *s, int *exit_code);
/* Docker's containerd namespace (its default; dockerd --containerd-namespace). */
#define SHIM_DOCKER_NS "moby"
/* NULL when a `runc checkpoint` of the container (ST: its state.json, NS:
 * its namespace) is tardis's to take, else whose it is (the call then goes
 * to runc untouched): "CRI checkpoint", "Docker's checkpoint". */
const char *checkpoint_callers(const struct cJSON *st, const char *ns);
enum shim_result handle_kill(struct shim *s, int *exit_code);
enum shim_result handle_delete(struct shim *s, int *exit_code);
/* A caller's own restore (caller_restore.c): always passed to runc. */
enum shim_result handle_restore(struct shim *s, int *exit_code);

/* tardis-runc run by CRIU as its action script (criu_action.c; when,
 * criu_action_wanted in handled.h): its value is the exit code. */
int criu_action_main(void);

/* Opens the state store once; -1 (logged) when it cannot be. */
int shim_open_store(struct shim *s);
/* The container's state.json, or NULL when tardis does not manage it. */
struct cJSON *shim_load_state(struct shim *s);
/* The call as the library's engines take it (store opened first). */
const struct runc_call *shim_runc_call(struct shim *s);
/* An error tardis answers a call with, where runc's caller looks for
 * runc's own: stderr, and runc's --log file when one is given (a JSON
 * line with --log-format json: containerd reads its last error there). */
void shim_runc_error(struct shim *s, const char *msg);

/* Tells the exit monitor about the init in pid_file, starting tardisd
 * first when none runs (register.c). */
void shim_register_init(struct shim *s, const char *pid_file);

#endif
