/* tardisd's two halves: main.c (options, daemon, single instance) and
 * loop.c (the event loop over the exit sources). */
#ifndef TARDISD_H
#define TARDISD_H

#include "agent.h"


struct opts {
	int foreground;
	int daemon;
	int verbose;
	int unload;
	const char *source;
	const char *address;
	const char *ctr;
	const char *metrics_file;
	int log_file_set;  /* given on the command line: wins over the config */
	int log_level_set;
};

/* Reconciles, then turns exits into records until SIGTERM/SIGINT; writes
 * '1' to ready_fd (when >= 0) once running.  Returns main's exit code. */
int tardisd_run(struct agent *a, const struct opts *o, int ready_fd);

/* Renews the leases of the identities this node's containers hold, in a
 * thread of its own, until the process ends (leases.c). */
void leases_start(const struct agent *a);

#endif
