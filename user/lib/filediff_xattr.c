/* A file's extended attributes, read and set by name below a directory fd
 * without following a symlink (through /proc/self/fd, as the *xattr calls
 * have no *at form): the same code for every file type. */
#include "filediff_internal.h"
#include "util.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>

void fdiff_at_path(char *out, int dirfd, const char *name)
{
	snprintf(out, PATH_MAX, "/proc/self/fd/%d/%s", dirfd, name);
}

static int unsupported(int e)
{
	return e == ENOTSUP || e == EOPNOTSUPP;
}

static int is_overlay_xattr(const char *n)
{
	return strncmp(n, "trusted.overlay.", 16) == 0 || strncmp(n, "user.overlay.", 13) == 0;
}

void fdiff_xattrs_free(struct fdiff_xattrs *x)
{
	for (size_t i = 0; i < x->n; i++)
		free((void *)x->v[i].value);
	free(x->v);
	free(x->names);
	memset(x, 0, sizeof(*x));
}

/* One xattr's value: by path, or fd when >= 0. */
static ssize_t get_one(const char *path, int fd, const char *n, void *val, size_t size)
{
	return fd >= 0 ? fgetxattr(fd, n, val, size) : lgetxattr(path, n, val, size);
}

static int read_one(const char *path, int fd, const char *n, struct fdiff_xattrs *x)
{
	ssize_t len = get_one(path, fd, n, NULL, 0);
	void *val;

	if (len < 0)
		return errno == ENODATA ? 0 : -1; /* removed meanwhile */
	val = malloc(len ? (size_t)len : 1);
	if (!val)
		return -1;
	len = get_one(path, fd, n, val, (size_t)len);
	if (len < 0 || grow_array(&x->v, &x->cap, x->n + 1, sizeof(*x->v)) < 0) {
		free(val);
		if (len < 0 && errno == ERANGE)
			errno = EAGAIN; /* grew meanwhile */
		return -1;
	}
	x->v[x->n++] = (struct filediff_xattr){ n, val, (size_t)len };
	return 0;
}

/* The list of names, by path or fd when >= 0. */
static ssize_t list_one(const char *path, int fd, char *buf, size_t size)
{
	return fd >= 0 ? flistxattr(fd, buf, size) : llistxattr(path, buf, size);
}

/* The names, by path or fd: one call for the usual file (no xattrs, or a
 * few short names), a second to size a longer list. */
static ssize_t list_names(const char *path, int fd, char **names)
{
	char small[1024];
	ssize_t len = list_one(path, fd, small, sizeof(small));
	int in_small = len >= 0;

	*names = NULL;
	if (len < 0 && errno != ERANGE)
		return -1;
	if (!in_small)
		len = list_one(path, fd, NULL, 0);
	if (len <= 0)
		return len;
	if (!(*names = malloc((size_t)len + 1)))
		return -1;
	if (in_small) {
		memcpy(*names, small, (size_t)len);
	} else if ((len = list_one(path, fd, *names, (size_t)len)) < 0) {
		if (errno == ERANGE)
			errno = EAGAIN; /* grew meanwhile */
		return -1;
	}
	(*names)[len] = '\0';
	return len;
}

static int read_all(const char *path, int fd, struct fdiff_xattrs *x)
{
	ssize_t len;

	memset(x, 0, sizeof(*x));
	len = list_names(path, fd, &x->names);
	if (len < 0)
		return unsupported(errno) ? 0 : -1;
	x->names_len = (size_t)len;
	for (char *n = x->names; n && n < x->names + len; n += strlen(n) + 1) {
		if (is_overlay_xattr(n))
			continue;
		if (read_one(path, fd, n, x) < 0)
			return -1;
	}
	return 0;
}

int fdiff_xattrs_read(int dirfd, const char *name, struct fdiff_xattrs *x)
{
	char path[PATH_MAX];

	fdiff_at_path(path, dirfd, name);
	return read_all(path, -1, x);
}

int fdiff_xattrs_read_fd(int fd, struct fdiff_xattrs *x)
{
	return read_all(NULL, fd, x);
}

int fdiff_xattrs_has(const struct fdiff_xattrs *x, const char *name)
{
	for (const char *n = x->names; n && n < x->names + x->names_len; n += strlen(n) + 1)
		if (strcmp(n, name) == 0)
			return 1;
	return 0;
}

/* The ACLs a new file inherited from its directory's default ACL, unless
 * they are among v (what it had when saved): by path, or fd when >= 0. */
static int drop_inherited_acls(const char *path, int fd, const struct filediff_xattr *v, size_t n,
			       const char **failed)
{
	static const char *const acls[] = { "system.posix_acl_access", "system.posix_acl_default" };

	for (size_t a = 0; a < 2; a++) {
		int have = 0;

		for (size_t i = 0; i < n && !have; i++)
			have = strcmp(v[i].name, acls[a]) == 0;
		if (!have && (fd >= 0 ? fremovexattr(fd, acls[a]) : lremovexattr(path, acls[a])) < 0 &&
		    errno != ENODATA && !unsupported(errno) && errno != EPERM) {
			*failed = acls[a];
			return -1;
		}
	}
	return 0;
}

/* v set by path, or fd when >= 0. */
static int set_all(const char *path, int fd, const struct filediff_xattr *v, size_t n,
		   int best_effort, const char **failed)
{
	for (size_t i = 0; i < n; i++) {
		if (is_overlay_xattr(v[i].name))
			continue;
		if ((fd >= 0 ? fsetxattr(fd, v[i].name, v[i].value, v[i].size, 0)
			     : lsetxattr(path, v[i].name, v[i].value, v[i].size, 0)) < 0) {
			/* A backup's copy: what cannot be set where it goes. */
			if (best_effort && (unsupported(errno) || errno == EPERM ||
					    errno == EACCES || errno == EINVAL))
				continue;
			*failed = v[i].name;
			return -1;
		}
	}
	return 0;
}

int fdiff_xattrs_write(int dirfd, const char *name, const struct filediff_xattr *v, size_t n,
		       int best_effort, const char **failed)
{
	char path[PATH_MAX];

	fdiff_at_path(path, dirfd, name);
	if (drop_inherited_acls(path, -1, v, n, failed) < 0)
		return -1;
	return set_all(path, -1, v, n, best_effort, failed);
}

int fdiff_xattrs_write_fd(int fd, const struct filediff_xattr *v, size_t n, int inherited,
			  const char **failed)
{
	if (inherited && drop_inherited_acls(NULL, fd, v, n, failed) < 0)
		return -1;
	return set_all(NULL, fd, v, n, 0, failed);
}
