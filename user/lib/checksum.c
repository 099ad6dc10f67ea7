#include "checksum.h"
#include "deadline.h"
#include "sha256.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

/* The implementation compiled into this file (no libxxhash.so to load at
 * each tardis-runc-full call); its code is the library's own. */
#define XXH_INLINE_ALL
#include <xxhash.h>

/* What checksum_fd reads at once: the copy stays in the L2 cache while it
 * is summed. */
#define FD_CHUNK (256 * 1024)

const char *checksum_field(enum checksum_kind k)
{
	return k == CHECKSUM_SHA256 ? "sha256" : "xxh128";
}

static void hex_of(const uint8_t *d, size_t n, char *hex)
{
	static const char x[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		hex[2 * i] = x[d[i] >> 4];
		hex[2 * i + 1] = x[d[i] & 15];
	}
	hex[2 * n] = '\0';
}

int checksum_fd(int fd, enum checksum_kind k, char hex[CHECKSUM_HEX_MAX], uint64_t *size)
{
	struct sha256_ctx sha;
	XXH3_state_t xxh;
	uint8_t *buf = malloc(FD_CHUNK);
	uint64_t off = 0;
	int e = 0;

	if (!buf)
		return -1;
	if (k == CHECKSUM_SHA256)
		sha256_init(&sha);
	else
		XXH3_128bits_reset(&xxh);
	for (;;) {
		ssize_t r = pread(fd, buf, FD_CHUNK, (off_t)off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			e = errno;
		if (r <= 0)
			break;
		if (k == CHECKSUM_SHA256)
			sha256_update(&sha, buf, (size_t)r);
		else
			XXH3_128bits_update(&xxh, buf, (size_t)r);
		off += (uint64_t)r;
		deadline_alive(); /* a long read that answers is no hang */
	}
	free(buf);
	if (k == CHECKSUM_SHA256) {
		uint8_t digest[SHA256_DIGEST_SIZE];

		sha256_final(&sha, digest); /* also after an error: it frees the context */
		sha256_hex(digest, hex);
	} else {
		XXH128_canonical_t c;

		XXH128_canonicalFromHash(&c, XXH3_128bits_digest(&xxh));
		hex_of(c.digest, sizeof(c.digest), hex);
	}
	if (e) {
		errno = e;
		return -1;
	}
	if (size)
		*size = off;
	return 0;
}
