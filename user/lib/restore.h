/*
 * The restore engine: a container recreated from a valid tardis image in
 * place of a fresh create.  The saved files go back into the rootfs first
 * (with an undo journal), then `runc restore --detach`; anything that
 * fails undoes exactly what was applied, so the caller can fall back to a
 * fresh create.
 */
#ifndef TARDIS_RESTORE_H
#define TARDIS_RESTORE_H

#include "runc_call.h"

struct restore_request {
	const char *bundle;     /* the container's bundle (passed as --bundle unless given) */
	const char *rootfs;     /* its rootfs, where the saved files go back */
	const char *image_path; /* a valid image (image_validate) of this ns/id */
	int rootfs_reused;      /* the image saved no files (IMAGE_ROOTFS_REUSED): the
				 * restore goes on top of the rootfs as it is */
	int keep_tcp;           /* established TCP connections kept open (same node and
				 * addresses), else closed: the peer sees a reset */
	const char *netns_path; /* its network namespace given by path, or NULL */
	int own_netns;          /* runc makes its network namespace: lo and the net.*
				 * sysctls restored by action_script (netns.h) */
	/* A program that acts as CRIU's action script (criu_action in
	 * tardis-runc): at setup-namespaces, netns_restore_own() for
	 * CRTOOLS_INIT_PID and the bundle in RESTORE_BUNDLE_ENV.  Needed
	 * with own_netns. */
	const char *action_script;
	/* The CRIU version the image was made by (manifest), or NULL: an
	 * image of a newer CRIU than this node's is not restored. */
	const char *criu_version;
};

/* The environment entry through which the action script learns the
 * bundle (CRIU hands its environment on to the script). */
#define RESTORE_BUNDLE_ENV "TARDIS_RESTORE_BUNDLE"

/* 0 restored (the container runs); -1 with *err saying why when the
 * caller must fall back to a fresh create.  Options of the original
 * create that restore understands too (console-socket, no-pivot,
 * pid-file, bundle) are forwarded. */
int restore_container(const struct runc_call *c, const struct restore_request *req,
		      tardis_error_t *err);

#endif
