#include "checkpoint.h"
#include "baseline.h"
#include "cleanup.h"
#include "container_state.h"
#include "crashpoint.h"
#include "deadline.h"
#include "criu_log.h"
#include "criu_version.h"
#include "runc_version.h"
#include "exit_record.h"
#include "failure_count.h"
#include "filediff.h"
#include "identity.h"
#include "image.h"
#include "log.h"
#include "netns.h"
#include "proc.h"
#include "mountinfo.h"
#include "scratch.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

struct ckpt_result {
	const char *trigger;
	int64_t at;
	uint64_t duration_ms;
	uint64_t size;
	int skip_resume;
	char reason[512]; /* why it failed: CRIU's first error, else tardis's */
};

/* The first cause found is the one recorded. */
/* Where the container's files come from (files_plan). */
struct files_plan {
	const char *kind;      /* IMAGE_ROOTFS_* */
	char upper[PATH_MAX];  /* the overlay's upperdir */
	struct baseline *base; /* a snapshot's baseline */
};

static void files_plan_release(struct files_plan *p)
{
	baseline_free(p->base);
	p->base = NULL;
}

static void ckpt_fail(struct ckpt_result *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void ckpt_fail(struct ckpt_result *r, const char *fmt, ...)
{
	va_list ap;

	if (r->reason[0])
		return;
	va_start(ap, fmt);
	vsnprintf(r->reason, sizeof(r->reason), fmt, ap);
	va_end(ap);
}

static int note_checkpoint(cJSON *st, void *arg)
{
	const struct ckpt_result *r = arg;
	cJSON *c = cjson_object(st, "last_checkpoint");
	char when[64];

	rfc3339_format(r->at, when, sizeof(when));
	cjson_set_str(c, "at", when);
	cjson_set_str(c, "trigger", r->trigger);
	cjson_set_num(c, "duration_ms", (double)r->duration_ms);
	cjson_set_num(c, "size", (double)r->size);
	if (r->skip_resume)
		cjson_set_bool(st, "skip_resume", 1);
	cjson_set_num(st, "checkpoints", cjson_get_num(st, "checkpoints", 0) + 1);
	return 0;
}

/* A failure stays on record after later successes: the last one and how
 * many there were. */
static int note_checkpoint_failure(cJSON *st, void *arg)
{
	const struct ckpt_result *r = arg;
	cJSON *f = cjson_object(st, "last_checkpoint_failure");
	char when[64];

	rfc3339_format(r->at, when, sizeof(when));
	cjson_set_str(f, "at", when);
	cjson_set_str(f, "trigger", failure_trigger_names[failure_trigger_of(r->trigger)]);
	cjson_set_str(f, "reason", r->reason[0] ? r->reason : "unknown");
	cjson_set_num(st, "checkpoint_failures", cjson_get_num(st, "checkpoint_failures", 0) + 1);
	return 0;
}

/* In state.json (when the container has one) and in the node's counts. */
static void record_failure(const struct runc_call *c, struct ckpt_result *r)
{
	cleanup_error tardis_error_t err = NULL;

	if (cstate_update(c->store, c->ns, c->id, 0, note_checkpoint_failure, r, &err) < 0)
		tardis_error_log_release(TARDIS_LOG_WARN, "state: checkpoint failure", &err);
	if (failure_count_add(c->store, failure_trigger_of(r->trigger), &err) < 0)
		tardis_error_log_release(TARDIS_LOG_WARN, "count checkpoint failure", &err);
}

/* Options of the original checkpoint that tardis replaces or refuses. */
static int keep_checkpoint_opt(const char *name)
{
	return strcmp(name, "image-path") != 0 && strcmp(name, "work-path") != 0 &&
	       strcmp(name, "leave-running") != 0;
}

struct ckpt_steps;
static void save_files_early(struct ckpt_steps *st);

/* While runc and CRIU dump into dir: at once, load libarchive (for the
 * files saved after the dump); then every tick, start the writeback of
 * the pages written so far and, for an image in the state dir, sum them
 * (progress) -- in a helper for an image outside the state dir (a network
 * filesystem that hangs must not hold this wait: after net_ms of silence
 * the helper is left behind and the ticks stop). */
struct dump_tick {
	const char *dir;
	struct image_progress *progress;
	int local, net_ms, stuck, n;
	struct ckpt_steps *early; /* for save_files_early */
};

static int writeback_fn(void *arg, void *out, size_t cap, size_t *len)
{
	image_dump_progress(arg, NULL);
	*len = 0;
	return 0;
}

static void dump_tick(void *arg)
{
	struct dump_tick *t = arg;
	cleanup_error tardis_error_t err = NULL;

	if (t->n++ == 0) {
		filediff_preload();
	} else if (t->local) {
		image_dump_progress(t->dir, t->progress);
	} else if (!t->stuck && deadline_run("starting the writeback of the image", t->net_ms,
					     writeback_fn, (void *)t->dir, NULL, 0, NULL, NULL,
					     &err) < 0) {
		log_warn("%s: %s", t->dir, tardis_error_msg(err));
		t->stuck = 1;
	}
}

static void dump_tasks_gone(void *arg)
{
	save_files_early(((struct dump_tick *)arg)->early);
}

/* A pidfd of the container's init (the one state.json names), or -1. */
static int init_pidfd(const struct checkpoint_request *req)
{
	int fd;

	if (req->init_pid <= 0 || !req->init_start_time)
		return -1;
	fd = (int)syscall(SYS_pidfd_open, req->init_pid, 0);
	if (fd >= 0 && !proc_is_same(req->init_pid, req->init_start_time)) {
		close(fd);
		return -1;
	}
	return fd;
}

/* `runc checkpoint` into tmp; CRIU's complaint logged when it fails.
 * With init_fd (>= 0), save_files_early(early) once it fires. */
static int run_runc_checkpoint(const struct runc_call *c, const struct checkpoint_request *req,
			       const char *tmp, const char *work, struct image_progress *progress,
			       struct ckpt_result *res, int init_fd, struct ckpt_steps *early)
{
	cleanup_argv struct argv_buf a = { 0 };
	cleanup_error tardis_error_t err = NULL;
	cleanup_free char *out = NULL;
	char dump_log[PATH_MAX + 16], why[512];
	int st;

	if (runc_call_argv(c, &a, "checkpoint") < 0 || argv_push(&a, "--image-path") < 0 ||
	    argv_push(&a, tmp) < 0 || argv_push(&a, "--work-path") < 0 || argv_push(&a, work) < 0)
		return -1;
	if (req->forward_opts ? runc_call_forward(c, &a, keep_checkpoint_opt) < 0
			      : argv_push(&a, "--file-locks") < 0)
		return -1;
	/* Without it one open client connection fails the dump ("Connected
	 * TCP socket, consider using --tcp-established"); kept or closed is
	 * decided at restore (restore.c). */
	if (!(req->forward_opts && runc_call_opt(c, "tcp-established")) &&
	    argv_push(&a, "--tcp-established") < 0)
		return -1;
	if (argv_push(&a, c->id) < 0)
		return -1;
	/* runc's output is kept for the reason, then passed on as it was:
	 * our stderr is the caller's (containerd reads runc's errors there). */
	/* A big image's pages go to the disk while CRIU still writes them
	 * (measured, 1 GiB of memory: tardis's time after the dump 465 ->
	 * 249 ms), and are summed meanwhile (1 GiB: the seal 69 -> 13 ms). */
	struct dump_tick dt = { .dir = tmp,
				.progress = progress,
				.local = store_holds_path(c->store, req->image_path),
				.net_ms = deadline_networkfs_ms(c->cfg->networkfs_timeout),
				.early = early };
	struct run_tick wb = { .first_ms = 0,
			       .every_ms = 100,
			       .fn = dump_tick,
			       .arg = &dt,
			       .watch_fd = init_fd,
			       .on_watch = init_fd >= 0 ? dump_tasks_gone : NULL };

	st = run_wait_logged_tick_env(a.v, NULL, RUN_OWN_PGRP | RUN_CAPTURE_STDERR,
				      c->cfg->checkpoint_timeout, &wb, &out, &err);
	scratch_tighten(c->store, SCRATCH_WORK, c->ns, c->id);
	if (out && out[0])
		fputs(out, stderr);
	if (st == 0)
		return 0;
	snprintf(dump_log, sizeof(dump_log), "%s/dump.log", work);
	criu_log_errors(dump_log, why, sizeof(why));
	log_warn("%s/%s: checkpoint (%s) failed: %s%s%s; see %s", c->ns, c->id, req->trigger,
		 err ? tardis_error_msg(err) : "runc failed", why[0] ? ": CRIU: " : "", why, dump_log);
	if (tardis_error_errno(err) == ETIMEDOUT)
		ckpt_fail(res, "runc checkpoint timed out after %d s", c->cfg->checkpoint_timeout);
	else if (criu_log_first_error(dump_log, why, sizeof(why)))
		ckpt_fail(res, "%s", why);
	else if (st > 0 && runc_output_error(out, why, sizeof(why)))
		ckpt_fail(res, "runc checkpoint: %s", why);
	else if (st > 0)
		ckpt_fail(res, "runc checkpoint failed with exit status %d (no CRIU error in %s)",
			  WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st), dump_log);
	else
		ckpt_fail(res, "runc checkpoint: %s", err ? tardis_error_msg(err) : "failed");
	return -1;
}

