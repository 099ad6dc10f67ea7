/* Applying: an image's deletions, then its entries, onto a mounted rootfs;
 * every change journaled first (filediff_undo.c undoes them). */
#include "filediff_internal.h"
#include "cleanup.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

static int cmp_str(const void *a, const void *b)
{
	return strcmp(a, b);
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
 * entries) is about to change; ahead: not durable yet (journal_ahead). */
static int note_dir(struct apply_ctx *c, const char *path, const struct stat *st, int ahead,
		    tardis_error_t *err)
{
	char head[128];

	if (tfind(path, &c->noted, cmp_str))
		return 0;
	snprintf(head, sizeof(head), "meta %o %u %u %lld %ld", (unsigned)(st->st_mode & 07777),
		 (unsigned)st->st_uid, (unsigned)st->st_gid, (long long)st->st_mtim.tv_sec,
		 (long)st->st_mtim.tv_nsec);
	if ((ahead ? fdiff_journal_put : fdiff_journal_add)(c, head, path, err) < 0)
		return -1;
	if (mark(c, path) < 0)
		return tardis_make_error(err, ENOMEM, "apply");
	return 0;
}

static int touch_parent(struct apply_ctx *c, const char *path, int pfd, int ahead,
			tardis_error_t *err)
{
	char parent[FILEDIFF_PATH_MAX + 1];
	struct stat st;

	fdiff_parent_path(path, parent);
	if (tfind(parent, &c->noted, cmp_str))
		return 0;
	if (fstat(pfd, &st) < 0)
		return tardis_make_error(err, errno, "stat parent of `%s`", path);
	return note_dir(c, parent, &st, ahead, err);
}

static void parent_drop(struct parent_cache *p)
{
	if (p->fd >= 0)
		close(p->fd);
	p->fd = -1;
}

/* After a removal: a cached parent's path may now resolve elsewhere. */
static void parents_drop(struct apply_ctx *c)
{
	parent_drop(&c->ahead_parent);
	parent_drop(&c->apply_parent);
}

/* fdiff_open_parent through p: the fd is p's (not to be closed), or
 * -errno as fdiff_open_parent's. */
static int parent_open(struct apply_ctx *c, struct parent_cache *p, const char *path,
		       const char **name)
{
	char parent[FILEDIFF_PATH_MAX + 1];
	const char *slash = strrchr(path, '/');
	int fd;

	fdiff_parent_path(path, parent);
	if (p->fd >= 0 && strcmp(p->path, parent) == 0) {
		*name = slash ? slash + 1 : path;
		return p->fd;
	}
	struct stat st;

	fd = fdiff_open_parent(c->rootfd, c->dev, path, name, c->bad);
	if (fd < 0)
		return fd;
	if (fstat(fd, &st) < 0) {
		int e = errno;

		close(fd);
		return -e;
	}
	parent_drop(p);
	p->fd = fd;
	p->acl_default = -1;
	p->new_gid = st.st_mode & S_ISGID ? st.st_gid : c->egid;
	memcpy(p->path, parent, strlen(parent) + 1);
	return fd;
}

/* 0 when what is created in p's directory inherits no ACL (it has no
 * default ACL, or the filesystem has no ACLs), else 1; asked once. */
static int parent_acl_default(struct parent_cache *p)
{
	if (p->acl_default < 0) {
		ssize_t n = fgetxattr(p->fd, "system.posix_acl_default", NULL, 0);

		p->acl_default = !(n < 0 && (errno == ENODATA || errno == ENOTSUP ||
					     errno == EOPNOTSUPP));
	}
	return p->acl_default;
}

struct backed_inode {
	dev_t dev;
	ino_t ino;
	unsigned backup;
};

static int cmp_inode(const void *a, const void *b)
{
	const struct backed_inode *x = a, *y = b;

	if (x->dev != y->dev)
		return x->dev < y->dev ? -1 : 1;
	return x->ino < y->ino ? -1 : x->ino > y->ino;
}

