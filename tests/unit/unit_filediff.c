/*
 * filediff: save from a real overlay upperdir, apply onto a fresh overlay,
 * roll back to the byte, survive SIGKILL mid-apply, refuse hostile input.
 * Needs root (overlay mounts); every test runs in its own mount namespace
 * so a failed assertion cannot leave a mount behind.
 */
#include "unit_main.h"
#include "filediff.h"
#include "checksum.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

/* ------------------------------------------------------------------ */
/* Helpers                                                            */

static const char *P(const char *root, const char *rel)
{
	static char ring[8][8192];
	static int i;
	char *p = ring[i++ % 8];

	snprintf(p, sizeof(ring[0]), "%s/%s", root, rel);
	return p;
}

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sh(const char *fmt, ...)
{
	char *cmd = NULL;
	va_list ap;
	int rc;

	va_start(ap, fmt);
	ck_assert(vasprintf(&cmd, fmt, ap) > 0);
	va_end(ap);
	rc = system(cmd);
	ck_assert_msg(rc == 0, "`%s` failed: %d", cmd, rc);
	free(cmd);
}

static void put(const char *root, const char *rel, const char *content)
{
	int fd = open(P(root, rel), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, 0644);

	ck_assert_msg(fd >= 0, "create %s: %s", rel, strerror(errno));
	ck_assert_int_eq(write(fd, content, strlen(content)), (ssize_t)strlen(content));
	close(fd);
}

static void mkd(const char *root, const char *rel)
{
	ck_assert_msg(mkdir(P(root, rel), 0755) == 0, "mkdir %s: %s", rel, strerror(errno));
}

static void lnk(const char *root, const char *rel, const char *target)
{
	ck_assert_msg(symlink(target, P(root, rel)) == 0, "symlink %s: %s", rel, strerror(errno));
}

static int exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

static void private_mounts(void)
{
	static int done;

	if (done)
		return;
	ck_assert_msg(unshare(CLONE_NEWNS) == 0, "unshare: %s", strerror(errno));
	ck_assert(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0);
	done = 1;
}

static void ovl_mount(const char *base, const char *lower, const char *upper, const char *merged,
		      const char *extra)
{
	char *opts = NULL;

	private_mounts();
	mkdir(P(base, upper), 0755);
	mkdir(P(base, merged), 0755);
	unit_rmrf(P(base, "work"));
	ck_assert(mkdir(P(base, "work"), 0755) == 0);
	ck_assert(asprintf(&opts, "lowerdir=%s,upperdir=%s,workdir=%s%s%s", P(base, lower),
			   P(base, upper), P(base, "work"), extra ? "," : "", extra ? extra : "") > 0);
	ck_assert_msg(mount("overlay", P(base, merged), "overlay", 0, opts) == 0,
		      "mount overlay %s: %s", opts, strerror(errno));
	free(opts);
}

static void ovl_umount(const char *base, const char *merged)
{
	ck_assert_msg(umount(P(base, merged)) == 0, "umount: %s", strerror(errno));
}

static int open_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY);

	ck_assert_msg(fd >= 0, "open %s: %s", path, strerror(errno));
	return fd;
}

/* A listing of a tree, one sorted line per entry: type, mode, owner, size
 * and SHA-256 or link target, and mtime (seconds, or to the nanosecond). */
enum { L_NS = 1, L_ROOT = 2 };

static int cmp_strp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every xattr, sorted by name, its value in hex. */
static void list_xattrs(FILE *f, int dirfd, const char *name)
{
	char path[8300], names[8192], *v[128];
	ssize_t len;
	size_t n = 0;

	snprintf(path, sizeof(path), "/proc/self/fd/%d/%s", dirfd, name);
	len = llistxattr(path, names, sizeof(names));
	ck_assert_msg(len >= 0 || errno == ENOTSUP, "listxattr %s: %s", path, strerror(errno));
	for (char *p = names; len > 0 && p < names + len && n < 128; p += strlen(p) + 1)
		v[n++] = p;
	qsort(v, n, sizeof(*v), cmp_strp);
	for (size_t i = 0; i < n; i++) {
		unsigned char val[4096];
		ssize_t vl = lgetxattr(path, v[i], val, sizeof(val));

		ck_assert(vl >= 0);
		fprintf(f, " %s=", v[i]);
		for (ssize_t j = 0; j < vl; j++)
			fprintf(f, "%02x", val[j]);
	}
}

static void list_line(FILE *f, const char *path, const struct stat *st, int dirfd,
		      const char *name, int flags)
{
	fputc('`', f);
	for (const char *p = path; *p; p++)
		fputs(*p == '\n' ? "\\n" : (char[]){ *p, 0 }, f);
	fprintf(f, "` %o %u:%u", st->st_mode, st->st_uid, st->st_gid);
	if (S_ISREG(st->st_mode)) {
		int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW);
		char hex[65];

		ck_assert(fd >= 0);
		ck_assert(checksum_fd(fd, CHECKSUM_XXH128, hex, NULL) == 0);
		close(fd);
		fprintf(f, " %lld %s", (long long)st->st_size, hex);
	} else if (S_ISLNK(st->st_mode)) {
		char t[4097];
		ssize_t n = readlinkat(dirfd, name, t, sizeof(t) - 1);

		ck_assert(n >= 0);
		t[n] = 0;
		fprintf(f, " -> %s", t);
	} else if (!S_ISDIR(st->st_mode)) {
		fprintf(f, " rdev %llx", (unsigned long long)st->st_rdev);
	}
	/* Holes stay holes; names of one inode stay one (its link count). */
	if (S_ISREG(st->st_mode) && st->st_blocks * 512 < st->st_size)
		fprintf(f, " holes");
	if (!S_ISDIR(st->st_mode))
		fprintf(f, " links %u", (unsigned)st->st_nlink);
	list_xattrs(f, dirfd, name);
	if (flags & L_NS)
		fprintf(f, " %lld.%09ld\n", (long long)st->st_mtim.tv_sec, st->st_mtim.tv_nsec);
	else
		fprintf(f, " %lld\n", (long long)st->st_mtim.tv_sec);
}

static void list_rec(FILE *f, int dirfd, const char *rel, int flags)
{
	struct dirent **names;
	int n = scandirat(dirfd, ".", &names, NULL, alphasort);

	ck_assert(n >= 0);
	for (int i = 0; i < n; i++) {
		const char *name = names[i]->d_name;
		char path[8192];
		struct stat st;

		if (strcmp(name, ".") && strcmp(name, "..")) {
			snprintf(path, sizeof(path), "%s%s%s", rel, *rel ? "/" : "", name);
			ck_assert(fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0);
			list_line(f, path, &st, dirfd, name, flags);
			if (S_ISDIR(st.st_mode)) {
				int sub = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);

				ck_assert(sub >= 0);
				list_rec(f, sub, path, flags);
				close(sub);
			}
		}
		free(names[i]);
	}
	free(names);
}

static char *listing(const char *root, int flags)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	int fd = open_dir(root);

	if (flags & L_ROOT) {
		struct stat st;

		ck_assert(fstat(fd, &st) == 0);
		list_line(f, ".", &st, fd, ".", flags);
	}
	list_rec(f, fd, "", flags);
	close(fd);
	fclose(f);
	return buf;
}

static void same_listing(const char *want, const char *got, const char *what)
{
	if (strcmp(want, got) != 0) {
		FILE *a = fopen("/tmp/filediff-want.txt", "w"), *b = fopen("/tmp/filediff-got.txt", "w");

		fputs(want, a);
		fputs(got, b);
		fclose(a);
		fclose(b);
		if (system("diff -u /tmp/filediff-want.txt /tmp/filediff-got.txt >&2")) {
		}
		ck_abort_msg("%s: trees differ (diff above)", what);
	}
}

