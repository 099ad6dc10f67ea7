#include "criu_version.h"
#include "cleanup.h"
#include "criu_probe.h"
#include "log.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CACHE_DIR "cache"

/* criu as runc would run it: a path, or the first on PATH. */
static int resolve(const char *criu, char *out, size_t len)
{
	const char *path = getenv("PATH");

	if (strchr(criu, '/'))
		return snprintf(out, len, "%s", criu) < (int)len ? 0 : -1;
	while (path && *path) {
		size_t n = strcspn(path, ":");

		if (n && snprintf(out, len, "%.*s/%s", (int)n, path, criu) < (int)len &&
		    access(out, X_OK) == 0)
			return 0;
		path += n + (path[n] == ':');
	}
	return -1;
}

static int plausible(const char *v)
{
	if (!isdigit((unsigned char)*v))
		return 0;
	for (; *v; v++)
		if (!isdigit((unsigned char)*v) && *v != '.')
			return 0;
	return 1;
}

int criu_version_get(struct tardis_store *s, const char *criu, char *out, size_t len)
{
	cleanup_error tardis_error_t err = NULL;
	cleanup_close int cfd = -1;
	cleanup_free char *text = NULL;
	char path[PATH_MAX], key[128];
	struct stat st;

	out[0] = '\0';
	if (resolve(criu && *criu ? criu : "criu", path, sizeof(path)) < 0 || stat(path, &st) < 0)
		return -1;
	snprintf(key, sizeof(key), "criu-%llx-%llx-%llx-%lld.%09ld", (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino, (unsigned long long)st.st_size,
		 (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
	if (s && (cfd = store_subdir(s->root_fd, CACHE_DIR, 1, &err)) >= 0 &&
	    store_read(cfd, key, 64, &text, NULL, &err) == 0) {
		text[strcspn(text, "\n")] = '\0';
		if (plausible(text) && strlen(text) < len) {
			strcpy(out, text);
			return 0;
		}
	}
	tardis_error_free(&err);
	if (criu_probe_version(path, out, len) < 0 || !plausible(out)) {
		out[0] = '\0';
		return -1;
	}
	if (cfd >= 0 && store_write_atomic(cfd, key, out, strlen(out), 0, NULL, &err) < 0)
		tardis_error_log_release(TARDIS_LOG_DEBUG, "CRIU version cache", &err);
	return 0;
}

int criu_version_cmp(const char *a, const char *b, int *ok)
{
	*ok = a && b && plausible(a) && plausible(b);
	if (!*ok)
		return 0;
	while (*a || *b) {
		char *ea, *eb;
		unsigned long x = strtoul(a, &ea, 10), y = strtoul(b, &eb, 10);

		if (x != y)
			return x < y ? -1 : 1;
		a = *ea == '.' ? ea + 1 : ea;
		b = *eb == '.' ? eb + 1 : eb;
	}
	return 0;
}
