/* The baseline of a rootfs (baseline.h): recorded at create, compared at
 * the checkpoint by filediff_save_since. */
#include "baseline.h"
#include "cleanup.h"
#include "filediff_internal.h"
#include "state.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct base_entry {
	char *path;
	mode_t mode;
	uid_t uid;
	gid_t gid;
	uint64_t size;
	int64_t mtime_s;
	long mtime_ns;
	int seen;
};

struct baseline {
	struct base_entry *e;
	size_t n, cap;
};

/* ---- recording ------------------------------------------------------------ */

struct rec_ctx {
	struct growbuf out;
	dev_t dev;
	size_t entries;
	char path[FILEDIFF_PATH_MAX + 1];
};

static int put_escaped(struct growbuf *b, const char *s)
{
	char esc[2 * FILEDIFF_PATH_MAX + 2];
	size_t n = fdiff_escape_path(s, esc);

	esc[n++] = '\n';
	return growbuf_append(b, esc, n);
}

static int rec_line(struct rec_ctx *c, const struct stat *st)
{
	char head[160];
	int n = snprintf(head, sizeof(head), "%o %u %u %" PRIu64 " %" PRId64 ".%09ld ",
			 (unsigned)st->st_mode, (unsigned)st->st_uid, (unsigned)st->st_gid,
			 (uint64_t)st->st_size, (int64_t)st->st_mtim.tv_sec, st->st_mtim.tv_nsec);

	c->entries++;
	return growbuf_append(&c->out, head, (size_t)n) < 0 || put_escaped(&c->out, c->path) < 0
		       ? -1
		       : 0;
}

static int rec_dir(struct rec_ctx *c, int dirfd, tardis_error_t *err)
{
	cleanup_names char **names = NULL;
	size_t base = strlen(c->path);

	if (fdiff_list_dir(dirfd, &names, NULL) < 0)
		return tardis_make_error(err, errno, "list `%s`", base ? c->path : ".");
	for (char **p = names; *p; p++) {
		struct stat st;

		if (fdiff_path_push(c->path, base, *p) < 0)
			return tardis_make_error(err, ENAMETOOLONG, "path `%s/%s`", c->path, *p);
		if (fstatat(dirfd, *p, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno != ENOENT)
				return tardis_make_error(err, errno, "stat `%s`", c->path);
		} else if (st.st_dev == c->dev) {
			if (rec_line(c, &st) < 0)
				return tardis_make_error(err, ENOMEM, "baseline");
			if (S_ISDIR(st.st_mode)) {
				cleanup_close int fd = fdiff_open_dir_at(dirfd, *p, c->dev);

				if (fd < 0)
					return tardis_make_error(err, -fd, "open `%s`", c->path);
				if (rec_dir(c, fd, err) < 0)
					return -1;
			}
		}
		c->path[base] = '\0';
	}
	return 0;
}

int baseline_record(const char *rootfs, int dirfd, const char *name, size_t *entries,
		    tardis_error_t *err)
{
	cleanup_free struct rec_ctx *c = calloc(1, sizeof(*c));
	cleanup_close int rootfd = open(rootfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct stat st;
	int r;

	if (!c)
		return tardis_make_error(err, ENOMEM, "baseline");
	if (rootfd < 0 || fstat(rootfd, &st) < 0)
		return tardis_make_error(err, errno, "open rootfs `%s`", rootfs);
	c->dev = st.st_dev;
	r = rec_dir(c, rootfd, err);
	if (r == 0 && store_write_atomic(dirfd, name, c->out.data ? c->out.data : "", c->out.len, 0,
					 NULL, err) < 0)
		r = -1;
	if (r == 0 && entries)
		*entries = c->entries;
	growbuf_free(&c->out);
	return r < 0 ? tardis_error_wrap(err, "baseline of `%s`", rootfs) : 0;
}

/* ---- reading and comparing ------------------------------------------------ */

static struct base_entry *find(const struct baseline *b, const char *path);

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const struct base_entry *)a)->path, ((const struct base_entry *)b)->path);
}

