/* tardisctl show: one container in detail, for people or as JSON. */
#include "tardisctl.h"
#include "cleanup.h"
#include "container_state.h"
#include "container_summary.h"
#include "lease.h"
#include "util.h"

#include <errno.h>
#include <string.h>

static void show_exit(const struct container_summary *s)
{
	char buf[600], ago[48], when[64];

	if (!s->has_exit) {
		printf("  %-18s %s\n", "exit", "not recorded");
		return;
	}
	printf("  %-18s %s", "exit", exit_text(&s->exit, buf, sizeof(buf)));
	if (s->exit.exited_at_ns) {
		rfc3339_format(s->exit.exited_at_ns, when, sizeof(when));
		format_ago(when, ago, sizeof(ago));
		printf(", at %s (%s)", when, ago);
	}
	printf(", recorded from %s\n", s->exit.source[0] ? s->exit.source : "?");
}

static void show_image(const struct container_summary *s)
{
	char size[32];

	if (!s->image_path[0]) {
		printf("  %-18s %s\n", "image", "-");
		return;
	}
	if (s->image_unreachable) {
		printf("  %-18s %s (unreachable: its filesystem did not answer)\n", "image",
		       s->image_path);
		return;
	}
	if (!s->image_present) {
		printf("  %-18s %s (none)\n", "image", s->image_path);
		return;
	}
	format_bytes((double)s->image.size, size, sizeof(size));
	printf("  %-18s %s: %s, %s%s%s", "image", s->image_path,
	       s->image.valid ? "valid" : "INVALID", size,
	       s->image.created_at[0] ? ", created " : "", s->image.created_at);
	if (s->image.id[0])
		printf(" by %s/%s%s%s", s->image.ns, s->image.id, s->image.node[0] ? " on " : "",
		       s->image.node);
	printf("\n");
	for (int i = 0; i < s->image.n; i++)
		printf("  %-18s   %-4s %-12s %s\n", "", s->image.checks[i].ok ? "ok" : "FAIL",
		       s->image.checks[i].name, s->image.checks[i].detail);
}

/* The checkpoints and restores lines: how many, and the last of each. */
static void show_history(const struct container_summary *s)
{
	const cJSON *ck = cJSON_GetObjectItemCaseSensitive(s->doc, "last_checkpoint");
	const cJSON *rs = cJSON_GetObjectItemCaseSensitive(s->doc, "last_restore");
	char ago[48], size[32];
	const char *v;

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
}

/* The failed checkpoints and restores: how many, and the last of each
 * with its reason (kept after later successes). */
static void show_failures(const struct container_summary *s)
{
	const cJSON *ck = cJSON_GetObjectItemCaseSensitive(s->doc, "last_checkpoint_failure");
	const cJSON *rs = cJSON_GetObjectItemCaseSensitive(s->doc, "last_restore_failure");
	char ago[48];
	const char *v;

	printf("\n  %-18s %.0f", "failed checkpoints", cjson_get_num(s->doc, "checkpoint_failures", 0));
	if (cJSON_IsObject(ck)) {
		format_ago(cjson_get_str(ck, "at"), ago, sizeof(ago));
		v = cjson_get_str(ck, "trigger");
		printf("; last %s (%s) by %s: %s", cjson_get_str(ck, "at") ?: "?", ago, v ? v : "?",
		       cjson_get_str(ck, "reason") ?: "?");
	}
	printf("\n  %-18s %.0f", "failed restores", cjson_get_num(s->doc, "restore_failures", 0));
	if (cJSON_IsObject(rs)) {
		format_ago(cjson_get_str(rs, "at"), ago, sizeof(ago));
		printf("; last %s (%s): %s", cjson_get_str(rs, "at") ?: "?", ago,
		       cjson_get_str(rs, "reason") ?: "?");
	}
}

/* The container whose image this one was restored from: under an
 * identity, another pod's maybe, on another node. */
static void show_restored_from(const struct container_summary *s)
{
	const cJSON *f = cJSON_GetObjectItemCaseSensitive(s->doc, "restored_from");
	const char *node = cjson_get_str(f, "node");

	if (!cJSON_IsObject(f))
		return;
	printf("  %-18s %s/%s%s%s, image of %s\n", "restored from",
	       cjson_get_str(f, "namespace") ?: "?", cjson_get_str(f, "id") ?: "?",
	       node && *node ? " on " : "", node ? node : "", cjson_get_str(f, "created_at") ?: "?");
}

