/* The state store: names, modes, symlinks, atomic writes, locking; and the
 * registry that lives in it. */
#include "unit_main.h"
#include "state.h"
#include "skip_start.h"
#include "registry.h"
#include "exit_record.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- helpers -------------------------------------------------------------- */

/* A temp dir holding a fresh store at <dir>/state. */
struct fx {
	char *dir;
	char *root;
	struct tardis_store s;
};

static void fx_open(struct fx *f)
{
	tardis_error_t err = NULL;

	f->dir = unit_tmpdir();
	ck_assert(asprintf(&f->root, "%s/state", f->dir) > 0);
	ck_assert_msg(store_open(&f->s, f->root, &err) == 0, "%s", tardis_error_msg(err));
}

/* A fresh store with the container default/tc; its directory fd. */
static int fx_open_tc(struct fx *f)
{
	tardis_error_t err = NULL;
	int dfd;

	fx_open(f);
	dfd = store_container_dir(&f->s, "default", "tc", 1, &err);
	ck_assert_msg(dfd >= 0, "%s", tardis_error_msg(err));
	return dfd;
}

static void fx_close(struct fx *f)
{
	store_close(&f->s);
	unit_rmrf(f->dir);
	free(f->root);
	free(f->dir);
}

/* The directory PATH below DIRFD (FLAGS added to the open's), or NULL if
 * it cannot be opened. */
static DIR *open_dir_at(int dirfd, const char *path, int flags)
{
	int fd = openat(dirfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | flags);
	DIR *d;

	if (fd < 0)
		return NULL;
	d = fdopendir(fd);
	ck_assert_ptr_nonnull(d);
	return d;
}

/* Entries of the directory PATH below DIRFD other than . and .. for which
 * MATCH (if given) holds, or -1 if it cannot be opened. */
static int count_where(int dirfd, const char *path, int flags, int (*match)(DIR *d, const char *name))
{
	DIR *d = open_dir_at(dirfd, path, flags);
	struct dirent *de;
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
		    (!match || match(d, de->d_name)))
			n++;
	closedir(d);
	return n;
}

/* Entries of a directory other than . and .., or -1. */
static int count_entries(int dirfd, const char *path)
{
	return count_where(dirfd, path, O_NOFOLLOW, NULL);
}

static int is_temp_name(DIR *d, const char *name)
{
	size_t l = strlen(name);

	return l > 4 && strcmp(name + l - 4, ".tmp") == 0;
}

/* Any leftover temp file (.<name>.<pid>.<n>.tmp) in a directory? */
static int has_temp_files(int dirfd)
{
	int n = count_where(dirfd, ".", 0, is_temp_name);

	ck_assert_int_ge(n, 0);
	return n;
}

static void write_file(int dirfd, const char *name, const char *text)
{
	int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static char *slurp(const char *path)
{
	static char buf[8192];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	ck_assert_int_ge(fd, 0);
	n = read(fd, buf, sizeof(buf) - 1);
	ck_assert_int_ge(n, 0);
	buf[n] = '\0';
	close(fd);
	return buf;
}

static void expect_err(int ret, tardis_error_t *err, int errnum)
{
	ck_assert_int_lt(ret, 0);
	ck_assert_ptr_nonnull(*err);
	ck_assert_msg((*err)->errnum == errnum, "errnum %d (%s), expected %d", (*err)->errnum,
		      tardis_error_msg(*err), errnum);
	tardis_error_free(err);
}

/* Waits (no timing, just yielding) until pid shows up as a blocked flock
 * waiter in /proc/locks; fails if pid exits meanwhile. */
static void wait_blocked_in_flock(pid_t pid)
{
	for (;;) {
		FILE *f = fopen("/proc/locks", "re");
		char line[512];
		int found = 0, ws;

		if (!f)
			return; /* cannot tell: the later checks still hold */
		while (fgets(line, sizeof(line), f)) {
			char *p = strstr(line, "->");
			int who;

			if (p && sscanf(p, "-> %*s %*s %*s %d", &who) == 1 && who == pid)
				found = 1;
		}
		fclose(f);
		if (found)
			return;
		ck_assert_msg(waitpid(pid, &ws, WNOHANG) == 0, "locker %d ended early, status %#x",
			      (int)pid, ws);
		sched_yield();
	}
}

static int readable_now(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, 0) > 0;
}

/* The parent's side of a child PID that writes to READY, then blocks in
 * flock, then reports on OUT and holds the lock until HOLD is closed: once
 * it is ready, wait until the kernel shows it as a waiter; it must not have
 * the lock (nothing on OUT). */
static void child_blocked_in_flock(pid_t pid, int ready[2], int out[2], int hold[2])
{
	char b;

	close(ready[1]);
	close(out[1]);
	close(hold[0]);
	ck_assert_int_eq(read(ready[0], &b, 1), 1);
	wait_blocked_in_flock(pid);
	ck_assert(!readable_now(out[0]));
}

static int child_status(pid_t pid)
{
	int ws;

	ck_assert_int_eq(waitpid(pid, &ws, 0), pid);
	ck_assert_msg(WIFEXITED(ws), "child %d: status %#x", (int)pid, ws);
	return WEXITSTATUS(ws);
}

/* ---- names ---------------------------------------------------------------- */

START_TEST(id_valid)
{
	static const char *const bad[] = {
		"../x", "a/b", "/", "/abs", ".", "..", "", "a b", " a", "a\n", "\x01", "a\x1f",
		"a\x7f", "tab\t", "a:b", "a@b", "a*b", "~", "\xc3\xa9t\xc3\xa9", "a\\b", "x/..",
	};
	static const char *const good[] = {
		"abc", "a.b-c_d+e", "...", ".x", "x.", "..x", "_", "-", "+", "0", "k8s.io",
		"moby", "A-Z_0.9",
	};
	char big[400];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(!store_id_valid(bad[i]), "accepted `%s`", bad[i]);
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		ck_assert_msg(store_id_valid(good[i]), "refused `%s`", good[i]);
	ck_assert(!store_id_valid(NULL));
	memset(big, 'a', sizeof(big));
	big[300] = '\0';
	ck_assert(!store_id_valid(big));
	big[256] = '\0';
	ck_assert(!store_id_valid(big));
	big[255] = '\0';
	ck_assert(store_id_valid(big));
	big[1] = '\0';
	ck_assert(store_id_valid(big));
}
END_TEST

START_TEST(container_dir_refuses_bad_ids)
{
	static const char *const bad[] = { "../x", "..", ".", "a/b", "", "../../../../tmp/escape",
					   "x\n", "/etc" };
	char big[301];
	struct fx f;

	memset(big, 'a', 300);
	big[300] = '\0';
	fx_open(&f);
	for (size_t i = 0; i <= sizeof(bad) / sizeof(bad[0]); i++) {
		const char *b = i < sizeof(bad) / sizeof(bad[0]) ? bad[i] : big;
		tardis_error_t err = NULL;

		for (int create = 0; create <= 1; create++) {
			expect_err(store_container_dir(&f.s, b, "ok", create, &err), &err, EINVAL);
			expect_err(store_container_dir(&f.s, "ok", b, create, &err), &err, EINVAL);
			expect_err(store_container_lock(&f.s, b, "ok", create, &err), &err, EINVAL);
			expect_err(store_container_lock(&f.s, "ok", b, create, &err), &err, EINVAL);
		}
		expect_err(store_container_remove(&f.s, b, "ok", &err), &err, EINVAL);
		expect_err(store_container_remove(&f.s, "ok", b, &err), &err, EINVAL);
		expect_err(store_container_dir(&f.s, NULL, "ok", 1, &err), &err, EINVAL);
		expect_err(store_container_dir(&f.s, "ok", NULL, 1, &err), &err, EINVAL);
	}
	/* Nothing was created, in the store or around it. */
	ck_assert_int_eq(count_entries(AT_FDCWD, f.root), 0);
	ck_assert_int_eq(count_entries(AT_FDCWD, f.dir), 1);
	ck_assert_int_eq(access("/tmp/escape", F_OK), -1);
	fx_close(&f);
}
END_TEST

