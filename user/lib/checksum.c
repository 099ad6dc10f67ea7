#include "checksum.h"
#include "deadline.h"
#include "sha256.h"

#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* The implementation compiled into this file (no libxxhash.so to load at
 * each tardis-runc-full call); its code is the library's own. */
#define XXH_INLINE_ALL
#include <xxhash.h>

/* Below this size a file is read (pread), from this size on mapped: the
 * hash then reads the page cache itself instead of a copy of it (1 GiB:
 * 50 ms instead of 155 ms here). */
#define MAP_MIN (1 << 20)
/* What is mapped at once, and what checksum_fd reads at once. */
#define MAP_WINDOW (8 << 20)
#define FD_CHUNK (256 * 1024)

#if defined(__x86_64__)
void checksum_xxh3_update_avx2(void *state, const void *p, size_t n);

static int have_avx2(void)
{
	static int v = -1;

	if (v < 0) {
		__builtin_cpu_init();
		v = __builtin_cpu_supports("avx2") ? 1 : 0;
	}
	return v;
}
#endif

struct sum {
	enum checksum_kind kind;
	struct sha256_ctx sha;
	XXH3_state_t xxh;
};

static void sum_update(struct sum *s, const void *p, size_t n)
{
	if (s->kind == CHECKSUM_SHA256)
		sha256_update(&s->sha, p, n);
#if defined(__x86_64__)
	else if (have_avx2())
		checksum_xxh3_update_avx2(&s->xxh, p, n);
#endif
	else
		XXH3_128bits_update(&s->xxh, p, n);
}

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

/* A mapped file that shrinks under the hash (another writer, a network
 * filesystem's server) raises SIGBUS in the faulting thread: while a
 * window is summed, that thread's handler jumps back out of it.  The
 * handler is installed once, while SIGBUS has its default action. */
static __thread sigjmp_buf *bus_jump;

static void on_sigbus(int sig)
{
	if (bus_jump)
		siglongjmp(*bus_jump, 1);
	/* Not ours: the faulting access runs again and ends the process,
	 * as without this handler. */
	signal(SIGBUS, SIG_DFL);
}

static int sigbus_handled(void)
{
	static int state; /* 0 not tried, 1 installed, -1 another handler */
	struct sigaction sa = { .sa_handler = on_sigbus }, old;

	if (__atomic_load_n(&state, __ATOMIC_ACQUIRE) == 0) {
		sigemptyset(&sa.sa_mask);
		if (sigaction(SIGBUS, NULL, &old) == 0 && old.sa_handler == SIG_DFL &&
		    !(old.sa_flags & SA_SIGINFO) && sigaction(SIGBUS, &sa, NULL) == 0)
			__atomic_store_n(&state, 1, __ATOMIC_RELEASE);
		else if (old.sa_handler != on_sigbus)
			__atomic_store_n(&state, -1, __ATOMIC_RELEASE);
	}
	return __atomic_load_n(&state, __ATOMIC_ACQUIRE) == 1;
}

/* Sums fd's bytes from..to through windows of a mapping.  Returns the
 * offset it reached (short of to when a window cannot be mapped: the
 * caller reads on from there), or -1 with errno EIO: the file shrank
 * under it. */
static int64_t sum_mapped(struct sum *s, int fd, uint64_t from, uint64_t to)
{
	const uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
	sigjmp_buf jump;
	void *volatile map = NULL;
	volatile uint64_t off = from;
	volatile size_t maplen = 0;

	if (!sigbus_handled())
		return (int64_t)from;
	if (sigsetjmp(jump, 1)) {
		bus_jump = NULL;
		if (map)
			munmap(map, maplen);
		errno = EIO;
		return -1;
	}
	while (off < to) {
		uint64_t base = off & ~(page - 1);
		size_t skip = (size_t)(off - base);
		size_t len = to - off < MAP_WINDOW - skip ? (size_t)(to - off) : MAP_WINDOW - skip;

		maplen = skip + len;
		map = mmap(NULL, maplen, PROT_READ, MAP_SHARED, fd, (off_t)base);
		if (map == MAP_FAILED) {
			map = NULL;
			break;
		}
		madvise(map, maplen, MADV_SEQUENTIAL);
		bus_jump = &jump;
		sum_update(s, (const char *)map + skip, len);
		bus_jump = NULL;
		munmap(map, maplen);
		map = NULL;
		off += len;
		deadline_alive(); /* a long read that answers is no hang */
	}
	return (int64_t)off;
}

