/* tardisctl list: every container of the state store, a table or JSON. */
#include "tardisctl.h"
#include "cleanup.h"
#include "container_state.h"
#include "container_summary.h"
#include "util.h"

#include <errno.h>
#include <string.h>

#define LIST_COLS 11

static const char *const list_head[LIST_COLS] = {
	"NAMESPACE", "ID", "IDENTITY", "STATE", "EXIT", "IMAGE", "SIZE", "RESTORES", "LAST CHECKPOINT",
	"LAST RESTORE", "LAST FAILURE",
};

/* A reason in a table cell: the start of it (tardisctl show has it all). */
#define LIST_REASON_MAX 80

/* "5m ago, 120 ms, 3.2 MiB" */
static void last_checkpoint_cell(const cJSON *ck, char *cell)
{
	char size[32], ago[48];

	if (!cJSON_IsObject(ck)) {
		strcpy(cell, "-");
		return;
	}
	format_ago(cjson_get_str(ck, "at"), ago, sizeof(ago));
	format_bytes(cjson_get_num(ck, "size", 0), size, sizeof(size));
	snprintf(cell, TABLE_CELL, "%s, %.0f ms, %s", ago, cjson_get_num(ck, "duration_ms", 0),
		 size);
}

/* "5m ago, restored in 80 ms" or "5m ago, fell back: <why>" */
static void last_restore_cell(const cJSON *rs, char *cell)
{
	const char *res = cjson_get_str(rs, "result");
	const char *why = cjson_get_str(rs, "reason");
	char ago[48], dur[32];

	if (!cJSON_IsObject(rs)) {
		strcpy(cell, "-");
		return;
	}
	format_ago(cjson_get_str(rs, "at"), ago, sizeof(ago));
	snprintf(dur, sizeof(dur), "%.0f ms", cjson_get_num(rs, "duration_ms", 0));
	if (res && strcmp(res, "restored") == 0)
		snprintf(cell, TABLE_CELL, "%s, restored in %s", ago, dur);
	else
		snprintf(cell, TABLE_CELL, "%s, fell back: %s", ago, why && *why ? why : "?");
}

/* The newer of the last failed checkpoint and restore: "checkpoint by
 * kill, 5m ago: Error (criu/...): ..." (RFC 3339 UTC times compare as
 * strings). */
static void last_failure_cell(const cJSON *doc, char *cell)
{
	const cJSON *ck = cJSON_GetObjectItemCaseSensitive(doc, "last_checkpoint_failure");
	const cJSON *rs = cJSON_GetObjectItemCaseSensitive(doc, "last_restore_failure");
	const char *ck_at = cJSON_IsObject(ck) ? cjson_get_str(ck, "at") : NULL;
	const char *rs_at = cJSON_IsObject(rs) ? cjson_get_str(rs, "at") : NULL;
	const cJSON *f;
	const char *why;
	char ago[48], what[64];

	if (!ck_at && !rs_at) {
		strcpy(cell, "-");
		return;
	}
	if (ck_at && (!rs_at || strcmp(ck_at, rs_at) >= 0)) {
		f = ck;
		snprintf(what, sizeof(what), "checkpoint by %s", cjson_get_str(ck, "trigger") ?: "?");
	} else {
		f = rs;
		snprintf(what, sizeof(what), "restore");
	}
	format_ago(cjson_get_str(f, "at"), ago, sizeof(ago));
	why = cjson_get_str(f, "reason");
	snprintf(cell, TABLE_CELL, "%s, %s: %.*s%s", what, ago, LIST_REASON_MAX, why ? why : "?",
		 why && strlen(why) > LIST_REASON_MAX ? "..." : "");
}

