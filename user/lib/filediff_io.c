/* Writing, copying and removing files for filediff: a buffered writer, and
 * trees copied (with owner, mode, times, xattrs) or removed without ever
 * following a symlink or crossing a mount. */
#include "filediff_internal.h"
#include "cleanup.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

int fdiff_io_all(int fd, const char *p, size_t len)
{
	return write_full(fd, p, len);
}

int fdiff_bufw_flush(struct bufw *w, tardis_error_t *err)
{
	if (fdiff_io_all(w->fd, w->buf, w->n) < 0)
		return tardis_make_error(err, errno, "write `%s`", w->name);
	w->n = 0;
	return 0;
}

int fdiff_bufw_put(struct bufw *w, const void *data, size_t len, tardis_error_t *err)
{
	while (len)
		if (buf_fill(w->buf, &w->n, sizeof(w->buf), &data, &len) &&
		    fdiff_bufw_flush(w, err) < 0)
			return -1;
	return 0;
}

/* The data extents of src at their offsets (SEEK_DATA / SEEK_HOLE), then
 * the length: a sparse file's backup stays sparse. */
static int copy_data(int src, int dst, char *buf)
{
	struct stat st;
	off_t pos = 0;

	if (fstat(src, &st) < 0)
		return -1;
	while (pos < st.st_size) {
		off_t d = lseek(src, pos, SEEK_DATA), h;

		if (d < 0 && errno == ENXIO)
			break;
		if (d < 0 && (errno == EINVAL || errno == ENOTSUP))
			d = pos, h = st.st_size; /* no hole detection: all data */
		else if (d < 0 || (h = lseek(src, d, SEEK_HOLE)) < 0)
			return -1;
		for (pos = d; pos < h;) {
			ssize_t r = pread(src, buf, COPY_BUF, pos);

			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0)
				return -1;
			if (r == 0)
				break;
			if (r > h - pos)
				r = h - pos;
			if (lseek(dst, pos, SEEK_SET) < 0 || fdiff_io_all(dst, buf, (size_t)r) < 0)
				return -1;
			pos += r;
		}
		if (pos < h)
			break; /* shrank meanwhile */
	}
	return ftruncate(dst, st.st_size);
}

static int ignorable_xattr_errno(int e)
{
	return e == ENOTSUP || e == EOPNOTSUPP || e == EPERM || e == EACCES || e == ENODATA ||
	       e == EINVAL;
}

/* Best effort: file capabilities, ACLs, user xattrs; never overlay's own. */
static int copy_xattrs(int src, int dst)
{
	cleanup_free char *names = NULL;
	cleanup_free char *val = NULL;
	ssize_t len = flistxattr(src, NULL, 0);

	if (len <= 0)
		return len < 0 && !ignorable_xattr_errno(errno) ? -1 : 0;
	names = malloc((size_t)len + 1);
	val = malloc(65536);
	if (!names || !val)
		return -1;
	len = flistxattr(src, names, (size_t)len);
	if (len < 0)
		return ignorable_xattr_errno(errno) || errno == ERANGE ? 0 : -1;
	names[len] = '\0';
	for (char *n = names; n < names + len; n += strlen(n) + 1) {
		ssize_t vlen;

		if (strncmp(n, "trusted.overlay.", 16) == 0 || strncmp(n, "user.overlay.", 13) == 0)
			continue;
		vlen = fgetxattr(src, n, val, 65536);
		if (vlen < 0) {
			if (ignorable_xattr_errno(errno) || errno == ERANGE)
				continue;
			return -1;
		}
		if (fsetxattr(dst, n, val, (size_t)vlen, 0) < 0 && !ignorable_xattr_errno(errno))
			return -1;
	}
	return 0;
}

/* The same for a file that cannot be opened (symlink, fifo, device). */
static int copy_xattrs_at(int sfd, const char *sname, int dfd, const char *dname)
{
	struct fdiff_xattrs x;
	const char *failed;
	int ret = 0;

	if (fdiff_xattrs_read(sfd, sname, &x) < 0)
		ret = ignorable_xattr_errno(errno) ? 0 : -1;
	else if (fdiff_xattrs_write(dfd, dname, x.v, x.n, 1, &failed) < 0)
		ret = -1;
	fdiff_xattrs_free(&x);
	return ret;
}

/* Owner first (chown drops setuid bits and capabilities), then xattrs,
 * then mode, then times. */
static int copy_meta(int src, int dst, const struct stat *st)
{
	struct timespec ts[2] = { st->st_atim, st->st_mtim };

	if (fchown(dst, st->st_uid, st->st_gid) < 0 || copy_xattrs(src, dst) < 0 ||
	    fchmod(dst, st->st_mode & 07777) < 0 || futimens(dst, ts) < 0)
		return -1;
	return 0;
}

