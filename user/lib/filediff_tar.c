/* files.tar: a pax archive written and read with libarchive.  The only
 * module that knows the format.  The reader reads from memory (the mapped
 * file) with only the tar formats enabled and no decompression, and checks
 * every entry strictly (paths, types, ids, sizes, the sparse map, the end
 * marker) before reporting it. */
#include "filediff_internal.h"
#include "cleanup.h"
#include "util.h"
#include "deadline.h"

#include <archive.h>
#include <archive_entry.h>
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>

#define BLOCK 512
/* What libarchive hands write(2) at once: one write per 512-byte block was
 * 300,000 round trips for a 150 MiB file on sshfs (a synchronous FUSE
 * request each).  The last block is padded to BLOCK only. */
#define WRITE_BLOCK (256 * 1024)
#define ZEROS (64 * 1024)

/* libarchive is opened at its first use (dlopen), not linked: tardis-runc
 * passes most runc calls straight through, and libarchive's own libraries
 * (libxml2, ICU, the compressors) would be loaded for every one of them.
 * Loading it takes ~2 ms here: a restore starts it in a thread of its own
 * (filediff_preload_background) while it validates the image. */
#define LA_FUNCS(X) \
	X(archive_entry_clear) \
	X(archive_entry_copy_hardlink) \
	X(archive_entry_copy_pathname) \
	X(archive_entry_copy_symlink) \
	X(archive_entry_filetype) \
	X(archive_entry_free) \
	X(archive_entry_gid) \
	X(archive_entry_hardlink) \
	X(archive_entry_mtime) \
	X(archive_entry_mtime_nsec) \
	X(archive_entry_new) \
	X(archive_entry_pathname) \
	X(archive_entry_perm) \
	X(archive_entry_rdevmajor) \
	X(archive_entry_rdevminor) \
	X(archive_entry_set_filetype) \
	X(archive_entry_set_gid) \
	X(archive_entry_set_mtime) \
	X(archive_entry_set_perm) \
	X(archive_entry_set_rdevmajor) \
	X(archive_entry_set_rdevminor) \
	X(archive_entry_set_size) \
	X(archive_entry_set_uid) \
	X(archive_entry_size) \
	X(archive_entry_sparse_add_entry) \
	X(archive_entry_symlink) \
	X(archive_entry_uid) \
	X(archive_entry_xattr_add_entry) \
	X(archive_entry_xattr_next) \
	X(archive_entry_xattr_reset) \
	X(archive_errno) \
	X(archive_error_string) \
	X(archive_read_data_block) \
	X(archive_read_free) \
	X(archive_read_header_position) \
	X(archive_read_new) \
	X(archive_read_next_header) \
	X(archive_read_open_memory) \
	X(archive_read_support_format_tar) \
	X(archive_write_close) \
	X(archive_write_data) \
	X(archive_write_free) \
	X(archive_write_header) \
	X(archive_write_new) \
	X(archive_write_open_fd) \
	X(archive_write_set_bytes_in_last_block) \
	X(archive_write_set_bytes_per_block) \
	X(archive_write_set_format_pax) \
	X(archive_write_set_options)

static struct {
#define LA_PTR(f) __typeof__(f) *f;
	LA_FUNCS(LA_PTR)
#undef LA_PTR
} la;
#define LA(f) (*la.f)

/* Loaded once, by whichever thread asks first; the others wait for it. */
static pthread_once_t la_once = PTHREAD_ONCE_INIT;
static char la_why[256]; /* why it could not be loaded; "" loaded */

