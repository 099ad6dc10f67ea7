#include "criu_probe.h"
#include "cleanup.h"
#include "criu_log.h"
#include "process.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define DUMP_LOG "dump.log"

/* criu is run by name from PATH unless it is a path. */
static int search_flag(const char *criu)
{
	return strchr(criu, '/') ? 0 : RUN_SEARCH_PATH;
}

/* "exit status 1", "killed by signal 9" for a wait status. */
static void status_text(int st, char *buf, size_t len)
{
	if (WIFEXITED(st))
		snprintf(buf, len, "exit status %d%s", WEXITSTATUS(st),
			 WEXITSTATUS(st) == 127 ? " (cannot be run)" : "");
	else if (WIFSIGNALED(st))
		snprintf(buf, len, "killed by signal %d", WTERMSIG(st));
	else
		snprintf(buf, len, "wait status %d", st);
}

int criu_probe_version(const char *criu, char *out, size_t len)
{
	cleanup_error tardis_error_t err = NULL;
	cleanup_free char *text = NULL;
	char *argv[] = { (char *)criu, "--version", NULL };
	const char *v;
	size_t n;

	if (len)
		out[0] = '\0';
	if (run_wait(argv, RUN_STDIN_NULL | search_flag(criu), 10, &text, &err) != 0 || !text)
		return -1;
	v = strstr(text, "Version: ");
	if (!v)
		return -1;
	v += strlen("Version: ");
	n = strcspn(v, " \t\r\n");
	if (n == 0 || n >= len)
		return -1;
	memcpy(out, v, n);
	out[n] = '\0';
	return 0;
}

/* The first "Error (...)" line of text, else its last non-empty line. */
static void pick_line(char *text, char *out, size_t len)
{
	char *save = NULL, *line, *last = NULL;

	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *at = strstr(line, "Error (");

		if (at && !strstr(at, "RLIMIT_NOFILE")) {
			snprintf(out, len, "%s", at);
			return;
		}
		if (line[strspn(line, " \t\r")])
			last = line;
	}
	snprintf(out, len, "%s", last ? last : "");
	out[strcspn(out, "\r")] = '\0';
}

int criu_probe_check(const char *criu, int timeout_s, char *detail, size_t len)
{
	cleanup_error tardis_error_t err = NULL;
	cleanup_free char *text = NULL;
	char *argv[] = { (char *)criu, "check", NULL };
	char line[512] = "", st_text[64];
	int st;

	st = run_wait(argv, RUN_STDIN_NULL | RUN_CAPTURE_STDERR | RUN_OWN_PGRP | search_flag(criu),
		      timeout_s, &text, &err);
	if (text)
		pick_line(text, line, sizeof(line));
	if (st == 0) {
		snprintf(detail, len, "%s", line[0] ? line : "passed");
		return 1;
	}
	if (st < 0) {
		snprintf(detail, len, "%s", tardis_error_msg(err));
		return 0;
	}
	status_text(st, st_text, sizeof(st_text));
	if (line[0])
		snprintf(detail, len, "%s (%s)", line, st_text);
	else
		snprintf(detail, len, "%s", st_text);
	return 0;
}

/* The listener: its own session, the socket as fd 3, /dev/null as 0-2,
 * nothing else.  Writes the port to wfd once it listens; never returns.
 * parent: the caller, whose end it does not outlive. */
static void listener_child(int wfd, pid_t parent)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	int s, null, port;

	/* Gone with its parent, whatever happens to it (a signal mid-dump). */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(1);
	setsid();
	s = socket(AF_INET, SOCK_STREAM, 0);
	if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(s, 1) < 0 ||
	    getsockname(s, (struct sockaddr *)&a, &alen) < 0)
		_exit(1);
	port = ntohs(a.sin_port);
	if (write(wfd, &port, sizeof(port)) != (ssize_t)sizeof(port))
		_exit(1);
	null = open("/dev/null", O_RDWR);
	if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0)
		_exit(1);
	if (s != 3 && dup2(s, 3) < 0)
		_exit(1);
	/* Every other fd (wfd, the caller's files and locks) goes. */
	if (close_range(4, ~0U, 0) < 0)
		for (int fd = 4; fd < 65536; fd++)
			close(fd);
	for (;;)
		pause();
}