/* Who holds the identity's lease, and the crash-loop guard's count. */
static void show_lease(const struct container_summary *s)
{
	cleanup_error tardis_error_t err = NULL;
	char when[64], ago[48];
	struct lease l;
	int r;

	if (!s->image_path[0])
		return;
	r = container_summary_lease(s, &l, &err);
	if (r < 0) {
		printf("  %-18s %s\n", "lease", tardis_error_msg(err));
		return;
	}
	if (r == 0) {
		printf("  %-18s none\n", "lease");
		return;
	}
	rfc3339_format(l.renewed_ns, when, sizeof(when));
	format_ago(when, ago, sizeof(ago));
	printf("  %-18s %s by %s/%s on %s, written %s (%s), timeout %d s", "lease",
	       lease_state_name(l.state), l.ns, l.id, l.node, when, ago, l.timeout_s);
	if (l.failed_restores)
		printf("; %d restore(s) of %s ended in a non-zero exit", l.failed_restores, l.image);
	printf("\n");
}

static void show_human(const struct container_summary *s)
{
	char ago[48], when[64];
	const char *v;

	printf("%s/%s\n", s->ref.ns, s->ref.id);
	if ((v = cjson_get_str(s->doc, "refused")))
		printf("  %-18s refused: %s\n", "reason", v);
	printf("  %-18s %s%s\n", "state", s->state,
	       strcmp(s->state, "checkpointed") == 0 ? " (the next create restores it)"
	       : strcmp(s->state, "stopped") == 0    ? " (exit not recorded yet: is tardisd running?)"
						     : "");
	if ((v = cjson_get_str(s->doc, "identity")) && *v) {
		printf("  %-18s %s\n", "identity", v);
		show_lease(s);
	}
	show_exit(s);
	if (s->init_pid > 0)
		printf("  %-18s pid %d, start time %llu\n", "init", (int)s->init_pid,
		       (unsigned long long)s->init_start_time);
	if ((v = cjson_get_str(s->doc, "created_at"))) {
		format_ago(v, ago, sizeof(ago));
		printf("  %-18s %s (%s)\n", "created", v, ago);
	}
	if ((v = cjson_get_str(s->doc, "bundle")))
		printf("  %-18s %s\n", "bundle", v);
	show_restored_from(s);
	if ((v = cjson_get_str(s->doc, "work_dir")) && *v)
		printf("  %-18s %s\n", "work dir", v);
	printf("  %-18s %s\n", "checkpoint on stop",
	       cjson_get_bool(s->doc, "checkpoint_on_stop") ? "yes" : "no");
	show_image(s);
	show_history(s);
	show_failures(s);
	rfc3339_format(s->last_activity_ns, when, sizeof(when));
	format_ago(when, ago, sizeof(ago));
	printf("\n  %-18s %s (%s)\n", "last activity", when, ago);
}

static int show_main(struct ctl *c, int argc, char **argv)
{
	int json = 0, ret;
	struct ctl_opt opts[] = {
		CTL_FLAG("json", 'j', &json),
		CTL_OPT_END,
	};
	struct ctl_cmdline cl = { .opts = opts, .min_args = 1, .max_args = 1,
				  .expect = "expected one NS/ID" };
	char ns[TARDIS_ID_MAX + 1], id[TARDIS_ID_MAX + 1];
	cleanup_error tardis_error_t err = NULL;
	struct container_summary s;

	if ((ret = opts_parse(c, argc, argv, &cl)) >= 0)
		return ret;
	if (split_ref(cl.args[0], ns, id) < 0)
		return ctl_misuse(c, "`%s` is not NS/ID", cl.args[0]);
	if (container_summary_load(&c->store, ns, id, 1, &s, &err) < 0) {
		fprintf(stderr, "tardisctl: %s/%s: %s\n", ns, id,
			tardis_error_errno(err) == ENOENT ? "no such container in the state store"
							  : tardis_error_msg(err));
		return 1;
	}
	if (json) {
		cleanup_json cJSON *j = container_summary_json(&s, 1);

		print_json(j);
	} else {
		show_human(&s);
	}
	container_summary_free(&s);
	return 0;
}

TARDISCTL_COMMAND(show, 1, "one container in detail",
		  "usage: tardisctl show [--json] NS/ID\n"
		  "The container's state, exit record, image checks and checkpoint/restore history,\n"
		  "with the last failed checkpoint and restore and why they failed.\n"
		  "  --json            the same as a JSON object (`exit`: the exit record)\n");
