/*
 * What several commands ask of the node beyond the state store: is a
 * tardisd running, and the exit monitor it pinned (which may be missing:
 * commands that can do without it go on).
 */
#include "tardisctl.h"
#include "cleanup.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/file.h>
#include <unistd.h>

pid_t ctl_agent_pid(struct ctl *c)
{
	cleanup_close int fd = -1;
	char buf[32];
	ssize_t n;

	fd = openat(c->store.root_fd, TARDISD_PID_FILE, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || flock(fd, LOCK_SH | LOCK_NB) == 0 || errno != EWOULDBLOCK)
		return 0;
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	return (pid_t)strtol(buf, NULL, 10);
}

struct tardis_monitor *ctl_monitor_optional(struct ctl *c, struct tardis_monitor *m, int warn)
{
	cleanup_error tardis_error_t err = NULL;

	if (monitor_open_optional(m, c->cfg.bpf_dir, &err))
		return m;
	if (warn)
		fprintf(stderr, "tardisctl: warning: %s (is tardisd running?)\n",
			tardis_error_msg(err));
	return NULL;
}