static int journal_size(int bfd)
{
	struct stat st;

	if (fstatat(bfd, FILEDIFF_JOURNAL, &st, 0) < 0)
		return -1;
	return (int)st.st_size;
}

/* ------------------------------------------------------------------ */
/* A realistic image: a container's changes on an overlay              */

#define LONG_DIR                                                                             \
	"new/dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd/"                   \
	"eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"
#define LONG_FILE LONG_DIR "/file_with_a_long_name_ffffffffffffffffffffffffffffffffffffffff"
#define LONG_TARGET                                                                          \
	"x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/" \
	"x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/target"
#define WEIRD "we\nird\\name"

static void make_lower(const char *base)
{
	const char *L = P(base, "lower");

	ck_assert(mkdir(L, 0755) == 0);
	L = strdup(L);
	mkd(L, "etc");
	put(L, "etc/keep", "keep\n");
	put(L, "etc/modify", "original\n");
	put(L, "del_file", "gone\n");
	mkd(L, "del_dir");
	put(L, "del_dir/a", "a\n");
	mkd(L, "del_dir/sub");
	put(L, "del_dir/sub/c", "c\n");
	lnk(L, "del_dir/sub/l", "../a");
	mkd(L, "opq");
	put(L, "opq/x", "x\n");
	mkd(L, "opq/old");
	put(L, "opq/old/y", "y\n");
	put(L, "chmod_me", "c\n");
	put(L, WEIRD, "weird\n");
	lnk(L, "old_link", "etc/keep");
	mkd(L, "dir_to_file");
	put(L, "dir_to_file/z", "z\n");
	put(L, "file_to_dir", "f\n");
	mkd(L, "keep_dir");
	put(L, "keep_dir/k", "k\n");
	sh("chown 7:8 '%s' && chmod 4755 '%s' && touch -d @1234567890.123456789 '%s' '%s'",
	   P(L, "etc/keep"), P(L, "etc/keep"), P(L, "etc/keep"), P(L, "etc"));
	free((char *)L);
}

/* The container's changes, made through the merged view M. */
static void change_merged(const char *M)
{
	int fd;

	sh("echo modified >> '%s'", P(M, "etc/modify"));
	ck_assert(unlink(P(M, "del_file")) == 0);
	unit_rmrf(P(M, "del_dir"));
	unit_rmrf(P(M, "opq"));
	mkd(M, "opq");
	put(M, "opq/new", "new\n");
	sh("chmod 0751 '%s' && chown 1234:4321 '%s'", P(M, "chmod_me"), P(M, "chmod_me"));
	ck_assert(unlink(P(M, WEIRD)) == 0);
	ck_assert(unlink(P(M, "old_link")) == 0);
	put(M, "old_link", "now a file\n");
	unit_rmrf(P(M, "dir_to_file"));
	put(M, "dir_to_file", "file\n");
	ck_assert(unlink(P(M, "file_to_dir")) == 0);
	mkd(M, "file_to_dir");
	put(M, "file_to_dir/in", "in\n");

	mkd(M, "new");
	sh("mkdir -p '%s'", P(M, LONG_DIR));
	put(M, LONG_FILE, "deep\n");
	put(M, "new/f0751", "x\n");
	sh("chmod 0751 '%s' && chown 1234:1234 '%s'", P(M, "new/f0751"), P(M, "new/f0751"));
	lnk(M, "new/abs_link", "/etc/passwd");
	lnk(M, "new/long_link", LONG_TARGET);
	put(M, "new/h1", "hard\n");
	ck_assert(link(P(M, "new/h1"), P(M, "new/h2")) == 0);
	ck_assert(mkfifo(P(M, "new/fifo"), 0644) == 0);
	/* What format 1 lost: holes, xattrs, capabilities, ACLs, devices. */
	ck_assert(mknod(P(M, "new/null"), S_IFCHR | 0640, makedev(1, 3)) == 0);
	ck_assert(link(P(M, "new/fifo"), P(M, "new/fifo2")) == 0);
	sh("truncate -s 64M '%s' && printf middle | dd of='%s' bs=1 seek=33554432 conv=notrunc "
	   "status=none && truncate -s 8M '%s'",
	   P(M, "new/sparse"), P(M, "new/sparse"), P(M, "new/allhole"));
	put(M, "new/xattrs", "x\n");
	ck_assert(setxattr(P(M, "new/xattrs"), "user.one", "1", 1, 0) == 0);
	ck_assert(setxattr(P(M, "new/xattrs"), "user.bin", "\0\1\2", 3, 0) == 0);
	put(M, "new/cap", "cap\n");
	sh("chown 5:6 '%s' && setcap cap_net_raw+ep '%s'", P(M, "new/cap"), P(M, "new/cap"));
	put(M, "new/acl", "acl\n");
	sh("setfacl -m u:1000:rw '%s' && setfacl -d -m u:1000:rx '%s'", P(M, "new/acl"),
	   P(M, LONG_DIR));
	ck_assert(lsetxattr(P(M, "new/abs_link"), "trusted.t", "t", 1, 0) == 0);
	sh("head -c 1000003 /dev/urandom > '%s'", P(M, "new/big"));
	put(M, "new/empty", "");
	put(M, "new/nl\nname", "newline\n");
	put(M, "new/old_time", "1969\n");
	put(M, "new/bigid", "big ids\n");
	put(M, "new/suid", "s\n");
	/* A setgid directory's files get its group (one put back to root's),
	 * modes a umask would narrow or that leave the owner no write. */
	mkd(M, "new/sgid");
	sh("chown 0:77 '%s' && chmod 2775 '%s'", P(M, "new/sgid"), P(M, "new/sgid"));
	put(M, "new/sgid/root", "r\n");
	put(M, "new/sgid/grp", "g\n");
	put(M, "new/f0666", "w\n");
	put(M, "new/f0444", "r\n");
	sh("chown 0:0 '%s' && chmod 0666 '%s' && chmod 0444 '%s'", P(M, "new/sgid/root"),
	   P(M, "new/f0666"), P(M, "new/f0444"));
	mkd(M, "new/emptydir");
	sh("chmod 4755 '%s' && chmod 0700 '%s' && chown 3000000:3000001 '%s'", P(M, "new/suid"),
	   P(M, "new/emptydir"), P(M, "new/bigid"));
	ck_assert(setxattr(P(M, "new/emptydir"), "user.dir", "d", 1, 0) == 0);
	sh("touch -d @-100 '%s' && touch -h -d @1000000000 '%s'", P(M, "new/old_time"),
	   P(M, "new/abs_link"));
	/* Distinct directory times, set last: the tar must bring them back. */
	sh("touch -d @1600000000.25 '%s' && touch -d @1500000000 '%s' '%s' && "
	   "touch -d @1400000000 '%s'",
	   P(M, LONG_DIR), P(M, "opq"), P(M, "file_to_dir"), P(M, "new"));
	fd = open(P(M, "new"), O_RDONLY | O_DIRECTORY);
	ck_assert(fd >= 0);
	close(fd);
}

struct image {
	char *base;
	char *img;     /* files.tar + deleted.list */
	char *want;    /* listing (seconds) of the merged view that was saved */
	struct filediff_stats st;
};

static void make_image(struct image *im)
{
	cleanup_error tardis_error_t err = NULL;
	int out;

	memset(im, 0, sizeof(*im));
	im->base = unit_tmpdir();
	char *M;

	make_lower(im->base);
	ovl_mount(im->base, "lower", "upper", "merged", NULL);
	M = strdup(P(im->base, "merged"));
	change_merged(M);
	im->img = strdup(P(im->base, "img"));
	ck_assert(mkdir(im->img, 0700) == 0);
	out = open_dir(im->img);
	ck_assert_msg(filediff_save(P(im->base, "upper"), out, &im->st, &err) == 0, "save: %s",
		      tardis_error_msg(err));
	close(out);
	/* What must come back: everything. */
	im->want = listing(M, 0);
	free(M);
	ovl_umount(im->base, "merged");
}

