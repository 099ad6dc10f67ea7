/* Relative paths of a filediff, resolved below a root one component at a
 * time (never following a symlink, never crossing a mount), and sorted
 * directory listings. */
#include "filediff_internal.h"
#include "cleanup.h"
#include "crashpoint.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int filediff_test_kill_after;

void filediff_test_point(void)
{
	if (filediff_test_kill_after > 0 && --filediff_test_kill_after == 0)
		raise(SIGKILL);
	crash_point("filediff-step");
}

/* Checks a relative path: not empty, not absolute, no empty, `.` or `..`
 * component, no NUL, no component longer than NAME_MAX. */
int fdiff_path_check(const char *p, size_t len)
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
size_t fdiff_escape_path(const char *in, char *out)
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
int fdiff_unescape_path(const char *in, size_t len, char *out)
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
const char *fdiff_parent_path(const char *path, char *out)
{
	const char *slash = strrchr(path, '/');
	size_t n = slash ? (size_t)(slash - path) : 0;

	memcpy(out, path, n);
	out[n] = '\0';
	return out;
}

int fdiff_join_path(char *out, const char *dir, const char *name)
{
	int n = snprintf(out, FILEDIFF_PATH_MAX + 1, "%s%s%s", dir, *dir ? "/" : "", name);

	return n < 0 || n > FILEDIFF_PATH_MAX ? -1 : 0;
}

int fdiff_path_push(char *path, size_t base, const char *name)
{
	size_t n = strlen(name), at = base;

	if (base + 1 + n > FILEDIFF_PATH_MAX)
		return -1;
	if (base)
		path[at++] = '/';
	memcpy(path + at, name, n + 1);
	return 0;
}

/* Opens directory name below dirfd without following a symlink or leaving
 * the filesystem dev.  Returns the fd or -errno: ELOOP for a symlink,
 * ENOTDIR for another non-directory, EXDEV for a mount point. */
int fdiff_open_dir_at(int dirfd, const char *name, dev_t dev)
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
 * the fd or -errno (see fdiff_open_dir_at); *bad names the failing component. */
int fdiff_open_parent(int rootfd, dev_t dev, const char *path, const char **name, char *bad)
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
		sub = fdiff_open_dir_at(fd, comp, dev);
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

void fdiff_free_names(char **names)
{
	if (!names)
		return;
	for (char **p = names; *p; p++)
		free(*p);
	free(names);
}

int fdiff_list_dir(int fd, char ***out, size_t *count)
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
		if (grow_array(&names, &cap, n + 2, sizeof(*names)) < 0)
			goto fail;
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

int fdiff_resolve_error(tardis_error_t *err, int e, const char *path, const char *bad)
{
	int had = err && *err;

	tardis_make_error(err, 0, "`%s`: `%s` %s", path, bad[0] ? bad : path,
			  resolve_strerror(e));
	if (!had && err && *err)
		(*err)->errnum = e;
	return -1;
}
