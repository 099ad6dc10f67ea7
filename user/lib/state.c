#include "state.h"
#include "cleanup.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int store_holds_path(const struct tardis_store *s, const char *path)
{
	size_t n = strlen(s->path);

	return strncmp(path, s->path, n) == 0 && path[n] == '/';
}

int store_id_valid(const char *id)
{
	size_t n;

	if (!id)
		return 0;
	n = strlen(id);
	if (n == 0 || n > TARDIS_ID_MAX || strcmp(id, ".") == 0 || strcmp(id, "..") == 0)
		return 0;
	for (const char *p = id; *p; p++) {
		char c = *p;

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '_' || (c >= '+' && c <= '.'))
			continue;
		return 0;
	}
	return 1;
}

uid_t store_euid(void)
{
	static uid_t euid = (uid_t)-1;

	if (euid == (uid_t)-1)
		euid = geteuid();
	return euid;
}

/* fd (st its stat) a directory of ours, mode 0700 (made so). */
static int check_dir(int fd, const struct stat *st, const char *name, tardis_error_t *err)
{
	if (!S_ISDIR(st->st_mode))
		return tardis_make_error(err, ENOTDIR, "`%s`", name);
	if (st->st_uid != store_euid())
		return tardis_make_error(err, EPERM, "`%s` is owned by uid %u, not by us", name,
					 (unsigned)st->st_uid);
	if ((st->st_mode & 07777) != 0700 && fchmod(fd, 0700) < 0)
		return tardis_make_error(err, errno, "chmod 0700 `%s`", name);
	return 0;
}

static int check_dir_fd(int fd, const char *name, tardis_error_t *err)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return tardis_make_error(err, errno, "stat `%s`", name);
	return check_dir(fd, &st, name, err);
}

/* store_subdir; unchecked: opened only, its caller checks it (check_dir). */
static int subdir_open(int dirfd, const char *name, int create, int unchecked,
		       tardis_error_t *err)
{
	int fd;

	if (create && mkdirat(dirfd, name, 0700) < 0 && errno != EEXIST)
		return tardis_make_error(err, errno, "mkdir `%s`", name);
	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		/* O_NOFOLLOW on a symlink gives ELOOP (or ENOTDIR with O_DIRECTORY). */
		return tardis_make_error(err, errno, "open directory `%s`", name);
	}
	if (!unchecked && check_dir_fd(fd, name, err) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

int store_subdir(int dirfd, const char *name, int create, tardis_error_t *err)
{
	return subdir_open(dirfd, name, create, 0, err);
}

int store_subdir_existing(int dirfd, const char *name, tardis_error_t *err)
{
	int fd = store_subdir(dirfd, name, 0, err);

	if (fd < 0 && err && tardis_error_errno(*err) == ENOENT) {
		tardis_error_free(err);
		return -ENOENT;
	}
	return fd;
}

static int path_dir_walk(struct tardis_store *s, const char *rel, int create, tardis_error_t *err)
{
	char buf[4096], *save = NULL, *name;
	int fd = -1;

	if (snprintf(buf, sizeof(buf), "%s", rel) >= (int)sizeof(buf))
		return tardis_make_error(err, ENAMETOOLONG, "`%.64s...`", rel);
	for (name = strtok_r(buf, "/", &save); name; name = strtok_r(NULL, "/", &save)) {
		int next;

		if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
			if (fd >= 0)
				close(fd);
			return tardis_make_error(err, EINVAL, "`%s` in `%s`", name, rel);
		}
		next = store_subdir(fd >= 0 ? fd : s->root_fd, name, create, err);
		if (fd >= 0)
			close(fd);
		if (next < 0)
			return -1;
		fd = next;
	}
	if (fd < 0)
		return tardis_make_error(err, EINVAL, "empty path in the state directory");
	return fd;
}

int store_path_dir(struct tardis_store *s, const char *rel, int create, tardis_error_t *err)
{
	for (int attempt = 0;; attempt++) {
		int fd = path_dir_walk(s, rel, create, err);

		/* An emptied parent pruned between our mkdir and open: again. */
		if (fd >= 0 || !create || attempt >= 100 || !err || !*err ||
		    (*err)->errnum != ENOENT)
			return fd;
		tardis_error_free(err);
	}
}

