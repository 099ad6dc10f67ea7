/*
 * What is left of a container that is gone for good, removed: its image,
 * its work dir on the network filesystem, its scratch dirs, its
 * registration, its state.  tardis-runc does it when the init exited 0
 * (`delete`), tardisctl gc for containers gone long ago.
 */
#ifndef TARDIS_PURGE_H
#define TARDIS_PURGE_H

#include <stdint.h>
#include <sys/types.h>
#include "error.h"
#include "state.h"

struct purge_target {
	const char *ns, *id;
	const char *image_path; /* state.json's image_path; NULL: none */
	const char *work_dir;   /* state.json's work_dir; NULL or "": none */
	pid_t init_pid;         /* > 0: its registration is forgotten too */
	uint64_t init_start_time;
	const char *bpf_dir;    /* the pinned maps (registration); NULL: none */
	/* tardis.conf's image_roots: an image path outside the state dir, and
	 * the work dir, are removed only inside one (image_roots.h), whatever
	 * state.json says; NULL: none are. */
	const char *image_roots;
};

enum {
	/* The caller holds the container's lock (store_container_lock) for
	 * the whole purge; else it is taken for the state's removal only. */
	PURGE_LOCKED = 1,
	/* An image that is refused or cannot be removed stops the purge: the
	 * state stays, so the image is not orphaned (gc tries again). */
	PURGE_STRICT = 2,
	/* Only an image path ending in /<ns>/<id> (every path tardis makes
	 * does): state.json is not trusted to name any other directory. */
	PURGE_IMAGE_OURS = 4,
	/* The image's leftover temp siblings and the namespace directories,
	 * once empty, go too. */
	PURGE_TIDY = 8,
	/* Only the parts on this node (scratch dirs, registration, state):
	 * the image and the work dir were purge_remote's, in a helper with a
	 * deadline (deadline.h), or are left for later. */
	PURGE_LOCAL_ONLY = 16,
};

/* The parts, for the report of one that could not be removed. */
enum purge_part {
	PURGE_PART_IMAGE_NOT_OURS, /* name: the image path (PURGE_IMAGE_OURS); err NULL */
	PURGE_PART_IMAGE_PATH,     /* name: the image path, refused by image_parent_check
				    * or outside image_roots */
	PURGE_PART_IMAGE,          /* name: the image path */
	PURGE_PART_WORK_DIR,       /* name: the work dir (maybe outside image_roots) */
	PURGE_PART_SCRATCH,        /* name: the scratch dir's kind (scratch.h) */
	PURGE_PART_STATE,          /* name: NULL */
};
/* The callback may take *err (tardis_error_log_release); purge frees what
 * it leaves.  *err is NULL for PURGE_PART_IMAGE_NOT_OURS. */
typedef void (*purge_report_fn)(void *arg, enum purge_part part, const char *name,
				tardis_error_t *err);

/* Removes each part of t, reporting each failure and going on with the
 * next (but see PURGE_STRICT).  freed (may be NULL): the image's size is
 * added.  Returns 0, or -1 when stopped (PURGE_STRICT) or the state could
 * not be removed.  A part already absent is no failure. */
int purge_container(struct tardis_store *s, const struct purge_target *t, unsigned flags,
		    uint64_t *freed, purge_report_fn report, void *arg);

/* The parts that may be on a network filesystem: the image and the work
 * dir (PURGE_STRICT: -1 when the image stays). */
int purge_remote(struct tardis_store *s, const struct purge_target *t, unsigned flags,
		 uint64_t *freed, purge_report_fn report, void *arg);
/* 1 when t has a part outside the state dir (an image elsewhere, a work
 * dir): purge_remote's work is for a helper. */
int purge_is_remote(const struct tardis_store *s, const struct purge_target *t);

/* 1 when path is clean, absolute and ends in /<ns>/<id>. */
int purge_image_path_ours(const char *path, const char *ns, const char *id);

#endif
