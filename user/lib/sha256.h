/* SHA-256 (FIPS 180-4), for the checksums of checkpoint images of formats
 * 1 and 2 (checksum.h):
 * OpenSSL's libcrypto (its SHA-NI / AVX2 code: 7-8x the built-in C code
 * here on a 256 MiB buffer), opened at the first use; the built-in code
 * where libcrypto.so.3 cannot be opened. */
#ifndef TARDIS_SHA256_H
#define TARDIS_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_DIGEST_SIZE 32
#define SHA256_BLOCK_SIZE 64

/* Between sha256_init and sha256_final, a context may hold libcrypto's
 * (freed by sha256_final): every init is finished by a final. */
struct sha256_ctx {
	void *evp; /* libcrypto's EVP_MD_CTX; NULL: the built-in code below */
	uint32_t h[8];
	uint64_t len; /* bytes hashed so far */
	uint8_t buf[SHA256_BLOCK_SIZE];
	size_t buf_len;
};

void sha256_init(struct sha256_ctx *c);
void sha256_update(struct sha256_ctx *c, const void *data, size_t len);
void sha256_final(struct sha256_ctx *c, uint8_t digest[SHA256_DIGEST_SIZE]);

/* "libcrypto" or "built-in": what computes the sums in this process. */
const char *sha256_impl(void);

/* Lower-case hex of a digest, NUL-terminated. */
void sha256_hex(const uint8_t digest[SHA256_DIGEST_SIZE], char hex[65]);

#endif
