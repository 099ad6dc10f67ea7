#include "oci_config.h"
#include "util.h"
#include "cleanup.h"
#include "state.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define CONFIG_MAX (16 << 20)

struct setting_name {
	const char *env;        /* after the TARDIS_ / ARCH_ prefix */
	const char *annotation; /* after tardis.io/ */
};

static const struct setting_name names[] = {
	{ "ENABLE", "enable" },
	{ "CHECKPOINT_HOST_PATH", "checkpoint-host-path" },
	{ "NETWORKFS_HOST_PATH", "networkfs-host-path" },
	{ "WORKDIR_CONTAINER_PATH", "workdir-container-path" },
	{ "CHECKPOINT_ON_STOP", "checkpoint-on-stop" },
	{ "TCP_ESTABLISHED", "tcp-established" },
	{ "IDENTITY", "identity" },
};

#define NSETTINGS (sizeof(names) / sizeof(names[0]))

int settings_identity_valid(const char *id)
{
	char part[TARDIS_ID_MAX + 1];
	int parts = 0;

	if (!id || !*id || strlen(id) >= SETTINGS_IDENTITY_MAX)
		return 0;
	for (const char *p = id;; parts++) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);

		if (n == 0 || n > TARDIS_ID_MAX || parts == SETTINGS_IDENTITY_PARTS)
			return 0;
		memcpy(part, p, n);
		part[n] = '\0';
		if (!store_id_valid(part))
			return 0;
		if (!slash)
			return 1;
		p = slash + 1;
	}
}

static int truthy(const char *v)
{
	return strcmp(v, "1") == 0 || strcasecmp(v, "true") == 0 || strcasecmp(v, "yes") == 0;
}

static int apply(struct tardis_settings *s, int which, const char *v, tardis_error_t *err)
{
	char *dst;

	switch (which) {
	case 0: s->enabled = truthy(v); return 0;
	case 4: s->checkpoint_on_stop = truthy(v); return 0;
	case 5: s->tcp_established = truthy(v); return 0;
	case 6:
		if (*v && !settings_identity_valid(v))
			return tardis_make_error(err, EINVAL,
						 "IDENTITY: `%.128s` is not 1 to %d names of letters, "
						 "digits and _+,-. joined by /",
						 v, SETTINGS_IDENTITY_PARTS);
		strcpy(s->identity, v);
		return 0;
	case 1: dst = s->checkpoint_host_path; break;
	case 2: dst = s->networkfs; break;
	default: dst = s->workdir; break;
	}
	if (!*v) {
		dst[0] = '\0';
		return 0;
	}
	if (!path_is_clean_absolute(v))
		return tardis_make_error(err, EINVAL, "%s: `%.128s` is not a clean absolute path",
					 names[which].env, v);
	strcpy(dst, v);
	return 0;
}

static int from_annotations(const cJSON *config, struct tardis_settings *s, tardis_error_t *err)
{
	const cJSON *ann = cJSON_GetObjectItemCaseSensitive(config, "annotations");
	const cJSON *it;

	if (!ann)
		return 0;
	if (!cJSON_IsObject(ann))
		return tardis_make_error(err, EINVAL, "annotations is not an object");
	cJSON_ArrayForEach(it, ann) {
		const char *k = it->string;

		if (!k || strncmp(k, "tardis.io/", 10) != 0)
			continue;
		if (!cJSON_IsString(it))
			return tardis_make_error(err, EINVAL, "annotation %s is not a string", k);
		for (size_t i = 0; i < NSETTINGS; i++) {
			char env[64];

			snprintf(env, sizeof(env), "TARDIS_%s", names[i].env);
			if ((strcmp(k + 10, names[i].annotation) == 0 || strcmp(k + 10, env) == 0) &&
			    apply(s, i, it->valuestring, err) < 0)
				return -1;
		}
	}
	return 0;
}

