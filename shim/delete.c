/*
 * delete: a container still running (delete --force) is checkpointed
 * first; once its init exited 0 its image and state are purged (it
 * finished: nothing to restore), any other exit keeps the image for the
 * next create.  runc deletes the container itself either way.
 */
#include "shim.h"
#include "checkpoint.h"
#include "cleanup.h"
#include "container_state.h"
#include "deadline.h"
#include "exit_lookup.h"
#include "identity.h"
#include "log.h"
#include "purge.h"
#include "util.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* The messages tardis-runc has always logged for a part left behind. */
static void purge_report(void *arg, enum purge_part part, const char *name, tardis_error_t *err)
{
	const struct shim *s = arg;

	switch (part) {
	case PURGE_PART_IMAGE_NOT_OURS: /* not asked for (PURGE_IMAGE_OURS) */
	case PURGE_PART_IMAGE_PATH:
		log_error("%s/%s: image directory %s: %s", s->args.ns, s->args.id, name,
			  tardis_error_msg(*err));
		break;
	case PURGE_PART_IMAGE:
		tardis_error_log_release(TARDIS_LOG_WARN, "remove image", err);
		break;
	case PURGE_PART_WORK_DIR:
		tardis_error_log_release(TARDIS_LOG_WARN, "remove work dir", err);
		break;
	case PURGE_PART_SCRATCH:
		log_warn("%s/%s: remove %s dir: %s", s->args.ns, s->args.id, name,
			 tardis_error_msg(*err));
		break;
	case PURGE_PART_STATE:
		tardis_error_log_release(TARDIS_LOG_WARN, "remove state", err);
		break;
	}
}

/* The identity's lease, held while the container lived, released (or
 * removed after exit 0, its image gone). */
static void identity_release_of(struct shim *s, const cJSON *st, int known, int exit_status)
{
	const char *identity = cjson_get_str(st, "identity");
	const char *image_path = cjson_get_str(st, "image_path");

	if (identity && *identity && image_path && *image_path)
		identity_release(shim_runc_call(s), image_path, st, known, exit_status);
}

/* A create refused by image_roots left a state.json saying why (and its
 * create lock's scratch dir): gone with the container. */
static void drop_refused(struct shim *s)
{
	cleanup_error tardis_error_t err = NULL;
	cleanup_json cJSON *st = NULL;
	struct purge_target t = { .ns = s->args.ns, .id = s->args.id };

	if (!s->args.id || !store_id_valid(s->args.ns) || !store_id_valid(s->args.id) ||
	    shim_open_store(s) < 0 || cstate_load(&s->store, s->args.ns, s->args.id, &st, &err) < 0 ||
	    !cJSON_GetObjectItemCaseSensitive(st, "refused"))
		return;
	purge_container(&s->store, &t, 0, NULL, purge_report, s);
}

/* What a finished container leaves on the network filesystem: its image,
 * its work dir, its lease; in a helper (deadline.h). */
struct finish_arg {
	struct shim *s;
	const struct purge_target *t;
	const cJSON *st;
	int exit_0; /* else only the lease is released */
	int known, exit_status;
};

static int finish_remote(void *arg, void *out, size_t cap, size_t *len)
{
	struct finish_arg *a = arg;

	if (a->exit_0)
		purge_remote(&a->s->store, a->t, 0, NULL, purge_report, a->s);
	identity_release_of(a->s, a->st, a->known, a->exit_status);
	return 0;
}

static int note_purge_pending(cJSON *st, void *arg)
{
	cjson_set_bool(st, "purge_pending", 1);
	return 0;
}

/* The image and work dir of a container that exited 0 removed and its
 * lease released (or just the lease released), with the network
 * filesystem's deadline.  0 done; -1 it did not answer: the image is left
 * for `tardisctl gc` or the next create (state.json purge_pending). */
