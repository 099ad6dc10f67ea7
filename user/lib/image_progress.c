/* The page files' sums taken while CRIU writes them (image_dump_progress),
 * finished by the seal (image_progress_sum); and the writeback of a dump's
 * pages started as they come. */
#include "image.h"
#include "checksum.h"
#include "cleanup.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A page file CRIU is writing, summed so far. */
struct progress_file {
	char name[64];
	int fd;
	dev_t dev;
	ino_t ino;
	struct checksum_run *run; /* NULL: gave up, summed in full at the seal */
};

#define PROGRESS_FILES 16

/* A file image_presum summed, with its stat then. */
struct presummed {
	char name[64];
	struct stat st;
	uint64_t sz;
	char hex[CHECKSUM_HEX_MAX];
};

struct image_progress {
	struct progress_file f[PROGRESS_FILES];
	int n;
	struct presummed *pre;
	size_t npre, cap;
};

struct image_progress *image_progress_new(void)
{
	return calloc(1, sizeof(struct image_progress));
}

void image_progress_free(struct image_progress *p)
{
	for (int i = 0; p && i < p->n; i++) {
		close(p->f[i].fd);
		checksum_run_free(p->f[i].run);
	}
	if (p)
		free(p->pre);
	free(p);
}

static struct progress_file *progress_file(struct image_progress *p, int dfd, const char *name)
{
	struct progress_file *f;
	struct stat st;
	int fd;

	for (int i = 0; i < p->n; i++)
		if (strcmp(p->f[i].name, name) == 0)
			return &p->f[i];
	if (p->n == PROGRESS_FILES || strlen(name) >= sizeof(f->name))
		return NULL;
	fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return NULL;
	}
	f = &p->f[p->n++];
	snprintf(f->name, sizeof(f->name), "%s", name);
	f->fd = fd;
	f->dev = st.st_dev;
	f->ino = st.st_ino;
	f->run = checksum_run_new(CHECKSUM_XXH128);
	return f;
}

/* What one call sums of a file at most: the dump's wait for runc is not
 * held for long (256 MiB: ~15 ms here). */
#define PROGRESS_STEP (256ull << 20)

void image_dump_progress(const char *dir, struct image_progress *p)
{
	cleanup_dir DIR *d = opendir(dir);
	struct dirent *de;

	while (d && (de = readdir(d))) {
		struct progress_file *f;
		int fd;

		if (strncmp(de->d_name, "pages-", 6) != 0 || de->d_type != DT_REG)
			continue;
		if (p && (f = progress_file(p, dirfd(d), de->d_name))) {
			/* Summed while it is still in the page cache (and
			 * on the other CPU while CRIU writes): the seal sums
			 * only the rest. */
			if (f->run && checksum_run_feed(f->run, f->fd, PROGRESS_STEP) < 0) {
				checksum_run_free(f->run);
				f->run = NULL;
			}
			sync_file_range(f->fd, 0, 0, SYNC_FILE_RANGE_WRITE);
			continue;
		}
		fd = openat(dirfd(d), de->d_name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		if (fd < 0)
			continue;
		sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
		close(fd);
	}
}

static int same_stat(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	       a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

int image_progress_sum(struct image_progress *p, const char *name, int ffd, const struct stat *st,
		       char hex[CHECKSUM_HEX_MAX], uint64_t *sz)
{
	for (size_t i = 0; p && i < p->npre; i++) {
		if (strcmp(p->pre[i].name, name) != 0)
			continue;
		if (!same_stat(&p->pre[i].st, st))
			break; /* changed since: summed again */
		memcpy(hex, p->pre[i].hex, CHECKSUM_HEX_MAX);
		*sz = p->pre[i].sz;
		return 0;
	}
	for (int i = 0; p && i < p->n; i++) {
		struct progress_file *f = &p->f[i];
		struct checksum_run *run = f->run;

		if (strcmp(f->name, name) != 0 || !run)
			continue;
		f->run = NULL;
		if (f->dev == st->st_dev && f->ino == st->st_ino &&
		    checksum_run_end(run, ffd, hex, sz) == 0)
			return 0;
		if (f->dev != st->st_dev || f->ino != st->st_ino)
			checksum_run_free(run);
		break; /* another file by now, or it failed: in full */
	}
	return checksum_fd(ffd, CHECKSUM_XXH128, hex, sz);
}

static void presummed_add(struct image_progress *p, const char *name, const struct stat *st,
			  const char *hex, uint64_t sz)
{
	struct presummed *e;

	if (strlen(name) >= sizeof(e->name))
		return;
	if (p->npre == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 64;

		e = realloc(p->pre, cap * sizeof(*e));
		if (!e)
			return;
		p->pre = e;
		p->cap = cap;
	}
	e = &p->pre[p->npre++];
	snprintf(e->name, sizeof(e->name), "%s", name);
	e->st = *st;
	e->sz = sz;
	memcpy(e->hex, hex, CHECKSUM_HEX_MAX);
}

void image_presum(const char *dir, struct image_progress *p)
{
	cleanup_close int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	cleanup_dir DIR *d = NULL;
	struct dirent *de;
	int fd;

	if (!p || dfd < 0 || (fd = dup(dfd)) < 0)
		return;
	if (!(d = fdopendir(fd))) {
		close(fd);
		return;
	}
	while ((de = readdir(d))) {
		cleanup_close int ffd = -1;
		char hex[CHECKSUM_HEX_MAX];
		struct stat st;
		uint64_t sz;

		/* The stat before the sum: a write after it changes it. */
		ffd = image_file_open(dfd, de, &st);
		if (ffd < 0)
			continue;
		if (image_progress_sum(p, de->d_name, ffd, &st, hex, &sz) == 0 &&
		    (uint64_t)st.st_size == sz)
			presummed_add(p, de->d_name, &st, hex, sz);
	}
	if (image_syncfs_cheap(dfd))
		syncfs(dfd);
}
