#include "netns.h"
#include "cleanup.h"
#include "oci_config.h"
#include "process.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

int netns_enter(const char *path, tardis_error_t *err)
{
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return tardis_make_error(err, errno, "open %s", path);
	if (setns(fd, CLONE_NEWNET) < 0)
		return tardis_make_error(err, errno, "setns %s", path);
	return 0;
}

int netns_loopback_up(tardis_error_t *err)
{
	/* The socket belongs to the namespace it is made in: the caller's. */
	cleanup_close int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct ifreq ifr;

	if (s < 0)
		return tardis_make_error(err, errno, "socket");
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		return tardis_make_error(err, errno, "lo: SIOCGIFFLAGS");
	if (ifr.ifr_flags & IFF_UP)
		return 0;
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
		return tardis_make_error(err, errno, "lo: SIOCSIFFLAGS");
	return 0;
}

/* net.ipv4.ip_forward -> /proc/sys/net/ipv4/ip_forward, as runc writes
 * it; a key that would leave /proc/sys/net is refused. */
static int sysctl_path(const char *key, char *out, size_t len)
{
	if (strncmp(key, "net.", 4) != 0 || strchr(key, '/') || strstr(key, "..") ||
	    key[strlen(key) - 1] == '.' || snprintf(out, len, "/proc/sys/%s", key) >= (int)len)
		return -1;
	for (char *p = out + strlen("/proc/sys/"); *p; p++)
		if (*p == '.')
			*p = '/';
	return 0;
}

int netns_write_sysctls(const struct cJSON *config, tardis_error_t *err)
{
	const cJSON *linux_ = cJSON_GetObjectItemCaseSensitive(config, "linux");
	const cJSON *sysctl = cJSON_GetObjectItemCaseSensitive(linux_, "sysctl");
	const cJSON *it;

	if (!cJSON_IsObject(sysctl))
		return 0;
	cJSON_ArrayForEach(it, sysctl) {
		char path[PATH_MAX];
		cleanup_close int fd = -1;
		size_t n;

		if (!it->string || strncmp(it->string, "net.", 4) != 0)
			continue;
		if (!cJSON_IsString(it) || sysctl_path(it->string, path, sizeof(path)) < 0)
			return tardis_make_error(err, EINVAL, "sysctl `%.128s`: not a network setting",
						 it->string);
		fd = open(path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
		n = strlen(it->valuestring);
		if (fd < 0 || write(fd, it->valuestring, n) != (ssize_t)n)
			return tardis_make_error(err, errno, "sysctl %s", it->string);
	}
	return 0;
}

int netns_restore_own(pid_t init, const char *bundle, tardis_error_t *err)
{
	cleanup_json cJSON *config = NULL;
	struct tardis_settings set;
	char path[64];

	/* Read before the setns: the bundle path is the host's. */
	if (bundle && oci_settings_load(bundle, &set, &config, err) < 0)
		return -1;
	snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)init);
	if (netns_enter(path, err) < 0 || netns_loopback_up(err) < 0)
		return -1;
	return netns_write_sysctls(config, err);
}

/* fn(arg) in a forked child, whose namespaces it may change: its exit
 * status (0-255), or -1 with *err when the child could not run or died. */
static int in_child(int (*fn)(const void *arg), const void *arg, tardis_error_t *err)
{
	pid_t pid = fork();
	int st;

	if (pid < 0)
		return tardis_make_error(err, errno, "fork");
	if (pid == 0)
		_exit(fn(arg));
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return tardis_make_error(err, errno, "wait");
	if (!WIFEXITED(st))
		return tardis_make_error(err, 0, "netns helper died (signal %d)", WTERMSIG(st));
	return WEXITSTATUS(st);
}

struct own_args {
	pid_t init;
	const char *bundle;
};

static int restore_own_child(const void *arg)
{
	const struct own_args *a = arg;
	tardis_error_t e = NULL;

	return netns_restore_own(a->init, a->bundle, &e) < 0 ? 1 : 0;
}

int netns_restore_own_after(pid_t init, const char *bundle, tardis_error_t *err)
{
	struct own_args a = { init, bundle };
	int r = in_child(restore_own_child, &a, err);

	if (r < 0)
		return -1;
	if (r != 0)
		return tardis_make_error(err, 0, "lo or the net.* sysctls of pid %d not restored",
					 (int)init);
	return 0;
}

/* In the child, inside the namespace: the rules CRIU's network lock put
 * there (iptables-restore of "-A INPUT -j CRIU", "-A OUTPUT -j CRIU" and
 * the chain CRIU) deleted, v4 and v6.  Exit 0 something removed, 1
 * nothing there, 2 no iptables at all. */
static int unlock_here(void)
{
	static const char *const tools[] = { "iptables", "ip6tables" };
	/* The first JUMPS commands delete a jump, which may be there more
	 * than once (a dump and a restore each add one). */
	enum { JUMPS = 2 };
	static const char *const cmds[][4] = {
		{ "-D", "INPUT", "-j", "CRIU" }, { "-D", "OUTPUT", "-j", "CRIU" },
		{ "-F", "CRIU" },                { "-X", "CRIU" },
	};
	int removed = 0, found = 0;

	for (size_t t = 0; t < 2; t++) {
		for (size_t c = 0; c < sizeof(cmds) / sizeof(cmds[0]); c++) {
			char *argv[8] = { (char *)tools[t], "-w" };
			int st, n = 2, tries = 0;

			for (int k = 0; k < 4 && cmds[c][k]; k++)
				argv[n++] = (char *)cmds[c][k];
			/* A jump is deleted until none is left.  "does not
			 * exist" / "No chain" is the usual answer. */
			do {
				cleanup_free char *out = NULL;
				tardis_error_t e = NULL;

				st = run_wait(argv, RUN_SEARCH_PATH | RUN_STDIN_NULL | RUN_CAPTURE_STDERR,
					      30, &out, &e);
				tardis_error_free(&e);
				if (st >= 0 && !(WIFEXITED(st) && WEXITSTATUS(st) == 127))
					found = 1;
				removed |= st == 0;
			} while (st == 0 && c < JUMPS && ++tries < 8);
		}
	}
	return removed ? 0 : found ? 1 : 2;
}

static int unlock_child(const void *path)
{
	tardis_error_t e = NULL;

	return netns_enter(path, &e) < 0 ? 3 : unlock_here();
}

int netns_criu_unlock(const char *path, tardis_error_t *err)
{
	int r = in_child(unlock_child, path, err);

	switch (r) {
	case -1: return -1;
	case 0: return 1;
	case 1: return 0;
	case 2: return tardis_make_error(err, ENOENT, "no iptables to remove CRIU's lock with");
	case 3: return tardis_make_error(err, 0, "cannot join netns %s", path);
	default: return tardis_make_error(err, 0, "netns %s: unlock helper failed (%d)", path, r);
	}
}
