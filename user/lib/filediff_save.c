/* Saving: walks an overlay upperdir into files.tar (what was added or
 * modified) and deleted.list (whiteouts and opaque directories). */
#include "filediff_internal.h"
#include "baseline.h"
#include "cleanup.h"
#include "util.h"

#include <errno.h>
#include <search.h>
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
	void *links; /* struct link_seen: inodes with more names, saved once */
	struct fdiff_extent *ext;
	size_t next, ext_cap;
	char *buf;
	char path[FILEDIFF_PATH_MAX + 1];
	char esc[2 * FILEDIFF_PATH_MAX + 1];
};

struct link_seen {
	dev_t dev;
	ino_t ino;
	char *path;
};

static int cmp_link(const void *a, const void *b)
{
	const struct link_seen *x = a, *y = b;

	if (x->dev != y->dev)
		return x->dev < y->dev ? -1 : 1;
	return x->ino < y->ino ? -1 : x->ino > y->ino;
}

static void free_link(void *p)
{
	struct link_seen *l = p;

	free(l->path);
	free(l);
}

/* The path an inode of more names was saved under, if it was. */
static const char *link_find(struct save_ctx *c, const struct stat *st)
{
	struct link_seen key = { st->st_dev, st->st_ino, NULL };
	void *node;

	if (st->st_nlink < 2 || S_ISDIR(st->st_mode))
		return NULL;
	node = tfind(&key, &c->links, cmp_link);
	return node ? (*(struct link_seen **)node)->path : NULL;
}

static int link_remember(struct save_ctx *c, const struct stat *st, tardis_error_t *err)
{
	struct link_seen *l;

	if (st->st_nlink < 2 || S_ISDIR(st->st_mode))
		return 0;
	l = calloc(1, sizeof(*l));
	if (!l || !(l->path = strdup(c->path)))
		goto oom;
	/* Its key before it goes into the tree (set after, the tree was
	 * ordered by (0, 0): a later name was found or not depending on the
	 * inode numbers around it). */
	l->dev = st->st_dev;
	l->ino = st->st_ino;
	if (!tsearch(l, &c->links, cmp_link))
		goto oom;
	return 0;
oom:
	if (l)
		free(l->path);
	free(l);
	return tardis_make_error(err, ENOMEM, "save `%s`", c->path);
}

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

/* One entry's header, with its xattrs x. */
static int save_header_x(struct save_ctx *c, struct tar_item *it, const struct fdiff_xattrs *x,
			 tardis_error_t *err)
{
	it->path = c->path;
	it->xattrs = x->v;
	it->nxattrs = x->n;
	if (tar_write_header(&c->tar, it, err) < 0)
		return -1;
	c->st->entries++;
	return 0;
}

/* One entry's header, with the xattrs of name below dirfd. */
static int save_header(struct save_ctx *c, int dirfd, const char *name, struct tar_item *it,
		       tardis_error_t *err)
{
	struct fdiff_xattrs x;
	int ret;

	if (fdiff_xattrs_read(dirfd, name, &x) < 0)
		ret = tardis_make_error(err, errno, "read xattrs of `%s`", c->path);
	else
		ret = save_header_x(c, it, &x, err);
	fdiff_xattrs_free(&x);
	return ret;
}

/* The data extents of fd (SEEK_DATA / SEEK_HOLE) into c->ext: none for a
 * file without holes, one empty at size for a file of only a hole. */
static int find_extents(struct save_ctx *c, int fd, uint64_t size)
{
	off_t pos = 0;

	c->next = 0;
	while ((uint64_t)pos < size) {
		off_t d = lseek(fd, pos, SEEK_DATA), h;

		if ((d < 0 && errno == ENXIO) || (d >= 0 && (uint64_t)d >= size))
			break;
		if (d < 0 && (errno == EINVAL || errno == ENOTSUP)) {
			c->next = 0; /* no hole detection here: all data */
			return 0;
		}
		h = d < 0 ? -1 : lseek(fd, d, SEEK_HOLE);
		if (h < 0)
			return -1;
		if ((uint64_t)h > size)
			h = (off_t)size;
		if (grow_array(&c->ext, &c->ext_cap, c->next + 1, sizeof(*c->ext)) < 0)
			return -1;
		c->ext[c->next++] = (struct fdiff_extent){ (uint64_t)d, (uint64_t)(h - d) };
		pos = h;
	}
	if (c->next == 1 && c->ext[0].offset == 0 && c->ext[0].length == size) {
		c->next = 0;
	} else if (c->next == 0 && size > 0) {
		if (grow_array(&c->ext, &c->ext_cap, 1, sizeof(*c->ext)) < 0)
			return -1;
		c->ext[c->next++] = (struct fdiff_extent){ size, 0 };
	}
	return 0;
}

