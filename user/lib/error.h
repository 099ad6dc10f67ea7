/* Errors travel up as a negative return plus an error object (crun style). */
#ifndef TARDIS_ERROR_H
#define TARDIS_ERROR_H

#include <stdarg.h>

struct tardis_error {
	int errnum; /* errno at the origin, 0 if none */
	char *msg;
};
typedef struct tardis_error *tardis_error_t;

/* Sets *err (if err and *err is empty) and returns -1. */
int tardis_make_error(tardis_error_t *err, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Prefixes the message of *err with context; returns -1. */
int tardis_error_wrap(tardis_error_t *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void tardis_error_free(tardis_error_t *err);
const char *tardis_error_msg(tardis_error_t err);
/* errno at the origin of err; 0 when err is NULL or carries none. */
int tardis_error_errno(tardis_error_t err);
/* Logs "<prefix>: <message>" at `level` (a TARDIS_LOG_* of log.h) and frees
 * *err; nothing when *err is empty.  prefix may be NULL. */
void tardis_error_log_release(int level, const char *prefix, tardis_error_t *err);

#define cleanup_error __attribute__((cleanup(tardis_error_free)))

#endif
