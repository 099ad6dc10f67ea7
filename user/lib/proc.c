#include "proc.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int proc_start_time(pid_t pid, uint64_t *ticks)
{
	char path[64], buf[1024], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	/* comm may hold spaces and parentheses: fields restart after the last ')'. */
	p = strrchr(buf, ')');
	if (!p)
		return -1;
	p++;
	/* p now points before field 3; starttime is field 22. */
	for (int field = 3; field < 22; field++) {
		p = strchr(p + 1, ' ');
		if (!p)
			return -1;
	}
	*ticks = strtoull(p + 1, NULL, 10);
	return 0;
}

int proc_is_same(pid_t pid, uint64_t ticks)
{
	uint64_t now;
	char path[64], state[256];
	FILE *f;

	if (proc_start_time(pid, &now) < 0 || now != ticks)
		return 0;
	/* A zombie has exited already. */
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	if (!fgets(state, sizeof(state), f)) {
		fclose(f);
		return 0;
	}
	fclose(f);
	{
		char *p = strrchr(state, ')');

		if (p && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X'))
			return 0;
	}
	return 1;
}

int proc_is_pidns_init(pid_t pid)
{
	char path[64], *line = NULL;
	size_t cap = 0;
	int ret = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (getline(&line, &cap, f) > 0) {
		char *last, *p;
		int fields = 0;

		if (strncmp(line, "NSpid:", 6) != 0)
			continue;
		last = NULL;
		for (p = strtok(line + 6, " \t\n"); p; p = strtok(NULL, " \t\n")) {
			fields++;
			last = p;
		}
		ret = fields > 1 && last && strcmp(last, "1") == 0;
		break;
	}
	free(line);
	fclose(f);
	return ret;
}
