/*
 * <state_dir>/failures.json: how many checkpoints (by trigger) and
 * restores failed on this node, ever -- what tardisd exports as
 * tardis_checkpoint_failures_total / tardis_restore_failures_total.
 * state.json counts them per container too, but a container's state goes
 * when it finishes, and a Prometheus counter must never go down.
 */
#ifndef TARDIS_FAILURE_COUNT_H
#define TARDIS_FAILURE_COUNT_H

#include <stdint.h>
#include "error.h"
#include "state.h"

#define FAILURES_FILE "failures.json"

/* The metric's trigger labels: containerd's checkpoint, the stop signal
 * (kill), delete --force, anything else. */
enum failure_trigger {
	FAILURE_TRIGGER_CHECKPOINT,
	FAILURE_TRIGGER_KILL,
	FAILURE_TRIGGER_DELETE,
	FAILURE_TRIGGER_OTHER,
	FAILURE_TRIGGERS
};
extern const char *const failure_trigger_names[FAILURE_TRIGGERS];

struct failure_counts {
	uint64_t checkpoint[FAILURE_TRIGGERS];
	uint64_t restore;
};

/* The label of a checkpoint_request's trigger ("stop signal" -> kill). */
enum failure_trigger failure_trigger_of(const char *trigger);

/* One more failed checkpoint (by trigger) or, trigger < 0, restore;
 * read-modify-write under <state_dir>/failures.lock. */
int failure_count_add(struct tardis_store *s, int trigger, tardis_error_t *err);
/* All zero when the file does not exist yet. */
int failure_count_load(struct tardis_store *s, struct failure_counts *out, tardis_error_t *err);

#endif
