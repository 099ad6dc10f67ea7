#include "config.h"
#include "deadline.h"
#include "log.h"
#include "oci_config.h"
#include "state.h"
#include "cleanup.h"
#include "tardis_exit.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

void config_defaults(struct tardis_config *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->state_dir, sizeof(c->state_dir), "%s", TARDIS_STATE_DIR_DEFAULT);
	snprintf(c->bpf_dir, sizeof(c->bpf_dir), "%s", TARDIS_PIN_DIR_DEFAULT);
	c->log_level = TARDIS_LOG_INFO;
	c->restore_timeout = 60;
	c->checkpoint_timeout = 120;
	c->lease_timeout = 30;
	c->restore_wait = 60;
	c->max_restore_attempts = 3;
	c->networkfs_timeout = 10;
	c->agent_rt_priority = 1;
	snprintf(c->image_roots, sizeof(c->image_roots), "%s/checkpoints", c->state_dir);
}

static int set_str(char *dst, size_t len, const char *v)
{
	if (strlen(v) >= len)
		return -1;
	strcpy(dst, v);
	return 0;
}

static int set_int(int *dst, const char *v)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(v, &end, 10);
	if (errno || end == v || *end || n <= 0 || n > 86400)
		return -1;
	*dst = (int)n;
	return 0;
}

/* Colon-separated clean absolute paths, 1 to IMAGE_ROOTS_MAX of them. */
static int set_roots(char *dst, size_t len, const char *v)
{
	char one[PATH_MAX];
	int n = 0;

	for (const char *p = v;; n++) {
		size_t l = strcspn(p, ":");

		if (l == 0 || l >= sizeof(one) || n == IMAGE_ROOTS_MAX)
			return -1;
		memcpy(one, p, l);
		one[l] = '\0';
		if (!path_is_clean_absolute(one))
			return -1;
		if (!p[l])
			break;
		p += l + 1;
	}
	return set_str(dst, len, v);
}

static int config_set(struct tardis_config *c, const char *k, const char *v)
{
	if (strcmp(k, "runc") == 0)
		return set_str(c->runc, sizeof(c->runc), v);
	if (strcmp(k, "criu") == 0)
		return set_str(c->criu, sizeof(c->criu), v);
	if (strcmp(k, "state_dir") == 0)
		return v[0] == '/' ? set_str(c->state_dir, sizeof(c->state_dir), v) : -1;
	if (strcmp(k, "bpf_dir") == 0)
		return v[0] == '/' ? set_str(c->bpf_dir, sizeof(c->bpf_dir), v) : -1;
	if (strcmp(k, "log_file") == 0)
		return set_str(c->log_file, sizeof(c->log_file), v);
	if (strcmp(k, "log_level") == 0) {
		int l = tardis_log_level_parse(v);

		if (l < 0)
			return -1;
		c->log_level = l;
		return 0;
	}
	if (strcmp(k, "restore_timeout") == 0)
		return set_int(&c->restore_timeout, v);
	if (strcmp(k, "checkpoint_timeout") == 0)
		return set_int(&c->checkpoint_timeout, v);
	if (strcmp(k, "node_name") == 0)
		return store_id_valid(v) ? set_str(c->node_name, sizeof(c->node_name), v) : -1;
	if (strcmp(k, "lease_timeout") == 0)
		return set_int(&c->lease_timeout, v);
	if (strcmp(k, "restore_wait") == 0)
		return set_int(&c->restore_wait, v);
	if (strcmp(k, "max_restore_attempts") == 0)
		return set_int(&c->max_restore_attempts, v);
	if (strcmp(k, "networkfs_timeout") == 0)
		return set_int(&c->networkfs_timeout, v);
	if (strcmp(k, "agent_rt_priority") == 0) {
		if (strcmp(v, "0") == 0) {
			c->agent_rt_priority = 0;
			return 0;
		}
		return set_int(&c->agent_rt_priority, v) < 0 || c->agent_rt_priority > 99 ? -1 : 0;
	}
	if (strcmp(k, "image_roots") == 0)
		return set_roots(c->image_roots, sizeof(c->image_roots), v);
	return -2;
}

