/*
 * The containers of the state store as an operator sees them: which ones
 * there are, and for each its state (running, checkpointed, exited...),
 * exit, image and checkpoint/restore history, gathered from state.json,
 * exit.json, /proc and the image directory.
 */
#ifndef TARDIS_CONTAINER_SUMMARY_H
#define TARDIS_CONTAINER_SUMMARY_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "error.h"
#include "exit_record.h"
#include "image.h"
#include "state.h"

struct cJSON;

struct container_ref {
	char ns[TARDIS_ID_MAX + 1];
	char id[TARDIS_ID_MAX + 1];
};

/* Every containers/<ns>/<id> of the store, sorted by namespace then id;
 * entries whose names fail the id rule are skipped.  *out is malloc'd. */
int container_list(struct tardis_store *s, struct container_ref **out, size_t *n,
		   tardis_error_t *err);

/*
 * What a container is doing, first that applies:
 *   corrupt       state.json is missing or malformed
 *   refused       its create named a host path outside image_roots: runc
 *                 runs it unmanaged (state.json's `refused` says why)
 *   running       its registered init is alive
 *   checkpointed  checkpointed after its last create and the image is there:
 *                 the next create restores it
 *   exited        the exit is recorded
 *   unknown       the exit is recorded as unknowable
 *   created       no init was ever registered
 *   stopped       the init is gone, its exit not recorded (yet)
 */
struct container_summary {
	struct container_ref ref;
	const char *state;
	struct cJSON *doc;        /* state.json, parsed (NULL if corrupt) */
	pid_t init_pid;
	uint64_t init_start_time;
	int has_exit;             /* exit.json of the current init */
	struct exit_record exit;
	char image_path[PATH_MAX];
	int image_present;
	int image_checked;        /* image_validate ran */
	int image_unreachable;    /* its filesystem did not answer (deadline.h) */
	struct image_report image;
	int64_t last_activity_ns; /* newest mtime of state, exit record, image */
};

/* validate_image: checksum the image too (reads every file of it). */
int container_summary_load(struct tardis_store *s, const char *ns, const char *id,
			   int validate_image, struct container_summary *out, tardis_error_t *err);
void container_summary_free(struct container_summary *c);
/* The identity's lease next to the image (lease.h), read with the network
 * filesystem's deadline: 1 found, 0 none, -1 an error or "unreachable". */
struct lease;
int container_summary_lease(const struct container_summary *c, struct lease *out,
			    tardis_error_t *err);
/* 1 when the exit is recorded (known), *exit_status set. */
int container_summary_exit_status(const struct container_summary *c, int *exit_status);
/* The summary as JSON: namespace, id, state, exit_status, exit (the
 * record), init_pid, created_at, bundle, image{...}, restores,
 * checkpoints, last_checkpoint, last_restore, checkpoint_failures,
 * restore_failures, last_checkpoint_failure, last_restore_failure (at,
 * [trigger,] reason; null when none), last_activity.  checks: add
 * the image's named checks. */
struct cJSON *container_summary_json(const struct container_summary *c, int checks);

#endif
