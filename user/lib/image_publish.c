/* Publishing an image: its temp dir, the step that puts it at its path
 * (one RENAME_EXCHANGE, or two renames where a network filesystem has
 * none), and the clean-up of what a killed publisher left next to it.
 * docs/network-filesystems.md says why each step is as it is. */
#include "image.h"
#include "cleanup.h"
#include "crashpoint.h"
#include "state.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

/* Another node's temp image dir untouched this long is abandoned. */
#define IMAGE_TMP_FOREIGN_STALE_S (6 * 3600)

/* This machine's name as temp names carry it: whose pids they hold (the
 * nodes sharing a network fs each have their own). */
static void tmp_node(char *buf, size_t len)
{
	struct utsname u;

	snprintf(buf, len, "%s", uname(&u) == 0 ? u.nodename : "node");
	for (char *p = buf; *p; p++)
		if (*p == '/' || *p <= ' ' || *p > '~')
			*p = '_';
}

int image_tmp_create(const char *image_path, char *tmp, size_t len, tardis_error_t *err)
{
	static unsigned counter;
	char parent[PATH_MAX], node[65];
	const char *base;

	if (image_split_path(image_path, parent, sizeof(parent), &base) < 0)
		return tardis_make_error(err, EINVAL, "bad image path `%s`", image_path);
	if (mkdir_p(parent, 0700) < 0)
		return tardis_make_error(err, errno, "create `%s`", parent);
	tmp_node(node, sizeof(node));
	if (snprintf(tmp, len, "%s/.%s.tmp.%s.%d.%u", parent, base, node, (int)getpid(),
		     counter++) >= (int)len)
		return tardis_make_error(err, ENAMETOOLONG, "temp image path");
	if (mkdir(tmp, 0700) < 0)
		return tardis_make_error(err, errno, "create `%s`", tmp);
	return 0;
}

/* image.h.  Asked of the server: sshfs answers a stat from its cache
 * (20 s) even for a name renamed away meanwhile, and opens such a
 * directory too; opening a file asks. */
