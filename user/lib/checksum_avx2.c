/* XXH3's AVX2 code.  Only this file is compiled with -mavx2 (Makefile, on
 * x86-64); checksum.c calls it on a CPU that has AVX2 and sums with the
 * SSE2 code otherwise.  Both give the same sums (xxHash's own promise):
 * 1 GiB from the page cache here, 50 ms instead of 70-90 ms.  Built without
 * -mavx2 (CFLAGS set on make's command line replace the Makefile's), xxHash
 * picks the SSE2 code here too: the same sums, only slower. */
#include "checksum.h"

#define XXH_INLINE_ALL
#include <xxhash.h>

void checksum_xxh3_update_avx2(void *state, const void *p, size_t n)
{
	XXH3_128bits_update(state, p, n);
}
