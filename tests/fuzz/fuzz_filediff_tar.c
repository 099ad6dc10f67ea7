/*
 * The container's saved files: files.tar and deleted.list, from an image
 * that may sit on a network filesystem every node writes.
 *
 * The input is `<deleted.list>#files.tar\n<files.tar>`; without that marker
 * the whole input is tried as each of the two (with an empty other half).
 * Both parsers run on their own (filediff_tar_foreach and
 * filediff_deleted_foreach, checking every entry they report, reading a
 * regular file's data blocks from libarchive).  When both
 * accept their half, filediff_apply applies them onto a fresh rootfs per
 * run, seeded with symlinks that lead out of it, and then:
 *   - nothing outside the rootfs and the backup directory changed;
 *   - filediff_rollback brings the rootfs back exactly (names, types,
 *     modes, owners, sizes, contents, link targets, link counts, mtimes).
 * The apply runs in a private mount namespace where everything but the
 * scratch directory and the working directory (libFuzzer's corpus and
 * artifacts) is read-only, so a bug cannot reach the host's files; without
 * the privileges for that only the parsers run.
 */
#include "fuzz.h"
#include "filediff.h"

#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

static const char marker[] = "#files.tar\n";
static char *scratch; /* holds run/ during a run, nothing else ever */
static int can_apply;
static int verbose; /* FUZZ_VERBOSE=1: say what each input did (for seeds) */

/* ---- the parsers on their own ------------------------------------- */

struct span {
	const uint8_t *p;
	size_t len;
};

static int path_ok(const char *p)
{
	size_t len = strlen(p);

	if (len == 0 || len > FILEDIFF_PATH_MAX || p[0] == '/')
		return 0;
	for (const char *c = p;;) {
		const char *slash = strchr(c, '/');
		size_t n = slash ? (size_t)(slash - c) : strlen(c);

		if (n == 0 || n > 255 || (n == 1 && c[0] == '.') ||
		    (n == 2 && c[0] == '.' && c[1] == '.'))
			return 0;
		if (!slash)
			return 1;
		c = slash + 1;
	}
}

static int check_entry(const struct filediff_entry *e, void *arg, tardis_error_t *err)
{
	const struct span *tar = arg;
	uint64_t next = 0, data = 0, off;
	const void *b;
	size_t n;
	int r;

	FUZZ_ASSERT(e->path && path_ok(e->path));
	FUZZ_ASSERT(e->mode <= 07777);
	FUZZ_ASSERT(e->mtime_nsec < 1000000000u);
	for (size_t i = 0; i < e->nxattrs; i++) {
		FUZZ_ASSERT(e->xattrs[i].name && e->xattrs[i].name[0]);
		FUZZ_ASSERT(strncmp(e->xattrs[i].name, "trusted.overlay.", 16) != 0);
		FUZZ_ASSERT(e->xattrs[i].size <= 65536);
	}
	switch (e->type) {
	case FILEDIFF_REG:
		/* Data blocks in order, inside the file, from the archive. */
		while ((r = filediff_entry_data(e, &b, &n, &off, err)) > 0) {
			FUZZ_ASSERT(n > 0 && off >= next && off + n <= e->size);
			FUZZ_ASSERT(b != NULL);
			next = off + n;
			data += n;
		}
		if (r < 0)
			return -1;
		FUZZ_ASSERT(data <= tar->len);
		break;
	case FILEDIFF_DIR:
	case FILEDIFF_FIFO:
		FUZZ_ASSERT(e->size == 0);
		break;
	case FILEDIFF_CHR:
	case FILEDIFF_BLK:
		FUZZ_ASSERT(e->size == 0);
		FUZZ_ASSERT(e->type == FILEDIFF_BLK || e->rdev_major || e->rdev_minor);
		break;
	case FILEDIFF_SYMLINK:
		FUZZ_ASSERT(e->size == 0 && e->linkpath && e->linkpath[0]);
		FUZZ_ASSERT(strlen(e->linkpath) <= FILEDIFF_PATH_MAX);
		break;
	case FILEDIFF_HARDLINK:
		FUZZ_ASSERT(e->size == 0 && e->linkpath && path_ok(e->linkpath));
		break;
	default:
		FUZZ_ASSERT(!"unknown entry type");
	}
	return 0;
}

