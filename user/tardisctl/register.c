/* tardisctl register: what tardis-runc does after create, by hand. */
#include "tardisctl.h"
#include "registry.h"

static int register_main(struct ctl *c, int argc, char **argv)
{
	struct ctl_cmdline cl = { .min_args = 2, .max_args = 3,
				  .expect = "expected NS/ID PID [START_TIME]" };
	char ns[TARDIS_ID_MAX + 1], id[TARDIS_ID_MAX + 1];
	cleanup_error tardis_error_t err = NULL;
	struct tardis_monitor mon;
	cleanup_monitor_ptr struct tardis_monitor *m = NULL;
	uint64_t pid, start = 0;
	int ret;

	if ((ret = opts_parse(c, argc, argv, &cl)) >= 0)
		return ret;
	if (split_ref(cl.args[0], ns, id) < 0)
		return ctl_misuse(c, "`%s` is not NS/ID", cl.args[0]);
	if (parse_u64(cl.args[1], &pid) < 0 || pid == 0 || pid > 4194304)
		return ctl_misuse(c, "`%s` is not a pid", cl.args[1]);
	if (cl.nargs == 3 && parse_u64(cl.args[2], &start) < 0)
		return ctl_misuse(c, "`%s` is not a start time", cl.args[2]);
	m = ctl_monitor_optional(c, &mon, 1);
	if (registry_register(&c->store, m, ns, id, (pid_t)pid, start, &err) < 0) {
		fprintf(stderr, "tardisctl: register: %s\n", tardis_error_msg(err));
		return 1;
	}
	return 0;
}

TARDISCTL_COMMAND(register, 1, "tell the exit monitor PID is the init of NS/ID",
		  "usage: tardisctl register NS/ID PID [START_TIME]\n"
		  "Registers PID (started at START_TIME clock ticks; default: read from /proc) as the\n"
		  "init of NS/ID, as tardis-runc does after create.\n");
