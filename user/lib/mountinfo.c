#include "mountinfo.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static void unescape(char *s)
{
	char *w = s;

	for (char *r = s; *r; r++) {
		if (r[0] == '\\' && r[1] >= '0' && r[1] <= '7' && r[2] >= '0' && r[2] <= '7' &&
		    r[3] >= '0' && r[3] <= '7') {
			*w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
			r += 3;
		} else {
			*w++ = *r;
		}
	}
	*w = '\0';
}

/* Calls back with (mount point, fstype, super options) of each line; the
 * last mount at a point is the visible one, so the last match wins. */
static int find(const char *mountpoint, char *fstype, size_t flen, char *sopts, size_t slen)
{
	char want[PATH_MAX], *line = NULL;
	size_t cap = 0;
	int found = 0;
	FILE *f;

	if (!realpath(mountpoint, want))
		return -1;
	f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return -1;
	while (getline(&line, &cap, f) > 0) {
		char *fields[12], *save = NULL, *tok, *sep;
		int n = 0;

		line[strcspn(line, "\n")] = '\0';
		sep = strstr(line, " - ");
		if (!sep)
			continue;
		*sep = '\0';
		for (tok = strtok_r(line, " ", &save); tok && n < 10; tok = strtok_r(NULL, " ", &save))
			fields[n++] = tok;
		if (n < 5)
			continue;
		unescape(fields[4]);
		if (strcmp(fields[4], want) != 0)
			continue;
		save = NULL;
		tok = strtok_r(sep + 3, " ", &save); /* fstype */
		if (!tok)
			continue;
		snprintf(fstype, flen, "%s", tok);
		tok = strtok_r(NULL, " ", &save); /* source */
		tok = tok ? strtok_r(NULL, " ", &save) : NULL; /* super options */
		snprintf(sopts, slen, "%s", tok ? tok : "");
		found = 1;
	}
	free(line);
	fclose(f);
	return found;
}

int mountinfo_is_mountpoint(const char *path)
{
	char fstype[64], sopts[8192];

	return find(path, fstype, sizeof(fstype), sopts, sizeof(sopts)) == 1;
}

int mountinfo_fstype(const char *path, char *fstype, size_t len)
{
	char sopts[8192];

	return find(path, fstype, len, sopts, sizeof(sopts));
}

int mountinfo_overlay_upperdir(const char *mountpoint, char *upper, size_t len)
{
	char fstype[64], sopts[8192], *p, *end;
	int r = find(mountpoint, fstype, sizeof(fstype), sopts, sizeof(sopts));

	if (r <= 0)
		return r;
	if (strcmp(fstype, "overlay") != 0)
		return 0;
	for (p = sopts; p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL) {
		if (strncmp(p, "upperdir=", 9) != 0)
			continue;
		p += 9;
		end = strchr(p, ',');
		if (end)
			*end = '\0';
		unescape(p);
		snprintf(upper, len, "%s", p);
		return 1;
	}
	return 0;
}

int mountinfo_mount_of(const char *path, char *out, size_t len)
{
	char *line = NULL;
	size_t cap = 0, best = 0;
	FILE *f = fopen("/proc/self/mountinfo", "re");

	if (!f)
		return -1;
	while (getline(&line, &cap, f) > 0) {
		char *save = NULL, *tok = strtok_r(line, " ", &save);
		size_t n;

		for (int i = 0; tok && i < 4; i++)
			tok = strtok_r(NULL, " ", &save);
		if (!tok)
			continue;
		unescape(tok);
		n = strlen(tok);
		/* "/" holds everything; else a whole component of path. */
		if (n == 1 && tok[0] == '/' && !best) {
			snprintf(out, len, "/");
			best = 1;
		} else if (n > best && strncmp(path, tok, n) == 0 && (path[n] == '/' || !path[n])) {
			snprintf(out, len, "%s", tok);
			best = n;
		}
	}
	free(line);
	fclose(f);
	return best > 0;
}