/* Starts the listener; its pid, or -1 (why in detail). */
static pid_t listener_start(char *detail, size_t len)
{
	int p[2], port = 0;
	ssize_t n;
	char c;
	pid_t pid, self = getpid();

	if (pipe2(p, O_CLOEXEC) < 0) {
		snprintf(detail, len, "pipe: %s", strerror(errno));
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		snprintf(detail, len, "fork: %s", strerror(errno));
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (pid == 0)
		listener_child(p[1], self);
	close(p[1]);
	n = read(p[0], &port, sizeof(port));
	/* EOF: the child has closed every fd it inherited. */
	while (n == (ssize_t)sizeof(port) && read(p[0], &c, 1) > 0)
		;
	close(p[0]);
	if (n != (ssize_t)sizeof(port)) {
		snprintf(detail, len, "the test listener did not start");
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return -1;
	}
	return pid;
}

/* rm -r of CRIU's flat image directory. */
static void remove_image_dir(const char *dir)
{
	cleanup_dir DIR *d = opendir(dir);
	struct dirent *e;

	while (d && (e = readdir(d)))
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			unlinkat(dirfd(d), e->d_name, 0);
	rmdir(dir);
}

/* Runs criu dump of pid into dir; the probe's verdict as
 * criu_probe_server_dump returns it. */
static int dump_pid(const char *criu, pid_t pid, const char *dir, int timeout_s, char *detail,
		    size_t len)
{
	cleanup_error tardis_error_t err = NULL;
	cleanup_free char *text = NULL;
	char pidstr[16], log_path[4200], st_text[64], first[512];
	char *argv[] = { (char *)criu, "dump", "-t", pidstr, "--shell-job", "-D", (char *)dir,
			 "-o", DUMP_LOG, "-v4", NULL };
	int st;

	snprintf(pidstr, sizeof(pidstr), "%d", (int)pid);
	snprintf(log_path, sizeof(log_path), "%s/%s", dir, DUMP_LOG);
	st = run_wait(argv, RUN_STDIN_NULL | RUN_CAPTURE_STDERR | RUN_OWN_PGRP | search_flag(criu),
		      timeout_s, &text, &err);
	if (st == 0)
		return 1;
	if (criu_log_first_error(log_path, first, sizeof(first)) == 1)
		snprintf(detail, len, "%s", first);
	else if (st < 0)
		snprintf(detail, len, "%s", tardis_error_msg(err));
	else {
		status_text(st, st_text, sizeof(st_text));
		snprintf(detail, len, "criu dump: %s", st_text);
	}
	return 0;
}

int criu_probe_server_dump(const char *criu, int timeout_s, char *detail, size_t len)
{
	const char *tmp = getenv("TMPDIR");
	char dir[4096];
	pid_t pid;
	int ret;

	if (snprintf(dir, sizeof(dir), "%s/tardis-criu-probe.XXXXXX", tmp && *tmp ? tmp : "/tmp") >=
		    (int)sizeof(dir) ||
	    !mkdtemp(dir)) {
		snprintf(detail, len, "cannot make a temp dir in %s", tmp && *tmp ? tmp : "/tmp");
		return -1;
	}
	pid = listener_start(detail, len);
	if (pid < 0) {
		remove_image_dir(dir);
		return -1;
	}
	ret = dump_pid(criu, pid, dir, timeout_s, detail, len);
	/* A successful dump has killed it already; a failed one may not have. */
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	remove_image_dir(dir);
	if (ret == 1)
		snprintf(detail, len, "dumped a process listening on a TCP socket");
	return ret;
}