/* ---- modes and ownership -------------------------------------------------- */

static void expect_mode(int dirfd, const char *path, mode_t type, mode_t mode)
{
	struct stat st;

	ck_assert_msg(fstatat(dirfd, path, &st, AT_SYMLINK_NOFOLLOW) == 0, "stat %s", path);
	ck_assert_msg((st.st_mode & S_IFMT) == type, "%s: type %o", path, st.st_mode & S_IFMT);
	ck_assert_msg((st.st_mode & 07777) == mode, "%s: mode %o, expected %o", path,
		      st.st_mode & 07777, mode);
	ck_assert_uint_eq(st.st_uid, geteuid());
}

START_TEST(modes)
{
	mode_t old = umask(0); /* what the code asks for, not what umask leaves */
	struct store_write_times t = { 0, 0 };
	tardis_error_t err = NULL;
	struct tardis_store s;
	char *dir = unit_tmpdir(), *root = NULL, *text = NULL;
	size_t len = 0;
	int dfd;

	ck_assert(asprintf(&root, "%s/var/lib/tardis", dir) > 0);
	ck_assert_msg(store_open(&s, root, &err) == 0, "%s", tardis_error_msg(err));
	expect_mode(AT_FDCWD, root, S_IFDIR, 0700);
	dfd = store_container_dir(&s, "default", "tc", 1, &err);
	ck_assert_msg(dfd >= 0, "%s", tardis_error_msg(err));
	expect_mode(s.root_fd, "containers", S_IFDIR, 0700);
	expect_mode(s.root_fd, "containers/default", S_IFDIR, 0700);
	expect_mode(s.root_fd, "containers/default/tc", S_IFDIR, 0700);
	ck_assert_int_eq(store_write_atomic(dfd, "state.json", "{}", 2, 1, &t, &err), 0);
	expect_mode(dfd, "state.json", S_IFREG, 0600);
	ck_assert_uint_gt(t.visible_ns, 0);
	ck_assert_uint_ge(t.durable_ns, t.visible_ns);
	ck_assert_int_eq(store_write_atomic(dfd, "exit.json", "{\"a\":1}", 7, 0, &t, &err), 0);
	expect_mode(dfd, "exit.json", S_IFREG, 0600);
	ck_assert_uint_eq(t.durable_ns, 0);
	ck_assert_int_eq(store_read(dfd, "exit.json", 100, &text, &len, &err), 0);
	ck_assert_str_eq(text, "{\"a\":1}");
	ck_assert_uint_eq(len, 7);
	free(text);
	/* Locking creates nothing: the lock is the directory itself. */
	{
		int ldfd = store_container_lock(&s, "default", "tc", 0, &err);

		ck_assert_msg(ldfd >= 0, "%s", tardis_error_msg(err));
		ck_assert_int_eq(faccessat(ldfd, ".lock", F_OK, AT_SYMLINK_NOFOLLOW), -1);
		expect_mode(s.root_fd, "containers/default/tc", S_IFDIR, 0700);
		close(ldfd);
	}
	ck_assert_int_eq(has_temp_files(dfd), 0);
	close(dfd);
	/* A loose mode is tightened on the next open. */
	ck_assert_int_eq(fchmodat(s.root_fd, "containers/default/tc", 0755, 0), 0);
	ck_assert_int_eq(fchmodat(s.root_fd, "containers", 0777, 0), 0);
	dfd = store_container_dir(&s, "default", "tc", 0, &err);
	ck_assert_int_ge(dfd, 0);
	close(dfd);
	expect_mode(s.root_fd, "containers", S_IFDIR, 0700);
	expect_mode(s.root_fd, "containers/default/tc", S_IFDIR, 0700);
	store_close(&s);
	/* And on reopening the store. */
	ck_assert_int_eq(chmod(root, 0711), 0);
	ck_assert_int_eq(store_open(&s, root, &err), 0);
	expect_mode(AT_FDCWD, root, S_IFDIR, 0700);
	store_close(&s);
	/* A relative state directory is refused. */
	expect_err(store_open(&s, "relative/state", &err), &err, EINVAL);
	umask(old);
	unit_rmrf(dir);
	free(root);
	free(dir);
}
END_TEST

START_TEST(foreign_owner_refused)
{
	tardis_error_t err = NULL;
	struct fx f;
	int dfd;

	if (geteuid() != 0)
		return; /* needs chown */
	dfd = fx_open_tc(&f);
	close(dfd);
	ck_assert_int_eq(fchownat(f.s.root_fd, "containers/default/tc", 4242, 4242, AT_SYMLINK_NOFOLLOW), 0);
	expect_err(store_container_dir(&f.s, "default", "tc", 0, &err), &err, EPERM);
	expect_err(store_container_dir(&f.s, "default", "tc", 1, &err), &err, EPERM);
	ck_assert_int_eq(fchownat(f.s.root_fd, "containers/default", 4242, 4242, AT_SYMLINK_NOFOLLOW), 0);
	expect_err(store_container_dir(&f.s, "default", "other", 1, &err), &err, EPERM);
	ck_assert_int_eq(count_entries(f.s.root_fd, "containers/default"), 1);
	fx_close(&f);
}
END_TEST

/* ---- symlinks ------------------------------------------------------------- */

static void expect_loop(int ret, tardis_error_t *err)
{
	ck_assert_int_lt(ret, 0);
	ck_assert_ptr_nonnull(*err);
	ck_assert_msg((*err)->errnum == ELOOP || (*err)->errnum == ENOTDIR, "errnum %d: %s",
		      (*err)->errnum, tardis_error_msg(*err));
	tardis_error_free(err);
}

