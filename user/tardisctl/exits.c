/* tardisctl exits, counters: what the kernel side of the exit monitor holds. */
#include "tardisctl.h"
#include "util.h"

#include <string.h>

/* The monitor tardisd pinned; NULL (reported) when there is none. */
static struct tardis_monitor *monitor_required(struct ctl *c, struct tardis_monitor *m)
{
	cleanup_error tardis_error_t err = NULL;

	if (monitor_open_pinned(m, c->cfg.bpf_dir, &err) < 0) {
		fprintf(stderr, "tardisctl: %s\n", tardis_error_msg(err));
		return NULL;
	}
	return m;
}

/* One exit as a JSON object; the comm is the process's to choose. */
static cJSON *exit_json(const struct tardis_exit_event *ev, const struct exit_status *st,
			const char *comm)
{
	cJSON *o = cJSON_CreateObject();

	if (!o)
		return NULL;
	json_add_u64(o, "pid", ev->tgid);
	json_add_u64(o, "start_time", ev->start_time);
	json_add_u64(o, "wait_status", ev->status);
	json_add_i64(o, "exit_status", st->exit_status);
	json_add_i64(o, "signal", st->signal);
	cJSON_AddBoolToObject(o, "core_dumped", st->core_dumped);
	json_add_u64(o, "pidns_level", ev->pidns_level);
	json_add_u64(o, "pidns_inum", ev->pidns_inum);
	json_add_u64(o, "cgroup_id", ev->cgroup_id);
	json_add_u64(o, "exit_mono_ns", ev->exit_ns);
	json_add_u64(o, "reason", ev->reason);
	cJSON_AddStringToObject(o, "comm", comm);
	return o;
}

static int print_exit(const struct tardis_exit_event *ev, void *arg)
{
	int json = *(int *)arg;
	struct exit_status st;
	char comm[TARDIS_COMM_LEN + 1];

	memcpy(comm, ev->comm, TARDIS_COMM_LEN);
	comm[TARDIS_COMM_LEN] = '\0';
	exit_status_decode(ev->status, &st);
	if (json) {
		cleanup_json cJSON *o = exit_json(ev, &st, comm);

		if (o)
			print_json_line(o);
	} else {
		printf("%-8u %-12llu %-6d %-6d %-5s %-6u %-16s\n", ev->tgid,
		       (unsigned long long)ev->start_time, st.exit_status, st.signal,
		       st.core_dumped ? "yes" : "no", ev->pidns_level, comm);
	}
	return 0;
}

static int exits_main(struct ctl *c, int argc, char **argv)
{
	int json = 0, ret;
	struct ctl_opt opts[] = {
		CTL_FLAG("json", 'j', &json),
		CTL_OPT_END,
	};
	struct ctl_cmdline cl = { .opts = opts };
	struct tardis_monitor mon;
	cleanup_monitor_ptr struct tardis_monitor *m = NULL;

	if ((ret = opts_parse(c, argc, argv, &cl)) >= 0)
		return ret;
	if (!(m = monitor_required(c, &mon)))
		return 1;
	if (!json)
		printf("%-8s %-12s %-6s %-6s %-5s %-6s %-16s\n", "PID", "START", "STATUS", "SIGNAL",
		       "CORE", "LEVEL", "COMM");
	monitor_recent_foreach(m, print_exit, &json);
	return 0;
}

static int counters_main(struct ctl *c, int argc, char **argv)
{
	struct ctl_cmdline cl = { .opts = NULL };
	cleanup_error tardis_error_t err = NULL;
	struct tardis_monitor mon;
	cleanup_monitor_ptr struct tardis_monitor *m = NULL;
	cleanup_json cJSON *o = NULL;
	struct tardis_counters n;
	int ret;

	if ((ret = opts_parse(c, argc, argv, &cl)) >= 0)
		return ret;
	if (!(m = monitor_required(c, &mon)))
		return 1;
	if (monitor_counters(m, &n, &err) < 0) {
		fprintf(stderr, "tardisctl: %s\n", tardis_error_msg(err));
		return 1;
	}
	if (!(o = cJSON_CreateObject()))
		return 1;
	json_add_u64(o, "captured", n.captured);
	json_add_u64(o, "drops", n.drops);
	json_add_u64(o, "duplicates", n.duplicates);
	json_add_u64(o, "recent_full", n.recent_full);
	print_json_line(o);
	return 0;
}

TARDISCTL_COMMAND(exits, 0, "recent exits held by the kernel map",
		  "usage: tardisctl exits [--json]\n"
		  "The recent-exits map of the exit monitor.  Only reads it: no event is taken away\n"
		  "from the agent.\n"
		  "  --json            one JSON object per line\n");

TARDISCTL_COMMAND(counters, 0, "the kernel program's counters",
		  "usage: tardisctl counters\n"
		  "The exit monitor's per-CPU counters, summed (JSON).\n");