/* An original of more names: a later name of the same inode is journaled
 * as `samefile <first backup> <path>`, so that the rollback links the
 * restored copies into one inode again. */
static int note_inode(struct apply_ctx *c, int pfd, const char *name, const char *path,
		      unsigned n, tardis_error_t *err)
{
	struct backed_inode key, *b;
	struct stat st;
	void *node;
	char head[48];

	if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return tardis_make_error(err, errno, "stat `%s`", path);
	if (S_ISDIR(st.st_mode))
		return 0;
	/* (Its link count is 1 once the other names are gone.) */
	key = (struct backed_inode){ st.st_dev, st.st_ino, n };
	node = tfind(&key, &c->inodes, cmp_inode);
	if (node) {
		snprintf(head, sizeof(head), "samefile %u", (*(struct backed_inode **)node)->backup);
		return fdiff_journal_add(c, head, path, err);
	}
	if (st.st_nlink < 2)
		return 0;
	b = malloc(sizeof(*b));
	if (!b || !tsearch(b, &c->inodes, cmp_inode)) {
		free(b);
		return tardis_make_error(err, ENOMEM, "apply");
	}
	*b = key;
	return 0;
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
	if (fdiff_journal_add(c, head, path, err) < 0 || note_inode(c, pfd, name, path, n, err) < 0)
		return -1;
	if (fdiff_copy_tree(pfd, name, c->bfd, tmp, c->dev, 1, c->buf, err) < 0)
		return tardis_error_wrap(err, "back up `%s`", path);
	if (renameat(c->bfd, tmp, c->bfd, bname) < 0 || fsync(c->bfd) < 0)
		return tardis_make_error(err, errno, "back up `%s`", path);
	filediff_test_point();
	if (fdiff_remove_tree(pfd, name, c->dev, err) < 0)
		return tardis_error_wrap(err, "remove `%s`", path);
	filediff_test_point();
	return 0;
}

static int apply_deletion(enum filediff_deletion kind, const char *path, void *arg,
			  tardis_error_t *err)
{
	struct apply_ctx *c = arg;
	cleanup_close int pfd = -1;
	const char *name;
	struct stat st;

	pfd = fdiff_open_parent(c->rootfd, c->dev, path, &name, c->bad);
	if (pfd == -ENOENT || pfd == -ENOTDIR)
		return 0; /* nothing can be there */
	if (pfd < 0)
		return fdiff_resolve_error(err, -pfd, path, c->bad);
	if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : tardis_make_error(err, errno, "stat `%s`", path);
	if (kind == FILEDIFF_OPAQUE && S_ISDIR(st.st_mode)) {
		cleanup_names char **names = NULL;
		cleanup_close int fd = fdiff_open_dir_at(pfd, name, c->dev);
		char child[FILEDIFF_PATH_MAX + 1];

		if (fd < 0)
			return fdiff_resolve_error(err, -fd, path, path);
		if (fstat(fd, &st) < 0 || fdiff_list_dir(fd, &names, NULL) < 0)
			return tardis_make_error(err, errno, "list `%s`", path);
		if (note_dir(c, path, &st, 0, err) < 0)
			return -1;
		for (char **p = names; *p; p++) {
			if (fdiff_join_path(child, path, *p) < 0)
				return tardis_make_error(err, ENAMETOOLONG, "`%s/%s`", path, *p);
			if (backup_and_remove(c, fd, *p, child, err) < 0)
				return -1;
		}
		return 0;
	}
	if (touch_parent(c, path, pfd, 0, err) < 0)
		return -1;
	return backup_and_remove(c, pfd, name, path, err);
}