static void la_load_once(void)
{
	void *h = dlopen("libarchive.so.13", RTLD_NOW | RTLD_LOCAL);

	if (!h) {
		snprintf(la_why, sizeof(la_why), "load libarchive: %s", dlerror());
		return;
	}
#define LA_SYM(f)                                                                         \
	if (!(la.f = (__typeof__(la.f))dlsym(h, #f))) {                                   \
		snprintf(la_why, sizeof(la_why), "libarchive.so.13 has no %s", #f);       \
		return;                                                                   \
	}
	LA_FUNCS(LA_SYM)
#undef LA_SYM
}

static int la_load(tardis_error_t *err)
{
	pthread_once(&la_once, la_load_once);
	return la_why[0] ? tardis_make_error(err, ENOENT, "%s", la_why) : 0;
}

void filediff_preload(void)
{
	pthread_once(&la_once, la_load_once);
}

static void *preload_thread(void *arg)
{
	filediff_preload();
	return NULL;
}

void filediff_preload_background(void)
{
	pthread_attr_t attr;
	pthread_t t;

	if (pthread_attr_init(&attr) != 0)
		return;
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 256 << 10);
	pthread_create(&t, &attr, preload_thread, NULL);
	pthread_attr_destroy(&attr);
}

/* ------------------------------------------------------------------ */
/* Writing                                                            */

static int wr_error(struct tar_writer *w, const char *what, const char *path,
		    tardis_error_t *err)
{
	int e = LA(archive_errno)(w->a);

	return tardis_make_error(err, e > 0 ? e : EIO, "%s `%s` in `%s`: %s", what, path, w->name,
				 LA(archive_error_string)(w->a) ? LA(archive_error_string)(w->a) : "?");
}

int tar_writer_open(struct tar_writer *w, int fd, const char *name, tardis_error_t *err)
{
	memset(w, 0, sizeof(*w));
	w->name = name;
	if (la_load(err) < 0)
		return -1;
	w->a = LA(archive_write_new)();
	w->e = LA(archive_entry_new)();
	if (!w->a || !w->e)
		return tardis_make_error(err, ENOMEM, "write `%s`", name);
	/* Names are bytes: no charset conversion, whatever the locale. */
	if (LA(archive_write_set_format_pax)(w->a) != ARCHIVE_OK ||
	    LA(archive_write_set_options)(w->a, "hdrcharset=BINARY") != ARCHIVE_OK ||
	    LA(archive_write_set_bytes_per_block)(w->a, WRITE_BLOCK) != ARCHIVE_OK ||
	    LA(archive_write_set_bytes_in_last_block)(w->a, BLOCK) != ARCHIVE_OK ||
	    LA(archive_write_open_fd)(w->a, fd) != ARCHIVE_OK)
		return wr_error(w, "open", name, err);
	return 0;
}

void tar_writer_free(struct tar_writer *w)
{
	if (w->e)
		LA(archive_entry_free)(w->e);
	if (w->a)
		LA(archive_write_free)(w->a);
	w->a = NULL;
	w->e = NULL;
}

static unsigned ae_type(enum filediff_type type)
{
	switch (type) {
	case FILEDIFF_DIR:
		return AE_IFDIR;
	case FILEDIFF_SYMLINK:
		return AE_IFLNK;
	case FILEDIFF_FIFO:
		return AE_IFIFO;
	case FILEDIFF_CHR:
		return AE_IFCHR;
	case FILEDIFF_BLK:
		return AE_IFBLK;
	default:
		return AE_IFREG;
	}
}

int tar_write_header(struct tar_writer *w, const struct tar_item *it, tardis_error_t *err)
{
	struct archive_entry *e = w->e;
	const struct stat *st = it->st;

	LA(archive_entry_clear)(e);
	LA(archive_entry_copy_pathname)(e, it->path);
	LA(archive_entry_set_filetype)(e, ae_type(it->type));
	LA(archive_entry_set_perm)(e, st->st_mode & 07777);
	LA(archive_entry_set_uid)(e, st->st_uid);
	LA(archive_entry_set_gid)(e, st->st_gid);
	LA(archive_entry_set_mtime)(e, st->st_mtim.tv_sec, st->st_mtim.tv_nsec);
	LA(archive_entry_set_size)(e, it->type == FILEDIFF_REG ? (la_int64_t)it->size : 0);
	if (it->type == FILEDIFF_SYMLINK)
		LA(archive_entry_copy_symlink)(e, it->linkpath);
	if (it->type == FILEDIFF_HARDLINK)
		LA(archive_entry_copy_hardlink)(e, it->linkpath);
	if (it->type == FILEDIFF_CHR || it->type == FILEDIFF_BLK) {
		LA(archive_entry_set_rdevmajor)(e, major(st->st_rdev));
		LA(archive_entry_set_rdevminor)(e, minor(st->st_rdev));
	}
	for (size_t i = 0; i < it->nxattrs; i++)
		LA(archive_entry_xattr_add_entry)(e, it->xattrs[i].name, it->xattrs[i].value,
					      it->xattrs[i].size);
	for (size_t i = 0; i < it->nextents; i++)
		LA(archive_entry_sparse_add_entry)(e, (la_int64_t)it->extents[i].offset,
					       (la_int64_t)it->extents[i].length);
	if (LA(archive_write_header)(w->a, e) != ARCHIVE_OK)
		return wr_error(w, "write header of", it->path, err);
	return 0;
}

int tar_write_data(struct tar_writer *w, const void *data, size_t len, tardis_error_t *err)
{
	while (len) {
		la_ssize_t n = LA(archive_write_data)(w->a, data, len);

		if (n <= 0)
			return wr_error(w, "write data", "", err);
		data = (const char *)data + n;
		len -= (size_t)n;
		deadline_alive(); /* in a checkpoint's helper: a write that answered */
	}
	return 0;
}

/* A hole of a sparse file: libarchive's pax writer drops the bytes of a
 * hole in its map, but wants them passed (as bsdtar does). */
int tar_write_zeros(struct tar_writer *w, uint64_t len, tardis_error_t *err)
{
	static const char zeros[ZEROS];

	while (len) {
		size_t n = len < ZEROS ? (size_t)len : ZEROS;

		if (tar_write_data(w, zeros, n, err) < 0)
			return -1;
		len -= n;
	}
	return 0;
}

int tar_write_finish(struct tar_writer *w, tardis_error_t *err)
{
	if (LA(archive_write_close)(w->a) != ARCHIVE_OK)
		return wr_error(w, "finish", w->name, err);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Reading                                                            */

struct reader {
	struct archive *a;
	uint64_t size, next; /* the entry's size; where its next block may start */
	void *seen;          /* paths of the non-directory entries so far */
	struct filediff_xattr *xattrs;
	size_t nxattrs, cap;
	char path[FILEDIFF_PATH_MAX + 2];
};

static int cmp_str(const void *a, const void *b)
{
	return strcmp(a, b);
}

static int rd_error(struct reader *r, const char *what, tardis_error_t *err)
{
	const char *s = LA(archive_error_string)(r->a);

	return tardis_make_error(err, EINVAL, "%s: %s", what, s ? s : "malformed archive");
}

int filediff_entry_data(const struct filediff_entry *e, const void **buf, size_t *len,
			uint64_t *offset, tardis_error_t *err)
{
	struct reader *r = e->reader;
	la_int64_t off;
	int ret;

	for (;;) {
		ret = LA(archive_read_data_block)(r->a, buf, len, &off);
		if (ret == ARCHIVE_EOF)
			return 0;
		if (ret != ARCHIVE_OK)
			return rd_error(r, "read data", err);
		/* Blocks in order, inside the file; empty ones say nothing. */
		if (off < 0 || (uint64_t)off < r->next || (uint64_t)off > r->size ||
		    *len > r->size - (uint64_t)off)
			return tardis_make_error(err, EINVAL, "bad data block of `%s`", e->path);
		if (*len == 0)
			continue;
		r->next = (uint64_t)off + *len;
		*offset = (uint64_t)off;
		return 1;
	}
}

/* Every xattr once (libarchive reports the pax writer's two spellings of
 * each), overlay's own left out. */
static int read_xattrs(struct reader *r, struct archive_entry *ae, struct filediff_entry *e,
		       tardis_error_t *err)
{
	const char *name;
	const void *value;
	size_t size;

	r->nxattrs = 0;
	LA(archive_entry_xattr_reset)(ae);
	while (LA(archive_entry_xattr_next)(ae, &name, &value, &size) == ARCHIVE_OK) {
		int dup = 0;

		if (!name || !*name || strlen(name) > 255 || size > 65536)
			return tardis_make_error(err, EINVAL, "bad xattr of `%s`", e->path);
		if (strncmp(name, "trusted.overlay.", 16) == 0 ||
		    strncmp(name, "user.overlay.", 13) == 0)
			continue;
		for (size_t i = 0; i < r->nxattrs && !dup; i++)
			dup = strcmp(r->xattrs[i].name, name) == 0;
		if (dup)
			continue;
		if (grow_array(&r->xattrs, &r->cap, r->nxattrs + 1, sizeof(*r->xattrs)) < 0)
			return tardis_make_error(err, ENOMEM, "xattrs of `%s`", e->path);
		r->xattrs[r->nxattrs++] = (struct filediff_xattr){ name, value, size };
	}
	e->xattrs = r->xattrs;
	e->nxattrs = r->nxattrs;
	return 0;
}

static int entry_type(struct archive_entry *ae, struct filediff_entry *e)
{
	if (LA(archive_entry_hardlink)(ae)) {
		e->type = FILEDIFF_HARDLINK;
		return 0;
	}
	switch (LA(archive_entry_filetype)(ae)) {
	case AE_IFREG:
		e->type = FILEDIFF_REG;
		return 0;
	case AE_IFDIR:
		e->type = FILEDIFF_DIR;
		return 0;
	case AE_IFLNK:
		e->type = FILEDIFF_SYMLINK;
		return 0;
	case AE_IFIFO:
		e->type = FILEDIFF_FIFO;
		return 0;
	case AE_IFCHR:
		e->type = FILEDIFF_CHR;
		return 0;
	case AE_IFBLK:
		e->type = FILEDIFF_BLK;
		return 0;
	}
	return -1;
}

/* The link target of a symlink (any text) or hard link (an earlier entry). */
static int entry_link(struct reader *r, struct archive_entry *ae, struct filediff_entry *e,
		      tardis_error_t *err)
{
	if (e->type == FILEDIFF_SYMLINK) {
		e->linkpath = LA(archive_entry_symlink)(ae);
		if (!e->linkpath || !*e->linkpath || strlen(e->linkpath) > FILEDIFF_PATH_MAX)
			return tardis_make_error(err, EINVAL, "bad target of symlink `%s`", e->path);
	} else if (e->type == FILEDIFF_HARDLINK) {
		e->linkpath = LA(archive_entry_hardlink)(ae);
		if (!e->linkpath || fdiff_path_check(e->linkpath, strlen(e->linkpath)) < 0 ||
		    !tfind(e->linkpath, &r->seen, cmp_str))
			return tardis_make_error(err, EINVAL,
						 "hard link `%s` to no earlier entry of the archive",
						 e->path);
	}
	return 0;
}

/* Decodes and checks libarchive's entry. */
static int entry_of(struct reader *r, struct archive_entry *ae, struct filediff_entry *e,
		    tardis_error_t *err)
{
	const char *p = LA(archive_entry_pathname)(ae);
	size_t n = p ? strlen(p) : 0;

	memset(e, 0, sizeof(*e));
	e->reader = r;
	if (!p || n > FILEDIFF_PATH_MAX + 1)
		return tardis_make_error(err, EINVAL, "entry without a usable path");
	memcpy(r->path, p, n + 1);
	if (entry_type(ae, e) < 0)
		return tardis_make_error(err, EINVAL, "`%.200s`: unsupported entry type 0%o", p,
					 (unsigned)LA(archive_entry_filetype)(ae));
	if (n > 1 && r->path[n - 1] == '/' && e->type == FILEDIFF_DIR)
		r->path[--n] = '\0';
	if (fdiff_path_check(r->path, n) < 0)
		return tardis_make_error(err, EINVAL, "unsafe or invalid path `%.200s`", r->path);
	e->path = r->path;
	e->mode = LA(archive_entry_perm)(ae) & 07777;
	if (LA(archive_entry_uid)(ae) < 0 || LA(archive_entry_uid)(ae) >= UINT32_MAX ||
	    LA(archive_entry_gid)(ae) < 0 || LA(archive_entry_gid)(ae) >= UINT32_MAX)
		return tardis_make_error(err, EINVAL, "bad owner of `%s`", e->path);
	e->uid = (uint32_t)LA(archive_entry_uid)(ae);
	e->gid = (uint32_t)LA(archive_entry_gid)(ae);
	e->mtime_sec = LA(archive_entry_mtime)(ae);
	e->mtime_nsec = (uint32_t)LA(archive_entry_mtime_nsec)(ae);
	if (LA(archive_entry_size)(ae) < 0 || e->mtime_nsec >= 1000000000u)
		return tardis_make_error(err, EINVAL, "bad size or time of `%s`", e->path);
	if (e->type == FILEDIFF_REG)
		e->size = (uint64_t)LA(archive_entry_size)(ae);
	else if (LA(archive_entry_size)(ae) != 0)
		return tardis_make_error(err, EINVAL, "non-file `%s` has data", e->path);
	if (e->type == FILEDIFF_CHR || e->type == FILEDIFF_BLK) {
		e->rdev_major = (uint32_t)LA(archive_entry_rdevmajor)(ae);
		e->rdev_minor = (uint32_t)LA(archive_entry_rdevminor)(ae);
		/* 0/0 is overlay's whiteout: deleted.list's business. */
		if (e->type == FILEDIFF_CHR && !e->rdev_major && !e->rdev_minor)
			return tardis_make_error(err, EINVAL, "`%s` is a whiteout device", e->path);
	}
	if (entry_link(r, ae, e, err) < 0 || read_xattrs(r, ae, e, err) < 0)
		return -1;
	return 0;
}

/* After the entry: what the callback left of its data is read (and so
 * checked) too; a non-directory is remembered for later hard links. */
static int entry_done(struct reader *r, struct filediff_entry *e, tardis_error_t *err)
{
	const void *b;
	size_t n;
	uint64_t off;
	int ret;

	while ((ret = filediff_entry_data(e, &b, &n, &off, err)) > 0)
		;
	if (ret < 0)
		return -1;
	if (e->type != FILEDIFF_DIR && !tfind(e->path, &r->seen, cmp_str)) {
		char *key = strdup(e->path);

		if (!key || !tsearch(key, &r->seen, cmp_str)) {
			free(key);
			return tardis_make_error(err, ENOMEM, "tar");
		}
	}
	return 0;
}

/* At the end: the end marker (two zero blocks) then only zeros, so an
 * archive cut at an entry's end is not taken for a complete one. */
static int check_end(struct reader *r, const unsigned char *b, size_t len, tardis_error_t *err)
{
	la_int64_t pos = LA(archive_read_header_position)(r->a);

	if (pos < 0 || (uint64_t)pos > len || len - (size_t)pos < 2 * BLOCK)
		return tardis_make_error(err, EINVAL, "tar truncated: incomplete end marker");
	for (size_t i = (size_t)pos; i < len; i++)
		if (b[i])
			return tardis_make_error(err, EINVAL, "data after the tar's end");
	return 0;
}

static int walk(struct reader *r, const void *buf, size_t len, filediff_entry_fn fn, void *arg,
		tardis_error_t *err)
{
	struct archive_entry *ae;
	struct filediff_entry e;

	if (!buf || len < 2 * BLOCK)
		return tardis_make_error(err, EINVAL, "tar truncated: %zu bytes", len);
	if (LA(archive_read_support_format_tar)(r->a) != ARCHIVE_OK ||
	    LA(archive_read_open_memory)(r->a, buf, len) != ARCHIVE_OK)
		return rd_error(r, "open tar", err);
	for (;;) {
		int ret = LA(archive_read_next_header)(r->a, &ae);

		if (ret == ARCHIVE_EOF)
			return check_end(r, buf, len, err);
		/* Of the warnings only a name's charset (a format 1 archive has
		 * no hdrcharset=BINARY) is harmless: the bytes are kept. */
		if (ret == ARCHIVE_WARN && LA(archive_error_string)(r->a) &&
		    strstr(LA(archive_error_string)(r->a), "can't be converted"))
			ret = ARCHIVE_OK;
		if (ret != ARCHIVE_OK)
			return rd_error(r, "tar header", err);
		if (entry_of(r, ae, &e, err) < 0)
			return tardis_error_wrap(err, "tar entry at byte %lld",
						 (long long)LA(archive_read_header_position)(r->a));
		r->size = e.size;
		r->next = 0;
		if (fn && fn(&e, arg, err) < 0)
			return -1;
		if (entry_done(r, &e, err) < 0)
			return -1;
	}
}

int filediff_tar_foreach(const void *buf, size_t len, filediff_entry_fn fn, void *arg,
			 tardis_error_t *err)
{
	struct reader r = { 0 };
	int ret;

	if (la_load(err) < 0)
		return -1;
	r.a = LA(archive_read_new)();
	if (!r.a)
		return tardis_make_error(err, ENOMEM, "tar");
	ret = walk(&r, buf, len, fn, arg, err);
	LA(archive_read_free)(r.a);
	tdestroy(r.seen, free);
	free(r.xattrs);
	return ret;
}