START_TEST(symlink_dirs_not_followed)
{
	tardis_error_t err = NULL;
	char *outside = NULL;
	struct stat before, after;
	struct fx f;
	int dfd;

	fx_open(&f);
	ck_assert(asprintf(&outside, "%s/outside", f.dir) > 0);
	ck_assert_int_eq(mkdir(outside, 0755), 0);
	ck_assert_int_eq(chmod(outside, 0755), 0);
	{
		int ofd = open(outside, O_RDONLY | O_DIRECTORY);

		write_file(ofd, "precious", "keep me");
		close(ofd);
	}
	ck_assert_int_eq(stat(outside, &before), 0);

	/* containers/<ns>/<id> is a symlink. */
	dfd = store_container_dir(&f.s, "default", "real", 1, &err);
	ck_assert_int_ge(dfd, 0);
	close(dfd);
	ck_assert_int_eq(symlinkat(outside, f.s.root_fd, "containers/default/evil"), 0);
	for (int create = 0; create <= 1; create++) {
		expect_loop(store_container_dir(&f.s, "default", "evil", create, &err), &err);
		expect_loop(store_container_lock(&f.s, "default", "evil", create, &err), &err);
	}
	ck_assert_int_lt(store_container_remove(&f.s, "default", "evil", &err), 0);
	tardis_error_free(&err);

	/* containers/<ns> is a symlink. */
	ck_assert_int_eq(symlinkat(outside, f.s.root_fd, "containers/evilns"), 0);
	for (int create = 0; create <= 1; create++) {
		expect_loop(store_container_dir(&f.s, "evilns", "x", create, &err), &err);
		expect_loop(store_container_lock(&f.s, "evilns", "x", create, &err), &err);
	}
	ck_assert_int_lt(store_container_remove(&f.s, "evilns", "x", &err), 0);
	tardis_error_free(&err);
	expect_loop(store_subdir(f.s.root_fd, "containers/evilns", 1, &err), &err);

	/* containers itself is a symlink (in a second store). */
	{
		struct tardis_store s2;
		char *root2 = NULL;

		ck_assert(asprintf(&root2, "%s/state2", f.dir) > 0);
		ck_assert_int_eq(store_open(&s2, root2, &err), 0);
		ck_assert_int_eq(symlinkat(outside, s2.root_fd, "containers"), 0);
		expect_loop(store_container_dir(&s2, "default", "x", 1, &err), &err);
		expect_loop(store_container_lock(&s2, "default", "x", 1, &err), &err);
		store_close(&s2);
		/* The store root itself is a symlink. */
		unit_rmrf(root2);
		ck_assert_int_eq(symlink(outside, root2), 0);
		expect_loop(store_open(&s2, root2, &err), &err);
		free(root2);
	}

	/* The target is untouched: same entries, same mode, same content. */
	ck_assert_int_eq(count_entries(AT_FDCWD, outside), 1);
	ck_assert_int_eq(stat(outside, &after), 0);
	ck_assert_uint_eq(after.st_mode, before.st_mode);
	ck_assert_int_eq(after.st_mtim.tv_sec, before.st_mtim.tv_sec);
	ck_assert_int_eq(after.st_mtim.tv_nsec, before.st_mtim.tv_nsec);
	{
		char *p = NULL;

		ck_assert(asprintf(&p, "%s/precious", outside) > 0);
		ck_assert_str_eq(slurp(p), "keep me");
		free(p);
	}
	/* And the links are still links. */
	{
		struct stat st;

		ck_assert_int_eq(fstatat(f.s.root_fd, "containers/default/evil", &st, AT_SYMLINK_NOFOLLOW), 0);
		ck_assert(S_ISLNK(st.st_mode));
	}
	free(outside);
	fx_close(&f);
}
END_TEST

START_TEST(symlink_files_not_followed)
{
	tardis_error_t err = NULL;
	char *victim = NULL, *text = NULL;
	struct stat pw_before, pw_after, st;
	struct fx f;
	int dfd;

	dfd = fx_open_tc(&f);

	/* state.json -> /etc/passwd: reading refuses, /etc/passwd is not touched. */
	ck_assert_int_eq(stat("/etc/passwd", &pw_before), 0);
	ck_assert_int_eq(symlinkat("/etc/passwd", dfd, STATE_FILE), 0);
	expect_loop(store_read(dfd, STATE_FILE, 1 << 20, &text, NULL, &err), &err);
	ck_assert_ptr_null(text);
	/* Removing the link removes the link only. */
	ck_assert_int_eq(store_unlink(dfd, STATE_FILE, &err), 0);
	ck_assert_int_eq(stat("/etc/passwd", &pw_after), 0);
	ck_assert_uint_eq(pw_after.st_ino, pw_before.st_ino);
	ck_assert_int_eq(pw_after.st_size, pw_before.st_size);
	ck_assert_int_eq(pw_after.st_mtim.tv_sec, pw_before.st_mtim.tv_sec);
	ck_assert_int_eq(pw_after.st_mtim.tv_nsec, pw_before.st_mtim.tv_nsec);

	/* Writing over a planted link replaces the link, not its target (a
	 * private victim file stands in for /etc/passwd here). */
	ck_assert(asprintf(&victim, "%s/victim", f.dir) > 0);
	write_file(AT_FDCWD, victim, "root:x:0:0::/root:/bin/sh\n");
	ck_assert_int_eq(symlinkat(victim, dfd, STATE_FILE), 0);
	ck_assert_int_eq(symlinkat(victim, dfd, EXIT_RECORD_FILE), 0);
	ck_assert_int_eq(store_write_atomic(dfd, STATE_FILE, "{\"x\":1}", 7, 1, NULL, &err), 0);
	ck_assert_int_eq(store_write_atomic(dfd, EXIT_RECORD_FILE, "{}", 2, 0, NULL, &err), 0);
	ck_assert_str_eq(slurp(victim), "root:x:0:0::/root:/bin/sh\n");
	ck_assert_int_eq(fstatat(dfd, STATE_FILE, &st, AT_SYMLINK_NOFOLLOW), 0);
	ck_assert(S_ISREG(st.st_mode));
	ck_assert_int_eq(store_read(dfd, STATE_FILE, 100, &text, NULL, &err), 0);
	ck_assert_str_eq(text, "{\"x\":1}");
	free(text);
	ck_assert_int_eq(stat(victim, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0644);

	/* A link to a directory, and a dangling link, are refused on read. */
	ck_assert_int_eq(symlinkat("/etc", dfd, "dirlink"), 0);
	expect_loop(store_read(dfd, "dirlink", 100, &text, NULL, &err), &err);
	ck_assert_int_eq(symlinkat("/nonexistent/x", dfd, "dangling"), 0);
	expect_loop(store_read(dfd, "dangling", 100, &text, NULL, &err), &err);
	/* store_remove deletes links inside the container, never their targets. */
	close(dfd);
	ck_assert_int_eq(store_container_remove(&f.s, "default", "tc", &err), 0);
	ck_assert_str_eq(slurp(victim), "root:x:0:0::/root:/bin/sh\n");
	ck_assert_int_eq(access("/etc/passwd", R_OK), 0);
	ck_assert_int_eq(faccessat(f.s.root_fd, "containers/default/tc", F_OK, AT_SYMLINK_NOFOLLOW), -1);
	free(victim);
	fx_close(&f);
}
END_TEST

/* ---- reading -------------------------------------------------------------- */

START_TEST(read_refuses_non_regular)
{
	tardis_error_t err = NULL;
	char *text = NULL;
	size_t len = 99;
	struct fx f;
	int dfd;

	dfd = fx_open_tc(&f);
	/* A fifo with no writer: refused at once, never blocks. */
	ck_assert_int_eq(mkfifoat(dfd, "fifo", 0600), 0);
	expect_err(store_read(dfd, "fifo", 1 << 20, &text, &len, &err), &err, EINVAL);
	ck_assert_ptr_null(text);
	/* A directory. */
	ck_assert_int_eq(mkdirat(dfd, "sub", 0700), 0);
	expect_err(store_read(dfd, "sub", 1 << 20, &text, &len, &err), &err, EINVAL);
	expect_err(store_read(dfd, ".", 1 << 20, &text, &len, &err), &err, EINVAL);
	/* Missing: ENOENT, which callers test for. */
	expect_err(store_read(dfd, "missing", 1 << 20, &text, &len, &err), &err, ENOENT);
	/* Too large. */
	ck_assert_int_eq(store_write_atomic(dfd, "big", "0123456789", 10, 0, NULL, &err), 0);
	expect_err(store_read(dfd, "big", 9, &text, &len, &err), &err, EFBIG);
	ck_assert_int_eq(store_read(dfd, "big", 10, &text, &len, &err), 0);
	ck_assert_uint_eq(len, 10);
	ck_assert_str_eq(text, "0123456789");
	free(text);
	/* Empty. */
	ck_assert_int_eq(store_write_atomic(dfd, "empty", "", 0, 0, NULL, &err), 0);
	ck_assert_int_eq(store_read(dfd, "empty", 10, &text, &len, &err), 0);
	ck_assert_uint_eq(len, 0);
	ck_assert_str_eq(text, "");
	free(text);
	/* Writing over a directory fails cleanly, leaving no temp file. */
	ck_assert_int_lt(store_write_atomic(dfd, "sub", "x", 1, 0, NULL, &err), 0);
	ck_assert_ptr_nonnull(err);
	tardis_error_free(&err);
	ck_assert_int_eq(has_temp_files(dfd), 0);
	close(dfd);
	fx_close(&f);
}
END_TEST

/* ---- racing writers ------------------------------------------------------- */

#define RACE_WRITES 2000

static uint32_t fnv1a(const char *p, size_t n)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)p[i];
		h *= 16777619u;
	}
	return h;
}