static int from_env(const cJSON *env, struct tardis_settings *s, tardis_error_t *err)
{
	const cJSON *it;

	if (!env)
		return 0;
	if (!cJSON_IsArray(env))
		return tardis_make_error(err, EINVAL, "process.env is not an array");
	/* Two passes: an ARCH_ alias never overrides the TARDIS_ spelling. */
	for (int pass = 0; pass < 2; pass++) {
		const char *prefix = pass == 0 ? "ARCH_" : "TARDIS_";
		size_t plen = strlen(prefix);

		cJSON_ArrayForEach(it, env) {
			const char *kv, *eq;

			if (!cJSON_IsString(it))
				return tardis_make_error(err, EINVAL, "process.env holds a non-string");
			kv = it->valuestring;
			if (strncmp(kv, prefix, plen) != 0 || !(eq = strchr(kv, '=')))
				continue;
			for (size_t i = 0; i < NSETTINGS; i++) {
				size_t n = strlen(names[i].env);

				if ((size_t)(eq - kv) == plen + n &&
				    strncmp(kv + plen, names[i].env, n) == 0 &&
				    apply(s, i, eq + 1, err) < 0)
					return -1;
			}
		}
	}
	return 0;
}

/* linux.namespaces' network entry: none (the host's), one runc makes, or
 * one given by path.  Anything malformed is left for runc to refuse. */
/* What a CRI plugin says the container is (struct tardis_settings.cri). */
static void cri_of(const cJSON *config, struct tardis_settings *s)
{
	static const char *const keys[] = { "io.kubernetes.cri.container-type",
					     "io.kubernetes.cri-o.ContainerType" };
	const cJSON *ann = cJSON_GetObjectItemCaseSensitive(config, "annotations");

	s->cri = CRI_NONE;
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(ann, keys[i]);

		if (cJSON_IsString(v))
			s->cri = strcmp(v->valuestring, "sandbox") == 0 ? CRI_SANDBOX : CRI_CONTAINER;
	}
}

/* A CRI container's identity: the pod's namespace and name and the
 * container's name, as containerd or CRI-O annotate them; one that is
 * missing or not a valid name leaves it "".  A tardis.io/identity
 * annotation names the pod (pod annotations reach each of its containers):
 * the container's name is added to it.  -1 when that makes it too long. */
static int cri_identity(const cJSON *config, struct tardis_settings *s)
{
	static const char *const keys[][3] = {
		{ "io.kubernetes.cri.sandbox-namespace", "io.kubernetes.cri.sandbox-name",
		  "io.kubernetes.cri.container-name" },
		{ "io.kubernetes.pod.namespace", "io.kubernetes.pod.name",
		  "io.kubernetes.container.name" },
	};
	const cJSON *ann = cJSON_GetObjectItemCaseSensitive(config, "annotations");

	if (s->cri != CRI_CONTAINER || s->identity_from == IDENTITY_ENV)
		return 0;
	for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
		const char *v[3];
		int i;

		for (i = 0; i < 3; i++) {
			v[i] = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ann, keys[k][i]));
			if (!v[i] || !store_id_valid(v[i]))
				break;
		}
		if (s->identity_from == IDENTITY_ANNOTATION && v[2] && store_id_valid(v[2])) {
			size_t n = strlen(s->identity);

			snprintf(s->identity + n, sizeof(s->identity) - n, "/%s", v[2]);
			return settings_identity_valid(s->identity) ? 0 : -1;
		}
		if (i == 3 && s->identity_from == IDENTITY_NONE) {
			snprintf(s->identity, sizeof(s->identity), "%s/%s/%s", v[0], v[1], v[2]);
			s->identity_from = IDENTITY_CRI;
			return 0;
		}
	}
	return 0;
}

static void netns_of(const cJSON *config, struct tardis_settings *s)
{
	const cJSON *linux_ = cJSON_GetObjectItemCaseSensitive(config, "linux");
	const cJSON *nss = cJSON_GetObjectItemCaseSensitive(linux_, "namespaces");
	const cJSON *it;

	s->netns = NETNS_HOST;
	s->netns_path[0] = '\0';
	if (!cJSON_IsArray(nss))
		return;
	cJSON_ArrayForEach(it, nss) {
		const cJSON *type = cJSON_GetObjectItemCaseSensitive(it, "type");
		const cJSON *path = cJSON_GetObjectItemCaseSensitive(it, "path");

		if (!cJSON_IsString(type) || strcmp(type->valuestring, "network") != 0)
			continue;
		if (cJSON_IsString(path) && path->valuestring[0] &&
		    snprintf(s->netns_path, sizeof(s->netns_path), "%s", path->valuestring) <
			    (int)sizeof(s->netns_path)) {
			s->netns = NETNS_PATH;
		} else {
			s->netns = NETNS_OWN;
			s->netns_path[0] = '\0';
		}
	}
}

