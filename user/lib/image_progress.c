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

struct image_progress {
	struct progress_file f[PROGRESS_FILES];
	int n;
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

int image_progress_sum(struct image_progress *p, const char *name, int ffd, const struct stat *st,
		       char hex[CHECKSUM_HEX_MAX], uint64_t *sz)
{
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
