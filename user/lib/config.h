/* /etc/tardis/tardis.conf (key = value) with environment overrides. */
#ifndef TARDIS_CONFIG_H
#define TARDIS_CONFIG_H

#include "error.h"

#include <sys/stat.h>

#define TARDIS_CONFIG_FILE "/etc/tardis/tardis.conf"

struct tardis_config {
	char runc[4096];
	char criu[4096];
	char state_dir[4096];
	char bpf_dir[4096];
	char log_file[4096]; /* "" = stderr, "syslog", or a path */
	int log_level;
	int restore_timeout;    /* seconds */
	int checkpoint_timeout; /* seconds */
	/* Identities (Kubernetes): a lease not renewed for lease_timeout
	 * seconds is its dead node's; a create waits up to restore_wait for
	 * a checkpoint in progress elsewhere; after max_restore_attempts
	 * restores of one image that each ended in a non-zero exit, the next
	 * create starts fresh. */
	int lease_timeout;
	/* This node's name in manifests and leases, when set (node_name,
	 * TARDIS_NODE_NAME): on a Kubernetes node, its name.  Read it with
	 * config_node_name(). */
	char node_name[256];
	int restore_wait;
	int max_restore_attempts;
	/* Where a container's CHECKPOINT_HOST_PATH / NETWORKFS_HOST_PATH may
	 * point (image_roots.h): colon-separated clean absolute paths, at
	 * most IMAGE_ROOTS_MAX; the default (config_defaults, and
	 * config_load unless set) is <state_dir>/checkpoints. */
	char image_roots[4096];
	/* How long a runc call waits for a network filesystem (deadline.h)
	 * before it goes on without it, in seconds (networkfs_timeout;
	 * TARDIS_NETWORKFS_TIMEOUT overrides it). */
	int networkfs_timeout;
	/* tardisd's threads: SCHED_FIFO at this priority (agent_sched.h);
	 * 0: the normal scheduler.  Default 1. */
	int agent_rt_priority;
};

#define IMAGE_ROOTS_MAX 16

void config_defaults(struct tardis_config *c);
/* node_name, else uname's nodename (asked only here: the pass-through
 * path never needs it). */
const char *config_node_name(const struct tardis_config *c);
/* Parses text into c; unknown keys and bad values are errors naming the line. */
int config_parse(struct tardis_config *c, const char *text, tardis_error_t *err);
/* Defaults, then the file ($TARDIS_CONFIG or the default; a missing file is
 * fine), then TARDIS_RUNC, TARDIS_CRIU, TARDIS_STATE_DIR, TARDIS_BPF_DIR,
 * TARDIS_LOG_FILE, TARDIS_LOG_LEVEL, TARDIS_NODE_NAME, TARDIS_IMAGE_ROOTS; image_roots
 * not set: <state_dir>/checkpoints. */
int config_load(struct tardis_config *c, tardis_error_t *err);

/* The config file tardis reads: $TARDIS_CONFIG or /etc/tardis/tardis.conf. */
const char *config_file_path(void);
/* Reads the open config file fd (path names it in errors; a regular file
 * of at most 1 MiB, *st its stat) into a malloc'd NUL-terminated *text. */
int config_read_fd(int fd, const char *path, struct stat *st, char **text, tardis_error_t *err);

#endif
