#include "image_roots.h"
#include "cleanup.h"
#include "oci_config.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The next component of *p (empty ones and `.` skipped) in name; 0 at
 * the end, -1 when too long. */
static int next_component(const char **p, char *name, size_t len)
{
	for (;;) {
		size_t n;

		while (**p == '/')
			(*p)++;
		n = strcspn(*p, "/");
		if (n == 0)
			return 0;
		if (n >= len)
			return -1;
		memcpy(name, *p, n);
		name[n] = '\0';
		*p += n;
		if (strcmp(name, ".") != 0)
			return 1;
	}
}

/* What of path lies below root: NULL when path is not root or below it,
 * component by component. */
static const char *below_root(const char *root, const char *path)
{
	char a[NAME_MAX + 1], b[NAME_MAX + 1];
	const char *r = root, *p = path;

	for (;;) {
		int ra = next_component(&r, a, sizeof(a));

		if (ra < 0)
			return NULL;
		if (ra == 0)
			return p;
		if (next_component(&p, b, sizeof(b)) != 1 || strcmp(a, b) != 0)
			return NULL;
	}
}

/* Walks rest from the root's directory: each component an existing
 * directory reached without following a symlink, or (mode != 0) made.
 * 0, or -1 with detail set. */
static int walk_from(const char *root, const char *rest, mode_t mode, char *detail, size_t len)
{
	cleanup_close int fd = open(root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	char name[NAME_MAX + 1];
	int r;

	if (fd < 0) {
		snprintf(detail, len, "root %s: %s", root,
			 errno == ELOOP || errno == ENOTDIR ? "a symlink or not a directory"
							    : strerror(errno));
		return -1;
	}
	while ((r = next_component(&rest, name, sizeof(name))) == 1) {
		int next = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

		if (next < 0 && errno == ENOENT && !mode)
			return 0; /* the rest does not exist yet */
		if (next < 0 && errno == ENOENT) {
			if (mkdirat(fd, name, mode) < 0 && errno != EEXIST) {
				snprintf(detail, len, "create `%s`: %s", name, strerror(errno));
				return -1;
			}
			next = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		}
		if (next < 0) {
			snprintf(detail, len, "`%s` below root %s: %s", name, root,
				 errno == ELOOP || errno == ENOTDIR ? "a symlink or not a directory"
								    : strerror(errno));
			return -1;
		}
		close(fd);
		fd = next;
	}
	if (r < 0) {
		snprintf(detail, len, "name too long");
		return -1;
	}
	return 0;
}

static int roots_walk(const char *roots, const char *path, mode_t mode, char *why, size_t len)
{
	char root[PATH_MAX], detail[PATH_MAX + 128] = "";
	const char *p = roots;

	if (!path_is_clean_absolute(path))
		goto refused;
	while (*p) {
		size_t n = strcspn(p, ":");
		const char *rest;

		if (n > 0 && n < sizeof(root)) {
			memcpy(root, p, n);
			root[n] = '\0';
			rest = path_is_clean_absolute(root) ? below_root(root, path) : NULL;
			if (rest && walk_from(root, rest, mode, detail, sizeof(detail)) == 0)
				return 0;
		}
		p += n + (p[n] == ':');
	}
refused:
	snprintf(why, len, "%.2048s is not under image_roots (%.1024s)%s%.1200s", path,
		 roots[0] ? roots : "none", detail[0] ? ": " : "", detail);
	return -1;
}

int image_roots_check(const char *roots, const char *path, char *why, size_t len)
{
	return roots_walk(roots, path, 0, why, len);
}

int image_roots_mkdir(const char *roots, const char *path, mode_t mode, char *why, size_t len)
{
	return roots_walk(roots, path, mode ? mode : 0700, why, len);
}

int image_root_check(const struct tardis_config *cfg, const char *path, char *why, size_t len)
{
	return image_roots_check(cfg->image_roots, path, why, len);
}

int image_root_mkdir(const struct tardis_config *cfg, const char *path, mode_t mode, char *why,
		     size_t len)
{
	return image_roots_mkdir(cfg->image_roots, path, mode, why, len);
}
