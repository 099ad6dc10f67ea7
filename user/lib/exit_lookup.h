/*
 * How a container's init ended: the agent's exit record in the state
 * store when it is for this init, else the kernel's recent_exits map (the
 * agent may not have written the record yet, or may not run at all).
 */
#ifndef TARDIS_EXIT_LOOKUP_H
#define TARDIS_EXIT_LOOKUP_H

#include <stdint.h>
#include <sys/types.h>
#include "error.h"
#include "monitor.h"
#include "state.h"

enum exit_source {
	EXIT_SOURCE_NONE = 0,
	EXIT_SOURCE_RECORD, /* containers/<ns>/<id>/ exit record */
	EXIT_SOURCE_KERNEL, /* the pinned recent_exits map */
};

/* The exit of init (pid, start_time) of ns/id.  Returns 1 known (*exit_status:
 * the code, or 128 + signal), 0 unknown (no record and nothing in the
 * kernel, or a record that says "unknown").  src (may be NULL) says where
 * it came from.  ns NULL: the kernel only (the container dir is gone). */
int exit_lookup(struct tardis_store *s, const char *bpf_dir, const char *ns, const char *id,
		pid_t pid, uint64_t start_time, int *exit_status, enum exit_source *src);
/* The kernel's recent_exits alone: 1 known, 0 not there (or no monitor). */
int exit_lookup_kernel(const char *bpf_dir, pid_t pid, uint64_t start_time, int *exit_status);

#endif