static void free_image(struct image *im)
{
	free(im->base);
	free(im->img);
	free(im->want);
}

static char *read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long n;

	ck_assert_msg(f != NULL, "open %s", path);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	ck_assert(fread(buf, 1, (size_t)n, f) == (size_t)n);
	buf[n] = 0;
	fclose(f);
	if (len)
		*len = (size_t)n;
	return buf;
}

static void write_all(const char *path, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	ck_assert(fd >= 0);
	ck_assert(write(fd, buf, len) == (ssize_t)len);
	close(fd);
}

/* ------------------------------------------------------------------ */
/* Save, apply onto a fresh overlay, compare, roll back                */

START_TEST(test_roundtrip)
{
	cleanup_error tardis_error_t err = NULL;
	struct image im;
	char *list, *fresh, *after;
	int bfd;

	make_image(&im);
	ck_assert_uint_eq(im.st.whiteouts, 3); /* del_file, del_dir, WEIRD */
	ck_assert_uint_eq(im.st.opaques, 2);   /* opq, file_to_dir */
	ck_assert_uint_eq(im.st.skipped, 0);   /* fifos and devices are kept now */
	ck_assert_uint_eq(im.st.hardlinks, 2); /* h2, fifo2 */
	ck_assert_uint_ge(im.st.bytes, 1000003);
	/* The 64 MiB sparse file and the 8 MiB hole take no room. */
	ck_assert_uint_lt(im.st.bytes, 1100000);
	{
		struct stat st;

		ck_assert(stat(P(im.img, FILEDIFF_TAR), &st) == 0);
		ck_assert_int_lt(st.st_size, 1100000);
	}
	ck_assert_msg(strstr(im.want, "`new/sparse` 100644 0:0 67108864 ") &&
			      strstr(im.want, "security.capability=") &&
			      strstr(im.want, "system.posix_acl_default=") &&
			      strstr(im.want, "system.posix_acl_access=") &&
			      strstr(im.want, "user.bin=000102") && strstr(im.want, "links 2"),
		      "the test tree lacks what it should test:\n%s", im.want);

	list = read_all(P(im.img, FILEDIFF_DELETED), NULL);
	ck_assert_str_eq(list, "whiteout del_dir\n"
			       "whiteout del_file\n"
			       "opaque file_to_dir\n"
			       "opaque opq\n"
			       "whiteout we\\nird\\\\name\n");
	free(list);
	/* Any POSIX tar reads it, long names and big ids included. */
	sh("tar -tvf '%s' --numeric-owner > '%s'", P(im.img, FILEDIFF_TAR), P(im.base, "tar.txt"));
	sh("grep -q 'file_with_a_long_name_f' '%s'", P(im.base, "tar.txt"));
	sh("grep -q '3000000/3000001' '%s'", P(im.base, "tar.txt"));
	sh("grep -q 'long_link -> x/x/x' '%s'", P(im.base, "tar.txt"));

	/* A fresh container: same lower, empty upper. */
	ovl_mount(im.base, "lower", "upper2", "merged2", NULL);
	fresh = listing(P(im.base, "merged2"), L_NS | L_ROOT);
	ck_assert(mkdir(P(im.base, "backup"), 0700) == 0);
	bfd = open_dir(P(im.base, "backup"));
	ck_assert_msg(filediff_apply(open_dir(im.img), P(im.base, "merged2"), bfd, &err) == 0,
		      "apply: %s", tardis_error_msg(err));
	after = listing(P(im.base, "merged2"), 0);
	same_listing(im.want, after, "applied tree");
	free(after);
	ck_assert_int_gt(journal_size(bfd), 0);

	ck_assert_msg(filediff_rollback(P(im.base, "merged2"), bfd, &err) == 0, "rollback: %s",
		      tardis_error_msg(err));
	after = listing(P(im.base, "merged2"), L_NS | L_ROOT);
	same_listing(fresh, after, "rolled back tree");
	free(after);
	ck_assert_int_eq(journal_size(bfd), 0);
	ck_assert(!exists(P(im.base, "backup/b0")));

	/* Again: the same result, and the backups of the first run are gone. */
	ck_assert(filediff_apply(open_dir(im.img), P(im.base, "merged2"), bfd, &err) == 0);
	after = listing(P(im.base, "merged2"), 0);
	same_listing(im.want, after, "applied twice");
	free(after);
	ck_assert(filediff_rollback(P(im.base, "merged2"), bfd, &err) == 0);
	ck_assert(filediff_rollback(P(im.base, "merged2"), bfd, &err) == 0);
	after = listing(P(im.base, "merged2"), L_NS | L_ROOT);
	same_listing(fresh, after, "rolled back twice");
	free(after);
	free(fresh);
	ovl_umount(im.base, "merged2");
	free_image(&im);
}
END_TEST

/* A rootfs whose entries conflict with every kind of change. */
START_TEST(test_rollback_preexisting)
{
	cleanup_error tardis_error_t err = NULL;
	struct image im;
	char *R, *before, *after, *outside;
	int bfd;

	make_image(&im);
	R = strdup(P(im.base, "root"));
	outside = strdup(P(im.base, "outside"));
	ck_assert(mkdir(R, 0755) == 0);
	ck_assert(mkdir(outside, 0755) == 0);
	put(outside, "x", "outside\n");
	put(outside, "modify", "outside modify\n");
	mkd(R, "etc");
	put(R, "etc/modify", "other content\n");
	sh("chmod 0600 '%s' && chown 55:66 '%s'", P(R, "etc/modify"), P(R, "etc/modify"));
	put(R, "del_dir", "a file where a dir was deleted\n");
	lnk(R, "opq", outside); /* opaque over a symlink: the symlink goes, not its target */
	mkd(R, "old_link");
	put(R, "old_link/inner", "inner\n");
	lnk(R, "dir_to_file", outside);
	mkd(R, "file_to_dir");
	put(R, "file_to_dir/in", "a different in\n");
	put(R, "file_to_dir/other", "other\n");
	mkd(R, "new");
	lnk(R, "new/" "h1", "/etc/shadow");
	put(R, "new/big", "small\n");
	mkd(R, "new/emptydir");
	put(R, "new/emptydir/x", "x\n");
	mkd(R, "untouched");
	put(R, "untouched/u", "u\n");
	ck_assert(mkfifo(P(R, "untouched/fifo"), 0600) == 0);
	sh("touch -d @1500000000.5 '%s' '%s'", P(R, "new"), P(R, "etc"));
	ck_assert(setxattr(P(R, "etc/modify"), "user.test", "kept", 4, 0) == 0);
	ck_assert(setxattr(P(R, "old_link"), "user.dir", "d", 1, 0) == 0);
	before = listing(R, L_NS | L_ROOT);
	char *outside_before = listing(outside, L_NS | L_ROOT);

	ck_assert(mkdir(P(im.base, "backup"), 0700) == 0);
	bfd = open_dir(P(im.base, "backup"));
	ck_assert_msg(filediff_apply(open_dir(im.img), R, bfd, &err) == 0, "apply: %s",
		      tardis_error_msg(err));
	/* It did apply: the changed files are there, nothing went through a symlink. */
	after = read_all(P(R, "etc/modify"), NULL);
	ck_assert_str_eq(after, "original\nmodified\n");
	free(after);
	ck_assert(!exists(P(R, "opq/x")) && exists(P(R, "opq/new")));
	after = listing(outside, L_NS | L_ROOT);
	same_listing(outside_before, after, "outside after apply");
	free(after);

	ck_assert_msg(filediff_rollback(R, bfd, &err) == 0, "rollback: %s", tardis_error_msg(err));
	after = listing(R, L_NS | L_ROOT);
	same_listing(before, after, "rolled back");
	free(after);
	{
		char v[16] = { 0 };

		ck_assert_int_eq(getxattr(P(R, "etc/modify"), "user.test", v, sizeof(v)), 4);
		ck_assert_str_eq(v, "kept");
		ck_assert_int_eq(getxattr(P(R, "old_link"), "user.dir", v, sizeof(v)), 1);
	}
	ck_assert(filediff_rollback(R, bfd, &err) == 0);
	after = listing(R, L_NS | L_ROOT);
	same_listing(before, after, "rolled back twice");
	free(after);
	after = listing(outside, L_NS | L_ROOT);
	same_listing(outside_before, after, "outside");
	free(after);
	free(outside_before);
	free(before);
	free(outside);
	free(R);
	free_image(&im);
}
END_TEST