static int check_deletion(enum filediff_deletion kind, const char *path, void *arg,
			  tardis_error_t *err)
{
	FUZZ_ASSERT(kind == FILEDIFF_WHITEOUT || kind == FILEDIFF_OPAQUE);
	FUZZ_ASSERT(path && path_ok(path));
	return 0;
}

static int parse(struct span del, struct span tar)
{
	tardis_error_t err = NULL;
	int ok_tar, ok_del;

	ok_tar = filediff_tar_foreach(tar.p, tar.len, check_entry, &tar, &err) == 0;
	FUZZ_ASSERT(ok_tar || err);
	if (verbose)
		fprintf(stderr, "fuzz: files.tar (%zu bytes): %s\n", tar.len, tardis_error_msg(err));
	tardis_error_free(&err);
	ok_del = filediff_deleted_foreach(del.p, del.len, check_deletion, NULL, &err) == 0;
	FUZZ_ASSERT(ok_del || err);
	if (verbose)
		fprintf(stderr, "fuzz: deleted.list (%zu bytes): %s\n", del.len, tardis_error_msg(err));
	tardis_error_free(&err);
	/* Validation alone (fn NULL) agrees with the walk. */
	FUZZ_ASSERT(ok_tar == (filediff_tar_foreach(tar.p, tar.len, NULL, NULL, &err) == 0));
	tardis_error_free(&err);
	FUZZ_ASSERT(ok_del == (filediff_deleted_foreach(del.p, del.len, NULL, NULL, &err) == 0));
	tardis_error_free(&err);
	return ok_tar && ok_del;
}

/* ---- apply and roll back in a sandbox ----------------------------- */

/* A tree's description, one line per entry, in nftw order made stable by
 * sorting. */
struct snap {
	char **lines;
	size_t n, cap;
	size_t skip; /* length of the root's path */
};
static struct snap *cur;

static int snap_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	char line[8192], extra[4200] = "";
	const char *rel = strlen(path) >= cur->skip ? path + cur->skip : "";

	if (S_ISLNK(st->st_mode)) {
		ssize_t n = readlink(path, extra, sizeof(extra) - 1);

		extra[n < 0 ? 0 : n] = '\0';
	} else if (S_ISREG(st->st_mode)) {
		uint64_t h = 1469598103934665603ull; /* FNV-1a of the content */
		int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		unsigned char buf[4096];
		ssize_t n;

		FUZZ_ASSERT(fd >= 0);
		while ((n = read(fd, buf, sizeof(buf))) > 0)
			for (ssize_t i = 0; i < n; i++)
				h = (h ^ buf[i]) * 1099511628211ull;
		close(fd);
		snprintf(extra, sizeof(extra), "%016llx", (unsigned long long)h);
	}
	snprintf(line, sizeof(line), "%s %o %u %u %u %lld %lld.%09ld %s", *rel ? rel : ".",
		 (unsigned)st->st_mode, S_ISDIR(st->st_mode) ? 0u : (unsigned)st->st_nlink,
		 (unsigned)st->st_uid, (unsigned)st->st_gid,
		 S_ISDIR(st->st_mode) ? 0ll : (long long)st->st_size,
		 (long long)st->st_mtim.tv_sec, st->st_mtim.tv_nsec, extra);
	if (cur->n == cur->cap) {
		cur->cap = cur->cap ? 2 * cur->cap : 64;
		cur->lines = realloc(cur->lines, cur->cap * sizeof(*cur->lines));
		FUZZ_ASSERT(cur->lines);
	}
	cur->lines[cur->n++] = strdup(line);
	return 0;
}

static int cmp_line(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void snap_take(struct snap *s, const char *root)
{
	memset(s, 0, sizeof(*s));
	s->skip = strlen(root) + 1;
	cur = s;
	FUZZ_ASSERT(nftw(root, snap_one, 64, FTW_PHYS) == 0);
	qsort(s->lines, s->n, sizeof(*s->lines), cmp_line);
}

static void snap_free(struct snap *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->lines[i]);
	free(s->lines);
}

static void snap_same(const struct snap *a, const struct snap *b, const char *what)
{
	for (size_t i = 0; i < a->n || i < b->n; i++) {
		const char *x = i < a->n ? a->lines[i] : "(none)";
		const char *y = i < b->n ? b->lines[i] : "(none)";

		if (strcmp(x, y) != 0) {
			fprintf(stderr, "fuzz: %s differs:\n  before: %s\n  after:  %s\n", what, x,
				y);
			abort();
		}
	}
}

