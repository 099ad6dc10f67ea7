/*
 * tardis-runc as CRIU's action script (restore.c names it in the
 * criu.conf of a restore whose network namespace runc makes): CRIU runs
 * it with no arguments and CRTOOLS_SCRIPT_ACTION in its environment, once
 * per action.  Only setup-namespaces is tardis's: lo up and the net.*
 * sysctls back in the restored namespace before any socket is restored
 * (netns.h).  A failure exits non-zero: CRIU aborts the restore and
 * tardis starts the container fresh.  Never writes to stdout; CRIU puts
 * stderr in its restore.log.
 */
#include "shim.h"
#include "cleanup.h"
#include "netns.h"
#include "restore.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int criu_action_main(void)
{
	const char *action = getenv("CRTOOLS_SCRIPT_ACTION");
	const char *pid_s = getenv("CRTOOLS_INIT_PID");
	cleanup_error tardis_error_t err = NULL;
	char *end = NULL;
	long pid;

	if (!action || strcmp(action, "setup-namespaces") != 0)
		return 0;
	errno = 0;
	pid = pid_s ? strtol(pid_s, &end, 10) : 0;
	if (!pid_s || errno || *end || pid <= 0) {
		fprintf(stderr, "tardis-runc: criu %s: no CRTOOLS_INIT_PID\n", action);
		return 1;
	}
	if (netns_restore_own((pid_t)pid, getenv(RESTORE_BUNDLE_ENV), &err) < 0) {
		fprintf(stderr, "tardis-runc: criu %s: network namespace of %ld: %s\n", action,
			pid, tardis_error_msg(err));
		return 1;
	}
	return 0;
}