static int finish_on_networkfs(struct shim *s, const struct purge_target *t, const cJSON *st,
			       int exit_0, int known, int exit_status)
{
	cleanup_error tardis_error_t err = NULL;
	struct finish_arg a = { s, t, st, exit_0, known, exit_status };
	const char *identity = cjson_get_str(st, "identity");
	char what[PATH_MAX + 64];

	if (!exit_0 && !(identity && *identity))
		return 0; /* nothing there to do */
	if (!purge_is_remote(&s->store, t))
		return finish_remote(&a, NULL, 0, NULL);
	snprintf(what, sizeof(what), "the network filesystem (%s)",
		 t->image_path && t->image_path[0] ? t->image_path : t->work_dir);
	if (deadline_run(what, deadline_networkfs_ms(s->cfg.networkfs_timeout), finish_remote, &a,
			 NULL, 0, NULL, NULL, &err) >= 0)
		return 0;
	log_warn("delete %s/%s: %s", s->args.ns, s->args.id, tardis_error_msg(err));
	if (!exit_0)
		return 0;
	log_warn("delete %s/%s: its image %s is left for `tardisctl gc` or the next create",
		 s->args.ns, s->args.id, t->image_path ? t->image_path : "");
	tardis_error_free(&err);
	if (cstate_update(&s->store, s->args.ns, s->args.id, 0, note_purge_pending, NULL, &err) < 0)
		tardis_error_log_release(TARDIS_LOG_WARN, "state", &err);
	return -1;
}

/* runc deletes the container, unless it is gone already (a checkpoint's
 * runc destroyed it): then `runc delete --force` would only find no
 * directory and exit 0 without a word, which tardis answers itself. */
static enum shim_result runc_deletes(struct shim *s, int force, int *exit_code)
{
	char path[PATH_MAX];
	struct stat st;

	if (!force || runc_call_container_path(shim_runc_call(s), "", path, sizeof(path)) < 0 ||
	    lstat(path, &st) == 0 || errno != ENOENT)
		return SHIM_PASS_THROUGH;
	log_debug("delete --force %s/%s: runc has no such container; answered", s->args.ns,
		  s->args.id);
	*exit_code = 0;
	return SHIM_DONE;
}

enum shim_result handle_delete(struct shim *s, int *exit_code)
{
	cleanup_json cJSON *st = shim_load_state(s);
	int force = runc_args_flag(&s->args, "force");
	enum exit_source src;
	int exit_status = -1, known;

	if (!st) {
		drop_refused(s);
		return SHIM_PASS_THROUGH;
	}
	log_info("intercepted: delete%s %s/%s", force ? " --force" : "", s->args.ns, s->args.id);
	if (force) {
		struct checkpoint_request req = { .trigger = "delete --force" };
		char status[32];

		checkpoint_request_from_state(&req, st);
		runc_call_status_of(shim_runc_call(s), cjson_get_int(st, "init_pid", 0),
				    cjson_get_u64(st, "init_start_time", 0), status, sizeof(status));
		if ((strcmp(status, "running") == 0 || strcmp(status, "paused") == 0) &&
		    checkpoint_container(shim_runc_call(s), &req) < 0)
			log_warn("delete %s/%s: checkpoint failed; deleting anyway", s->args.ns,
				 s->args.id);
	}
	known = exit_lookup(&s->store, s->cfg.bpf_dir, s->args.ns, s->args.id,
			    cjson_get_int(st, "init_pid", 0), cjson_get_u64(st, "init_start_time", 0),
			    &exit_status, &src);
	if (known && src == EXIT_SOURCE_KERNEL)
		log_info("%s/%s: exit taken from the kernel's recent_exits", s->args.ns, s->args.id);
	struct purge_target t = { .ns = s->args.ns,
				  .id = s->args.id,
				  .image_path = cjson_get_str(st, "image_path"),
				  .work_dir = cjson_get_str(st, "work_dir"),
				  .image_roots = s->cfg.image_roots };

	if (known && exit_status == 0 && cjson_get_bool(st, "purge_pending")) {
		/* An earlier delete found the network filesystem hanging: not again. */
		log_info("%s/%s: its image is still left for `tardisctl gc` or the next create",
			 s->args.ns, s->args.id);
		return runc_deletes(s, force, exit_code);
	}
	if (known && exit_status == 0) {
		log_info("%s/%s finished with exit code 0: removing its image and state", s->args.ns,
			 s->args.id);
		if (finish_on_networkfs(s, &t, st, 1, known, exit_status) == 0)
			purge_container(&s->store, &t, PURGE_LOCAL_ONLY, NULL, purge_report, s);
		return runc_deletes(s, force, exit_code);
	}
	if (known)
		log_info("%s/%s exited with %d: image kept for the next create", s->args.ns,
			 s->args.id, exit_status);
	else
		log_info("%s/%s: exit code unknown: image kept for the next create", s->args.ns,
			 s->args.id);
	finish_on_networkfs(s, &t, st, 0, known, exit_status);
	/* runc deletes the container: tardis only saved or cleaned up. */
	return runc_deletes(s, force, exit_code);
}
