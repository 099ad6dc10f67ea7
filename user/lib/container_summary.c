#include "container_summary.h"
#include "deadline.h"
#include "mountinfo.h"
#include "cleanup.h"
#include "container_state.h"
#include "lease.h"
#include "oci_config.h"
#include "proc.h"
#include "registry.h"
#include "util.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define JSON_MAX (1 << 20)

static int ref_cmp(const void *a, const void *b)
{
	const struct container_ref *x = a, *y = b;
	int c = strcmp(x->ns, y->ns);

	return c ? c : strcmp(x->id, y->id);
}

/* A stream over dirfd/name's entries; NULL when it does not exist (*err
 * left empty) or on error (*err set). */
static DIR *open_listing(int dirfd, const char *name, tardis_error_t *err)
{
	cleanup_close int fd = store_subdir_existing(dirfd, name, err);
	DIR *d;

	if (fd < 0)
		return NULL;
	d = fdopendir_dup(fd);
	if (!d)
		tardis_make_error(err, errno, "list `%s`", name);
	return d;
}

/* Appends the valid-named subdirectories of cfd/ns to *refs. */
static int list_ns(int cfd, const char *ns, struct container_ref **refs, size_t *n, size_t *cap,
		   tardis_error_t *err)
{
	/* Removed meanwhile (its last container went): nothing to list. */
	cleanup_dir DIR *d = open_listing(cfd, ns, err);
	struct dirent *de;

	if (!d)
		return err && *err ? -1 : 0;
	while ((de = readdir(d))) {
		struct container_ref *r;

		if (!store_id_valid(de->d_name) || de->d_type != DT_DIR)
			continue;
		if (grow_array(refs, cap, *n + 1, sizeof(**refs)) < 0)
			return tardis_make_error(err, ENOMEM, "list containers");
		r = &(*refs)[(*n)++];
		strcpy(r->ns, ns);
		strcpy(r->id, de->d_name);
	}
	return 0;
}

int container_list(struct tardis_store *s, struct container_ref **out, size_t *n,
		   tardis_error_t *err)
{
	cleanup_dir DIR *d = NULL;
	cleanup_free struct container_ref *refs = NULL;
	size_t cap = 0;
	struct dirent *de;

	*out = NULL;
	*n = 0;
	d = open_listing(s->root_fd, "containers", err);
	if (!d)
		return err && *err ? -1 : 0;
	while ((de = readdir(d))) {
		if (!store_id_valid(de->d_name) || de->d_type != DT_DIR)
			continue;
		if (list_ns(dirfd(d), de->d_name, &refs, n, &cap, err) < 0) {
			*n = 0;
			return -1;
		}
	}
	if (*n > 1)
		qsort(refs, *n, sizeof(*refs), ref_cmp);
	*out = refs;
	refs = NULL;
	return 0;
}

static int64_t mtime_ns(const struct stat *st)
{
	return (int64_t)st->st_mtim.tv_sec * 1000000000ll + st->st_mtim.tv_nsec;
}

static void newer(int64_t *acc, int dirfd, const char *name)
{
	struct stat st;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && mtime_ns(&st) > *acc)
		*acc = mtime_ns(&st);
}

static int64_t time_field(const cJSON *o, const char *k)
{
	const char *v = cjson_get_str(o, k);
	int64_t ns;

	return v && rfc3339_parse(v, &ns) == 0 ? ns : 0;
}

struct image_look {
	const char *path;
	int validate;
	int64_t t;
	int present, checked;
	struct image_report rep;
};

/* The image's directory, manifest and (validate) files. */
static int look_at_image(void *arg, void *out, size_t cap, size_t *len)
{
	struct image_look *l = arg;
	char m[PATH_MAX + 32];
	struct stat st;

	if (stat(l->path, &st) == 0 && S_ISDIR(st.st_mode)) {
		l->present = 1;
		/* The directory itself (renamed into place) and its manifest. */
		if (mtime_ns(&st) > l->t)
			l->t = mtime_ns(&st);
		snprintf(m, sizeof(m), "%s/%s", l->path, IMAGE_MANIFEST);
		newer(&l->t, AT_FDCWD, m);
		if (l->validate) {
			l->checked = 1;
			if (image_validate(l->path, &l->rep) < 0)
				l->present = 0; /* gone since the stat */
		}
	}
	if (out && out != l && cap >= sizeof(*l))
		memcpy(out, l, sizeof(*l));
	if (len)
		*len = sizeof(*l);
	return 0;
}

