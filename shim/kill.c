/* kill: a stop signal to a running container that opted in
 * (checkpoint_on_stop) becomes a checkpoint, which stops it. */
#include "shim.h"
#include "checkpoint.h"
#include "cleanup.h"
#include "handled.h"
#include "container_state.h"
#include "log.h"
#include "util.h"

#include <string.h>

enum shim_result handle_kill(struct shim *s, int *exit_code)
{
	cleanup_json cJSON *st = shim_load_state(s);
	const char *sig = s->args.npos ? s->args.pos[0] : NULL;
	struct checkpoint_request req = { .trigger = "stop signal" };
	char status[32];

	if (!st || !cjson_get_bool(st, "checkpoint_on_stop") || !shim_kill_stops(sig))
		return SHIM_PASS_THROUGH;
	runc_call_status_of(shim_runc_call(s), cjson_get_int(st, "init_pid", 0),
			    cjson_get_u64(st, "init_start_time", 0), status, sizeof(status));
	if (strcmp(status, "running") != 0 && strcmp(status, "paused") != 0)
		return SHIM_PASS_THROUGH;
	log_info("intercepted: kill %s/%s %s: checkpoint instead", s->args.ns, s->args.id,
		 sig ? sig : "TERM");
	checkpoint_request_from_state(&req, st);
	if (checkpoint_container(shim_runc_call(s), &req) < 0)
		return SHIM_PASS_THROUGH;
	*exit_code = 0;
	return SHIM_DONE;
}
