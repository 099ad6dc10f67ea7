#include "criu_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ERRORS 3

int criu_log_errors(const char *log_path, char *out, size_t len)
{
	char *line = NULL, *seen[MAX_ERRORS];
	size_t cap = 0, used = 0;
	int n = 0;
	FILE *f;

	if (len)
		out[0] = '\0';
	f = fopen(log_path, "re");
	if (!f)
		return 0;
	while (n < MAX_ERRORS && getline(&line, &cap, f) > 0) {
		char *msg = strstr(line, "Error (");
		int dup = 0;

		if (!msg || !(msg = strstr(msg, "): ")))
			continue;
		msg += 3;
		msg[strcspn(msg, "\r\n")] = '\0';
		/* Printed whenever CRIU may not raise its fd limit: not a cause. */
		if (!*msg || strstr(msg, "RLIMIT_NOFILE"))
			continue;
		for (int i = 0; i < n; i++)
			dup |= strcmp(seen[i], msg) == 0;
		if (dup || !(seen[n] = strdup(msg)))
			continue;
		if (used < len)
			used += (size_t)snprintf(out + used, len - used, "%s%s", n ? "; " : "", msg);
		n++;
	}
	for (int i = 0; i < n; i++)
		free(seen[i]);
	free(line);
	fclose(f);
	return n;
}

int criu_log_first_error(const char *log_path, char *out, size_t len)
{
	char *line = NULL;
	size_t cap = 0;
	int found = 0;
	FILE *f;

	if (len)
		out[0] = '\0';
	f = fopen(log_path, "re");
	if (!f)
		return 0;
	while (!found && getline(&line, &cap, f) > 0) {
		char *at = strstr(line, "Error (");
		char *msg = at ? strstr(at, "): ") : NULL;

		if (!msg || strstr(msg, "RLIMIT_NOFILE"))
			continue;
		at[strcspn(at, "\r\n")] = '\0';
		snprintf(out, len, "%s", at);
		found = 1;
	}
	free(line);
	fclose(f);
	return found;
}
