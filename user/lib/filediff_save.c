/* Saving: walks an overlay upperdir into files.tar (what was added or
 * modified) and deleted.list (whiteouts and opaque directories). */
#include "filediff_internal.h"
#include "baseline.h"
#include "cleanup.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

struct save_ctx {
	struct baseline *base; /* a rootfs compared with it, not an upperdir */
	struct tar_writer tar;
	int tar_fd;
	struct bufw del;
	struct filediff_stats *st;
	dev_t dev;
	char path[FILEDIFF_PATH_MAX + 1];
	char esc[2 * FILEDIFF_PATH_MAX + 1];
};

/* fgetxattr; returns the length, -1 when absent (or xattrs unsupported). */
static ssize_t xattr_get(int fd, const char *name, char *buf, size_t size)
{
	ssize_t n = fgetxattr(fd, name, buf, size);

	if (n < 0 && errno == ERANGE)
		return (ssize_t)size + 1; /* present, longer than any value we test */
	return n;
}

static int save_deletion(struct save_ctx *c, enum filediff_deletion kind, tardis_error_t *err)
{
	if (kind == FILEDIFF_OPAQUE)
		c->st->opaques++;
	else
		c->st->whiteouts++;
	return fdiff_deleted_write(&c->del, kind, c->path, c->esc, err);
}

static int save_file(struct save_ctx *c, int dirfd, const char *name, tardis_error_t *err)
{
	cleanup_close int fd = -1;
	cleanup_free char *buf = NULL;
	struct stat st;
	uint64_t left;
	char x[4];

	fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return tardis_make_error(err, errno, "open `%s`", c->path);
	if (fstat(fd, &st) < 0)
		return tardis_make_error(err, errno, "stat `%s`", c->path);
	if (!S_ISREG(st.st_mode))
		return tardis_make_error(err, EAGAIN, "`%s` changed type while saving", c->path);
	if (xattr_get(fd, "trusted.overlay.metacopy", x, sizeof(x)) >= 0)
		return tardis_make_error(err, ENOTSUP,
					 "`%s` is a metacopy (its data is in a lower layer): "
					 "overlay metacopy=on is not supported",
					 c->path);
	/* An "xwhiteout": a whiteout made as a file where devices cannot be. */
	if (st.st_size == 0 && xattr_get(fd, "trusted.overlay.whiteout", x, sizeof(x)) >= 0) {
		return save_deletion(c, FILEDIFF_WHITEOUT, err);
	}
	if (tar_write_header(&c->tar, c->path, FILEDIFF_REG, &st, NULL, (uint64_t)st.st_size, err) < 0)
		return -1;
	buf = malloc(COPY_BUF);
	if (!buf)
		return tardis_make_error(err, ENOMEM, "save `%s`", c->path);
	for (left = (uint64_t)st.st_size; left;) {
		ssize_t r = read(fd, buf, left < COPY_BUF ? (size_t)left : COPY_BUF);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return tardis_make_error(err, errno, "read `%s`", c->path);
		if (r == 0)
			return tardis_make_error(err, EAGAIN, "`%s` shrank while saving", c->path);
		if (tar_write_data(&c->tar, buf, (size_t)r, err) < 0)
			return -1;
		left -= (uint64_t)r;
	}
	c->st->entries++;
	c->st->bytes += (uint64_t)st.st_size;
	return tar_write_data_end(&c->tar, (uint64_t)st.st_size, err);
}

static int save_dir(struct save_ctx *c, int dirfd, tardis_error_t *err);

static int save_entry(struct save_ctx *c, int dirfd, const char *name, tardis_error_t *err)
{
	struct stat st;
	int unchanged;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT)
			return 0;
		return tardis_make_error(err, errno, "stat `%s`", c->path);
	}
	if (!c->base && S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0)) {
		return save_deletion(c, FILEDIFF_WHITEOUT, err);
	}
	if (st.st_dev != c->dev) {
		c->st->skipped++;
		return 0;
	}
	/* Against a baseline, only what is new or changed is saved; a
	 * directory is walked all the same. */
	unchanged = c->base && baseline_same(c->base, c->path, &st);
	if (unchanged && !S_ISDIR(st.st_mode))
		return 0;
	if (S_ISREG(st.st_mode))
		return save_file(c, dirfd, name, err);
	if (S_ISLNK(st.st_mode)) {
		char target[FILEDIFF_PATH_MAX + 2];
		ssize_t n = readlinkat(dirfd, name, target, sizeof(target));

		if (n < 0)
			return tardis_make_error(err, errno, "readlink `%s`", c->path);
		if (n == 0 || (size_t)n > FILEDIFF_PATH_MAX)
			return tardis_make_error(err, ENAMETOOLONG, "target of symlink `%s`",
						 c->path);
		target[n] = '\0';
		c->st->entries++;
		return tar_write_header(&c->tar, c->path, FILEDIFF_SYMLINK, &st, target, 0, err);
	}
	if (S_ISDIR(st.st_mode)) {
		cleanup_close int fd = fdiff_open_dir_at(dirfd, name, c->dev);
		char v[4];
		ssize_t n;

		if (fd < 0)
			return tardis_make_error(err, -fd, "open directory `%s`", c->path);
		if (xattr_get(fd, "trusted.overlay.redirect", v, sizeof(v)) >= 0)
			return tardis_make_error(err, ENOTSUP,
						 "`%s` is a renamed lower directory: overlay "
						 "redirect_dir=on is not supported",
						 c->path);
		if (fstat(fd, &st) < 0)
			return tardis_make_error(err, errno, "stat `%s`", c->path);
		if (!unchanged) {
			if (tar_write_header(&c->tar, c->path, FILEDIFF_DIR, &st, NULL, 0, err) < 0)
				return -1;
			c->st->entries++;
		}
		/* "x" marks a directory holding xwhiteouts, not an opaque one. */
		n = xattr_get(fd, "trusted.overlay.opaque", v, sizeof(v));
		if (n == 1 && v[0] == 'y') {
			if (save_deletion(c, FILEDIFF_OPAQUE, err) < 0)
				return -1;
		}
		return save_dir(c, fd, err);
	}
	c->st->skipped++; /* fifo, socket, device */
	return 0;
}