/* The CRIU log belongs to the image: validation reads its last line. */
static int copy_dump_log(const struct runc_call *c, const char *tmp, const char *work)
{
	cleanup_error tardis_error_t err = NULL;
	cleanup_free char *log = NULL;
	cleanup_close int tfd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	char src[PATH_MAX + 16];
	size_t len = 0;

	snprintf(src, sizeof(src), "%s/dump.log", work);
	if (tfd < 0 || store_read(AT_FDCWD, src, 64 << 20, &log, &len, &err) < 0 ||
	    store_write_atomic(tfd, IMAGE_DUMP_LOG, log, len, 0, NULL, &err) < 0) {
		log_error("%s/%s: copy dump.log: %s", c->ns, c->id,
			  err ? tardis_error_msg(err) : strerror(errno));
		return -1;
	}
	return 0;
}

/* Where the container's files come from, decided before anything stops
 * it: an overlay's upperdir (saved), a plain directory (not a mount
 * point) that the next create reuses as it is (nothing to save), or
 * another mount (a snapshotter's: native, btrfs, zfs, devmapper) compared
 * with the baseline its create recorded.  Without a baseline the
 * checkpoint is refused up front, and the caller leaves the container to
 * runc, running. */
static int load_baseline(const struct runc_call *c, struct files_plan *plan)
{
	cleanup_error tardis_error_t err = NULL;
	cleanup_close int dfd = store_container_dir(c->store, c->ns, c->id, 0, &err);

	if (dfd < 0 || baseline_load(dfd, BASELINE_FILE, &plan->base, &err) < 0) {
		if (tardis_error_errno(err) != ENOENT)
			log_warn("%s/%s: baseline: %s", c->ns, c->id, tardis_error_msg(err));
		return -1;
	}
	return 0;
}

