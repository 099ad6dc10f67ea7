/*
 * baseline_parse: a rootfs's baseline (baseline.h), which lies in the
 * state directory and is read back at every checkpoint.  Whatever it
 * holds, parsing never crashes, every path it keeps is safe (relative, no
 * `..`), and comparing and listing the gone ones work on what it kept.
 */
#include "fuzz.h"
#include "baseline.h"

/* Relative, and no component is `..` or `.` or empty. */
static int check_gone(void *arg, const char *path, tardis_error_t *err)
{
	(void)arg;
	(void)err;
	FUZZ_ASSERT(path[0] && path[0] != '/');
	for (const char *p = path; *p;) {
		size_t n = strcspn(p, "/");

		FUZZ_ASSERT(n > 0 && !(n == 1 && p[0] == '.') && !(n == 2 && p[0] == '.' && p[1] == '.'));
		p += n + (p[n] == '/');
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct baseline *b = NULL;
	tardis_error_t err = NULL;
	struct stat st = { .st_mode = 0100644 };

	if (baseline_parse((const char *)data, size, &b, &err) < 0) {
		FUZZ_ASSERT(b == NULL);
		tardis_error_free(&err);
		return 0;
	}
	baseline_same(b, "a", &st);
	FUZZ_ASSERT(baseline_foreach_gone(b, check_gone, NULL, &err) == 0);
	baseline_free(b);
	return 0;
}
