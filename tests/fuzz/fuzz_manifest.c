/*
 * image_manifest_parse and image_validate: an image's manifest.json, which
 * may come from a network filesystem that every node writes.  The input is
 * the manifest of an otherwise complete image directory on tmpfs (CRIU's
 * files, files.tar, deleted.list, and a FIFO that must never be opened for
 * reading: that would hang a create).
 */
#include "fuzz.h"
#include "image.h"

#include <cjson/cJSON.h>

static char *dir;
static int dfd = -1;

static void cleanup_dir_(void)
{
	if (dfd >= 0)
		close(dfd);
	if (dir)
		fuzz_rm_rf(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const uint32_t inventory[] = { CRIU_IMG_SERVICE_MAGIC, CRIU_INVENTORY_MAGIC, 0, 0 };
	static const char dump_log[] = "(00.000000) Dumping processes (pid: 1)\n"
				       "(00.100000) Dumping finished successfully\n";
	static const char descriptors[] = "[\"/dev/null\",\"pipe:[1]\",\"pipe:[2]\"]";
	static const char deleted[] = "whiteout etc/motd\nopaque data\n";
	char *tar = calloc(1, 1024);

	fuzz_quiet_logs();
	dir = fuzz_scratch_dir("manifest");
	atexit(cleanup_dir_);
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || !tar)
		abort();
	fuzz_write_at(dfd, IMAGE_DUMP_LOG, dump_log, strlen(dump_log));
	fuzz_write_at(dfd, IMAGE_INVENTORY, inventory, sizeof(inventory));
	fuzz_write_at(dfd, IMAGE_DESCRIPTORS, descriptors, strlen(descriptors));
	fuzz_write_at(dfd, "pages-1.img", "\0\1\2\3", 4);
	fuzz_write_at(dfd, "files.tar", tar, 1024);
	fuzz_write_at(dfd, "deleted.list", deleted, strlen(deleted));
	if (mkfifoat(dfd, "fifo", 0600) < 0 || mkdirat(dfd, "subdir", 0700) < 0 ||
	    symlinkat("/etc/passwd", dfd, "link") < 0) {
		perror("fuzz: image dir");
		abort();
	}
	free(tar);
	return 0;
}

static void check_report(const struct image_report *r)
{
	char reason[512];
	int all_ok = 1;

	FUZZ_ASSERT(r->n >= 0 && r->n <= (int)(sizeof(r->checks) / sizeof(r->checks[0])));
	for (int i = 0; i < r->n; i++) {
		FUZZ_ASSERT(r->checks[i].name != NULL);
		FUZZ_ASSERT(strnlen(r->checks[i].detail, sizeof(r->checks[i].detail)) <
			    sizeof(r->checks[i].detail));
		all_ok &= r->checks[i].ok;
	}
	FUZZ_ASSERT(strnlen(r->ns, sizeof(r->ns)) < sizeof(r->ns));
	FUZZ_ASSERT(strnlen(r->id, sizeof(r->id)) < sizeof(r->id));
	FUZZ_ASSERT(strnlen(r->created_at, sizeof(r->created_at)) < sizeof(r->created_at));
	image_report_reason(r, reason, sizeof(reason));
	if (r->valid)
		FUZZ_ASSERT(all_ok && strcmp(reason, "valid") == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_cstring(data, size);
	struct image_report r;
	cJSON *files = NULL;
	int v;

	memset(&r, 0, sizeof(r));
	r.valid = 1;
	if (image_manifest_parse(text, &r, &files) == 0)
		FUZZ_ASSERT(cJSON_IsArray(files));
	else
		FUZZ_ASSERT(files == NULL && !r.valid);
	check_report(&r);
	cJSON_Delete(files);

	fuzz_write_at(dfd, IMAGE_MANIFEST, data, size);
	v = image_validate(dir, &r);
	FUZZ_ASSERT(v == 0 || v == 1);
	FUZZ_ASSERT(v == r.valid);
	/* Valid means every check ran and passed. */
	if (v == 1)
		FUZZ_ASSERT(r.n == 6);
	check_report(&r);
	free(text);
	return 0;
}