static int files_plan(const struct runc_call *c, const struct checkpoint_request *req,
		      struct files_plan *plan, struct ckpt_result *res)
{
	char fstype[64];
	int r;

	if (!req->rootfs || !req->rootfs[0]) {
		ckpt_fail(res, "no rootfs recorded: the container's files cannot be saved");
		return -1;
	}
	if (mountinfo_overlay_upperdir(req->rootfs, plan->upper, sizeof(plan->upper)) == 1) {
		plan->kind = IMAGE_ROOTFS_OVERLAY;
		return 0;
	}
	r = mountinfo_fstype(req->rootfs, fstype, sizeof(fstype));
	if (r == 0) {
		plan->kind = IMAGE_ROOTFS_REUSED;
		return 0;
	}
	if (r == 1 && load_baseline(c, plan) == 0) {
		plan->kind = IMAGE_ROOTFS_SNAPSHOT;
		return 0;
	}
	if (r < 0)
		ckpt_fail(res, "rootfs %s: %s", req->rootfs, strerror(errno));
	else
		ckpt_fail(res, "rootfs %s is a %s mount, not overlay, with no baseline from its "
			  "create: tardis cannot save its files, so it does not checkpoint it",
			  req->rootfs, fstype);
	log_warn("%s/%s: checkpoint (%s) refused: %s", c->ns, c->id, req->trigger, res->reason);
	return -1;
}

/* The files the container wrote: its overlay upper dir. */
static int save_files(const struct runc_call *c, const struct files_plan *plan,
		      const char *rootfs, const char *tmp)
{
	cleanup_error tardis_error_t err = NULL;
	struct filediff_stats fs = { 0 };
	cleanup_close int tfd = -1;

	if (strcmp(plan->kind, IMAGE_ROOTFS_REUSED) == 0) {
		log_info("%s/%s: rootfs is a plain directory, reused by the next create: no files "
			 "saved", c->ns, c->id);
		return 0;
	}
	tfd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (tfd < 0 || (plan->base ? filediff_save_since(rootfs, plan->base, tfd, &fs, &err)
				   : filediff_save(plan->upper, tfd, &fs, &err)) < 0) {
		log_error("%s/%s: save container files from %s: %s", c->ns, c->id,
			  plan->base ? rootfs : plan->upper,
			  err ? tardis_error_msg(err) : strerror(errno));
		return -1;
	}
	if (plan->base)
		log_info("%s/%s: %s rootfs against its baseline: %llu entries saved, %llu deleted",
			 c->ns, c->id, plan->kind, (unsigned long long)fs.entries,
			 (unsigned long long)fs.whiteouts);
	return 0;
}

