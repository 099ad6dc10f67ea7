/*
 * Private per-container scratch dirs: <state_dir>/<what>/<ns>/<id>, walked
 * from the store's root like the store itself (0700, ours, no symlink
 * followed): runc/CRIU write there and tardis keeps its undo data there.
 */
#ifndef TARDIS_SCRATCH_H
#define TARDIS_SCRATCH_H

#include <stddef.h>
#include "error.h"
#include "state.h"

#define SCRATCH_WORK "work"       /* CRIU's --work-path: its logs and statistics */
#define SCRATCH_RESTORE "restore" /* a restore's undo data; create's lock */
/* Every scratch dir a container may have (what purge removes). */
#define SCRATCH_COUNT 2
extern const char *const scratch_names[SCRATCH_COUNT];

/* Makes the dir (when missing) and puts its absolute path in out.  On
 * failure logs, returns -1 with errno set. */
int scratch_dir(struct tardis_store *s, const char *state_dir, const char *what, const char *ns,
		const char *id, char *out, size_t len);
/* CRIU writes its logs and statistics 0644 (it sets its own umask): made
 * 0600 like everything else in the state directory. */
void scratch_tighten(struct tardis_store *s, const char *what, const char *ns, const char *id);

#endif
