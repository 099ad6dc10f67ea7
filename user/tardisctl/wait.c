/* tardisctl wait: block until the container's exit is recorded, exit with it. */
#include "tardisctl.h"
#include "exit_lookup.h"
#include "cleanup.h"
#include "container_summary.h"
#include "util.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

enum { WAIT_MORE = -1, WAIT_TIMED_OUT = -2 };

/* The exit of (pid, start) from the kernel's recent-exits map, when no
 * agent will record it.  (To become the library's exit lookup.) */
/* The watched directory is gone (exit 0 cleans up, gc): the kernel may
 * still know how the init we waited for ended. */
static int wait_removed(struct ctl *c, const char *ns, const char *id, pid_t pid, uint64_t start)
{
	int es;

	if (exit_lookup_kernel(c->cfg.bpf_dir, pid, start, &es)) {
		printf("%s/%s exited: exit status %d (from the kernel's recent exits; the container is removed)\n",
		       ns, id, es);
		return es;
	}
	fprintf(stderr, "tardisctl: %s/%s was removed before its exit was recorded\n", ns, id);
	return EXIT_UNKNOWN;
}

/* A recorded exit: its status, or EXIT_UNKNOWN. */
static int wait_recorded(const char *ns, const char *id, const struct container_summary *s)
{
	char buf[128];
	int es;

	if (!container_summary_exit_status(s, &es)) {
		fprintf(stderr, "tardisctl: %s/%s: the exit is unknown (the init vanished without a trace)\n",
			ns, id);
		return EXIT_UNKNOWN;
	}
	printf("%s/%s exited: %s%s\n", ns, id, exit_text(&s->exit, buf, sizeof(buf)),
	       strcmp(s->state, "checkpointed") == 0 ? " (checkpointed: the next create restores it)"
						     : "");
	return es;
}

/* One look at the container: its exit status when recorded, WAIT_MORE, or
 * EXIT_UNKNOWN / 1 when there will be none. */
static int wait_check(struct ctl *c, const char *ns, const char *id, pid_t *pid,
		      uint64_t *start, int *warned)
{
	cleanup_error tardis_error_t err = NULL;
	struct container_summary s;
	int es, ret = WAIT_MORE;

	if (container_summary_load(&c->store, ns, id, 0, &s, &err) < 0) {
		if (tardis_error_errno(err) != ENOENT) {
			fprintf(stderr, "tardisctl: %s/%s: %s\n", ns, id, tardis_error_msg(err));
			return 1;
		}
		return wait_removed(c, ns, id, *pid, *start);
	}
	*pid = s.init_pid;
	*start = s.init_start_time;
	if (s.has_exit) {
		ret = wait_recorded(ns, id, &s);
	} else if (strcmp(s.state, "stopped") == 0 && !ctl_agent_pid(c)) {
		/* Nobody will write the record: take what the kernel kept. */
		if (exit_lookup_kernel(c->cfg.bpf_dir, s.init_pid, s.init_start_time, &es)) {
			printf("%s/%s exited: exit status %d (from the kernel's recent exits: no tardisd runs)\n",
			       ns, id, es);
			ret = es;
		} else if (!*warned) {
			fprintf(stderr, "tardisctl: %s/%s: the init is gone and no tardisd runs; waiting for one to record the exit\n",
				ns, id);
			*warned = 1;
		}
	}
	container_summary_free(&s);
	return ret;
}

/* Watches the container's directory, opened without following symlinks:
 * through /proc/self/fd, not whatever the path names now.  The inotify fd,
 * or -1 (reported). */
static int wait_watch(struct ctl *c, const char *ns, const char *id, int dfd)
{
	char path[64];
	int ifd;

	ifd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", dfd);
	if (ifd < 0 || inotify_add_watch(ifd, path,
					 IN_MOVED_TO | IN_CLOSE_WRITE | IN_DELETE | IN_DELETE_SELF |
						 IN_MOVE_SELF | IN_ONLYDIR) < 0) {
		fprintf(stderr, "tardisctl: inotify on %s/%s: %s\n", ns, id, strerror(errno));
		if (ifd >= 0)
			close(ifd);
		return -1;
	}
	return ifd;
}

