#include "runc_version.h"
#include "cleanup.h"
#include "container_state.h"
#include "log.h"
#include "preflight.h"
#include "process.h"
#include "state.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* What says "the same binary": a rebuilt or upgraded runc at the same path
 * changes at least one of these. */
static int binary_key(const char *runc, char *out, size_t len)
{
	struct stat st;

	if (stat(runc, &st) < 0)
		return -1;
	snprintf(out, len, "%llu:%llu:%lld:%lld.%09ld", (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino, (long long)st.st_size, (long long)st.st_mtim.tv_sec,
		 st.st_mtim.tv_nsec);
	return 0;
}

int runc_info_parse(const char *version_text, const char *features_json, struct runc_info *info)
{
	memset(info, 0, sizeof(*info));
	info->major = info->minor = -1;
	info->checkpoint = preflight_runc_checkpoint(features_json);
	if (preflight_runc_version(version_text, info->version, sizeof(info->version)) < 0)
		return -1;
	if (preflight_version_split(info->version, &info->major, &info->minor) < 0)
		info->major = info->minor = -1;
	return 0;
}

int runc_info_at_least(const struct runc_info *info, int major, int minor)
{
	return info->major > major || (info->major == major && info->minor >= minor);
}

static cJSON *cache_load(int state_fd)
{
	cleanup_error tardis_error_t err = NULL;
	cleanup_free char *text = NULL;
	cJSON *o;

	if (state_fd < 0 || store_read(state_fd, RUNC_INFO_FILE, 1 << 16, &text, NULL, &err) < 0)
		return NULL;
	o = cJSON_Parse(text);
	if (o && !cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(o, "runcs"))) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

/* The entry of runc in the cache's array, or NULL. */
static cJSON *cache_entry(cJSON *runcs, const char *runc, int *index)
{
	cJSON *e;
	int i = 0;

	cJSON_ArrayForEach(e, runcs) {
		const char *p = cjson_get_str(e, "path");

		if (p && strcmp(p, runc) == 0) {
			*index = i;
			return e;
		}
		i++;
	}
	return NULL;
}

int runc_info_cached(int state_fd, const char *runc, struct runc_info *out)
{
	cleanup_json cJSON *o = cache_load(state_fd);
	const cJSON *e;
	const char *key, *version;
	char now[128];
	int index;

	e = o ? cache_entry(cJSON_GetObjectItemCaseSensitive(o, "runcs"), runc, &index) : NULL;
	key = cjson_get_str(e, "binary");
	version = cjson_get_str(e, "version");
	if (!key || !version || binary_key(runc, now, sizeof(now)) < 0 || strcmp(key, now) != 0)
		return -1;
	memset(out, 0, sizeof(*out));
	snprintf(out->version, sizeof(out->version), "%s", version);
	if (preflight_version_split(out->version, &out->major, &out->minor) < 0)
		out->major = out->minor = -1;
	out->checkpoint = cjson_get_int(e, "checkpoint", -1);
	return 0;
}

/* Replaces runc's entry (or adds it, dropping the oldest beyond
 * RUNC_INFO_MAX).  Two writers at once: the last rename wins and the
 * other's entry is asked for again next time. */
static void cache_store(int state_fd, const char *runc, const char *key,
			const struct runc_info *info)
{
	cleanup_error tardis_error_t err = NULL;
	cleanup_json cJSON *o = cache_load(state_fd);
	cleanup_free char *text = NULL;
	cJSON *runcs, *e;
	int index;

	if (!o && !(o = cJSON_CreateObject()))
		return;
	runcs = cJSON_GetObjectItemCaseSensitive(o, "runcs");
	if (!runcs && !(runcs = cJSON_AddArrayToObject(o, "runcs")))
		return;
	if (cache_entry(runcs, runc, &index))
		cJSON_DeleteItemFromArray(runcs, index);
	while (cJSON_GetArraySize(runcs) >= RUNC_INFO_MAX)
		cJSON_DeleteItemFromArray(runcs, 0);
	e = cJSON_CreateObject();
	if (!e)
		return;
	cJSON_AddItemToArray(runcs, e);
	cJSON_AddStringToObject(e, "path", runc);
	cJSON_AddStringToObject(e, "binary", key);
	cJSON_AddStringToObject(e, "version", info->version);
	cJSON_AddNumberToObject(e, "checkpoint", info->checkpoint);
	text = cJSON_Print(o);
	if (!text || store_write_atomic(state_fd, RUNC_INFO_FILE, text, strlen(text), 0, NULL,
					&err) < 0)
		log_warn("runc %s: cache its version: %s", runc,
			 err ? tardis_error_msg(err) : "out of memory");
}

char *runc_output(const char *runc, const char *sub)
{
	cleanup_error tardis_error_t err = NULL;
	char *argv[] = { (char *)runc, (char *)sub, NULL };
	char *text = NULL;

	if (run_wait(argv, RUN_STDIN_NULL, 10, &text, &err) != 0) {
		free(text);
		return NULL;
	}
	return text;
}

int runc_info_get(int state_fd, const char *runc, struct runc_info *out, tardis_error_t *err)
{
	cleanup_free char *version = NULL, *features = NULL;
	char key[128];

	if (runc_info_cached(state_fd, runc, out) == 0)
		return 0;
	if (binary_key(runc, key, sizeof(key)) < 0)
		return tardis_make_error(err, errno, "runc %s", runc);
	version = runc_output(runc, "--version");
	/* runc before 1.1 has no `features`: it then does not say. */
	features = runc_output(runc, "features");
	if (runc_info_parse(version, features, out) < 0)
		return tardis_make_error(err, EINVAL, "runc %s: `--version` does not say its version",
					 runc);
	log_info("runc %s: version %s, checkpoint %s", runc, out->version,
		 out->checkpoint == 1 ? "enabled" : out->checkpoint == 0 ? "disabled" : "not said");
	if (out->checkpoint == 0)
		log_warn("runc %s (version %s) is built without checkpoint support: tardis cannot "
			 "checkpoint or restore with it",
			 runc, out->version);
	if (state_fd >= 0)
		cache_store(state_fd, runc, key, out);
	return 0;
}