/* A checkpoint's steps on the image's filesystem (a network one can hang:
 * deadline.h) and what they hand on: the step functions take it as their
 * argument and answer with its updated copy. */
struct ckpt_steps {
	const struct runc_call *c;
	const struct checkpoint_request *req;
	const struct files_plan *plan;
	struct ckpt_result res;
	uint64_t t0;
	char tmp[PATH_MAX];
	char work[PATH_MAX];
	int leased; /* identity_checkpoint_begin's answer */
	struct lease lease;
	int files_saved; /* 1 by save_files_early, -1 it failed */
	int published;
	struct image_progress *progress; /* the dump's sums (local images) */
};

static int steps_answer(struct ckpt_steps *st, void *out, size_t cap, size_t *len)
{
	if (cap < sizeof(*st))
		return -ENOSPC;
	if (out != st)
		memcpy(out, st, sizeof(*st));
	*len = sizeof(*st);
	return 0;
}

/* Before CRIU: the identity's lease, the image's parent, a fresh temp dir. */
static int prepare_step(void *arg, void *out, size_t cap, size_t *len)
{
	struct ckpt_steps *st = arg;
	const struct runc_call *c = st->c;
	const struct checkpoint_request *req = st->req;
	cleanup_error tardis_error_t err = NULL;

	if (req->identity && req->identity[0]) {
		st->leased = identity_checkpoint_begin(c, req->image_path, &st->lease);
		if (st->leased == 0) {
			ckpt_fail(&st->res, "the identity %s is leased by another container",
				  req->identity);
			return steps_answer(st, out, cap, len);
		}
	}
	deadline_alive();
	if (runc_call_image_safe(c, req->image_path, 1) < 0) {
		ckpt_fail(&st->res, "image path %s refused (see the log)", req->image_path);
		return steps_answer(st, out, cap, len);
	}
	image_cleanup_siblings(req->image_path);
	deadline_alive();
	if (image_tmp_create(req->image_path, st->tmp, sizeof(st->tmp), &err) < 0) {
		log_error("%s/%s: checkpoint: %s", c->ns, c->id, tardis_error_msg(err));
		ckpt_fail(&st->res, "%s", tardis_error_msg(err));
		st->tmp[0] = '\0';
	}
	return steps_answer(st, out, cap, len);
}

/* After CRIU: its log and the container's files into tmp, then sealed
 * and published as image_path; tmp removed on failure. */
static int finish_step(void *arg, void *out, size_t cap, size_t *len)
{
	struct ckpt_steps *st = arg;
	const struct runc_call *c = st->c;
	const struct checkpoint_request *req = st->req;
	cleanup_error tardis_error_t err = NULL;
	struct image_meta meta = { 0 };
	char criu_v[32];
	struct runc_info runc_v;

	if (copy_dump_log(c, st->tmp, st->work) < 0) {
		ckpt_fail(&st->res, "copy dump.log into the image failed");
		goto fail;
	}
	crash_point("ckpt-dump-log-copied");
	if (st->files_saved < 0 ||
	    (!st->files_saved && save_files(c, st->plan, req->rootfs, st->tmp) < 0)) {
		ckpt_fail(&st->res, "saving the container's files failed");
		goto fail;
	}
	crash_point("ckpt-files-saved");
	meta.ns = c->ns;
	meta.id = c->id;
	meta.created_at_ns = st->res.at;
	meta.duration_ms = (monotonic_ns() - st->t0) / 1000000;
	if (runc_info_get(c->store->root_fd, c->runc, &runc_v, NULL) == 0)
		meta.runc_version = runc_v.version;
	criu_version_get(c->store, runc_call_criu_path(c), criu_v, sizeof(criu_v));
	meta.criu_version = criu_v;
	meta.rootfs_kind = st->plan->kind;
	meta.identity = req->identity;
	meta.node = config_node_name(c->cfg);
	if (image_seal(st->tmp, &meta, st->progress, &st->res.size, &err) < 0 ||
	    image_publish(st->tmp, req->image_path, c->store, &err) < 0) {
		log_error("%s/%s: publish image: %s", c->ns, c->id, tardis_error_msg(err));
		ckpt_fail(&st->res, "publish image: %s", tardis_error_msg(err));
		goto fail;
	}
	crash_point("ckpt-published");
	st->published = 1;
	return steps_answer(st, out, cap, len);
fail:
	image_remove(st->tmp, &err);
	return steps_answer(st, out, cap, len);
}