int oci_settings_parse(const char *text, const char *bundle, struct tardis_settings *s,
		       cJSON **config_out, tardis_error_t *err)
{
	const cJSON *process, *root, *path;
	cleanup_json cJSON *config = NULL;
	char ann_identity[SETTINGS_IDENTITY_MAX];

	memset(s, 0, sizeof(*s));
	if (config_out)
		*config_out = NULL;
	config = cJSON_Parse(text);
	if (!cJSON_IsObject(config)) {
		return tardis_make_error(err, EINVAL, "config.json is not a JSON object");
	}
	process = cJSON_GetObjectItemCaseSensitive(config, "process");
	if (process && !cJSON_IsObject(process)) {
		return tardis_make_error(err, EINVAL, "config.json: process is not an object");
	}
	if (process && from_annotations(config, s, err) < 0)
		return tardis_error_wrap(err, "config.json");
	/* Which one named the identity: TARDIS_IDENTITY wins. */
	snprintf(ann_identity, sizeof(ann_identity), "%s", s->identity);
	s->identity[0] = '\0';
	if (process && from_env(cJSON_GetObjectItemCaseSensitive(process, "env"), s, err) < 0)
		return tardis_error_wrap(err, "config.json");
	if (s->identity[0])
		s->identity_from = IDENTITY_ENV;
	else if (ann_identity[0])
		s->identity_from = IDENTITY_ANNOTATION;
	if (!s->identity[0])
		strcpy(s->identity, ann_identity);
	cri_of(config, s);
	if (cri_identity(config, s) < 0)
		return tardis_make_error(err, EINVAL, "config.json: tardis.io/identity `%.128s` plus "
				   "the container's name is more than %d names",
				   s->identity, SETTINGS_IDENTITY_PARTS);
	/* A pod's sandbox (pause) container is never tardis's: the pod's
	 * tardis.io annotations reach its config.json too. */
	if (!process || s->cri == CRI_SANDBOX)
		s->enabled = 0; /* nothing to run, nothing to save */
	netns_of(config, s);
	root = cJSON_GetObjectItemCaseSensitive(config, "root");
	path = root ? cJSON_GetObjectItemCaseSensitive(root, "path") : NULL;
	if (cJSON_IsString(path) && path->valuestring[0]) {
		int n = path->valuestring[0] == '/'
				? snprintf(s->rootfs, sizeof(s->rootfs), "%s", path->valuestring)
				: snprintf(s->rootfs, sizeof(s->rootfs), "%s/%s", bundle ? bundle : ".",
					   path->valuestring);
		if (n >= (int)sizeof(s->rootfs))
			s->rootfs[0] = '\0';
	}
	if (config_out) {
		*config_out = config;
		config = NULL;
	}
	return 0;
}

