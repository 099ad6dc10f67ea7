/* A restored container's start, answered by tardis: skip_start.h. */
#include "skip_start.h"
#include "cleanup.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

int skip_start_set(struct tardis_store *s, const char *ns, const char *id, tardis_error_t *err)
{
	cleanup_close int dfd = store_container_dir(s, ns, id, 0, err);
	int fd;

	if (dfd < 0)
		return -1;
	fd = openat(dfd, SKIP_START_FILE, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return tardis_make_error(err, errno, "create `%s` of %s/%s", SKIP_START_FILE, ns, id);
	close(fd);
	return 0;
}

int skip_start_take(struct tardis_store *s, const char *ns, const char *id, tardis_error_t *err)
{
	cleanup_error tardis_error_t e = NULL;
	cleanup_close int dfd = -1;

	if (!store_id_valid(ns) || !store_id_valid(id))
		return 0;
	dfd = store_container_dir(s, ns, id, 0, &e);
	if (dfd < 0 && tardis_error_errno(e) == ENOENT)
		return 0;
	if (dfd < 0) {
		*err = e;
		e = NULL;
		return -1;
	}
	if (unlinkat(dfd, SKIP_START_FILE, 0) == 0)
		return 1;
	if (errno == ENOENT)
		return 0;
	return tardis_make_error(err, errno, "remove `%s` of %s/%s", SKIP_START_FILE, ns, id);
}
