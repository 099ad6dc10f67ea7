#include "agent_lock.h"
#include "proc.h"
#include "cleanup.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

static const char *run_dir(void)
{
	const char *d = getenv("TARDIS_RUN_DIR");

	return d && d[0] == '/' ? d : AGENT_LOCK_RUN_DIR;
}

/* Letters, digits and '.' kept, every other byte %XX: one name per path. */
int agent_lock_holder_path(const char *bpf_dir, char *out, size_t len)
{
	char name[256];
	size_t n = 0;

	for (const unsigned char *p = (const unsigned char *)bpf_dir; *p; p++) {
		int keep = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			   (*p >= '0' && *p <= '9') || *p == '.';

		if (n + 4 >= sizeof(name) - 16)
			return -1;
		n += (size_t)snprintf(name + n, sizeof(name) - n, keep ? "%c" : "%%%02X", *p);
	}
	name[n] = '\0';
	return snprintf(out, len, "%s/agent-%s.holder", run_dir(), name) < (int)len ? 0 : -1;
}

/* The pid of the exclusive flock on (dev, ino) in /proc/locks: >0, 0 held
 * by a process of another pid namespace, -1 none. */
static pid_t flock_owner(dev_t dev, ino_t ino)
{
	cleanup_file FILE *f = fopen("/proc/locks", "re");
	char line[256], kind[16], mode[16];
	unsigned int maj, min;
	unsigned long long i;
	int pid;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		/* "1: FLOCK  ADVISORY  WRITE 42 00:1d:1234 0 EOF"; waiters have "->". */
		if (strstr(line, "->") ||
		    sscanf(line, "%*d: %15s %*s %15s %d %x:%x:%llu", kind, mode, &pid, &maj, &min,
			   &i) != 6)
			continue;
		if (strcmp(kind, "FLOCK") == 0 && strcmp(mode, "WRITE") == 0 &&
		    makedev(maj, min) == dev && i == (unsigned long long)ino)
			return pid;
	}
	return -1;
}

/* pid, start time (0: not written, by a tardis before 2026-11-27) and
 * state dir from the holder file, if it names pid (or pid is 0). */
static void holder_read(const char *bpf_dir, pid_t pid, struct agent_holder *h, uint64_t *start)
{
	char path[512], buf[4200], *sd, *st;
	cleanup_close int fd = -1;
	unsigned long long t;
	ssize_t n;
	long p;

	h->pid = pid;
	h->state_dir[0] = '\0';
	*start = 0;
	if (agent_lock_holder_path(bpf_dir, path, sizeof(path)) < 0 ||
	    (fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return;
	n = read(fd, buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = '\0';
	if (sscanf(buf, "pid %ld", &p) != 1 || (pid > 0 && p != pid))
		return;
	h->pid = (pid_t)p;
	st = strstr(buf, "\nstart ");
	if (st && sscanf(st, "\nstart %llu", &t) == 1)
		*start = t;
	sd = strstr(buf, "\nstate_dir ");
	if (sd) {
		sd += strlen("\nstate_dir ");
		sd[strcspn(sd, "\n")] = '\0';
		snprintf(h->state_dir, sizeof(h->state_dir), "%s", sd);
	}
}

int agent_lock_probe(const char *bpf_dir, struct agent_holder *h)
{
	struct stat st;
	uint64_t start;
	pid_t pid;

	if (stat(bpf_dir, &st) < 0 || !S_ISDIR(st.st_mode))
		return 0;
	/* The agent that wrote the holder file still runs (the same pid and
	 * start time, not a zombie): it holds the lock until it exits.  Only
	 * otherwise /proc/locks, whose read waits for an RCU grace period
	 * (its percpu_down_write: ~12 ms here, on every create). */
	holder_read(bpf_dir, 0, h, &start);
	if (h->pid > 0 && start && proc_is_same(h->pid, start) == 1)
		return 1;
	pid = flock_owner(st.st_dev, st.st_ino);
	if (pid < 0)
		return 0;
	holder_read(bpf_dir, pid, h, &start);
	return 1;
}

static int holder_write(const char *bpf_dir, const char *state_dir, tardis_error_t *err)
{
	char path[512], tmp[540], buf[4200];
	cleanup_close int fd = -1;
	uint64_t start;
	int len;

	if (mkdir(run_dir(), 0700) < 0 && errno != EEXIST)
		return tardis_make_error(err, errno, "mkdir `%s`", run_dir());
	if (agent_lock_holder_path(bpf_dir, path, sizeof(path)) < 0)
		return tardis_make_error(err, ENAMETOOLONG, "holder file of `%s`", bpf_dir);
	snprintf(tmp, sizeof(tmp), "%s.%d", path, (int)getpid());
	if (proc_start_time(getpid(), &start) < 0)
		start = 0;
	len = snprintf(buf, sizeof(buf), "pid %d\nstart %llu\nstate_dir %s\nbpf_dir %s\n",
		       (int)getpid(), (unsigned long long)start, state_dir, bpf_dir);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		return tardis_make_error(err, errno, "create `%s`", tmp);
	if (len >= (int)sizeof(buf) || write(fd, buf, (size_t)len) != len || rename(tmp, path) < 0) {
		tardis_make_error(err, errno, "write `%s`", path);
		unlink(tmp);
		return -1;
	}
	return 0;
}

/* Another agent holds it: who.  Right after it took the lock its holder
 * file may still be the previous agent's: a moment for it to appear. */
static void holder_of(int fd, const char *bpf_dir, struct agent_holder *h)
{
	struct stat st;
	uint64_t start;
	pid_t pid = -1;

	for (int i = 0; i < 50; i++) {
		if (fstat(fd, &st) == 0)
			pid = flock_owner(st.st_dev, st.st_ino);
		holder_read(bpf_dir, pid < 0 ? 0 : pid, h, &start);
		if (h->state_dir[0])
			return;
		usleep(20 * 1000);
	}
	if (pid > 0)
		h->pid = pid;
}

int agent_lock_acquire(const char *bpf_dir, const char *state_dir, struct agent_holder *h,
		       tardis_error_t *err)
{
	tardis_error_t herr = NULL;
	struct stat a, b;

	/* --unload removes the directory: a lock on a removed one is no lock. */
	for (int tries = 0; tries < 5; tries++) {
		cleanup_close int fd = open(bpf_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		int ret;

		if (fd < 0)
			return tardis_make_error(err, errno, "open pin directory `%s`", bpf_dir);
		if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
			if (errno != EWOULDBLOCK)
				return tardis_make_error(err, errno, "lock `%s`", bpf_dir);
			holder_of(fd, bpf_dir, h);
			return -2;
		}
		if (fstat(fd, &a) < 0 || stat(bpf_dir, &b) < 0 || a.st_dev != b.st_dev ||
		    a.st_ino != b.st_ino)
			continue;
		/* Only a name for the message of a second agent: not fatal. */
		if (holder_write(bpf_dir, state_dir, &herr) < 0)
			tardis_error_log_release(TARDIS_LOG_WARN, "agent holder file", &herr);
		ret = fd;
		fd = -1;
		return ret;
	}
	return tardis_make_error(err, ESTALE, "pin directory `%s` keeps being replaced", bpf_dir);
}

void agent_lock_forget(const char *bpf_dir)
{
	char path[512];

	if (agent_lock_holder_path(bpf_dir, path, sizeof(path)) == 0)
		unlink(path);
}

void agent_lock_release(int fd, const char *bpf_dir)
{
	if (fd < 0)
		return;
	agent_lock_forget(bpf_dir);
	close(fd);
}