static void snap_drop_changing(struct snap *s)
{
	size_t k = 0;

	for (size_t i = 0; i < s->n; i++) {
		const char *l = s->lines[i];

		if (strncmp(l, ". ", 2) == 0 || strncmp(l, "run ", 4) == 0 ||
		    strncmp(l, "run/rootfs ", 11) == 0 || strncmp(l, "run/rootfs/", 11) == 0 ||
		    strncmp(l, "run/backup ", 11) == 0 ||
		    strncmp(l, "run/backup/journal ", 19) == 0)
			free(s->lines[i]);
		else
			s->lines[k++] = s->lines[i];
	}
	s->n = k;
}

static void mk(const char *root, const char *rel, const char *content, mode_t mode)
{
	char p[4200];

	snprintf(p, sizeof(p), "%s/%s", root, rel);
	if (!content) {
		FUZZ_ASSERT(mkdir(p, mode) == 0);
	} else {
		int fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);

		FUZZ_ASSERT(fd >= 0 && write(fd, content, strlen(content)) == (ssize_t)strlen(content));
		close(fd);
	}
}

static void ln(const char *root, const char *rel, const char *target)
{
	char p[4200];

	snprintf(p, sizeof(p), "%s/%s", root, rel);
	FUZZ_ASSERT(symlink(target, p) == 0);
}

