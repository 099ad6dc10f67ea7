/*
 * Checkpoint images: CRIU's files (from `runc checkpoint`), the container's
 * changed files (files.tar, deleted.list) and manifest.json, written last.
 * Built in a temporary sibling directory, fsynced, then swapped into place,
 * so a crash leaves the old complete image or the new complete one.
 */
#ifndef TARDIS_IMAGE_H
#define TARDIS_IMAGE_H

#include <stddef.h>
#include <stdint.h>
#include "error.h"

struct cJSON;
struct stat;
struct tardis_store;

/* 2: files.tar keeps sparse files, hard links, fifos, devices and xattrs
 * (filediff.h); 3: files' sums are XXH3-128 ("xxh128", checksum.h), no
 * longer SHA-256.  Images of versions 1 and 2 still restore. */
#define IMAGE_FORMAT_VERSION 3
#define IMAGE_FORMAT_VERSION_MIN 1
#define IMAGE_MANIFEST "manifest.json"
#define IMAGE_DUMP_LOG "dump.log"
#define IMAGE_INVENTORY "inventory.img"
#define IMAGE_DESCRIPTORS "descriptors.json"

/* CRIU's magics (criu/include/magic.h). */
#define CRIU_IMG_COMMON_MAGIC 0x54564319u
#define CRIU_IMG_SERVICE_MAGIC 0x55105940u
#define CRIU_INVENTORY_MAGIC 0x58313116u

struct image_meta {
	const char *ns;
	const char *id;
	int64_t created_at_ns;    /* CLOCK_REALTIME */
	uint64_t duration_ms;     /* of the checkpoint */
	const char *runc_version;
	const char *criu_version;
	const char *rootfs_kind;  /* IMAGE_ROOTFS_* */
	const char *identity;     /* the key it is kept under (oci_config.h); NULL: ns/id */
	const char *node;         /* this node's name (config's node_name); NULL: uname's */
};

/* How the container's files are in the image (manifest's rootfs_kind):
 * saved from an overlay upperdir (files.tar, deleted.list), or none
 * saved: the rootfs is a plain directory that the next create reuses as
 * it is, and the restore goes on top of it.  A manifest without the key
 * is an overlay's. */
#define IMAGE_ROOTFS_OVERLAY "overlay"
#define IMAGE_ROOTFS_REUSED "reused"
/* Saved as for an overlay, but found by comparing a snapshotter's rootfs
 * with its baseline (baseline.h); restored the same way. */
#define IMAGE_ROOTFS_SNAPSHOT "snapshot"

struct image_check {
	const char *name; /* manifest, format, dump_log, inventory, descriptors, files */
	int ok;
	char detail[256];
};

struct image_report {
	struct image_check checks[6];
	int n;
	int valid;
	uint64_t size;  /* sum of the listed files */
	char ns[256];
	char id[256];
	char created_at[64];
	char node[256]; /* the node that made it (uname's nodename), "" if unknown */
	char rootfs_kind[16]; /* IMAGE_ROOTFS_* */
	char identity[512];   /* "" when kept under its namespace/id */
	char arch[32];        /* uname's machine where it was made; "" if unknown */
	char criu_version[32]; /* the CRIU that dumped it ("4.2.1"); "" if unknown
				* (older images recorded its path there) */
	char boot_id[40];     /* the boot of the node that sealed it; "" if unknown */
};

/* What was learnt of the page files (pages-*.img) while CRIU wrote them:
 * each one's sum so far, for image_seal to finish. */
struct image_progress;
struct image_progress *image_progress_new(void);
void image_progress_free(struct image_progress *p);
/* Called while the dump runs: starts the writeback of the page files CRIU
 * has written into dir so far, without waiting (it leaves image_seal's
 * fsync less to wait for: the kernel would otherwise hold a big image
 * dirty for up to 30 s); with p, also sums what each one grew by since the
 * last call (at most 256 MiB a file a call).  CRIU writes a page file
 * once, front to back.  Best effort. */
void image_dump_progress(const char *dir, struct image_progress *p);
/* While runc finishes a dump whose tasks are gone (CRIU has written all
 * but its statistics): every file of dir so far made 0600 and summed,
 * each sum kept in p with the file's stat, and the writeback of all
 * waited for where one syncfs is cheap (image_syncfs_cheap) -- the seal
 * then sums and syncs only what came or changed since.  Best effort. */
void image_presum(const char *dir, struct image_progress *p);
/* For image_seal: the sum of the file name of the image (open as ffd, st
 * its stat) -- image_presum's when the file has not changed since (same
 * inode, size, modification and change times), else what p summed of it
 * already and the rest, or (p NULL, or another inode by that name now)
 * the whole file. */
