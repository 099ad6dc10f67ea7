#include "container_state.h"
#include "cleanup.h"
#include "log.h"
#include "util.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>

#define STATE_MAX (1 << 20)

int cstate_update_locked(int dfd, cstate_fn fn, void *arg, int durable, tardis_error_t *err)
{
	cleanup_free char *text = NULL;
	cleanup_free char *out = NULL;
	tardis_error_t rerr = NULL;
	cleanup_json cJSON *o = NULL;

	if (store_read(dfd, STATE_FILE, STATE_MAX, &text, NULL, &rerr) == 0) {
		o = cJSON_Parse(text);
		if (!cJSON_IsObject(o))
			log_warn("state.json is malformed; starting a new one");
	} else if (rerr->errnum != ENOENT) {
		log_warn("state.json: %s; starting a new one", tardis_error_msg(rerr));
	}
	tardis_error_free(&rerr);
	if (!cJSON_IsObject(o)) {
		cJSON_Delete(o);
		o = cJSON_CreateObject();
		if (!o)
			return tardis_make_error(err, ENOMEM, "state");
	}
	if (fn(o, arg) < 0)
		return tardis_make_error(err, ECANCELED, "state update refused");
	out = cJSON_PrintUnformatted(o);
	if (!out)
		return tardis_make_error(err, ENOMEM, "state");
	return store_write_atomic(dfd, STATE_FILE, out, strlen(out), durable, NULL, err);
}

int cstate_update(struct tardis_store *s, const char *ns, const char *id, int flags,
		  cstate_fn fn, void *arg, tardis_error_t *err)
{
	cleanup_close int dfd = -1;

	dfd = store_container_lock(s, ns, id, (flags & CSTATE_CREATE) != 0, err);
	if (dfd < 0)
		return -1;
	return cstate_update_locked(dfd, fn, arg, !(flags & CSTATE_NO_SYNC), err);
}

int cstate_load(struct tardis_store *s, const char *ns, const char *id, cJSON **out,
		tardis_error_t *err)
{
	cleanup_close int dfd = -1;
	cleanup_free char *text = NULL;
	cleanup_json cJSON *o = NULL;

	*out = NULL;
	dfd = store_container_dir(s, ns, id, 0, err);
	if (dfd < 0)
		return -1;
	if (store_read(dfd, STATE_FILE, STATE_MAX, &text, NULL, err) < 0)
		return -1;
	o = cJSON_Parse(text);
	if (!cJSON_IsObject(o))
		return tardis_make_error(err, EINVAL, "%s/%s: %s is malformed", ns, id, STATE_FILE);
	*out = o;
	o = NULL;
	return 0;
}

int cjson_get_bool(const cJSON *o, const char *k)
{
	return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, k));
}

double cjson_get_num(const cJSON *o, const char *k, double dflt)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsNumber(it) ? it->valuedouble : dflt;
}

int cjson_get_int(const cJSON *o, const char *k, int dflt)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, k);

	if (!cJSON_IsNumber(it) || !(it->valuedouble > INT_MIN - 1.0 && it->valuedouble < INT_MAX + 1.0))
		return dflt;
	return (int)it->valuedouble;
}

uint64_t cjson_get_u64(const cJSON *o, const char *k, uint64_t dflt)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, k);

	if (!cJSON_IsNumber(it) || !(it->valuedouble > -1.0 && it->valuedouble < 18446744073709551616.0))
		return dflt;
	return (uint64_t)it->valuedouble;
}

const char *cjson_get_str(const cJSON *o, const char *k)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsString(it) ? it->valuestring : NULL;
}

void cjson_set_num(cJSON *o, const char *k, double v)
{
	cJSON_DeleteItemFromObjectCaseSensitive(o, k);
	cJSON_AddNumberToObject(o, k, v);
}

void cjson_set_str(cJSON *o, const char *k, const char *v)
{
	cJSON_DeleteItemFromObjectCaseSensitive(o, k);
	cJSON_AddStringToObject(o, k, v ? v : "");
}

void cjson_set_bool(cJSON *o, const char *k, int v)
{
	cJSON_DeleteItemFromObjectCaseSensitive(o, k);
	cJSON_AddBoolToObject(o, k, v);
}

cJSON *cjson_object(cJSON *o, const char *k)
{
	cJSON *it = cJSON_GetObjectItemCaseSensitive(o, k);

	if (cJSON_IsObject(it))
		return it;
	cJSON_DeleteItemFromObjectCaseSensitive(o, k);
	return cJSON_AddObjectToObject(o, k);
}
