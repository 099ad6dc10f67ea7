#include "config_edit.h"
#include "cleanup.h"
#include "config.h"
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* The key of a `key = value` line (comments and blanks: none) in buf. */
static int line_key(const char *line, size_t len, char *buf, size_t blen)
{
	const char *p = line, *end = line + len, *k;
	size_t n;

	while (p < end && isspace((unsigned char)*p))
		p++;
	k = p;
	while (p < end && *p != '=' && *p != '#' && !isspace((unsigned char)*p))
		p++;
	n = p - k;
	while (p < end && isspace((unsigned char)*p))
		p++;
	if (n == 0 || p >= end || *p != '=' || n >= blen)
		return 0;
	memcpy(buf, k, n);
	buf[n] = '\0';
	return 1;
}

/* "# key = ..." (a commented default): the key, else 0. */
static int comment_key(const char *line, size_t len, char *buf, size_t blen)
{
	const char *p = line, *end = line + len;

	while (p < end && isspace((unsigned char)*p))
		p++;
	if (p >= end || *p != '#')
		return 0;
	p++;
	return line_key(p, end - p, buf, blen);
}

static int emit_setting(struct growbuf *out, const struct config_setting *c)
{
	char line[4200];

	snprintf(line, sizeof(line), "%s = %s\n", c->key, c->value);
	return growbuf_append(out, line, strlen(line));
}

char *config_edit_text(const char *text, const struct config_setting *set, size_t n)
{
	struct growbuf out = { 0 };
	char key[64];
	int active[16] = { 0 }, done[16] = { 0 };
	const char *p;

	if (n > 16 || growbuf_append(&out, "", 0) < 0)
		return NULL;
	if (!text)
		text = "";
	/* Which keys have a line of their own already. */
	for (p = text; *p;) {
		const char *nl = strchr(p, '\n');
		size_t l = nl ? (size_t)(nl - p) : strlen(p);

		if (line_key(p, l, key, sizeof(key)))
			for (size_t i = 0; i < n; i++)
				active[i] |= strcmp(key, set[i].key) == 0;
		p += l + (nl ? 1 : 0);
	}
	for (p = text; *p;) {
		const char *nl = strchr(p, '\n');
		size_t l = nl ? (size_t)(nl - p) : strlen(p);
		int hit = -1, after = -1;

		if (line_key(p, l, key, sizeof(key))) {
			for (size_t i = 0; i < n; i++)
				if (strcmp(key, set[i].key) == 0)
					hit = (int)i;
		} else if (comment_key(p, l, key, sizeof(key))) {
			/* A missing key goes under its commented default. */
			for (size_t i = 0; i < n; i++)
				if (!active[i] && !done[i] && strcmp(key, set[i].key) == 0)
					after = (int)i;
		}
		if (hit < 0) {
			if (growbuf_append(&out, p, l) < 0 || growbuf_append(&out, "\n", 1) < 0)
				goto fail;
			if (after >= 0) {
				if (emit_setting(&out, &set[after]) < 0)
					goto fail;
				done[after] = 1;
			}
		} else if (!done[hit]) {
			/* Replaced where it was, so its neighbouring comments stay;
			 * later duplicates (the last one would win) are dropped. */
			if (emit_setting(&out, &set[hit]) < 0)
				goto fail;
			done[hit] = 1;
		}
		p += l + (nl ? 1 : 0);
	}
	for (size_t i = 0; i < n; i++)
		if (!done[i] && emit_setting(&out, &set[i]) < 0)
			goto fail;
	return out.data;
fail:
	growbuf_free(&out);
	return NULL;
}

/* The file to replace (a symlink's target) and its directory, created
 * when missing; *exists says whether the file is there. */
static int config_target(const char *path, char *target, char *dir, int *exists,
			 tardis_error_t *err)
{
	char *slash;

	/* A symlinked config (config management): its target is replaced. */
	if (realpath(path, target)) {
		*exists = 1;
	} else if (errno == ENOENT && strlen(path) < PATH_MAX && path[0] == '/') {
		strcpy(target, path);
		*exists = 0;
	} else {
		return tardis_make_error(err, errno, "config `%s`", path);
	}
	strcpy(dir, target);
	slash = strrchr(dir, '/');
	if (!slash)
		return tardis_make_error(err, EINVAL, "config path `%s` is not absolute", path);
	*slash = '\0';
	if (!*exists && dir[0] && mkdir_p(dir, 0755) < 0)
		return tardis_make_error(err, errno, "create `%s`", dir);
	return 0;
}

/* Writes out to a temp file beside target with st's mode and owner, then
 * renames it over target. */
static int config_replace(const char *target, const char *out, const struct stat *st,
			  tardis_error_t *err)
{
	char tmp[PATH_MAX + 16];
	cleanup_close int fd = -1;
	size_t off = 0, len = strlen(out);

	snprintf(tmp, sizeof(tmp), "%s.XXXXXX", target);
	fd = mkstemp(tmp);
	if (fd < 0)
		return tardis_make_error(err, errno, "create temp file for `%s`", target);
	if (fchmod(fd, st->st_mode & 07777) < 0 ||
	    (fchown(fd, st->st_uid, st->st_gid) < 0 && errno != EPERM))
		goto fail;
	while (off < len) {
		ssize_t w = write(fd, out + off, len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			goto fail;
		off += w;
	}
	if (fsync(fd) < 0 || rename(tmp, target) < 0)
		goto fail;
	return 0;
fail:
	{
		int e = errno ? errno : EIO;

		unlink(tmp);
		return tardis_make_error(err, e, "write `%s`", target);
	}
}

int config_file_update(const char *path, const struct config_setting *set, size_t n,
		       tardis_error_t *err)
{
	char target[PATH_MAX], dir[PATH_MAX];
	cleanup_free char *text = NULL;
	cleanup_free char *out = NULL;
	cleanup_close int dfd = -1;
	struct tardis_config check;
	struct stat st;
	int exists = 0;

	for (size_t i = 0; i < n; i++)
		if (strchr(set[i].value, '\n') || strchr(set[i].value, '#'))
			return tardis_make_error(err, EINVAL, "%s: a value cannot hold `#` or a newline",
						 set[i].key);
	if (config_target(path, target, dir, &exists, err) < 0)
		return -1;
	dfd = open(dir[0] ? dir : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return tardis_make_error(err, errno, "open `%s`", dir);
	/* Two editors at once: one after the other, neither change lost. */
	if (flock(dfd, LOCK_EX) < 0)
		return tardis_make_error(err, errno, "lock `%s`", dir);
	if (exists) {
		cleanup_close int rfd = open(target, O_RDONLY | O_CLOEXEC | O_NONBLOCK);

		if (rfd < 0)
			return tardis_make_error(err, errno, "open `%s`", target);
		if (config_read_fd(rfd, target, &st, &text, err) < 0)
			return -1;
	} else {
		memset(&st, 0, sizeof(st));
		st.st_mode = S_IFREG | 0644;
		st.st_uid = geteuid();
		st.st_gid = getegid();
	}
	out = config_edit_text(text, set, n);
	if (!out)
		return tardis_make_error(err, ENOMEM, "config");
	config_defaults(&check);
	if (config_parse(&check, out, err) < 0)
		return tardis_error_wrap(err, "refusing to write `%s`", target);
	if (config_replace(target, out, &st, err) < 0)
		return -1;
	if (fsync(dfd) < 0)
		return tardis_make_error(err, errno, "fsync `%s`", dir);
	return 0;
}