int image_progress_sum(struct image_progress *p, const char *name, int ffd, const struct stat *st,
		       char hex[65 /* CHECKSUM_HEX_MAX */], uint64_t *sz);

/* An image file listed in dfd (de), open and made 0600 (the stat after
 * it in *st), for its sum: -1 when it is none to sum (a dot file, the
 * manifest, not a regular file, gone), -2 (errno) when it could not be
 * made 0600. */
struct dirent;
int image_file_open(int dfd, const struct dirent *de, struct stat *st);
/* 1 when one syncfs of dfd's filesystem makes an image durable for less
 * than an fsync of each of its files (a local disk's, little else dirty). */
int image_syncfs_cheap(int dfd);
/* 1 when a published (or aside) image is at path: its manifest opens. */
int image_there(const char *path);
/* An image in the store (local) that a create may restore from: its
 * apply's libarchive (~2 ms to load here) starts loading on the other CPU
 * while the image is validated (filediff_preload_background). */
void image_preload_for_restore(const struct tardis_store *s, const char *image_path);

/* path's directory into parent (plen bytes) and *base, its last
 * component (pointing into path); -1 when it has none. */
int image_split_path(const char *path, char *parent, size_t plen, const char **base);
/* Makes the parent of image_path (0700) and a fresh temp sibling in it
 * (image_publish.c, with image_publish and image_cleanup_siblings). */
int image_tmp_create(const char *image_path, char *tmp, size_t len, tardis_error_t *err);
/* Checksums every file of dir, writes the manifest, then waits until all
 * of it is durable (one syncfs, or an fsync of each file and of dir): the
 * temporary image is then ready to publish; p (or NULL):
 * image_dump_progress's sums of the page files, finished here (for a file
 * that is no longer the one summed: summed in full). */
int image_seal(const char *dir, const struct image_meta *m, struct image_progress *p,
	       uint64_t *size, tardis_error_t *err);
/* Puts the sealed (durable: image_seal) dir at image_path, and fsyncs
 * its parent; a replaced image is removed only
 * after -- by the agent (store s's forgotten/) when image_path lies in the
 * state dir and s is given, else here. */
int image_publish(const char *tmp, const char *image_path, struct tardis_store *s,
		  tardis_error_t *err);
/* Removes an image directory (or a temp one); missing is fine. */
int image_remove(const char *path, tardis_error_t *err);
/* The same for parent_fd/name; a symlink there is removed, never followed. */
int image_remove_at(int parent_fd, const char *name, tardis_error_t *err);
/* Removes the scratch dir <state>/<what>/<ns>/<id> (CRIU's work dir, the
 * restore's undo data), walked from the store's root: a symlink on the way
 * is not followed.  prune_ns: the namespace's dir too, once empty.  Missing
 * is fine. */
int image_scratch_remove(struct tardis_store *s, const char *what, const char *ns,
			 const char *id, int prune_ns, tardis_error_t *err);
/* An image path inside the state directory (the default one) has its
 * parents walked like the store's own (0700, ours, no symlink followed,
 * created when asked): a planted link must not send an image, or its
 * removal, elsewhere.  Elsewhere (CHECKPOINT_HOST_PATH, the network fs) the
 * path is the operator's.  0: usable. */
int image_parent_check(struct tardis_store *s, const char *image_path, int create,
		       tardis_error_t *err);
/* Removes temp/old siblings left by a crash; recovers an image lost
 * between the two renames of the fallback publish. */
void image_cleanup_siblings(const char *image_path);

/* Returns 1 valid, 0 invalid (report says why), -1 no image there.  Every
 * file is read and summed. */
int image_validate(const char *image_path, struct image_report *r);
/* The same; with IMAGE_TRUST_SEALED, a file on a local filesystem
 * (ext4, xfs, btrfs, tmpfs) whose device, inode and change time are still
 * those recorded when this boot sealed it is not read again: it is the
 * file that was summed, written since by no one (the sums guard against
 * torn, truncated and corrupted copies, not against a root writer, who
 * could rewrite the manifest as well).  An image from another node or an
 * earlier boot, or copied, or touched, is read in full. */
#define IMAGE_TRUST_SEALED 1
int image_validate_flags(const char *image_path, int flags, struct image_report *r);
/* The first failed check as "check: detail". */
const char *image_report_reason(const struct image_report *r, char *buf, size_t len);
/* Parses a manifest text (fuzzing, tests); fills r's manifest/format checks. */
int image_manifest_parse(const char *text, struct image_report *r, struct cJSON **files_out);

#endif