/* len bytes of fd from off into the archive. */
static int save_range(struct save_ctx *c, int fd, uint64_t off, uint64_t len, tardis_error_t *err)
{
	while (len) {
		ssize_t r = pread(fd, c->buf, len < COPY_BUF ? (size_t)len : COPY_BUF, (off_t)off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return tardis_make_error(err, errno, "read `%s`", c->path);
		if (r == 0)
			return tardis_make_error(err, EAGAIN, "`%s` shrank while saving", c->path);
		if (tar_write_data(&c->tar, c->buf, (size_t)r, err) < 0)
			return -1;
		off += (uint64_t)r;
		len -= (uint64_t)r;
		c->st->bytes += (uint64_t)r;
	}
	return 0;
}

/* A regular file's entry and data.  Its xattrs are listed once, on the
 * open file (overlay's own say whether it is a metacopy or a whiteout);
 * its holes are looked for only when it has fewer blocks than bytes
 * (10,000 small files: 4 system calls each fewer). */
static int save_file_fd(struct save_ctx *c, int fd, struct fdiff_xattrs *x, tardis_error_t *err)
{
	struct stat st;
	uint64_t pos = 0, size;
	struct tar_item it = { .type = FILEDIFF_REG, .st = &st };

	if (fstat(fd, &st) < 0)
		return tardis_make_error(err, errno, "stat `%s`", c->path);
	if (!S_ISREG(st.st_mode))
		return tardis_make_error(err, EAGAIN, "`%s` changed type while saving", c->path);
	if (fdiff_xattrs_read_fd(fd, x) < 0)
		return tardis_make_error(err, errno, "read xattrs of `%s`", c->path);
	if (fdiff_xattrs_has(x, "trusted.overlay.metacopy"))
		return tardis_make_error(err, ENOTSUP,
					 "`%s` is a metacopy (its data is in a lower layer): "
					 "overlay metacopy=on is not supported",
					 c->path);
	/* An "xwhiteout": a whiteout made as a file where devices cannot be. */
	if (st.st_size == 0 && fdiff_xattrs_has(x, "trusted.overlay.whiteout"))
		return save_deletion(c, FILEDIFF_WHITEOUT, err);
	size = (uint64_t)st.st_size;
	c->next = 0;
	if ((uint64_t)st.st_blocks * 512 < size && find_extents(c, fd, size) < 0)
		return tardis_make_error(err, errno, "find the data of `%s`", c->path);
	it.size = size;
	it.extents = c->ext;
	it.nextents = c->next;
	if (save_header_x(c, &it, x, err) < 0)
		return -1;
	if (!c->next)
		return save_range(c, fd, 0, size, err) < 0 ? -1 : link_remember(c, &st, err);
	for (size_t i = 0; i < c->next; i++) {
		if (tar_write_zeros(&c->tar, c->ext[i].offset - pos, err) < 0 ||
		    save_range(c, fd, c->ext[i].offset, c->ext[i].length, err) < 0)
			return -1;
		pos = c->ext[i].offset + c->ext[i].length;
	}
	return link_remember(c, &st, err);
}

static int save_file(struct save_ctx *c, int dirfd, const char *name, tardis_error_t *err)
{
	cleanup_close int fd = -1;
	struct fdiff_xattrs x = { 0 };
	int ret;

	fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return tardis_make_error(err, errno, "open `%s`", c->path);
	ret = save_file_fd(c, fd, &x, err);
	fdiff_xattrs_free(&x);
	return ret;
}

static int save_dir(struct save_ctx *c, int dirfd, tardis_error_t *err);

static int save_symlink(struct save_ctx *c, int dirfd, const char *name, const struct stat *st,
			tardis_error_t *err)
{
	char target[FILEDIFF_PATH_MAX + 2];
	struct tar_item it = { .type = FILEDIFF_SYMLINK, .st = st, .linkpath = target };
	ssize_t n = readlinkat(dirfd, name, target, sizeof(target));

	if (n < 0)
		return tardis_make_error(err, errno, "readlink `%s`", c->path);
	if (n == 0 || (size_t)n > FILEDIFF_PATH_MAX)
		return tardis_make_error(err, ENAMETOOLONG, "target of symlink `%s`", c->path);
	target[n] = '\0';
	return save_header(c, dirfd, name, &it, err);
}

static int save_subdir(struct save_ctx *c, int dirfd, const char *name, int unchanged,
		       tardis_error_t *err)
{
	cleanup_close int fd = fdiff_open_dir_at(dirfd, name, c->dev);
	struct stat st;
	struct tar_item it = { .type = FILEDIFF_DIR, .st = &st };
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
	if (!unchanged && save_header(c, dirfd, name, &it, err) < 0)
		return -1;
	/* "x" marks a directory holding xwhiteouts, not an opaque one. */
	n = xattr_get(fd, "trusted.overlay.opaque", v, sizeof(v));
	if (n == 1 && v[0] == 'y') {
		if (save_deletion(c, FILEDIFF_OPAQUE, err) < 0)
			return -1;
	}
	return save_dir(c, fd, err);
}

static int save_entry(struct save_ctx *c, int dirfd, const char *name, tardis_error_t *err)
{
	struct stat st;
	struct tar_item it = { .st = &st };
	int unchanged;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT)
			return 0;
		return tardis_make_error(err, errno, "stat `%s`", c->path);
	}
	if (!c->base && S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0)) {
		return save_deletion(c, FILEDIFF_WHITEOUT, err);
	}
	if (st.st_dev != c->dev || S_ISSOCK(st.st_mode)) {
		c->st->skipped++;
		return 0;
	}
	/* Against a baseline, only what is new or changed is saved; a
	 * directory is walked all the same. */
	unchanged = c->base && baseline_same(c->base, c->path, &st);
	if (unchanged && !S_ISDIR(st.st_mode))
		return 0;
	/* A later name of an inode already saved. */
	it.linkpath = link_find(c, &st);
	if (it.linkpath) {
		it.type = FILEDIFF_HARDLINK;
		c->st->hardlinks++;
		it.path = c->path;
		c->st->entries++;
		return tar_write_header(&c->tar, &it, err);
	}
	if (S_ISREG(st.st_mode))
		return save_file(c, dirfd, name, err);
	if (S_ISLNK(st.st_mode))
		return save_symlink(c, dirfd, name, &st, err);
	if (S_ISDIR(st.st_mode))
		return save_subdir(c, dirfd, name, unchanged, err);
	it.type = S_ISFIFO(st.st_mode) ? FILEDIFF_FIFO
		  : S_ISCHR(st.st_mode) ? FILEDIFF_CHR
					: FILEDIFF_BLK;
	if (save_header(c, dirfd, name, &it, err) < 0)
		return -1;
	return link_remember(c, &st, err);
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
	if (tar_writer_open(&c->tar, c->tar_fd, FILEDIFF_TAR, err) < 0)
		return -1;
	c->del.fd = create_out(out_dirfd, FILEDIFF_DELETED, err);
	if (c->del.fd < 0)
		return -1;
	/* Not synced here: both files are the image's, made durable with
	 * all of its files by the seal that follows (image_seal: one syncfs,
	 * or an fsync each) and their names by the publish's fsync of the
	 * directory -- 3 syncs less, ~0.7 ms of every checkpoint. */
	if (save_dir(c, rootfd, err) < 0 ||
	    (c->base && baseline_foreach_gone(c->base, save_gone, c, err) < 0) ||
	    tar_write_finish(&c->tar, err) < 0 || fdiff_bufw_flush(&c->del, err) < 0)
		return -1;
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
	c->buf = malloc(COPY_BUF);
	ret = c->buf ? save_walk(c, rootfd, out_dirfd, err)
		     : tardis_make_error(err, ENOMEM, "save `%s`", root);
	tar_writer_free(&c->tar);
	tdestroy(c->links, free_link);
	free(c->ext);
	free(c->buf);
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
