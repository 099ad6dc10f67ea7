/*
 * Shared by the fuzz targets (libFuzzer, with ASan and UBSan): the input as a
 * C string, quiet logs, scratch directories on tmpfs (apply and validate do
 * fsync/syncfs, which on a disk would make every run cost milliseconds),
 * and invariant checks that abort so libFuzzer keeps the input.
 */
#ifndef TARDIS_FUZZ_H
#define TARDIS_FUZZ_H

#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FUZZ_ASSERT(c)                                                                  \
	do {                                                                            \
		if (!(c)) {                                                             \
			fprintf(stderr, "fuzz invariant failed: %s (%s:%d)\n", #c, __FILE__, \
				__LINE__);                                              \
			abort();                                                        \
		}                                                                       \
	} while (0)

/* A NUL-terminated copy (the parsers take C strings; an embedded NUL ends
 * the text as it would when read from a file). */
static inline char *fuzz_cstring(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (!s)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

static inline void fuzz_quiet_logs(void)
{
	tardis_log_open("fuzz", "/dev/null", TARDIS_LOG_ERROR);
}

/* The LLVMFuzzerInitialize of a target that needs nothing else. */
#define FUZZ_QUIET_INITIALIZE                                    \
	int LLVMFuzzerInitialize(int *argc, char ***argv)        \
	{                                                        \
		fuzz_quiet_logs();                               \
		return 0;                                        \
	}

static int fuzz_rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(p);
	return 0;
}

/* rm -rf, never following a symlink. */
static inline void fuzz_rm_rf(const char *path)
{
	nftw(path, fuzz_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* A fresh directory below $FUZZ_TMPDIR (set by tests/fuzz/run.sh), else
 * /dev/shm, else $TMPDIR or /tmp.  Returns a malloc'd path. */
static inline char *fuzz_scratch_dir(const char *name)
{
	const char *bases[] = { getenv("FUZZ_TMPDIR"), "/dev/shm", getenv("TMPDIR"), "/tmp" };
	char buf[4096];

	for (size_t i = 0; i < sizeof(bases) / sizeof(bases[0]); i++) {
		if (!bases[i] || !*bases[i])
			continue;
		snprintf(buf, sizeof(buf), "%s/tardis-fuzz-%s.XXXXXX", bases[i], name);
		if (mkdtemp(buf))
			return strdup(buf);
	}
	perror("fuzz: mkdtemp");
	abort();
}

/* Writes a whole file below dirfd (truncating). */
static inline void fuzz_write_at(int dirfd, const char *name, const void *data, size_t len)
{
	int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	const char *p = data;

	if (fd < 0) {
		perror(name);
		abort();
	}
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n <= 0) {
			perror(name);
			abort();
		}
		p += n;
		len -= (size_t)n;
	}
	close(fd);
}

#endif
