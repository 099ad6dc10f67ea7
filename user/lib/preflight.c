#include "preflight.h"
#include "util.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RUNC_VERSION_PREFIX "runc version "
#define RUNC_CHECKPOINT_ANNOTATION "org.opencontainers.runc.checkpoint.enabled"
#define TARDIS_RUNC_NAME "tardis-runc"

int preflight_runc_version(const char *text, char *out, size_t len)
{
	const char *v;
	size_t n;

	if (len)
		out[0] = '\0';
	if (!text)
		return -1;
	/* The first line; older runcs print a banner-less "runc version X". */
	v = strstr(text, RUNC_VERSION_PREFIX);
	if (!v || (v != text && v[-1] != '\n'))
		return -1;
	v += strlen(RUNC_VERSION_PREFIX);
	n = strcspn(v, " \t\r\n");
	if (n == 0 || !isdigit((unsigned char)v[0]) || n >= len)
		return -1;
	memcpy(out, v, n);
	out[n] = '\0';
	return 0;
}

int preflight_version_split(const char *version, int *major, int *minor)
{
	char *end;
	long a, b;

	if (!version || !isdigit((unsigned char)version[0]))
		return -1;
	a = strtol(version, &end, 10);
	if (*end != '.' || !isdigit((unsigned char)end[1]))
		return -1;
	b = strtol(end + 1, &end, 10);
	if (a > 1000 || b > 1000)
		return -1;
	*major = (int)a;
	*minor = (int)b;
	return 0;
}

int preflight_runc_checkpoint(const char *features_json)
{
	cleanup_json cJSON *j = features_json ? cJSON_Parse(features_json) : NULL;
	const cJSON *ann, *v;

	ann = cJSON_GetObjectItemCaseSensitive(j, "annotations");
	v = cJSON_GetObjectItemCaseSensitive(ann, RUNC_CHECKPOINT_ANNOTATION);
	if (!cJSON_IsString(v))
		return -1;
	return strcmp(v->valuestring, "true") == 0;
}

/* A TOML string value ("..." or '...', a trailing comment allowed) into
 * out; -1 when v is not one. */
static int toml_string(const char *v, char *out, size_t len)
{
	char q = v[0];
	const char *end;

	if (q != '"' && q != '\'')
		return -1;
	end = strchr(v + 1, q);
	if (!end || (size_t)(end - v - 1) >= len)
		return -1;
	memcpy(out, v + 1, (size_t)(end - v - 1));
	out[end - v - 1] = '\0';
	return 0;
}

/* The key names a runtime binary: BinaryName anywhere (also as the last
 * part of a dotted key), `runtime` in the v1 linux runtime's table. */
static int is_binary_key(const char *key, const char *section)
{
	const char *dot = strrchr(key, '.');
	const char *last = dot ? dot + 1 : key;

	if (strcmp(last, "BinaryName") == 0)
		return 1;
	return strcmp(key, "runtime") == 0 && strstr(section, "io.containerd.runtime.v1.linux");
}

static int names_tardis_runc(const char *path)
{
	const char *base = strrchr(path, '/');

	return strcmp(base ? base + 1 : path, TARDIS_RUNC_NAME) == 0;
}

double preflight_go_duration(const char *text)
{
	static const struct { const char *unit; double s; } units[] = {
		{ "ms", 1e-3 }, { "us", 1e-6 }, { "ns", 1e-9 }, { "h", 3600 }, { "m", 60 }, { "s", 1 },
	};
	double total = 0;
	const char *p = text;

	if (!p || !*p)
		return -1;
	if (strcmp(p, "0") == 0)
		return 0;
	while (*p) {
		char *end;
		double v = strtod(p, &end);
		size_t i;

		if (end == p || v < 0)
			return -1;
		for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
			if (strncmp(end, units[i].unit, strlen(units[i].unit)) == 0)
				break;
		if (i == sizeof(units) / sizeof(units[0]))
			return -1;
		total += v * units[i].s;
		p = end + strlen(units[i].unit);
	}
	return total;
}

/* One line of the config: a [table] header or a key = value. */
static void scan_line(char *line, char *section, size_t slen, struct containerd_scan *out)
{
	char *s = str_trim(line), *eq, value[1024];

	if (s[0] == '#' || s[0] == '\0')
		return;
	if (s[0] == '[') {
		snprintf(section, slen, "%s", s);
		return;
	}
	eq = strchr(s, '=');
	if (!eq)
		return;
	*eq = '\0';
	if (strcmp(section, "[timeouts]") == 0 &&
	    strcmp(str_trim(s), "\"io.containerd.timeout.shim.cleanup\"") == 0 &&
	    toml_string(str_trim(eq + 1), value, sizeof(value)) == 0) {
		out->shim_cleanup_s = preflight_go_duration(value);
		return;
	}
	if (!is_binary_key(str_trim(s), section) || toml_string(str_trim(eq + 1), value, sizeof(value)) < 0 ||
	    !value[0])
		return;
	out->binaries++;
	if (names_tardis_runc(value)) {
		if (!out->tardis[0]) {
			snprintf(out->tardis, sizeof(out->tardis), "%s", value);
			snprintf(out->section, sizeof(out->section), "%s", section);
		}
	} else if (!out->other[0]) {
		snprintf(out->other, sizeof(out->other), "%s", value);
	}
}

int preflight_containerd_scan(const char *toml, struct containerd_scan *out)
{
	char section[512] = "", *copy, *line, *save = NULL;

	memset(out, 0, sizeof(*out));
	out->shim_cleanup_s = -1;
	if (!toml)
		return 0;
	copy = strdup(toml);
	if (!copy)
		return 0;
	for (line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		scan_line(line, section, sizeof(section), out);
	free(copy);
	return out->tardis[0] != '\0';
}
