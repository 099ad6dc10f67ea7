/* sha256: FIPS 180-4 test vectors, incremental updates; checksum_fd with
 * SHA-256 and XXH3-128, of files read and of files mapped (a file that
 * shrinks while it is summed included). */
#include "unit_main.h"
#include "checksum.h"
#include "sha256.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The test's own XXH3-128: the library's SSE2 code, while checksum_fd
 * uses the AVX2 code on a CPU that has it. */
#define XXH_INLINE_ALL
#include <xxhash.h>

static void hash_hex(const void *data, size_t len, char hex[65])
{
	struct sha256_ctx c;
	uint8_t d[SHA256_DIGEST_SIZE];

	sha256_init(&c);
	sha256_update(&c, data, len);
	sha256_final(&c, d);
	sha256_hex(d, hex);
}

START_TEST(test_vectors)
{
	static const struct {
		const char *msg, *hex;
	} v[] = {
		{ "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
		{ "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
		{ "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
		  "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1" },
		{ "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
		  "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1" },
	};
	char hex[65];

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		hash_hex(v[i].msg, strlen(v[i].msg), hex);
		ck_assert_str_eq(hex, v[i].hex);
	}
}
END_TEST

START_TEST(test_million_a)
{
	struct sha256_ctx c;
	uint8_t d[SHA256_DIGEST_SIZE];
	char block[1000], hex[65];

	memset(block, 'a', sizeof(block));
	sha256_init(&c);
	for (int i = 0; i < 1000; i++)
		sha256_update(&c, block, sizeof(block));
	sha256_final(&c, d);
	sha256_hex(d, hex);
	ck_assert_str_eq(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}
END_TEST

/* Every split of a message at block-boundary-ish lengths gives the one-shot hash. */
START_TEST(test_incremental)
{
	uint8_t msg[300];
	char one[65], split[65];

	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)(i * 7 + 3);
	for (size_t len = 0; len <= sizeof(msg); len += 1) {
		hash_hex(msg, len, one);
		for (size_t cut = 0; cut <= len; cut += (len / 7) + 1) {
			struct sha256_ctx c;
			uint8_t d[SHA256_DIGEST_SIZE];

			sha256_init(&c);
			sha256_update(&c, msg, cut);
			sha256_update(&c, msg + cut, 0);
			sha256_update(&c, msg + cut, len - cut);
			sha256_final(&c, d);
			sha256_hex(d, split);
			ck_assert_msg(strcmp(one, split) == 0, "len %zu cut %zu", len, cut);
		}
	}
}
END_TEST

/* An empty file dir/f (open read-write) and a million 'a's to write. */
static int million_a_file(char *dir, char **path, char **big)
{
	int fd;

	*big = malloc(1000000);
	ck_assert_ptr_nonnull(*big);
	memset(*big, 'a', 1000000);
	ck_assert(asprintf(path, "%s/f", dir) > 0);
	fd = open(*path, O_RDWR | O_CREAT | O_EXCL, 0600);
	ck_assert_int_ge(fd, 0);
	return fd;
}

START_TEST(test_fd)
{
	char *dir = unit_tmpdir(), *path = NULL, *big = NULL, hex[65];
	uint64_t size = 1;
	int fd = million_a_file(dir, &path, &big);

	ck_assert_int_eq(checksum_fd(fd, CHECKSUM_SHA256, hex, &size), 0);
	ck_assert_str_eq(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	ck_assert_uint_eq(size, 0);

	ck_assert_int_eq(write(fd, big, 1000000), 1000000);
	/* The file offset is at EOF: checksum_fd still reads from offset 0. */
	ck_assert_int_eq(checksum_fd(fd, CHECKSUM_SHA256, hex, &size), 0);
	ck_assert_str_eq(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
	ck_assert_uint_eq(size, 1000000);
	ck_assert_int_eq(lseek(fd, 0, SEEK_CUR), 1000000);
	close(fd);

	ck_assert_int_eq(checksum_fd(-1, CHECKSUM_SHA256, hex, NULL), -1);
	unit_rmrf(dir);
	free(big);
	free(path);
	free(dir);
}
END_TEST

/* XXH3-128, the sums of images of format 3: xxhsum -H2's answers. */
START_TEST(test_xxh128_fd)
{
	char *dir = unit_tmpdir(), *path = NULL, *big = NULL, hex[CHECKSUM_HEX_MAX];
	uint64_t size = 1;
	int fd = million_a_file(dir, &path, &big);

	ck_assert_str_eq(checksum_field(CHECKSUM_XXH128), "xxh128");

	ck_assert_int_eq(checksum_fd(fd, CHECKSUM_XXH128, hex, &size), 0);
	ck_assert_str_eq(hex, "99aa06d3014798d86001c324468d497f");
	ck_assert_uint_eq(size, 0);

	ck_assert_int_eq(write(fd, "abc", 3), 3);
	ck_assert_int_eq(checksum_fd(fd, CHECKSUM_XXH128, hex, &size), 0);
	ck_assert_str_eq(hex, "06b05ab6733a618578af5f94892f3950");
	ck_assert_uint_eq(size, 3);

	/* Over several reads of checksum_fd's chunk. */
	ck_assert_int_eq(ftruncate(fd, 0), 0);
	ck_assert_int_eq(pwrite(fd, big, 1000000, 0), 1000000);
	ck_assert_int_eq(checksum_fd(fd, CHECKSUM_XXH128, hex, &size), 0);
	ck_assert_str_eq(hex, "a545df8e384a9579b1fd6fae5285c4eb");
	ck_assert_uint_eq(size, 1000000);
	close(fd);

	ck_assert_int_eq(checksum_fd(-1, CHECKSUM_XXH128, hex, NULL), -1);
	ck_assert_int_eq(errno, EBADF);
	unit_rmrf(dir);
	free(big);
	free(path);
	free(dir);
}
END_TEST

/* A file of size bytes, made of a pattern no sum could get right by luck. */
static int pattern_file(const char *dir, size_t size, uint8_t **data)
{
	char *path = NULL;
	uint64_t x = 0x9e3779b97f4a7c15ull;
	int fd;

	*data = malloc(size);
	ck_assert_ptr_nonnull(*data);
	for (size_t i = 0; i < size; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		(*data)[i] = (uint8_t)x;
	}
	ck_assert(asprintf(&path, "%s/p%zu", dir, size) > 0);
	fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pwrite(fd, *data, size, 0), (ssize_t)size);
	free(path);
	return fd;
}

/* Files from the mapping's threshold (1 MiB) up, over several of its
 * windows (8 MiB), a window and a bit: the same sums as over the bytes
 * in memory, for both kinds. */
START_TEST(test_mapped_sums)
{
	static const size_t sizes[] = { (1 << 20) - 1, 1 << 20, (8 << 20) + 12345, 20 << 20 };
	char *dir = unit_tmpdir();

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint8_t *data;
		int fd = pattern_file(dir, sizes[i], &data);
		char hex[CHECKSUM_HEX_MAX], want[CHECKSUM_HEX_MAX];
		XXH128_canonical_t c;
		uint64_t size = 0;

		ck_assert_int_eq(checksum_fd(fd, CHECKSUM_XXH128, hex, &size), 0);
		ck_assert_uint_eq(size, sizes[i]);
		XXH128_canonicalFromHash(&c, XXH3_128bits(data, sizes[i]));
		for (size_t k = 0; k < sizeof(c.digest); k++)
			sprintf(want + 2 * k, "%02x", c.digest[k]);
		ck_assert_str_eq(hex, want);

		ck_assert_int_eq(checksum_fd(fd, CHECKSUM_SHA256, hex, &size), 0);
		hash_hex(data, sizes[i], want);
		ck_assert_str_eq(hex, want);
		close(fd);
		free(data);
	}
	unit_rmrf(dir);
	free(dir);
}
END_TEST

struct shrinker {
	int fd, stop;
	size_t size;
};

static void *shrink_and_grow(void *arg)
{
	struct shrinker *s = arg;

	while (!__atomic_load_n(&s->stop, __ATOMIC_ACQUIRE)) {
		if (ftruncate(s->fd, 4096) < 0)
			break;
		usleep(3000);
		if (ftruncate(s->fd, (off_t)s->size) < 0)
			break;
		usleep(1000);
	}
	return NULL;
}

/* Another writer truncates the file again and again while it is summed:
 * each sum either completes or fails with EIO (the mapping's SIGBUS),
 * the process lives on, and a sum after that is right. */
START_TEST(test_mapped_file_shrinks)
{
	char *dir = unit_tmpdir(), hex[CHECKSUM_HEX_MAX];
	struct shrinker s = { .size = 32 << 20 };
	uint8_t *data;
	pthread_t t;
	int eio = 0, ok = 0;

	s.fd = pattern_file(dir, s.size, &data);
	ck_assert_int_eq(pthread_create(&t, NULL, shrink_and_grow, &s), 0);
	for (int i = 0; i < 100; i++) {
		usleep(i % 4 * 500); /* sums that start at each phase of the writer's */
		errno = 0;
		if (checksum_fd(s.fd, CHECKSUM_XXH128, hex, NULL) == 0) {
			ok++;
		} else {
			ck_assert_int_eq(errno, EIO);
			eio++;
		}
	}
	__atomic_store_n(&s.stop, 1, __ATOMIC_RELEASE);
	pthread_join(t, NULL);
	ck_assert_int_eq(ok + eio, 100);
	ck_assert_int_eq(ftruncate(s.fd, 0), 0);
	ck_assert_int_eq(pwrite(s.fd, data, 2 << 20, 0), 2 << 20);
	ck_assert_int_eq(checksum_fd(s.fd, CHECKSUM_SHA256, hex, NULL), 0);
	{
		char want[65];

		hash_hex(data, 2 << 20, want);
		ck_assert_str_eq(hex, want);
	}
	fprintf(stderr, "mapped_file_shrinks: %d sums failed with EIO, %d completed\n", eio, ok);
	close(s.fd);
	free(data);
	unit_rmrf(dir);
	free(dir);
}
END_TEST

/* A run fed while the file grows (as CRIU writes a page file): the sum at
 * its end is the whole file's; a file cut below what was summed fails. */
START_TEST(test_run_grows)
{
	static const size_t steps[] = { 3 << 20, (5 << 20) + 7, 100, 12 << 20 };
	char *dir = unit_tmpdir(), hex[CHECKSUM_HEX_MAX], want[CHECKSUM_HEX_MAX];
	size_t total = 0, all = 0;
	struct checksum_run *r = checksum_run_new(CHECKSUM_XXH128);
	uint8_t *data;
	uint64_t size = 0;
	int fd;

	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++)
		all += steps[i];
	fd = pattern_file(dir, all, &data);
	ck_assert_int_eq(ftruncate(fd, 0), 0);
	ck_assert_ptr_nonnull(r);
	for (size_t i = 0; i + 1 < sizeof(steps) / sizeof(steps[0]); i++) {
		ck_assert_int_eq(pwrite(fd, data + total, steps[i], (off_t)total), (ssize_t)steps[i]);
		total += steps[i];
		/* Fed in pieces (4 MiB at most a call), to where the file ends. */
		while (checksum_run_size(r) < total)
			ck_assert_int_eq(checksum_run_feed(r, fd, 4 << 20), 0);
		ck_assert_uint_eq(checksum_run_size(r), total);
	}
	ck_assert_int_eq(pwrite(fd, data + total, steps[3], (off_t)total), (ssize_t)steps[3]);
	ck_assert_int_eq(checksum_run_end(r, fd, hex, &size), 0);
	ck_assert_uint_eq(size, all);
	ck_assert_int_eq(checksum_fd(fd, CHECKSUM_XXH128, want, NULL), 0);
	ck_assert_str_eq(hex, want);

	r = checksum_run_new(CHECKSUM_SHA256);
	ck_assert_int_eq(checksum_run_feed(r, fd, 6 << 20), 0);
	ck_assert_int_eq(ftruncate(fd, 1 << 20), 0);
	errno = 0;
	ck_assert_int_eq(checksum_run_end(r, fd, hex, NULL), -1);
	ck_assert_int_eq(errno, EIO);
	checksum_run_free(NULL);
	close(fd);
	free(data);
	unit_rmrf(dir);
	free(dir);
}
END_TEST

UNIT_SUITE(sha256, "sha256", test_vectors, test_million_a, test_incremental, test_fd, test_xxh128_fd,
	   test_mapped_sums, test_mapped_file_shrinks, test_run_grows)