/* Mounts that did not answer in this process: every image below one is
 * unreachable at once (a listing waits for a hung mount once, not once per
 * image). */
static char hung_mounts[8][PATH_MAX];

static int on_hung_mount(const char *path, char *mnt, size_t len)
{
	if (mountinfo_mount_of(path, mnt, len) != 1 || strcmp(mnt, "/") == 0) {
		mnt[0] = '\0';
		return 0;
	}
	for (size_t i = 0; i < sizeof(hung_mounts) / sizeof(hung_mounts[0]); i++)
		if (strcmp(hung_mounts[i], mnt) == 0)
			return 1;
	return 0;
}

static void note_hung_mount(const char *mnt)
{
	for (size_t i = 0; mnt[0] && i < sizeof(hung_mounts) / sizeof(hung_mounts[0]); i++)
		if (!hung_mounts[i][0]) {
			snprintf(hung_mounts[i], sizeof(hung_mounts[i]), "%s", mnt);
			return;
		}
}

/* An image outside the state dir may be on a network filesystem that
 * hangs: looked at in a helper with its deadline (deadline.h), else
 * reported unreachable. */
static void load_image(struct tardis_store *s, struct container_summary *c, int validate)
{
	cleanup_error tardis_error_t err = NULL;
	const char *p = cjson_get_str(c->doc, "image_path");
	struct image_look l = { .path = p, .validate = validate, .t = c->last_activity_ns }, back;
	size_t len = 0;
	char what[PATH_MAX + 16], mnt[PATH_MAX];

	if (!p || !path_is_clean_absolute(p) || strlen(p) >= sizeof(c->image_path))
		return;
	strcpy(c->image_path, p);
	if (store_holds_path(s, p)) {
		look_at_image(&l, NULL, 0, NULL);
	} else if (on_hung_mount(p, mnt, sizeof(mnt))) {
		c->image_unreachable = 1;
		return;
	} else {
		snprintf(what, sizeof(what), "image %s", p);
		if (deadline_run(what, deadline_networkfs_ms(0), look_at_image, &l,
				 &back, sizeof(back), &len, NULL, &err) < 0 || len != sizeof(back)) {
			c->image_unreachable = 1;
			note_hung_mount(mnt);
			return;
		}
		l = back;
	}
	c->image_present = l.present;
	c->image_checked = l.checked;
	c->image = l.rep;
	c->last_activity_ns = l.t;
}

static const char *derive_state(struct container_summary *c)
{
	const cJSON *ck = cJSON_GetObjectItemCaseSensitive(c->doc, "last_checkpoint");
	int64_t ck_at = time_field(ck, "at"), created = time_field(c->doc, "created_at");

	if (!c->doc)
		return "corrupt";
	/* Its create was refused (image_roots): runc runs it, unmanaged. */
	if (cJSON_GetObjectItemCaseSensitive(c->doc, "refused"))
		return "refused";
	if (c->init_pid > 0 && proc_is_same(c->init_pid, c->init_start_time))
		return "running";
	/* A checkpoint after the last create: CRIU stopped the init, and the
	 * next create restores the image. */
	if (ck_at && ck_at >= created && c->image_present)
		return "checkpointed";
	if (c->has_exit)
		return c->exit.known ? "exited" : "unknown";
	if (c->init_pid <= 0)
		return "created";
	return "stopped";
}

int container_summary_load(struct tardis_store *s, const char *ns, const char *id,
			   int validate_image, struct container_summary *c, tardis_error_t *err)
{
	cleanup_close int dfd = -1;
	cleanup_free char *text = NULL;
	cleanup_free char *etext = NULL;
	tardis_error_t e = NULL;
	struct stat st;

	memset(c, 0, sizeof(*c));
	snprintf(c->ref.ns, sizeof(c->ref.ns), "%s", ns);
	snprintf(c->ref.id, sizeof(c->ref.id), "%s", id);
	dfd = store_container_dir(s, ns, id, 0, err);
	if (dfd < 0)
		return -1;
	if (fstat(dfd, &st) == 0)
		c->last_activity_ns = mtime_ns(&st);
	if (store_read(dfd, STATE_FILE, JSON_MAX, &text, NULL, &e) == 0) {
		c->doc = cJSON_Parse(text);
		if (!cJSON_IsObject(c->doc)) {
			cJSON_Delete(c->doc);
			c->doc = NULL;
		}
	}
	tardis_error_free(&e);
	if (c->doc) {
		int64_t t = 0;

		c->init_pid = (pid_t)cjson_get_num(c->doc, "init_pid", 0);
		c->init_start_time = (uint64_t)cjson_get_num(c->doc, "init_start_time", 0);
		/* Files, not directory: the directory's mtime moves with every
		 * temp file of an atomic write, and `touch` ages files. */
		newer(&t, dfd, STATE_FILE);
		newer(&t, dfd, EXIT_RECORD_FILE);
		c->last_activity_ns = t ? t : c->last_activity_ns;
	}
	if (store_read(dfd, EXIT_RECORD_FILE, JSON_MAX, &etext, NULL, &e) == 0 &&
	    exit_record_from_json(etext, &c->exit, &e) == 0 &&
	    (c->init_pid <= 0 ||
	     (c->exit.pid == c->init_pid && c->exit.start_time == c->init_start_time)))
		c->has_exit = 1;
	tardis_error_free(&e);
	load_image(s, c, validate_image);
	c->state = derive_state(c);
	return 0;
}

