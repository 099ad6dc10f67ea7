/*
 * One identity, one life: the lease (lease.h) of an identity's image
 * through the life of the container that holds it.  The create claims it
 * (shim/create.c); a checkpoint marks it CHECKPOINTING and releases it
 * once the image is published; the delete releases it, counting a
 * restore that ended in a non-zero exit for the crash-loop guard; an exit
 * 0 removes it with the image; tardisd renews it while the init runs.
 */
#ifndef TARDIS_IDENTITY_H
#define TARDIS_IDENTITY_H

#include <stddef.h>
#include <stdint.h>
#include "lease.h"

struct cJSON;
struct image_report;
struct runc_call;
struct tardis_store;

/* What the crash-loop guard calls an image: "<created_at> <ns>/<id>" of
 * its manifest (the time and the container that made it). */
void identity_image_key(const struct image_report *rep, char *buf, size_t len);

/* lease_claim's alive(): the owner, on this node, is alive when its
 * registered init is (arg: the struct tardis_store of this node). */
int identity_owner_alive(const struct lease *owner, void *arg);

/* The create's claim (lease_claim with this node's name and config):
 * LEASE_GRANTED, *mine its RUNNING record (the image and restore count
 * carried over from *prev); LEASE_BUSY or LEASE_ERROR with why. */
enum lease_verdict identity_claim(const struct runc_call *c, const char *image_path,
				  struct lease *prev, struct lease *mine, char *why, size_t len);
/* The crash-loop guard: 1 when max_restore_attempts restores of the
 * image (key) each ended in a non-zero exit. */
int identity_guard_tripped(const struct runc_call *c, const struct lease *mine, const char *key);
/* A restore of the image (key): the lease tracks it from now. */
void identity_note_restore(const struct runc_call *c, const char *image_path, struct lease *mine,
			   const char *key);

/* 1 when the lease's current record is the container's (node, ns,
 * id) and in one of its live states; *out is the record. */
int identity_lease_mine(const char *image_path, const char *node, const char *ns, const char *id,
			struct lease *out);

/* Around a checkpoint.  begin: 1 the lease is ours and now CHECKPOINTING
 * (*mine the record), 0 another container holds it (logged: the image is
 * its, no checkpoint may replace it), -1 the lease cannot be read or
 * written (logged; the checkpoint goes on: saving is worth more).  end:
 * RELEASED with the new image (published) or back to RUNNING. */
int identity_checkpoint_begin(const struct runc_call *c, const char *image_path,
			      struct lease *mine);
void identity_checkpoint_end(const struct runc_call *c, const char *image_path,
			     struct lease *mine, int published, int64_t image_at_ns);

/* At the delete of a container with an identity (st: its state.json):
 * exit 0 removes the lease; any other ending releases it, one more failed
 * restore counted when the container was restored from the image the
 * lease tracks and not checkpointed since. */
void identity_release(const struct runc_call *c, const char *image_path, const struct cJSON *st,
		      int exit_known, int exit_status);

/* tardisd: renews the leases of the store's running containers that hold
 * one (node: this node's name).  Returns how many were renewed. */
int identity_renew_all(struct tardis_store *s, const char *node);

#endif
