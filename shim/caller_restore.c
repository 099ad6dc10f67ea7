/*
 * restore (the caller's own: `docker start --checkpoint` restores the
 * CRIU files `docker checkpoint create` kept, checkpoint.c passed that
 * checkpoint to runc).  An enabled container with a work dir had it
 * mounted when it was checkpointed (create.c adds the mount to its
 * config.json), and CRIU restores only into the mounts it dumped: the
 * same mount is added to the new config.json, then runc gets the call
 * unchanged.  tardis does not manage the restored container (no state,
 * no registration): its next create does.
 */
#include "shim.h"
#include "cleanup.h"
#include "image_roots.h"
#include "log.h"
#include "oci_config.h"

#include <cjson/cJSON.h>
#include <unistd.h>

enum shim_result handle_restore(struct shim *s, int *exit_code)
{
	const char *bundle_opt = runc_args_opt(&s->args, "bundle");
	cleanup_error tardis_error_t err = NULL;
	cleanup_json cJSON *config = NULL;
	struct tardis_settings set;
	char bundle[PATH_MAX], work_dir[PATH_MAX], why[4096];
	int r;

	(void)exit_code;
	if (bundle_opt)
		snprintf(bundle, sizeof(bundle), "%s", bundle_opt);
	else if (!getcwd(bundle, sizeof(bundle)))
		return SHIM_PASS_THROUGH;
	if (oci_settings_load(bundle, &set, &config, &err) < 0 || !set.enabled)
		return SHIM_PASS_THROUGH;
	if (!s->args.id || !store_id_valid(s->args.ns) || !store_id_valid(s->args.id) ||
	    settings_work_dir(&set, s->args.ns, s->args.id, work_dir, sizeof(work_dir)) < 0 ||
	    !work_dir[0])
		return SHIM_PASS_THROUGH;
	log_info("intercepted: restore %s/%s (bundle %s)", s->args.ns, s->args.id, bundle);
	if (image_root_check(&s->cfg, work_dir, why, sizeof(why)) < 0) {
		log_warn("restore %s/%s: work dir refused: %s", s->args.ns, s->args.id, why);
		return SHIM_PASS_THROUGH;
	}
	r = oci_config_add_workdir(config, &set, work_dir, &err);
	if (r < 0 || (r == 1 && oci_config_write(bundle, config, &err) < 0))
		log_warn("restore %s/%s: work dir: %s", s->args.ns, s->args.id,
			 tardis_error_msg(err));
	else
		log_info("restore %s/%s: work dir %s mounted at %s, as when it was checkpointed",
			 s->args.ns, s->args.id, work_dir, set.workdir);
	return SHIM_PASS_THROUGH;
}