int config_parse(struct tardis_config *c, const char *text, tardis_error_t *err)
{
	cleanup_free char *copy = strdup(text);
	char *save = copy, *line;
	int lineno = 0;

	if (!copy)
		return tardis_make_error(err, ENOMEM, "config");
	/* strsep, not strtok: empty lines count in the line numbers. */
	while ((line = strsep(&save, "\n"))) {
		char *eq, *k, *v, *hash;
		int r;

		lineno++;
		hash = strchr(line, '#');
		if (hash)
			*hash = '\0';
		k = str_trim(line);
		if (!*k)
			continue;
		eq = strchr(k, '=');
		if (!eq)
			return tardis_make_error(err, EINVAL, "config line %d: expected key = value",
						 lineno);
		*eq = '\0';
		k = str_trim(k);
		v = str_trim(eq + 1);
		r = config_set(c, k, v);
		if (r == -2)
			return tardis_make_error(err, EINVAL, "config line %d: unknown key `%s`",
						 lineno, k);
		if (r < 0)
			return tardis_make_error(err, EINVAL, "config line %d: bad value for `%s`",
						 lineno, k);
	}
	return 0;
}

const char *config_file_path(void)
{
	const char *p = getenv("TARDIS_CONFIG");

	return p && *p ? p : TARDIS_CONFIG_FILE;
}

int config_read_fd(int fd, const char *path, struct stat *st, char **text, tardis_error_t *err)
{
	ssize_t n;

	if (fstat(fd, st) < 0 || !S_ISREG(st->st_mode) || st->st_size > (1 << 20))
		return tardis_make_error(err, EINVAL,
					 "config `%s`: not a regular file of at most 1 MiB", path);
	*text = calloc(1, st->st_size + 1);
	if (!*text)
		return tardis_make_error(err, ENOMEM, "config");
	n = read(fd, *text, st->st_size);
	if (n < 0)
		return tardis_make_error(err, errno, "read config `%s`", path);
	(*text)[n] = '\0';
	return 0;
}

const char *config_node_name(const struct tardis_config *c)
{
	static struct utsname un;

	if (c->node_name[0])
		return c->node_name;
	if (!un.nodename[0] && uname(&un) < 0)
		return "";
	return un.nodename;
}

int config_load(struct tardis_config *c, tardis_error_t *err)
{
	static const struct {
		const char *env, *key;
	} overrides[] = {
		{ "TARDIS_RUNC", "runc" },         { "TARDIS_CRIU", "criu" },
		{ "TARDIS_STATE_DIR", "state_dir" }, { "TARDIS_BPF_DIR", "bpf_dir" },
		{ "TARDIS_LOG_FILE", "log_file" }, { "TARDIS_LOG_LEVEL", "log_level" },
		{ "TARDIS_NODE_NAME", "node_name" }, { "TARDIS_IMAGE_ROOTS", "image_roots" },
	};
	const char *path = config_file_path();
	cleanup_free char *text = NULL;
	cleanup_close int fd = -1;
	struct stat st;

	config_defaults(c);
	c->image_roots[0] = '\0'; /* follows the state_dir read, unless set */
	/* Unlike state files, the config may be a symlink (config management). */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0 && errno != ENOENT)
		return tardis_make_error(err, errno, "config `%s`", path);
	if (fd >= 0) {
		if (config_read_fd(fd, path, &st, &text, err) < 0)
			return -1;
		if (config_parse(c, text, err) < 0)
			return tardis_error_wrap(err, "config `%s`", path);
	}
	for (size_t i = 0; i < sizeof(overrides) / sizeof(overrides[0]); i++) {
		const char *v = getenv(overrides[i].env);

		if (v && *v && config_set(c, overrides[i].key, v) < 0)
			return tardis_make_error(err, EINVAL, "bad value in $%s", overrides[i].env);
	}
	if (!c->image_roots[0] &&
	    snprintf(c->image_roots, sizeof(c->image_roots), "%s/checkpoints", c->state_dir) >=
		    (int)sizeof(c->image_roots))
		return tardis_make_error(err, ENAMETOOLONG, "state_dir too long for image_roots");
	deadline_set_networkfs_default(c->networkfs_timeout);
	return 0;
}
