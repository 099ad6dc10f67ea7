/*
 * The fallback exit source for kernels without BPF: lines of `ctr events`,
 *   2025-04-04 19:10:59.898514001 +0000 UTC default /tasks/exit {"container_id":...}
 */
#ifndef TARDIS_CTR_EVENTS_H
#define TARDIS_CTR_EVENTS_H

#include <stdint.h>
#include "error.h"
#include "state.h"

struct ctr_exit {
	char ns[TARDIS_ID_MAX + 1];
	char container_id[TARDIS_ID_MAX + 1];
	char id[TARDIS_ID_MAX + 1]; /* != container_id for an exec'd process */
	int pid;
	int exit_status;   /* missing in the event means 0 */
	int64_t exited_at_ns; /* 0 if absent */
};

enum {
	CTR_LINE_EXIT = 1,  /* a container's init exited: *out filled */
	CTR_LINE_OTHER = 0, /* another topic, or an exec exit: ignore */
};

/* Returns CTR_LINE_EXIT, CTR_LINE_OTHER, or -1 (with err) for garbage. */
int ctr_events_parse_line(const char *line, struct ctr_exit *out, tardis_error_t *err);

#endif
