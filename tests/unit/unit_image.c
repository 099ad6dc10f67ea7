/* image: a sealed image's files are summed at create unless they are the
 * very files this boot sealed (IMAGE_TRUST_SEALED); a file changed in
 * place, or an image from another boot, is read and summed. */
#include "unit_main.h"
#include "error.h"
#include "image.h"

#include <fcntl.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

static void put(const char *dir, const char *name, const void *data, size_t len)
{
	char path[512];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
	close(fd);
}

/* A dir as runc checkpoint leaves it, with a 2 MiB page file. */
static char *fake_dump(void)
{
	static const char log[] = "(00.1) dumping\n(00.2) Dumping finished successfully\n";
	const uint32_t magic[2] = { CRIU_IMG_SERVICE_MAGIC, CRIU_INVENTORY_MAGIC };
	char *dir = unit_tmpdir(), *img = NULL;
	size_t n = 2 << 20;
	char *pages = malloc(n);

	for (size_t i = 0; i < n; i++)
		pages[i] = (char)(i * 131 + (i >> 12));
	ck_assert(asprintf(&img, "%s/img", dir) > 0);
	ck_assert_int_eq(mkdir(img, 0700), 0);
	put(img, IMAGE_DUMP_LOG, log, sizeof(log) - 1);
	put(img, IMAGE_INVENTORY, magic, sizeof(magic));
	put(img, IMAGE_DESCRIPTORS, "[]", 2);
	put(img, "pages-1.img", pages, n);
	free(pages);
	free(dir);
	return img;
}

static void seal_with(const char *img, struct image_progress *p)
{
	struct image_meta m = { .ns = "ns", .id = "c1", .created_at_ns = 1 };
	tardis_error_t err = NULL;

	ck_assert_msg(image_seal(img, &m, p, NULL, &err) == 0, "%s", tardis_error_msg(err));
}

static void seal(const char *img)
{
	seal_with(img, NULL);
}

/* The files check's detail; *valid the verdict. */
static const char *files_detail(const char *img, int flags, int *valid)
{
	static struct image_report r;

	*valid = image_validate_flags(img, flags, &r);
	for (int i = 0; i < r.n; i++)
		if (strcmp(r.checks[i].name, "files") == 0)
			return r.checks[i].detail;
	return "";
}

START_TEST(test_trust_sealed)
{
	char *img = fake_dump(), path[600];
	const char *d;
	int valid, fd;

	seal(img);
	/* As sealed: not read again at create; read by everyone else. */
	d = files_detail(img, IMAGE_TRUST_SEALED, &valid);
	ck_assert_int_eq(valid, 1);
	ck_assert_msg(strstr(d, "4 files") && strstr(d, "(4 unchanged"), "%s", d);
	d = files_detail(img, 0, &valid);
	ck_assert_int_eq(valid, 1);
	ck_assert_msg(!strstr(d, "not read again"), "%s", d);

	/* One byte changed in place, same size: summed, and found. */
	snprintf(path, sizeof(path), "%s/pages-1.img", img);
	fd = open(path, O_WRONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pwrite(fd, "X", 1, 1 << 20), 1);
	close(fd);
	d = files_detail(img, IMAGE_TRUST_SEALED, &valid);
	ck_assert_int_eq(valid, 0);
	ck_assert_msg(strstr(d, "pages-1.img: checksum mismatch"), "%s", d);

	/* Sealed again, then touched (chmod: its change time moves): read. */
	seal(img);
	ck_assert_int_eq(chmod(path, 0600), 0);
	d = files_detail(img, IMAGE_TRUST_SEALED, &valid);
	ck_assert_int_eq(valid, 1);
	ck_assert_msg(strstr(d, "(3 unchanged"), "%s", d);
	unit_rmrf(img);
	free(img);
}
END_TEST

/* Sealed in another boot (the manifest's boot id is not this one's):
 * every file is read. */
