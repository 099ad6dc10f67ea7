#include "sha256.h"
#include "util.h"

#include <dlfcn.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* libcrypto is opened at its first use (dlopen), not linked: tardis-runc
 * passes most runc calls straight through, and would load it for each. */
#define EVP_FUNCS(X) \
	X(EVP_MD_CTX_new) \
	X(EVP_MD_CTX_free) \
	X(EVP_MD_fetch) \
	X(EVP_DigestInit_ex) \
	X(EVP_DigestUpdate) \
	X(EVP_DigestFinal_ex)

static struct {
	int tried;
	EVP_MD *md; /* NULL: the built-in code */
#define EVP_PTR(f) __typeof__(f) *f;
	EVP_FUNCS(EVP_PTR)
#undef EVP_PTR
} ssl;
#define SSL(f) (*ssl.f)

static void ssl_load(void)
{
	void *h;

	if (ssl.tried)
		return;
	ssl.tried = 1;
	h = dlopen("libcrypto.so.3", RTLD_NOW | RTLD_LOCAL);
	if (!h)
		return;
#define EVP_SYM(f)                                                \
	if (!(ssl.f = (__typeof__(ssl.f))dlsym(h, #f)))           \
		return;
	EVP_FUNCS(EVP_SYM)
#undef EVP_SYM
	ssl.md = SSL(EVP_MD_fetch)(NULL, "SHA256", NULL);
}

const char *sha256_impl(void)
{
	ssl_load();
	return ssl.md ? "libcrypto" : "built-in";
}

static const uint32_t K[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
	0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
	0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
	0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
	0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
	0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
	0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
	0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
	0xc67178f2,
};

static inline uint32_t ror(uint32_t x, unsigned n)
{
	return (x >> n) | (x << (32 - n));
}

static void compress(uint32_t h[8], const uint8_t *p)
{
	uint32_t w[64], a, b, c, d, e, f, g, hh;

	for (int i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
		       (uint32_t)p[4 * i + 2] << 8 | (uint32_t)p[4 * i + 3];
	for (int i = 16; i < 64; i++) {
		uint32_t s0 = ror(w[i - 15], 7) ^ ror(w[i - 15], 18) ^ (w[i - 15] >> 3);
		uint32_t s1 = ror(w[i - 2], 17) ^ ror(w[i - 2], 19) ^ (w[i - 2] >> 10);

		w[i] = w[i - 16] + s0 + w[i - 7] + s1;
	}
	a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
	for (int i = 0; i < 64; i++) {
		uint32_t t1 = hh + (ror(e, 6) ^ ror(e, 11) ^ ror(e, 25)) + ((e & f) ^ (~e & g)) +
			      K[i] + w[i];
		uint32_t t2 = (ror(a, 2) ^ ror(a, 13) ^ ror(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));

		hh = g, g = f, f = e, e = d + t1, d = c, c = b, b = a, a = t1 + t2;
	}
	h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e, h[5] += f, h[6] += g, h[7] += hh;
}

static void own_init(struct sha256_ctx *c)
{
	static const uint32_t iv[8] = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
					0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 };

	memcpy(c->h, iv, sizeof(iv));
	c->len = 0;
	c->buf_len = 0;
}

static void own_update(struct sha256_ctx *c, const void *data, size_t len)
{
	const uint8_t *p;

	c->len += len;
	if (c->buf_len) {
		if (!buf_fill(c->buf, &c->buf_len, SHA256_BLOCK_SIZE, &data, &len))
			return;
		compress(c->h, c->buf);
		c->buf_len = 0;
	}
	for (p = data; len >= SHA256_BLOCK_SIZE; p += SHA256_BLOCK_SIZE, len -= SHA256_BLOCK_SIZE)
		compress(c->h, p);
	if (len) {
		memcpy(c->buf, p, len);
		c->buf_len = len;
	}
}

static void own_final(struct sha256_ctx *c, uint8_t digest[SHA256_DIGEST_SIZE])
{
	uint64_t bits = c->len * 8;

	c->buf[c->buf_len++] = 0x80;
	if (c->buf_len > SHA256_BLOCK_SIZE - 8) {
		memset(c->buf + c->buf_len, 0, SHA256_BLOCK_SIZE - c->buf_len);
		compress(c->h, c->buf);
		c->buf_len = 0;
	}
	memset(c->buf + c->buf_len, 0, SHA256_BLOCK_SIZE - 8 - c->buf_len);
	for (int i = 0; i < 8; i++)
		c->buf[SHA256_BLOCK_SIZE - 1 - i] = (uint8_t)(bits >> (8 * i));
	compress(c->h, c->buf);
	for (int i = 0; i < 8; i++) {
		digest[4 * i] = (uint8_t)(c->h[i] >> 24);
		digest[4 * i + 1] = (uint8_t)(c->h[i] >> 16);
		digest[4 * i + 2] = (uint8_t)(c->h[i] >> 8);
		digest[4 * i + 3] = (uint8_t)c->h[i];
	}
	memset(c, 0, sizeof(*c));
}

void sha256_init(struct sha256_ctx *c)
{
	memset(c, 0, sizeof(*c));
	ssl_load();
	if (ssl.md && (c->evp = SSL(EVP_MD_CTX_new)()) &&
	    SSL(EVP_DigestInit_ex)(c->evp, ssl.md, NULL) == 1)
		return;
	if (c->evp)
		SSL(EVP_MD_CTX_free)(c->evp);
	c->evp = NULL;
	own_init(c);
}

void sha256_update(struct sha256_ctx *c, const void *data, size_t len)
{
	if (!c->evp) {
		own_update(c, data, len);
		return;
	}
	/* libcrypto's SHA-256 update fails only for a NULL digest: abort()
	 * rather than answer a wrong sum. */
	if (len && SSL(EVP_DigestUpdate)(c->evp, data, len) != 1)
		abort();
	c->len += len;
}

void sha256_final(struct sha256_ctx *c, uint8_t digest[SHA256_DIGEST_SIZE])
{
	unsigned int n = 0;

	if (!c->evp) {
		own_final(c, digest);
		return;
	}
	if (SSL(EVP_DigestFinal_ex)(c->evp, digest, &n) != 1 || n != SHA256_DIGEST_SIZE)
		abort();
	SSL(EVP_MD_CTX_free)(c->evp);
	memset(c, 0, sizeof(*c));
}

void sha256_hex(const uint8_t digest[SHA256_DIGEST_SIZE], char hex[65])
{
	static const char x[] = "0123456789abcdef";

	for (int i = 0; i < SHA256_DIGEST_SIZE; i++) {
		hex[2 * i] = x[digest[i] >> 4];
		hex[2 * i + 1] = x[digest[i] & 15];
	}
	hex[64] = '\0';
}
