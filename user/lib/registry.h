/*
 * Registration: "host pid P, started at T, is the init of container (ns, id)".
 * tardis-runc registers after every create/restore; the agent resolves an
 * exit through it.  Kept in three places: the container's state.json
 * (init_pid, init_start_time), the pid index pids/<pid> for the agent's
 * lookup, and the kernel's registered map (for inits in the host pid ns).
 */
#ifndef TARDIS_REGISTRY_H
#define TARDIS_REGISTRY_H

#include <dirent.h>
#include <stdint.h>
#include <sys/types.h>
#include "error.h"
#include "monitor.h"
#include "state.h"

struct registration {
	char ns[TARDIS_ID_MAX + 1];
	char id[TARDIS_ID_MAX + 1];
	pid_t pid;
	uint64_t start_time;
};

/* start_time 0: read it from /proc.  mon may be NULL (no kernel map yet).
 * A new init forgets the previous init's exit record. */
int registry_register(struct tardis_store *s, struct tardis_monitor *mon, const char *ns,
		      const char *id, pid_t pid, uint64_t start_time, tardis_error_t *err);
/* 1 found, 0 not registered, -1 error (a malformed index entry is an error). */
int registry_lookup(struct tardis_store *s, pid_t pid, uint64_t start_time,
		    struct registration *out, tardis_error_t *err);
/* Forgets the registration of (pid, start_time), kernel map included. */
void registry_forget(struct tardis_store *s, struct tardis_monitor *mon, pid_t pid,
		     uint64_t start_time);
/* Calls fn for every registration in the pid index. */
int registry_foreach(struct tardis_store *s, int (*fn)(const struct registration *r, void *arg),
		     void *arg, tardis_error_t *err);

#endif
