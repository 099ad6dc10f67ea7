/*
 * tardisctl: the operator's view of tardis.  main() picks the command;
 * each command parses its own options and calls the library.
 * Exit status: 0 ok, 1 failed, 2 misuse (`wait` exits with the
 * container's exit status, 124 on --timeout, 125 when the exit is unknown).
 */
#include "agent.h"
#include "cleanup.h"
#include "config_edit.h"
#include "container_state.h"
#include "container_summary.h"
#include "exit_record.h"
#include "image.h"
#include "log.h"
#include "oci_config.h"
#include "proc.h"

#include <bpf/libbpf.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define EXIT_MISUSE 2
#define EXIT_TIMEOUT 124
#define EXIT_UNKNOWN 125

struct ctl {
	struct tardis_config cfg;
	struct tardis_store store;
};

struct command {
	const char *name;
	int (*fn)(struct ctl *c, int argc, char **argv);
	int needs_store;
	const char *summary;
	const char *help;
};

static const struct command *current;

/* ---- helpers ------------------------------------------------------------ */

static void cmd_usage(FILE *f)
{
	fprintf(f, "%s", current->help);
}

static int misuse(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int misuse(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "tardisctl %s: ", current->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	cmd_usage(stderr);
	return EXIT_MISUSE;
}

/* getopt_long over a command's arguments (argv[0] is the command name).
 * Returns the option, -1 at the end, or '?' after reporting misuse. */
static int next_opt(int argc, char **argv, const char *shortopts, const struct option *longopts)
{
	int o;

	opterr = 0;
	o = getopt_long(argc, argv, shortopts, longopts, NULL);
	if (o == '?') {
		misuse("unknown option or missing value: `%s`", argv[optind - 1]);
		return '?';
	}
	return o;
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

/* "90", "90s", "15m", "12h", "7d", "2w", "1h30m" -> seconds. */
static int parse_duration(const char *s, uint64_t *secs)
{
	uint64_t total = 0;
	const char *p = s;

	if (!*p)
		return -1;
	while (*p) {
		uint64_t n = 0, mul;

		if (*p < '0' || *p > '9')
			return -1;
		while (*p >= '0' && *p <= '9') {
			if (n > UINT64_MAX / 10 - 10)
				return -1;
			n = n * 10 + (*p++ - '0');
		}
		switch (*p) {
		case '\0': mul = 1; break;
		case 's': mul = 1; p++; break;
		case 'm': mul = 60; p++; break;
		case 'h': mul = 3600; p++; break;
		case 'd': mul = 86400; p++; break;
		case 'w': mul = 7 * 86400; p++; break;
		default: return -1;
		}
		if (n > (UINT64_MAX - total) / mul)
			return -1;
		total += n * mul;
	}
	*secs = total;
	return 0;
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

static void format_bytes(double b, char *buf, size_t len)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	int u = 0;

	while (b >= 1024 && u < 4) {
		b /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%.0f B", b);
	else
		snprintf(buf, len, "%.1f %s", b, units[u]);
}

/* "45s", "5m", "3h", "2d" for a span of ns. */
static void format_span(int64_t ns, char *buf, size_t len)
{
	int64_t s = ns / 1000000000ll;

	if (s < 0)
		s = 0;
	if (s < 120)
		snprintf(buf, len, "%llds", (long long)s);
	else if (s < 7200)
		snprintf(buf, len, "%lldm", (long long)(s / 60));
	else if (s < 2 * 86400)
		snprintf(buf, len, "%lldh", (long long)(s / 3600));
	else
		snprintf(buf, len, "%lldd", (long long)(s / 86400));
}

/* "5m ago" for an RFC 3339 time; "" when there is none. */
static void format_ago(const char *when, char *buf, size_t len)
{
	int64_t t;
	char span[32];

	buf[0] = '\0';
	if (!when || rfc3339_parse(when, &t) < 0)
		return;
	format_span(now_ns() - t, span, sizeof(span));
	snprintf(buf, len, "%s ago", span);
}

static void print_json(cJSON *o)
{
	char *t = cJSON_Print(o);

	if (t)
		printf("%s\n", t);
	free(t);
}

static const char *exit_text(const struct exit_record *r, char *buf, size_t len)
{
	if (!r->known)
		snprintf(buf, len, "unknown (the init vanished without a trace)");
	else if (r->st.exited)
		snprintf(buf, len, "exit status %d", r->st.exit_status);
	else
		snprintf(buf, len, "exit status %d (signal %d%s)", r->st.exit_status, r->st.signal,
			 r->st.core_dumped ? ", core dumped" : "");
	return buf;
}

/* pid of the running tardisd (its pid file is locked), or 0. */
static pid_t agent_pid(struct ctl *c)
{
	cleanup_close int fd = -1;
	char buf[32];
	ssize_t n;

	fd = openat(c->store.root_fd, TARDISD_PID_FILE, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || flock(fd, LOCK_SH | LOCK_NB) == 0 || errno != EWOULDBLOCK)
		return 0;
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	return (pid_t)strtol(buf, NULL, 10);
}

/* ---- register ----------------------------------------------------------- */

static int cmd_register(struct ctl *c, int argc, char **argv)
{
	static const struct option lo[] = { { "help", no_argument, NULL, 'h' }, { 0 } };
	char ns[TARDIS_ID_MAX + 1], id[TARDIS_ID_MAX + 1];
	cleanup_error tardis_error_t err = NULL;
	struct tardis_monitor mon;
	uint64_t pid, start = 0;
	int have_mon, o;

	while ((o = next_opt(argc, argv, "h", lo)) != -1) {
		if (o == 'h')
			return cmd_usage(stdout), 0;
		return EXIT_MISUSE;
	}
	argc -= optind;
	argv += optind;
	if (argc < 2 || argc > 3)
		return misuse("expected NS/ID PID [START_TIME]");
	if (split_ref(argv[0], ns, id) < 0)
		return misuse("`%s` is not NS/ID", argv[0]);
	if (parse_u64(argv[1], &pid) < 0 || pid == 0 || pid > 4194304)
		return misuse("`%s` is not a pid", argv[1]);
	if (argc == 3 && parse_u64(argv[2], &start) < 0)
		return misuse("`%s` is not a start time", argv[2]);
	have_mon = monitor_open_pinned(&mon, c->cfg.bpf_dir, &err) == 0;
	if (!have_mon) {
		fprintf(stderr, "tardisctl: warning: %s (is tardisd running?)\n",
			tardis_error_msg(err));
		tardis_error_free(&err);
	}
	if (registry_register(&c->store, have_mon ? &mon : NULL, ns, id, (pid_t)pid, start, &err) <
	    0) {
		fprintf(stderr, "tardisctl: register: %s\n", tardis_error_msg(err));
		if (have_mon)
			monitor_close(&mon);
		return 1;
	}
	if (have_mon)
		monitor_close(&mon);
	return 0;
}

/* ---- list ----------------------------------------------------------------- */

#define LIST_COLS 9

struct row {
	char col[LIST_COLS][600];
};

static void list_row(const struct container_summary *s, struct row *r)
{
	const cJSON *ck = cJSON_GetObjectItemCaseSensitive(s->doc, "last_checkpoint");
	const cJSON *rs = cJSON_GetObjectItemCaseSensitive(s->doc, "last_restore");
	char size[32], ago[48], dur[32];
	int es;

	snprintf(r->col[0], sizeof(r->col[0]), "%s", s->ref.ns);
	snprintf(r->col[1], sizeof(r->col[1]), "%s", s->ref.id);
	snprintf(r->col[2], sizeof(r->col[2]), "%s", s->state);
	if (container_summary_exit_status(s, &es))
		snprintf(r->col[3], sizeof(r->col[3]), "%d", es);
	else
		snprintf(r->col[3], sizeof(r->col[3]), "%s", s->has_exit ? "?" : "-");
	if (!s->image_present) {
		strcpy(r->col[4], "-");
		strcpy(r->col[5], "-");
	} else {
		strcpy(r->col[4], s->image.valid ? "valid" : "INVALID");
		format_bytes((double)s->image.size, r->col[5], sizeof(r->col[5]));
	}
	snprintf(r->col[6], sizeof(r->col[6]), "%.0f", cjson_get_num(s->doc, "restores", 0));
	if (cJSON_IsObject(ck)) {
		format_ago(cjson_get_str(ck, "at"), ago, sizeof(ago));
		format_bytes(cjson_get_num(ck, "size", 0), size, sizeof(size));
		snprintf(r->col[7], sizeof(r->col[7]), "%s, %.0f ms, %s", ago,
			 cjson_get_num(ck, "duration_ms", 0), size);
	} else {
		strcpy(r->col[7], "-");
	}
	if (cJSON_IsObject(rs)) {
		const char *res = cjson_get_str(rs, "result");
		const char *why = cjson_get_str(rs, "reason");

		format_ago(cjson_get_str(rs, "at"), ago, sizeof(ago));
		snprintf(dur, sizeof(dur), "%.0f ms", cjson_get_num(rs, "duration_ms", 0));
		if (res && strcmp(res, "restored") == 0)
			snprintf(r->col[8], sizeof(r->col[8]), "%s, restored in %s", ago, dur);
		else
			snprintf(r->col[8], sizeof(r->col[8]), "%s, fell back: %s", ago,
				 why && *why ? why : "?");
	} else {
		strcpy(r->col[8], "-");
	}
}

static int cmd_list(struct ctl *c, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "namespace", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	static const char *const head[LIST_COLS] = { "NAMESPACE", "ID",       "STATE",
						     "EXIT",      "IMAGE",    "SIZE",
						     "RESTORES",  "LAST CHECKPOINT", "LAST RESTORE" };
	cleanup_error tardis_error_t err = NULL;
	cleanup_free struct container_ref *refs = NULL;
	cleanup_free struct row *rows = NULL;
	const char *only_ns = NULL;
	size_t n = 0, nrows = 0, width[LIST_COLS];
	int json = 0, o, ret = 0;
	cJSON *arr = NULL;

	while ((o = next_opt(argc, argv, "jn:h", lo)) != -1) {
		switch (o) {
		case 'j': json = 1; break;
		case 'n': only_ns = optarg; break;
		case 'h': cmd_usage(stdout); return 0;
		default: return EXIT_MISUSE;
		}
	}
	if (optind != argc)
		return misuse("unexpected argument `%s`", argv[optind]);
	if (only_ns && !store_id_valid(only_ns))
		return misuse("`%s` is not a namespace", only_ns);
	if (container_list(&c->store, &refs, &n, &err) < 0) {
		fprintf(stderr, "tardisctl: %s\n", tardis_error_msg(err));
		return 1;
	}
	if (json)
		arr = cJSON_CreateArray();
	else
		rows = calloc(n ? n : 1, sizeof(*rows));
	if ((json && !arr) || (!json && !rows))
		return 1;
	for (size_t i = 0; i < n; i++) {
		struct container_summary s;

		if (only_ns && strcmp(refs[i].ns, only_ns) != 0)
			continue;
		if (container_summary_load(&c->store, refs[i].ns, refs[i].id, 1, &s, &err) < 0) {
			/* Removed since the listing: not an error. */
			if (err->errnum != ENOENT) {
				fprintf(stderr, "tardisctl: %s/%s: %s\n", refs[i].ns, refs[i].id,
					tardis_error_msg(err));
				ret = 1;
			}
			tardis_error_free(&err);
			continue;
		}
		if (json)
			cJSON_AddItemToArray(arr, container_summary_json(&s, 0));
		else
			list_row(&s, &rows[nrows++]);
		container_summary_free(&s);
	}
	if (json) {
		print_json(arr);
		cJSON_Delete(arr);
		return ret;
	}
	for (int k = 0; k < LIST_COLS; k++) {
		width[k] = strlen(head[k]);
		for (size_t i = 0; i < nrows; i++)
			if (strlen(rows[i].col[k]) > width[k])
				width[k] = strlen(rows[i].col[k]);
	}
	for (int k = 0; k < LIST_COLS - 1; k++)
		printf("%-*s  ", (int)width[k], head[k]);
	printf("%s\n", head[LIST_COLS - 1]);
	for (size_t i = 0; i < nrows; i++) {
		for (int k = 0; k < LIST_COLS - 1; k++)
			printf("%-*s  ", (int)width[k], rows[i].col[k]);
		printf("%s\n", rows[i].col[LIST_COLS - 1]);
	}
	return ret;
}

/* ---- show ----------------------------------------------------------------- */

static void show_human(const struct container_summary *s)
{
	const cJSON *ck = cJSON_GetObjectItemCaseSensitive(s->doc, "last_checkpoint");
	const cJSON *rs = cJSON_GetObjectItemCaseSensitive(s->doc, "last_restore");
	const char *v;
	char buf[600], ago[48], size[32], when[64];

	printf("%s/%s\n", s->ref.ns, s->ref.id);
	printf("  %-18s %s%s\n", "state", s->state,
	       strcmp(s->state, "checkpointed") == 0 ? " (the next create restores it)"
	       : strcmp(s->state, "stopped") == 0    ? " (exit not recorded yet: is tardisd running?)"
						     : "");
	if (s->has_exit) {
		printf("  %-18s %s", "exit", exit_text(&s->exit, buf, sizeof(buf)));
		if (s->exit.exited_at_ns) {
			rfc3339_format(s->exit.exited_at_ns, when, sizeof(when));
			format_ago(when, ago, sizeof(ago));
			printf(", at %s (%s)", when, ago);
		}
		printf(", recorded from %s\n", s->exit.source[0] ? s->exit.source : "?");
	} else {
		printf("  %-18s %s\n", "exit", "not recorded");
	}
	if (s->init_pid > 0)
		printf("  %-18s pid %d, start time %llu\n", "init", (int)s->init_pid,
		       (unsigned long long)s->init_start_time);
	if ((v = cjson_get_str(s->doc, "created_at"))) {
		format_ago(v, ago, sizeof(ago));
		printf("  %-18s %s (%s)\n", "created", v, ago);
	}
	if ((v = cjson_get_str(s->doc, "bundle")))
		printf("  %-18s %s\n", "bundle", v);
	if ((v = cjson_get_str(s->doc, "work_dir")) && *v)
		printf("  %-18s %s\n", "work dir", v);
	printf("  %-18s %s\n", "checkpoint on stop",
	       cjson_get_bool(s->doc, "checkpoint_on_stop") ? "yes" : "no");
	if (!s->image_path[0]) {
		printf("  %-18s %s\n", "image", "-");
	} else if (!s->image_present) {
		printf("  %-18s %s (none)\n", "image", s->image_path);
	} else {
		format_bytes((double)s->image.size, size, sizeof(size));
		printf("  %-18s %s: %s, %s%s%s\n", "image", s->image_path,
		       s->image.valid ? "valid" : "INVALID", size,
		       s->image.created_at[0] ? ", created " : "", s->image.created_at);
		for (int i = 0; i < s->image.n; i++)
			printf("  %-18s   %-4s %-12s %s\n", "", s->image.checks[i].ok ? "ok" : "FAIL",
			       s->image.checks[i].name, s->image.checks[i].detail);
	}
	printf("  %-18s %.0f", "checkpoints", cjson_get_num(s->doc, "checkpoints", 0));
	if (cJSON_IsObject(ck)) {
		format_ago(cjson_get_str(ck, "at"), ago, sizeof(ago));
		format_bytes(cjson_get_num(ck, "size", 0), size, sizeof(size));
		v = cjson_get_str(ck, "trigger");
		printf("; last %s (%s) by %s: %.0f ms, %s", cjson_get_str(ck, "at") ?: "?", ago,
		       v ? v : "?", cjson_get_num(ck, "duration_ms", 0), size);
	}
	printf("\n  %-18s %.0f", "restores", cjson_get_num(s->doc, "restores", 0));
	if (cJSON_IsObject(rs)) {
		const char *res = cjson_get_str(rs, "result");
		const char *why = cjson_get_str(rs, "reason");

		format_ago(cjson_get_str(rs, "at"), ago, sizeof(ago));
		if (res && strcmp(res, "restored") == 0)
			printf("; last %s (%s): restored in %.0f ms", cjson_get_str(rs, "at") ?: "?", ago,
			       cjson_get_num(rs, "duration_ms", 0));
		else
			printf("; last %s (%s): fell back to a fresh start after %.0f ms: %s",
			       cjson_get_str(rs, "at") ?: "?", ago, cjson_get_num(rs, "duration_ms", 0),
			       why && *why ? why : "?");
	}
	rfc3339_format(s->last_activity_ns, when, sizeof(when));
	format_ago(when, ago, sizeof(ago));
	printf("\n  %-18s %s (%s)\n", "last activity", when, ago);
}

static int cmd_show(struct ctl *c, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	char ns[TARDIS_ID_MAX + 1], id[TARDIS_ID_MAX + 1];
	cleanup_error tardis_error_t err = NULL;
	struct container_summary s;
	int json = 0, o;

	while ((o = next_opt(argc, argv, "jh", lo)) != -1) {
		switch (o) {
		case 'j': json = 1; break;
		case 'h': cmd_usage(stdout); return 0;
		default: return EXIT_MISUSE;
		}
	}
	if (argc - optind != 1)
		return misuse("expected one NS/ID");
	if (split_ref(argv[optind], ns, id) < 0)
		return misuse("`%s` is not NS/ID", argv[optind]);
	if (container_summary_load(&c->store, ns, id, 1, &s, &err) < 0) {
		fprintf(stderr, "tardisctl: %s/%s: %s\n", ns, id,
			err->errnum == ENOENT ? "no such container in the state store"
					      : tardis_error_msg(err));
		return 1;
	}
	if (json) {
		cJSON *j = container_summary_json(&s, 1);

		print_json(j);
		cJSON_Delete(j);
	} else {
		show_human(&s);
	}
	container_summary_free(&s);
	return 0;
}

/* ---- wait ----------------------------------------------------------------- */

/* The exit of (pid, start) from the kernel's recent-exits map, when no
 * agent will record it. */
static int kernel_exit(struct ctl *c, pid_t pid, uint64_t start, int *exit_status)
{
	struct tardis_monitor mon;
	struct tardis_exit_event ev;
	struct exit_status st;
	tardis_error_t err = NULL;
	int found;

	if (pid <= 0 || monitor_open_pinned(&mon, c->cfg.bpf_dir, &err) < 0) {
		tardis_error_free(&err);
		return 0;
	}
	found = monitor_recent_lookup(&mon, pid, start, &ev) == 1;
	monitor_close(&mon);
	if (!found || exit_status_decode(ev.status, &st) < 0)
		return 0;
	*exit_status = st.exit_status;
	return 1;
}

enum { WAIT_MORE = -1 };

/* The watched directory is gone (exit 0 cleans up, gc): the kernel may
 * still know how the init we waited for ended. */
static int wait_removed(struct ctl *c, const char *ns, const char *id, pid_t pid, uint64_t start)
{
	int es;

	if (kernel_exit(c, pid, start, &es)) {
		printf("%s/%s exited: exit status %d (from the kernel's recent exits; the container is removed)\n",
		       ns, id, es);
		return es;
	}
	fprintf(stderr, "tardisctl: %s/%s was removed before its exit was recorded\n", ns, id);
	return EXIT_UNKNOWN;
}

/* One look at the container: its exit status when recorded, WAIT_MORE, or
 * EXIT_UNKNOWN / 1 when there will be none. */
static int wait_check(struct ctl *c, const char *ns, const char *id, pid_t *pid,
		      uint64_t *start, int *warned)
{
	cleanup_error tardis_error_t err = NULL;
	struct container_summary s;
	char buf[128];
	int es, ret = WAIT_MORE;

	if (container_summary_load(&c->store, ns, id, 0, &s, &err) < 0) {
		if (err->errnum != ENOENT) {
			fprintf(stderr, "tardisctl: %s/%s: %s\n", ns, id, tardis_error_msg(err));
			return 1;
		}
		return wait_removed(c, ns, id, *pid, *start);
	}
	*pid = s.init_pid;
	*start = s.init_start_time;
	if (s.has_exit) {
		if (container_summary_exit_status(&s, &es)) {
			printf("%s/%s exited: %s%s\n", ns, id, exit_text(&s.exit, buf, sizeof(buf)),
			       strcmp(s.state, "checkpointed") == 0
				       ? " (checkpointed: the next create restores it)"
				       : "");
			ret = es;
		} else {
			fprintf(stderr, "tardisctl: %s/%s: the exit is unknown (the init vanished without a trace)\n",
				ns, id);
			ret = EXIT_UNKNOWN;
		}
	} else if (strcmp(s.state, "stopped") == 0 && !agent_pid(c)) {
		/* Nobody will write the record: take what the kernel kept. */
		if (kernel_exit(c, s.init_pid, s.init_start_time, &es)) {
			printf("%s/%s exited: exit status %d (from the kernel's recent exits: no tardisd runs)\n",
			       ns, id, es);
			ret = es;
		} else if (!*warned) {
			fprintf(stderr, "tardisctl: %s/%s: the init is gone and no tardisd runs; waiting for one to record the exit\n",
				ns, id);
			*warned = 1;
		}
	}
	container_summary_free(&s);
	return ret;
}

static int cmd_wait(struct ctl *c, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	char ns[TARDIS_ID_MAX + 1], id[TARDIS_ID_MAX + 1], path[64];
	cleanup_error tardis_error_t err = NULL;
	cleanup_close int dfd = -1;
	cleanup_close int ifd = -1;
	uint64_t timeout_s = 0, start = 0;
	int64_t deadline = 0;
	int o, has_timeout = 0, warned = 0, ret;
	pid_t pid = 0;

	while ((o = next_opt(argc, argv, "t:h", lo)) != -1) {
		switch (o) {
		case 't':
			if (parse_duration(optarg, &timeout_s) < 0 || timeout_s > 100ull * 365 * 86400)
				return misuse("bad --timeout `%s` (e.g. 30s, 5m, 1h)", optarg);
			has_timeout = 1;
			break;
		case 'h': cmd_usage(stdout); return 0;
		default: return EXIT_MISUSE;
		}
	}
	if (argc - optind != 1)
		return misuse("expected one NS/ID");
	if (split_ref(argv[optind], ns, id) < 0)
		return misuse("`%s` is not NS/ID", argv[optind]);
	dfd = store_container_dir(&c->store, ns, id, 0, &err);
	if (dfd < 0) {
		fprintf(stderr, "tardisctl: %s/%s: %s\n", ns, id,
			err->errnum == ENOENT ? "no such container in the state store"
					      : tardis_error_msg(err));
		return 1;
	}
	/* Watched before the first look, so no record can slip in between.
	 * Through /proc/self/fd: the directory we opened without following
	 * symlinks, not whatever the path names now. */
	ifd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", dfd);
	if (ifd < 0 || inotify_add_watch(ifd, path,
					 IN_MOVED_TO | IN_CLOSE_WRITE | IN_DELETE | IN_DELETE_SELF |
						 IN_MOVE_SELF | IN_ONLYDIR) < 0) {
		fprintf(stderr, "tardisctl: inotify on %s/%s: %s\n", ns, id, strerror(errno));
		return 1;
	}
	if (has_timeout)
		deadline = (int64_t)monotonic_ns() + (int64_t)timeout_s * 1000000000ll;
	for (;;) {
		char evbuf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
		struct pollfd p = { .fd = ifd, .events = POLLIN };
		int ms = -1, r;

		ret = wait_check(c, ns, id, &pid, &start, &warned);
		if (ret != WAIT_MORE)
			return ret;
		if (has_timeout) {
			int64_t left = deadline - (int64_t)monotonic_ns();

			if (left <= 0)
				break;
			ms = left / 1000000 > INT_MAX ? INT_MAX : (int)(left / 1000000) + 1;
		}
		r = poll(&p, 1, ms);
		if (r < 0 && errno != EINTR) {
			fprintf(stderr, "tardisctl: poll: %s\n", strerror(errno));
			return 1;
		}
		/* The next look decides, unless the directory itself went: a
		 * container created again under the same name is another one. */
		for (;;) {
			ssize_t n = read(ifd, evbuf, sizeof(evbuf));

			if (n <= 0)
				break;
			for (char *e = evbuf; e < evbuf + n;) {
				const struct inotify_event *ev = (const struct inotify_event *)e;

				if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED))
					return wait_removed(c, ns, id, pid, start);
				e += sizeof(*ev) + ev->len;
			}
		}
	}
	fprintf(stderr, "tardisctl: %s/%s: timed out after %llus waiting for the exit\n", ns, id,
		(unsigned long long)timeout_s);
	return EXIT_TIMEOUT;
}

/* ---- exits, counters ------------------------------------------------------ */

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
	static const struct option lo[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	cleanup_error tardis_error_t err = NULL;
	struct tardis_monitor mon;
	int json = 0, o;

	while ((o = next_opt(argc, argv, "jh", lo)) != -1) {
		switch (o) {
		case 'j': json = 1; break;
		case 'h': cmd_usage(stdout); return 0;
		default: return EXIT_MISUSE;
		}
	}
	if (optind != argc)
		return misuse("unexpected argument `%s`", argv[optind]);
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
	static const struct option lo[] = { { "help", no_argument, NULL, 'h' }, { 0 } };
	cleanup_error tardis_error_t err = NULL;
	struct tardis_monitor mon;
	struct tardis_counters n;
	int o;

	while ((o = next_opt(argc, argv, "h", lo)) != -1) {
		if (o == 'h')
			return cmd_usage(stdout), 0;
		return EXIT_MISUSE;
	}
	if (optind != argc)
		return misuse("unexpected argument `%s`", argv[optind]);
	if (monitor_open_pinned(&mon, c->cfg.bpf_dir, &err) < 0) {
		fprintf(stderr, "tardisctl: %s\n", tardis_error_msg(err));
		return 1;
	}
	if (monitor_counters(&mon, &n, &err) < 0) {
		fprintf(stderr, "tardisctl: %s\n", tardis_error_msg(err));
		monitor_close(&mon);
		return 1;
	}
	monitor_close(&mon);
	printf("{\"captured\":%llu,\"drops\":%llu,\"duplicates\":%llu,"
	       "\"recent_full\":%llu}\n",
	       (unsigned long long)n.captured,
	       (unsigned long long)n.drops, (unsigned long long)n.duplicates,
	       (unsigned long long)n.recent_full);
	return 0;
}

/* ---- validate ------------------------------------------------------------- */

static int cmd_validate(struct ctl *c, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	static const char *const all[] = { "manifest", "format", "dump_log",
					   "inventory", "descriptors", "files" };
	struct image_report r;
	char reason[512], size[32];
	const char *path;
	int json = 0, o, valid;

	while ((o = next_opt(argc, argv, "jh", lo)) != -1) {
		switch (o) {
		case 'j': json = 1; break;
		case 'h': cmd_usage(stdout); return 0;
		default: return EXIT_MISUSE;
		}
	}
	if (argc - optind != 1)
		return misuse("expected one IMAGE-DIR");
	path = argv[optind];
	valid = image_validate(path, &r);
	if (valid < 0) {
		fprintf(stderr, "tardisctl: no image at `%s`\n", path);
		return 1;
	}
	if (json) {
		cJSON *j = cJSON_CreateObject(), *arr;

		cJSON_AddStringToObject(j, "path", path);
		cJSON_AddBoolToObject(j, "valid", valid == 1);
		if (valid != 1)
			cJSON_AddStringToObject(j, "reason", image_report_reason(&r, reason, sizeof(reason)));
		if (r.ns[0])
			cJSON_AddStringToObject(j, "namespace", r.ns);
		if (r.id[0])
			cJSON_AddStringToObject(j, "id", r.id);
		if (r.created_at[0])
			cJSON_AddStringToObject(j, "created_at", r.created_at);
		cJSON_AddNumberToObject(j, "size", (double)r.size);
		arr = cJSON_AddArrayToObject(j, "checks");
		for (size_t k = 0; k < sizeof(all) / sizeof(all[0]); k++) {
			cJSON *e = cJSON_CreateObject();
			int i;

			for (i = 0; i < r.n && strcmp(r.checks[i].name, all[k]) != 0; i++)
				;
			cJSON_AddStringToObject(e, "name", all[k]);
			cJSON_AddStringToObject(e, "result", i == r.n ? "skipped" : r.checks[i].ok ? "pass" : "fail");
			cJSON_AddStringToObject(e, "detail", i == r.n ? "not checked" : r.checks[i].detail);
			cJSON_AddItemToArray(arr, e);
		}
		print_json(j);
		cJSON_Delete(j);
		return valid == 1 ? 0 : 1;
	}
	for (size_t k = 0; k < sizeof(all) / sizeof(all[0]); k++) {
		int i;

		for (i = 0; i < r.n && strcmp(r.checks[i].name, all[k]) != 0; i++)
			;
		if (i == r.n)
			printf("%-5s %-12s %s\n", "skip", all[k], "not checked (an earlier check failed)");
		else
			printf("%-5s %-12s %s\n", r.checks[i].ok ? "pass" : "FAIL", all[k],
			       r.checks[i].detail);
	}
	if (valid == 1) {
		format_bytes((double)r.size, size, sizeof(size));
		printf("%s: valid (%s/%s, %s, created %s)\n", path, r.ns, r.id, size,
		       r.created_at[0] ? r.created_at : "?");
		return 0;
	}
	printf("%s: INVALID (%s)\n", path, image_report_reason(&r, reason, sizeof(reason)));
	return 1;
}

/* ---- finalize ------------------------------------------------------------- */

/* Runs argv (no shell), stdout and stderr into out; kills it after
 * timeout_s.  Returns its wait status, or -1 (out says why). */
static int run_capture(char *const argv[], int timeout_s, char *out, size_t outlen)
{
	int64_t deadline = (int64_t)monotonic_ns() + (int64_t)timeout_s * 1000000000ll;
	size_t len = 0;
	int p[2], st;
	pid_t pid;

	out[0] = '\0';
	if (pipe2(p, O_CLOEXEC) < 0) {
		snprintf(out, outlen, "pipe: %s", strerror(errno));
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		snprintf(out, outlen, "fork: %s", strerror(errno));
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (pid == 0) {
		int null = open("/dev/null", O_RDONLY);

		setpgid(0, 0); /* killed as a group on timeout */
		if (null >= 0)
			dup2(null, 0);
		dup2(p[1], 1);
		dup2(p[1], 2);
		execvp(argv[0], argv);
		dprintf(2, "exec %s: %s", argv[0], strerror(errno));
		_exit(127);
	}
	close(p[1]);
	for (;;) {
		struct pollfd pf = { .fd = p[0], .events = POLLIN };
		int64_t left = deadline - (int64_t)monotonic_ns();
		char buf[1024];
		ssize_t n;

		if (left <= 0 || poll(&pf, 1, (int)(left / 1000000) + 1) == 0) {
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			close(p[0]);
			snprintf(out, outlen, "%s timed out after %d s", argv[0], timeout_s);
			return -1;
		}
		n = read(p[0], buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (len + 1 < outlen) {
			size_t k = (size_t)n < outlen - 1 - len ? (size_t)n : outlen - 1 - len;

			memcpy(out + len, buf, k);
			len += k;
			out[len] = '\0';
		}
	}
	close(p[0]);
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return st;
}

/* Waits (pidfd, no polling loop) until (pid, start) is dead. */
static int wait_gone(pid_t pid, uint64_t start, int timeout_ms)
{
	struct pollfd p = { .events = POLLIN };
	int r;

	p.fd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (p.fd < 0)
		return errno == ESRCH || !proc_is_same(pid, start) ? 0 : -1;
	if (!proc_is_same(pid, start)) {
		close(p.fd);
		return 0;
	}
	r = poll(&p, 1, timeout_ms);
	close(p.fd);
	return r > 0 || !proc_is_same(pid, start) ? 0 : -1;
}

/* The last non-empty line of a command's output, for a one-line reason. */
static const char *last_line(char *out)
{
	char *e = out + strlen(out), *b;

	while (e > out && (e[-1] == '\n' || e[-1] == ' ' || e[-1] == '\r'))
		*--e = '\0';
	b = strrchr(out, '\n');
	return b ? b + 1 : out;
}

struct finalize_opts {
	const char *address;
	const char *ctr;
	int dry_run;
	int timeout_s;
};

/* One container: ctr checkpoint (tardis-runc saves it and stops it), then
 * proof: the init is gone and a valid image newer than the create.  0 ok,
 * -1 with reason. */
static int finalize_one(struct ctl *c, const struct finalize_opts *fo,
			const struct container_summary *before, char *reason, size_t rlen)
{
	char ref[TARDIS_ID_MAX * 2 + 64], out[4096], why[512];
	char *ctr_argv[16];
	cleanup_error tardis_error_t err = NULL;
	struct container_summary after;
	int st, n = 0, ok;

	snprintf(ref, sizeof(ref), "tardis-finalize/%s/%s:%lld", before->ref.ns, before->ref.id,
		 (long long)(now_ns() / 1000000000ll));
	ctr_argv[n++] = (char *)fo->ctr;
	ctr_argv[n++] = "-a";
	ctr_argv[n++] = (char *)fo->address;
	ctr_argv[n++] = "-n";
	ctr_argv[n++] = (char *)before->ref.ns;
	ctr_argv[n++] = "containers";
	ctr_argv[n++] = "checkpoint";
	ctr_argv[n++] = "--task";
	ctr_argv[n++] = (char *)before->ref.id;
	ctr_argv[n++] = ref;
	ctr_argv[n] = NULL;
	st = run_capture(ctr_argv, fo->timeout_s, out, sizeof(out));
	if (st < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		if (st < 0)
			snprintf(reason, rlen, "%s", out);
		else
			snprintf(reason, rlen, "ctr checkpoint failed (exit status %d): %s",
				 WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st), last_line(out));
		return -1;
	}
	/* containerd keeps a checkpoint image of its own (empty: tardis wrote
	 * the real one); it is no use to anybody. */
	ctr_argv[5] = "images";
	ctr_argv[6] = "rm";
	ctr_argv[7] = ref;
	ctr_argv[8] = NULL;
	run_capture(ctr_argv, 60, out, sizeof(out));
	if (wait_gone(before->init_pid, before->init_start_time, 10000) < 0) {
		snprintf(reason, rlen, "still running after the checkpoint (tardis-runc passed it to runc? see %s)",
			 c->cfg.log_file[0] ? c->cfg.log_file : "/var/log/tardis-runc.log");
		return -1;
	}
	if (container_summary_load(&c->store, before->ref.ns, before->ref.id, 1, &after, &err) < 0) {
		snprintf(reason, rlen, "state: %s", tardis_error_msg(err));
		return -1;
	}
	ok = strcmp(after.state, "checkpointed") == 0 && after.image_present && after.image.valid;
	if (!ok) {
		if (after.image_present && !after.image.valid)
			snprintf(reason, rlen, "image %s is invalid (%s)", after.image_path,
				 image_report_reason(&after.image, why, sizeof(why)));
		else
			snprintf(reason, rlen, "stopped but not checkpointed by tardis (state %s); see %s",
				 after.state, c->cfg.log_file[0] ? c->cfg.log_file : "/var/log/tardis-runc.log");
	} else {
		const cJSON *ck = cJSON_GetObjectItemCaseSensitive(after.doc, "last_checkpoint");
		char size[32];

		format_bytes((double)after.image.size, size, sizeof(size));
		snprintf(reason, rlen, "%s in %.0f ms into %s", size,
			 cjson_get_num(ck, "duration_ms", 0), after.image_path);
	}
	container_summary_free(&after);
	return ok ? 0 : -1;
}

static int cmd_finalize(struct ctl *c, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "address", required_argument, NULL, 'a' },
		{ "namespace", required_argument, NULL, 'n' },
		{ "ctr", required_argument, NULL, 'c' },
		{ "dry-run", no_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct finalize_opts fo = { .address = "/run/containerd/containerd.sock", .ctr = "ctr" };
	cleanup_error tardis_error_t err = NULL;
	cleanup_free struct container_ref *refs = NULL;
	const char *only_ns = NULL;
	size_t n = 0;
	int o, done = 0, failed = 0, skipped = 0;

	while ((o = next_opt(argc, argv, "a:n:h", lo)) != -1) {
		switch (o) {
		case 'a': fo.address = optarg; break;
		case 'n': only_ns = optarg; break;
		case 'c': fo.ctr = optarg; break;
		case 'd': fo.dry_run = 1; break;
		case 'h': cmd_usage(stdout); return 0;
		default: return EXIT_MISUSE;
		}
	}
	if (optind != argc)
		return misuse("unexpected argument `%s`", argv[optind]);
	if (only_ns && !store_id_valid(only_ns))
		return misuse("`%s` is not a namespace", only_ns);
	if (!*fo.address || !*fo.ctr)
		return misuse("empty --address or --ctr");
	fo.timeout_s = c->cfg.checkpoint_timeout + 60;
	if (container_list(&c->store, &refs, &n, &err) < 0) {
		fprintf(stderr, "tardisctl: %s\n", tardis_error_msg(err));
		return 1;
	}
	for (size_t i = 0; i < n; i++) {
		struct container_summary s;
		char reason[1024];
		uint64_t t0;

		if (only_ns && strcmp(refs[i].ns, only_ns) != 0)
			continue;
		if (container_summary_load(&c->store, refs[i].ns, refs[i].id, 0, &s, &err) < 0) {
			tardis_error_free(&err);
			continue;
		}
		if (strcmp(s.state, "running") != 0) {
			skipped++;
			container_summary_free(&s);
			continue;
		}
		if (fo.dry_run) {
			printf("%s/%s: would checkpoint (init pid %d)\n", s.ref.ns, s.ref.id,
			       (int)s.init_pid);
			done++;
			container_summary_free(&s);
			continue;
		}
		t0 = monotonic_ns();
		if (finalize_one(c, &fo, &s, reason, sizeof(reason)) == 0) {
			printf("%s/%s: checkpointed and stopped: %s (%.1f s)\n", s.ref.ns, s.ref.id,
			       reason, (monotonic_ns() - t0) / 1e9);
			done++;
		} else {
			printf("%s/%s: FAILED: %s\n", s.ref.ns, s.ref.id, reason);
			failed++;
		}
		fflush(stdout);
		container_summary_free(&s);
	}
	printf("finalize: %s %d, failed %d, not running %d\n",
	       fo.dry_run ? "would checkpoint" : "checkpointed", done, failed, skipped);
	return failed ? 1 : 0;
}

/* ---- gc ------------------------------------------------------------------- */

/* <state_dir>/<what>/<ns>/<id>: tardis-runc's scratch directories. */
static void remove_scratch(struct ctl *c, const char *ns, const char *id)
{
	static const char *const what[] = { "work", "restore" };
	tardis_error_t err = NULL;

	/* Walked from the store's root: a planted symlink is not followed. */
	for (size_t i = 0; i < 2; i++) {
		if (image_scratch_remove(&c->store, what[i], ns, id, 1, &err) < 0) {
			fprintf(stderr, "tardisctl: %s/%s: %s: %s\n", ns, id, what[i],
				tardis_error_msg(err));
			tardis_error_free(&err);
		}
	}
}

/* The image path comes from state.json: only a path that ends in /<ns>/<id>
 * (every path tardis makes does) is removed. */
static int image_path_ours(const char *path, const char *ns, const char *id)
{
	char tail[2 * TARDIS_ID_MAX + 4];
	size_t pl = strlen(path), tl;

	snprintf(tail, sizeof(tail), "/%s/%s", ns, id);
	tl = strlen(tail);
	return path_is_clean_absolute(path) && pl > tl && strcmp(path + pl - tl, tail) == 0;
}

/* Removes what is left of a gone container, under its lock, if it is
 * still gone and still old when the lock is ours.  1 removed, 0 kept. */
static int gc_one(struct ctl *c, const char *ns, const char *id, int64_t cutoff, uint64_t *freed)
{
	cleanup_error tardis_error_t err = NULL;
	cleanup_close int lock = -1;
	cleanup_close int dfd = -1;
	struct container_summary s;
	struct tardis_monitor mon;
	int have_mon;

	dfd = store_container_lock(&c->store, ns, id, 0, &lock, &err);
	if (dfd < 0)
		return 0;
	if (container_summary_load(&c->store, ns, id, 0, &s, &err) < 0)
		return 0;
	if (strcmp(s.state, "running") == 0 || s.last_activity_ns > cutoff) {
		container_summary_free(&s);
		return 0;
	}
	if (s.image_present) {
		if (!image_path_ours(s.image_path, ns, id)) {
			fprintf(stderr, "tardisctl: %s/%s: image path `%s` is not tardis's; not removed\n",
				ns, id, s.image_path);
			container_summary_free(&s);
			return -1;
		}
		/* In the state dir, through no planted symlink. */
		if (image_parent_check(&c->store, s.image_path, 0, &err) < 0) {
			fprintf(stderr, "tardisctl: %s/%s: image path `%s`: %s; not removed\n", ns, id,
				s.image_path, tardis_error_msg(err));
			container_summary_free(&s);
			return -1;
		}
		image_cleanup_siblings(s.image_path);
		if (image_validate(s.image_path, &s.image) >= 0)
			*freed += s.image.size;
		if (image_remove(s.image_path, &err) < 0) {
			fprintf(stderr, "tardisctl: %s/%s: %s\n", ns, id, tardis_error_msg(err));
			container_summary_free(&s);
			return -1;
		}
		*strrchr(s.image_path, '/') = '\0';
		rmdir(s.image_path); /* the namespace's directory, once empty */
	}
	remove_scratch(c, ns, id);
	if (s.init_pid > 0) {
		have_mon = monitor_open_pinned(&mon, c->cfg.bpf_dir, &err) == 0;
		tardis_error_free(&err);
		registry_forget(&c->store, have_mon ? &mon : NULL, s.init_pid, s.init_start_time);
		if (have_mon)
			monitor_close(&mon);
	}
	container_summary_free(&s);
	if (store_container_remove(&c->store, ns, id, &err) < 0) {
		fprintf(stderr, "tardisctl: %s/%s: %s\n", ns, id, tardis_error_msg(err));
		return -1;
	}
	return 1;
}

static int cmd_gc(struct ctl *c, int argc, char **argv)
{
	enum { O_NOW = 256 };
	static const struct option lo[] = {
		{ "older-than", required_argument, NULL, 'o' },
		{ "dry-run", no_argument, NULL, 'd' },
		{ "now", required_argument, NULL, O_NOW }, /* tests: pretend it is later */
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	cleanup_error tardis_error_t err = NULL;
	cleanup_free struct container_ref *refs = NULL;
	uint64_t age = 0, now_s = 0, freed = 0;
	int o, r, have_age = 0, dry = 0, removed = 0, kept = 0, failed = 0;
	int64_t now, cutoff;
	size_t n = 0;
	char size[32];

	while ((o = next_opt(argc, argv, "o:dh", lo)) != -1) {
		switch (o) {
		case 'o':
			if (parse_duration(optarg, &age) < 0 || age > 100ull * 365 * 86400)
				return misuse("bad --older-than `%s` (e.g. 7d, 12h, 30m)", optarg);
			have_age = 1;
			break;
		case 'd': dry = 1; break;
		case O_NOW:
			if (parse_u64(optarg, &now_s) < 0 || now_s > (uint64_t)INT32_MAX * 4)
				return misuse("bad --now `%s` (seconds since the epoch)", optarg);
			break;
		case 'h': cmd_usage(stdout); return 0;
		default: return EXIT_MISUSE;
		}
	}
	if (optind != argc)
		return misuse("unexpected argument `%s`", argv[optind]);
	if (!have_age)
		return misuse("--older-than is required");
	now = now_s ? (int64_t)now_s * 1000000000ll : now_ns();
	cutoff = now - (int64_t)age * 1000000000ll;
	if (container_list(&c->store, &refs, &n, &err) < 0) {
		fprintf(stderr, "tardisctl: %s\n", tardis_error_msg(err));
		return 1;
	}
	for (size_t i = 0; i < n; i++) {
		struct container_summary s;
		char span[32];
		uint64_t sz = 0;

		if (container_summary_load(&c->store, refs[i].ns, refs[i].id, 0, &s, &err) < 0) {
			tardis_error_free(&err);
			continue;
		}
		format_span(now - s.last_activity_ns, span, sizeof(span));
		if (strcmp(s.state, "running") == 0 || s.last_activity_ns > cutoff) {
			kept++;
			container_summary_free(&s);
			continue;
		}
		if (dry) {
			if (s.image_present && image_validate(s.image_path, &s.image) >= 0)
				sz = s.image.size;
		} else if ((r = gc_one(c, s.ref.ns, s.ref.id, cutoff, &sz)) <= 0) {
			kept++;
			failed += r < 0;
			container_summary_free(&s);
			continue;
		}
		format_bytes((double)sz, size, sizeof(size));
		printf("%s/%s: %s (%s, last activity %s ago)", s.ref.ns, s.ref.id,
		       dry ? "would remove" : "removed", s.state, span);
		if (s.image_present)
			printf(": image %s, %s", s.image_path, size);
		printf("\n");
		freed += sz;
		removed++;
		container_summary_free(&s);
	}
	format_bytes((double)freed, size, sizeof(size));
	printf("gc: %s %d containers (%s of images), kept %d%s\n", dry ? "would remove" : "removed",
	       removed, size, kept, failed ? " (some could not be removed, see above)" : "");
	return failed ? 1 : 0;
}

/* ---- log ------------------------------------------------------------------ */

/* The file's own values (not the environment's overrides). */
static int log_show(const char *path)
{
	cleanup_error tardis_error_t err = NULL;
	cleanup_free char *text = NULL;
	struct tardis_config f;
	const char *env;

	config_defaults(&f);
	if (store_read(AT_FDCWD, path, 1 << 20, &text, NULL, &err) < 0 && err->errnum != ENOENT) {
		/* A symlinked config: store_read refuses links, follow it here. */
		char real[PATH_MAX];

		tardis_error_free(&err);
		if (!realpath(path, real) || store_read(AT_FDCWD, real, 1 << 20, &text, NULL, &err) < 0) {
			fprintf(stderr, "tardisctl: config `%s`: %s\n", path,
				err ? tardis_error_msg(err) : strerror(errno));
			return 1;
		}
	}
	if (text && config_parse(&f, text, &err) < 0) {
		fprintf(stderr, "tardisctl: config `%s`: %s\n", path, tardis_error_msg(err));
		return 1;
	}
	printf("log_level = %s\nlog_file = %s\n", tardis_log_level_name(f.log_level), f.log_file);
	if ((env = getenv("TARDIS_LOG_LEVEL")) && *env)
		fprintf(stderr, "tardisctl: note: $TARDIS_LOG_LEVEL=%s overrides log_level\n", env);
	if ((env = getenv("TARDIS_LOG_FILE")) && *env)
		fprintf(stderr, "tardisctl: note: $TARDIS_LOG_FILE=%s overrides log_file\n", env);
	return 0;
}

static int cmd_log(struct ctl *c, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "level", required_argument, NULL, 'l' },
		{ "file", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	cleanup_error tardis_error_t err = NULL;
	struct config_setting set[2];
	const char *level = NULL, *file = NULL, *path = config_file_path();
	size_t n = 0;
	pid_t agent;
	int o;

	while ((o = next_opt(argc, argv, "l:f:h", lo)) != -1) {
		switch (o) {
		case 'l': level = optarg; break;
		case 'f': file = optarg; break;
		case 'h': cmd_usage(stdout); return 0;
		default: return EXIT_MISUSE;
		}
	}
	if (optind != argc)
		return misuse("unexpected argument `%s`", argv[optind]);
	if (!level && !file)
		return log_show(path);
	if (level && tardis_log_level_parse(level) < 0)
		return misuse("bad --level `%s` (error, warn, info, debug)", level);
	if (file && *file && strcmp(file, "syslog") != 0 && strcmp(file, "stderr") != 0 &&
	    !path_is_clean_absolute(file))
		return misuse("bad --file `%s` (an absolute path, syslog or stderr)", file);
	if (file && (strchr(file, '#') || strchr(file, '\n')))
		return misuse("bad --file `%s` (no `#` or newline)", file);
	if (level)
		set[n++] = (struct config_setting){ "log_level", tardis_log_level_name(tardis_log_level_parse(level)) };
	if (file)
		set[n++] = (struct config_setting){ "log_file", file };
	if (config_file_update(path, set, n, &err) < 0) {
		fprintf(stderr, "tardisctl: %s\n", tardis_error_msg(err));
		return 1;
	}
	printf("%s:%s%s%s%s%s\n", path, level ? " log_level = " : "", level ? set[0].value : "",
	       level && file ? "," : "", file ? " log_file = " : "", file ? file : "");
	/* tardis-runc reads the file at every call; the agent on SIGHUP. */
	if (store_open(&c->store, c->cfg.state_dir, &err) == 0 && (agent = agent_pid(c)) > 0) {
		if (kill(agent, SIGHUP) == 0)
			printf("tardisd (pid %d) told to reload\n", (int)agent);
	}
	tardis_error_free(&err);
	return 0;
}

/* ---- main ----------------------------------------------------------------- */

static int cmd_help(struct ctl *c, int argc, char **argv);

static const struct command commands[] = {
	{ "list", cmd_list, 1, "the enabled containers: state, exit, image, history",
	  "usage: tardisctl list [--json] [-n|--namespace NS]\n"
	  "Every container of the state store: namespace, id, state (running, checkpointed,\n"
	  "exited, unknown, stopped, created, corrupt), exit status, image (valid or not, size),\n"
	  "restores, last checkpoint (when, duration, size), last restore (duration, or why it\n"
	  "fell back).  Images are checksummed.\n"
	  "  --json            a JSON array, one object per container\n"
	  "  -n, --namespace   only this containerd namespace\n" },
	{ "show", cmd_show, 1, "one container in detail",
	  "usage: tardisctl show [--json] NS/ID\n"
	  "The container's state, exit record, image checks and checkpoint/restore history.\n"
	  "  --json            the same as a JSON object (`exit`: the exit record)\n" },
	{ "wait", cmd_wait, 1, "block until the container's exit is recorded",
	  "usage: tardisctl wait [--timeout DURATION] NS/ID\n"
	  "Blocks until the exit of the container's init is recorded, then exits with its exit\n"
	  "status (code, or 128+signal).  Returns at once if it is recorded already.\n"
	  "  --timeout D       give up after D (30s, 5m, 1h): exit status 124\n"
	  "Exit status 125: the exit is unknown; 1: no such container; 2: bad usage.\n" },
	{ "exits", cmd_exits, 0, "recent exits held by the kernel map",
	  "usage: tardisctl exits [--json]\n"
	  "The recent-exits map of the exit monitor.  Only reads it: no event is taken away\n"
	  "from the agent.\n"
	  "  --json            one JSON object per line\n" },
	{ "counters", cmd_counters, 0, "the kernel program's counters",
	  "usage: tardisctl counters\n"
	  "The exit monitor's per-CPU counters, summed (JSON).\n" },
	{ "validate", cmd_validate, 0, "check a checkpoint image",
	  "usage: tardisctl validate [--json] IMAGE-DIR\n"
	  "Runs every check of a checkpoint image and names each: manifest, format, dump_log,\n"
	  "inventory, descriptors, files.  Exit status 1 if the image is invalid or missing.\n"
	  "  --json            the checks as JSON\n" },
	{ "finalize", cmd_finalize, 1, "checkpoint and stop every running container (node drain)",
	  "usage: tardisctl finalize [--address SOCK] [--namespace NS] [--ctr PATH] [--dry-run]\n"
	  "For every enabled container that runs: `ctr -a SOCK -n NS containers checkpoint --task\n"
	  "ID REF`; tardis-runc saves it and stops it, and its next create restores it.  Prints\n"
	  "one line per container and a summary; exit status 1 if any failed.\n"
	  "  -a, --address     containerd's socket (default /run/containerd/containerd.sock)\n"
	  "  -n, --namespace   only this namespace\n"
	  "      --ctr         the ctr binary (default: ctr from PATH)\n"
	  "      --dry-run     only say what would be checkpointed\n" },
	{ "gc", cmd_gc, 1, "remove images and state of containers gone for long",
	  "usage: tardisctl gc --older-than DURATION [--dry-run]\n"
	  "Removes the image, scratch directories and state of every container that is not\n"
	  "running and whose last activity (state, exit record, image) is older than DURATION\n"
	  "(e.g. 7d, 12h, 30m).  The work directory on the network filesystem is the\n"
	  "container's data and is kept.\n"
	  "  --dry-run         only say what would be removed\n" },
	{ "log", cmd_log, 0, "show or set log_level / log_file in the config file",
	  "usage: tardisctl log [--level LEVEL] [--file FILE]\n"
	  "Writes log_level and/or log_file into the config file ($TARDIS_CONFIG or\n"
	  "/etc/tardis/tardis.conf) atomically, keeping every other line, and tells a running\n"
	  "tardisd to reload.  Without options, prints the current values.\n"
	  "  --level LEVEL     error, warn, info or debug\n"
	  "  --file FILE       an absolute path, syslog, or stderr (\"\" for the default:\n"
	  "                    /var/log/tardis-runc.log for tardis-runc, stderr for tardisd)\n" },
	{ "register", cmd_register, 1, "tell the exit monitor PID is the init of NS/ID",
	  "usage: tardisctl register NS/ID PID [START_TIME]\n"
	  "Registers PID (started at START_TIME clock ticks; default: read from /proc) as the\n"
	  "init of NS/ID, as tardis-runc does after create.\n" },
	{ "help", cmd_help, 0, "help on a command",
	  "usage: tardisctl help [COMMAND]\n" },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: tardisctl [--state-dir DIR] [--bpf-dir DIR] COMMAND [ARGS]\n"
		   "commands (tardisctl COMMAND --help for each):\n");
	for (size_t k = 0; k < sizeof(commands) / sizeof(commands[0]); k++)
		fprintf(f, "  %-10s %s\n", commands[k].name, commands[k].summary);
}

static int cmd_help(struct ctl *c, int argc, char **argv)
{
	if (argc < 2) {
		usage(stdout);
		return 0;
	}
	for (size_t k = 0; k < sizeof(commands) / sizeof(commands[0]); k++) {
		if (strcmp(argv[1], commands[k].name) == 0) {
			printf("%s", commands[k].help);
			return 0;
		}
	}
	return misuse("unknown command `%s`", argv[1]);
}

int main(int argc, char **argv)
{
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
			return EXIT_MISUSE;
		}
	}
	if (i >= argc) {
		usage(stderr);
		return EXIT_MISUSE;
	}
	tardis_log_open("tardisctl", NULL, c.cfg.log_level);
	for (size_t k = 0; k < sizeof(commands) / sizeof(commands[0]); k++) {
		if (strcmp(argv[i], commands[k].name) != 0)
			continue;
		current = &commands[k];
		if (commands[k].needs_store) {
			/* --help needs no state directory. */
			int help = 0;

			for (int a = i + 1; a < argc; a++)
				help |= strcmp(argv[a], "--help") == 0 || strcmp(argv[a], "-h") == 0;
			if (!help && store_open(&c.store, c.cfg.state_dir, &err) < 0) {
				fprintf(stderr, "tardisctl: %s\n", tardis_error_msg(err));
				return 1;
			}
		}
		optind = 0; /* GNU getopt: start afresh on the command's arguments */
		ret = commands[k].fn(&c, argc - i, argv + i);
		store_close(&c.store);
		return ret;
	}
	fprintf(stderr, "tardisctl: unknown command `%s`\n", argv[i]);
	usage(stderr);
	return EXIT_MISUSE;
}