int oci_settings_load(const char *bundle, struct tardis_settings *s, cJSON **config_out,
		      tardis_error_t *err)
{
	cleanup_free char *text = NULL;
	cleanup_close int dfd = -1;

	memset(s, 0, sizeof(*s));
	dfd = open(bundle, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return tardis_make_error(err, errno, "bundle `%s`", bundle);
	if (store_read(dfd, "config.json", CONFIG_MAX, &text, NULL, err) < 0)
		return tardis_error_wrap(err, "bundle `%s`", bundle);
	if (oci_settings_parse(text, bundle, s, config_out, err) < 0)
		return tardis_error_wrap(err, "bundle `%s`", bundle);
	return 0;
}

/* <ns>/<id>, or k8s/<identity>. */
static int settings_key(const struct tardis_settings *s, const char *ns, const char *id,
			char *buf, size_t len)
{
	int n;

	if (s->identity[0]) {
		if (!settings_identity_valid(s->identity))
			return -1;
		n = snprintf(buf, len, SETTINGS_IDENTITY_DIR "/%s", s->identity);
		return n < (int)len ? 0 : -1;
	}
	if (!store_id_valid(ns) || !store_id_valid(id))
		return -1;
	return snprintf(buf, len, "%s/%s", ns, id) < (int)len ? 0 : -1;
}

int settings_image_path(const struct tardis_settings *s, const char *state_dir, const char *ns,
			const char *id, char *buf, size_t len)
{
	int n;

	char key[SETTINGS_IDENTITY_MAX + 2 * TARDIS_ID_MAX + 8];

	if (settings_key(s, ns, id, key, sizeof(key)) < 0)
		return -1;
	if (s->networkfs[0])
		n = snprintf(buf, len, "%s/checkpoint/%s", s->networkfs, key);
	else if (s->checkpoint_host_path[0])
		n = snprintf(buf, len, "%s/%s", s->checkpoint_host_path, key);
	else
		n = snprintf(buf, len, "%s/checkpoints/%s", state_dir, key);
	return n >= (int)len ? -1 : 0;
}

int settings_work_dir(const struct tardis_settings *s, const char *ns, const char *id, char *buf,
		      size_t len)
{
	char key[SETTINGS_IDENTITY_MAX + 2 * TARDIS_ID_MAX + 8];

	buf[0] = '\0';
	if (!s->networkfs[0] || !s->workdir[0])
		return 0;
	if (settings_key(s, ns, id, key, sizeof(key)) < 0)
		return -1;
	return snprintf(buf, len, "%s/work/%s", s->networkfs, key) >= (int)len ? -1 : 0;
}

/* {destination, type bind, source, options [rbind, rw]}; NULL when out of
 * memory. */
static cJSON *bind_mount(const char *dst, const char *src)
{
	cleanup_json cJSON *m = cJSON_CreateObject();
	cJSON *opts, *ret;

	if (!m)
		return NULL;
	cJSON_AddStringToObject(m, "destination", dst);
	cJSON_AddStringToObject(m, "type", "bind");
	cJSON_AddStringToObject(m, "source", src);
	opts = cJSON_AddArrayToObject(m, "options");
	if (!opts)
		return NULL;
	cJSON_AddItemToArray(opts, cJSON_CreateString("rbind"));
	cJSON_AddItemToArray(opts, cJSON_CreateString("rw"));
	ret = m;
	m = NULL;
	return ret;
}

int oci_config_add_workdir(cJSON *config, const struct tardis_settings *s, const char *work_dir,
			   tardis_error_t *err)
{
	cJSON *mounts = cJSON_GetObjectItemCaseSensitive(config, "mounts");
	cJSON *process = cJSON_GetObjectItemCaseSensitive(config, "process");
	cJSON *m = NULL, *it;

	if (!cJSON_IsObject(process))
		return tardis_make_error(err, EINVAL, "config.json has no process");
	if (mounts && !cJSON_IsArray(mounts))
		return tardis_make_error(err, EINVAL, "config.json: mounts is not an array");
	if (!mounts) {
		mounts = cJSON_AddArrayToObject(config, "mounts");
		if (!mounts)
			return tardis_make_error(err, ENOMEM, "config.json");
	}
	cJSON_ArrayForEach(it, mounts) {
		const cJSON *dst = cJSON_GetObjectItemCaseSensitive(it, "destination");
		const cJSON *src = cJSON_GetObjectItemCaseSensitive(it, "source");

		if (!cJSON_IsString(dst) || strcmp(dst->valuestring, s->workdir) != 0)
			continue;
		if (cJSON_IsString(src) && strcmp(src->valuestring, work_dir) == 0)
			goto set_cwd; /* ours, from an earlier create */
		return tardis_make_error(err, EEXIST,
					 "WORKDIR `%s` is already the destination of another mount",
					 s->workdir);
	}
	m = bind_mount(s->workdir, work_dir);
	if (!m)
		return tardis_make_error(err, ENOMEM, "config.json");
	cJSON_AddItemToArray(mounts, m);
set_cwd:
	it = cJSON_GetObjectItemCaseSensitive(process, "cwd");
	if (cJSON_IsString(it) && strcmp(it->valuestring, s->workdir) == 0)
		return m ? 1 : 0;
	cJSON_DeleteItemFromObjectCaseSensitive(process, "cwd");
	cJSON_AddStringToObject(process, "cwd", s->workdir);
	return 1;
}

int oci_config_write(const char *bundle, cJSON *config, tardis_error_t *err)
{
	cleanup_free char *text = cJSON_Print(config);
	cleanup_close int dfd = -1;

	if (!text)
		return tardis_make_error(err, ENOMEM, "config.json");
	dfd = open(bundle, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return tardis_make_error(err, errno, "bundle `%s`", bundle);
	return store_write_atomic(dfd, "config.json", text, strlen(text), 1, NULL, err);
}
