/* kill: a stop signal to a running container that opted in
 * (checkpoint_on_stop) becomes a checkpoint, which stops it. */
#include "shim.h"
#include "checkpoint.h"
#include "cleanup.h"
#include "container_state.h"
#include "log.h"
#include "util.h"

#include <string.h>
#include <strings.h>

static int is_stop_signal(const char *sig)
{
	static const char *const stops[] = { "TERM", "KILL", "INT", "15", "9", "2" };

	if (!sig)
		return 1; /* runc's default is SIGTERM */
	if (strncasecmp(sig, "SIG", 3) == 0)
		sig += 3;
	for (size_t i = 0; i < sizeof(stops) / sizeof(stops[0]); i++)
		if (strcasecmp(sig, stops[i]) == 0)
			return 1;
	return 0;
}

enum shim_result handle_kill(struct shim *s, int *exit_code)
{
	cleanup_json cJSON *st = shim_load_state(s);
	const char *sig = s->args.npos ? s->args.pos[0] : NULL;
	struct checkpoint_request req = { .trigger = "stop signal" };
	char status[32];

	if (!st || !cjson_get_bool(st, "checkpoint_on_stop") || !is_stop_signal(sig))
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