START_TEST(test_other_boot_read)
{
	char *img = fake_dump(), path[600], *text = NULL, *at;
	const char *d;
	struct stat st;
	int valid, fd;

	seal(img);
	snprintf(path, sizeof(path), "%s/%s", img, IMAGE_MANIFEST);
	fd = open(path, O_RDWR);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fstat(fd, &st), 0);
	text = calloc(1, (size_t)st.st_size + 1);
	ck_assert_int_eq(read(fd, text, (size_t)st.st_size), st.st_size);
	at = strstr(text, "\"boot_id\":");
	ck_assert_ptr_nonnull(at);
	at = strchr(at + 10, '"');
	ck_assert_ptr_nonnull(at);
	memset(at + 1, '0', 8); /* another boot's */
	ck_assert_int_eq(pwrite(fd, text, (size_t)st.st_size, 0), st.st_size);
	close(fd);
	d = files_detail(img, IMAGE_TRUST_SEALED, &valid);
	ck_assert_int_eq(valid, 1);
	ck_assert_msg(strstr(d, "checksums match") && !strstr(d, "not read again"), "%s", d);
	free(text);
	unit_rmrf(img);
	free(img);
}
END_TEST

/* The page files summed while "CRIU" writes them (image_dump_progress
 * between writes), the rest at the seal: the sums are the files' (a full
 * read validates them); a page file replaced after it was partly summed
 * is summed in full. */
START_TEST(test_progress_sums)
{
	char *img = fake_dump(), path[600], path2[600];
	size_t n = 24 << 20, done = 0;
	char *pages = malloc(n);
	struct image_progress *p = image_progress_new();
	const char *d;
	int valid, fd;

	for (size_t i = 0; i < n; i++)
		pages[i] = (char)((i * 7) ^ (i >> 9));
	snprintf(path, sizeof(path), "%s/pages-2.img", img);
	snprintf(path2, sizeof(path2), "%s/pages-1.img", img);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ck_assert_int_ge(fd, 0);
	for (size_t step = (3 << 20) + 11; done < n; done += step) {
		if (step > n - done)
			step = n - done;
		ck_assert_int_eq(write(fd, pages + done, step), (ssize_t)step);
		image_dump_progress(img, p);
	}
	close(fd);
	/* pages-1.img: partly summed, then another file by that name. */
	image_dump_progress(img, p);
	ck_assert_int_eq(unlink(path2), 0);
	fd = open(path2, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, pages, 1 << 20), 1 << 20);
	close(fd);
	seal_with(img, p);
	image_progress_free(p);
	d = files_detail(img, 0, &valid);
	ck_assert_msg(valid == 1 && strstr(d, "5 files"), "%s", d);
	free(pages);
	unit_rmrf(img);
	free(img);
}
END_TEST

/* image_presum while runc finishes, then what CRIU writes or changes
 * after it (its stats, a file appended to, one replaced): the seal takes
 * a presummed sum only for a file unchanged since -- the image validates
 * (a full read), and every file is 0600. */
START_TEST(test_presum)
{
	const uint32_t magic[3] = { CRIU_IMG_SERVICE_MAGIC, CRIU_INVENTORY_MAGIC, 7 };
	char *img = fake_dump(), path[600], tmp[600];
	struct image_progress *p = image_progress_new();
	struct stat st;
	const char *d;
	int valid, fd;

	image_presum(img, p);
	snprintf(path, sizeof(path), "%s/%s", img, IMAGE_DESCRIPTORS);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 07777, 0600);
	fd = open(path, O_WRONLY | O_APPEND);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, " ", 1), 1);
	close(fd);
	snprintf(tmp, sizeof(tmp), "%s/.inv", img);
	snprintf(path, sizeof(path), "%s/%s", img, IMAGE_INVENTORY);
	put(img, ".inv", magic, sizeof(magic));
	ck_assert_int_eq(rename(tmp, path), 0);
	put(img, "stats-dump", "stats", 5);
	seal_with(img, p);
	image_progress_free(p);
	d = files_detail(img, 0, &valid);
	ck_assert_msg(valid == 1 && strstr(d, "5 files"), "%s", d);
	snprintf(path, sizeof(path), "%s/stats-dump", img);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 07777, 0600);
	unit_rmrf(img);
	free(img);
}
END_TEST

UNIT_SUITE(image, "image", test_trust_sealed, test_other_boot_read, test_progress_sums, test_presum)