/* "<c> <i> <n> <hash>\n" then n bytes: c repeated, with the iteration
 * stamped every 100 bytes so two writes of one writer differ too. */
static char *race_content(char c, int i, size_t base, size_t *len)
{
	size_t n = base + (size_t)(i % 251);
	char *body = malloc(n), *out = NULL;
	int h;

	if (!body)
		return NULL;
	memset(body, c, n);
	for (size_t at = 0; at + 8 < n; at += 100)
		memcpy(body + at, (char[8]){ (char)('0' + i % 10), (char)('0' + i / 10 % 10),
					     (char)('0' + i / 100 % 10), (char)('0' + i / 1000 % 10),
					     c, c, c, c },
		       8);
	h = asprintf(&out, "%c %d %zu %08x\n%.*s", c, i, n, fnv1a(body, n), (int)n, body);
	free(body);
	if (h < 0)
		return NULL;
	*len = (size_t)h;
	return out;
}

/* 0 if text is exactly one writer's whole content; which writer in *who. */
static int race_check(const char *text, size_t len, char *who)
{
	char c;
	int i;
	size_t n;
	unsigned h;
	size_t elen;
	char *expect;
	int ok;

	if (sscanf(text, "%c %d %zu %x", &c, &i, &n, &h) != 4 || (c != 'A' && c != 'B'))
		return -1;
	expect = race_content(c, i, c == 'A' ? 1000 : 3000, &elen);
	if (!expect)
		return -1;
	ok = elen == len && memcmp(expect, text, len) == 0;
	free(expect);
	*who = c;
	return ok ? 0 : -1;
}

struct race_writer {
	int dirfd;
	char c;
	size_t base;
	int go_fd; /* read end: writing starts when it becomes readable */
	int failed;
};

static void *race_write(void *arg)
{
	struct race_writer *w = arg;
	char b;

	if (read(w->go_fd, &b, 1) < 0)
		w->failed = -1;
	for (int i = 0; i < RACE_WRITES && !w->failed; i++) {
		tardis_error_t err = NULL;
		size_t len;
		char *text = race_content(w->c, i, w->base, &len);

		/* Some writes durable, most not: both paths rename the same way. */
		if (!text ||
		    store_write_atomic(w->dirfd, STATE_FILE, text, len, i % 200 == 0, NULL, &err) < 0) {
			fprintf(stderr, "writer %c: %s\n", w->c, tardis_error_msg(err));
			w->failed = 1;
		}
		tardis_error_free(&err);
		free(text);
	}
	return NULL;
}

/* Reads until done() says the writers finished; returns reads verified. */
static long race_read(int dirfd, int (*done)(void *), void *arg, long *seen_a, long *seen_b)
{
	long reads = 0;
	int last = 0;

	for (;;) {
		tardis_error_t err = NULL;
		char *text = NULL, who = 0;
		size_t len = 0;

		last = last || done(arg);
		if (store_read(dirfd, STATE_FILE, 1 << 20, &text, &len, &err) < 0) {
			/* Only "not written yet" is acceptable. */
			ck_assert_msg(err && err->errnum == ENOENT && reads == 0, "read: %s",
				      tardis_error_msg(err));
			tardis_error_free(&err);
		} else {
			ck_assert_msg(race_check(text, len, &who) == 0,
				      "torn or mixed file after %ld reads: %zu bytes, starts `%.40s`",
				      reads, len, text);
			if (who == 'A')
				(*seen_a)++;
			else
				(*seen_b)++;
			reads++;
			free(text);
		}
		if (last)
			return reads;
	}
}

struct proc_pair {
	pid_t pid[2];
	int status[2];
};

static int procs_done(void *arg)
{
	struct proc_pair *p = arg;
	int all = 1;

	for (int k = 0; k < 2; k++) {
		if (p->pid[k] > 0) {
			int ws;
			pid_t r = waitpid(p->pid[k], &ws, WNOHANG);

			ck_assert_int_ge(r, 0);
			if (r == p->pid[k]) {
				p->status[k] = ws;
				p->pid[k] = 0;
			}
		}
		all = all && p->pid[k] == 0;
	}
	return all;
}

START_TEST(racing_writer_processes)
{
	struct proc_pair pp = { { 0, 0 }, { -1, -1 } };
	long seen_a = 0, seen_b = 0, reads;
	struct fx f;
	int dfd, go[2];

	dfd = fx_open_tc(&f);
	ck_assert_int_eq(pipe(go), 0);
	for (int k = 0; k < 2; k++) {
		pp.pid[k] = fork();
		ck_assert_int_ge(pp.pid[k], 0);
		if (pp.pid[k] == 0) {
			struct race_writer w = { dfd, k ? 'B' : 'A', k ? 3000 : 1000, go[0], 0 };

			close(go[1]);
			race_write(&w);
			_exit(w.failed ? 1 : 0);
		}
	}
	close(go[0]);
	close(go[1]); /* EOF: both writers start together */
	reads = race_read(dfd, procs_done, &pp, &seen_a, &seen_b);
	for (int k = 0; k < 2; k++)
		ck_assert_msg(WIFEXITED(pp.status[k]) && WEXITSTATUS(pp.status[k]) == 0,
			      "writer %d: status %#x", k, pp.status[k]);
	ck_assert_int_gt(reads, 0);
	ck_assert_int_eq(has_temp_files(dfd), 0);
	ck_assert_int_eq(count_entries(dfd, "."), 1);
	fprintf(stderr, "racing_writer_processes: %ld reads (%ld A, %ld B)\n", reads, seen_a, seen_b);
	close(dfd);
	fx_close(&f);
}
END_TEST

struct thread_pair {
	struct race_writer w[2];
	int finished;
};

static int threads_done(void *arg)
{
	return __atomic_load_n(&((struct thread_pair *)arg)->finished, __ATOMIC_ACQUIRE);
}