int store_open(struct tardis_store *s, const char *path, tardis_error_t *err)
{
	s->root_fd = -1;
	s->path = NULL;
	s->kept = NULL;
	if (!path || path[0] != '/')
		return tardis_make_error(err, EINVAL, "state directory must be absolute: `%s`",
					 path ? path : "");
	{
		/* Parents are ordinary directories (0755); the store itself 0700. */
		char parent[4096], *slash;

		snprintf(parent, sizeof(parent), "%s", path);
		slash = strrchr(parent, '/');
		if (slash && slash != parent) {
			*slash = '\0';
			if (mkdir_p(parent, 0755) < 0)
				return tardis_make_error(err, errno, "create parents of `%s`", path);
		}
	}
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return tardis_make_error(err, errno, "mkdir `%s`", path);
	s->root_fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (s->root_fd < 0)
		return tardis_make_error(err, errno, "open state directory `%s`", path);
	if (check_dir_fd(s->root_fd, path, err) < 0) {
		store_close(s);
		return -1;
	}
	s->path = strdup(path);
	return 0;
}

/* ---- directories kept open (the agent) ---------------------------------- */

#define KEPT_NS_MAX 8 /* namespaces: "k8s.io", "default", "moby", ... */

struct store_kept {
	/* -1 again (the fd left open: another thread may hold it) once the
	 * directory was found removed: then walked from the root. */
	int pids_fd, containers_fd;
	int forgotten_fd; /* what the agent removes when idle (store_sweep) */
	pthread_mutex_t mu; /* the namespace slots */
	unsigned next;      /* the slot a new namespace takes */
	struct {
		char name[TARDIS_ID_MAX + 1];
		int fd;
	} ns[KEPT_NS_MAX];
};

static void kept_free(struct store_kept *k)
{
	if (!k)
		return;
	if (k->pids_fd >= 0)
		close(k->pids_fd);
	if (k->containers_fd >= 0)
		close(k->containers_fd);
	if (k->forgotten_fd >= 0)
		close(k->forgotten_fd);
	for (int i = 0; i < KEPT_NS_MAX; i++)
		if (k->ns[i].fd >= 0)
			close(k->ns[i].fd);
	pthread_mutex_destroy(&k->mu);
	free(k);
}

int store_keep_dirs(struct tardis_store *s, tardis_error_t *err)
{
	struct store_kept *k;

	if (s->kept)
		return 0;
	k = calloc(1, sizeof(*k));
	if (!k)
		return tardis_make_error(err, ENOMEM, "state directory");
	pthread_mutex_init(&k->mu, NULL);
	for (int i = 0; i < KEPT_NS_MAX; i++)
		k->ns[i].fd = -1;
	k->pids_fd = store_subdir(s->root_fd, "pids", 1, err);
	k->containers_fd = k->pids_fd < 0 ? -1 : store_subdir(s->root_fd, "containers", 1, err);
	k->forgotten_fd = k->containers_fd < 0 ? -1 : store_subdir(s->root_fd, "forgotten", 1, err);
	if (k->forgotten_fd < 0) {
		kept_free(k);
		return -1;
	}
	s->kept = k;
	return 0;
}

void store_close(struct tardis_store *s)
{
	if (s->root_fd >= 0)
		close(s->root_fd);
	s->root_fd = -1;
	free(s->path);
	s->path = NULL;
	kept_free(s->kept);
	s->kept = NULL;
}

int store_pids_dir(struct tardis_store *s, int create, struct store_dir *d, tardis_error_t *err)
{
	/* -1 when not kept (any more) */
	d->fd = s->kept ? __atomic_load_n(&s->kept->pids_fd, __ATOMIC_ACQUIRE) : -1;
	d->owned = d->fd < 0;
	if (d->owned)
		d->fd = create ? store_subdir(s->root_fd, "pids", 1, err)
			       : store_subdir_existing(s->root_fd, "pids", err);
	return d->fd;
}

/* After a lookup in a kept directory found nothing: was the directory
 * itself removed (someone cleared the state dir)?  Then it is not kept
 * any more and the caller walks from the root again.  1 when so. */
static int kept_gone(int *which)
{
	struct stat st;
	int fd = __atomic_load_n(which, __ATOMIC_ACQUIRE);

	if (fd < 0 || fstat(fd, &st) < 0 || st.st_nlink > 0)
		return 0;
	__atomic_store_n(which, -1, __ATOMIC_RELEASE);
	return 1;
}

