/* A created (or restored) container's init goes to the exit monitor; the
 * agent, tardisd, is started first when none runs. */
#include "shim.h"
#include "agent_lock.h"
#include "cleanup.h"
#include "exit_lookup.h"
#include "log.h"
#include "process.h"
#include "registry.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

/* name in an absolute PATH directory.  Not execv("tardisd"): that is a
 * path relative to our cwd, which is the container's bundle. */
static int find_on_path(const char *name, char *out, size_t len)
{
	const char *path = getenv("PATH");
	cleanup_free char *copy = strdup(path && *path ? path : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
	char *save = NULL;

	if (!copy)
		return -1;
	for (char *dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
		if (dir[0] != '/' || snprintf(out, len, "%s/%s", dir, name) >= (int)len)
			continue;
		if (access(out, X_OK) == 0)
			return 0;
	}
	return -1;
}

/* An agent runs: it holds the pin dir (agent_lock.h; *h says who), or
 * this state dir's pid file is locked (one starting: the pid file comes
 * first). */
static int agent_running(struct shim *s, struct agent_holder *h)
{
	cleanup_close int fd = -1;

	h->pid = 0;
	h->state_dir[0] = '\0';
	if (agent_lock_probe(s->cfg.bpf_dir, h) == 1)
		return 1;
	fd = openat(s->store.root_fd, TARDISD_PID_FILE, O_RDONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
		    0600);
	return fd >= 0 && flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK;
}

/* Starts tardisd when none runs.  Never a second one for the pin dir: the
 * running agent of another state dir keeps it, and this container's exit
 * is then recorded by nobody -- it stays in the kernel's recent_exits,
 * where delete finds it (exit_lookup). */
static void ensure_agent(struct shim *s)
{
	char self[PATH_MAX], agent[PATH_MAX + 16], *slash;
	cleanup_argv struct argv_buf a = { 0 };
	cleanup_error tardis_error_t err = NULL;
	struct agent_holder h;
	int st;

	if (agent_running(s, &h)) {
		if (h.state_dir[0] && strcmp(h.state_dir, s->cfg.state_dir) != 0)
			log_warn("the tardisd that consumes %s (pid %d) has state dir %s, not %s: "
				 "it does not record the exits of this state dir's containers",
				 s->cfg.bpf_dir, (int)h.pid, h.state_dir, s->cfg.state_dir);
		return;
	}
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return;
	self[n] = '\0';
	slash = strrchr(self, '/');
	*slash = '\0';
	snprintf(agent, sizeof(agent), "%s/tardisd", self);
	if (access(agent, X_OK) < 0 && find_on_path("tardisd", agent, sizeof(agent)) < 0) {
		log_warn("no tardisd next to %s or on PATH: exit monitor not started", self);
		return;
	}
	argv_push(&a, agent);
	argv_push(&a, "--daemon");
	log_info("starting the agent: %s --daemon", agent);
	st = run_wait(a.v, RUN_QUIET, 30, NULL, &err);
	/* 3: another one won the race, fine; 4: one of another state dir
	 * did (tardisd logs it). */
	if (st != 0 && !(st >= 0 && WIFEXITED(st) && (WEXITSTATUS(st) == 3 || WEXITSTATUS(st) == 4)))
		log_warn("tardisd did not start (%s)", err ? tardis_error_msg(err) : "exit status");
}

/* An agent that has just won the race to start (another tardis-runc
 * started it) pins the monitor's maps a moment after it takes its lock:
 * wait for them rather than leave the kernel map without this pid (an
 * init in the host pid namespace would go unseen). */
static struct tardis_monitor *wait_monitor(struct shim *s, struct tardis_monitor *m)
{
	cleanup_error tardis_error_t err = NULL;
	struct tardis_monitor *mon;
	struct agent_holder h;

	for (int i = 0;; i++) {
		mon = monitor_open_optional(m, s->cfg.bpf_dir, &err);
		/* Only "nothing pinned yet" is worth waiting for: pins of
		 * another layout (an older agent still running) stay so. */
		if (mon || i >= 200 || tardis_error_errno(err) != ENOENT || !agent_running(s, &h))
			break;
		tardis_error_free(&err);
		usleep(50 * 1000);
	}
	if (!mon)
		tardis_error_log_release(TARDIS_LOG_WARN, "exit monitor not available", &err);
	return mon;
}

void shim_register_init(struct shim *s, const char *pid_file)
{
	cleanup_error tardis_error_t err = NULL;
	cleanup_free char *text = NULL;
	struct tardis_monitor m; /* before mon: mon's cleanup still sees it */
	cleanup_monitor_ptr struct tardis_monitor *mon = NULL;
	long pid;

	if (!pid_file || store_read(AT_FDCWD, pid_file, 64, &text, NULL, &err) < 0) {
		log_warn("%s/%s: no pid file to register (%s)", s->args.ns, s->args.id,
			 err ? tardis_error_msg(err) : "no --pid-file");
		return;
	}
	pid = strtol(text, NULL, 10);
	if (pid <= 0) {
		log_warn("%s/%s: bad pid file `%s`", s->args.ns, s->args.id, pid_file);
		return;
	}
	ensure_agent(s);
	mon = wait_monitor(s, &m);
	if (registry_register(&s->store, mon, s->args.ns, s->args.id, (pid_t)pid, 0, &err) < 0)
		log_warn("%s/%s: register pid %ld: %s", s->args.ns, s->args.id, pid,
			 tardis_error_msg(err));
	else
		log_info("%s/%s: init pid %ld registered", s->args.ns, s->args.id, pid);
}
