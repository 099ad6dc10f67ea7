/* checkpoint (containerd's): into tardis's image instead of the caller's,
 * then the container is gone; containerd's resume is answered (start.c).
 * Kubernetes' and Docker's own checkpoints go to runc untouched. */
#include "shim.h"
#include "checkpoint.h"
#include "cleanup.h"
#include "container_state.h"
#include "log.h"
#include "util.h"

#include <string.h>

const char *checkpoint_callers(const struct cJSON *st, const char *ns)
{
	/* Kubernetes' CheckpointContainer (forensic: into containerd's own
	 * directory, the container left running); tardis's triggers there
	 * are the stop and the delete. */
	if (cjson_get_bool(st, "cri"))
		return "CRI checkpoint";
	/* `docker checkpoint create` reads CRIU's files back from the
	 * --image-path it gave (docker start --checkpoint restores them);
	 * tardis's image would leave it an empty checkpoint.  Docker's
	 * containerd namespace is moby (dockerd --containerd-namespace). */
	if (strcmp(ns, SHIM_DOCKER_NS) == 0)
		return "Docker's checkpoint";
	return NULL;
}

enum shim_result handle_checkpoint(struct shim *s, int *exit_code)
{
	cleanup_json cJSON *st = shim_load_state(s);
	struct checkpoint_request req = { .trigger = "checkpoint", .forward_opts = 1,
					  .skip_resume = 1 };
	const char *whose;

	if (!st)
		return SHIM_PASS_THROUGH;
	log_info("intercepted: checkpoint %s/%s", s->args.ns, s->args.id);
	/* Pre-dumps, page servers and lazy pages leave the container running
	 * or need a second step: CRIU's own business, not a tardis image. */
	if (runc_args_flag(&s->args, "pre-dump") || runc_args_opt(&s->args, "page-server") ||
	    runc_args_flag(&s->args, "lazy-pages") || runc_args_opt(&s->args, "parent-path")) {
		log_info("%s/%s: incremental/lazy checkpoint is not tardis's: passed through",
			 s->args.ns, s->args.id);
	} else if ((whose = checkpoint_callers(st, s->args.ns))) {
		log_info("%s/%s: %s: passed to runc", s->args.ns, s->args.id, whose);
		return SHIM_PASS_THROUGH;
	} else {
		checkpoint_request_from_state(&req, st);
		if (checkpoint_container(shim_runc_call(s), &req) == 0) {
			*exit_code = 0;
			return SHIM_DONE;
		}
	}
	log_warn("checkpoint %s/%s: passing the original command to runc", s->args.ns, s->args.id);
	return SHIM_PASS_THROUGH;
}