/* One line (without its newline) into e; -1 when malformed. */
static int parse_line(const char *line, struct base_entry *e)
{
	char path[FILEDIFF_PATH_MAX + 1];
	unsigned mode, uid, gid;
	uint64_t size;
	int64_t sec;
	long nsec;
	int off = 0;

	if (sscanf(line, "%o %u %u %" SCNu64 " %" SCNd64 ".%ld%n", &mode, &uid, &gid, &size, &sec,
		   &nsec, &off) != 6 || off == 0 || line[off] != ' ' || nsec < 0 || nsec > 999999999)
		return -1;
	off++;
	if (fdiff_unescape_path(line + off, strlen(line + off), path) < 0 ||
	    fdiff_path_check(path, strlen(path)) < 0)
		return -1;
	*e = (struct base_entry){ .path = strdup(path), .mode = mode, .uid = uid, .gid = gid,
				  .size = size, .mtime_s = sec, .mtime_ns = nsec };
	return e->path ? 0 : -1;
}

int baseline_parse(const char *text, size_t len, struct baseline **out, tardis_error_t *err)
{
	struct baseline *b = calloc(1, sizeof(*b));
	cleanup_free char *copy = malloc(len + 1);
	char *line, *save = NULL;
	unsigned no = 0;

	*out = NULL;
	if (!b || !copy) {
		free(b);
		return tardis_make_error(err, ENOMEM, "baseline");
	}
	if (len)
		memcpy(copy, text, len);
	copy[len] = '\0';
	if (len && copy[len - 1] != '\n') {
		baseline_free(b);
		return tardis_make_error(err, EINVAL, "baseline: truncated");
	}
	for (line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		no++;
		if (grow_array(&b->e, &b->cap, b->n + 1, sizeof(*b->e)) < 0 ||
		    parse_line(line, &b->e[b->n]) < 0) {
			baseline_free(b);
			return tardis_make_error(err, EINVAL, "baseline line %u: malformed", no);
		}
		b->n++;
	}
	if (b->n)
		qsort(b->e, b->n, sizeof(*b->e), cmp_entry);
	*out = b;
	return 0;
}

int baseline_load(int dirfd, const char *name, struct baseline **out, tardis_error_t *err)
{
	cleanup_free char *text = NULL;
	size_t len = 0;

	*out = NULL;
	if (store_read(dirfd, name, (size_t)1 << 30, &text, &len, err) < 0)
		return -1;
	return baseline_parse(text, len, out, err);
}

void baseline_free(struct baseline *b)
{
	if (!b)
		return;
	for (size_t i = 0; i < b->n; i++)
		free(b->e[i].path);
	free(b->e);
	free(b);
}

size_t baseline_size(const struct baseline *b)
{
	return b ? b->n : 0;
}

int baseline_same(struct baseline *b, const char *path, const struct stat *st)
{
	struct base_entry *e = find(b, path);

	if (!e)
		return 0;
	e->seen = 1;
	return e->mode == st->st_mode && e->uid == st->st_uid && e->gid == st->st_gid &&
	       (S_ISDIR(st->st_mode) || e->size == (uint64_t)st->st_size) &&
	       e->mtime_s == (int64_t)st->st_mtim.tv_sec && e->mtime_ns == st->st_mtim.tv_nsec;
}

static struct base_entry *find(const struct baseline *b, const char *path)
{
	struct base_entry key = { .path = (char *)path };

	if (!b->n)
		return NULL;
	return bsearch(&key, b->e, b->n, sizeof(*b->e), cmp_entry);
}

/* 1 when a directory above path was recorded and is gone too. */
static int parent_gone(const struct baseline *b, const char *path)
{
	char dir[FILEDIFF_PATH_MAX + 1], *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	while ((slash = strrchr(dir, '/'))) {
		const struct base_entry *e;

		*slash = '\0';
		e = find(b, dir);
		if (e && !e->seen)
			return 1;
	}
	return 0;
}

int baseline_foreach_gone(struct baseline *b,
			  int (*fn)(void *arg, const char *path, tardis_error_t *err), void *arg,
			  tardis_error_t *err)
{
	for (size_t i = 0; i < b->n; i++)
		if (!b->e[i].seen && !parent_gone(b, b->e[i].path) && fn(arg, b->e[i].path, err) < 0)
			return -1;
	return 0;
}
