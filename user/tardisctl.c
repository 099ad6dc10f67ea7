/*
 * tardisctl: the operator's view of tardis.
 */
#include "agent.h"
#include "cleanup.h"
#include "exit_record.h"
#include "log.h"
#include "proc.h"

#include <bpf/libbpf.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct ctl {
	struct tardis_config cfg;
	struct tardis_store store;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: tardisctl [--state-dir DIR] [--bpf-dir DIR] COMMAND ...\n"
		"commands:\n"
		"  register NS/ID PID [START_TIME]   tell the exit monitor PID is the init of NS/ID\n"
		"  show NS/ID                        the container's state and exit record (JSON)\n"
		"  exits [--json]                    recent exits held by the kernel map\n"
		"  counters                          the kernel program's counters\n");
}

/* "ns/id" -> validated parts; writes into the caller's buffers. */
static int split_ref(const char *ref, char *ns, char *id)
{
	const char *slash = strchr(ref, '/');

	if (!slash || (size_t)(slash - ref) > TARDIS_ID_MAX || strlen(slash + 1) > TARDIS_ID_MAX)
		return -1;
	memcpy(ns, ref, slash - ref);
	ns[slash - ref] = '\0';
	strcpy(id, slash + 1);
	return store_id_valid(ns) && store_id_valid(id) ? 0 : -1;
}

static int parse_u64(const char *s, uint64_t *v)
{
	char *end;

	errno = 0;
	*v = strtoull(s, &end, 10);
	return (errno || end == s || *end || s[0] == '-') ? -1 : 0;
}

static int cmd_register(struct ctl *c, int argc, char **argv)
{
	char ns[TARDIS_ID_MAX + 1], id[TARDIS_ID_MAX + 1];
	cleanup_error tardis_error_t err = NULL;
	struct tardis_monitor mon;
	uint64_t pid, start = 0;
	int have_mon;

	if (argc < 3 || argc > 4 || split_ref(argv[1], ns, id) < 0 || parse_u64(argv[2], &pid) < 0 ||
	    pid == 0 || pid > 4194304 || (argc == 4 && parse_u64(argv[3], &start) < 0)) {
		fprintf(stderr, "usage: tardisctl register NS/ID PID [START_TIME]\n");
		return 2;
	}
	have_mon = monitor_open_pinned(&mon, c->cfg.bpf_dir, &err) == 0;
	if (!have_mon) {
		fprintf(stderr, "tardisctl: warning: %s (is tardisd running?)\n",
			tardis_error_msg(err));
		tardis_error_free(&err);
	}
	if (registry_register(&c->store, have_mon ? &mon : NULL, ns, id, (pid_t)pid, start, &err) <
	    0) {
		fprintf(stderr, "tardisctl: register: %s\n", tardis_error_msg(err));
		return 1;
	}
	if (have_mon)
		monitor_close(&mon);
	return 0;
}

static int cmd_show(struct ctl *c, int argc, char **argv)
{
	char ns[TARDIS_ID_MAX + 1], id[TARDIS_ID_MAX + 1];
	cleanup_error tardis_error_t err = NULL;
	cleanup_close int dfd = -1;
	cleanup_free char *state = NULL;
	cleanup_free char *exitrec = NULL;

	if (argc != 2 || split_ref(argv[1], ns, id) < 0) {
		fprintf(stderr, "usage: tardisctl show NS/ID\n");
		return 2;
	}
	dfd = store_container_dir(&c->store, ns, id, 0, &err);
	if (dfd < 0) {
		fprintf(stderr, "tardisctl: %s/%s: %s\n", ns, id, tardis_error_msg(err));
		return 1;
	}
	if (store_read(dfd, STATE_FILE, 1 << 20, &state, NULL, &err) < 0)
		tardis_error_free(&err);
	if (store_read(dfd, EXIT_RECORD_FILE, 1 << 20, &exitrec, NULL, &err) < 0)
		tardis_error_free(&err);
	printf("{\"namespace\":\"%s\",\"id\":\"%s\",\"state\":%s,\"exit\":%s}\n", ns, id,
	       state ? state : "null", exitrec ? exitrec : "null");
	return 0;
}