static void apply(struct span del, struct span tar)
{
	char run[4200], rootfs[4300], outside[4300], abs_out[4400];
	struct snap root0, root1, out0, out1, top0, top1;
	tardis_error_t err = NULL;
	int bfd, ifd;

	snprintf(run, sizeof(run), "%s/run", scratch);
	snprintf(rootfs, sizeof(rootfs), "%s/rootfs", run);
	snprintf(outside, sizeof(outside), "%s/outside", run);
	snprintf(abs_out, sizeof(abs_out), "%s/outside", run);
	FUZZ_ASSERT(mkdir(run, 0700) == 0);
	mk(run, "outside", NULL, 0755);
	mk(run, "outside/secret", "secret\n", 0600);
	mk(run, "outside/dir", NULL, 0755);
	mk(run, "backup", NULL, 0700);
	mk(run, "image", NULL, 0700);
	mk(run, "rootfs", NULL, 0755);
	mk(rootfs, "etc", NULL, 0755);
	mk(rootfs, "etc/passwd", "root:x:0:0:root:/root:/bin/sh\n", 0644);
	mk(rootfs, "etc/motd", "hello\n", 0644);
	mk(rootfs, "data", NULL, 01777);
	mk(rootfs, "data/old", "old\n", 0600);
	mk(rootfs, "data/sub", NULL, 0700);
	mk(rootfs, "data/sub/f", "f\n", 0640);
	ln(rootfs, "out", "../outside");
	ln(rootfs, "abs", abs_out);
	ln(rootfs, "data/up", "../../outside");
	ifd = open(run, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	FUZZ_ASSERT(ifd >= 0);
	fuzz_write_at(ifd, "image/" FILEDIFF_TAR, tar.p, tar.len);
	fuzz_write_at(ifd, "image/" FILEDIFF_DELETED, del.p, del.len);
	close(ifd);
	ifd = open(run, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	{
		int t = openat(ifd, "image", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		close(ifd);
		ifd = t;
	}
	bfd = open(run, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	{
		int t = openat(bfd, "backup", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		close(bfd);
		bfd = t;
	}
	FUZZ_ASSERT(ifd >= 0 && bfd >= 0);

	snap_take(&root0, rootfs);
	snap_take(&out0, outside);
	snap_take(&top0, scratch);
	/* Both halves parsed, so apply only fails on what the rootfs holds. */
	filediff_apply(ifd, rootfs, bfd, &err);
	if (verbose)
		fprintf(stderr, "fuzz: apply: %s\n", tardis_error_msg(err));
	tardis_error_free(&err);
	snap_take(&out1, outside);
	snap_same(&out0, &out1, "a file outside the rootfs");
	if (filediff_rollback(rootfs, bfd, &err) < 0) {
		fprintf(stderr, "fuzz: rollback: %s\n", tardis_error_msg(err));
		abort();
	}
	{
		struct stat st;

		FUZZ_ASSERT(fstatat(bfd, FILEDIFF_JOURNAL, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
			    (S_ISREG(st.st_mode) && st.st_size == 0));
	}
	snap_take(&root1, rootfs);
	snap_same(&root0, &root1, "the rolled back rootfs");
	/* Only the rootfs and the backup directory (with an empty journal
	 * now) changed; directory mtimes of run/ and backup/ go with them. */
	snap_take(&top1, scratch);
	snap_drop_changing(&top0);
	snap_drop_changing(&top1);
	snap_same(&top0, &top1, "the scratch directory");
	snap_free(&root0);
	snap_free(&root1);
	snap_free(&out0);
	snap_free(&out1);
	snap_free(&top0);
	snap_free(&top1);
	close(ifd);
	close(bfd);
	fuzz_rm_rf(run);
}

/* Everything read-only but the scratch dir and the working directory. */
static int sandbox(void)
{
	struct mount_attr ro = { .attr_set = MOUNT_ATTR_RDONLY };
	struct mount_attr rw = { .attr_clr = MOUNT_ATTR_RDONLY };
	char cwd[4096];

	if (!getcwd(cwd, sizeof(cwd)) || unshare(CLONE_NEWNS) < 0 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount(scratch, scratch, NULL, MS_BIND, NULL) < 0 ||
	    mount(cwd, cwd, NULL, MS_BIND | MS_REC, NULL) < 0 || chdir(cwd) < 0 ||
	    syscall(SYS_mount_setattr, AT_FDCWD, "/", AT_RECURSIVE, &ro, sizeof(ro)) < 0 ||
	    syscall(SYS_mount_setattr, AT_FDCWD, scratch, 0, &rw, sizeof(rw)) < 0 ||
	    syscall(SYS_mount_setattr, AT_FDCWD, cwd, AT_RECURSIVE, &rw, sizeof(rw)) < 0) {
		fprintf(stderr, "fuzz: no sandbox for apply (%s): parsers only\n", strerror(errno));
		return 0;
	}
	return 1;
}

/* The sandbox's namespace cannot remove the scratch dir (a mount point
 * there): a child left in the host's namespace does, when we are gone. */
static void remove_scratch_at_exit(void)
{
	int p[2];
	pid_t pid;

	if (pipe(p) < 0)
		return;
	pid = fork();
	if (pid == 0) {
		char c;

		close(p[1]);
		while (read(p[0], &c, 1) < 0 && errno == EINTR)
			;
		fuzz_rm_rf(scratch);
		_exit(0);
	}
	close(p[0]);
	/* p[1] stays open (and not inherited by exec'd children) until we exit. */
	fcntl(p[1], F_SETFD, FD_CLOEXEC);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_quiet_logs();
	verbose = getenv("FUZZ_VERBOSE") != NULL;
	scratch = fuzz_scratch_dir("filediff");
	remove_scratch_at_exit();
	can_apply = getenv("FUZZ_NO_APPLY") ? 0 : sandbox();
	return 0;
}

static const uint8_t *find_marker(const uint8_t *data, size_t size)
{
	for (size_t i = 0; i + sizeof(marker) - 1 <= size; i++)
		if ((i == 0 || data[i - 1] == '\n') &&
		    memcmp(data + i, marker, sizeof(marker) - 1) == 0)
			return data + i;
	return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t end_of_tar[1024];
	const uint8_t *m = find_marker(data, size);
	struct span del, tar;

	if (m) {
		del = (struct span){ data, (size_t)(m - data) };
		tar = (struct span){ m + sizeof(marker) - 1,
				     size - (size_t)(m - data) - (sizeof(marker) - 1) };
		if (parse(del, tar) && can_apply)
			apply(del, tar);
		return 0;
	}
	/* Only a tar, or only a deleted.list. */
	del = (struct span){ NULL, 0 };
	tar = (struct span){ data, size };
	if (parse(del, tar) && can_apply)
		apply(del, tar);
	del = (struct span){ data, size };
	tar = (struct span){ end_of_tar, sizeof(end_of_tar) };
	if (parse(del, tar) && can_apply)
		apply(del, tar);
	return 0;
}
