/* netns: lo up and the net.* sysctls in a network namespace of the test's
 * own (a child that unshares one, as root; skipped otherwise), and
 * sysctl keys that would leave /proc/sys/net refused. */
#include "unit_main.h"
#include "netns.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static int lo_is_up(void)
{
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	struct ifreq ifr = { 0 };
	int up;

	strcpy(ifr.ifr_name, "lo");
	up = s >= 0 && ioctl(s, SIOCGIFFLAGS, &ifr) == 0 && (ifr.ifr_flags & IFF_UP);
	close(s);
	return up;
}

static int read_int(const char *path)
{
	FILE *f = fopen(path, "r");
	int v = -1;

	if (f) {
		if (fscanf(f, "%d", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

/* In a new netns: 0 when everything holds, else the step that failed. */
static int in_new_netns(void)
{
	cJSON *c = cJSON_Parse("{\"linux\":{\"sysctl\":{\"net.ipv4.ip_forward\":\"1\","
			       "\"kernel.shmmax\":\"1\"}}}");
	cJSON *bad = cJSON_Parse("{\"linux\":{\"sysctl\":{\"net.ipv4/../../kernel/x\":\"1\"}}}");
	tardis_error_t err = NULL;

	if (unshare(CLONE_NEWNET) < 0)
		return 10;
	if (lo_is_up())
		return 1; /* a new netns starts with lo down */
	if (netns_loopback_up(&err) < 0 || !lo_is_up())
		return 2;
	if (netns_loopback_up(&err) < 0) /* already up: fine */
		return 3;
	if (netns_write_sysctls(c, &err) < 0 || read_int("/proc/sys/net/ipv4/ip_forward") != 1)
		return 4;
	if (netns_write_sysctls(bad, &err) == 0)
		return 5;
	if (netns_write_sysctls(NULL, &err) < 0)
		return 6;
	return 0;
}

START_TEST(test_loopback_and_sysctls)
{
	pid_t pid;
	int st;

	if (geteuid() != 0)
		return; /* unshare(CLONE_NEWNET) needs root */
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(in_new_netns());
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFEXITED(st));
	if (WEXITSTATUS(st) == 10)
		return; /* no network namespaces here */
	ck_assert_int_eq(WEXITSTATUS(st), 0);
}
END_TEST

START_TEST(test_enter_missing)
{
	tardis_error_t err = NULL;

	ck_assert_int_eq(netns_enter("/nonexistent/netns", &err), -1);
	ck_assert_int_eq(tardis_error_errno(err), ENOENT);
	tardis_error_free(&err);
}
END_TEST

UNIT_SUITE(netns, "netns", test_loopback_and_sysctls, test_enter_missing)