void container_summary_free(struct container_summary *c)
{
	cJSON_Delete(c->doc);
	c->doc = NULL;
}

int container_summary_exit_status(const struct container_summary *c, int *exit_status)
{
	if (!c->has_exit || !c->exit.known)
		return 0;
	*exit_status = c->exit.st.exit_status;
	return 1;
}

static void add_str_or_null(cJSON *o, const char *k, const char *v)
{
	if (v)
		cJSON_AddStringToObject(o, k, v);
	else
		cJSON_AddNullToObject(o, k);
}

/* A copy of doc[k] when it is an object, else null. */
static void add_object_copy(cJSON *o, const char *k, const cJSON *doc)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, k);

	if (cJSON_IsObject(v))
		cJSON_AddItemToObject(o, k, cJSON_Duplicate(v, 1));
	else
		cJSON_AddNullToObject(o, k);
}

struct lease_look {
	const char *path;
	struct lease l;
	int r;
	char why[512];
};

static int look_at_lease(void *arg, void *out, size_t cap, size_t *len)
{
	struct lease_look *l = arg;
	cleanup_error tardis_error_t err = NULL;

	l->r = lease_read(l->path, &l->l, &err);
	snprintf(l->why, sizeof(l->why), "%s", l->r < 0 ? tardis_error_msg(err) : "");
	if (out && out != l && cap >= sizeof(*l))
		memcpy(out, l, sizeof(*l));
	if (len)
		*len = sizeof(*l);
	return 0;
}

int container_summary_lease(const struct container_summary *c, struct lease *out,
			    tardis_error_t *err)
{
	struct lease_look l = { .path = c->image_path }, back;
	char what[PATH_MAX + 16];
	size_t len = 0;

	if (!c->image_path[0])
		return 0;
	if (c->image_unreachable)
		return tardis_make_error(err, ETIMEDOUT, "unreachable");
	snprintf(what, sizeof(what), "lease of %s", c->image_path);
	if (deadline_run(what, deadline_networkfs_ms(0), look_at_lease, &l, &back, sizeof(back), &len,
			 NULL, err) < 0 || len != sizeof(back))
		return tardis_make_error(err, ETIMEDOUT, "unreachable");
	if (back.r < 0)
		return tardis_make_error(err, EIO, "%s", back.why);
	*out = back.l;
	return back.r;
}

/* The identity's lease (lease.h), null when it has none. */
static cJSON *lease_json(const struct container_summary *c)
{
	cleanup_error tardis_error_t err = NULL;
	struct lease l;
	cJSON *o;
	char when[64];

	if (container_summary_lease(c, &l, &err) != 1)
		return cJSON_CreateNull();
	o = cJSON_CreateObject();
	rfc3339_format(l.renewed_ns, when, sizeof(when));
	cJSON_AddNumberToObject(o, "seq", (double)l.seq);
	cJSON_AddStringToObject(o, "state", lease_state_name(l.state));
	cJSON_AddStringToObject(o, "node", l.node);
	cJSON_AddStringToObject(o, "namespace", l.ns);
	cJSON_AddStringToObject(o, "id", l.id);
	cJSON_AddStringToObject(o, "renewed_at", when);
	cJSON_AddNumberToObject(o, "timeout_s", l.timeout_s);
	cJSON_AddStringToObject(o, "image", l.image);
	cJSON_AddNumberToObject(o, "failed_restores", l.failed_restores);
	return o;
}