static void list_row(const struct container_summary *s, char (*r)[TABLE_CELL])
{
	const char *identity = cjson_get_str(s->doc, "identity");
	int es;

	snprintf(r[0], TABLE_CELL, "%s", s->ref.ns);
	snprintf(r[1], TABLE_CELL, "%s", s->ref.id);
	snprintf(r[2], TABLE_CELL, "%s", identity && *identity ? identity : "-");
	r++; /* the columns below are those before IDENTITY, one further on */
	snprintf(r[2], TABLE_CELL, "%s", s->state);
	if (container_summary_exit_status(s, &es))
		snprintf(r[3], TABLE_CELL, "%d", es);
	else
		snprintf(r[3], TABLE_CELL, "%s", s->has_exit ? "?" : "-");
	if (s->image_unreachable) {
		strcpy(r[4], "unreachable");
		strcpy(r[5], "-");
	} else if (!s->image_present) {
		strcpy(r[4], "-");
		strcpy(r[5], "-");
	} else {
		strcpy(r[4], s->image.valid ? "valid" : "INVALID");
		format_bytes((double)s->image.size, r[5], TABLE_CELL);
	}
	snprintf(r[6], TABLE_CELL, "%.0f", cjson_get_num(s->doc, "restores", 0));
	last_checkpoint_cell(cJSON_GetObjectItemCaseSensitive(s->doc, "last_checkpoint"), r[7]);
	last_restore_cell(cJSON_GetObjectItemCaseSensitive(s->doc, "last_restore"), r[8]);
	last_failure_cell(s->doc, r[9]);
}

/* Adds the container to arr (JSON) or to the table.  0, or -1 when out of
 * memory. */
static int list_add(const struct container_summary *s, cJSON *arr, struct table *t)
{
	char (*r)[TABLE_CELL];

	if (arr) {
		cJSON_AddItemToArray(arr, container_summary_json(s, 0));
		return 0;
	}
	r = table_add_row(t);
	if (!r)
		return -1;
	list_row(s, r);
	return 0;
}

static int list_main(struct ctl *c, int argc, char **argv)
{
	const char *only_ns = NULL;
	int json = 0, failed = 0, ret;
	struct ctl_opt opts[] = {
		CTL_FLAG("json", 'j', &json),
		CTL_STRING("namespace", 'n', &only_ns),
		CTL_OPT_END,
	};
	struct ctl_cmdline cl = { .opts = opts };
	cleanup_error tardis_error_t err = NULL;
	cleanup_free struct container_ref *refs = NULL;
	cleanup_table struct table t = { .ncols = LIST_COLS, .head = list_head };
	cleanup_json cJSON *arr = NULL;
	size_t n = 0;

	if ((ret = opts_parse(c, argc, argv, &cl)) >= 0)
		return ret;
	if (only_ns && !store_id_valid(only_ns))
		return ctl_misuse(c, "`%s` is not a namespace", only_ns);
	if (container_list(&c->store, &refs, &n, &err) < 0) {
		fprintf(stderr, "tardisctl: %s\n", tardis_error_msg(err));
		return 1;
	}
	if (json && !(arr = cJSON_CreateArray()))
		return 1;
	for (size_t i = 0; i < n; i++) {
		struct container_summary s;

		if (only_ns && strcmp(refs[i].ns, only_ns) != 0)
			continue;
		if (container_summary_load(&c->store, refs[i].ns, refs[i].id, 1, &s, &err) < 0) {
			/* Removed since the listing: not an error. */
			if (tardis_error_errno(err) != ENOENT) {
				fprintf(stderr, "tardisctl: %s/%s: %s\n", refs[i].ns, refs[i].id,
					tardis_error_msg(err));
				failed = 1;
			}
			tardis_error_free(&err);
			continue;
		}
		if (list_add(&s, arr, &t) < 0)
			failed = 1;
		container_summary_free(&s);
	}
	if (json)
		print_json(arr);
	else
		table_print(&t);
	return failed;
}

TARDISCTL_COMMAND(list, 1, "the enabled containers: state, exit, image, history",
		  "usage: tardisctl list [--json] [-n|--namespace NS]\n"
		  "Every container of the state store: namespace, id, identity (the key of its image\n"
		  "when it has one: a Kubernetes container's pod namespace/pod/container), state (running, checkpointed,\n"
		  "exited, unknown, stopped, created, corrupt), exit status, image (valid or not, size),\n"
		  "restores, last checkpoint (when, duration, size), last restore (duration, or why it\n"
		  "fell back), last failure (the newer of the last failed checkpoint and restore, and\n"
		  "why).  Images are checksummed.\n"
		  "  --json            a JSON array, one object per container\n"
		  "  -n, --namespace   only this containerd namespace\n");
