/*
 * tardisctl gc: removes the image, scratch directories and state of every
 * container that is not running and has been idle for longer than asked.
 * The work directory on the network filesystem is the container's data and
 * is kept.
 */
#include "tardisctl.h"
#include "cleanup.h"
#include "container_state.h"
#include "container_summary.h"
#include "image.h"
#include "oci_config.h"
#include "deadline.h"
#include "purge.h"
#include "registry.h"
#include "util.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* ---- the purge: the library's, as tardis-runc delete's ----------------------- */

struct gc_report {
	const char *ns, *id;
};

/* Each part that could not be removed, on stderr. */
static void gc_report_part(void *arg, enum purge_part part, const char *name, tardis_error_t *err)
{
	const struct gc_report *r = arg;

	switch (part) {
	case PURGE_PART_IMAGE_NOT_OURS:
		fprintf(stderr, "tardisctl: %s/%s: image path `%s` is not tardis's; not removed\n",
			r->ns, r->id, name);
		break;
	case PURGE_PART_IMAGE_PATH:
		fprintf(stderr, "tardisctl: %s/%s: image path `%s`: %s; not removed\n", r->ns, r->id,
			name, tardis_error_msg(*err));
		break;
	case PURGE_PART_SCRATCH:
		fprintf(stderr, "tardisctl: %s/%s: %s: %s\n", r->ns, r->id, name,
			tardis_error_msg(*err));
		break;
	default:
		fprintf(stderr, "tardisctl: %s/%s: %s\n", r->ns, r->id, tardis_error_msg(*err));
		break;
	}
}

/* Removes what is left of a gone container, under its lock, if it is
 * still gone and still old when the lock is ours.  1 removed, 0 kept, -1
 * could not (reported).  The work directory on the network filesystem is
 * the container's data: gc keeps it.  So is an image kept under an
 * identity: it is the pod's, for whichever container of it (here or on
 * another node) comes next; the pod's exit 0 removes it. */
struct gc_remote {
	struct ctl *c;
	const struct purge_target *t;
	struct gc_report *rep;
	uint64_t freed;
};

static int gc_remote_fn(void *arg, void *out, size_t cap, size_t *len)
{
	struct gc_remote *g = arg;
	int r = purge_remote(&g->c->store, g->t, PURGE_STRICT | PURGE_IMAGE_OURS | PURGE_TIDY,
			     &g->freed, gc_report_part, g->rep);

	memcpy(out, &g->freed, sizeof(g->freed));
	*len = sizeof(g->freed);
	return r < 0 ? -1 : 0;
}

/* The container's parts: those on a network filesystem first, in a
 * helper with its deadline (deadline.h); the state only when they went. */
static int gc_purge(struct ctl *c, const struct purge_target *t, struct gc_report *rep,
		    uint64_t *freed)
{
	cleanup_error tardis_error_t err = NULL;
	struct gc_remote g = { c, t, rep, 0 };
	unsigned flags = PURGE_LOCKED | PURGE_STRICT | PURGE_IMAGE_OURS | PURGE_TIDY;
	int r;

	if (!purge_is_remote(&c->store, t))
		return purge_container(&c->store, t, flags, freed, gc_report_part, rep) < 0 ? -1 : 1;
	r = deadline_run("image", deadline_networkfs_ms(c->cfg.networkfs_timeout), gc_remote_fn,
			 &g, &g.freed, sizeof(g.freed), NULL, NULL, &err);
	if (r == -ETIMEDOUT) {
		fprintf(stderr, "tardisctl gc: %s/%s: image %s unreachable (its filesystem did not "
			"answer): kept\n", t->ns, t->id, t->image_path ? t->image_path : "-");
		return -1;
	}
	if (r < 0)
		return -1;
	*freed += g.freed;
	return purge_container(&c->store, t, flags | PURGE_LOCAL_ONLY, NULL, gc_report_part, rep) < 0
		       ? -1
		       : 1;
}

