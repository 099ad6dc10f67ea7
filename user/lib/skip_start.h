/*
 * The start a restored container needs no more: `runc restore --detach`
 * started it, so the `start` containerd sends after the create is answered
 * by tardis.  The create that restored it leaves a file in the container's
 * state directory; a start takes it by removing it, so exactly one start
 * is answered -- by the front (shim/front/main.c), without the whole
 * program.  Not synced: lost to a power loss, it is stale only for a
 * container that is gone, and the next create clears it.
 */
#ifndef TARDIS_SKIP_START_H
#define TARDIS_SKIP_START_H

#include "state.h"

#define SKIP_START_FILE "skip-start"

/* Leaves the file for the next start of ns/id (its directory exists). */
int skip_start_set(struct tardis_store *s, const char *ns, const char *id, tardis_error_t *err);
/* Removes it: 1 when this call took it (the start is answered), 0 when
 * there was none (or ns/id is not a valid store id), -1 with *err.  The
 * create clears a stale one the same way. */
int skip_start_take(struct tardis_store *s, const char *ns, const char *id, tardis_error_t *err);

#endif
