/* The undo journal and backups of an apply: rollback (newest record first)
 * and commit. */
#include "filediff_internal.h"
#include "cleanup.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int journal_write(struct apply_ctx *c, const char *head, const char *path,
			 tardis_error_t *err)
{
	size_t n = strlen(head);

	memcpy(c->line, head, n);
	c->line[n++] = ' ';
	if (*path)
		n += fdiff_escape_path(path, c->line + n);
	else
		c->line[n++] = '.';
	c->line[n++] = '\n';
	if (fdiff_io_all(c->jfd, c->line, n) < 0)
		return tardis_make_error(err, errno, "append to journal");
	return 0;
}

int fdiff_journal_put(struct apply_ctx *c, const char *head, const char *path,
		      tardis_error_t *err)
{
	if (journal_write(c, head, path, err) < 0)
		return -1;
	filediff_test_point();
	return 0;
}

int fdiff_journal_add(struct apply_ctx *c, const char *head, const char *path,
		       tardis_error_t *err)
{
	if (journal_write(c, head, path, err) < 0)
		return -1;
	if (fdatasync(c->jfd) < 0)
		return tardis_make_error(err, errno, "append to journal");
	filediff_test_point();
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

int fdiff_clear_backups(int bfd, tardis_error_t *err)
{
	cleanup_names char **names = NULL;
	struct stat st;
	int removed = 0;

	if (fstat(bfd, &st) < 0 || fdiff_list_dir(bfd, &names, NULL) < 0)
		return tardis_make_error(err, errno, "list backup directory");
	for (char **p = names; *p; p++) {
		if (!is_backup_name(*p))
			continue;
		if (fdiff_remove_tree(bfd, *p, st.st_dev, err) < 0)
			return tardis_error_wrap(err, "remove old backup");
		removed = 1;
	}
	/* No removal, nothing to make durable. */
	if (removed && fsync(bfd) < 0)
		return tardis_make_error(err, errno, "fsync backup directory");
	return 0;
}

/* ------------------------------------------------------------------ */
/* Rolling back                                                       */

static int undo_created(struct apply_ctx *c, const char *path, tardis_error_t *err)
{
	cleanup_close int pfd = -1;
	const char *name;

	/* Unreachable without following a symlink: not ours to remove. */
	pfd = fdiff_open_parent(c->rootfd, c->dev, path, &name, c->bad);
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
	pfd = fdiff_open_parent(c->rootfd, c->dev, path, &name, c->bad);
	if (pfd < 0)
		return fdiff_resolve_error(err, -pfd, path, c->bad);
	if (fdiff_remove_tree(pfd, name, c->dev, err) < 0)
		return tardis_error_wrap(err, "restore `%s`", path);
	filediff_test_point();
	if (fdiff_copy_tree(c->bfd, bname, pfd, name, st.st_dev, 0, c->buf, err) < 0)
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
		pfd = fdiff_open_parent(c->rootfd, c->dev, path, &name, c->bad);
		if (pfd >= 0)
			fd = fdiff_open_dir_at(pfd, name, c->dev);
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
	else if (kwn == 8 && memcmp(kw, "samefile", 8) == 0)
		return 0; /* once every backup is back: relink_lines */
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
	} else if (fdiff_unescape_path(p, (size_t)(end - p), path) < 0 ||
		   fdiff_path_check(path, strlen(path)) < 0) {
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

/* Reads the journal into *buf (len bytes) and points (*lines)[0..*nlines)
 * at its complete lines ((*lines)[*nlines] at the end). */
static int read_journal(int jfd, const struct stat *st, char **buf, size_t *len,
			const char ***lines, size_t *nlines, tardis_error_t *err)
{
	size_t n = 0;

	*buf = malloc((size_t)st->st_size + 1);
	if (!*buf)
		return tardis_make_error(err, ENOMEM, "read journal");
	*len = 0;
	while (*len < (size_t)st->st_size) {
		ssize_t r = pread(jfd, *buf + *len, (size_t)st->st_size - *len, (off_t)*len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return tardis_make_error(err, errno, "read journal");
		if (r == 0)
			break;
		*len += (size_t)r;
	}
	for (size_t i = 0; i < *len; i++)
		n += (*buf)[i] == '\n';
	*lines = calloc(n + 1, sizeof(**lines));
	if (!*lines)
		return tardis_make_error(err, ENOMEM, "read journal");
	n = 0;
	/* Complete lines only: a torn last record's change never started. */
	for (size_t start = 0, i = 0; i < *len; i++) {
		if ((*buf)[i] != '\n')
			continue;
		(*lines)[n++] = *buf + start;
		start = i + 1;
	}
	(*lines)[n] = *buf + *len;
	*nlines = n;
	return 0;
}

/* The path of journal record "<head><path>", if there is one. */
static int path_of(const char **lines, size_t nlines, const char *bufend, const char *head,
		   char *path)
{
	size_t hl = strlen(head);

	for (size_t i = 0; i < nlines; i++) {
		const char *end = memchr(lines[i], '\n', (size_t)(bufend - lines[i]));

		if ((size_t)(end - lines[i]) > hl && memcmp(lines[i], head, hl) == 0)
			return fdiff_unescape_path(lines[i] + hl, (size_t)(end - lines[i]) - hl, path) < 0 ||
					       fdiff_path_check(path, strlen(path)) < 0
				       ? -1
				       : 0;
	}
	return -1;
}

/* Makes path a name of first's inode again (both restored as copies).
 * Killed between the unlink and the link, the rerun restores path's copy
 * first, then gets here again. */
static int relink(struct apply_ctx *c, const char *first, const char *path, tardis_error_t *err)
{
	cleanup_close int fpfd = -1;
	cleanup_close int pfd = -1;
	const char *fname, *name;
	struct stat a, b;

	fpfd = fdiff_open_parent(c->rootfd, c->dev, first, &fname, c->bad);
	pfd = fdiff_open_parent(c->rootfd, c->dev, path, &name, c->bad);
	if (fpfd < 0 || pfd < 0 || fstatat(fpfd, fname, &a, AT_SYMLINK_NOFOLLOW) < 0 ||
	    S_ISDIR(a.st_mode))
		return 0; /* not there: nothing to join */
	if (fstatat(pfd, name, &b, AT_SYMLINK_NOFOLLOW) == 0 &&
	    (S_ISDIR(b.st_mode) || (a.st_dev == b.st_dev && a.st_ino == b.st_ino)))
		return 0;
	/* The directory's time, restored already, stays. */
	if (fstat(pfd, &b) < 0 || (unlinkat(pfd, name, 0) < 0 && errno != ENOENT) ||
	    linkat(fpfd, fname, pfd, name, 0) < 0 ||
	    futimens(pfd, (struct timespec[2]){ { 0, UTIME_OMIT }, b.st_mtim }) < 0)
		return tardis_make_error(err, errno, "link `%s` to `%s` again", path, first);
	filediff_test_point();
	return 0;
}

/* The `samefile <n> <path>` records: path and backup n's path were one
 * inode; returns how many failed. */
static int relink_lines(struct apply_ctx *c, const char **lines, size_t nlines,
			const char *bufend, tardis_error_t *err)
{
	char first[FILEDIFF_PATH_MAX + 1], path[FILEDIFF_PATH_MAX + 1], head[40];
	int failed = 0;

	for (size_t i = 0; i < nlines; i++) {
		const char *end = memchr(lines[i], '\n', (size_t)(bufend - lines[i])), *sp;
		unsigned long n;

		if (strncmp(lines[i], "samefile ", 9) != 0)
			continue;
		n = strtoul(lines[i] + 9, NULL, 10);
		sp = memchr(lines[i] + 9, ' ', (size_t)(end - lines[i] - 9));
		snprintf(head, sizeof(head), "backup %lu ", n);
		if (!sp || fdiff_unescape_path(sp + 1, (size_t)(end - sp - 1), path) < 0 ||
		    fdiff_path_check(path, strlen(path)) < 0 ||
		    path_of(lines, nlines, bufend, head, first) < 0) {
			if (!failed++)
				tardis_make_error(err, EINVAL, "malformed journal line");
			continue;
		}
		if (relink(c, first, path, failed ? NULL : err) < 0)
			failed++;
	}
	return failed;
}

/* Undoes the records newest first; returns how many failed (the newest
 * failure in *err, the others logged). */
static int undo_lines(struct apply_ctx *c, const char **lines, size_t nlines, const char *bufend,
		      tardis_error_t *err)
{
	int failed = 0;

	for (size_t i = nlines; i-- > 0;) {
		cleanup_error tardis_error_t e = NULL;
		const char *end = memchr(lines[i], '\n', (size_t)(bufend - lines[i]));

		if (undo_line(c, lines[i], end, &e) < 0) {
			if (!failed++)
				tardis_make_error(err, e ? e->errnum : 0, "journal record %zu: %s",
						  i + 1, tardis_error_msg(e));
			else
				log_debug("roll back: journal record %zu: %s", i + 1,
					  tardis_error_msg(e));
			continue;
		}
		filediff_test_point();
	}
	return failed + relink_lines(c, lines, nlines, bufend, failed ? NULL : err);
}

int filediff_rollback(const char *rootfs, int backup_dirfd, tardis_error_t *err)
{
	cleanup_close int jfd = -1;
	cleanup_free char *buf = NULL;
	cleanup_free const char **lines = NULL;
	struct apply_ctx *c = NULL;
	size_t len = 0, nlines = 0;
	struct stat st;
	int failed;

	jfd = openat(backup_dirfd, FILEDIFF_JOURNAL, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
	if (jfd < 0) {
		if (errno != ENOENT)
			return tardis_make_error(err, errno, "open journal");
		return fdiff_clear_backups(backup_dirfd, err);
	}
	if (fstat(jfd, &st) < 0)
		return tardis_make_error(err, errno, "stat journal");
	if (!S_ISREG(st.st_mode))
		return tardis_make_error(err, EINVAL, "the journal is not a regular file");
	if (read_journal(jfd, &st, &buf, &len, &lines, &nlines, err) < 0)
		return -1;
	/* Nothing to undo (the journal is empty, as a commit leaves it, or
	 * holds only the torn start of its first line): the rootfs is as it
	 * was, no sync of it is due (1.5 ms at every restore). */
	if (!nlines) {
		if (st.st_size && (ftruncate(jfd, 0) < 0 || fsync(jfd) < 0))
			return tardis_make_error(err, errno, "truncate journal");
		return fdiff_clear_backups(backup_dirfd, err);
	}
	c = fdiff_apply_ctx_new(rootfs, backup_dirfd, err);
	if (!c)
		return tardis_error_wrap(err, "roll back");
	failed = undo_lines(c, lines, nlines, buf + len, err);
	if (!failed && syncfs(c->rootfd) < 0) {
		tardis_make_error(err, errno, "sync rootfs");
		failed = 1;
	}
	fdiff_apply_ctx_free(c);
	if (failed > 1)
		tardis_error_wrap(err, "%d journal records failed, the newest", failed);
	if (failed)
		return tardis_error_wrap(err, "roll back `%s` (journal kept)", rootfs);
	/* The restored files are durable: the journal may go, then the backups. */
	if (ftruncate(jfd, 0) < 0 || fsync(jfd) < 0)
		return tardis_make_error(err, errno, "truncate journal");
	return fdiff_clear_backups(backup_dirfd, err);
}

int filediff_commit(int backup_dirfd, tardis_error_t *err)
{
	cleanup_close int jfd = openat(backup_dirfd, FILEDIFF_JOURNAL,
				       O_WRONLY | O_NOFOLLOW | O_CLOEXEC);

	if (jfd < 0 && errno != ENOENT)
		return tardis_make_error(err, errno, "open journal");
	if (jfd >= 0 && (ftruncate(jfd, 0) < 0 || fsync(jfd) < 0))
		return tardis_make_error(err, errno, "truncate journal");
	return fdiff_clear_backups(backup_dirfd, err);
}
