#include "filediff.h"
#include "cleanup.h"
#include "crashpoint.h"
#include "log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <search.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#define BLOCK 512
#define COPY_BUF (128 * 1024)
#define PAX_MAX (1024 * 1024)
/* A journal line: keyword, numbers, and an escaped path (2 bytes per byte). */
#define LINE_MAX_LEN (2 * FILEDIFF_PATH_MAX + 128)

int filediff_test_kill_after;

static void test_point(void)
{
	if (filediff_test_kill_after > 0 && --filediff_test_kill_after == 0)
		raise(SIGKILL);
	crash_point("filediff-step");
}

/* ------------------------------------------------------------------ */
/* Paths                                                              */

/* Checks a relative path: not empty, not absolute, no empty, `.` or `..`
 * component, no NUL, no component longer than NAME_MAX. */
static int path_check(const char *p, size_t len)
{
	size_t start = 0;

	if (len == 0 || len > FILEDIFF_PATH_MAX || p[0] == '/' || memchr(p, '\0', len))
		return -1;
	for (size_t i = 0; i <= len; i++) {
		size_t n;

		if (i < len && p[i] != '/')
			continue;
		n = i - start;
		if (n == 0 || n > NAME_MAX || (n == 1 && p[start] == '.') ||
		    (n == 2 && p[start] == '.' && p[start + 1] == '.'))
			return -1;
		start = i + 1;
	}
	return 0;
}

/* Escapes `\` and newline; out holds 2 * strlen(in) + 1 bytes. */
static size_t escape_path(const char *in, char *out)
{
	size_t n = 0;

	for (; *in; in++) {
		if (*in == '\\') {
			out[n++] = '\\';
			out[n++] = '\\';
		} else if (*in == '\n') {
			out[n++] = '\\';
			out[n++] = 'n';
		} else {
			out[n++] = *in;
		}
	}
	out[n] = '\0';
	return n;
}

/* Unescapes len bytes into out (FILEDIFF_PATH_MAX + 1 bytes); -1 if bad. */
static int unescape_path(const char *in, size_t len, char *out)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		char ch = in[i];

		if (ch == '\0' || ch == '\n')
			return -1;
		if (ch == '\\') {
			if (++i == len)
				return -1;
			if (in[i] == '\\')
				ch = '\\';
			else if (in[i] == 'n')
				ch = '\n';
			else
				return -1;
		}
		if (n >= FILEDIFF_PATH_MAX)
			return -1;
		out[n++] = ch;
	}
	out[n] = '\0';
	return 0;
}

/* "a/b/c" -> "a/b", "c" -> "" (the root); out holds FILEDIFF_PATH_MAX + 1. */
static const char *parent_path(const char *path, char *out)
{
	const char *slash = strrchr(path, '/');
	size_t n = slash ? (size_t)(slash - path) : 0;

	memcpy(out, path, n);
	out[n] = '\0';
	return out;
}

static int join_path(char *out, const char *dir, const char *name)
{
	int n = snprintf(out, FILEDIFF_PATH_MAX + 1, "%s%s%s", dir, *dir ? "/" : "", name);

	return n < 0 || n > FILEDIFF_PATH_MAX ? -1 : 0;
}

/* Opens directory name below dirfd without following a symlink or leaving
 * the filesystem dev.  Returns the fd or -errno: ELOOP for a symlink,
 * ENOTDIR for another non-directory, EXDEV for a mount point. */
static int open_dir_at(int dirfd, const char *name, dev_t dev)
{
	struct stat st;
	int fd, e;

	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		e = errno;
		if (e == ENOTDIR || e == ELOOP)
			e = fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
					    S_ISLNK(st.st_mode) ?
				    ELOOP :
				    ENOTDIR;
		return -e;
	}
	if (fstat(fd, &st) < 0) {
		e = errno;
		close(fd);
		return -e;
	}
	if (st.st_dev != dev) {
		close(fd);
		return -EXDEV;
	}
	return fd;
}

static const char *resolve_strerror(int e)
{
	switch (e) {
	case ELOOP:
		return "is a symlink, refusing to follow it";
	case ENOTDIR:
		return "is not a directory";
	case EXDEV:
		return "is a mount point, refusing to cross it";
	default:
		return strerror(e);
	}
}

/* Opens the directory holding path's last component, walking from rootfd
 * one component at a time; *name points at the last component.  Returns
 * the fd or -errno (see open_dir_at); *bad names the failing component. */