static int gc_one(struct ctl *c, const char *ns, const char *id, int64_t cutoff, uint64_t *freed)
{
	cleanup_error tardis_error_t err = NULL;
	cleanup_close int dfd = -1;
	struct container_summary s;
	struct gc_report rep = { ns, id };
	int ret = 0;

	dfd = store_container_lock(&c->store, ns, id, 0, &err);
	if (dfd < 0)
		return 0;
	if (container_summary_load(&c->store, ns, id, 0, &s, &err) < 0)
		return 0;
	if (s.image_unreachable) {
		fprintf(stderr, "tardisctl gc: %s/%s: image %s unreachable (its filesystem did not "
			"answer): kept\n", ns, id, s.image_path);
		ret = -1;
	} else if (strcmp(s.state, "running") != 0 && (s.last_activity_ns <= cutoff ||
						       cjson_get_bool(s.doc, "purge_pending"))) {
		const char *identity = cjson_get_str(s.doc, "identity");
		struct purge_target t = {
			.ns = ns,
			.id = id,
			.image_path = s.image_present && !(identity && *identity) ? s.image_path : NULL,
			/* exited 0, its delete could not remove them (delete.c) */
			.work_dir = cjson_get_bool(s.doc, "purge_pending")
					    ? cjson_get_str(s.doc, "work_dir")
					    : NULL,
			.init_pid = s.init_pid,
			.init_start_time = s.init_start_time,
			.bpf_dir = c->cfg.bpf_dir,
			.image_roots = c->cfg.image_roots,
		};

		ret = gc_purge(c, &t, &rep, freed);
	}
	container_summary_free(&s);
	return ret;
}

/* ---- the command ------------------------------------------------------------ */

struct gc_run {
	int dry;
	int64_t now, cutoff;
	int removed, kept, failed;
	uint64_t freed;
};

/* One container of the listing: removed (or would be), or kept. */
static void gc_ref(struct ctl *c, struct gc_run *g, const struct container_ref *ref)
{
	cleanup_error tardis_error_t err = NULL;
	struct container_summary s;
	char span[32], size[32];
	uint64_t sz = 0;
	int r;

	if (container_summary_load(&c->store, ref->ns, ref->id, 0, &s, &err) < 0)
		return;
	format_span(g->now - s.last_activity_ns, span, sizeof(span));
	if (strcmp(s.state, "running") == 0 ||
	    (s.last_activity_ns > g->cutoff && !cjson_get_bool(s.doc, "purge_pending"))) {
		g->kept++;
	} else if (!g->dry && (r = gc_one(c, s.ref.ns, s.ref.id, g->cutoff, &sz)) <= 0) {
		g->kept++;
		g->failed += r < 0;
	} else {
		if (g->dry && s.image_present && image_validate(s.image_path, &s.image) >= 0)
			sz = s.image.size;
		format_bytes((double)sz, size, sizeof(size));
		printf("%s/%s: %s (%s, last activity %s ago)", s.ref.ns, s.ref.id,
		       g->dry ? "would remove" : "removed", s.state, span);
		if (s.image_present)
			printf(": image %s, %s", s.image_path, size);
		printf("\n");
		g->freed += sz;
		g->removed++;
	}
	container_summary_free(&s);
}

static int gc_main(struct ctl *c, int argc, char **argv)
{
	struct gc_run g = { 0 };
	uint64_t age = 0, now_s = 0;
	int have_age = 0, ret;
	struct ctl_opt opts[] = {
		CTL_DURATION("older-than", 'o', &age, "(e.g. 7d, 12h, 30m)", &have_age),
		CTL_FLAG("dry-run", 'd', &g.dry),
		/* tests: pretend it is later */
		CTL_U64("now", 0, &now_s, (uint64_t)INT32_MAX * 4, "(seconds since the epoch)"),
		CTL_OPT_END,
	};
	struct ctl_cmdline cl = { .opts = opts };
	cleanup_error tardis_error_t err = NULL;
	cleanup_free struct container_ref *refs = NULL;
	char size[32];
	size_t n = 0;

	if ((ret = opts_parse(c, argc, argv, &cl)) >= 0)
		return ret;
	if (!have_age)
		return ctl_misuse(c, "--older-than is required");
	g.now = now_s ? (int64_t)now_s * 1000000000ll : time_realtime_ns();
	g.cutoff = g.now - (int64_t)age * 1000000000ll;
	if (container_list(&c->store, &refs, &n, &err) < 0) {
		fprintf(stderr, "tardisctl: %s\n", tardis_error_msg(err));
		return 1;
	}
	for (size_t i = 0; i < n; i++)
		gc_ref(c, &g, &refs[i]);
	format_bytes((double)g.freed, size, sizeof(size));
	printf("gc: %s %d containers (%s of images), kept %d%s\n",
	       g.dry ? "would remove" : "removed", g.removed, size, g.kept,
	       g.failed ? " (some could not be removed, see above)" : "");
	return g.failed ? 1 : 0;
}

TARDISCTL_COMMAND(gc, 1, "remove images and state of containers gone for long",
		  "usage: tardisctl gc --older-than DURATION [--dry-run]\n"
		  "Removes the image, scratch directories and state of every container that is not\n"
		  "running and whose last activity (state, exit record, image) is older than DURATION\n"
		  "(e.g. 7d, 12h, 30m).  The work directory on the network filesystem is the\n"
		  "container's data and is kept.\n"
		  "  --dry-run         only say what would be removed\n");
