#include "criu_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ERRORS 3

/* The next error line of CRIU's log: a pointer to its "Error (", the line's
 * end cut off, or NULL at the end.  "Can't setup RLIMIT_NOFILE" is printed
 * whenever CRIU may not raise its fd limit: not a cause, skipped. */
static char *next_error(FILE *f, char **line, size_t *cap)
{
	while (getline(line, cap, f) > 0) {
		char *at = strstr(*line, "Error (");
		char *msg = at ? strstr(at, "): ") : NULL;

		if (!msg || !msg[3] || strstr(msg, "RLIMIT_NOFILE"))
			continue;
		at[strcspn(at, "\r\n")] = '\0';
		if (at[strlen(at) - 1] == ' ')
			continue; /* "Error (...): " with no message */
		return at;
	}
	return NULL;
}

int criu_log_errors(const char *log_path, char *out, size_t len)
{
	char *line = NULL, *at, *seen[MAX_ERRORS];
	size_t cap = 0, used = 0;
	int n = 0;
	FILE *f;

	if (len)
		out[0] = '\0';
	f = fopen(log_path, "re");
	if (!f)
		return 0;
	while (n < MAX_ERRORS && (at = next_error(f, &line, &cap))) {
		char *msg = strstr(at, "): ") + 3;
		int dup = 0;

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
	char *line = NULL, *at;
	size_t cap = 0;
	FILE *f;

	if (len)
		out[0] = '\0';
	f = fopen(log_path, "re");
	if (!f)
		return 0;
	at = next_error(f, &line, &cap);
	if (at)
		snprintf(out, len, "%s", at);
	free(line);
	fclose(f);
	return at != NULL;
}

int runc_output_error(const char *output, char *out, size_t len)
{
	const char *end, *start, *msg;
	size_t n;

	out[0] = '\0';
	if (!output || !len)
		return 0;
	end = output + strlen(output);
	while (end > output && (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' '))
		end--;
	if (end == output)
		return 0;
	for (start = end; start > output && start[-1] != '\n';)
		start--;
	msg = memmem(start, (size_t)(end - start), "msg=\"", 5);
	if (msg) {
		const char *q;

		start = msg + 5;
		for (q = start; q < end && *q != '"'; q++)
			if (*q == '\\' && q + 1 < end)
				q++;
		end = q;
	}
	n = (size_t)(end - start) < len - 1 ? (size_t)(end - start) : len - 1;
	memcpy(out, start, n);
	out[n] = '\0';
	return n > 0;
}
