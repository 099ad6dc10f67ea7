/*
 * A container's opt-in and settings, read from its bundle's config.json:
 * process.env TARDIS_* (ARCH_* accepted as aliases, the seed system's
 * spelling) and annotations tardis.io/<name>.
 */
#ifndef TARDIS_OCI_CONFIG_H
#define TARDIS_OCI_CONFIG_H

#include <limits.h>
#include <stddef.h>
#include "error.h"

struct cJSON;

/* The container's network namespace (linux.namespaces). */
enum netns_kind {
	NETNS_HOST, /* none: the host's */
	NETNS_OWN,  /* {"type":"network"}: runc makes it, holding only lo */
	NETNS_PATH, /* given by path (Docker, a Kubernetes sandbox): its owner's */
};

/* An identity: 1 to 4 components of the id rule (store_id_valid) joined
 * by '/'. */
#define SETTINGS_IDENTITY_PARTS 4
#define SETTINGS_IDENTITY_MAX 512
/* Images and work dirs keyed by identity live below this directory of
 * the image root (in place of a containerd namespace). */
#define SETTINGS_IDENTITY_DIR "k8s"

struct tardis_settings {
	int enabled;
	int checkpoint_on_stop;
	int tcp_established; /* established TCP connections kept at restore, not closed */
	enum netns_kind netns;
	char netns_path[PATH_MAX]; /* NETNS_PATH's path */
	char checkpoint_host_path[PATH_MAX];
	char networkfs[PATH_MAX];
	char workdir[PATH_MAX];
	char rootfs[PATH_MAX]; /* root.path, made absolute against the bundle */
	/* Made by a CRI plugin (Kubernetes): containerd's
	 * io.kubernetes.cri.container-type or CRI-O's
	 * io.kubernetes.cri-o.ContainerType annotation. */
	enum { CRI_NONE, CRI_CONTAINER, CRI_SANDBOX } cri;
	/* The key of the image and work dir when it is not (namespace, id):
	 * TARDIS_IDENTITY; tardis.io/identity (plus /<container name> for a
	 * CRI container: it names the pod); else a CRI container's
	 * <pod namespace>/<pod name>/<container name>; "" for none. */
	char identity[SETTINGS_IDENTITY_MAX];
	enum {
		IDENTITY_NONE,
		IDENTITY_ANNOTATION, /* tardis.io/identity (a CRI container's name added) */
		IDENTITY_ENV,        /* TARDIS_IDENTITY, as it is */
		IDENTITY_CRI,        /* the CRI plugin's pod namespace/pod/container */
	} identity_from;
};

/* Reads <bundle>/config.json.  *config_out (may be NULL) gets the parsed
 * document for callers that change it.  A config without `process` is
 * simply not enabled; a malformed one is an error. */
int oci_settings_load(const char *bundle, struct tardis_settings *s, struct cJSON **config_out,
		      tardis_error_t *err);
/* Same from text (fuzzing, tests). */
int oci_settings_parse(const char *text, const char *bundle, struct tardis_settings *s,
		       struct cJSON **config_out, tardis_error_t *err);

/* Where the image of ns/id lives: $NETWORKFS/checkpoint/<ns>/<id>, else
 * $CHECKPOINT_HOST_PATH/<ns>/<id>, else <state_dir>/checkpoints/<ns>/<id>;
 * with an identity, k8s/<identity> in place of <ns>/<id>. */
int settings_image_path(const struct tardis_settings *s, const char *state_dir, const char *ns,
			const char *id, char *buf, size_t len);
/* $NETWORKFS/work/<ns>/<id> (or k8s/<identity>), or "" when NETWORKFS or
 * WORKDIR is unset. */
int settings_work_dir(const struct tardis_settings *s, const char *ns, const char *id, char *buf,
		      size_t len);

/* Adds the bind mount of work_dir at s->workdir and makes it the cwd.
 * Returns 1 if changed, 0 if already there, -1 if WORKDIR is the
 * destination of another mount. */
int oci_config_add_workdir(struct cJSON *config, const struct tardis_settings *s,
			   const char *work_dir, tardis_error_t *err);
/* Writes config.json back atomically (temp, fsync, rename). */
int oci_config_write(const char *bundle, struct cJSON *config, tardis_error_t *err);

/* 1 when id is an identity (SETTINGS_IDENTITY_*). */
int settings_identity_valid(const char *id);

#endif