static int open_parent(int rootfd, dev_t dev, const char *path, const char **name, char *bad)
{
	char buf[FILEDIFF_PATH_MAX + 1];
	const char *slash = strrchr(path, '/');
	char *comp, *next;
	int fd;

	bad[0] = '\0';
	*name = slash ? slash + 1 : path;
	fd = fcntl(rootfd, F_DUPFD_CLOEXEC, 3);
	if (fd < 0 || !slash)
		return fd < 0 ? -errno : fd;
	memcpy(buf, path, slash - path);
	buf[slash - path] = '\0';
	for (comp = buf; comp; comp = next) {
		int sub;

		next = strchr(comp, '/');
		if (next)
			*next++ = '\0';
		sub = open_dir_at(fd, comp, dev);
		close(fd);
		if (sub < 0) {
			/* Name the prefix up to the failing component. */
			memcpy(bad, path, comp - buf + strlen(comp));
			bad[comp - buf + strlen(comp)] = '\0';
			return sub;
		}
		fd = sub;
	}
	return fd;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_names(char **names)
{
	if (!names)
		return;
	for (char **p = names; *p; p++)
		free(*p);
	free(names);
}

static void cleanup_namesp(char ***names)
{
	free_names(*names);
}

#define cleanup_names __attribute__((cleanup(cleanup_namesp)))

/* The names in directory fd (without . and ..), sorted; NULL-terminated. */
static int list_dir(int fd, char ***out, size_t *count)
{
	cleanup_dir DIR *d = NULL;
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	int dfd, e;

	*out = NULL;
	/* A fresh open file description: readdir must not share an offset. */
	dfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -1;
	d = fdopendir(dfd);
	if (!d) {
		e = errno;
		close(dfd);
		errno = e;
		return -1;
	}
	for (;;) {
		errno = 0;
		de = readdir(d);
		if (!de)
			break;
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (n + 2 > cap) {
			char **nn;

			cap = cap ? cap * 2 : 16;
			nn = realloc(names, cap * sizeof(*names));
			if (!nn)
				goto fail;
			names = nn;
		}
		names[n] = strdup(de->d_name);
		if (!names[n])
			goto fail;
		names[++n] = NULL;
	}
	if (errno)
		goto fail;
	if (n > 1)
		qsort(names, n, sizeof(*names), cmp_names);
	if (!names) {
		names = calloc(1, sizeof(*names));
		if (!names)
			goto fail;
	}
	*out = names;
	if (count)
		*count = n;
	return 0;
fail:
	e = errno ? errno : ENOMEM;
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	errno = e;
	return -1;
}

/* ------------------------------------------------------------------ */
/* Writing: files.tar and deleted.list                                */

struct bufw {
	int fd;
	const char *name;
	size_t n;
	char buf[65536];
};

static int bufw_flush(struct bufw *w, tardis_error_t *err)
{
	size_t off = 0;

	while (off < w->n) {
		ssize_t r = write(w->fd, w->buf + off, w->n - off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return tardis_make_error(err, r < 0 ? errno : EIO, "write `%s`", w->name);
		off += (size_t)r;
	}
	w->n = 0;
	return 0;
}

static int bufw_put(struct bufw *w, const void *data, size_t len, tardis_error_t *err)
{
	const char *p = data;

	while (len) {
		size_t n = sizeof(w->buf) - w->n;

		if (n > len)
			n = len;
		memcpy(w->buf + w->n, p, n);
		w->n += n;
		p += n;
		len -= n;
		if (w->n == sizeof(w->buf) && bufw_flush(w, err) < 0)
			return -1;
	}
	return 0;
}

static int bufw_zeros(struct bufw *w, size_t len, tardis_error_t *err)
{
	static const char zeros[BLOCK];

	while (len) {
		size_t n = len < BLOCK ? len : BLOCK;

		if (bufw_put(w, zeros, n, err) < 0)
			return -1;
		len -= n;
	}
	return 0;
}

static size_t pad_of(uint64_t size)
{
	return (size_t)((BLOCK - size % BLOCK) % BLOCK);
}

/* Octal, zero-padded, in width - 1 digits and a NUL; 0 if it does not fit
 * (the value then travels in a pax record). */
static void put_octal(char *field, size_t width, uint64_t v)
{
	if (width - 1 < 22 && v >> (3 * (width - 1)))
		v = 0;
	for (size_t i = width - 1; i-- > 0; v >>= 3)
		field[i] = (char)('0' + (v & 7));
	field[width - 1] = '\0';
}

static int fits_octal(uint64_t v, size_t width)
{
	return (v >> (3 * (width - 1))) == 0;
}

/* Appends one "len key=value\n" record; len counts itself. */
static int pax_add(char **buf, size_t *len, const char *key, const char *val, size_t vlen)
{
	size_t body = 1 + strlen(key) + 1 + vlen + 1, total = body + 1;
	char num[24], *nb;
	int digits;

	for (;;) {
		digits = snprintf(num, sizeof(num), "%zu", total);
		if (body + (size_t)digits == total)
			break;
		total = body + (size_t)digits;
	}
	nb = realloc(*buf, *len + total);
	if (!nb)
		return -1;
	*buf = nb;
	nb += *len;
	nb += sprintf(nb, "%s %s=", num, key);
	memcpy(nb, val, vlen);
	nb[vlen] = '\n';
	*len += total;
	return 0;
}

static int pax_add_num(char **buf, size_t *len, const char *key, int64_t v)
{
	char num[24];
	int n = snprintf(num, sizeof(num), "%" PRId64, v);

	return pax_add(buf, len, key, num, (size_t)n);
}

static void header_checksum(unsigned char *h)
{
	unsigned sum = 0;

	memset(h + 148, ' ', 8);
	for (int i = 0; i < BLOCK; i++)
		sum += h[i];
	snprintf((char *)h + 148, 8, "%06o", sum);
	h[155] = ' ';
}

static void header_fill(unsigned char *h, const char *name, char type, unsigned mode, uint64_t uid,
			uint64_t gid, uint64_t size, int64_t mtime, const char *linkpath)
{
	memset(h, 0, BLOCK);
	strncpy((char *)h, name, 100);
	put_octal((char *)h + 100, 8, mode);
	put_octal((char *)h + 108, 8, uid);
	put_octal((char *)h + 116, 8, gid);
	put_octal((char *)h + 124, 12, size);
	put_octal((char *)h + 136, 12, mtime < 0 ? 0 : (uint64_t)mtime);
	h[156] = (unsigned char)type;
	if (linkpath)
		strncpy((char *)h + 157, linkpath, 100);
	memcpy(h + 257, "ustar", 6);
	memcpy(h + 263, "00", 2);
	header_checksum(h);
}

/* Writes the header(s) of one entry: a pax 'x' header first when a value
 * does not fit the ustar fields. */
static int tar_header(struct bufw *w, const char *path, char type, const struct stat *st,
		      const char *linkpath, uint64_t size, tardis_error_t *err)
{
	cleanup_free char *pax = NULL;
	char name[FILEDIFF_PATH_MAX + 2];
	unsigned char h[BLOCK];
	size_t pax_len = 0;
	int64_t mtime = st->st_mtim.tv_sec;
	int fail = 0;

	snprintf(name, sizeof(name), "%s%s", path, type == '5' ? "/" : "");
	if (strlen(name) > 100)
		fail |= pax_add(&pax, &pax_len, "path", name, strlen(name));
	if (linkpath && strlen(linkpath) > 100)
		fail |= pax_add(&pax, &pax_len, "linkpath", linkpath, strlen(linkpath));
	if (!fits_octal(size, 12))
		fail |= pax_add_num(&pax, &pax_len, "size", (int64_t)size);
	if (!fits_octal(st->st_uid, 8))
		fail |= pax_add_num(&pax, &pax_len, "uid", st->st_uid);
	if (!fits_octal(st->st_gid, 8))
		fail |= pax_add_num(&pax, &pax_len, "gid", st->st_gid);
	if (mtime < 0 || !fits_octal((uint64_t)mtime, 12))
		fail |= pax_add_num(&pax, &pax_len, "mtime", mtime);
	if (fail)
		return tardis_make_error(err, ENOMEM, "pax header of `%s`", path);
	if (pax_len) {
		header_fill(h, "PaxHeader", 'x', 0644, 0, 0, pax_len, mtime, NULL);
		if (bufw_put(w, h, BLOCK, err) < 0 || bufw_put(w, pax, pax_len, err) < 0 ||
		    bufw_zeros(w, pad_of(pax_len), err) < 0)
			return -1;
	}
	header_fill(h, name, type, st->st_mode & 07777, st->st_uid, st->st_gid, size, mtime,
		    linkpath);
	return bufw_put(w, h, BLOCK, err);
}

struct save_ctx {
	struct bufw tar;
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

static int save_deletion(struct save_ctx *c, const char *kind, tardis_error_t *err)
{
	size_t n = escape_path(c->path, c->esc);

	if (bufw_put(&c->del, kind, strlen(kind), err) < 0 || bufw_put(&c->del, " ", 1, err) < 0 ||
	    bufw_put(&c->del, c->esc, n, err) < 0 || bufw_put(&c->del, "\n", 1, err) < 0)
		return -1;
	return 0;
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
		c->st->whiteouts++;
		return save_deletion(c, "whiteout", err);
	}
	if (tar_header(&c->tar, c->path, '0', &st, NULL, (uint64_t)st.st_size, err) < 0)
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
		if (bufw_put(&c->tar, buf, (size_t)r, err) < 0)
			return -1;
		left -= (uint64_t)r;
	}
	c->st->entries++;
	c->st->bytes += (uint64_t)st.st_size;
	return bufw_zeros(&c->tar, pad_of((uint64_t)st.st_size), err);
}

static int save_dir(struct save_ctx *c, int dirfd, tardis_error_t *err);

static int save_entry(struct save_ctx *c, int dirfd, const char *name, tardis_error_t *err)
{
	struct stat st;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT)
			return 0;
		return tardis_make_error(err, errno, "stat `%s`", c->path);
	}
	if (S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0)) {
		c->st->whiteouts++;
		return save_deletion(c, "whiteout", err);
	}
	if (st.st_dev != c->dev) {
		c->st->skipped++;
		return 0;
	}
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
		return tar_header(&c->tar, c->path, '2', &st, target, 0, err);
	}
	if (S_ISDIR(st.st_mode)) {
		cleanup_close int fd = open_dir_at(dirfd, name, c->dev);
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
		if (tar_header(&c->tar, c->path, '5', &st, NULL, 0, err) < 0)
			return -1;
		c->st->entries++;
		/* "x" marks a directory holding xwhiteouts, not an opaque one. */
		n = xattr_get(fd, "trusted.overlay.opaque", v, sizeof(v));
		if (n == 1 && v[0] == 'y') {
			c->st->opaques++;
			if (save_deletion(c, "opaque", err) < 0)
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

	if (list_dir(dirfd, &names, NULL) < 0)
		return tardis_make_error(err, errno, "list `%s`", base ? c->path : ".");
	for (char **p = names; *p; p++) {
		size_t n = strlen(*p), at = base;

		if (base + 1 + n > FILEDIFF_PATH_MAX)
			return tardis_make_error(err, ENAMETOOLONG, "path `%s/%s` is too long",
						 c->path, *p);
		if (base)
			c->path[at++] = '/';
		memcpy(c->path + at, *p, n + 1);
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

int filediff_save(const char *upperdir, int out_dirfd, struct filediff_stats *st,
		  tardis_error_t *err)
{
	cleanup_free struct save_ctx *c = NULL;
	cleanup_close int rootfd = -1;
	struct filediff_stats local;
	struct stat rst;
	int ret = -1;

	if (!st)
		st = &local;
	memset(st, 0, sizeof(*st));
	rootfd = open(upperdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return tardis_make_error(err, errno, "open upperdir `%s`", upperdir);
	if (fstat(rootfd, &rst) < 0)
		return tardis_make_error(err, errno, "stat upperdir `%s`", upperdir);
	c = calloc(1, sizeof(*c));
	if (!c)
		return tardis_make_error(err, ENOMEM, "save `%s`", upperdir);
	c->st = st;
	c->dev = rst.st_dev;
	c->tar.name = FILEDIFF_TAR;
	c->del.name = FILEDIFF_DELETED;
	c->tar.fd = create_out(out_dirfd, FILEDIFF_TAR, err);
	if (c->tar.fd < 0)
		return -1;
	c->del.fd = create_out(out_dirfd, FILEDIFF_DELETED, err);
	if (c->del.fd < 0)
		goto out;
	if (save_dir(c, rootfd, err) < 0 || bufw_zeros(&c->tar, 2 * BLOCK, err) < 0 ||
	    bufw_flush(&c->tar, err) < 0 || bufw_flush(&c->del, err) < 0)
		goto out;
	if (fsync(c->tar.fd) < 0 || fsync(c->del.fd) < 0 || fsync(out_dirfd) < 0) {
		tardis_make_error(err, errno, "fsync saved files");
		goto out;
	}
	ret = 0;
out:
	close(c->tar.fd);
	if (c->del.fd >= 0)
		close(c->del.fd);
	if (ret < 0) {
		unlinkat(out_dirfd, FILEDIFF_TAR, 0);
		if (c->del.fd >= 0)
			unlinkat(out_dirfd, FILEDIFF_DELETED, 0);
		tardis_error_wrap(err, "save files of `%s`", upperdir);
	}
	return ret;
}

/* ------------------------------------------------------------------ */
/* Reading: the parsers                                               */

/* A ustar numeric field: optional leading spaces, octal digits, then only
 * spaces or NULs.  Base-256 and empty fields are refused. */
static int parse_octal(const unsigned char *f, size_t width, uint64_t *out)
{
	uint64_t v = 0;
	size_t i = 0;
	int digits = 0;

	while (i < width && f[i] == ' ')
		i++;
	for (; i < width && f[i] >= '0' && f[i] <= '7'; i++, digits++) {
		if (v >> 61)
			return -1;
		v = v << 3 | (uint64_t)(f[i] - '0');
	}
	if (!digits)
		return -1;
	for (; i < width; i++)
		if (f[i] != ' ' && f[i] != '\0')
			return -1;
	*out = v;
	return 0;
}

/* A NUL-padded string field; whatever follows the first NUL must be NUL
 * too, so "ok\0../../x" is refused rather than silently cut. */
static int parse_str(const unsigned char *f, size_t width, char *out)
{
	size_t n = strnlen((const char *)f, width);

	for (size_t i = n; i < width; i++)
		if (f[i])
			return -1;
	memcpy(out, f, n);
	out[n] = '\0';
	return (int)n;
}

static int parse_dec(const char *p, size_t len, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (len == 0 || len > 20)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		if (v > (UINT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (uint64_t)(p[i] - '0');
	}
	if (v > max)
		return -1;
	*out = v;
	return 0;
}

struct pax {
	int has_path, has_linkpath, has_size, has_uid, has_gid, has_mtime;
	uint64_t size, uid, gid;
	int64_t mtime_sec;
	uint32_t mtime_nsec;
	char path[FILEDIFF_PATH_MAX + 1];
	char linkpath[FILEDIFF_PATH_MAX + 1];
};

/* "[-]sec[.frac]"; the fraction is kept to nanoseconds. */
static int parse_pax_time(const char *p, size_t len, int64_t *sec, uint32_t *nsec)
{
	const char *dot = memchr(p, '.', len);
	size_t ilen = dot ? (size_t)(dot - p) : len;
	int neg = ilen && p[0] == '-';
	uint64_t v, frac = 0;
	size_t flen = dot ? len - ilen - 1 : 0;

	if (parse_dec(p + neg, ilen - neg, INT64_MAX, &v) < 0)
		return -1;
	if (dot && flen == 0)
		return -1;
	for (size_t i = 0; i < flen; i++) {
		char ch = dot[1 + i];

		if (ch < '0' || ch > '9')
			return -1;
		if (i < 9)
			frac = frac * 10 + (uint64_t)(ch - '0');
	}
	for (size_t i = flen; i < 9; i++)
		frac *= 10;
	/* -1.25 is 1.25 s before the epoch: second -2, 0.75 s into it. */
	if (neg) {
		*sec = -(int64_t)v - (frac ? 1 : 0);
		*nsec = frac ? (uint32_t)(1000000000 - frac) : 0;
	} else {
		*sec = (int64_t)v;
		*nsec = (uint32_t)frac;
	}
	return 0;
}

static int parse_pax(const char *p, size_t len, struct pax *px, tardis_error_t *err)
{
	while (len) {
		const char *sp = memchr(p, ' ', len < 24 ? len : 24), *key, *eq, *val;
		uint64_t rlen;
		size_t klen, vlen;

		if (!sp || parse_dec(p, (size_t)(sp - p), len, &rlen) < 0 ||
		    rlen < (uint64_t)(sp - p) + 4 || p[rlen - 1] != '\n')
			return tardis_make_error(err, EINVAL, "malformed pax record");
		key = sp + 1;
		eq = memchr(key, '=', (size_t)(p + rlen - 1 - key));
		if (!eq || eq == key)
			return tardis_make_error(err, EINVAL, "malformed pax record");
		klen = (size_t)(eq - key);
		val = eq + 1;
		vlen = (size_t)(p + rlen - 1 - val);
#define KEY(k) (klen == sizeof(k) - 1 && memcmp(key, k, klen) == 0)
		if (KEY("path") || KEY("linkpath")) {
			char *dst = KEY("path") ? px->path : px->linkpath;

			if (vlen == 0 || vlen > FILEDIFF_PATH_MAX || memchr(val, '\0', vlen))
				return tardis_make_error(err, EINVAL, "bad pax %.*s", (int)klen, key);
			memcpy(dst, val, vlen);
			dst[vlen] = '\0';
			*(KEY("path") ? &px->has_path : &px->has_linkpath) = 1;
		} else if (KEY("size")) {
			if (parse_dec(val, vlen, INT64_MAX, &px->size) < 0)
				return tardis_make_error(err, EINVAL, "bad pax size");
			px->has_size = 1;
		} else if (KEY("uid") || KEY("gid")) {
			uint64_t *dst = KEY("uid") ? &px->uid : &px->gid;

			/* (uid_t)-1 would mean "unchanged" to chown. */
			if (parse_dec(val, vlen, UINT32_MAX - 1, dst) < 0)
				return tardis_make_error(err, EINVAL, "bad pax %.*s", (int)klen, key);
			*(KEY("uid") ? &px->has_uid : &px->has_gid) = 1;
		} else if (KEY("mtime")) {
			if (parse_pax_time(val, vlen, &px->mtime_sec, &px->mtime_nsec) < 0)
				return tardis_make_error(err, EINVAL, "bad pax mtime");
			px->has_mtime = 1;
		}
#undef KEY
		/* Other keys (atime, ctime, comments, vendor ones) do not matter. */
		p += rlen;
		len -= (size_t)rlen;
	}
	return 0;
}

static int all_zero(const unsigned char *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i])
			return 0;
	return 1;
}

struct tar_scratch {
	struct pax px;
	char path[FILEDIFF_PATH_MAX + 2 + 256];
	char linkpath[FILEDIFF_PATH_MAX + 1];
};

/* Decodes the header at h (whose data may follow); e's strings point into s. */
static int tar_entry(const unsigned char *h, uint64_t size, const struct pax *px, int have_pax,
		     struct tar_scratch *s, struct filediff_entry *e, tardis_error_t *err)
{
	char prefix[156];
	uint64_t v;
	size_t n;
	int ln;

	memset(e, 0, sizeof(*e));
	switch (h[156]) {
	case '0':
	case '\0':
		e->type = FILEDIFF_REG;
		break;
	case '5':
		e->type = FILEDIFF_DIR;
		break;
	case '2':
		e->type = FILEDIFF_SYMLINK;
		break;
	default:
		if (h[156] >= 0x20 && h[156] < 0x7f)
			return tardis_make_error(err, EINVAL, "unsupported entry type '%c'", h[156]);
		return tardis_make_error(err, EINVAL, "unsupported entry type 0x%02x", h[156]);
	}
	if (have_pax && px->has_path) {
		strcpy(s->path, px->path);
	} else {
		ln = parse_str(h + 345, 155, prefix);
		if (ln < 0 || parse_str(h, 100, s->path) < 0)
			return tardis_make_error(err, EINVAL, "bad name field");
		if (ln > 0) {
			size_t nl = strlen(s->path);

			memmove(s->path + ln + 1, s->path, nl + 1);
			memcpy(s->path, prefix, (size_t)ln);
			s->path[ln] = '/';
		}
	}
	/* A directory's name ends in '/' (once). */
	n = strlen(s->path);
	if (n > 1 && s->path[n - 1] == '/' && e->type == FILEDIFF_DIR)
		s->path[--n] = '\0';
	if (path_check(s->path, n) < 0)
		return tardis_make_error(err, EINVAL, "unsafe or invalid path `%.*s`",
					 (int)(n > 200 ? 200 : n), s->path);
	e->path = s->path;
	if (parse_octal(h + 100, 8, &v) < 0 || v > 07777)
		return tardis_make_error(err, EINVAL, "bad mode of `%s`", e->path);
	e->mode = (unsigned)v;
	if (have_pax && px->has_uid)
		v = px->uid;
	else if (parse_octal(h + 108, 8, &v) < 0)
		return tardis_make_error(err, EINVAL, "bad uid of `%s`", e->path);
	e->uid = (uint32_t)v;
	if (have_pax && px->has_gid)
		v = px->gid;
	else if (parse_octal(h + 116, 8, &v) < 0)
		return tardis_make_error(err, EINVAL, "bad gid of `%s`", e->path);
	e->gid = (uint32_t)v;
	if (have_pax && px->has_mtime) {
		e->mtime_sec = px->mtime_sec;
		e->mtime_nsec = px->mtime_nsec;
	} else {
		if (parse_octal(h + 136, 12, &v) < 0)
			return tardis_make_error(err, EINVAL, "bad mtime of `%s`", e->path);
		e->mtime_sec = (int64_t)v;
	}
	e->size = size;
	if (e->type != FILEDIFF_REG && size != 0)
		return tardis_make_error(err, EINVAL, "non-file `%s` has data", e->path);
	if (e->type == FILEDIFF_SYMLINK) {
		if (have_pax && px->has_linkpath)
			strcpy(s->linkpath, px->linkpath);
		else if (parse_str(h + 157, 100, s->linkpath) < 0)
			return tardis_make_error(err, EINVAL, "bad link name of `%s`", e->path);
		if (!s->linkpath[0])
			return tardis_make_error(err, EINVAL, "symlink `%s` has no target", e->path);
		e->linkpath = s->linkpath;
	}
	return 0;
}

int filediff_tar_foreach(const void *buf, size_t len, filediff_entry_fn fn, void *arg,
			 tardis_error_t *err)
{
	cleanup_free struct tar_scratch *s = NULL;
	const unsigned char *b = buf;
	int have_pax = 0;
	size_t off = 0;

	s = calloc(1, sizeof(*s));
	if (!s)
		return tardis_make_error(err, ENOMEM, "tar");
	for (;;) {
		const unsigned char *h;
		struct filediff_entry e;
		uint64_t size, sum;
		unsigned calc = 0;
		size_t padded;

		if (len - off < BLOCK)
			return tardis_make_error(err, EINVAL, "tar truncated at byte %zu", off);
		h = b + off;
		if (all_zero(h, BLOCK)) {
			if (have_pax)
				return tardis_make_error(err, EINVAL, "pax header without entry");
			if (len - off < 2 * BLOCK || !all_zero(h + BLOCK, BLOCK))
				return tardis_make_error(err, EINVAL,
							 "tar truncated: incomplete end marker");
			if (!all_zero(h + 2 * BLOCK, len - off - 2 * BLOCK))
				return tardis_make_error(err, EINVAL, "data after the tar's end");
			return 0;
		}
		for (int i = 0; i < BLOCK; i++)
			calc += (i >= 148 && i < 156) ? ' ' : h[i];
		if (parse_octal(h + 148, 8, &sum) < 0 || sum != calc)
			return tardis_make_error(err, EINVAL, "bad tar header checksum at byte %zu",
						 off);
		if (memcmp(h + 257, "ustar", 6) != 0 || memcmp(h + 263, "00", 2) != 0)
			return tardis_make_error(err, EINVAL, "not a POSIX ustar header at byte %zu",
						 off);
		if (have_pax && s->px.has_size)
			size = s->px.size;
		else if (parse_octal(h + 124, 12, &size) < 0)
			return tardis_make_error(err, EINVAL, "bad size at byte %zu", off);
		off += BLOCK;
		if (size > len - off || size > SIZE_MAX - BLOCK)
			return tardis_make_error(err, EINVAL, "tar truncated in entry at byte %zu",
						 off - BLOCK);
		padded = (size_t)size + pad_of(size);
		if (padded > len - off)
			return tardis_make_error(err, EINVAL, "tar truncated in entry at byte %zu",
						 off - BLOCK);
		if (h[156] == 'x') {
			if (have_pax)
				return tardis_make_error(err, EINVAL, "two pax headers in a row");
			if (size > PAX_MAX)
				return tardis_make_error(err, EINVAL, "pax header too large");
			memset(&s->px, 0, sizeof(s->px));
			if (parse_pax((const char *)b + off, (size_t)size, &s->px, err) < 0)
				return tardis_error_wrap(err, "tar header at byte %zu", off - BLOCK);
			have_pax = 1;
			off += padded;
			continue;
		}
		if (tar_entry(h, size, &s->px, have_pax, s, &e, err) < 0)
			return tardis_error_wrap(err, "tar header at byte %zu", off - BLOCK);
		if (e.type == FILEDIFF_REG)
			e.data = b + off;
		if (fn && fn(&e, arg, err) < 0)
			return -1;
		have_pax = 0;
		off += padded;
	}
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
		if (unescape_path(rest, (size_t)(nl - rest), path) < 0 ||
		    path_check(path, strlen(path)) < 0)
			return tardis_make_error(err, EINVAL,
						 "deleted.list line %u: unsafe or invalid path", line);
		if (fn && fn(kind, path, arg, err) < 0)
			return -1;
		p = nl + 1;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Copying and removing trees (never following symlinks)              */

static int io_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t w = write(fd, p, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			if (w == 0)
				errno = EIO;
			return -1;
		}
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

static int copy_data(int src, int dst, char *buf)
{
	for (;;) {
		ssize_t r = read(src, buf, COPY_BUF);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			return 0;
		if (io_all(dst, buf, (size_t)r) < 0)
			return -1;
	}
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
static int copy_tree(int sfd, const char *sname, int dfd, const char *dname, dev_t sdev,
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
		cleanup_close int s = open_dir_at(sfd, sname, sdev);
		cleanup_close int d = -1;

		if (s < 0)
			return tardis_make_error(err, -s, "open directory `%s`", sname);
		if (mkdirat(dfd, dname, 0700) < 0)
			return tardis_make_error(err, errno, "mkdir `%s`", dname);
		d = openat(dfd, dname, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (d < 0)
			return tardis_make_error(err, errno, "open directory `%s`", dname);
		if (list_dir(s, &names, NULL) < 0)
			return tardis_make_error(err, errno, "list `%s`", sname);
		for (char **p = names; *p; p++)
			if (copy_tree(s, *p, d, *p, sdev, durable, buf, err) < 0)
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
		    (!S_ISLNK(st.st_mode) && fchmodat(dfd, dname, st.st_mode & 07777, 0) < 0) ||
		    utimensat(dfd, dname, ts, AT_SYMLINK_NOFOLLOW) < 0)
			return tardis_make_error(err, errno, "set owner of `%s`", dname);
		return 0;
	}
}

/* rm -rf name below pfd, without following symlinks or crossing mounts. */
static int remove_tree(int pfd, const char *name, dev_t dev, tardis_error_t *err)
{
	struct stat st;

	if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : tardis_make_error(err, errno, "stat `%s`", name);
	if (S_ISDIR(st.st_mode)) {
		cleanup_names char **names = NULL;
		cleanup_close int fd = open_dir_at(pfd, name, dev);

		if (fd == -ENOENT)
			return 0;
		if (fd < 0)
			return tardis_make_error(err, -fd, "open directory `%s`", name);
		if (list_dir(fd, &names, NULL) < 0)
			return tardis_make_error(err, errno, "list `%s`", name);
		for (char **p = names; *p; p++)
			if (remove_tree(fd, *p, dev, err) < 0)
				return tardis_error_wrap(err, "in `%s`", name);
		if (unlinkat(pfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
			return tardis_make_error(err, errno, "remove directory `%s`", name);
		return 0;
	}
	if (unlinkat(pfd, name, 0) < 0 && errno != ENOENT)
		return tardis_make_error(err, errno, "remove `%s`", name);
	return 0;
}

/* Backups are b<n> (complete) and b<n>.tmp (being copied). */
static int is_backup_name(const char *n)
{
	const char *p = n + 1;

	if (n[0] != 'b' || !(*p >= '0' && *p <= '9'))
		return 0;
	while (*p >= '0' && *p <= '9')
		p++;
	return *p == '\0' || strcmp(p, ".tmp") == 0;
}

static int clear_backups(int bfd, tardis_error_t *err)
{
	cleanup_names char **names = NULL;
	struct stat st;

	if (fstat(bfd, &st) < 0 || list_dir(bfd, &names, NULL) < 0)
		return tardis_make_error(err, errno, "list backup directory");
	for (char **p = names; *p; p++)
		if (is_backup_name(*p) && remove_tree(bfd, *p, st.st_dev, err) < 0)
			return tardis_error_wrap(err, "remove old backup");
	if (fsync(bfd) < 0)
		return tardis_make_error(err, errno, "fsync backup directory");
	return 0;
}

/* ------------------------------------------------------------------ */
/* Applying, journaled                                                */

struct dir_time {
	char *path;
	struct timespec mtime;
};

struct apply_ctx {
	int rootfd;
	dev_t dev;
	int bfd;
	int jfd;
	unsigned next_backup;
	void *noted; /* directories whose original metadata is journaled, or ours */
	struct dir_time *dirs;
	size_t ndirs, cap;
	char *buf;
	char line[LINE_MAX_LEN + 64];
	char bad[FILEDIFF_PATH_MAX + 1];
};

static int cmp_str(const void *a, const void *b)
{
	return strcmp(a, b);
}

static int resolve_error(tardis_error_t *err, int e, const char *path, const char *bad)
{
	int had = err && *err;

	tardis_make_error(err, 0, "`%s`: `%s` %s", path, bad[0] ? bad : path,
			  resolve_strerror(e));
	if (!had && err && *err)
		(*err)->errnum = e;
	return -1;
}

static int journal_add(struct apply_ctx *c, const char *head, const char *path,
		       tardis_error_t *err)
{
	size_t n = strlen(head);

	memcpy(c->line, head, n);
	c->line[n++] = ' ';
	if (*path)
		n += escape_path(path, c->line + n);
	else
		c->line[n++] = '.';
	c->line[n++] = '\n';
	if (io_all(c->jfd, c->line, n) < 0 || fdatasync(c->jfd) < 0)
		return tardis_make_error(err, errno, "append to journal");
	test_point();
	return 0;
}

static int mark(struct apply_ctx *c, const char *path)
{
	char *key = strdup(path);
	void *node;

	if (!key)
		return -1;
	node = tsearch(key, &c->noted, cmp_str);
	if (!node) {
		free(key);
		return -1;
	}
	if (*(char **)node != key)
		free(key);
	return 0;
}

/* Journals a directory's metadata the first time it (or its list of
 * entries) is about to change. */
static int note_dir(struct apply_ctx *c, const char *path, const struct stat *st,
		    tardis_error_t *err)
{
	char head[128];

	if (tfind(path, &c->noted, cmp_str))
		return 0;
	snprintf(head, sizeof(head), "meta %o %u %u %lld %ld", (unsigned)(st->st_mode & 07777),
		 (unsigned)st->st_uid, (unsigned)st->st_gid, (long long)st->st_mtim.tv_sec,
		 (long)st->st_mtim.tv_nsec);
	if (journal_add(c, head, path, err) < 0)
		return -1;
	if (mark(c, path) < 0)
		return tardis_make_error(err, ENOMEM, "apply");
	return 0;
}

static int touch_parent(struct apply_ctx *c, const char *path, int pfd, tardis_error_t *err)
{
	char parent[FILEDIFF_PATH_MAX + 1];
	struct stat st;

	parent_path(path, parent);
	if (tfind(parent, &c->noted, cmp_str))
		return 0;
	if (fstat(pfd, &st) < 0)
		return tardis_make_error(err, errno, "stat parent of `%s`", path);
	return note_dir(c, parent, &st, err);
}

/* Copies the original into the backup directory (complete and durable
 * before anything is removed), then removes it. */
static int backup_and_remove(struct apply_ctx *c, int pfd, const char *name, const char *path,
			     tardis_error_t *err)
{
	unsigned n = c->next_backup++;
	char head[32], bname[32], tmp[40];

	snprintf(head, sizeof(head), "backup %u", n);
	snprintf(bname, sizeof(bname), "b%u", n);
	snprintf(tmp, sizeof(tmp), "b%u.tmp", n);
	if (journal_add(c, head, path, err) < 0)
		return -1;
	if (copy_tree(pfd, name, c->bfd, tmp, c->dev, 1, c->buf, err) < 0)
		return tardis_error_wrap(err, "back up `%s`", path);
	if (renameat(c->bfd, tmp, c->bfd, bname) < 0 || fsync(c->bfd) < 0)
		return tardis_make_error(err, errno, "back up `%s`", path);
	test_point();
	if (remove_tree(pfd, name, c->dev, err) < 0)
		return tardis_error_wrap(err, "remove `%s`", path);
	test_point();
	return 0;
}

static int apply_deletion(enum filediff_deletion kind, const char *path, void *arg,
			  tardis_error_t *err)
{
	struct apply_ctx *c = arg;
	cleanup_close int pfd = -1;
	const char *name;
	struct stat st;

	pfd = open_parent(c->rootfd, c->dev, path, &name, c->bad);
	if (pfd == -ENOENT || pfd == -ENOTDIR)
		return 0; /* nothing can be there */
	if (pfd < 0)
		return resolve_error(err, -pfd, path, c->bad);
	if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : tardis_make_error(err, errno, "stat `%s`", path);
	if (kind == FILEDIFF_OPAQUE && S_ISDIR(st.st_mode)) {
		cleanup_names char **names = NULL;
		cleanup_close int fd = open_dir_at(pfd, name, c->dev);
		char child[FILEDIFF_PATH_MAX + 1];

		if (fd < 0)
			return resolve_error(err, -fd, path, path);
		if (fstat(fd, &st) < 0 || list_dir(fd, &names, NULL) < 0)
			return tardis_make_error(err, errno, "list `%s`", path);
		if (note_dir(c, path, &st, err) < 0)
			return -1;
		for (char **p = names; *p; p++) {
			if (join_path(child, path, *p) < 0)
				return tardis_make_error(err, ENAMETOOLONG, "`%s/%s`", path, *p);
			if (backup_and_remove(c, fd, *p, child, err) < 0)
				return -1;
		}
		return 0;
	}
	if (touch_parent(c, path, pfd, err) < 0)
		return -1;
	return backup_and_remove(c, pfd, name, path, err);
}

static int defer_dir_time(struct apply_ctx *c, const struct filediff_entry *e)
{
	if (c->ndirs == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 64;
		struct dir_time *d = realloc(c->dirs, cap * sizeof(*d));

		if (!d)
			return -1;
		c->dirs = d;
		c->cap = cap;
	}
	c->dirs[c->ndirs].path = strdup(e->path);
	if (!c->dirs[c->ndirs].path)
		return -1;
	c->dirs[c->ndirs].mtime.tv_sec = (time_t)e->mtime_sec;
	c->dirs[c->ndirs].mtime.tv_nsec = e->mtime_nsec;
	c->ndirs++;
	return 0;
}

static int write_file(struct apply_ctx *c, int pfd, const char *name,
		      const struct filediff_entry *e, tardis_error_t *err)
{
	struct timespec ts[2] = { { 0, UTIME_OMIT },
				  { (time_t)e->mtime_sec, (long)e->mtime_nsec } };
	cleanup_close int fd = -1;
	const char *p = e->data;
	uint64_t left = e->size;

	fd = openat(pfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return tardis_make_error(err, errno, "create `%s`", e->path);
	test_point();
	while (left) {
		size_t n = left > (1u << 30) ? (1u << 30) : (size_t)left;

		if (io_all(fd, p, n) < 0)
			return tardis_make_error(err, errno, "write `%s`", e->path);
		p += n;
		left -= n;
	}
	if (fchown(fd, e->uid, e->gid) < 0 || fchmod(fd, e->mode) < 0 || futimens(fd, ts) < 0)
		return tardis_make_error(err, errno, "set owner, mode and time of `%s`", e->path);
	test_point();
	return 0;
}

static int apply_entry(const struct filediff_entry *e, void *arg, tardis_error_t *err)
{
	struct apply_ctx *c = arg;
	cleanup_close int pfd = -1;
	const char *name;
	struct stat st;
	int exists;

	pfd = open_parent(c->rootfd, c->dev, e->path, &name, c->bad);
	if (pfd < 0)
		return resolve_error(err, -pfd, e->path, c->bad);
	exists = fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
	if (!exists && errno != ENOENT)
		return tardis_make_error(err, errno, "stat `%s`", e->path);

	if (exists && e->type == FILEDIFF_DIR && S_ISDIR(st.st_mode)) {
		cleanup_close int fd = open_dir_at(pfd, name, c->dev);

		if (fd < 0)
			return resolve_error(err, -fd, e->path, e->path);
		if (note_dir(c, e->path, &st, err) < 0)
			return -1;
		if (fchown(fd, e->uid, e->gid) < 0 || fchmod(fd, e->mode) < 0)
			return tardis_make_error(err, errno, "set owner and mode of `%s`", e->path);
		return defer_dir_time(c, e) < 0 ? tardis_make_error(err, ENOMEM, "apply") : 0;
	}

	if (touch_parent(c, e->path, pfd, err) < 0)
		return -1;
	if (exists) {
		if (backup_and_remove(c, pfd, name, e->path, err) < 0)
			return -1;
	} else if (journal_add(c, "created", e->path, err) < 0) {
		return -1;
	}

	switch (e->type) {
	case FILEDIFF_DIR: {
		cleanup_close int fd = -1;

		if (mark(c, e->path) < 0 || defer_dir_time(c, e) < 0)
			return tardis_make_error(err, ENOMEM, "apply");
		if (mkdirat(pfd, name, 0700) < 0)
			return tardis_make_error(err, errno, "mkdir `%s`", e->path);
		fd = open_dir_at(pfd, name, c->dev);
		if (fd < 0)
			return resolve_error(err, -fd, e->path, e->path);
		if (fchown(fd, e->uid, e->gid) < 0 || fchmod(fd, e->mode) < 0)
			return tardis_make_error(err, errno, "set owner and mode of `%s`", e->path);
		return 0;
	}
	case FILEDIFF_REG:
		return write_file(c, pfd, name, e, err);
	case FILEDIFF_SYMLINK: {
		struct timespec ts[2] = { { 0, UTIME_OMIT },
					  { (time_t)e->mtime_sec, (long)e->mtime_nsec } };

		if (symlinkat(e->linkpath, pfd, name) < 0)
			return tardis_make_error(err, errno, "symlink `%s`", e->path);
		if (fchownat(pfd, name, e->uid, e->gid, AT_SYMLINK_NOFOLLOW) < 0 ||
		    utimensat(pfd, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
			return tardis_make_error(err, errno, "set owner and time of `%s`", e->path);
		return 0;
	}
	}
	return tardis_make_error(err, EINVAL, "`%s`: unknown type", e->path);
}

/* Directory times last: creating their entries changed them. */
static int apply_dir_times(struct apply_ctx *c, tardis_error_t *err)
{
	for (size_t i = 0; i < c->ndirs; i++) {
		struct timespec ts[2] = { { 0, UTIME_OMIT }, c->dirs[i].mtime };
		cleanup_close int pfd = -1;
		cleanup_close int fd = -1;
		const char *name;

		pfd = open_parent(c->rootfd, c->dev, c->dirs[i].path, &name, c->bad);
		if (pfd >= 0)
			fd = open_dir_at(pfd, name, c->dev);
		if (fd < 0)
			continue; /* replaced by a later entry of the same name */
		if (futimens(fd, ts) < 0)
			return tardis_make_error(err, errno, "set time of `%s`", c->dirs[i].path);
	}
	return 0;
}

struct mapped {
	void *p;
	size_t len;
};

static int map_file(int dirfd, const char *name, struct mapped *m, tardis_error_t *err)
{
	cleanup_close int fd = -1;
	struct stat st;

	m->p = NULL;
	m->len = 0;
	fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0)
		return tardis_make_error(err, errno, "open `%s`", name);
	if (!S_ISREG(st.st_mode))
		return tardis_make_error(err, EINVAL, "`%s` is not a regular file", name);
	if (st.st_size == 0)
		return 0;
	if ((off_t)(size_t)st.st_size != st.st_size)
		return tardis_make_error(err, EFBIG, "`%s` is too large to map", name);
	m->p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (m->p == MAP_FAILED) {
		m->p = NULL;
		return tardis_make_error(err, errno, "map `%s`", name);
	}
	m->len = (size_t)st.st_size;
	return 0;
}

static void unmap(struct mapped *m)
{
	if (m->p)
		munmap(m->p, m->len);
}

static void apply_ctx_free(struct apply_ctx *c)
{
	if (!c)
		return;
	if (c->rootfd >= 0)
		close(c->rootfd);
	if (c->jfd >= 0)
		close(c->jfd);
	tdestroy(c->noted, free);
	for (size_t i = 0; i < c->ndirs; i++)
		free(c->dirs[i].path);
	free(c->dirs);
	free(c->buf);
	free(c);
}

static struct apply_ctx *apply_ctx_new(const char *rootfs, int backup_dirfd, tardis_error_t *err)
{
	struct apply_ctx *c = calloc(1, sizeof(*c));
	struct stat st;

	if (!c || !(c->buf = malloc(COPY_BUF))) {
		free(c);
		tardis_make_error(err, ENOMEM, "apply");
		return NULL;
	}
	c->jfd = -1;
	c->bfd = backup_dirfd;
	c->rootfd = open(rootfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (c->rootfd < 0 || fstat(c->rootfd, &st) < 0) {
		tardis_make_error(err, errno, "open rootfs `%s`", rootfs);
		apply_ctx_free(c);
		return NULL;
	}
	c->dev = st.st_dev;
	return c;
}

int filediff_apply(int image_dirfd, const char *rootfs, int backup_dirfd, tardis_error_t *err)
{
	struct apply_ctx *c = NULL;
	struct mapped tar = { 0 }, del = { 0 };
	struct stat st;
	int ret = -1;

	if (map_file(image_dirfd, FILEDIFF_TAR, &tar, err) < 0 ||
	    map_file(image_dirfd, FILEDIFF_DELETED, &del, err) < 0)
		goto out;
	if (filediff_deleted_foreach(del.p, del.len, NULL, NULL, err) < 0 ||
	    filediff_tar_foreach(tar.p, tar.len, NULL, NULL, err) < 0) {
		tardis_error_wrap(err, "invalid saved files");
		goto out;
	}
	c = apply_ctx_new(rootfs, backup_dirfd, err);
	if (!c)
		goto out;
	c->jfd = openat(backup_dirfd, FILEDIFF_JOURNAL,
			O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (c->jfd < 0 || fstat(c->jfd, &st) < 0) {
		tardis_make_error(err, errno, "open journal");
		goto out;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > 0) {
		tardis_make_error(err, EBUSY, "the journal holds an earlier apply: roll it back first");
		goto out;
	}
	if (clear_backups(backup_dirfd, err) < 0)
		goto out;
	if (filediff_deleted_foreach(del.p, del.len, apply_deletion, c, err) < 0 ||
	    filediff_tar_foreach(tar.p, tar.len, apply_entry, c, err) < 0 ||
	    apply_dir_times(c, err) < 0)
		goto out;
	if (syncfs(c->rootfd) < 0) {
		tardis_make_error(err, errno, "sync rootfs");
		goto out;
	}
	ret = 0;
out:
	if (ret < 0)
		tardis_error_wrap(err, "apply saved files onto `%s`", rootfs);
	apply_ctx_free(c);
	unmap(&tar);
	unmap(&del);
	return ret;
}

/* ------------------------------------------------------------------ */
/* Rolling back                                                       */

static int undo_created(struct apply_ctx *c, const char *path, tardis_error_t *err)
{
	cleanup_close int pfd = -1;
	const char *name;

	/* Unreachable without following a symlink: not ours to remove. */
	pfd = open_parent(c->rootfd, c->dev, path, &name, c->bad);
	if (pfd < 0)
		return 0;
	if (unlinkat(pfd, name, 0) == 0 || errno == ENOENT)
		return 0;
	if (errno == EISDIR) {
		/* Only if empty: what apply created inside is gone by now. */
		if (unlinkat(pfd, name, AT_REMOVEDIR) == 0 || errno == ENOENT ||
		    errno == ENOTEMPTY || errno == EEXIST)
			return 0;
	}
	return tardis_make_error(err, errno, "remove `%s`", path);
}

static int undo_backup(struct apply_ctx *c, unsigned n, const char *path, tardis_error_t *err)
{
	cleanup_close int pfd = -1;
	char bname[32];
	const char *name;
	struct stat st;

	snprintf(bname, sizeof(bname), "b%u", n);
	if (fstatat(c->bfd, bname, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT)
			return 0; /* the copy never completed: the original is in place */
		return tardis_make_error(err, errno, "stat backup `%s`", bname);
	}
	if (fstat(c->bfd, &st) < 0)
		return tardis_make_error(err, errno, "stat backup directory");
	pfd = open_parent(c->rootfd, c->dev, path, &name, c->bad);
	if (pfd < 0)
		return resolve_error(err, -pfd, path, c->bad);
	if (remove_tree(pfd, name, c->dev, err) < 0)
		return tardis_error_wrap(err, "restore `%s`", path);
	test_point();
	if (copy_tree(c->bfd, bname, pfd, name, st.st_dev, 0, c->buf, err) < 0)
		return tardis_error_wrap(err, "restore `%s`", path);
	return 0;
}

static int undo_meta(struct apply_ctx *c, const char *path, unsigned mode, uint32_t uid,
		     uint32_t gid, struct timespec mtime, tardis_error_t *err)
{
	struct timespec ts[2] = { { 0, UTIME_OMIT }, mtime };
	cleanup_close int pfd = -1;
	cleanup_close int fd = -1;
	const char *name;

	if (!*path) {
		fd = fcntl(c->rootfd, F_DUPFD_CLOEXEC, 3);
	} else {
		pfd = open_parent(c->rootfd, c->dev, path, &name, c->bad);
		if (pfd >= 0)
			fd = open_dir_at(pfd, name, c->dev);
	}
	if (fd < 0)
		return 0; /* no such directory any more */
	if (fchown(fd, uid, gid) < 0 || fchmod(fd, mode) < 0 || futimens(fd, ts) < 0)
		return tardis_make_error(err, errno, "restore owner, mode and time of `%s`",
					 *path ? path : ".");
	return 0;
}

/* Splits off the next space-separated field of [*p, end). */
static int next_field(const char **p, const char *end, const char **f, size_t *n)
{
	const char *sp = memchr(*p, ' ', (size_t)(end - *p));

	if (!sp || sp == *p)
		return -1;
	*f = *p;
	*n = (size_t)(sp - *p);
	*p = sp + 1;
	return 0;
}

static int field_num(const char *f, size_t n, int base, int64_t min, int64_t max, int64_t *out)
{
	char num[24], *end;
	long long v;

	if (n == 0 || n >= sizeof(num))
		return -1;
	memcpy(num, f, n);
	num[n] = '\0';
	errno = 0;
	v = strtoll(num, &end, base);
	if (errno || *end || v < min || v > max || !(num[0] == '-' || (num[0] >= '0' && num[0] <= '9')))
		return -1;
	*out = v;
	return 0;
}

static int undo_line(struct apply_ctx *c, const char *p, const char *end, tardis_error_t *err)
{
	char path[FILEDIFF_PATH_MAX + 1];
	const char *kw, *f[5];
	size_t kwn, fn[5];
	int64_t v[5];
	int nf;

	if (next_field(&p, end, &kw, &kwn) < 0)
		goto bad;
	if (kwn == 7 && memcmp(kw, "created", 7) == 0)
		nf = 0;
	else if (kwn == 6 && memcmp(kw, "backup", 6) == 0)
		nf = 1;
	else if (kwn == 4 && memcmp(kw, "meta", 4) == 0)
		nf = 5;
	else
		goto bad;
	for (int i = 0; i < nf; i++)
		if (next_field(&p, end, &f[i], &fn[i]) < 0)
			goto bad;
	if (end - p == 1 && *p == '.') {
		if (nf != 5)
			goto bad; /* only a directory's metadata is kept for the root */
		path[0] = '\0';
	} else if (unescape_path(p, (size_t)(end - p), path) < 0 ||
		   path_check(path, strlen(path)) < 0) {
		goto bad;
	}
	if (nf == 0)
		return undo_created(c, path, err);
	if (nf == 1) {
		if (field_num(f[0], fn[0], 10, 0, UINT32_MAX, &v[0]) < 0)
			goto bad;
		return undo_backup(c, (unsigned)v[0], path, err);
	}
	if (field_num(f[0], fn[0], 8, 0, 07777, &v[0]) < 0 ||
	    field_num(f[1], fn[1], 10, 0, UINT32_MAX - 1, &v[1]) < 0 ||
	    field_num(f[2], fn[2], 10, 0, UINT32_MAX - 1, &v[2]) < 0 ||
	    field_num(f[3], fn[3], 10, INT64_MIN, INT64_MAX, &v[3]) < 0 ||
	    field_num(f[4], fn[4], 10, 0, 999999999, &v[4]) < 0)
		goto bad;
	return undo_meta(c, path, (unsigned)v[0], (uint32_t)v[1], (uint32_t)v[2],
			 (struct timespec){ .tv_sec = (time_t)v[3], .tv_nsec = (long)v[4] }, err);
bad:
	return tardis_make_error(err, EINVAL, "malformed journal line");
}

int filediff_rollback(const char *rootfs, int backup_dirfd, tardis_error_t *err)
{
	cleanup_close int jfd = -1;
	cleanup_free char *buf = NULL;
	cleanup_free const char **lines = NULL;
	struct apply_ctx *c = NULL;
	size_t len = 0, nlines = 0;
	struct stat st;
	int failed = 0;

	jfd = openat(backup_dirfd, FILEDIFF_JOURNAL, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
	if (jfd < 0) {
		if (errno != ENOENT)
			return tardis_make_error(err, errno, "open journal");
		return clear_backups(backup_dirfd, err);
	}
	if (fstat(jfd, &st) < 0)
		return tardis_make_error(err, errno, "stat journal");
	if (!S_ISREG(st.st_mode))
		return tardis_make_error(err, EINVAL, "the journal is not a regular file");
	buf = malloc((size_t)st.st_size + 1);
	if (!buf)
		return tardis_make_error(err, ENOMEM, "read journal");
	while (len < (size_t)st.st_size) {
		ssize_t r = pread(jfd, buf + len, (size_t)st.st_size - len, (off_t)len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return tardis_make_error(err, errno, "read journal");
		if (r == 0)
			break;
		len += (size_t)r;
	}
	for (size_t i = 0; i < len; i++)
		nlines += buf[i] == '\n';
	lines = calloc(nlines + 1, sizeof(*lines));
	if (!lines)
		return tardis_make_error(err, ENOMEM, "read journal");
	nlines = 0;
	/* Complete lines only: a torn last record's change never started. */
	for (size_t start = 0, i = 0; i < len; i++) {
		if (buf[i] != '\n')
			continue;
		lines[nlines++] = buf + start;
		start = i + 1;
	}
	lines[nlines] = buf + len;
	c = apply_ctx_new(rootfs, backup_dirfd, err);
	if (!c)
		return tardis_error_wrap(err, "roll back");
	for (size_t i = nlines; i-- > 0;) {
		cleanup_error tardis_error_t e = NULL;
		const char *end = memchr(lines[i], '\n', (size_t)(buf + len - lines[i]));

		if (undo_line(c, lines[i], end, &e) < 0) {
			if (!failed++)
				tardis_make_error(err, e ? e->errnum : 0, "journal record %zu: %s",
						  i + 1, tardis_error_msg(e));
			else
				log_debug("roll back: journal record %zu: %s", i + 1,
					  tardis_error_msg(e));
			continue;
		}
		test_point();
	}
	if (!failed && syncfs(c->rootfd) < 0) {
		tardis_make_error(err, errno, "sync rootfs");
		failed = 1;
	}
	apply_ctx_free(c);
	if (failed > 1)
		tardis_error_wrap(err, "%d journal records failed, the newest", failed);
	if (failed)
		return tardis_error_wrap(err, "roll back `%s` (journal kept)", rootfs);
	/* The restored files are durable: the journal may go, then the backups. */
	if (ftruncate(jfd, 0) < 0 || fsync(jfd) < 0)
		return tardis_make_error(err, errno, "truncate journal");
	return clear_backups(backup_dirfd, err);
}

int filediff_commit(int backup_dirfd, tardis_error_t *err)
{
	cleanup_close int jfd = openat(backup_dirfd, FILEDIFF_JOURNAL,
				       O_WRONLY | O_NOFOLLOW | O_CLOEXEC);

	if (jfd < 0 && errno != ENOENT)
		return tardis_make_error(err, errno, "open journal");
	if (jfd >= 0 && (ftruncate(jfd, 0) < 0 || fsync(jfd) < 0))
		return tardis_make_error(err, errno, "truncate journal");
	return clear_backups(backup_dirfd, err);
}