int image_there(const char *path)
{
	char m[PATH_MAX];
	int fd;

	if (snprintf(m, sizeof(m), "%s/" IMAGE_MANIFEST, path) >= (int)sizeof(m))
		return 0;
	fd = open(m, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return 0;
	close(fd);
	return 1;
}

/* "Already there" as a rename of a directory onto another reports it:
 * ENOTEMPTY, EEXIST; sshfs, EPERM (SFTP's generic failure). */
static int rename_target_busy(int e)
{
	return e == ENOTEMPTY || e == EEXIST || e == EPERM;
}

/* Without RENAME_EXCHANGE (NFS, sshfs): the old image is moved aside to
 * old, the new one takes its place, the old one goes.  Every step leaves
 * a complete image at the path or at old: image_cleanup_siblings() puts
 * the aside copy back when a publisher died between the renames, which
 * may also be a reader on another node doing so while we are there, so a
 * path taken again is tried again. */
static int publish_by_renames(const char *tmp, const char *image_path, const char *old,
			      tardis_error_t *err)
{
	for (int tries = 0; tries < 5; tries++) {
		int e;

		if (rename(image_path, old) < 0 && (e = errno) != ENOENT) {
			if (!rename_target_busy(e) || !image_there(image_path))
				return tardis_make_error(err, e, "move `%s` aside", image_path);
			/* An aside copy left (its removal failed): the image is
			 * at the path, so it is not needed. */
			if (image_remove(old, err) < 0)
				return -1;
			continue;
		}
		crash_point("publish-between-renames");
		if (rename(tmp, image_path) == 0)
			return 0;
		e = errno;
		if (!rename_target_busy(e) || !image_there(image_path)) {
			rename(old, image_path);
			return tardis_make_error(err, e, "publish `%s`", image_path);
		}
	}
	return tardis_make_error(err, EAGAIN, "publish `%s`: the path keeps being taken",
				 image_path);
}

/* The replaced image, at tmp now: handed to the agent (forgotten/) when it
 * lies in the state dir -- removing its ~34 files here freed their blocks
 * while containerd waited, 2-4 ms of a checkpoint on a disk that discards
 * -- else removed at once (a leftover is the next checkpoint's). */
static void drop_replaced(const char *tmp, const char *image_path, struct tardis_store *s)
{
	tardis_error_t err = NULL;

	if (s && store_holds_path(s, image_path) && store_forget_path(s, tmp, &err) == 0)
		return;
	tardis_error_free(&err);
	if (image_remove(tmp, &err) < 0)
		tardis_error_free(&err);
}

int image_publish(const char *tmp, const char *image_path, struct tardis_store *s,
		  tardis_error_t *err)
{
	char parent[PATH_MAX], old[PATH_MAX];
	const char *base;
	cleanup_close int pfd = -1;

	if (image_split_path(image_path, parent, sizeof(parent), &base) < 0)
		return tardis_make_error(err, EINVAL, "bad image path `%s`", image_path);
	pfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (pfd < 0)
		return tardis_make_error(err, errno, "open `%s`", parent);
	/* tmp is durable, its entries included (image_seal). */
	/* One atomic step: the new image takes the place of the old, which
	 * is left at the temp name and removed afterwards. */
	if (syscall(SYS_renameat2, AT_FDCWD, tmp, AT_FDCWD, image_path, RENAME_EXCHANGE) == 0) {
		fsync(pfd);
		crash_point("publish-exchanged");
		drop_replaced(tmp, image_path, s);
		return 0;
	}
	if (errno != ENOENT && errno != EINVAL && errno != ENOSYS)
		return tardis_make_error(err, errno, "exchange `%s` and `%s`", tmp, image_path);
	/* No image yet, or a filesystem without RENAME_EXCHANGE. */
	if (snprintf(old, sizeof(old), "%s/.%s.old", parent, base) >= (int)sizeof(old))
		return tardis_make_error(err, ENAMETOOLONG, "image path `%s`", image_path);
	if (publish_by_renames(tmp, image_path, old, err) < 0)
		return -1;
	crash_point("publish-renamed");
	fsync(pfd); /* FUSE without fsyncdir: EINVAL, nothing to do */
	if (image_remove(old, err) < 0)
		tardis_error_free(err);
	return 0;
}

/* A temp dir's rest of name after ".<base>.tmp.": "<node>.<pid>.<n>", or
 * "<pid>.<n>" (tardis before 2026-11-26).  1 when it may be removed: a
 * process of this machine that is gone, or another machine's that has
 * not been touched for IMAGE_TMP_FOREIGN_STALE_S (its pids are not ours
 * to ask; a checkpoint lasts at most checkpoint_timeout). */
static int tmp_abandoned(int dfd, const char *name, const char *rest)
{
	char node[65], mine[65];
	const char *dot2 = strrchr(rest, '.');
	const char *dot1 = NULL;
	struct stat st;
	int pid;

	for (const char *p = rest; dot2 && p < dot2; p++)
		if (*p == '.')
			dot1 = p;
	if (!dot2 || sscanf((dot1 ? dot1 + 1 : rest), "%d", &pid) != 1)
		return 1; /* not a name of ours: removed, as before */
	tmp_node(mine, sizeof(mine));
	snprintf(node, sizeof(node), "%.*s", dot1 ? (int)(dot1 - rest) : 0, rest);
	if (!dot1 || strcmp(node, mine) == 0)
		return pid == getpid() || kill(pid, 0) < 0;
	return fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	       st.st_mtime + IMAGE_TMP_FOREIGN_STALE_S < time(NULL);
}

void image_cleanup_siblings(const char *image_path)
{
	char parent[PATH_MAX], prefix[300], old[PATH_MAX];
	cleanup_dir DIR *d = NULL;
	struct dirent *de;
	const char *base;
	size_t plen;

	if (image_split_path(image_path, parent, sizeof(parent), &base) < 0)
		return;
	/* A publisher died between its renames: the old image is put back;
	 * once an image is at the path, the aside copy goes, by name (another
	 * node's listing of the parent may not show it yet: sshfs, 20 s). */
	snprintf(old, sizeof(old), "%s/.%s.old", parent, base);
	if (!image_there(image_path) && image_there(old))
		rename(old, image_path);
	if (image_there(image_path)) {
		tardis_error_t err = NULL;

		image_remove(old, &err);
		tardis_error_free(&err);
	}
	snprintf(prefix, sizeof(prefix), ".%s.", base);
	plen = strlen(prefix);
	d = opendir(parent);
	if (!d)
		return;
	while ((de = readdir(d))) {
		char p[PATH_MAX];
		tardis_error_t err = NULL;
		const char *rest;

		if (strncmp(de->d_name, prefix, plen) != 0)
			continue;
		rest = de->d_name + plen;
		if (strncmp(rest, "tmp.", 4) == 0 && !tmp_abandoned(dirfd(d), de->d_name, rest + 4))
			continue;
		if (strcmp(rest, "old") == 0)
			continue; /* above */
		snprintf(p, sizeof(p), "%s/%s", parent, de->d_name);
		image_remove(p, &err);
		tardis_error_free(&err);
	}
}