static int save_dir(struct save_ctx *c, int dirfd, tardis_error_t *err)
{
	cleanup_names char **names = NULL;
	size_t base = strlen(c->path);

	if (fdiff_list_dir(dirfd, &names, NULL) < 0)
		return tardis_make_error(err, errno, "list `%s`", base ? c->path : ".");
	for (char **p = names; *p; p++) {
		if (fdiff_path_push(c->path, base, *p) < 0)
			return tardis_make_error(err, ENAMETOOLONG, "path `%s/%s` is too long",
						 c->path, *p);
		if (save_entry(c, dirfd, *p, err) < 0)
			return -1;
		c->path[base] = '\0';
	}
	return 0;
}

static int create_out(int dirfd, const char *name, tardis_error_t *err)
{
	int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);

	if (fd < 0)
		return tardis_make_error(err, errno, "create `%s`", name);
	return fd;
}

/* A recorded entry the rootfs no longer has: deleted. */
static int save_gone(void *arg, const char *path, tardis_error_t *err)
{
	struct save_ctx *c = arg;

	snprintf(c->path, sizeof(c->path), "%s", path);
	return save_deletion(c, FILEDIFF_WHITEOUT, err);
}

/* The walk of root into files.tar and deleted.list, against base if any. */
static int save_walk(struct save_ctx *c, int rootfd, int out_dirfd, tardis_error_t *err)
{
	c->tar_fd = create_out(out_dirfd, FILEDIFF_TAR, err);
	if (c->tar_fd < 0)
		return -1;
	tar_writer_init(&c->tar, c->tar_fd, FILEDIFF_TAR);
	c->del.fd = create_out(out_dirfd, FILEDIFF_DELETED, err);
	if (c->del.fd < 0)
		return -1;
	if (save_dir(c, rootfd, err) < 0 ||
	    (c->base && baseline_foreach_gone(c->base, save_gone, c, err) < 0) ||
	    tar_write_finish(&c->tar, err) < 0 || fdiff_bufw_flush(&c->del, err) < 0)
		return -1;
	if (fsync(c->tar_fd) < 0 || fsync(c->del.fd) < 0 || fsync(out_dirfd) < 0)
		return tardis_make_error(err, errno, "fsync saved files");
	return 0;
}

static int save_from(const char *root, struct baseline *base, int out_dirfd,
		     struct filediff_stats *st, tardis_error_t *err)
{
	cleanup_free struct save_ctx *c = NULL;
	cleanup_close int rootfd = -1;
	struct filediff_stats local;
	struct stat rst;
	int ret;

	if (!st)
		st = &local;
	memset(st, 0, sizeof(*st));
	rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0 || fstat(rootfd, &rst) < 0)
		return tardis_make_error(err, errno, "open `%s`", root);
	c = calloc(1, sizeof(*c));
	if (!c)
		return tardis_make_error(err, ENOMEM, "save `%s`", root);
	c->st = st;
	c->base = base;
	c->dev = rst.st_dev;
	c->del.name = FILEDIFF_DELETED;
	c->tar_fd = c->del.fd = -1;
	ret = save_walk(c, rootfd, out_dirfd, err);
	if (c->tar_fd >= 0)
		close(c->tar_fd);
	if (c->del.fd >= 0)
		close(c->del.fd);
	if (ret < 0) {
		if (c->tar_fd >= 0)
			unlinkat(out_dirfd, FILEDIFF_TAR, 0);
		if (c->del.fd >= 0)
			unlinkat(out_dirfd, FILEDIFF_DELETED, 0);
		tardis_error_wrap(err, "save files of `%s`", root);
	}
	return ret;
}

int filediff_save(const char *upperdir, int out_dirfd, struct filediff_stats *st,
		  tardis_error_t *err)
{
	return save_from(upperdir, NULL, out_dirfd, st, err);
}

int filediff_save_since(const char *rootfs, struct baseline *base, int out_dirfd,
			struct filediff_stats *st, tardis_error_t *err)
{
	return save_from(rootfs, base, out_dirfd, st, err);
}