int store_pids_dir_gone(struct tardis_store *s)
{
	return s->kept && kept_gone(&s->kept->pids_fd);
}

int store_forgotten_dir(struct tardis_store *s)
{
	return s->kept ? s->kept->forgotten_fd : -1;
}

int store_forget_path(struct tardis_store *s, const char *path, tardis_error_t *err)
{
	static unsigned counter;
	cleanup_close int fd = -1;
	const char *base = strrchr(path, '/');
	char name[NAME_MAX + 1];

	fd = store_subdir(s->root_fd, "forgotten", 1, err);
	if (fd < 0)
		return -1;
	base = base ? base + 1 : path;
	/* Never starting with a dot: a sweep leaves those alone. */
	snprintf(name, sizeof(name), "%d.%u.%.200s", (int)getpid(),
		 __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED), base[0] == '.' ? base + 1 : base);
	if (renameat(AT_FDCWD, path, fd, name) < 0)
		return tardis_make_error(err, errno, "move `%s` to forgotten/", path);
	return 0;
}

int store_sweep(struct tardis_store *s, DIR **cursor, int max)
{
	struct dirent *de;
	int fd = store_forgotten_dir(s), n = 0;

	/* One listing for the whole sweep: each new one of a big ext4
	 * directory hashes every entry again (perf: 15 % of a burst). */
	if (fd < 0 || (!*cursor && !(*cursor = fdopendir_reopen(fd))))
		return 0;
	while (n < max) {
		de = readdir(*cursor);
		if (!de) {
			closedir(*cursor);
			*cursor = NULL;
			break;
		}
		if (de->d_name[0] == '.')
			continue;
		remove_tree_at(fd, de->d_name);
		n++;
	}
	return n;
}

void store_dir_release(struct store_dir *d)
{
	if (d->owned && d->fd >= 0)
		close(d->fd);
	d->fd = -1;
}

/* The kept namespace directory's slot (opened now when missing or when
 * fresh is set), under k->mu; -1 with *err when it cannot be opened. */
static int kept_ns(struct store_kept *k, const char *ns, int create, int fresh,
		   tardis_error_t *err)
{
	int i, fd;

	for (i = 0; i < KEPT_NS_MAX; i++)
		if (k->ns[i].fd >= 0 && strcmp(k->ns[i].name, ns) == 0)
			break;
	if (i < KEPT_NS_MAX && !fresh)
		return i;
	fd = store_subdir(k->containers_fd, ns, create, err);
	if (fd < 0 && err && *err && (*err)->errnum == ENOENT && kept_gone(&k->containers_fd))
		return -2;
	if (fd < 0)
		return -1;
	if (i == KEPT_NS_MAX)
		i = k->next++ % KEPT_NS_MAX;
	if (k->ns[i].fd >= 0)
		close(k->ns[i].fd);
	k->ns[i].fd = fd;
	strcpy(k->ns[i].name, ns);
	return i;
}

/* store_container_dir's walk from the kept directories.  A namespace
 * directory removed since it was kept gives ENOENT for every name: it is
 * opened again before ENOENT is believed. */
static int kept_container_dir(struct store_kept *k, const char *ns, const char *id, int create,
			      int unchecked, tardis_error_t *err)
{
	int fresh = 0;

	for (int attempt = 0;; attempt++) {
		int slot, fd = -1;

		pthread_mutex_lock(&k->mu);
		slot = k->containers_fd < 0 ? -2 : kept_ns(k, ns, create, fresh, err);
		if (slot >= 0)
			fd = subdir_open(k->ns[slot].fd, id, create, unchecked, err);
		pthread_mutex_unlock(&k->mu);
		if (fd >= 0 || slot == -2)
			return slot == -2 ? -2 : fd;
		if (attempt >= 100 || !err || !*err || (*err)->errnum != ENOENT ||
		    (slot < 0 && !create) || (fresh && !create))
			return -1;
		tardis_error_free(err);
		fresh = 1;
	}
}