/* The dump's tasks are gone (their init's pidfd fired while runc still
 * runs): CRIU has written its images and nothing writes the container's
 * files any more.  Saved now, and the image so far summed and synced,
 * while CRIU and runc finish (~3.5 ms here from the init's death to
 * runc's reaped exit) -- finish_step then adds what came since.  Only
 * for an image in the state dir: a network filesystem's deadline is
 * finish_step's helper's. */
static void save_files_early(struct ckpt_steps *st)
{
	st->files_saved = save_files(st->c, st->plan, st->req->rootfs, st->tmp) < 0 ? -1 : 1;
	if (st->files_saved > 0)
		image_presum(st->tmp, st->progress);
	log_debug("%s/%s: the dump's tasks are gone: files %s while runc finishes", st->c->ns,
		  st->c->id,
		  st->files_saved > 0 ? "saved, the image so far summed and synced," : "not saved");
}

/* The lease back: RELEASED with the new image, or as it was. */
static int end_step(void *arg, void *out, size_t cap, size_t *len)
{
	struct ckpt_steps *st = arg;

	identity_checkpoint_end(st->c, st->req->image_path, &st->lease, st->published,
				st->res.at);
	return steps_answer(st, out, cap, len);
}

/* A temporary image given up on. */
static int remove_tmp_step(void *arg, void *out, size_t cap, size_t *len)
{
	struct ckpt_steps *st = arg;
	cleanup_error tardis_error_t err = NULL;

	image_remove(st->tmp, &err);
	return steps_answer(st, out, cap, len);
}

/* Runs a step: directly for an image in the state dir (local), else in a
 * helper that answers within timeout_ms of silence.  -1 when it did not
 * (res->reason set, logged). */
static int run_step(struct ckpt_steps *st, const char *what, int timeout_ms, deadline_fn fn)
{
	cleanup_error tardis_error_t err = NULL;
	const struct runc_call *c = st->c;
	size_t len = 0;
	struct ckpt_steps back;
	char label[PATH_MAX + 64];

	if (store_holds_path(c->store, st->req->image_path))
		return fn(st, st, sizeof(*st), &len);
	snprintf(label, sizeof(label), "%s of %s", what, st->req->image_path);
	if (deadline_run(label, timeout_ms, fn, st, &back, sizeof(back), &len, NULL, &err) < 0 ||
	    len != sizeof(back)) {
		log_error("%s/%s: checkpoint: %s", c->ns, c->id, tardis_error_msg(err));
		ckpt_fail(&st->res, "%s", tardis_error_msg(err));
		return -1;
	}
	*st = back;
	return 0;
}

/* The image made and published; -1 (logged) with st->res.reason. */
static int checkpoint_into_image(struct ckpt_steps *st)
{
	const struct runc_call *c = st->c;
	const struct checkpoint_request *req = st->req;
	int net_ms = deadline_networkfs_ms(c->cfg->networkfs_timeout);
	int long_ms = c->cfg->checkpoint_timeout * 1000 > net_ms ? c->cfg->checkpoint_timeout * 1000
								  : net_ms;
	cleanup_close int init_fd = -1;
	int rc;

	if (run_step(st, "preparing the image", net_ms, prepare_step) < 0)
		return -1;
	if (st->res.reason[0] || !st->tmp[0])
		return -1;
	crash_point("ckpt-tmp-created");
	if (scratch_dir(c->store, c->cfg->state_dir, SCRATCH_WORK, c->ns, c->id, st->work,
			sizeof(st->work)) < 0) {
		ckpt_fail(&st->res, "work dir");
		run_step(st, "removing the temporary image", net_ms, remove_tmp_step);
		return -1;
	}
	if (store_holds_path(c->store, req->image_path))
		st->progress = image_progress_new();
	if (st->progress && strcmp(st->plan->kind, IMAGE_ROOTFS_REUSED) != 0)
		init_fd = init_pidfd(req);
	rc = run_runc_checkpoint(c, req, st->tmp, st->work, st->progress, &st->res, init_fd, st);
	if (rc < 0) {
		run_step(st, "removing the temporary image", net_ms, remove_tmp_step);
	} else {
		crash_point("ckpt-criu-done");
		rc = run_step(st, "publishing the image", long_ms, finish_step);
	}
	image_progress_free(st->progress);
	st->progress = NULL;
	return rc < 0 || !st->published ? -1 : 0;
}

