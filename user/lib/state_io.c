/* The state store's files: written atomically (a temp file renamed, or a
 * spare made beforehand), read whole (state.h). */
#include "state.h"
#include "cleanup.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* renameat, or with STORE_NOREPLACE renameat2's RENAME_NOREPLACE (EEXIST
 * when to exists; a filesystem without it: a look first, then renameat). */
static int rename_in(int dirfd, const char *from, const char *to, unsigned flags)
{
	if (!(flags & STORE_NOREPLACE))
		return renameat(dirfd, from, dirfd, to);
	if (renameat2(dirfd, from, dirfd, to, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL)
		return -1;
	if (faccessat(dirfd, to, F_OK, AT_SYMLINK_NOFOLLOW) == 0) {
		errno = EEXIST;
		return -1;
	}
	return renameat(dirfd, from, dirfd, to);
}

/* Writes a temp file in dirfd ([fsync]) and renames it to name (flags:
 * rename_in's): visible.  Its fd goes to *fd_out when asked for (the caller
 * makes it durable later), else it is closed. */
static int write_renamed(int dirfd, const char *name, const void *data, size_t len, int durable,
			 unsigned flags, int *fd_out, tardis_error_t *err)
{
	static unsigned counter;
	char tmp[NAME_MAX + 1];
	int fd, e;

	if (snprintf(tmp, sizeof(tmp), ".%s.%d.%u.tmp", name, (int)getpid(),
		     __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED)) >= (int)sizeof(tmp))
		return tardis_make_error(err, ENAMETOOLONG, "temp name for `%s`", name);
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return tardis_make_error(err, errno, "create `%s`", tmp);
	if (write_full(fd, data, len) < 0) {
		e = errno;
		goto fail;
	}
	if (durable && fsync(fd) < 0) {
		e = errno;
		goto fail;
	}
	if (rename_in(dirfd, tmp, name, flags) < 0) {
		e = errno;
		goto fail;
	}
	if (fd_out)
		*fd_out = fd;
	else
		close(fd);
	return 0;
fail:
	close(fd);
	unlinkat(dirfd, tmp, 0);
	return tardis_make_error(err, e, "write `%s`", name);
}

int store_write_atomic(int dirfd, const char *name, const void *data, size_t len, int durable,
		       struct store_write_times *t, tardis_error_t *err)
{
	if (write_renamed(dirfd, name, data, len, durable, 0, NULL, err) < 0)
		return -1;
	if (t)
		t->visible_ns = (uint64_t)time_monotonic_ns();
	if (durable && fsync(dirfd) < 0)
		return tardis_make_error(err, errno, "fsync directory of `%s`", name);
	if (t)
		t->durable_ns = durable ? (uint64_t)time_monotonic_ns() : 0;
	return 0;
}

int store_write_visible(int dirfd, const char *name, const void *data, size_t len, int *fd_out,
			tardis_error_t *err)
{
	return write_renamed(dirfd, name, data, len, 0, 0, fd_out, err);
}

int store_make_spare(int dirfd, const char *spare, tardis_error_t *err)
{
	int fd = openat(dirfd, spare, O_WRONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600);

	if (fd < 0)
		return tardis_make_error(err, errno, "create `%s`", spare);
	close(fd);
	return 0;
}

/* The spare, open for writing and empty; -1 when there is none fit for it
 * (not a regular file of ours with one link: left alone). */
static int open_spare(int dirfd, const char *spare)
{
	struct stat st;
	int fd = openat(dirfd, spare, O_WRONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1 ||
	    st.st_uid != store_euid() || (st.st_size > 0 && ftruncate(fd, 0) < 0)) {
		close(fd);
		return -1;
	}
	return fd;
}

int store_write_visible_spare(int dirfd, const char *name, const char *spare, const void *data,
			      size_t len, unsigned flags, int *fd_out, tardis_error_t *err)
{
	int fd = open_spare(dirfd, spare), e;

	if (fd < 0)
		return write_renamed(dirfd, name, data, len, 0, flags, fd_out, err);
	e = write_full(fd, data, len) < 0 || rename_in(dirfd, spare, name, flags) < 0 ? errno : 0;
	if (e) {
		/* Half written, or not renamed (EEXIST): the spare is still
		 * one, the next write truncates it first. */
		close(fd);
		return tardis_make_error(err, e, "write `%s`", name);
	}
	if (fd_out)
		*fd_out = fd;
	else
		close(fd);
	return 0;
}

int store_read(int dirfd, const char *name, size_t max, char **out, size_t *len,
	       tardis_error_t *err)
{
	cleanup_close int fd = -1;
	cleanup_free char *buf = NULL;
	struct stat st;
	size_t n = 0;

	*out = NULL;
	fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return tardis_make_error(err, errno, "open `%s`", name);
	if (fstat_fresh(fd, &st) < 0)
		return tardis_make_error(err, errno, "stat `%s`", name);
	if (!S_ISREG(st.st_mode))
		return tardis_make_error(err, EINVAL, "`%s` is not a regular file", name);
	if ((size_t)st.st_size > max)
		return tardis_make_error(err, EFBIG, "`%s` is larger than %zu bytes", name, max);
	buf = malloc(st.st_size + 1);
	if (!buf)
		return tardis_make_error(err, ENOMEM, "read `%s`", name);
	while (n < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + n, st.st_size - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return tardis_make_error(err, errno, "read `%s`", name);
		if (r == 0)
			break;
		n += r;
	}
	buf[n] = '\0';
	if (len)
		*len = n;
	*out = buf;
	buf = NULL;
	return 0;
}

int store_unlink(int dirfd, const char *name, tardis_error_t *err)
{
	if (unlinkat(dirfd, name, 0) < 0 && errno != ENOENT)
		return tardis_make_error(err, errno, "remove `%s`", name);
	return 0;
}

int fsync_path(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW), ret;

	if (fd < 0)
		return -1;
	ret = fsync(fd);
	close(fd);
	return ret;
}
