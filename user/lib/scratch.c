#include "scratch.h"
#include "cleanup.h"
#include "log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

const char *const scratch_names[SCRATCH_COUNT] = { SCRATCH_WORK, SCRATCH_RESTORE };

int scratch_dir(struct tardis_store *s, const char *state_dir, const char *what, const char *ns,
		const char *id, char *out, size_t len)
{
	cleanup_error tardis_error_t err = NULL;
	char rel[PATH_MAX];
	int fd;

	if (snprintf(out, len, "%s/%s/%s/%s", state_dir, what, ns, id) >= (int)len ||
	    snprintf(rel, sizeof(rel), "%s/%s/%s", what, ns, id) >= (int)sizeof(rel)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = store_path_dir(s, rel, 1, &err);
	if (fd < 0) {
		log_error("%s/%s: %s dir: %s", ns, id, what, tardis_error_msg(err));
		errno = tardis_error_errno(err);
		return -1;
	}
	close(fd);
	return 0;
}

void scratch_tighten(struct tardis_store *s, const char *what, const char *ns, const char *id)
{
	cleanup_error tardis_error_t err = NULL;
	cleanup_dir DIR *d = NULL;
	char rel[PATH_MAX];
	struct dirent *de;
	int fd;

	snprintf(rel, sizeof(rel), "%s/%s/%s", what, ns, id);
	fd = store_path_dir(s, rel, 0, &err);
	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((de = readdir(d))) {
		cleanup_close int f = openat(dirfd(d), de->d_name,
					     O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		struct stat st;

		if (f >= 0 && fstat(f, &st) == 0 && S_ISREG(st.st_mode) &&
		    (st.st_mode & 07777) != 0600 && fchmod(f, 0600) < 0)
			log_warn("chmod %s/%s: %s", rel, de->d_name, strerror(errno));
	}
}
