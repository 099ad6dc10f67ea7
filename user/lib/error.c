#include "error.h"
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *vformat(const char *fmt, va_list ap)
{
	char *s = NULL;

	if (vasprintf(&s, fmt, ap) < 0)
		return NULL;
	return s;
}

int tardis_make_error(tardis_error_t *err, int errnum, const char *fmt, ...)
{
	struct tardis_error *e;
	char *msg, *full = NULL;
	va_list ap;

	if (!err || *err)
		return -1;
	va_start(ap, fmt);
	msg = vformat(fmt, ap);
	va_end(ap);
	if (msg && errnum) {
		if (asprintf(&full, "%s: %s", msg, strerror(errnum)) < 0)
			full = NULL;
		free(msg);
		msg = full;
	}
	e = calloc(1, sizeof(*e));
	if (!e) {
		free(msg);
		return -1;
	}
	e->errnum = errnum;
	e->msg = msg;
	*err = e;
	return -1;
}

int tardis_error_wrap(tardis_error_t *err, const char *fmt, ...)
{
	char *ctx, *full = NULL;
	va_list ap;

	if (!err || !*err)
		return -1;
	va_start(ap, fmt);
	ctx = vformat(fmt, ap);
	va_end(ap);
	if (!ctx)
		return -1;
	if (asprintf(&full, "%s: %s", ctx, (*err)->msg ? (*err)->msg : "error") >= 0) {
		free((*err)->msg);
		(*err)->msg = full;
	}
	free(ctx);
	return -1;
}

void tardis_error_free(tardis_error_t *err)
{
	if (!err || !*err)
		return;
	free((*err)->msg);
	free(*err);
	*err = NULL;
}

const char *tardis_error_msg(tardis_error_t err)
{
	if (!err)
		return "no error";
	return err->msg ? err->msg : "out of memory";
}

int tardis_error_errno(tardis_error_t err)
{
	return err ? err->errnum : 0;
}

void tardis_error_log_release(int level, const char *prefix, tardis_error_t *err)
{
	if (!err || !*err)
		return;
	if (prefix)
		tardis_log(level, "%s: %s", prefix, tardis_error_msg(*err));
	else
		tardis_log(level, "%s", tardis_error_msg(*err));
	tardis_error_free(err);
}