static int print_exit(const struct tardis_exit_event *ev, void *arg)
{
	int json = *(int *)arg;
	struct exit_status st;
	char comm[TARDIS_COMM_LEN + 1];

	memcpy(comm, ev->comm, TARDIS_COMM_LEN);
	comm[TARDIS_COMM_LEN] = '\0';
	exit_status_decode(ev->status, &st);
	if (json)
		printf("{\"pid\":%u,\"start_time\":%llu,\"wait_status\":%u,\"exit_status\":%d,"
		       "\"signal\":%d,\"core_dumped\":%s,\"pidns_level\":%u,\"pidns_inum\":%u,"
		       "\"cgroup_id\":%llu,\"exit_mono_ns\":%llu,\"reason\":%u,\"comm\":\"%s\"}\n",
		       ev->tgid, (unsigned long long)ev->start_time, ev->status, st.exit_status,
		       st.signal, st.core_dumped ? "true" : "false", ev->pidns_level, ev->pidns_inum,
		       (unsigned long long)ev->cgroup_id, (unsigned long long)ev->exit_ns, ev->reason,
		       comm);
	else
		printf("%-8u %-12llu %-6d %-6d %-5s %-6u %-16s\n", ev->tgid,
		       (unsigned long long)ev->start_time, st.exit_status, st.signal,
		       st.core_dumped ? "yes" : "no", ev->pidns_level, comm);
	return 0;
}

static int cmd_exits(struct ctl *c, int argc, char **argv)
{
	cleanup_error tardis_error_t err = NULL;
	struct tardis_monitor mon;
	int json = argc > 1 && strcmp(argv[1], "--json") == 0;

	if (argc > 2 || (argc == 2 && !json)) {
		fprintf(stderr, "usage: tardisctl exits [--json]\n");
		return 2;
	}
	if (monitor_open_pinned(&mon, c->cfg.bpf_dir, &err) < 0) {
		fprintf(stderr, "tardisctl: %s\n", tardis_error_msg(err));
		return 1;
	}
	if (!json)
		printf("%-8s %-12s %-6s %-6s %-5s %-6s %-16s\n", "PID", "START", "STATUS", "SIGNAL",
		       "CORE", "LEVEL", "COMM");
	monitor_recent_foreach(&mon, print_exit, &json);
	monitor_close(&mon);
	return 0;
}

static int cmd_counters(struct ctl *c, int argc, char **argv)
{
	cleanup_error tardis_error_t err = NULL;
	struct tardis_monitor mon;
	struct tardis_counters n;

	if (monitor_open_pinned(&mon, c->cfg.bpf_dir, &err) < 0 ||
	    monitor_counters(&mon, &n, &err) < 0) {
		fprintf(stderr, "tardisctl: %s\n", tardis_error_msg(err));
		return 1;
	}
	monitor_close(&mon);
	printf("{\"exits\":%llu,\"captured\":%llu,\"drops\":%llu,\"duplicates\":%llu,"
	       "\"recent_full\":%llu}\n",
	       (unsigned long long)n.exits, (unsigned long long)n.captured,
	       (unsigned long long)n.drops, (unsigned long long)n.duplicates,
	       (unsigned long long)n.recent_full);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(struct ctl *c, int argc, char **argv);
		int needs_store;
	} cmds[] = {
		{ "register", cmd_register, 1 },
		{ "show", cmd_show, 1 },
		{ "exits", cmd_exits, 0 },
		{ "counters", cmd_counters, 0 },
	};
	cleanup_error tardis_error_t err = NULL;
	struct ctl c;
	int i = 1, ret;

	memset(&c, 0, sizeof(c));
	c.store.root_fd = -1;
	if (config_load(&c.cfg, &err) < 0) {
		fprintf(stderr, "tardisctl: %s\n", tardis_error_msg(err));
		return 1;
	}
	libbpf_set_print(NULL);
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		}
		if (i + 1 < argc && strcmp(argv[i], "--state-dir") == 0 && argv[i + 1][0] == '/') {
			snprintf(c.cfg.state_dir, sizeof(c.cfg.state_dir), "%s", argv[++i]);
		} else if (i + 1 < argc && strcmp(argv[i], "--bpf-dir") == 0 && argv[i + 1][0] == '/') {
			snprintf(c.cfg.bpf_dir, sizeof(c.cfg.bpf_dir), "%s", argv[++i]);
		} else {
			fprintf(stderr, "tardisctl: bad option `%s`\n", argv[i]);
			usage(stderr);
			return 2;
		}
	}
	if (i >= argc) {
		usage(stderr);
		return 2;
	}
	tardis_log_open("tardisctl", NULL, c.cfg.log_level);
	for (size_t k = 0; k < sizeof(cmds) / sizeof(cmds[0]); k++) {
		if (strcmp(argv[i], cmds[k].name) != 0)
			continue;
		if (cmds[k].needs_store && store_open(&c.store, c.cfg.state_dir, &err) < 0) {
			fprintf(stderr, "tardisctl: %s\n", tardis_error_msg(err));
			return 1;
		}
		ret = cmds[k].fn(&c, argc - i, argv + i);
		store_close(&c.store);
		return ret;
	}
	fprintf(stderr, "tardisctl: unknown command `%s`\n", argv[i]);
	usage(stderr);
	return 2;
}
