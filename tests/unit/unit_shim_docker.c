/* Docker through tardis-runc: whose a `runc checkpoint` is
 * (checkpoint_callers), and a caller's own restore given back the work
 * dir mount its container had (handle_restore). */
#include "unit_main.h"
#include "shim.h"
#include "container_state.h"

#include <cjson/cJSON.h>

START_TEST(callers)
{
	cJSON *st = cJSON_CreateObject();

	ck_assert_ptr_null(checkpoint_callers(st, "default"));
	ck_assert_ptr_null(checkpoint_callers(st, "mobyx"));
	ck_assert_str_eq(checkpoint_callers(st, "moby"), "Docker's checkpoint");
	cjson_set_bool(st, "cri", 1);
	ck_assert_str_eq(checkpoint_callers(st, "k8s.io"), "CRI checkpoint");
	cjson_set_bool(st, "cri", 0);
	ck_assert_ptr_null(checkpoint_callers(st, "k8s.io"));
	cJSON_Delete(st);
}
END_TEST

/* handle_restore on a bundle whose config.json has ENV; the config.json
 * it leaves (malloc'd). */
static char *restore_with(const char *dir, const char *env, const char *roots)
{
	char *bundle = NULL, *path = NULL, *words = NULL, *argv[16], *text;
	struct shim s;
	tardis_error_t err = NULL;
	int argc = 0, code = -1;
	FILE *f;
	long n;

	ck_assert(asprintf(&bundle, "%s/bundle", dir) > 0);
	ck_assert(asprintf(&path, "%s/config.json", bundle) > 0);
	mkdir(bundle, 0755);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "{\"process\":{\"cwd\":\"/\",\"env\":[\"PATH=/bin\",%s]},"
		   "\"root\":{\"path\":\"rootfs\"},\"mounts\":[]}", env);
	fclose(f);
	ck_assert(asprintf(&words, "runc --root /r/moby restore --detach --bundle %s "
				   "--image-path /i --work-path /w c1", bundle) > 0);
	for (char *w = strtok(words, " "); w && argc < 15; w = strtok(NULL, " "))
		argv[argc++] = w;
	argv[argc] = NULL;
	memset(&s, 0, sizeof(s));
	snprintf(s.cfg.image_roots, sizeof(s.cfg.image_roots), "%s", roots);
	ck_assert_int_eq(runc_args_parse(argc, argv, &s.args, &err), 0);
	ck_assert_int_eq(handle_restore(&s, &code), SHIM_PASS_THROUGH);
	ck_assert_int_eq(code, -1);
	f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	text = calloc(1, n + 1);
	ck_assert_int_eq(fread(text, 1, n, f), n);
	fclose(f);
	free(words);
	free(path);
	free(bundle);
	return text;
}

/* process.cwd of a config.json's text ("" when none). */
static const char *cwd_of(const char *text)
{
	static char cwd[256];
	cJSON *c = cJSON_Parse(text);
	const char *v = cJSON_GetStringValue(
		cJSON_GetObjectItem(cJSON_GetObjectItem(c, "process"), "cwd"));

	snprintf(cwd, sizeof(cwd), "%s", v ? v : "");
	cJSON_Delete(c);
	return cwd;
}

START_TEST(restore_work_dir)
{
	char *dir = unit_tmpdir(), *env = NULL, *want = NULL, *text;

	ck_assert(asprintf(&env, "\"TARDIS_ENABLE=1\",\"TARDIS_NETWORKFS_HOST_PATH=%s/nfs\","
				 "\"TARDIS_WORKDIR_CONTAINER_PATH=/work\"", dir) > 0);
	ck_assert(asprintf(&want, "\"%s/nfs/work/moby/c1\"", dir) > 0);
	/* Enabled, with a work dir inside image_roots: the mount is back. */
	text = restore_with(dir, env, dir);
	UNIT_ASSERT_CONTAINS(text, want, "\"/work\"");
	ck_assert_str_eq(cwd_of(text), "/work");
	free(text);
	/* Outside image_roots: config.json untouched. */
	text = restore_with(dir, env, "/elsewhere");
	ck_assert_ptr_null(strstr(text, want));
	ck_assert_str_eq(cwd_of(text), "/");
	free(text);
	/* Not enabled: untouched. */
	free(env);
	ck_assert(asprintf(&env, "\"TARDIS_NETWORKFS_HOST_PATH=%s/nfs\","
				 "\"TARDIS_WORKDIR_CONTAINER_PATH=/work\"", dir) > 0);
	text = restore_with(dir, env, dir);
	ck_assert_ptr_null(strstr(text, "\"/work\""));
	free(text);
	free(env);
	free(want);
	free(dir);
}
END_TEST

UNIT_SUITE(shim_docker, "docker", callers, restore_work_dir)
