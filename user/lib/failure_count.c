#include "failure_count.h"
#include "cleanup.h"
#include "container_state.h"
#include "util.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>

#define FAILURES_LOCK "failures.lock"
#define FAILURES_MAX (64 << 10)

const char *const failure_trigger_names[FAILURE_TRIGGERS] = { "checkpoint", "kill", "delete",
							      "other" };

enum failure_trigger failure_trigger_of(const char *trigger)
{
	if (!trigger)
		return FAILURE_TRIGGER_OTHER;
	if (strcmp(trigger, "checkpoint") == 0)
		return FAILURE_TRIGGER_CHECKPOINT;
	if (strcmp(trigger, "stop signal") == 0 || strcmp(trigger, "kill") == 0)
		return FAILURE_TRIGGER_KILL;
	if (strcmp(trigger, "delete --force") == 0 || strcmp(trigger, "delete") == 0)
		return FAILURE_TRIGGER_DELETE;
	return FAILURE_TRIGGER_OTHER;
}

static void counts_from_json(const cJSON *o, struct failure_counts *out)
{
	const cJSON *ck = cJSON_GetObjectItemCaseSensitive(o, "checkpoint");

	memset(out, 0, sizeof(*out));
	for (int i = 0; i < FAILURE_TRIGGERS; i++)
		out->checkpoint[i] = cjson_get_u64(ck, failure_trigger_names[i], 0);
	out->restore = cjson_get_u64(o, "restore", 0);
}

int failure_count_load(struct tardis_store *s, struct failure_counts *out, tardis_error_t *err)
{
	cleanup_free char *text = NULL;
	cleanup_json cJSON *o = NULL;
	tardis_error_t rerr = NULL;

	if (store_read(s->root_fd, FAILURES_FILE, FAILURES_MAX, &text, NULL, &rerr) < 0) {
		int e = tardis_error_errno(rerr);

		tardis_error_free(&rerr);
		memset(out, 0, sizeof(*out));
		return e == ENOENT ? 0 : tardis_make_error(err, e, "read " FAILURES_FILE);
	}
	/* Malformed: counted afresh rather than never again. */
	o = cJSON_Parse(text);
	counts_from_json(o, out);
	return 0;
}

int failure_count_add(struct tardis_store *s, int trigger, tardis_error_t *err)
{
	cleanup_close int lock = openat(s->root_fd, FAILURES_LOCK,
					O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	cleanup_json cJSON *o = cJSON_CreateObject();
	cleanup_free char *text = NULL;
	struct failure_counts n;
	cJSON *ck;

	if (lock < 0 || flock(lock, LOCK_EX) < 0)
		return tardis_make_error(err, errno, "lock " FAILURES_LOCK);
	if (failure_count_load(s, &n, err) < 0)
		return -1;
	if (trigger < 0)
		n.restore++;
	else if (trigger < FAILURE_TRIGGERS)
		n.checkpoint[trigger]++;
	ck = cjson_object(o, "checkpoint");
	if (!ck)
		return tardis_make_error(err, ENOMEM, FAILURES_FILE);
	for (int i = 0; i < FAILURE_TRIGGERS; i++)
		cjson_set_num(ck, failure_trigger_names[i], (double)n.checkpoint[i]);
	cjson_set_num(o, "restore", (double)n.restore);
	text = cJSON_PrintUnformatted(o);
	if (!text)
		return tardis_make_error(err, ENOMEM, FAILURES_FILE);
	return store_write_atomic(s->root_fd, FAILURES_FILE, text, strlen(text), 0, NULL, err);
}