START_TEST(test_commit)
{
	cleanup_error tardis_error_t err = NULL;
	struct image im;
	char *R, *after;
	int bfd;

	make_image(&im);
	ovl_mount(im.base, "lower", "upper2", "merged2", NULL);
	R = strdup(P(im.base, "merged2"));
	ck_assert(mkdir(P(im.base, "backup"), 0700) == 0);
	bfd = open_dir(P(im.base, "backup"));
	ck_assert(filediff_apply(open_dir(im.img), R, bfd, &err) == 0);
	ck_assert(exists(P(im.base, "backup/b0")));
	/* A second apply on top of an unresolved one is refused, untouched. */
	ck_assert_int_eq(filediff_apply(open_dir(im.img), R, bfd, &err), -1);
	ck_assert_int_eq(err->errnum, EBUSY);
	tardis_error_free(&err);
	ck_assert(exists(P(im.base, "backup/b0")));

	ck_assert(filediff_commit(bfd, &err) == 0);
	ck_assert_int_eq(journal_size(bfd), 0);
	ck_assert(!exists(P(im.base, "backup/b0")));
	ck_assert(filediff_rollback(R, bfd, &err) == 0); /* nothing left to undo */
	after = listing(R, 0);
	same_listing(im.want, after, "committed tree");
	free(after);
	ovl_umount(im.base, "merged2");
	free(R);
	free_image(&im);
}
END_TEST

/* Every later name of a saved inode is saved as a hard link, whatever the
 * inode numbers around it (the seen-inode tree once took its entries
 * before their keys were set: found or not depending on their order). */
START_TEST(test_save_hardlinks)
{
	cleanup_error tardis_error_t err = NULL;
	char *base = unit_tmpdir();
	struct filediff_stats st;
	char name[64], other[64];
	int out;

	ck_assert(mkdir(P(base, "img"), 0700) == 0);
	mkd(base, "up");
	/* Inodes made in one order, named (and listed) in another. */
	for (int i = 0; i < 64; i++) {
		snprintf(name, sizeof(name), "up/%02d-%d", (i * 37) % 64, i);
		put(base, name, "data\n");
		snprintf(other, sizeof(other), "up/z%d", i);
		ck_assert(link(P(base, name), P(base, other)) == 0);
	}
	out = open_dir(P(base, "img"));
	ck_assert_msg(filediff_save(P(base, "up"), out, &st, &err) == 0, "save: %s",
		      tardis_error_msg(err));
	close(out);
	ck_assert_uint_eq(st.entries, 128);
	ck_assert_uint_eq(st.hardlinks, 64);
	free(base);
}
END_TEST

