/*
 * oci_settings_parse: a bundle's config.json (the opt-in and the paths that
 * tardis turns into image and work directories), then what create does with
 * an enabled one: image path, work dir, the WORKDIR bind mount added to the
 * config, the config printed back.
 */
#include "fuzz.h"
#include "oci_config.h"
#include "util.h"

#include <cjson/cJSON.h>

FUZZ_QUIET_INITIALIZE

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_cstring(data, size);
	struct tardis_settings *s = malloc(sizeof(*s));
	char *image = malloc(PATH_MAX), *work = malloc(PATH_MAX);
	tardis_error_t err = NULL;
	cJSON *config = NULL;

	if (!s || !image || !work)
		abort();
	if (oci_settings_parse(text, "/run/containerd/io.containerd.runtime.v2.task/default/c1", s,
			       &config, &err) < 0) {
		FUZZ_ASSERT(err != NULL && config == NULL);
		goto out;
	}
	FUZZ_ASSERT(config != NULL);
	FUZZ_ASSERT(s->enabled == 0 || s->enabled == 1);
	/* Every path a setting names is clean: no way out of its base. */
	FUZZ_ASSERT(!s->checkpoint_host_path[0] || path_is_clean_absolute(s->checkpoint_host_path));
	FUZZ_ASSERT(!s->networkfs[0] || path_is_clean_absolute(s->networkfs));
	FUZZ_ASSERT(!s->workdir[0] || path_is_clean_absolute(s->workdir));
	FUZZ_ASSERT(strnlen(s->rootfs, sizeof(s->rootfs)) < sizeof(s->rootfs));
	/* Kept under ns/id, or under the identity (a pod's, across its ids). */
	if (settings_image_path(s, "/var/lib/tardis", "default", "c1", image, PATH_MAX) == 0)
		FUZZ_ASSERT(image[0] == '/' &&
			    (s->identity[0] ? strstr(image, "/" SETTINGS_IDENTITY_DIR "/") &&
						  path_is_clean_absolute(image)
					    : strstr(image, "/default/c1") != NULL));
	if (settings_work_dir(s, "default", "c1", work, PATH_MAX) == 0 && work[0]) {
		int r = oci_config_add_workdir(config, s, work, &err);

		FUZZ_ASSERT(r >= -1 && r <= 1);
		/* Adding it again (a second create) finds ours, never refuses. */
		if (r >= 0)
			FUZZ_ASSERT(oci_config_add_workdir(config, s, work, &err) >= 0);
	}
	free(cJSON_Print(config));
out:
	cJSON_Delete(config);
	tardis_error_free(&err);
	free(work);
	free(image);
	free(s);
	free(text);
	return 0;
}