void checkpoint_request_from_state(struct checkpoint_request *req, const cJSON *st)
{
	const char *netns = cjson_get_str(st, "netns_path");

	req->image_path = cjson_get_str(st, "image_path");
	req->rootfs = cjson_get_str(st, "rootfs");
	req->identity = cjson_get_str(st, "identity");
	req->netns_path = netns && netns[0] ? netns : NULL;
	req->keep_tcp = cjson_get_bool(st, "tcp_established");
	req->init_pid = cjson_get_int(st, "init_pid", 0);
	req->init_start_time = cjson_get_u64(st, "init_start_time", 0);
}

/* CRIU leaves its network lock (iptables DROP for all but its own
 * packets) in the namespace after a dump that stops the tasks, so that
 * the kernel does not reset their connections before a restore repairs
 * them.  A namespace given by path is shared, with the other containers
 * of a Kubernetes pod for one: they would be cut off until the restore.
 * Unless the container keeps its connections, the restore closes them
 * anyway, so the lock goes now. */
static void lift_network_lock(const struct runc_call *c, const struct checkpoint_request *req)
{
	cleanup_error tardis_error_t err = NULL;
	int r;

	if (!req->netns_path || req->keep_tcp)
		return;
	r = netns_criu_unlock(req->netns_path, &err);
	if (r > 0)
		log_info("%s/%s: removed CRIU's network lock from netns %s (its connections "
			 "close at the restore anyway)", c->ns, c->id, req->netns_path);
	else if (r < 0)
		log_warn("%s/%s: CRIU's network lock in netns %s: %s", c->ns, c->id,
			 req->netns_path, tardis_error_msg(err));
}

int checkpoint_container(const struct runc_call *c, const struct checkpoint_request *req)
{
	struct ckpt_steps st = { .c = c,
				 .req = req,
				 .res = { .trigger = req->trigger,
					  .at = time_realtime_ns(),
					  .skip_resume = req->skip_resume },
				 .t0 = monotonic_ns(),
				 .leased = -1 };
	__attribute__((cleanup(files_plan_release))) struct files_plan plan = { 0 };
	cleanup_error tardis_error_t err = NULL;
	int r = -1;

	st.plan = &plan;
	if (!req->image_path) {
		log_error("%s/%s: state has no image path", c->ns, c->id);
		ckpt_fail(&st.res, "state has no image path");
	} else if (runc_call_criu_missing(c, st.res.reason, sizeof(st.res.reason))) {
		/* runc only says "criu failed" (in its own log) when there is none. */
		log_warn("%s/%s: checkpoint (%s): %s", c->ns, c->id, req->trigger, st.res.reason);
	} else if (files_plan(c, req, &plan, &st.res) == 0) {
		r = checkpoint_into_image(&st);
	}
	/* The lease back -- unless the filesystem just did not answer. */
	if (st.leased == 1 && !strstr(st.res.reason, "did not answer"))
		run_step(&st, "releasing the lease", deadline_networkfs_ms(c->cfg->networkfs_timeout),
			 end_step);
	if (r < 0) {
		record_failure(c, &st.res);
		return -1;
	}
	lift_network_lock(c, req);
	st.res.duration_ms = (monotonic_ns() - st.t0) / 1000000;
	log_info("%s/%s: checkpointed (%s) into %s: %llu bytes in %llu ms", c->ns, c->id,
		 req->trigger, req->image_path, (unsigned long long)st.res.size,
		 (unsigned long long)st.res.duration_ms);
	/* Not waited for on disk: the image is (published durably); this
	 * note is the operator's (tardisctl show) and this boot's answer to
	 * containerd's resume -- a power loss ends the container anyway. */
	if (cstate_update(c->store, c->ns, c->id, CSTATE_NO_SYNC, note_checkpoint, &st.res,
			  &err) < 0)
		log_warn("%s/%s: state: %s", c->ns, c->id, tardis_error_msg(err));
	return 0;
}