struct joiner {
	pthread_t t[2];
	struct thread_pair *tp;
};

static void *join_both(void *arg)
{
	struct joiner *j = arg;

	pthread_join(j->t[0], NULL);
	pthread_join(j->t[1], NULL);
	__atomic_store_n(&j->tp->finished, 1, __ATOMIC_RELEASE);
	return NULL;
}

/* The same within one process: the temp names must not collide. */
START_TEST(racing_writer_threads)
{
	struct thread_pair tp;
	struct joiner j;
	pthread_t jt;
	long seen_a = 0, seen_b = 0, reads;
	struct fx f;
	int dfd, go[2];

	dfd = fx_open_tc(&f);
	ck_assert_int_eq(pipe(go), 0);
	memset(&tp, 0, sizeof(tp));
	tp.w[0] = (struct race_writer){ dfd, 'A', 1000, go[0], 0 };
	tp.w[1] = (struct race_writer){ dfd, 'B', 3000, go[0], 0 };
	j.tp = &tp;
	for (int k = 0; k < 2; k++)
		ck_assert_int_eq(pthread_create(&j.t[k], NULL, race_write, &tp.w[k]), 0);
	ck_assert_int_eq(pthread_create(&jt, NULL, join_both, &j), 0);
	close(go[1]);
	reads = race_read(dfd, threads_done, &tp, &seen_a, &seen_b);
	pthread_join(jt, NULL);
	close(go[0]);
	ck_assert_int_eq(tp.w[0].failed, 0);
	ck_assert_int_eq(tp.w[1].failed, 0);
	ck_assert_int_gt(reads, 0);
	ck_assert_int_eq(has_temp_files(dfd), 0);
	fprintf(stderr, "racing_writer_threads: %ld reads (%ld A, %ld B)\n", reads, seen_a, seen_b);
	close(dfd);
	fx_close(&f);
}
END_TEST

/* ---- locking -------------------------------------------------------------- */

