#include "runc_exec.h"
#include "cleanup.h"
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* a: a stat of the candidate, taken once by the caller. */
static int is_self(const struct stat *a)
{
	struct stat b;

	if (stat("/proc/self/exe", &b) < 0)
		return 0;
	return a->st_dev == b.st_dev && a->st_ino == b.st_ino;
}

/* st: path's stat. */
static int executable(const char *path, const struct stat *st)
{
	return S_ISREG(st->st_mode) && access(path, X_OK) == 0;
}

int runc_find(const char *configured, char *out, size_t len, tardis_error_t *err)
{
	const char *path = getenv("PATH");
	cleanup_free char *copy = NULL;
	char *save = NULL, *dir;

	if (configured && *configured) {
		struct stat st;

		if (configured[0] != '/')
			return tardis_make_error(err, EINVAL, "runc `%s` is not an absolute path",
						 configured);
		if (stat(configured, &st) < 0 || !executable(configured, &st))
			return tardis_make_error(err, ENOENT, "runc `%s` is not executable",
						 configured);
		if (is_self(&st))
			return tardis_make_error(err, ELOOP, "runc `%s` is tardis-runc itself",
						 configured);
		snprintf(out, len, "%s", configured);
		return 0;
	}
	copy = strdup(path && *path ? path : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
	if (!copy)
		return tardis_make_error(err, ENOMEM, "PATH");
	for (dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
		char cand[4096];
		struct stat st;

		if (dir[0] != '/')
			continue; /* a relative PATH entry could point anywhere */
		if (snprintf(cand, sizeof(cand), "%s/runc", dir) >= (int)sizeof(cand))
			continue;
		if (stat(cand, &st) == 0 && executable(cand, &st) && !is_self(&st)) {
			snprintf(out, len, "%s", cand);
			return 0;
		}
	}
	return tardis_make_error(err, ENOENT, "no runc found on PATH (other than tardis-runc)");
}

void runc_exec_original(const char *runc, char **argv)
{
	char *saved = argv[0];

	argv[0] = (char *)runc;
	execv(runc, argv);
	argv[0] = saved;
}

void shim_log_open(const struct tardis_config *cfg)
{
	tardis_log_open("tardis-runc", cfg->log_file[0] ? cfg->log_file : SHIM_DEFAULT_LOG,
			cfg->log_level);
}

int runc_find_reported(const struct tardis_config *cfg, char *out, size_t len)
{
	cleanup_error tardis_error_t err = NULL;

	if (runc_find(cfg->runc, out, len, &err) == 0)
		return 0;
	shim_log_open(cfg);
	log_error("%s", tardis_error_msg(err));
	fprintf(stderr, "tardis-runc: %s\n", tardis_error_msg(err));
	return -1;
}