START_TEST(test_save_errors)
{
	cleanup_error tardis_error_t err = NULL;
	char *base = unit_tmpdir();
	int out;

	ck_assert(mkdir(P(base, "img"), 0700) == 0);
	out = open_dir(P(base, "img"));
	ck_assert_int_eq(filediff_save(P(base, "nonexistent"), out, NULL, &err), -1);
	ck_assert_int_eq(err->errnum, ENOENT);
	tardis_error_free(&err);

	/* An existing files.tar is neither overwritten nor removed. */
	mkd(base, "up");
	put(base, "img/" FILEDIFF_TAR, "keep me");
	ck_assert_int_eq(filediff_save(P(base, "up"), out, NULL, &err), -1);
	ck_assert_int_eq(err->errnum, EEXIST);
	tardis_error_free(&err);
	ck_assert(!exists(P(base, "img/" FILEDIFF_DELETED)));
	sh("grep -qx 'keep me' '%s'", P(base, "img/" FILEDIFF_TAR));
	unlink(P(base, "img/" FILEDIFF_TAR));

	/* Another filesystem mounted inside the upperdir is not descended into. */
	private_mounts();
	mkd(base, "up/mnt");
	put(base, "up/f", "f\n");
	ck_assert(mount("tmpfs", P(base, "up/mnt"), "tmpfs", 0, NULL) == 0);
	put(base, "up/mnt/secret", "other fs\n");
	{
		struct filediff_stats st;
		char *tar;
		size_t len;

		ck_assert(filediff_save(P(base, "up"), out, &st, &err) == 0);
		ck_assert_uint_eq(st.entries, 1);
		ck_assert_uint_eq(st.skipped, 1);
		tar = read_all(P(base, "img/" FILEDIFF_TAR), &len);
		ck_assert(!memmem(tar, len, "secret", 6) && !memmem(tar, len, "other fs", 8));
		free(tar);
		unlink(P(base, "img/" FILEDIFF_TAR));
		unlink(P(base, "img/" FILEDIFF_DELETED));
	}
	ck_assert(umount(P(base, "up/mnt")) == 0);

	/* metacopy: the upper file holds no data, so saving it would lose it. */
	mkd(base, "lower");
	put(base, "lower/f", "data\n");
	mkd(base, "lower/d");
	put(base, "lower/d/x", "x\n");
	ovl_mount(base, "lower", "upper", "merged", "metacopy=on");
	sh("chmod 0600 '%s'", P(base, "merged/f"));
	ck_assert_int_eq(filediff_save(P(base, "upper"), out, NULL, &err), -1);
	ck_assert_int_eq(err->errnum, ENOTSUP);
	ck_assert_msg(strstr(tardis_error_msg(err), "metacopy"), "%s", tardis_error_msg(err));
	tardis_error_free(&err);
	ck_assert(!exists(P(base, "img/" FILEDIFF_TAR)) && !exists(P(base, "img/" FILEDIFF_DELETED)));
	ovl_umount(base, "merged");

	/* redirect_dir: a renamed lower directory's contents are in the lower. */
	ovl_mount(base, "lower", "upper3", "merged3", "redirect_dir=on");
	sh("mv '%s' '%s'", P(base, "merged3/d"), P(base, "merged3/d2"));
	ck_assert_int_eq(filediff_save(P(base, "upper3"), out, NULL, &err), -1);
	ck_assert_msg(strstr(tardis_error_msg(err), "redirect_dir"), "%s", tardis_error_msg(err));
	tardis_error_free(&err);
	ovl_umount(base, "merged3");
	close(out);
	free(base);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Hostile input                                                      */

struct tb {
	char *buf;
	size_t len;
};

static void tb_raw(struct tb *t, const void *p, size_t n)
{
	t->buf = realloc(t->buf, t->len + n);
	memcpy(t->buf + t->len, p, n);
	t->len += n;
}

static void tb_hdr_n(struct tb *t, const char *name, size_t name_len, char type, unsigned mode,
		     unsigned long long size, const char *link)
{
	unsigned char h[512] = { 0 };
	unsigned sum = 0;

	memcpy(h, name, name_len > 100 ? 100 : name_len);
	sprintf((char *)h + 100, "%07o", mode);
	sprintf((char *)h + 108, "%07o", 0);
	sprintf((char *)h + 116, "%07o", 0);
	sprintf((char *)h + 124, "%011llo", size);
	sprintf((char *)h + 136, "%011o", 1700000000);
	h[156] = (unsigned char)type;
	if (link)
		memcpy(h + 157, link, strlen(link) > 100 ? 100 : strlen(link));
	memcpy(h + 257, "ustar", 6);
	memcpy(h + 263, "00", 2);
	memset(h + 148, ' ', 8);
	for (int i = 0; i < 512; i++)
		sum += h[i];
	sprintf((char *)h + 148, "%06o", sum);
	h[155] = ' ';
	tb_raw(t, h, 512);
}

static void tb_hdr(struct tb *t, const char *name, char type, unsigned mode,
		   unsigned long long size, const char *link)
{
	tb_hdr_n(t, name, strlen(name), type, mode, size, link);
}

static void tb_pad(struct tb *t)
{
	static const char z[512];

	if (t->len % 512)
		tb_raw(t, z, 512 - t->len % 512);
}

static void tb_file(struct tb *t, const char *name, const char *data)
{
	tb_hdr(t, name, '0', 0644, strlen(data), NULL);
	tb_raw(t, data, strlen(data));
	tb_pad(t);
}

static void tb_pax(struct tb *t, const char *key, const char *val, size_t vlen)
{
	char rec[8192];
	size_t body = strlen(key) + vlen + 3, n = body + 1;

	while (snprintf(NULL, 0, "%zu", n) + body != n)
		n = body + (size_t)snprintf(NULL, 0, "%zu", n);
	snprintf(rec, sizeof(rec), "%zu %s=", n, key);
	memcpy(rec + strlen(rec), val, vlen);
	rec[n - 1] = '\n';
	tb_hdr(t, "PaxHeader", 'x', 0644, n, NULL);
	tb_raw(t, rec, n);
	tb_pad(t);
}

static void tb_end(struct tb *t)
{
	static const char z[1024];

	tb_raw(t, z, sizeof(z));
}

static int tar_ok(struct tb *t)
{
	cleanup_error tardis_error_t err = NULL;

	return filediff_tar_foreach(t->buf, t->len, NULL, NULL, &err);
}

/* The archive in T ended, parsed (as tar_ok), then freed: T is empty again. */
static int tar_end_ok(struct tb *t)
{
	int r;

	tb_end(t);
	r = tar_ok(t);
	free(t->buf);
	memset(t, 0, sizeof(*t));
	return r;
}

static int count_entry(const struct filediff_entry *e, void *arg, tardis_error_t *err)
{
	(*(int *)arg)++;
	return 0;
}

START_TEST(test_tar_parser)
{
	cleanup_error tardis_error_t err = NULL;
	static const char *bad_names[] = { "../escape", "/abs", "a/../../b", "a/./b", "a//b", "",
					   "..", ".", "./x", "a/..", "x/" };
	char longname[300];
	struct tb t = { 0 };
	int n = 0;

	/* The good case, with every supported kind and a pax path. */
	tb_hdr(&t, "d/", '5', 0755, 0, NULL);
	tb_file(&t, "d/f", "hello");
	tb_hdr(&t, "d/l", '2', 0777, 0, "/anywhere/../is/fine");
	memset(longname, 'a', sizeof(longname));
	memcpy(longname, "d/", 2);
	tb_pax(&t, "path", longname, 250);
	tb_file(&t, "ignored-ustar-name", "long");
	tb_end(&t);
	ck_assert_msg(filediff_tar_foreach(t.buf, t.len, count_entry, &n, &err) == 0, "%s",
		      tardis_error_msg(err));
	ck_assert_int_eq(n, 4);
	free(t.buf);

	for (size_t i = 0; i < sizeof(bad_names) / sizeof(*bad_names); i++) {
		memset(&t, 0, sizeof(t));
		tb_file(&t, bad_names[i], "x");
		tb_end(&t);
		ck_assert_msg(tar_ok(&t) == -1, "accepted `%s`", bad_names[i]);
		free(t.buf);
		memset(&t, 0, sizeof(t));
		tb_pax(&t, "path", bad_names[i], strlen(bad_names[i]));
		tb_file(&t, "ok", "x");
		tb_end(&t);
		/* (libarchive takes an empty pax path for none: the ustar name.) */
		ck_assert_msg(tar_ok(&t) == (bad_names[i][0] ? -1 : 0), "pax `%s`", bad_names[i]);
		free(t.buf);
	}
	/* NUL tricks: in a ustar field and inside a pax value. */
	memset(&t, 0, sizeof(t));
	tb_hdr_n(&t, "ok\0../../x", 10, '0', 0644, 0, NULL);
	ck_assert_int_eq(tar_end_ok(&t), 0); /* libarchive reads `ok`, harmless */
	tb_pax(&t, "path", "ok\0../../x", 10);
	tb_file(&t, "ok", "x");
	ck_assert_int_eq(tar_end_ok(&t), 0); /* the same */
	/* GNU long names without an entry, a global header alone (libarchive
	 * reads other unknown types, '7' too, as regular files). */
	for (const char *ty = "LKgV"; *ty; ty++) {
		memset(&t, 0, sizeof(t));
		tb_hdr(&t, "x", *ty, 0644, 0, "target");
		tb_end(&t);
		ck_assert_msg(tar_ok(&t) == -1, "accepted type %c", *ty);
		free(t.buf);
	}
	/* A hard link names an earlier entry of the archive, nothing else. */
	memset(&t, 0, sizeof(t));
	tb_file(&t, "f", "x");
	tb_hdr(&t, "g", '1', 0644, 0, "f");
	ck_assert_int_eq(tar_end_ok(&t), 0);
	for (const char *const *tg = (const char *const[]){ "h", "../f", "/f", "f/", "", NULL };
	     *tg; tg++) {
		tb_file(&t, "f", "x");
		tb_hdr(&t, "g", '1', 0644, 0, *tg);
		ck_assert_msg(tar_end_ok(&t) == -1, "accepted a hard link to `%s`", *tg);
	}
	tb_hdr(&t, "g", '1', 0644, 0, "f"); /* the target comes later */
	tb_file(&t, "f", "x");
	ck_assert_int_eq(tar_end_ok(&t), -1);
	tb_hdr(&t, "d/", '5', 0755, 0, NULL); /* a directory */
	tb_hdr(&t, "g", '1', 0644, 0, "d");
	ck_assert_int_eq(tar_end_ok(&t), -1);
	/* Fifos and devices, but no overlay whiteout (0/0) among them. */
	tb_hdr(&t, "p", '6', 0644, 0, NULL);
	tb_hdr(&t, "c", '3', 0644, 0, NULL);
	ck_assert_int_eq(tar_end_ok(&t), -1);
	tb_hdr(&t, "p", '6', 0644, 0, NULL);
	tb_hdr(&t, "b", '4', 0644, 0, NULL);
	ck_assert_int_eq(tar_end_ok(&t), 0);
	/* Structure: checksum, magic, end marker, trailing data, sizes. */
	{
		struct tb good = { 0 };

		tb_file(&good, "f", "data");
		tb_end(&good);
		ck_assert_int_eq(tar_ok(&good), 0);
		good.buf[0] ^= 1;
		ck_assert_int_eq(tar_ok(&good), -1); /* checksum */
		good.buf[0] ^= 1;
		good.buf[258] = 'X';
		ck_assert_int_eq(tar_ok(&good), -1); /* magic (checksum fixed below) */
		free(good.buf);
	}
	memset(&t, 0, sizeof(t));
	tb_file(&t, "f", "data");
	tb_raw(&t, (char[512]){ 0 }, 512);
	ck_assert_int_eq(tar_ok(&t), -1); /* one end block */
	tb_raw(&t, (char[512]){ 0 }, 512);
	ck_assert_int_eq(tar_ok(&t), 0);
	tb_raw(&t, "junk", 4);
	ck_assert_int_eq(tar_ok(&t), -1); /* data after the end */
	free(t.buf);
	memset(&t, 0, sizeof(t));
	tb_hdr(&t, "f", '0', 0644, 077777777777ULL, NULL); /* 8 GiB claimed */
	ck_assert_int_eq(tar_end_ok(&t), -1);
	tb_pax(&t, "size", "18446744073709551615", 20);
	tb_file(&t, "f", "x");
	ck_assert_int_eq(tar_end_ok(&t), -1);
	tb_hdr(&t, "d", '5', 0755, 512, NULL); /* a directory with data */
	tb_raw(&t, (char[512]){ 1 }, 512);
	ck_assert_int_eq(tar_end_ok(&t), -1);
	tb_hdr(&t, "l", '2', 0777, 0, ""); /* a symlink to nothing */
	ck_assert_int_eq(tar_end_ok(&t), -1);
	tb_hdr(&t, "f", '0', 0177777, 0, NULL); /* type bits in the mode: dropped */
	ck_assert_int_eq(tar_end_ok(&t), 0);
	tb_pax(&t, "path", "a", 1);
	tb_pax(&t, "path", "b", 1);
	tb_file(&t, "f", "x");
	ck_assert_int_eq(tar_end_ok(&t), -1); /* two pax headers */
	tb_pax(&t, "path", "a", 1);
	ck_assert_int_eq(tar_end_ok(&t), -1); /* pax header, then nothing */
	tb_hdr(&t, "PaxHeader", 'x', 0644, 9, NULL);
	tb_raw(&t, "99 path=a", 9); /* a record longer than its header */
	tb_pad(&t);
	tb_file(&t, "f", "x");
	ck_assert_int_eq(tar_end_ok(&t), -1);
	tb_pax(&t, "uid", "4294967295", 10); /* would mean "unchanged" to chown */
	tb_file(&t, "f", "x");
	ck_assert_int_eq(tar_end_ok(&t), -1);
	ck_assert_int_eq(filediff_tar_foreach(NULL, 0, NULL, NULL, &err), -1);
}
END_TEST

START_TEST(test_deleted_parser)
{
	static const struct {
		const char *text;
		int ok;
	} cases[] = {
		{ "", 1 },
		{ "whiteout a\nopaque b/c\n", 1 },
		{ "whiteout a b\n", 1 },
		{ "whiteout a\\nb\\\\c\n", 1 },
		{ "whiteout a", 0 },
		{ "whiteout \n", 0 },
		{ "whiteout ../x\n", 0 },
		{ "whiteout /etc\n", 0 },
		{ "whiteout a/../../b\n", 0 },
		{ "opaque .\n", 0 },
		{ "opaque a/\n", 0 },
		{ "whiteout a\\q\n", 0 },
		{ "whiteout a\\\n", 0 },
		{ "delete a\n", 0 },
		{ "whiteoutx\n", 0 },
		{ "\n", 0 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		cleanup_error tardis_error_t err = NULL;
		int rc = filediff_deleted_foreach(cases[i].text, strlen(cases[i].text), NULL, NULL,
						  &err);

		ck_assert_msg(rc == (cases[i].ok ? 0 : -1), "`%s`: %d", cases[i].text, rc);
	}
	{
		cleanup_error tardis_error_t err = NULL;

		ck_assert_int_eq(filediff_deleted_foreach("whiteout a\0b\n", 13, NULL, NULL, &err),
				 -1);
	}
}
END_TEST

/* A small rootfs with a sentinel outside it. */
struct scratch {
	char *base, *root, *outside, *img, *before;
	int bfd;
};

static char *scratch_listing(struct scratch *s)
{
	char *a = listing(s->root, L_NS | L_ROOT), *b = listing(s->outside, L_NS | L_ROOT), *r;

	ck_assert(asprintf(&r, "%s--- outside\n%s", a, b) > 0);
	free(a);
	free(b);
	return r;
}

static void scratch_new(struct scratch *s)
{
	s->base = unit_tmpdir();
	s->root = strdup(P(s->base, "root"));
	s->outside = strdup(P(s->base, "outside"));
	s->img = strdup(P(s->base, "img"));
	ck_assert(mkdir(s->root, 0755) == 0 && mkdir(s->outside, 0755) == 0);
	ck_assert(mkdir(s->img, 0700) == 0 && mkdir(P(s->base, "backup"), 0700) == 0);
	put(s->outside, "x", "outside\n");
	mkd(s->root, "etc");
	put(s->root, "etc/passwd", "root:x:0:0\n");
	lnk(s->root, "link", s->outside);
	lnk(s->root, "rel", "../outside");
	put(s->root, "hl1", "one inode\n");
	ck_assert(link(P(s->root, "hl1"), P(s->root, "hl2")) == 0);
	s->bfd = open_dir(P(s->base, "backup"));
	s->before = scratch_listing(s);
}

static void scratch_free(struct scratch *s)
{
	close(s->bfd);
	free(s->base);
	free(s->root);
	free(s->outside);
	free(s->img);
	free(s->before);
}

/* Applies (expecting rc: 0, -1, -2 for "refused before any change", 1 for
 * either), rolls back, and checks that nothing anywhere changed. */
static void scratch_apply(struct scratch *s, const void *tar, size_t tarlen, const char *deleted,
			  int want_rc, const char *what)
{
	cleanup_error tardis_error_t err = NULL;
	int img = open_dir(s->img), rc;
	char *after;

	write_all(P(s->img, FILEDIFF_TAR), tar, tarlen);
	write_all(P(s->img, FILEDIFF_DELETED), deleted, strlen(deleted));
	rc = filediff_apply(img, s->root, s->bfd, &err);
	close(img);
	if (want_rc != 1)
		ck_assert_msg(rc == (want_rc == -2 ? -1 : want_rc), "%s: apply returned %d (%s)",
			      what, rc, tardis_error_msg(err));
	tardis_error_free(&err);
	if (want_rc == -2) {
		ck_assert_int_le(journal_size(s->bfd), 0);
		after = scratch_listing(s);
		same_listing(s->before, after, what);
		free(after);
	}
	ck_assert_msg(!exists(P(s->outside, "y")) && !exists(P(s->base, "escape")) &&
			      !exists("/abs-tardis-test"),
		      "%s: wrote outside the rootfs", what);
	ck_assert_msg(filediff_rollback(s->root, s->bfd, &err) == 0, "%s: rollback: %s", what,
		      tardis_error_msg(err));
	unlink(P(s->img, FILEDIFF_TAR));
	unlink(P(s->img, FILEDIFF_DELETED));
	after = scratch_listing(s);
	same_listing(s->before, after, what);
	free(after);
}

START_TEST(test_hostile_apply)
{
	struct scratch s;
	struct tb t;

	scratch_new(&s);
#define CASE(what, build, deleted, rc)   \
	do {                             \
		memset(&t, 0, sizeof(t)); \
		build;                   \
		tb_end(&t);              \
		scratch_apply(&s, t.buf, t.len, deleted, rc, what); \
		free(t.buf);             \
	} while (0)
	CASE("../escape", tb_file(&t, "../escape", "x"), "", -2);
	CASE("/abs", tb_file(&t, "/abs-tardis-test", "x"), "", -2);
	CASE("a/../../b", (tb_hdr(&t, "a/", '5', 0755, 0, NULL), tb_file(&t, "a/../../escape", "x")),
	     "", -2);
	CASE("pax ../", (tb_pax(&t, "path", "../escape", 9), tb_file(&t, "ok", "x")), "", -2);
	/* A symlink the tar itself creates is never followed... */
	CASE("symlink then file below it",
	     (tb_hdr(&t, "evil", '2', 0777, 0, s.outside), tb_file(&t, "evil/y", "pwned")), "", -1);
	/* ...nor one that is already in the rootfs, absolute or relative. */
	CASE("file below rootfs symlink", tb_file(&t, "link/y", "pwned"), "", -1);
	CASE("file below relative symlink", tb_file(&t, "rel/y", "pwned"), "", -1);
	CASE("dir below rootfs symlink", tb_hdr(&t, "link/y", '5', 0755, 0, NULL), "", -1);
	CASE("symlink below rootfs symlink", tb_hdr(&t, "link/y", '2', 0777, 0, "/"), "", -1);
	CASE("whiteout below symlink", , "whiteout link/x\n", -1);
	CASE("opaque below symlink", , "opaque link/x\n", -1);
	CASE("whiteout ../", , "whiteout ../outside/x\n", -2);
	CASE("whiteout /", , "whiteout /tmp\n", -2);
	CASE("good tar, bad list", tb_file(&t, "new", "x"), "whiteout a\nwhiteout ../b\n", -2);
	/* Replacing the symlink itself is fine: the target is untouched. */
	CASE("replace a symlink", tb_file(&t, "link", "now a file"), "whiteout rel\n", 0);
	CASE("opaque on a symlink", tb_hdr(&t, "link", '5', 0755, 0, NULL), "opaque link\n", 0);
	CASE("ok", (tb_hdr(&t, "etc/", '5', 0700, 0, NULL), tb_file(&t, "etc/passwd", "changed")),
	     "whiteout link\n", 0);
	/* A missing parent is an error (the tar always lists parents first). */
	CASE("missing parent", tb_file(&t, "nodir/f", "x"), "", -1);
	/* A hard link's target is resolved like any path: never through a
	 * symlink, even one the tar made over a directory it listed. */
	CASE("hard link through a symlink",
	     (tb_hdr(&t, "a/", '5', 0755, 0, NULL), tb_file(&t, "a/x", "x"),
	      tb_hdr(&t, "a", '2', 0777, 0, s.outside), tb_hdr(&t, "g", '1', 0644, 0, "a/x")),
	     "", -1);
	CASE("hard link out", (tb_file(&t, "f", "x"), tb_hdr(&t, "g", '1', 0644, 0, "../outside/x")),
	     "", -2);
	CASE("hard link to a rootfs file", tb_hdr(&t, "g", '1', 0644, 0, "etc/passwd"), "", -2);
	/* Linking a symlink links the symlink, not what it points at. */
	CASE("hard link to a symlink",
	     (tb_hdr(&t, "s", '2', 0777, 0, P(s.outside, "x")), tb_hdr(&t, "g", '1', 0644, 0, "s")),
	     "", 0);
	CASE("hard link", (tb_file(&t, "n", "n"), tb_hdr(&t, "m", '1', 0644, 0, "n")), "", 0);
	/* Both names of an inode replaced: rolled back, one inode again. */
	CASE("replace both names of an inode", (tb_file(&t, "hl1", "a"), tb_file(&t, "hl2", "b")),
	     "", 0);
	CASE("delete both names of an inode", , "whiteout hl2\nwhiteout hl1\n", 0);
	/* Nor is a mount inside the rootfs crossed. */
	private_mounts();
	ck_assert(mount("tmpfs", P(s.root, "etc"), "tmpfs", 0, NULL) == 0);
	put(s.root, "etc/m", "mounted\n");
	free(s.before);
	s.before = scratch_listing(&s);
	CASE("file below a mount", tb_file(&t, "etc/y", "x"), "", -1);
	CASE("whiteout below a mount", , "whiteout etc/m\n", -1);
	CASE("opaque on a mount", , "opaque etc\n", -1);
	ck_assert(umount(P(s.root, "etc")) == 0);
#undef CASE
	{
		char *x = read_all(P(s.outside, "x"), NULL);

		ck_assert_str_eq(x, "outside\n");
		free(x);
	}
	scratch_free(&s);
}
END_TEST

/* An image of format 1 (made by the ustar writer before libarchive, kept
 * in tests/unit/fixtures/filediff_v1) still applies, and rolls back. */
START_TEST(test_old_format)
{
	cleanup_error tardis_error_t err = NULL;
	const char *fx = "tests/unit/fixtures/filediff_v1";
	char *base = unit_tmpdir(), *R = strdup(P(base, "root")), *got, *x;
	char lname[200] = "dir/";
	struct stat st;
	int bfd;

	ck_assert_msg(exists(P(fx, FILEDIFF_TAR)), "run from the source tree: no %s", fx);
	ck_assert(mkdir(R, 0755) == 0 && mkdir(P(base, "backup"), 0700) == 0);
	bfd = open_dir(P(base, "backup"));
	ck_assert_msg(filediff_apply(open_dir(fx), R, bfd, &err) == 0, "apply: %s",
		      tardis_error_msg(err));
	x = read_all(P(R, "dir/file"), NULL);
	ck_assert_str_eq(x, "hello old format\n");
	free(x);
	ck_assert(lstat(P(R, "dir/file"), &st) == 0);
	ck_assert_int_eq(st.st_mode, S_IFREG | 04755);
	ck_assert_int_eq(st.st_mtim.tv_sec, 1577934245); /* 2020-01-02 03:04:05 UTC */
	ck_assert(lstat(P(R, "dir/sub/big"), &st) == 0);
	ck_assert(st.st_size == 600 && st.st_uid == 1234 && st.st_gid == 5678);
	memset(lname + 4, 'n', 120);
	ck_assert(lstat(P(R, lname), &st) == 0 && st.st_size == 5);
	got = listing(R, 0);
	ck_assert_msg(strstr(got, "`link` 120777 0:0 -> dir/file"), "%s", got);
	free(got);
	ck_assert(filediff_rollback(R, bfd, &err) == 0);
	ck_assert(!exists(P(R, "dir")) && !exists(P(R, "link")));
	close(bfd);
	free(R);
	free(base);
}
END_TEST

static void small_tar(struct tb *t)
{
	char longname[200];

	memset(t, 0, sizeof(*t));
	tb_hdr(t, "etc/", '5', 0750, 0, NULL);
	tb_file(t, "etc/passwd", "root:x:0:0:changed\n");
	tb_hdr(t, "newdir/", '5', 0755, 0, NULL);
	tb_file(t, "newdir/a", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
	tb_hdr(t, "newdir/sym", '2', 0777, 0, "../etc/passwd");
	memset(longname, 'n', sizeof(longname));
	memcpy(longname, "newdir/", 7);
	tb_pax(t, "path", longname, sizeof(longname));
	tb_file(t, "x", "long named");
	tb_hdr(t, "newdir/sub/", '5', 0700, 0, NULL);
	{
		char big[3000];

		memset(big, 'b', sizeof(big) - 1);
		big[sizeof(big) - 1] = 0;
		tb_file(t, "newdir/sub/big", big);
	}
	tb_end(t);
}

START_TEST(test_truncated)
{
	struct image im;
	struct scratch s;
	struct tb t;
	size_t len;
	char *tar;

	/* The real thing: every 512-byte cut and some others are refused. */
	make_image(&im);
	tar = read_all(P(im.img, FILEDIFF_TAR), &len);
	ck_assert_int_eq(filediff_tar_foreach(tar, len, NULL, NULL, NULL), 0);
	for (size_t cut = 0; cut < len; cut += 512)
		ck_assert_msg(filediff_tar_foreach(tar, cut, NULL, NULL, NULL) == -1, "cut %zu", cut);
	srandom(42);
	for (int i = 0; i < 200; i++) {
		size_t cut = (size_t)random() % len;

		ck_assert_msg(filediff_tar_foreach(tar, cut, NULL, NULL, NULL) == -1, "cut %zu", cut);
	}
	free(tar);
	free_image(&im);

	/* Applied: refused before any change, nothing written anywhere. */
	scratch_new(&s);
	small_tar(&t);
	scratch_apply(&s, t.buf, t.len, "whiteout etc/passwd\n", 0, "whole");
	for (size_t cut = 0; cut < t.len; cut += 512) {
		char what[64];

		snprintf(what, sizeof(what), "cut at %zu", cut);
		scratch_apply(&s, t.buf, cut, "whiteout etc/passwd\n", -2, what);
	}
	for (int i = 0; i < 20; i++) {
		size_t cut = (size_t)random() % t.len;

		scratch_apply(&s, t.buf, cut, "", -2, "random cut");
	}
	free(t.buf);
	scratch_free(&s);
}
END_TEST

/* Random corruption: never a crash, never a write outside, always undone. */
START_TEST(test_mutations)
{
	struct scratch s;
	struct tb t;

	scratch_new(&s);
	small_tar(&t);
	srandom(7);
	for (int i = 0; i < 300; i++) {
		char *m = malloc(t.len);
		int flips = 1 + (int)(random() % 4);

		memcpy(m, t.buf, t.len);
		for (int j = 0; j < flips; j++) {
			size_t at = (size_t)random() % t.len;

			m[at] = (char)random();
		}
		/* Half of them get a valid checksum back, to reach past it. */
		if (i % 2)
			for (size_t h = 0; h + 512 <= t.len; h += 512) {
				unsigned char *b = (unsigned char *)m + h;
				unsigned sum = 0;

				if (memcmp(b + 257, "ustar", 6))
					continue;
				memset(b + 148, ' ', 8);
				for (int k = 0; k < 512; k++)
					sum += b[k];
				sprintf((char *)b + 148, "%06o", sum);
				b[155] = ' ';
			}
		filediff_tar_foreach(m, t.len, NULL, NULL, NULL);
		scratch_apply(&s, m, t.len, "", 1, "mutated");
		free(m);
	}
	free(t.buf);
	scratch_free(&s);
}
END_TEST

START_TEST(test_journal)
{
	cleanup_error tardis_error_t err = NULL;
	struct scratch s;
	struct tb t;
	int img;

	scratch_new(&s);
	/* No journal: nothing to do. */
	ck_assert(filediff_rollback(s.root, s.bfd, &err) == 0);
	/* Stale backups (a crash after the journal was truncated) are dropped. */
	mkd(P(s.base, "backup"), "b3");
	put(P(s.base, "backup"), "b4.tmp", "x");
	put(P(s.base, "backup"), "keep", "not ours");
	ck_assert(filediff_rollback(s.root, s.bfd, &err) == 0);
	ck_assert(!exists(P(s.base, "backup/b3")) && !exists(P(s.base, "backup/b4.tmp")));
	ck_assert(exists(P(s.base, "backup/keep")));
	unlink(P(s.base, "backup/keep"));
	/* An empty journal (as a commit leaves it) with stale backups: the
	 * same, without syncing the rootfs (nothing was undone). */
	put(P(s.base, "backup"), FILEDIFF_JOURNAL, "");
	put(P(s.base, "backup"), "b7", "stale");
	ck_assert(filediff_rollback(s.root, s.bfd, &err) == 0);
	ck_assert(!exists(P(s.base, "backup/b7")));
	ck_assert_int_eq(journal_size(s.bfd), 0);

	/* A hostile journal cannot make rollback touch anything outside. */
	put(P(s.base, "backup"), FILEDIFF_JOURNAL,
	    "created ../outside/x\ncreated link/x\nbackup 0 /etc\nmeta 777 0 0 0 0 link\n"
	    "meta 777 0 0 0 0 ../outside\nbogus\ncreated etc/passwd\n");
	ck_assert_int_eq(filediff_rollback(s.root, s.bfd, &err), -1);
	tardis_error_free(&err);
	ck_assert_int_gt(journal_size(s.bfd), 0); /* kept for another try */
	ck_assert(exists(P(s.outside, "x")));
	ck_assert(!exists(P(s.root, "etc/passwd"))); /* the one valid record did run */
	put(s.root, "etc/passwd", "root:x:0:0\n");
	unlink(P(s.base, "backup/" FILEDIFF_JOURNAL));

	/* A torn last record is ignored: its change never started. */
	put(P(s.base, "backup"), FILEDIFF_JOURNAL, "created etc/passwd");
	ck_assert(filediff_rollback(s.root, s.bfd, &err) == 0);
	ck_assert(exists(P(s.root, "etc/passwd")));
	ck_assert_int_eq(journal_size(s.bfd), 0);

	/* A missing image file is an error before anything changes. */
	small_tar(&t);
	write_all(P(s.img, FILEDIFF_TAR), t.buf, t.len);
	img = open_dir(s.img);
	ck_assert_int_eq(filediff_apply(img, s.root, s.bfd, &err), -1);
	ck_assert_int_eq(err->errnum, ENOENT);
	tardis_error_free(&err);
	close(img);
	unlink(P(s.img, FILEDIFF_TAR));
	free(t.buf);
	scratch_free(&s);
}
END_TEST

/* ------------------------------------------------------------------ */
/* SIGKILL mid-apply (and mid-rollback), then roll back                */

static int child_run(int kill_after, int rollback, const char *img, const char *root, int bfd)
{
	pid_t pid = fork();
	int status;

	ck_assert(pid >= 0);
	if (pid == 0) {
		tardis_error_t err = NULL;
		int rc;

		filediff_test_kill_after = kill_after;
		if (rollback)
			rc = filediff_rollback(root, bfd, &err);
		else
			rc = filediff_apply(open(img, O_RDONLY | O_DIRECTORY), root, bfd, &err);
		if (rc < 0)
			fprintf(stderr, "child: %s\n", tardis_error_msg(err));
		_exit(rc == 0 ? 0 : 1);
	}
	ck_assert(waitpid(pid, &status, 0) == pid);
	if (WIFSIGNALED(status)) {
		ck_assert_int_eq(WTERMSIG(status), SIGKILL);
		return 1;
	}
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child failed: %x", status);
	return 0;
}

START_TEST(test_crash)
{
	cleanup_error tardis_error_t err = NULL;
	struct image im;
	char *R, *before;
	int bfd, kills = 0, n;

	make_image(&im);
	ovl_mount(im.base, "lower", "upper2", "merged2", NULL);
	R = strdup(P(im.base, "merged2"));
	before = listing(R, L_NS | L_ROOT);
	ck_assert(mkdir(P(im.base, "backup"), 0700) == 0);
	bfd = open_dir(P(im.base, "backup"));
	for (n = 1;; n++) {
		char *after;
		int killed = child_run(n, 0, im.img, R, bfd);

		if (killed) {
			kills++;
			ck_assert_int_gt(journal_size(bfd), 0);
			/* Sometimes the rollback is killed too, once or twice. */
			if (n % 5 == 0)
				child_run(1 + n % 7, 1, im.img, R, bfd);
			if (n % 10 == 0)
				child_run(3, 1, im.img, R, bfd);
		} else {
			after = listing(R, 0);
			same_listing(im.want, after, "completed apply");
			free(after);
		}
		ck_assert_msg(filediff_rollback(R, bfd, &err) == 0, "step %d: %s", n,
			      tardis_error_msg(err));
		after = listing(R, L_NS | L_ROOT);
		if (strcmp(before, after)) {
			fprintf(stderr, "killed at step %d\n", n);
			same_listing(before, after, "rolled back after SIGKILL");
		}
		free(after);
		if (!killed)
			break;
	}
	ck_assert_int_gt(kills, 50);
	ck_assert_int_eq(kills, n - 1);
	ovl_umount(im.base, "merged2");
	free(before);
	free(R);
	free_image(&im);
}
END_TEST

Suite *filediff_suite(void)
{
	const struct unit_tcase cases[] = {
		{ "parse", 120,
		  UNIT_TESTS(test_tar_parser, test_deleted_parser, test_hostile_apply,
			     test_journal, test_mutations, test_old_format) },
		{ "overlay", 120,
		  UNIT_TESTS(test_roundtrip, test_rollback_preexisting, test_commit,
			     test_save_errors, test_save_hardlinks, test_truncated) },
		{ "crash", 600, UNIT_TESTS(test_crash) },
		{ NULL, 0, NULL },
	};

	return unit_suite("filediff", cases);
}
