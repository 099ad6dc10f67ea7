#include "purge.h"
#include "cleanup.h"
#include "exit_lookup.h"
#include "image.h"
#include "image_roots.h"
#include "oci_config.h"
#include "util.h"
#include "registry.h"
#include "scratch.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void report_part(purge_report_fn report, void *arg, enum purge_part part,
			const char *name, tardis_error_t *err)
{
	if (report)
		report(arg, part, name, err);
	tardis_error_free(err);
}

int purge_image_path_ours(const char *path, const char *ns, const char *id)
{
	char tail[2 * TARDIS_ID_MAX + 4];
	size_t pl = strlen(path), tl;

	snprintf(tail, sizeof(tail), "/%s/%s", ns, id);
	tl = strlen(tail);
	return path_is_clean_absolute(path) && pl > tl && strcmp(path + pl - tl, tail) == 0;
}

/* A path state.json names outside the state dir lies in an image root:
 * state.json may be stale or tampered with.  0, or -1 with *err set. */
static int in_roots(const struct purge_target *t, const char *path, tardis_error_t *err)
{
	char why[4096];

	if (image_roots_check(t->image_roots ? t->image_roots : "", path, why, sizeof(why)) == 0)
		return 0;
	return tardis_make_error(err, EPERM, "refused: %s", why);
}

/* 0 removed or not there, -1 reported. */
static int purge_image(struct tardis_store *s, const struct purge_target *t, unsigned flags,
		       uint64_t *freed, purge_report_fn report, void *arg)
{
	cleanup_error tardis_error_t err = NULL;
	char parent[PATH_MAX];

	if ((flags & PURGE_IMAGE_OURS) && !purge_image_path_ours(t->image_path, t->ns, t->id)) {
		report_part(report, arg, PURGE_PART_IMAGE_NOT_OURS, t->image_path, &err);
		return -1;
	}
	/* In the state dir, through no planted symlink; else in an image root. */
	if ((!store_holds_path(s, t->image_path) && in_roots(t, t->image_path, &err) < 0) ||
	    image_parent_check(s, t->image_path, 0, &err) < 0) {
		if (tardis_error_errno(err) == ENOENT)
			return 0;
		report_part(report, arg, PURGE_PART_IMAGE_PATH, t->image_path, &err);
		return -1;
	}
	if (flags & PURGE_TIDY)
		image_cleanup_siblings(t->image_path);
	if (freed) {
		struct image_report rep;

		if (image_validate(t->image_path, &rep) >= 0)
			*freed += rep.size;
	}
	if (image_remove(t->image_path, &err) < 0) {
		report_part(report, arg, PURGE_PART_IMAGE, t->image_path, &err);
		return -1;
	}
	if ((flags & PURGE_TIDY) && snprintf(parent, sizeof(parent), "%s", t->image_path) <
					    (int)sizeof(parent)) {
		char *slash = strrchr(parent, '/');

		if (slash && slash != parent) {
			*slash = '\0';
			rmdir(parent); /* the namespace's directory, once empty */
		}
	}
	return 0;
}

/* The state, under the container's lock: an update in flight (the agent's
 * exit record, a concurrent create) finishes first, or finds it gone. */
static int purge_state(struct tardis_store *s, const struct purge_target *t, unsigned flags,
		       purge_report_fn report, void *arg)
{
	cleanup_error tardis_error_t err = NULL;
	cleanup_close int dfd = -1;

	if (!(flags & PURGE_LOCKED)) {
		dfd = store_container_lock(s, t->ns, t->id, 0, &err);
		if (dfd < 0) {
			if (tardis_error_errno(err) == ENOENT)
				return 0;
			report_part(report, arg, PURGE_PART_STATE, NULL, &err);
			return -1;
		}
	}
	if (store_container_remove(s, t->ns, t->id, &err) < 0) {
		report_part(report, arg, PURGE_PART_STATE, NULL, &err);
		return -1;
	}
	return 0;
}

int purge_remote(struct tardis_store *s, const struct purge_target *t, unsigned flags,
		 uint64_t *freed, purge_report_fn report, void *arg)
{
	cleanup_error tardis_error_t err = NULL;
	int r = 0;

	if (t->image_path && purge_image(s, t, flags, freed, report, arg) < 0)
		r = -1;
	if (r < 0 && (flags & PURGE_STRICT))
		return -1;
	if (t->work_dir && t->work_dir[0] &&
	    (in_roots(t, t->work_dir, &err) < 0 || image_remove(t->work_dir, &err) < 0))
		report_part(report, arg, PURGE_PART_WORK_DIR, t->work_dir, &err);
	return r;
}

int purge_container(struct tardis_store *s, const struct purge_target *t, unsigned flags,
		    uint64_t *freed, purge_report_fn report, void *arg)
{
	cleanup_error tardis_error_t err = NULL;

	if (!(flags & PURGE_LOCAL_ONLY) && purge_remote(s, t, flags, freed, report, arg) < 0 &&
	    (flags & PURGE_STRICT))
		return -1;
	/* Walked from the store's root: a planted symlink is not followed. */
	for (size_t i = 0; i < SCRATCH_COUNT; i++)
		if (image_scratch_remove(s, scratch_names[i], t->ns, t->id, !!(flags & PURGE_TIDY),
					 &err) < 0)
			report_part(report, arg, PURGE_PART_SCRATCH, scratch_names[i], &err);
	if (t->init_pid > 0) {
		struct tardis_monitor m; /* before mon: mon's cleanup still sees it */
		cleanup_monitor_ptr struct tardis_monitor *mon = NULL;

		mon = t->bpf_dir ? monitor_open_optional(&m, t->bpf_dir, NULL) : NULL;
		registry_forget(s, mon, t->init_pid, t->init_start_time);
	}
	return purge_state(s, t, flags, report, arg);
}

int purge_is_remote(const struct tardis_store *s, const struct purge_target *t)
{
	return (t->image_path && t->image_path[0] && !store_holds_path(s, t->image_path)) ||
	       (t->work_dir && t->work_dir[0]);
}
