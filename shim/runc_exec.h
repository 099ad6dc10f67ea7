/* Finding and running the real runc. */
#ifndef TARDIS_RUNC_EXEC_H
#define TARDIS_RUNC_EXEC_H

#include <stddef.h>
#include "error.h"

/* The real runc: `configured` (config / $TARDIS_RUNC) if set, else the
 * first runc on PATH.  Never this program itself. */
int runc_find(const char *configured, char *out, size_t len, tardis_error_t *err);

/* Replaces this process with runc and the original arguments (argv[0]
 * excepted).  Returns only on failure. */
void runc_exec_original(const char *runc, char **argv);

#endif