static cJSON *image_json(const struct container_summary *c, int checks)
{
	cJSON *im = cJSON_CreateObject();
	char reason[512];

	add_str_or_null(im, "path", c->image_path[0] ? c->image_path : NULL);
	cJSON_AddBoolToObject(im, "present", c->image_present);
	if (c->image_unreachable)
		cJSON_AddBoolToObject(im, "unreachable", 1);
	if (c->image_present && c->image_checked) {
		cJSON_AddBoolToObject(im, "valid", c->image.valid);
		cJSON_AddNumberToObject(im, "size", (double)c->image.size);
		add_str_or_null(im, "reason",
				c->image.valid ? NULL
					       : image_report_reason(&c->image, reason, sizeof(reason)));
		add_str_or_null(im, "created_at", c->image.created_at[0] ? c->image.created_at : NULL);
		add_str_or_null(im, "identity", c->image.identity[0] ? c->image.identity : NULL);
		add_str_or_null(im, "written_by", c->image.id[0] ? c->image.id : NULL);
		add_str_or_null(im, "node", c->image.node[0] ? c->image.node : NULL);
	} else {
		cJSON_AddNullToObject(im, "valid");
		cJSON_AddNullToObject(im, "size");
		cJSON_AddNullToObject(im, "reason");
		cJSON_AddNullToObject(im, "created_at");
	}
	if (checks && c->image_present && c->image_checked) {
		cJSON *arr = cJSON_AddArrayToObject(im, "checks");

		for (int i = 0; i < c->image.n; i++) {
			cJSON *k = cJSON_CreateObject();

			cJSON_AddStringToObject(k, "name", c->image.checks[i].name);
			cJSON_AddBoolToObject(k, "ok", c->image.checks[i].ok);
			cJSON_AddStringToObject(k, "detail", c->image.checks[i].detail);
			cJSON_AddItemToArray(arr, k);
		}
	}
	return im;
}

cJSON *container_summary_json(const struct container_summary *c, int checks)
{
	const char *identity = cjson_get_str(c->doc, "identity");
	cJSON *o = cJSON_CreateObject();
	char when[64];
	int es;

	if (!o)
		return NULL;
	cJSON_AddStringToObject(o, "namespace", c->ref.ns);
	cJSON_AddStringToObject(o, "id", c->ref.id);
	cJSON_AddStringToObject(o, "state", c->state);
	if (container_summary_exit_status(c, &es))
		cJSON_AddNumberToObject(o, "exit_status", es);
	else
		cJSON_AddNullToObject(o, "exit_status");
	if (c->has_exit) {
		char *t = exit_record_to_json(&c->exit);
		cJSON *e = t ? cJSON_Parse(t) : NULL;

		free(t);
		if (e)
			cJSON_AddItemToObject(o, "exit", e);
		else
			cJSON_AddNullToObject(o, "exit");
	} else {
		cJSON_AddNullToObject(o, "exit");
	}
	if (c->init_pid > 0)
		cJSON_AddNumberToObject(o, "init_pid", c->init_pid);
	else
		cJSON_AddNullToObject(o, "init_pid");
	add_str_or_null(o, "identity", identity && *identity ? identity : NULL);
	add_object_copy(o, "restored_from", c->doc);
	cJSON_AddItemToObject(o, "lease", identity && *identity ? lease_json(c) : cJSON_CreateNull());
	add_str_or_null(o, "created_at", cjson_get_str(c->doc, "created_at"));
	add_str_or_null(o, "bundle", cjson_get_str(c->doc, "bundle"));
	add_str_or_null(o, "work_dir", cjson_get_str(c->doc, "work_dir"));
	cJSON_AddBoolToObject(o, "checkpoint_on_stop", cjson_get_bool(c->doc, "checkpoint_on_stop"));
	cJSON_AddItemToObject(o, "image", image_json(c, checks));
	cJSON_AddNumberToObject(o, "restores", cjson_get_num(c->doc, "restores", 0));
	cJSON_AddNumberToObject(o, "checkpoints", cjson_get_num(c->doc, "checkpoints", 0));
	add_object_copy(o, "last_checkpoint", c->doc);
	add_object_copy(o, "last_restore", c->doc);
	cJSON_AddNumberToObject(o, "checkpoint_failures",
				cjson_get_num(c->doc, "checkpoint_failures", 0));
	cJSON_AddNumberToObject(o, "restore_failures", cjson_get_num(c->doc, "restore_failures", 0));
	add_object_copy(o, "last_checkpoint_failure", c->doc);
	add_object_copy(o, "last_restore_failure", c->doc);
	rfc3339_format(c->last_activity_ns, when, sizeof(when));
	cJSON_AddStringToObject(o, "last_activity", when);
	return o;
}