/* store_container_dir; unchecked: its last component only opened. */
static int container_dir(struct tardis_store *s, const char *ns, const char *id, int create,
			 int unchecked, tardis_error_t *err)
{
	cleanup_close int cfd = -1;
	cleanup_close int nsfd = -1;

	/* Validated before any path is built. */
	if (!store_id_valid(ns))
		return tardis_make_error(err, EINVAL, "invalid namespace `%.64s`", ns ? ns : "");
	if (!store_id_valid(id))
		return tardis_make_error(err, EINVAL, "invalid container id `%.64s`", id ? id : "");
	if (s->kept) {
		int fd = kept_container_dir(s->kept, ns, id, create, unchecked, err);

		if (fd != -2)
			return fd;
		/* containers/ itself was removed: walked from the root now. */
		tardis_error_free(err);
	}
	for (int attempt = 0;; attempt++) {
		int fd;

		cfd = store_subdir(s->root_fd, "containers", create, err);
		if (cfd < 0)
			return -1;
		nsfd = store_subdir(cfd, ns, create, err);
		if (nsfd >= 0) {
			fd = subdir_open(nsfd, id, create, unchecked, err);
			if (fd >= 0)
				return fd;
		}
		/* store_container_remove of the namespace's last container takes
		 * the namespace directory away between our mkdir and open (or
		 * under our mkdir of the id): walk again. */
		if (!create || attempt >= 100 || !err || !*err || (*err)->errnum != ENOENT)
			return -1;
		tardis_error_free(err);
		close(cfd);
		cfd = -1;
		if (nsfd >= 0)
			close(nsfd);
		nsfd = -1;
	}
}

int store_container_dir(struct tardis_store *s, const char *ns, const char *id, int create,
			tardis_error_t *err)
{
	return container_dir(s, ns, id, create, 0, err);
}

int store_container_lock(struct tardis_store *s, const char *ns, const char *id, int create,
			 tardis_error_t *err)
{
	for (int attempt = 0; attempt < 100; attempt++) {
		struct stat st;
		int dfd;

		dfd = container_dir(s, ns, id, create, 1, err);
		if (dfd < 0)
			return -1;
		/* The lock is the directory itself, on this open file.  Not a
		 * file inside: a remover must unlink it before its rmdir, and
		 * one who opened the directory before could make a new one
		 * meanwhile and hold "the" lock alongside the remover. */
		if (flock(dfd, LOCK_EX) < 0) {
			int e = errno;

			close(dfd);
			return tardis_make_error(err, e, "lock %s/%s", ns, id);
		}
		/* One stat, once locked: what store_subdir checks, and whether
		 * the holder before us removed the directory. */
		if (fstat(dfd, &st) < 0 || check_dir(dfd, &st, id, err) < 0) {
			int e = errno;

			close(dfd);
			return err && *err ? -1 : tardis_make_error(err, e, "stat %s/%s", ns, id);
		}
		if (st.st_nlink > 0)
			return dfd;
		close(dfd);
		if (!create)
			return tardis_make_error(err, ENOENT, "container %s/%s", ns, id);
	}
	return tardis_make_error(err, EAGAIN, "container %s/%s keeps disappearing", ns, id);
}

int store_container_remove(struct tardis_store *s, const char *ns, const char *id,
			   tardis_error_t *err)
{
	cleanup_close int cfd = -1;
	cleanup_close int nsfd = -1;
	cleanup_close int dfd = -1;
	cleanup_dir DIR *d = NULL;
	struct dirent *de;
	int fd;

	dfd = store_container_dir(s, ns, id, 0, err);
	if (dfd < 0)
		return (*err && (*err)->errnum == ENOENT) ? (tardis_error_free(err), 0) : -1;
	fd = dup(dfd);
	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return tardis_make_error(err, errno, "list %s/%s", ns, id);
	}
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (unlinkat(dfd, de->d_name, 0) < 0 && errno != ENOENT)
			return tardis_make_error(err, errno, "remove %s/%s/%s", ns, id, de->d_name);
	}
	cfd = store_subdir(s->root_fd, "containers", 0, err);
	if (cfd < 0)
		return -1;
	nsfd = store_subdir(cfd, ns, 0, err);
	if (nsfd < 0)
		return -1;
	if (unlinkat(nsfd, id, AT_REMOVEDIR) < 0 && errno != ENOENT)
		return tardis_make_error(err, errno, "remove %s/%s", ns, id);
	/* Harmless if another container still lives in the namespace. */
	unlinkat(cfd, ns, AT_REMOVEDIR);
	return 0;
}
