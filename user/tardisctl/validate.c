/* tardisctl validate: every check of a checkpoint image, by name. */
#include "tardisctl.h"
#include "image.h"
#include "util.h"

#include <string.h>

/* Every check image_validate runs, in its order: one it did not reach
 * (an earlier one failed) is reported as skipped. */
static const char *const all_checks[] = { "manifest",  "format",      "dump_log",
					  "inventory", "descriptors", "files" };
#define NCHECKS (sizeof(all_checks) / sizeof(all_checks[0]))

/* The report's entry for check `name`, or NULL when it was not run. */
static const struct image_check *check_of(const struct image_report *r, const char *name)
{
	for (int i = 0; i < r->n; i++)
		if (strcmp(r->checks[i].name, name) == 0)
			return &r->checks[i];
	return NULL;
}

static int validate_json(const char *path, const struct image_report *r, int valid)
{
	cleanup_json cJSON *j = cJSON_CreateObject();
	char reason[512];
	cJSON *arr;

	if (!j)
		return 1;
	cJSON_AddStringToObject(j, "path", path);
	cJSON_AddBoolToObject(j, "valid", valid == 1);
	if (valid != 1)
		cJSON_AddStringToObject(j, "reason", image_report_reason(r, reason, sizeof(reason)));
	if (r->ns[0])
		cJSON_AddStringToObject(j, "namespace", r->ns);
	if (r->id[0])
		cJSON_AddStringToObject(j, "id", r->id);
	if (r->created_at[0])
		cJSON_AddStringToObject(j, "created_at", r->created_at);
	cJSON_AddNumberToObject(j, "size", (double)r->size);
	arr = cJSON_AddArrayToObject(j, "checks");
	for (size_t k = 0; k < NCHECKS; k++) {
		const struct image_check *ck = check_of(r, all_checks[k]);
		cJSON *e = cJSON_CreateObject();

		cJSON_AddStringToObject(e, "name", all_checks[k]);
		cJSON_AddStringToObject(e, "result", !ck ? "skipped" : ck->ok ? "pass" : "fail");
		cJSON_AddStringToObject(e, "detail", !ck ? "not checked" : ck->detail);
		cJSON_AddItemToArray(arr, e);
	}
	print_json(j);
	return valid == 1 ? 0 : 1;
}

static int validate_human(const char *path, const struct image_report *r, int valid)
{
	char reason[512], size[32];

	for (size_t k = 0; k < NCHECKS; k++) {
		const struct image_check *ck = check_of(r, all_checks[k]);

		if (!ck)
			printf("%-5s %-12s %s\n", "skip", all_checks[k],
			       "not checked (an earlier check failed)");
		else
			printf("%-5s %-12s %s\n", ck->ok ? "pass" : "FAIL", all_checks[k], ck->detail);
	}
	if (valid == 1) {
		format_bytes((double)r->size, size, sizeof(size));
		printf("%s: valid (%s/%s, %s, created %s)\n", path, r->ns, r->id, size,
		       r->created_at[0] ? r->created_at : "?");
		return 0;
	}
	printf("%s: INVALID (%s)\n", path, image_report_reason(r, reason, sizeof(reason)));
	return 1;
}

static int validate_main(struct ctl *c, int argc, char **argv)
{
	int json = 0, ret, valid;
	struct ctl_opt opts[] = {
		CTL_FLAG("json", 'j', &json),
		CTL_OPT_END,
	};
	struct ctl_cmdline cl = { .opts = opts, .min_args = 1, .max_args = 1,
				  .expect = "expected one IMAGE-DIR" };
	struct image_report r;

	if ((ret = opts_parse(c, argc, argv, &cl)) >= 0)
		return ret;
	valid = image_validate(cl.args[0], &r);
	if (valid < 0) {
		fprintf(stderr, "tardisctl: no image at `%s`\n", cl.args[0]);
		return 1;
	}
	if (json)
		return validate_json(cl.args[0], &r, valid);
	return validate_human(cl.args[0], &r, valid);
}

TARDISCTL_COMMAND(validate, 0, "check a checkpoint image",
		  "usage: tardisctl validate [--json] IMAGE-DIR\n"
		  "Runs every check of a checkpoint image and names each: manifest, format, dump_log,\n"
		  "inventory, descriptors, files.  Exit status 1 if the image is invalid or missing.\n"
		  "  --json            the checks as JSON\n");
