/* The checksums of checkpoint image files: what fd holds, from offset 0 to
 * EOF, as lower-case hex.
 *
 * Images of format 3 carry XXH3-128 sums (xxHash, Debian's libxxhash-dev,
 * compiled in from its header): the manifest lies beside the files it
 * describes, so its sums guard against torn, truncated and corrupted
 * copies, not against someone who can write the image (who could rewrite
 * the manifest as well); for that, XXH3-128 does what SHA-256 did at 4x
 * its speed here (1 GiB from the page cache: 0.19 s vs 0.73 s with
 * libcrypto's SHA-NI code, most of the 0.19 s the copy out of the page
 * cache).  Images of formats 1 and 2 carry SHA-256 sums, still checked. */
#ifndef TARDIS_CHECKSUM_H
#define TARDIS_CHECKSUM_H

#include <stdint.h>

enum checksum_kind {
	CHECKSUM_XXH128, /* 32 hex digits: XXH128_canonical_t, big-endian */
	CHECKSUM_SHA256, /* 64 hex digits */
};

#define CHECKSUM_HEX_MAX 65

/* The manifest's name of a file's sum of kind k: "xxh128", "sha256". */
const char *checksum_field(enum checksum_kind k);

/* Sums what fd holds from offset 0 to EOF (pread: the file offset is left
 * alone); *size (if not NULL) gets the byte count.  Returns 0, or -1 with
 * errno set. */
int checksum_fd(int fd, enum checksum_kind k, char hex[CHECKSUM_HEX_MAX], uint64_t *size);

/* A sum taken while the file is still written at its end (CRIU's page
 * files during the dump): each checksum_run_feed sums at most max bytes
 * more of what fd holds, from where the last one stopped; checksum_run_end
 * sums the rest up to EOF, gives the sum (as checksum_fd would have) and
 * frees the run, also when it fails.  A file rewritten before where the
 * run got gets a wrong sum: only for files written once, front to back.
 * A file found shorter than what was summed fails with EIO. */
struct checksum_run;
struct checksum_run *checksum_run_new(enum checksum_kind k);
int checksum_run_feed(struct checksum_run *r, int fd, uint64_t max);
uint64_t checksum_run_size(const struct checksum_run *r);
int checksum_run_end(struct checksum_run *r, int fd, char hex[CHECKSUM_HEX_MAX], uint64_t *size);
void checksum_run_free(struct checksum_run *r);

#endif