/* Drains the inotify events: 1 when the directory itself went (a container
 * created again under the same name is another one), else 0 (the next look
 * decides). */
static int wait_dir_gone(int ifd)
{
	char evbuf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));

	for (;;) {
		ssize_t n = read(ifd, evbuf, sizeof(evbuf));

		if (n <= 0)
			return 0;
		for (char *e = evbuf; e < evbuf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)e;

			if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED))
				return 1;
			e += sizeof(*ev) + ev->len;
		}
	}
}

/* Looks, then sleeps until the directory changes, until the exit is
 * known (its status, EXIT_UNKNOWN or 1) or the deadline (monotonic ns, 0:
 * none) passes (WAIT_TIMED_OUT). */
static int wait_loop(struct ctl *c, const char *ns, const char *id, int ifd, int64_t deadline)
{
	uint64_t start = 0;
	int warned = 0, ret;
	pid_t pid = 0;

	for (;;) {
		struct pollfd p = { .fd = ifd, .events = POLLIN };
		int ms = -1;

		ret = wait_check(c, ns, id, &pid, &start, &warned);
		if (ret != WAIT_MORE)
			return ret;
		if (deadline) {
			int64_t left = deadline - time_monotonic_ns();

			if (left <= 0)
				return WAIT_TIMED_OUT;
			ms = left / 1000000 > INT_MAX ? INT_MAX : (int)(left / 1000000) + 1;
		}
		if (poll(&p, 1, ms) < 0 && errno != EINTR) {
			fprintf(stderr, "tardisctl: poll: %s\n", strerror(errno));
			return 1;
		}
		if (wait_dir_gone(ifd))
			return wait_removed(c, ns, id, pid, start);
	}
}

static int wait_main(struct ctl *c, int argc, char **argv)
{
	uint64_t timeout_s = 0;
	int has_timeout = 0, ret;
	struct ctl_opt opts[] = {
		CTL_DURATION("timeout", 't', &timeout_s, "(e.g. 30s, 5m, 1h)", &has_timeout),
		CTL_OPT_END,
	};
	struct ctl_cmdline cl = { .opts = opts, .min_args = 1, .max_args = 1,
				  .expect = "expected one NS/ID" };
	char ns[TARDIS_ID_MAX + 1], id[TARDIS_ID_MAX + 1];
	cleanup_error tardis_error_t err = NULL;
	cleanup_close int dfd = -1;
	cleanup_close int ifd = -1;
	int64_t deadline = 0;

	if ((ret = opts_parse(c, argc, argv, &cl)) >= 0)
		return ret;
	if (split_ref(cl.args[0], ns, id) < 0)
		return ctl_misuse(c, "`%s` is not NS/ID", cl.args[0]);
	dfd = store_container_dir(&c->store, ns, id, 0, &err);
	if (dfd < 0) {
		fprintf(stderr, "tardisctl: %s/%s: %s\n", ns, id,
			tardis_error_errno(err) == ENOENT ? "no such container in the state store"
							  : tardis_error_msg(err));
		return 1;
	}
	/* Watched before the first look, so no record can slip in between. */
	ifd = wait_watch(c, ns, id, dfd);
	if (ifd < 0)
		return 1;
	if (has_timeout)
		deadline = time_monotonic_ns() + (int64_t)timeout_s * 1000000000ll;
	ret = wait_loop(c, ns, id, ifd, deadline);
	if (ret != WAIT_TIMED_OUT)
		return ret;
	fprintf(stderr, "tardisctl: %s/%s: timed out after %llus waiting for the exit\n", ns, id,
		(unsigned long long)timeout_s);
	return EXIT_TIMEOUT;
}

TARDISCTL_COMMAND(wait, 1, "block until the container's exit is recorded",
		  "usage: tardisctl wait [--timeout DURATION] NS/ID\n"
		  "Blocks until the exit of the container's init is recorded, then exits with its exit\n"
		  "status (code, or 128+signal).  Returns at once if it is recorded already.\n"
		  "  --timeout D       give up after D (30s, 5m, 1h): exit status 124\n"
		  "Exit status 125: the exit is unknown; 1: no such container; 2: bad usage.\n");