static int defer_dir_time(struct apply_ctx *c, const struct filediff_entry *e)
{
	if (grow_array(&c->dirs, &c->cap, c->ndirs + 1, sizeof(*c->dirs)) < 0)
		return -1;
	c->dirs[c->ndirs].path = strdup(e->path);
	if (!c->dirs[c->ndirs].path)
		return -1;
	c->dirs[c->ndirs].mtime.tv_sec = (time_t)e->mtime_sec;
	c->dirs[c->ndirs].mtime.tv_nsec = e->mtime_nsec;
	c->ndirs++;
	return 0;
}

/* Owner first (chown drops setuid bits and capabilities), then xattrs
 * (security.capability, ACLs), then mode, then the time. */
static int set_meta(struct apply_ctx *c, int pfd, const char *name,
		    const struct filediff_entry *e, tardis_error_t *err)
{
	struct timespec ts[2] = { { 0, UTIME_OMIT },
				  { (time_t)e->mtime_sec, (long)e->mtime_nsec } };
	const char *failed = NULL;

	if (fchownat(pfd, name, e->uid, e->gid, AT_SYMLINK_NOFOLLOW) < 0)
		return tardis_make_error(err, errno, "set owner of `%s`", e->path);
	if (fdiff_xattrs_write(pfd, name, e->xattrs, e->nxattrs, 0, &failed) < 0)
		return tardis_make_error(err, errno, "set xattr %s of `%s`", failed, e->path);
	if (e->type != FILEDIFF_SYMLINK && fchmodat(pfd, name, e->mode, 0) < 0)
		return tardis_make_error(err, errno, "set mode of `%s`", e->path);
	if (e->type != FILEDIFF_DIR && utimensat(pfd, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
		return tardis_make_error(err, errno, "set time of `%s`", e->path);
	return 0;
}

/* set_meta on a regular file just created (O_EXCL, mode created) and
 * open as fd (no path walked again), in parent p: the owner and mode it
 * got already are not set again (through overlayfs each costs as much as
 * a third of the file's creation). */
static int set_meta_fd(struct apply_ctx *c, struct parent_cache *p, int fd, mode_t created,
		       const struct filediff_entry *e, tardis_error_t *err)
{
	struct timespec ts[2] = { { 0, UTIME_OMIT },
				  { (time_t)e->mtime_sec, (long)e->mtime_nsec } };
	const char *failed = NULL;
	int inherited = parent_acl_default(p);
	int chown_needed = inherited || e->uid != c->euid || e->gid != p->new_gid;

	if (chown_needed && fchown(fd, e->uid, e->gid) < 0)
		return tardis_make_error(err, errno, "set owner of `%s`", e->path);
	if (fdiff_xattrs_write_fd(fd, e->xattrs, e->nxattrs, inherited, &failed) < 0)
		return tardis_make_error(err, errno, "set xattr %s of `%s`", failed, e->path);
	/* chown drops setuid and setgid bits: set after it, as a default
	 * ACL's mask may have narrowed the created mode. */
	if ((chown_needed || inherited || (created & ~c->umask) != (e->mode & 07777)) &&
	    fchmod(fd, e->mode) < 0)
		return tardis_make_error(err, errno, "set mode of `%s`", e->path);
	if (futimens(fd, ts) < 0)
		return tardis_make_error(err, errno, "set time of `%s`", e->path);
	return 0;
}

/* The data blocks at their offsets, the length last (when a hole ends the
 * file): holes stay holes.  pfd is c->apply_parent's. */
static int write_file(struct apply_ctx *c, int pfd, const char *name,
		      const struct filediff_entry *e, tardis_error_t *err)
{
	cleanup_close int fd = -1;
	const void *p;
	size_t n;
	uint64_t off, end = 0;
	int r;

	/* Its own mode but setuid, setgid and sticky (set after its owner);
	 * written through this fd whatever the mode says. */
	mode_t created = e->mode & 0777;

	fd = openat(pfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, created);
	if (fd < 0)
		return tardis_make_error(err, errno, "create `%s`", e->path);
	filediff_test_point();
	while ((r = filediff_entry_data(e, &p, &n, &off, err)) > 0) {
		while (n) {
			ssize_t w = pwrite(fd, p, n, (off_t)off);

			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				return tardis_make_error(err, w < 0 ? errno : EIO, "write `%s`",
							 e->path);
			p = (const char *)p + w;
			n -= (size_t)w;
			off += (uint64_t)w;
		}
		if (off > end)
			end = off;
	}
	if (r < 0)
		return -1;
	/* Created empty (O_EXCL): its length is where the data ended. */
	if (end != e->size && ftruncate(fd, (off_t)e->size) < 0)
		return tardis_make_error(err, errno, "set the length of `%s`", e->path);
	if (set_meta_fd(c, &c->apply_parent, fd, created, e, err) < 0)
		return -1;
	filediff_test_point();
	return 0;
}

/* A later name of an earlier entry: the target resolved inside the rootfs
 * the same way (no symlink followed, no other filesystem), and no directory. */
static int make_hardlink(struct apply_ctx *c, int pfd, const char *name,
			 const struct filediff_entry *e, tardis_error_t *err)
{
	cleanup_close int tfd = -1;
	const char *tname;
	struct stat st;

	tfd = fdiff_open_parent(c->rootfd, c->dev, e->linkpath, &tname, c->bad);
	if (tfd < 0) {
		fdiff_resolve_error(err, -tfd, e->linkpath, c->bad);
		return tardis_error_wrap(err, "target of hard link `%s`", e->path);
	}
	if (fstatat(tfd, tname, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return tardis_make_error(err, errno, "target `%s` of hard link `%s`", e->linkpath,
					 e->path);
	if (S_ISDIR(st.st_mode) || st.st_dev != c->dev)
		return tardis_make_error(err, EPERM, "target `%s` of hard link `%s` is a directory",
					 e->linkpath, e->path);
	if (linkat(tfd, tname, pfd, name, 0) < 0)
		return tardis_make_error(err, errno, "hard link `%s` to `%s`", e->path, e->linkpath);
	return 0;
}

static int create_entry(struct apply_ctx *c, int pfd, const char *name,
			const struct filediff_entry *e, tardis_error_t *err)
{
	switch (e->type) {
	case FILEDIFF_DIR:
		if (mark(c, e->path) < 0 || defer_dir_time(c, e) < 0)
			return tardis_make_error(err, ENOMEM, "apply");
		if (mkdirat(pfd, name, 0700) < 0)
			return tardis_make_error(err, errno, "mkdir `%s`", e->path);
		return set_meta(c, pfd, name, e, err);
	case FILEDIFF_REG:
		return write_file(c, pfd, name, e, err);
	case FILEDIFF_SYMLINK:
		if (symlinkat(e->linkpath, pfd, name) < 0)
			return tardis_make_error(err, errno, "symlink `%s`", e->path);
		return set_meta(c, pfd, name, e, err);
	case FILEDIFF_HARDLINK:
		return make_hardlink(c, pfd, name, e, err);
	case FILEDIFF_FIFO:
	case FILEDIFF_CHR:
	case FILEDIFF_BLK: {
		mode_t t = e->type == FILEDIFF_FIFO ? S_IFIFO
			   : e->type == FILEDIFF_CHR ? S_IFCHR
						     : S_IFBLK;

		if (mknodat(pfd, name, t | 0600, makedev(e->rdev_major, e->rdev_minor)) < 0)
			return tardis_make_error(err, errno, "mknod `%s`", e->path);
		return set_meta(c, pfd, name, e, err);
	}
	}
	return tardis_make_error(err, EINVAL, "`%s`: unknown type", e->path);
}

/* Group commit.  An entry that creates what is not there needs only its
 * "created" record (and its directory's "meta") durable before it is
 * applied: the records of the next entries of that kind are written ahead
 * and made durable with one fdatasync, then applied one by one.  A record
 * whose entry was never applied (killed, failed) is undone as nothing: its
 * path was not there when it was written, and only this apply creates
 * paths in the rootfs.  The entries that replace something (backups) are
 * journaled one at a time, as before; journaling ahead stops at them. */
#define AHEAD 1024

/* 1: entry i's records are written ahead; 0: it needs a backup, or its
 * path cannot be resolved (applied on its own); -1 with *err. */
static int intend(struct apply_ctx *c, struct planned *p, tardis_error_t *err)
{
	const char *name;
	struct stat st;
	int pfd;

	pfd = parent_open(c, &c->ahead_parent, p->path, &name);
	if (pfd == -ENOENT) {
		/* Its directory is an earlier entry, created by this apply. */
		p->created = 1;
		return fdiff_journal_put(c, "created", p->path, err) < 0 ? -1 : 1;
	}
	if (pfd < 0)
		return 0;
	if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		if (p->type != FILEDIFF_DIR || !S_ISDIR(st.st_mode))
			return 0;
		return note_dir(c, p->path, &st, 1, err) < 0 ? -1 : 1;
	}
	if (errno != ENOENT)
		return 0;
	if (touch_parent(c, p->path, pfd, 1, err) < 0)
		return -1;
	p->created = 1;
	return fdiff_journal_put(c, "created", p->path, err) < 0 ? -1 : 1;
}

static int journal_ahead(struct apply_ctx *c, tardis_error_t *err)
{
	size_t i = c->next, end = c->nplan - c->next > AHEAD ? c->next + AHEAD : c->nplan;
	int r = 1;

	while (i < end && (r = intend(c, &c->plan[i], err)) > 0)
		i++;
	if (r < 0)
		return -1;
	if (i > c->next && fdatasync(c->jfd) < 0)
		return tardis_make_error(err, errno, "sync journal");
	c->intended = i;
	return 0;
}

static int apply_entry(const struct filediff_entry *e, void *arg, tardis_error_t *err)
{
	struct apply_ctx *c = arg;
	const char *name;
	struct stat st;
	int pfd, exists, ahead, r;

	if (c->next >= c->nplan || strcmp(c->plan[c->next].path, e->path) != 0)
		return tardis_make_error(err, EINVAL, "`%s`: not the entry validated", e->path);
	if (c->next >= c->intended && journal_ahead(c, err) < 0)
		return -1;
	ahead = c->next < c->intended && c->plan[c->next].created;
	c->next++;
	pfd = parent_open(c, &c->apply_parent, e->path, &name);
	if (pfd < 0)
		return fdiff_resolve_error(err, -pfd, e->path, c->bad);
	/* Journaled ahead as created: it was not there then, and nothing but
	 * this apply creates paths in the rootfs (an O_EXCL create fails if
	 * that were wrong). */
	exists = !ahead && fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
	if (!ahead && !exists && errno != ENOENT)
		return tardis_make_error(err, errno, "stat `%s`", e->path);

	/* An existing directory keeps its xattrs (the journal cannot undo
	 * them); owner and mode are journaled. */
	if (exists && e->type == FILEDIFF_DIR && S_ISDIR(st.st_mode)) {
		cleanup_close int fd = fdiff_open_dir_at(pfd, name, c->dev);

		if (fd < 0)
			return fdiff_resolve_error(err, -fd, e->path, e->path);
		if (note_dir(c, e->path, &st, 0, err) < 0)
			return -1;
		if (fchown(fd, e->uid, e->gid) < 0 || fchmod(fd, e->mode) < 0)
			return tardis_make_error(err, errno, "set owner and mode of `%s`", e->path);
		return defer_dir_time(c, e) < 0 ? tardis_make_error(err, ENOMEM, "apply") : 0;
	}

	if (touch_parent(c, e->path, pfd, 0, err) < 0)
		return -1;
	if (exists) {
		if (backup_and_remove(c, pfd, name, e->path, err) < 0)
			return -1;
	} else if (!ahead && fdiff_journal_add(c, "created", e->path, err) < 0) {
		return -1;
	}
	r = create_entry(c, pfd, name, e, err);
	if (exists)
		parents_drop(c); /* pfd too: it is apply_parent's */
	return r;
}

/* The validating pass: the entries, for journaling ahead. */
static int plan_entry(const struct filediff_entry *e, void *arg, tardis_error_t *err)
{
	struct apply_ctx *c = arg;

	if (grow_array(&c->plan, &c->plan_cap, c->nplan + 1, sizeof(*c->plan)) < 0 ||
	    !(c->plan[c->nplan].path = strdup(e->path)))
		return tardis_make_error(err, ENOMEM, "apply");
	c->plan[c->nplan].type = e->type;
	c->plan[c->nplan++].created = 0;
	return 0;
}

/* Directory times last: creating their entries changed them. */
static int apply_dir_times(struct apply_ctx *c, tardis_error_t *err)
{
	for (size_t i = 0; i < c->ndirs; i++) {
		struct timespec ts[2] = { { 0, UTIME_OMIT }, c->dirs[i].mtime };
		cleanup_close int pfd = -1;
		cleanup_close int fd = -1;
		const char *name;

		pfd = fdiff_open_parent(c->rootfd, c->dev, c->dirs[i].path, &name, c->bad);
		if (pfd >= 0)
			fd = fdiff_open_dir_at(pfd, name, c->dev);
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

void fdiff_apply_ctx_free(struct apply_ctx *c)
{
	if (!c)
		return;
	if (c->rootfd >= 0)
		close(c->rootfd);
	if (c->jfd >= 0)
		close(c->jfd);
	parents_drop(c);
	tdestroy(c->noted, free);
	tdestroy(c->inodes, free);
	for (size_t i = 0; i < c->ndirs; i++)
		free(c->dirs[i].path);
	free(c->dirs);
	for (size_t i = 0; i < c->nplan; i++)
		free(c->plan[i].path);
	free(c->plan);
	free(c->buf);
	free(c);
}

struct apply_ctx *fdiff_apply_ctx_new(const char *rootfs, int backup_dirfd, tardis_error_t *err)
{
	struct apply_ctx *c = calloc(1, sizeof(*c));
	struct stat st;

	if (!c || !(c->buf = malloc(COPY_BUF))) {
		free(c);
		tardis_make_error(err, ENOMEM, "apply");
		return NULL;
	}
	c->jfd = -1;
	c->ahead_parent.fd = c->apply_parent.fd = -1;
	c->bfd = backup_dirfd;
	c->rootfd = open(rootfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (c->rootfd < 0 || fstat(c->rootfd, &st) < 0) {
		tardis_make_error(err, errno, "open rootfs `%s`", rootfs);
		fdiff_apply_ctx_free(c);
		return NULL;
	}
	c->dev = st.st_dev;
	c->euid = geteuid();
	c->egid = getegid();
	c->umask = umask(0);
	umask(c->umask);
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
	c = fdiff_apply_ctx_new(rootfs, backup_dirfd, err);
	if (!c)
		goto out;
	if (filediff_deleted_foreach(del.p, del.len, NULL, NULL, err) < 0 ||
	    filediff_tar_foreach(tar.p, tar.len, plan_entry, c, err) < 0) {
		tardis_error_wrap(err, "invalid saved files");
		goto out;
	}
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
	if (fdiff_clear_backups(backup_dirfd, err) < 0)
		goto out;
	if (filediff_deleted_foreach(del.p, del.len, apply_deletion, c, err) < 0 ||
	    filediff_tar_foreach(tar.p, tar.len, apply_entry, c, err) < 0 ||
	    apply_dir_times(c, err) < 0)
		goto out;
	ret = 0;
out:
	if (ret < 0)
		tardis_error_wrap(err, "apply saved files onto `%s`", rootfs);
	fdiff_apply_ctx_free(c);
	unmap(&tar);
	unmap(&del);
	return ret;
}