struct checksum_run {
	struct sum s;
	uint64_t off; /* summed so far */
};

static void run_init(struct checksum_run *r, enum checksum_kind k)
{
	r->s.kind = k;
	r->off = 0;
	if (k == CHECKSUM_SHA256)
		sha256_init(&r->s.sha);
	else
		XXH3_128bits_reset(&r->s.xxh);
}

/* Sums fd from r->off on: max bytes at most, or (max UINT64_MAX) up to
 * its end, also what it grows by meanwhile. */
static int run_feed(struct checksum_run *r, int fd, uint64_t max)
{
	uint64_t end = max == UINT64_MAX ? UINT64_MAX : r->off + max;
	uint8_t *buf;
	struct stat st;
	int e = 0;

	if (fstat(fd, &st) < 0)
		return -1;
	if (S_ISREG(st.st_mode) && (uint64_t)st.st_size < r->off) {
		errno = EIO; /* shrank: some of what was summed is gone */
		return -1;
	}
	if (S_ISREG(st.st_mode)) {
		uint64_t to = (uint64_t)st.st_size < end ? (uint64_t)st.st_size : end;

		/* To its end as it is now: no read that finds the end (a
		 * file grown since sums as its size says; what it grew by
		 * makes it another file to whoever checks it). */
		end = to;

		if (to - r->off >= MAP_MIN) {
			int64_t m = sum_mapped(&r->s, fd, r->off, to);

			if (m < 0)
				return -1;
			r->off = (uint64_t)m;
		}
	}
	if (!(buf = malloc(FD_CHUNK)))
		return -1;
	while (r->off < end) {
		size_t want = end - r->off < FD_CHUNK ? (size_t)(end - r->off) : FD_CHUNK;
		ssize_t n = pread(fd, buf, want, (off_t)r->off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			e = errno;
		if (n <= 0)
			break;
		sum_update(&r->s, buf, (size_t)n);
		r->off += (uint64_t)n;
		deadline_alive();
	}
	free(buf);
	if (e) {
		errno = e;
		return -1;
	}
	return 0;
}

/* The sum of what r was fed, as hex (for SHA-256 this also frees its
 * context). */
static void run_digest(struct checksum_run *r, char hex[CHECKSUM_HEX_MAX])
{
	if (r->s.kind == CHECKSUM_SHA256) {
		uint8_t digest[SHA256_DIGEST_SIZE];

		sha256_final(&r->s.sha, digest);
		sha256_hex(digest, hex);
	} else {
		XXH128_canonical_t c;

		XXH128_canonicalFromHash(&c, XXH3_128bits_digest(&r->s.xxh));
		hex_of(c.digest, sizeof(c.digest), hex);
	}
}

int checksum_fd(int fd, enum checksum_kind k, char hex[CHECKSUM_HEX_MAX], uint64_t *size)
{
	struct checksum_run r;
	int rc, e;

	run_init(&r, k);
	rc = run_feed(&r, fd, UINT64_MAX);
	e = errno;
	run_digest(&r, hex); /* also after an error: it frees SHA-256's context */
	if (rc < 0) {
		errno = e;
		return -1;
	}
	if (size)
		*size = r.off;
	return 0;
}

struct checksum_run *checksum_run_new(enum checksum_kind k)
{
	/* XXH3's state wants 64-byte alignment. */
	struct checksum_run *r = aligned_alloc(64, (sizeof(*r) + 63) & ~(size_t)63);

	if (r)
		run_init(r, k);
	return r;
}

int checksum_run_feed(struct checksum_run *r, int fd, uint64_t max)
{
	return run_feed(r, fd, max);
}

uint64_t checksum_run_size(const struct checksum_run *r)
{
	return r->off;
}

int checksum_run_end(struct checksum_run *r, int fd, char hex[CHECKSUM_HEX_MAX], uint64_t *size)
{
	int rc = run_feed(r, fd, UINT64_MAX), e = errno;

	run_digest(r, hex);
	if (size)
		*size = r->off;
	free(r);
	errno = e;
	return rc;
}

void checksum_run_free(struct checksum_run *r)
{
	char hex[CHECKSUM_HEX_MAX];

	if (r) {
		run_digest(r, hex);
		free(r);
	}
}
