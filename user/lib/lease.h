/*
 * The lease of a checkpoint identity: "one identity, one life".
 *
 * The image of an identity (pod-ns/pod/container) lives at IMAGE_PATH on a
 * filesystem several nodes share (NFS, sshfs), so two nodes must never
 * restore it twice and a new pod must not restore while the old one is still
 * checkpointing.  The lease is the directory IMAGE_PATH.lease beside the
 * image; it holds records named by a sequence number (%020llu, so names
 * sort), the highest being the current one.  A state change is the
 * exclusive creation of the next number: the record is written to a temp
 * file, fsynced and link()ed to its name, and EEXIST means another writer
 * won.  That makes "read N, write N+1" a compare-and-swap on a local fs, NFS
 * and sshfs alike (flock does not cross nodes; sshfs has none).  Records
 * older than current-2 are pruned after each advance.
 *
 * Caches: directory listings are only hints (sshfs keeps them 20 s, NFS
 * until it revalidates); records are confirmed by open() and newer ones
 * found by opening the next numbers, so a stale listing costs a retry, not
 * a second owner.  sshfs reports link() onto an existing name as EPERM:
 * taken as "lost" when the name exists.
 *
 * A record is JSON: {"version":1,"seq":N,"state":"running"|"checkpointing"|
 * "released","node":...,"ns":...,"id":...,"renewed_at_ns":...,"timeout_s":...,
 * "image":...,"failed_restores":...}.
 */
#ifndef TARDIS_LEASE_H
#define TARDIS_LEASE_H

#include <stddef.h>
#include <stdint.h>
#include "error.h"

#define LEASE_DIR_SUFFIX ".lease"
/* Records kept: the current one and the two before it. */
#define LEASE_KEEP 3

enum lease_state { LEASE_NONE, LEASE_RUNNING, LEASE_CHECKPOINTING, LEASE_RELEASED };

struct lease {
	uint64_t seq; /* 0: no record */
	enum lease_state state;
	char node[256];        /* owner node (uname nodename) */
	char ns[256], id[256]; /* owner container (containerd namespace, container id) */
	/* CLOCK_REALTIME of the last write/renewal, in ns but whole microseconds
	 * (a JSON number is a double: exact to the µs, not to the ns). */
	int64_t renewed_ns;
	int timeout_s; /* the writer's lease_timeout */
	/* crash-loop guard: the image the owner was restored from ("" = started fresh)
	 * and how many consecutive restores of that image ended in a non-zero exit */
	char image[160];
	int failed_restores;
};

/* "none", "running", "checkpointing", "released". */
const char *lease_state_name(enum lease_state);

/* The current record: 1 found, 0 none (no dir / empty), -1 error (a
 * malformed record is an error naming the file). */
int lease_read(const char *image_path, struct lease *out, tardis_error_t *err);

/* RUNNING/CHECKPOINTING whose renewed_ns + timeout_s*1e9 < now_ns (a
 * RELEASED record never expires: it is claimable anyway). */
int lease_expired(const struct lease *l, int64_t now_ns);

/* CAS: writes record cur->seq + 1 (cur may be a zeroed struct = no record
 * yet) from *next (next->seq and renewed_ns are set by it).  1 written, 0
 * lost the race, -1 error. */
int lease_advance(const char *image_path, const struct lease *cur, struct lease *next,
		  tardis_error_t *err);

/* Rewrites mine (the current record) with renewed_ns = now.  1 renewed, 0
 * lost (a higher record exists or the record is no longer mine), -1 error. */
int lease_renew(const char *image_path, struct lease *mine, tardis_error_t *err);

/* Removes the whole lease dir (exit 0 cleans up the identity).  Missing is
 * fine. */
int lease_remove(const char *image_path, tardis_error_t *err);

/* The lease dir of image_path into buf; -1 when it does not fit. */
int lease_dir_path(const char *image_path, char *buf, size_t len);

/* The create's policy, in one call. */
struct lease_claim {
	const char *node, *ns, *id; /* me */
	int timeout_s;              /* lease_timeout */
	int wait_s;                 /* restore_wait: how long to wait for a CHECKPOINTING record */
	/* for a RUNNING/CHECKPOINTING unexpired record whose node == my node: is
	 * that container still alive?  1 alive, 0 gone (the record is then
	 * stale: claimable).  NULL: treated as alive. */
	int (*alive)(const struct lease *owner, void *arg);
	void *arg;
};

enum lease_verdict {
	LEASE_GRANTED, /* *out is my new RUNNING record; *prev the record it replaced (seq 0: none) */
	LEASE_BUSY,    /* held by a live container (elsewhere, or here and alive), or still
			  checkpointing after wait_s; why says so */
	LEASE_ERROR,   /* the fs failed; why says so */
};

/* Claimable when there is no record, or it is RELEASED, expired, or on my
 * node and either mine (same ns+id) or of a container alive() says is gone.
 * A live CHECKPOINTING record is waited for (re-read every 100 ms) up to
 * wait_s.  The new RUNNING record carries image and failed_restores over
 * from the one it replaces.  prev may be NULL. */
enum lease_verdict lease_claim(const char *image_path, const struct lease_claim *c,
			       struct lease *prev, struct lease *out, char *why, size_t whylen);

#endif