START_TEST(lock_excludes)
{
	tardis_error_t err = NULL;
	struct fx f;
	int lock, dfd, ready[2], got[2], hold[2];
	char b;
	pid_t pid;

	fx_open(&f);
	lock = store_container_lock(&f.s, "default", "tc", 1, &err);
	ck_assert_msg(lock >= 0, "%s", tardis_error_msg(err));
	/* The directory again, not locked: to look at it once released. */
	dfd = openat(lock, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_ge(dfd, 0);
	ck_assert_int_eq(pipe(ready), 0);
	ck_assert_int_eq(pipe(got), 0);
	ck_assert_int_eq(pipe(hold), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		tardis_error_t e = NULL;
		int fd, d2;

		/* flock belongs to the open file: drop the inherited one. */
		close(lock);
		close(dfd);
		close(ready[0]);
		close(got[0]);
		close(hold[1]);
		fd = openat(f.s.root_fd, "containers/default/tc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0)
			_exit(10);
		if (flock(fd, LOCK_EX | LOCK_NB) == 0 || errno != EWOULDBLOCK)
			_exit(11);
		close(fd);
		if (write(ready[1], "R", 1) != 1)
			_exit(12);
		d2 = store_container_lock(&f.s, "default", "tc", 1, &e);
		if (d2 < 0) {
			fprintf(stderr, "child: %s\n", tardis_error_msg(e));
			_exit(13);
		}
		if (write(got[1], "L", 1) != 1)
			_exit(14);
		if (read(hold[0], &b, 1) != 0) /* hold the lock until the parent is done */
			_exit(15);
		_exit(0);
	}
	child_blocked_in_flock(pid, ready, got, hold);
	/* A second locker in this process is excluded as well. */
	{
		int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		ck_assert_int_ge(fd, 0);
		ck_assert_int_eq(flock(fd, LOCK_EX | LOCK_NB), -1);
		ck_assert_int_eq(errno, EWOULDBLOCK);
		close(fd);
	}
	ck_assert(!readable_now(got[0]));
	/* Release: the child gets it. */
	close(lock);
	ck_assert_int_eq(read(got[0], &b, 1), 1);
	ck_assert_int_eq(b, 'L');
	/* Now we are the one excluded. */
	{
		int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		ck_assert_int_ge(fd, 0);
		ck_assert_int_eq(flock(fd, LOCK_EX | LOCK_NB), -1);
		ck_assert_int_eq(errno, EWOULDBLOCK);
		close(hold[1]);
		ck_assert_int_eq(child_status(pid), 0);
		/* The child's exit released it. */
		ck_assert_int_eq(flock(fd, LOCK_EX | LOCK_NB), 0);
		close(fd);
	}
	close(ready[0]);
	close(got[0]);
	close(dfd);
	fx_close(&f);
}
END_TEST

/* A locker waits while we remove the container: it must end up holding a
 * fresh, live directory (create) or get ENOENT (no create). */
static void remove_under_waiter(int create)
{
	tardis_error_t err = NULL;
	struct fx f;
	struct stat now;
	int dfd, ready[2], res[2], hold[2];
	struct {
		int rc, errnum, marker_gone, live;
		dev_t dev;
		ino_t ino;
	} r;
	char b;
	pid_t pid;

	fx_open(&f);
	dfd = store_container_lock(&f.s, "default", "tc", 1, &err);
	ck_assert_int_ge(dfd, 0);
	write_file(dfd, "marker", "old");
	ck_assert_int_eq(pipe(ready), 0);
	ck_assert_int_eq(pipe(res), 0);
	ck_assert_int_eq(pipe(hold), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		tardis_error_t e = NULL;
		struct stat st;
		int d2;

		close(dfd);
		close(ready[0]);
		close(res[0]);
		close(hold[1]);
		memset(&r, 0, sizeof(r));
		if (write(ready[1], "R", 1) != 1)
			_exit(12);
		d2 = store_container_lock(&f.s, "default", "tc", create, &e);
		r.rc = d2 < 0 ? -1 : 0;
		r.errnum = e ? e->errnum : 0;
		if (d2 >= 0) {
			r.marker_gone = faccessat(d2, "marker", F_OK, 0) < 0 && errno == ENOENT;
			r.live = fstat(d2, &st) == 0 && st.st_nlink > 0;
			r.dev = st.st_dev;
			r.ino = st.st_ino;
		}
		if (write(res[1], &r, sizeof(r)) != (ssize_t)sizeof(r))
			_exit(14);
		if (read(hold[0], &b, 1) != 0)
			_exit(15);
		_exit(0);
	}
	child_blocked_in_flock(pid, ready, res, hold);
	ck_assert_msg(store_container_remove(&f.s, "default", "tc", &err) == 0, "%s",
		      tardis_error_msg(err));
	ck_assert_int_eq(faccessat(f.s.root_fd, "containers/default/tc", F_OK, AT_SYMLINK_NOFOLLOW), -1);
	ck_assert_int_eq(errno, ENOENT);
	/* Removing again is fine. */
	ck_assert_int_eq(store_container_remove(&f.s, "default", "tc", &err), 0);
	ck_assert(!readable_now(res[0]));
	close(dfd);
	ck_assert_int_eq(read(res[0], &r, sizeof(r)), (ssize_t)sizeof(r));
	if (create) {
		ck_assert_msg(r.rc == 0, "waiter failed, errnum %d", r.errnum);
		ck_assert(r.marker_gone);
		ck_assert(r.live);
		/* It holds the directory that is there now. */
		ck_assert_int_eq(fstatat(f.s.root_fd, "containers/default/tc", &now, AT_SYMLINK_NOFOLLOW), 0);
		ck_assert(S_ISDIR(now.st_mode));
		ck_assert_uint_eq(now.st_dev, r.dev);
		ck_assert_uint_eq(now.st_ino, r.ino);
		ck_assert_int_eq(count_entries(f.s.root_fd, "containers/default/tc"), 0);
		{
			int fd = openat(f.s.root_fd, "containers/default/tc",
					O_RDONLY | O_DIRECTORY | O_CLOEXEC);

			ck_assert_int_ge(fd, 0);
			ck_assert_int_eq(flock(fd, LOCK_EX | LOCK_NB), -1);
			close(fd);
		}
	} else {
		ck_assert_int_eq(r.rc, -1);
		ck_assert_int_eq(r.errnum, ENOENT);
		ck_assert_int_eq(faccessat(f.s.root_fd, "containers/default/tc", F_OK, AT_SYMLINK_NOFOLLOW), -1);
	}
	close(hold[1]);
	ck_assert_int_eq(child_status(pid), 0);
	close(ready[0]);
	close(res[0]);
	fx_close(&f);
}

START_TEST(remove_then_waiter_gets_fresh_dir)
{
	remove_under_waiter(1);
}
END_TEST

START_TEST(remove_then_waiter_without_create)
{
	remove_under_waiter(0);
}
END_TEST

START_TEST(remove_semantics)
{
	tardis_error_t err = NULL;
	struct fx f;
	int dfd;

	fx_open(&f);
	/* Nothing there: fine. */
	ck_assert_int_eq(store_container_remove(&f.s, "default", "none", &err), 0);
	ck_assert_ptr_null(err);
	/* Lookups without create do not create. */
	expect_err(store_container_dir(&f.s, "default", "none", 0, &err), &err, ENOENT);
	ck_assert_int_eq(count_entries(AT_FDCWD, f.root), 0);
	/* Two containers in one namespace: removing one keeps the other. */
	for (int k = 0; k < 2; k++) {
		dfd = store_container_dir(&f.s, "default", k ? "b" : "a", 1, &err);
		ck_assert_int_ge(dfd, 0);
		ck_assert_int_eq(store_write_atomic(dfd, STATE_FILE, "{}", 2, 0, NULL, &err), 0);
		ck_assert_int_eq(store_write_atomic(dfd, EXIT_RECORD_FILE, "{}", 2, 0, NULL, &err), 0);
		close(dfd);
	}
	ck_assert_int_eq(store_container_remove(&f.s, "default", "a", &err), 0);
	ck_assert_int_eq(count_entries(f.s.root_fd, "containers/default"), 1);
	ck_assert_int_eq(count_entries(f.s.root_fd, "containers/default/b"), 2);
	/* The last one takes the namespace directory with it. */
	ck_assert_int_eq(store_container_remove(&f.s, "default", "b", &err), 0);
	ck_assert_int_eq(count_entries(f.s.root_fd, "containers"), 0);
	fx_close(&f);
}
END_TEST

/* Containers of one namespace created and removed concurrently: removing
 * the last container takes the namespace directory away, which must not
 * make a concurrent creation in that namespace fail. */
START_TEST(create_remove_same_namespace)
{
	struct fx f;
	pid_t pid[2];

	fx_open(&f);
	for (int k = 0; k < 2; k++) {
		pid[k] = fork();
		ck_assert_int_ge(pid[k], 0);
		if (pid[k] == 0) {
			const char *id = k ? "b" : "a";

			for (int i = 0; i < 1000; i++) {
				tardis_error_t e = NULL;
				int d = store_container_lock(&f.s, "default", id, 1, &e);

				if (d < 0 || store_write_atomic(d, STATE_FILE, "{}", 2, 0, NULL, &e) < 0 ||
				    store_container_remove(&f.s, "default", id, &e) < 0) {
					fprintf(stderr, "%s, iteration %d: %s\n", id, i,
						tardis_error_msg(e));
					_exit(1);
				}
				close(d);
			}
			_exit(0);
		}
	}
	ck_assert_int_eq(child_status(pid[0]), 0);
	ck_assert_int_eq(child_status(pid[1]), 0);
	fx_close(&f);
}
END_TEST

/* ---- registry ------------------------------------------------------------- */

/* Only registry_register and registry_foreach: the lookup key (pid, or pid
 * and start time) is the registry's own business. */
struct seen {
	int n;
	struct registration r[4];
};

static int collect_cb(const struct registration *r, void *arg)
{
	struct seen *s = arg;

	ck_assert(store_id_valid(r->ns) && store_id_valid(r->id));
	if (s->n < 4)
		s->r[s->n] = *r;
	s->n++;
	return 0;
}

static const struct registration *seen_pid(const struct seen *s, pid_t pid)
{
	for (int i = 0; i < s->n && i < 4; i++)
		if (s->r[i].pid == pid)
			return &s->r[i];
	return NULL;
}

static int private_file(DIR *d, const char *name)
{
	if (name[0] == '.')
		return 0;
	expect_mode(dirfd(d), name, S_IFREG, 0600);
	return 1;
}

/* Every entry of the pid index is a 0600 regular file. */
static int index_entries_private(int root_fd)
{
	int n = count_where(root_fd, "pids", 0, private_file);

	ck_assert_int_ge(n, 0);
	return n;
}

/* Pids above any real one on this host: pid_max is at most 4194304. */
#define P1 4194001
#define STR2(x) #x
#define STR(x) STR2(x)

START_TEST(registry_basics)
{
	tardis_error_t err = NULL;
	const struct registration *r;
	struct seen seen;
	char *text = NULL;
	struct fx f;
	int dfd;

	fx_open(&f);
	/* Nothing registered. */
	memset(&seen, 0, sizeof(seen));
	ck_assert_int_eq(registry_foreach(&f.s, collect_cb, &seen, &err), 0);
	ck_assert_int_eq(seen.n, 0);
	/* An old exit record goes away when a new init registers; other
	 * state.json fields stay. */
	dfd = store_container_dir(&f.s, "default", "tc", 1, &err);
	ck_assert_int_ge(dfd, 0);
	ck_assert_int_eq(store_write_atomic(dfd, EXIT_RECORD_FILE, "{}", 2, 0, NULL, &err), 0);
	{
		const char *st = "{\"bundle\":\"/b\",\"init_pid\":1}";

		ck_assert_int_eq(store_write_atomic(dfd, STATE_FILE, st, strlen(st), 0, NULL, &err), 0);
	}
	ck_assert_msg(registry_register(&f.s, NULL, "default", "tc", P1, 777, &err) == 0, "%s",
		      tardis_error_msg(err));
	ck_assert_int_eq(faccessat(dfd, EXIT_RECORD_FILE, F_OK, 0), -1);
	ck_assert_int_eq(store_read(dfd, STATE_FILE, 4096, &text, NULL, &err), 0);
	UNIT_ASSERT_CONTAINS(text,
			     "\"bundle\":\"/b\"",
			     "\"init_pid\":" STR(P1),
			     "\"init_start_time\":777");
	ck_assert_ptr_null(strstr(text, "\"init_pid\":1,"));
	free(text);
	expect_mode(f.s.root_fd, "pids", S_IFDIR, 0700);
	ck_assert_int_eq(index_entries_private(f.s.root_fd), 1);
	/* Our own pid, start time from /proc. */
	ck_assert_int_eq(registry_register(&f.s, NULL, "k8s.io", "x", getpid(), 0, &err), 0);
	ck_assert_int_eq(index_entries_private(f.s.root_fd), 2);
	ck_assert_int_eq(registry_foreach(&f.s, collect_cb, &seen, &err), 0);
	ck_assert_int_eq(seen.n, 2);
	r = seen_pid(&seen, P1);
	ck_assert_ptr_nonnull(r);
	ck_assert_str_eq(r->ns, "default");
	ck_assert_str_eq(r->id, "tc");
	ck_assert_uint_eq(r->start_time, 777);
	r = seen_pid(&seen, getpid());
	ck_assert_ptr_nonnull(r);
	ck_assert_str_eq(r->ns, "k8s.io");
	ck_assert_str_eq(r->id, "x");
	ck_assert_uint_gt(r->start_time, 0);
	/* Refused input creates nothing. */
	expect_err(registry_register(&f.s, NULL, "default", "../x", P1 + 1, 1, &err), &err, EINVAL);
	expect_err(registry_register(&f.s, NULL, "../x", "tc", P1 + 1, 1, &err), &err, EINVAL);
	expect_err(registry_register(&f.s, NULL, "default", "tc", 0, 1, &err), &err, EINVAL);
	expect_err(registry_register(&f.s, NULL, "default", "tc", -1, 1, &err), &err, EINVAL);
	ck_assert_int_eq(index_entries_private(f.s.root_fd), 2);
	ck_assert_int_eq(count_entries(f.s.root_fd, "containers"), 2);
	/* Malformed index entries are skipped, not attributed. */
	{
		int pfd = openat(f.s.root_fd, "pids", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		ck_assert_int_ge(pfd, 0);
		write_file(pfd, "4194003",
			   "{\"namespace\":\"default\",\"id\":\"../x\",\"pid\":4194003,\"start_time\":1}");
		write_file(pfd, "4194004", "garbage");
		write_file(pfd, "4194005", "{\"namespace\":\"default\",\"id\":\"tc\",\"pid\":-3,\"start_time\":1}");
		close(pfd);
	}
	memset(&seen, 0, sizeof(seen));
	ck_assert_int_eq(registry_foreach(&f.s, collect_cb, &seen, &err), 0);
	ck_assert_int_eq(seen.n, 2);
	close(dfd);
	fx_close(&f);
}
END_TEST

static ino_t ino_of(int dirfd, const char *name)
{
	struct stat st;

	return fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 ? st.st_ino : 0;
}

/* The exit record goes through the spare registry_register made: the same
 * inode (none allocated), a half-written spare truncated first; without a
 * fit spare (none, a symlink, a FIFO), a temp file, the odd one untouched. */
START_TEST(record_through_spare)
{
	tardis_error_t err = NULL;
	char *text = NULL;
	struct fx f;
	ino_t spare;
	int dfd, fd = -1;

	fx_open(&f);
	ck_assert_msg(registry_register(&f.s, NULL, "default", "tc", P1, 777, &err) == 0, "%s",
		      tardis_error_msg(err));
	dfd = store_container_dir(&f.s, "default", "tc", 0, &err);
	ck_assert_int_ge(dfd, 0);
	spare = ino_of(dfd, EXIT_SPARE_FILE);
	ck_assert_uint_ne(spare, 0);
	expect_mode(dfd, EXIT_SPARE_FILE, S_IFREG, 0600);
	write_file(dfd, EXIT_SPARE_FILE, "{\"half\":\"a crashed agent's longer write\"}");
	ck_assert_int_eq(store_write_visible_spare(dfd, EXIT_RECORD_FILE, EXIT_SPARE_FILE, "{}", 2, 0,
						   &fd, &err), 0);
	ck_assert_int_ge(fd, 0);
	close(fd);
	ck_assert_uint_eq(ino_of(dfd, EXIT_RECORD_FILE), spare);
	ck_assert_uint_eq(ino_of(dfd, EXIT_SPARE_FILE), 0);
	ck_assert_int_eq(store_read(dfd, EXIT_RECORD_FILE, 4096, &text, NULL, &err), 0);
	ck_assert_str_eq(text, "{}");
	free(text);
	/* No spare: a temp file, renamed. */
	ck_assert_int_eq(store_write_visible_spare(dfd, EXIT_RECORD_FILE, EXIT_SPARE_FILE, "[1]", 3, 0,
						   &fd, &err), 0);
	close(fd);
	ck_assert_uint_ne(ino_of(dfd, EXIT_RECORD_FILE), spare);
	ck_assert_int_eq(store_read(dfd, EXIT_RECORD_FILE, 4096, &text, NULL, &err), 0);
	ck_assert_str_eq(text, "[1]");
	free(text);
	/* A symlink or a FIFO in its place: not written through, not removed. */
	ck_assert_int_eq(symlinkat("/etc/passwd", dfd, EXIT_SPARE_FILE), 0);
	ck_assert_int_eq(store_write_visible_spare(dfd, EXIT_RECORD_FILE, EXIT_SPARE_FILE, "[2]", 3, 0,
						   &fd, &err), 0);
	close(fd);
	expect_mode(dfd, EXIT_SPARE_FILE, S_IFLNK, 0777);
	ck_assert_int_eq(unlinkat(dfd, EXIT_SPARE_FILE, 0), 0);
	ck_assert_int_eq(mkfifoat(dfd, EXIT_SPARE_FILE, 0600), 0);
	ck_assert_int_eq(store_write_visible_spare(dfd, EXIT_RECORD_FILE, EXIT_SPARE_FILE, "[3]", 3, 0,
						   &fd, &err), 0);
	close(fd);
	expect_mode(dfd, EXIT_SPARE_FILE, S_IFIFO, 0600);
	ck_assert_int_eq(store_read(dfd, EXIT_RECORD_FILE, 4096, &text, NULL, &err), 0);
	ck_assert_str_eq(text, "[3]");
	free(text);
	/* A new registration makes a spare again and drops the record. */
	ck_assert_int_eq(unlinkat(dfd, EXIT_SPARE_FILE, 0), 0);
	ck_assert_int_eq(registry_register(&f.s, NULL, "default", "tc", P1, 778, &err), 0);
	spare = ino_of(dfd, EXIT_SPARE_FILE);
	ck_assert_uint_ne(spare, 0);
	ck_assert_uint_eq(ino_of(dfd, EXIT_RECORD_FILE), 0);
	/* STORE_NOREPLACE: written when there is no record ... */
	ck_assert_int_eq(store_write_visible_spare(dfd, EXIT_RECORD_FILE, EXIT_SPARE_FILE, "[4]", 3,
						   STORE_NOREPLACE, NULL, &err), 0);
	ck_assert_uint_eq(ino_of(dfd, EXIT_RECORD_FILE), spare);
	/* ... EEXIST when there is one, the record and a spare left as
	 * they were, through a spare and through a temp file. */
	ck_assert_int_eq(store_make_spare(dfd, EXIT_SPARE_FILE, &err), 0);
	spare = ino_of(dfd, EXIT_SPARE_FILE);
	for (int with_spare = 1; with_spare >= 0; with_spare--) {
		if (!with_spare)
			ck_assert_int_eq(unlinkat(dfd, EXIT_SPARE_FILE, 0), 0);
		ck_assert_int_eq(store_write_visible_spare(dfd, EXIT_RECORD_FILE, EXIT_SPARE_FILE,
							   "[5]", 3, STORE_NOREPLACE, NULL, &err),
				 -1);
		ck_assert_int_eq(tardis_error_errno(err), EEXIST);
		tardis_error_free(&err);
		ck_assert_int_eq(store_read(dfd, EXIT_RECORD_FILE, 4096, &text, NULL, &err), 0);
		ck_assert_str_eq(text, "[4]");
		free(text);
		ck_assert_uint_eq(ino_of(dfd, EXIT_SPARE_FILE), with_spare ? spare : 0);
		ck_assert_int_eq(has_temp_files(dfd), 0);
	}
	close(dfd);
	fx_close(&f);
}
END_TEST

/* The agent's kept directories: a namespace removed and made again, pids/
 * and containers/ removed and made again -- lookups find the new ones;
 * forgotten registrations are moved aside, then swept. */
START_TEST(kept_dirs_follow_removal)
{
	tardis_error_t err = NULL;
	struct registration r;
	struct tardis_store other;
	DIR *cursor = NULL;
	struct fx f;
	int dfd, n;
	char path[4200];

	fx_open(&f);
	ck_assert_int_eq(store_open(&other, f.root, &err), 0); /* a tardis-runc */
	ck_assert_msg(store_keep_dirs(&f.s, &err) == 0, "%s", tardis_error_msg(err));
	expect_mode(f.s.root_fd, "forgotten", S_IFDIR, 0700);
	ck_assert_int_eq(registry_register(&other, NULL, "ns1", "a", P1, 1, &err), 0);
	ck_assert_int_eq(registry_lookup(&f.s, P1, 1, &r, &err), 1);
	ck_assert_str_eq(r.id, "a");
	dfd = store_container_dir(&f.s, "ns1", "a", 0, &err);
	ck_assert_int_ge(dfd, 0);
	close(dfd);
	/* The namespace's last container removed, then one created again. */
	ck_assert_int_eq(store_container_remove(&other, "ns1", "a", &err), 0);
	dfd = store_container_dir(&f.s, "ns1", "a", 0, &err);
	ck_assert_int_lt(dfd, 0);
	ck_assert_int_eq(tardis_error_errno(err), ENOENT);
	tardis_error_free(&err);
	ck_assert_int_eq(registry_register(&other, NULL, "ns1", "b", P1 + 1, 1, &err), 0);
	dfd = store_container_dir(&f.s, "ns1", "b", 0, &err);
	ck_assert_msg(dfd >= 0, "%s", tardis_error_msg(err));
	close(dfd);
	/* Forget: moved to forgotten/, then swept. */
	registry_forget(&f.s, NULL, P1, 1);
	ck_assert_int_eq(registry_lookup(&f.s, P1, 1, &r, &err), 0);
	ck_assert_int_eq(count_entries(f.s.root_fd, "forgotten"), 1);
	ck_assert_int_eq(store_sweep(&f.s, &cursor, 4), 1);
	ck_assert_ptr_null(cursor);
	ck_assert_int_eq(count_entries(f.s.root_fd, "forgotten"), 0);
	/* Someone clears the state dir's pids/ and containers/. */
	snprintf(path, sizeof(path), "%s/pids", f.root);
	unit_rmrf(path);
	snprintf(path, sizeof(path), "%s/containers", f.root);
	unit_rmrf(path);
	ck_assert_int_eq(registry_register(&other, NULL, "ns2", "c", P1 + 2, 5, &err), 0);
	ck_assert_int_eq(registry_lookup(&f.s, P1 + 2, 5, &r, &err), 1);
	ck_assert_str_eq(r.ns, "ns2");
	dfd = store_container_dir(&f.s, "ns2", "c", 0, &err);
	ck_assert_msg(dfd >= 0, "%s", tardis_error_msg(err));
	close(dfd);
	/* Forgetting without a kept forgotten/ dir removes at once. */
	registry_forget(&other, NULL, P1 + 2, 5);
	ck_assert_int_eq(registry_lookup(&f.s, P1 + 2, 5, &r, &err), 0);
	n = count_entries(f.s.root_fd, "forgotten");
	ck_assert_int_eq(n, 0);
	store_close(&other);
	fx_close(&f);
}
END_TEST

/* A restored container's start is answered once: the create leaves the
 * file, the first take removes it, later takes find none; a stale one is
 * cleared by a take; bad ids and a missing container are "none", never
 * a path outside the store. */
START_TEST(skip_start_once)
{
	tardis_error_t err = NULL;
	struct stat st;
	struct fx f;
	int dfd = fx_open_tc(&f);

	ck_assert_int_eq(skip_start_take(&f.s, "default", "tc", &err), 0);
	ck_assert_msg(skip_start_set(&f.s, "default", "tc", &err) == 0, "%s", tardis_error_msg(err));
	ck_assert_int_eq(fstatat(dfd, SKIP_START_FILE, &st, AT_SYMLINK_NOFOLLOW), 0);
	ck_assert_int_eq(st.st_mode & 07777, 0600);
	ck_assert_msg(skip_start_set(&f.s, "default", "tc", &err) == 0, "%s", tardis_error_msg(err));
	ck_assert_int_eq(skip_start_take(&f.s, "default", "tc", &err), 1);
	ck_assert_int_eq(skip_start_take(&f.s, "default", "tc", &err), 0);
	ck_assert_int_eq(fstatat(dfd, SKIP_START_FILE, &st, AT_SYMLINK_NOFOLLOW), -1);
	ck_assert_int_eq(skip_start_take(&f.s, "default", "none", &err), 0);
	ck_assert_int_eq(skip_start_take(&f.s, "nons", "tc", &err), 0);
	ck_assert_int_eq(skip_start_take(&f.s, "default", "../../etc", &err), 0);
	ck_assert_int_eq(skip_start_take(&f.s, "..", "tc", &err), 0);
	ck_assert_int_eq(skip_start_set(&f.s, "default", "none", &err), -1);
	tardis_error_free(&err);
	ck_assert(err == NULL);
	close(dfd);
	fx_close(&f);
}
END_TEST

Suite *state_suite(void)
{
	const struct unit_tcase cases[] = {
		{ "names", 60, UNIT_TESTS(id_valid, container_dir_refuses_bad_ids, skip_start_once) },
		{ "files", 60,
		  UNIT_TESTS(modes, foreign_owner_refused, symlink_dirs_not_followed,
			     symlink_files_not_followed, read_refuses_non_regular) },
		/* a hang guard only: nothing is timed */
		{ "concurrency", 600,
		  UNIT_TESTS(racing_writer_processes, racing_writer_threads, lock_excludes,
			     remove_then_waiter_gets_fresh_dir, remove_then_waiter_without_create,
			     remove_semantics, create_remove_same_namespace) },
		{ "registry", 60,
	  UNIT_TESTS(registry_basics, record_through_spare, kept_dirs_follow_removal) },
		{ NULL, 0, NULL },
	};

	return unit_suite("state", cases);
}
