/* deleted.list: one `whiteout <path>` or `opaque <path>` line per deletion,
 * paths escaped (`\n`, `\\`). */
#include "filediff_internal.h"
#include "cleanup.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int fdiff_deleted_write(struct bufw *w, enum filediff_deletion kind, const char *path, char *esc,
		  tardis_error_t *err)
{
	const char *word = kind == FILEDIFF_OPAQUE ? "opaque " : "whiteout ";
	size_t n = fdiff_escape_path(path, esc);

	if (fdiff_bufw_put(w, word, strlen(word), err) < 0 || fdiff_bufw_put(w, esc, n, err) < 0 ||
	    fdiff_bufw_put(w, "\n", 1, err) < 0)
		return -1;
	return 0;
}

int filediff_deleted_foreach(const void *buf, size_t len, filediff_deletion_fn fn, void *arg,
			     tardis_error_t *err)
{
	cleanup_free char *path = NULL;
	const char *p = buf, *end;
	unsigned line = 0;

	if (len == 0)
		return 0;
	end = p + len;
	path = malloc(FILEDIFF_PATH_MAX + 1);
	if (!path)
		return tardis_make_error(err, ENOMEM, "deleted.list");
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p)), *rest;
		enum filediff_deletion kind;

		line++;
		if (!nl)
			return tardis_make_error(err, EINVAL, "deleted.list line %u: truncated", line);
		if ((size_t)(nl - p) > 9 && memcmp(p, "whiteout ", 9) == 0) {
			kind = FILEDIFF_WHITEOUT;
			rest = p + 9;
		} else if ((size_t)(nl - p) > 7 && memcmp(p, "opaque ", 7) == 0) {
			kind = FILEDIFF_OPAQUE;
			rest = p + 7;
		} else {
			return tardis_make_error(err, EINVAL, "deleted.list line %u: malformed",
						 line);
		}
		if (fdiff_unescape_path(rest, (size_t)(nl - rest), path) < 0 ||
		    fdiff_path_check(path, strlen(path)) < 0)
			return tardis_make_error(err, EINVAL,
						 "deleted.list line %u: unsafe or invalid path", line);
		if (fn && fn(kind, path, arg, err) < 0)
			return -1;
		p = nl + 1;
	}
	return 0;
}
