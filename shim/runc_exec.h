/* Finding and running the real runc. */
#ifndef TARDIS_RUNC_EXEC_H
#define TARDIS_RUNC_EXEC_H

#include <stddef.h>
#include "config.h"
#include "error.h"

/* The real runc: `configured` (config / $TARDIS_RUNC) if set, else the
 * first runc on PATH.  Never this program itself. */
int runc_find(const char *configured, char *out, size_t len, tardis_error_t *err);

/* Replaces this process with runc and the original arguments (argv[0]
 * excepted).  Returns only on failure. */
void runc_exec_original(const char *runc, char **argv);

/* The log of a runc call: the config's log_file, else DEFAULT_LOG. */
#define SHIM_DEFAULT_LOG "/var/log/tardis-runc.log"
void shim_log_open(const struct tardis_config *cfg);

/* runc_find of the configured runc; a failure logged and on stderr, as
 * runc's caller sees it.  0 or -1. */
int runc_find_reported(const struct tardis_config *cfg, char *out, size_t len);

#endif