/* Copies sname below sfd to dname below dfd (which must not exist), with
 * owner, mode, times and xattrs; refuses to cross from filesystem sdev. */
int fdiff_copy_tree(int sfd, const char *sname, int dfd, const char *dname, dev_t sdev,
		     int durable, char *buf, tardis_error_t *err)
{
	struct stat st;

	if (fstatat(sfd, sname, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return tardis_make_error(err, errno, "stat `%s`", sname);
	if (S_ISREG(st.st_mode)) {
		cleanup_close int s = -1;
		cleanup_close int d = -1;

		s = openat(sfd, sname, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		if (s < 0 || fstat(s, &st) < 0)
			return tardis_make_error(err, errno, "open `%s`", sname);
		if (!S_ISREG(st.st_mode))
			return tardis_make_error(err, EAGAIN, "`%s` changed type", sname);
		d = openat(dfd, dname, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (d < 0)
			return tardis_make_error(err, errno, "create `%s`", dname);
		if (copy_data(s, d, buf) < 0 || copy_meta(s, d, &st) < 0 ||
		    (durable && fsync(d) < 0))
			return tardis_make_error(err, errno, "copy `%s`", sname);
		return 0;
	}
	if (S_ISDIR(st.st_mode)) {
		cleanup_names char **names = NULL;
		cleanup_close int s = fdiff_open_dir_at(sfd, sname, sdev);
		cleanup_close int d = -1;

		if (s < 0)
			return tardis_make_error(err, -s, "open directory `%s`", sname);
		if (mkdirat(dfd, dname, 0700) < 0)
			return tardis_make_error(err, errno, "mkdir `%s`", dname);
		d = openat(dfd, dname, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (d < 0)
			return tardis_make_error(err, errno, "open directory `%s`", dname);
		if (fdiff_list_dir(s, &names, NULL) < 0)
			return tardis_make_error(err, errno, "list `%s`", sname);
		for (char **p = names; *p; p++)
			if (fdiff_copy_tree(s, *p, d, *p, sdev, durable, buf, err) < 0)
				return tardis_error_wrap(err, "in `%s`", sname);
		if (fstat(s, &st) < 0 || copy_meta(s, d, &st) < 0 || (durable && fsync(d) < 0))
			return tardis_make_error(err, errno, "copy `%s`", sname);
		return 0;
	}
	{
		struct timespec ts[2] = { st.st_atim, st.st_mtim };

		if (S_ISLNK(st.st_mode)) {
			char target[PATH_MAX + 1];
			ssize_t n = readlinkat(sfd, sname, target, PATH_MAX);

			if (n < 0)
				return tardis_make_error(err, errno, "readlink `%s`", sname);
			target[n] = '\0';
			if (symlinkat(target, dfd, dname) < 0)
				return tardis_make_error(err, errno, "symlink `%s`", dname);
		} else {
			/* fifo, socket, device: kept as they were. */
			if (mknodat(dfd, dname, (st.st_mode & S_IFMT) | 0600, st.st_rdev) < 0 ||
			    fchmodat(dfd, dname, st.st_mode & 07777, 0) < 0)
				return tardis_make_error(err, errno, "mknod `%s`", dname);
		}
		if (fchownat(dfd, dname, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) < 0 ||
		    copy_xattrs_at(sfd, sname, dfd, dname) < 0 ||
		    (!S_ISLNK(st.st_mode) && fchmodat(dfd, dname, st.st_mode & 07777, 0) < 0) ||
		    utimensat(dfd, dname, ts, AT_SYMLINK_NOFOLLOW) < 0)
			return tardis_make_error(err, errno, "set owner of `%s`", dname);
		return 0;
	}
}

/* rm -rf name below pfd, without following symlinks or crossing mounts. */
int fdiff_remove_tree(int pfd, const char *name, dev_t dev, tardis_error_t *err)
{
	struct stat st;

	if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : tardis_make_error(err, errno, "stat `%s`", name);
	if (S_ISDIR(st.st_mode)) {
		cleanup_names char **names = NULL;
		cleanup_close int fd = fdiff_open_dir_at(pfd, name, dev);

		if (fd == -ENOENT)
			return 0;
		if (fd < 0)
			return tardis_make_error(err, -fd, "open directory `%s`", name);
		if (fdiff_list_dir(fd, &names, NULL) < 0)
			return tardis_make_error(err, errno, "list `%s`", name);
		for (char **p = names; *p; p++)
			if (fdiff_remove_tree(fd, *p, dev, err) < 0)
				return tardis_error_wrap(err, "in `%s`", name);
		if (unlinkat(pfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
			return tardis_make_error(err, errno, "remove directory `%s`", name);
		return 0;
	}
	if (unlinkat(pfd, name, 0) < 0 && errno != ENOENT)
		return tardis_make_error(err, errno, "remove `%s`", name);
	return 0;
}

