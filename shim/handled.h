/*
 * What tardis-runc's two binaries agree on: the static front that
 * containerd runs (shim/front/main.c) sends these calls to the whole
 * program (shim/main.c, tardis-runc-full) and every other one straight to
 * runc.  Header-only: the front links none of the handlers.
 */
#ifndef TARDIS_SHIM_HANDLED_H
#define TARDIS_SHIM_HANDLED_H

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The whole program, beside the front. */
#define SHIM_FULL_NAME "tardis-runc-full"

/* The runc subcommands tardis may handle, in the order of shim/main.c's
 * handlers. */
static const char *const shim_handled_cmds[] = {
	"create", "start", "checkpoint", "resume", "kill", "delete", "restore",
};
#define SHIM_HANDLED_N (sizeof(shim_handled_cmds) / sizeof(shim_handled_cmds[0]))

/* cmd's index in shim_handled_cmds, or -1: runc's alone. */
static inline int shim_cmd_handled(const char *cmd)
{
	for (size_t i = 0; cmd && i < SHIM_HANDLED_N; i++)
		if (strcmp(shim_handled_cmds[i], cmd) == 0)
			return (int)i;
	return -1;
}

/* A signal that stops a container (runc's default, none given, is TERM):
 * a container that opted in is checkpointed instead (kill.c); any other
 * `kill` is runc's alone, sent there by the front. */
static inline int shim_kill_stops(const char *sig)
{
	static const char *const stops[] = { "TERM", "KILL", "INT", "15", "9", "2" };

	if (!sig)
		return 1;
	if (strncasecmp(sig, "SIG", 3) == 0)
		sig += 3;
	for (size_t i = 0; i < sizeof(stops) / sizeof(stops[0]); i++)
		if (strcasecmp(sig, stops[i]) == 0)
			return 1;
	return 0;
}

/* tardis-runc run by CRIU as its action script (criu_action.c): no
 * arguments and CRTOOLS_SCRIPT_ACTION set. */
static inline int criu_action_wanted(int argc)
{
	return argc == 1 && getenv("CRTOOLS_SCRIPT_ACTION") != NULL;
}

#endif
