/*
 * tardis-runc: stands in for runc.  One call, top to bottom:
 *   parse -> is it ours? -> handle -> exec the real runc.
 * Everything tardis does not handle, and every container that is not
 * enabled, goes to runc unchanged by execv.  When tardis itself fails it
 * logs and falls back to plain runc; it never writes to stdout.
 */
#include "cleanup.h"
#include "config.h"
#include "container_state.h"
#include "crashpoint.h"
#include "criu_log.h"
#include "exit_record.h"
#include "filediff.h"
#include "image.h"
#include "log.h"
#include "monitor.h"
#include "mountinfo.h"
#include "oci_config.h"
#include "proc.h"
#include "registry.h"
#include "runc_args.h"
#include "runc_exec.h"
#include "state.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_LOG "/var/log/tardis-runc.log"
#define PASS_THROUGH (-1000)

struct shim {
	struct tardis_config cfg;
	struct runc_args args;
	char runc[PATH_MAX];
	struct tardis_store store;
	int have_store;
	char **argv;
};

/* ---- helpers ---------------------------------------------------------- */

static int64_t realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

static int open_store(struct shim *s)
{
	cleanup_error tardis_error_t err = NULL;

	if (s->have_store)
		return 0;
	if (store_open(&s->store, s->cfg.state_dir, &err) < 0) {
		log_error("state store: %s", tardis_error_msg(err));
		return -1;
	}
	s->have_store = 1;
	return 0;
}

/* The container's state, or NULL when tardis does not manage it. */
static cJSON *load_state(struct shim *s)
{
	cleanup_error tardis_error_t err = NULL;
	cJSON *st = NULL;

	if (!s->args.id || !store_id_valid(s->args.ns) || !store_id_valid(s->args.id))
		return NULL;
	if (open_store(s) < 0)
		return NULL;
	if (cstate_load(&s->store, s->args.ns, s->args.id, &st, &err) < 0) {
		if (err && err->errnum != ENOENT)
			log_warn("%s/%s: %s", s->args.ns, s->args.id, tardis_error_msg(err));
		return NULL;
	}
	return st;
}

/* The runc command line tardis runs in place of the original: the original
 * global flags (plus --criu from the config), then `cmd`. */
static int base_argv(struct shim *s, struct argv_buf *a, const char *cmd)
{
	if (argv_push(a, s->runc) < 0)
		return -1;
	for (int i = 1; i < s->args.cmd_index; i++)
		if (argv_push(a, s->argv[i]) < 0)
			return -1;
	if (s->cfg.criu[0] && !runc_args_global(&s->args, "criu") &&
	    (argv_push(a, "--criu") < 0 || argv_push(a, s->cfg.criu) < 0))
		return -1;
	return argv_push(a, cmd);
}

static int run_logged(struct shim *s, struct argv_buf *a, int flags, int timeout, char **capture,
		      tardis_error_t *err)
{
	char line[2048];
	int st;

	argv_format(a->v, line, sizeof(line));
	log_info("run: %s", line);
	st = run_wait(a->v, flags, timeout, capture, err);
	if (st >= 0 && st != 0)
		log_warn("%s: exit status %d", line, WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
	return st;
}

/* `runc state <id>`'s status: running, paused, created, stopped; "" if none. */
static void container_status(struct shim *s, char *out, size_t len)
{
	struct argv_buf a = { 0 };
	cleanup_free char *text = NULL;
	tardis_error_t err = NULL;
	int st;

	out[0] = '\0';
	if (base_argv(s, &a, "state") < 0 || argv_push(&a, s->args.id) < 0)
		goto out;
	st = run_wait(a.v, 0, 30, &text, &err);
	if (st == 0 && text) {
		cJSON *o = cJSON_Parse(text);
		const char *v = cjson_get_str(o, "status");

		snprintf(out, len, "%s", v ? v : "");
		cJSON_Delete(o);
	}
out:
	tardis_error_free(&err);
	argv_free(&a);
}

/* Private per-container scratch dirs: <state_dir>/<what>/<ns>/<id>, walked
 * from the store's root like the store itself (0700, ours, no symlink
 * followed): runc/CRIU write there and tardis keeps its undo data there. */
static int scratch_dir(struct shim *s, const char *what, char *out, size_t len)
{
	cleanup_error tardis_error_t err = NULL;
	char rel[PATH_MAX];
	int fd;

	if (snprintf(out, len, "%s/%s/%s/%s", s->cfg.state_dir, what, s->args.ns, s->args.id) >=
		    (int)len ||
	    snprintf(rel, sizeof(rel), "%s/%s/%s", what, s->args.ns, s->args.id) >= (int)sizeof(rel)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = store_path_dir(&s->store, rel, 1, &err);
	if (fd < 0) {
		log_error("%s/%s: %s dir: %s", s->args.ns, s->args.id, what, tardis_error_msg(err));
		errno = err->errnum;
		return -1;
	}
	close(fd);
	return 0;
}

/* CRIU writes its logs and statistics into the work dir 0644 (it sets its
 * own umask): made 0600 like everything else in the state directory. */
static void scratch_tighten(struct shim *s, const char *what)
{
	cleanup_error tardis_error_t err = NULL;
	cleanup_dir DIR *d = NULL;
	char rel[PATH_MAX];
	struct dirent *de;
	int fd;

	snprintf(rel, sizeof(rel), "%s/%s/%s", what, s->args.ns, s->args.id);
	fd = store_path_dir(&s->store, rel, 0, &err);
	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((de = readdir(d))) {
		cleanup_close int f = openat(dirfd(d), de->d_name,
					     O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		struct stat st;

		if (f >= 0 && fstat(f, &st) == 0 && S_ISREG(st.st_mode) &&
		    (st.st_mode & 07777) != 0600 && fchmod(f, 0600) < 0)
			log_warn("chmod %s/%s: %s", rel, de->d_name, strerror(errno));
	}
}

static void scratch_remove(struct shim *s, const char *what)
{
	cleanup_error tardis_error_t err = NULL;

	if (image_scratch_remove(&s->store, what, s->args.ns, s->args.id, 0, &err) < 0)
		log_warn("%s/%s: remove %s dir: %s", s->args.ns, s->args.id, what,
			 tardis_error_msg(err));
}

/* The default image path lies in the state directory: no symlink followed
 * there (image_parent_check).  0: usable; -1 refused (logged) or absent. */
static int image_parent_safe(struct shim *s, const char *image_path, int create)
{
	cleanup_error tardis_error_t err = NULL;

	if (image_parent_check(&s->store, image_path, create, &err) == 0)
		return 0;
	if (err->errnum != ENOENT)
		log_error("%s/%s: image directory %s: %s", s->args.ns, s->args.id, image_path,
			  tardis_error_msg(err));
	return -1;
}

/* name in an absolute PATH directory.  Not execv("tardisd"): that is a
 * path relative to our cwd, which is the container's bundle. */
static int find_on_path(const char *name, char *out, size_t len)
{
	const char *path = getenv("PATH");
	cleanup_free char *copy = strdup(path && *path ? path : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
	char *save = NULL;

	if (!copy)
		return -1;
	for (char *dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
		if (dir[0] != '/' || snprintf(out, len, "%s/%s", dir, name) >= (int)len)
			continue;
		if (access(out, X_OK) == 0)
			return 0;
	}
	return -1;
}

/* An agent runs: its pid file is locked while it runs. */
static int agent_running(struct shim *s)
{
	cleanup_close int fd = openat(s->store.root_fd, TARDISD_PID_FILE,
				      O_RDONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);

	return fd >= 0 && flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK;
}

/* Starts tardisd when none runs. */
static void ensure_agent(struct shim *s)
{
	char self[PATH_MAX], agent[PATH_MAX + 16], *slash;
	struct argv_buf a = { 0 };
	tardis_error_t err = NULL;
	int st;

	if (agent_running(s))
		return;
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return;
	self[n] = '\0';
	slash = strrchr(self, '/');
	*slash = '\0';
	snprintf(agent, sizeof(agent), "%s/tardisd", self);
	if (access(agent, X_OK) < 0 && find_on_path("tardisd", agent, sizeof(agent)) < 0) {
		log_warn("no tardisd next to %s or on PATH: exit monitor not started", self);
		return;
	}
	argv_push(&a, agent);
	argv_push(&a, "--daemon");
	log_info("starting the agent: %s --daemon", agent);
	st = run_wait(a.v, RUN_QUIET, 30, NULL, &err);
	/* 3: another one won the race, fine. */
	if (st != 0 && !(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 3))
		log_warn("tardisd did not start (%s)", err ? tardis_error_msg(err) : "exit status");
	tardis_error_free(&err);
	argv_free(&a);
}

/* Tells the exit monitor about the init in pid_file. */
static void register_init(struct shim *s, const char *pid_file)
{
	cleanup_error tardis_error_t err = NULL;
	cleanup_free char *text = NULL;
	struct tardis_monitor mon;
	int have_mon;
	long pid;

	if (!pid_file || store_read(AT_FDCWD, pid_file, 64, &text, NULL, &err) < 0) {
		log_warn("%s/%s: no pid file to register (%s)", s->args.ns, s->args.id,
			 err ? tardis_error_msg(err) : "no --pid-file");
		return;
	}
	pid = strtol(text, NULL, 10);
	if (pid <= 0) {
		log_warn("%s/%s: bad pid file `%s`", s->args.ns, s->args.id, pid_file);
		return;
	}
	ensure_agent(s);
	/* An agent that has just won the race to start (another tardis-runc
	 * started it) pins the monitor's maps a moment after it takes its
	 * lock: wait for them rather than leave the kernel map without this
	 * pid (an init in the host pid namespace would go unseen). */
	for (int i = 0;; i++) {
		have_mon = monitor_open_pinned(&mon, s->cfg.bpf_dir, &err) == 0;
		if (have_mon || i >= 200 || !agent_running(s))
			break;
		tardis_error_free(&err);
		usleep(50 * 1000);
	}
	if (!have_mon) {
		log_warn("exit monitor not available: %s", tardis_error_msg(err));
		tardis_error_free(&err);
	}
	if (registry_register(&s->store, have_mon ? &mon : NULL, s->args.ns, s->args.id,
			      (pid_t)pid, 0, &err) < 0)
		log_warn("%s/%s: register pid %ld: %s", s->args.ns, s->args.id, pid,
			 tardis_error_msg(err));
	else
		log_info("%s/%s: init pid %ld registered", s->args.ns, s->args.id, pid);
	if (have_mon)
		monitor_close(&mon);
}

/* ---- checkpoint ------------------------------------------------------- */

struct ckpt_result {
	const char *trigger;
	int64_t at;
	uint64_t duration_ms;
	uint64_t size;
	int skip_resume;
};

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

/* Options of the original checkpoint that tardis replaces or refuses. */
static int keep_checkpoint_opt(const char *name)
{
	return strcmp(name, "image-path") != 0 && strcmp(name, "work-path") != 0 &&
	       strcmp(name, "leave-running") != 0;
}

/* Checkpoints the running container into its tardis image: CRIU's files,
 * the files it wrote, the manifest; published atomically.  The container
 * is stopped afterwards (one consistent copy).  from_runc_cmd: the
 * original was a `checkpoint` whose options are kept. */
static int do_checkpoint(struct shim *s, const cJSON *state, const char *trigger,
			 int from_runc_cmd, int skip_resume)
{
	const char *image_path = cjson_get_str(state, "image_path");
	const char *rootfs = cjson_get_str(state, "rootfs");
	char tmp[PATH_MAX], work[PATH_MAX], upper[PATH_MAX], src[PATH_MAX + 16];
	struct ckpt_result res = { .trigger = trigger, .at = realtime_ns(), .skip_resume = skip_resume };
	cleanup_error tardis_error_t err = NULL;
	struct argv_buf a = { 0 };
	struct image_meta meta = { 0 };
	uint64_t t0 = monotonic_ns();
	int st, ret = -1;

	if (!image_path) {
		log_error("%s/%s: state has no image path", s->args.ns, s->args.id);
		return -1;
	}
	if (from_runc_cmd && (runc_args_flag(&s->args, "pre-dump") ||
			      runc_args_opt(&s->args, "page-server") ||
			      runc_args_flag(&s->args, "lazy-pages") ||
			      runc_args_opt(&s->args, "parent-path"))) {
		log_info("%s/%s: incremental/lazy checkpoint is not tardis's: passed through",
			 s->args.ns, s->args.id);
		return -1;
	}
	if (image_parent_safe(s, image_path, 1) < 0)
		return -1;
	image_cleanup_siblings(image_path);
	if (image_tmp_create(image_path, tmp, sizeof(tmp), &err) < 0 ||
	    scratch_dir(s, "work", work, sizeof(work)) < 0) {
		log_error("%s/%s: checkpoint: %s", s->args.ns, s->args.id,
			  err ? tardis_error_msg(err) : "work dir");
		return -1;
	}
	crash_point("ckpt-tmp-created");
	if (base_argv(s, &a, "checkpoint") < 0 || argv_push(&a, "--image-path") < 0 ||
	    argv_push(&a, tmp) < 0 || argv_push(&a, "--work-path") < 0 || argv_push(&a, work) < 0)
		goto out;
	if (from_runc_cmd) {
		for (int i = 0; i < s->args.nopts; i++) {
			const struct runc_opt *o = &s->args.opts[i];

			if (!keep_checkpoint_opt(o->name))
				continue;
			for (int k = 0; k < o->ntokens; k++)
				if (argv_push(&a, s->argv[o->index + k]) < 0)
					goto out;
		}
	} else if (argv_push(&a, "--file-locks") < 0) {
		goto out;
	}
	if (argv_push(&a, s->args.id) < 0)
		goto out;
	st = run_logged(s, &a, RUN_QUIET | RUN_OWN_PGRP, s->cfg.checkpoint_timeout, NULL, &err);
	scratch_tighten(s, "work");
	if (st != 0) {
		char why[512];

		snprintf(src, sizeof(src), "%s/dump.log", work);
		criu_log_errors(src, why, sizeof(why));
		log_warn("%s/%s: checkpoint (%s) failed: %s%s%s; see %s", s->args.ns, s->args.id,
			 trigger, err ? tardis_error_msg(err) : "runc failed", why[0] ? ": CRIU: " : "",
			 why, src);
		goto out;
	}
	crash_point("ckpt-criu-done");
	/* The CRIU log belongs to the image: validation reads its last line. */
	snprintf(src, sizeof(src), "%s/dump.log", work);
	{
		cleanup_free char *log = NULL;
		cleanup_close int tfd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		size_t len = 0;

		if (tfd < 0 || store_read(AT_FDCWD, src, 64 << 20, &log, &len, &err) < 0 ||
		    store_write_atomic(tfd, IMAGE_DUMP_LOG, log, len, 0, NULL, &err) < 0) {
			log_error("%s/%s: copy dump.log: %s", s->args.ns, s->args.id,
				  err ? tardis_error_msg(err) : strerror(errno));
			goto out;
		}
	}
	crash_point("ckpt-dump-log-copied");
	if (rootfs && mountinfo_overlay_upperdir(rootfs, upper, sizeof(upper)) == 1) {
		struct filediff_stats fs = { 0 };
		cleanup_close int tfd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		if (tfd < 0 || filediff_save(upper, tfd, &fs, &err) < 0) {
			log_error("%s/%s: save container files from %s: %s", s->args.ns, s->args.id,
				  upper, err ? tardis_error_msg(err) : strerror(errno));
			goto out;
		}
	} else {
		log_info("%s/%s: rootfs %s is not an overlay mount: no files saved", s->args.ns,
			 s->args.id, rootfs ? rootfs : "?");
	}
	crash_point("ckpt-files-saved");
	meta.ns = s->args.ns;
	meta.id = s->args.id;
	meta.created_at_ns = res.at;
	meta.duration_ms = (monotonic_ns() - t0) / 1000000;
	meta.runc_version = s->runc;
	meta.criu_version = s->cfg.criu[0] ? s->cfg.criu : "criu";
	if (image_seal(tmp, &meta, &res.size, &err) < 0 || image_publish(tmp, image_path, &err) < 0) {
		log_error("%s/%s: publish image: %s", s->args.ns, s->args.id, tardis_error_msg(err));
		goto out;
	}
	crash_point("ckpt-published");
	res.duration_ms = (monotonic_ns() - t0) / 1000000;
	log_info("%s/%s: checkpointed (%s) into %s: %llu bytes in %llu ms", s->args.ns, s->args.id,
		 trigger, image_path, (unsigned long long)res.size,
		 (unsigned long long)res.duration_ms);
	if (cstate_update(&s->store, s->args.ns, s->args.id, 0, note_checkpoint, &res, &err) < 0)
		log_warn("%s/%s: state: %s", s->args.ns, s->args.id, tardis_error_msg(err));
	ret = 0;
out:
	if (ret < 0) {
		tardis_error_t e = NULL;

		image_remove(tmp, &e);
		tardis_error_free(&e);
	}
	argv_free(&a);
	return ret;
}

/* ---- create / restore ------------------------------------------------- */

/* runc refuses to create an id it already has (its directory under --root
 * exists).  Such a create must not reach tardis's restore: restoring over a
 * live container would apply files to its rootfs, and the undo of the
 * failed restore would `delete --force` it. */
static int runc_has_container(struct shim *s)
{
	const char *root = runc_args_global(&s->args, "root");
	char path[PATH_MAX];
	struct stat st;

	if (snprintf(path, sizeof(path), "%s/%s", root && *root ? root : "/run/runc",
		     s->args.id) >= (int)sizeof(path))
		return 0;
	return lstat(path, &st) == 0;
}

struct create_info {
	const char *bundle;
	const char *image_path;
	const char *work_dir;
	const struct tardis_settings *set;
};

static int note_create(cJSON *st, void *arg)
{
	const struct create_info *c = arg;
	char when[64];

	rfc3339_format(realtime_ns(), when, sizeof(when));
	cjson_set_str(st, "bundle", c->bundle);
	cjson_set_str(st, "rootfs", c->set->rootfs);
	cjson_set_str(st, "image_path", c->image_path);
	cjson_set_str(st, "work_dir", c->work_dir);
	cjson_set_bool(st, "checkpoint_on_stop", c->set->checkpoint_on_stop);
	cjson_set_str(st, "created_at", when);
	cjson_set_bool(st, "skip_start", 0);
	cjson_set_bool(st, "skip_resume", 0);
	return 0;
}

struct restore_result {
	int restored;
	uint64_t duration_ms;
	const char *reason;
};

static int note_restore(cJSON *st, void *arg)
{
	const struct restore_result *r = arg;
	cJSON *l = cjson_object(st, "last_restore");
	char when[64];

	rfc3339_format(realtime_ns(), when, sizeof(when));
	cjson_set_str(l, "at", when);
	cjson_set_str(l, "result", r->restored ? "restored" : "fell back");
	cjson_set_num(l, "duration_ms", (double)r->duration_ms);
	cjson_set_str(l, "reason", r->reason ? r->reason : "");
	if (r->restored) {
		cjson_set_bool(st, "skip_start", 1);
		cjson_set_num(st, "restores", cjson_get_num(st, "restores", 0) + 1);
	}
	return 0;
}

/* Options of the original create that restore understands too. */
static int keep_create_opt(const char *name)
{
	return strcmp(name, "console-socket") == 0 || strcmp(name, "no-pivot") == 0 ||
	       strcmp(name, "pid-file") == 0 || strcmp(name, "bundle") == 0;
}

/* Restores from a valid image.  Returns 0 restored, -1 (with *reason) when
 * the caller must fall back to a fresh create. */
static int try_restore(struct shim *s, const char *bundle, const struct tardis_settings *set,
		       const char *image_path, char *reason, size_t rlen)
{
	char backup[PATH_MAX], work[PATH_MAX];
	cleanup_error tardis_error_t err = NULL;
	cleanup_close int ifd = -1;
	cleanup_close int bfd = -1;
	struct argv_buf a = { 0 };
	int st, applied = 0, ret = -1;

	if (scratch_dir(s, "restore", backup, sizeof(backup)) < 0 ||
	    scratch_dir(s, "work", work, sizeof(work)) < 0) {
		snprintf(reason, rlen, "scratch dirs: %s", strerror(errno));
		return -1;
	}
	bfd = open(backup, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	ifd = open(image_path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (bfd < 0 || ifd < 0) {
		snprintf(reason, rlen, "open image: %s", strerror(errno));
		return -1;
	}
	/* Leftovers of a restore that died halfway are undone first. */
	if (filediff_rollback(set->rootfs, bfd, &err) < 0) {
		snprintf(reason, rlen, "undo an earlier restore: %s", tardis_error_msg(err));
		return -1;
	}
	if (filediff_apply(ifd, set->rootfs, bfd, &err) < 0) {
		snprintf(reason, rlen, "apply saved files: %s", tardis_error_msg(err));
		goto undo;
	}
	applied = 1;
	crash_point("restore-applied");
	if (base_argv(s, &a, "restore") < 0 || argv_push(&a, "--detach") < 0 ||
	    argv_push(&a, "--image-path") < 0 || argv_push(&a, image_path) < 0 ||
	    argv_push(&a, "--work-path") < 0 || argv_push(&a, work) < 0 ||
	    argv_push(&a, "--file-locks") < 0)
		goto undo;
	if (!runc_args_opt(&s->args, "bundle") &&
	    (argv_push(&a, "--bundle") < 0 || argv_push(&a, bundle) < 0))
		goto undo;
	for (int i = 0; i < s->args.nopts; i++) {
		const struct runc_opt *o = &s->args.opts[i];

		if (!keep_create_opt(o->name))
			continue;
		for (int k = 0; k < o->ntokens; k++)
			if (argv_push(&a, s->argv[o->index + k]) < 0)
				goto undo;
	}
	if (argv_push(&a, s->args.id) < 0)
		goto undo;
	/* Not RUN_QUIET: runc gives the restored process our stdio (the
	 * shim's pipes for the container) in place of the dumped ones. */
	st = run_logged(s, &a, RUN_OWN_PGRP, s->cfg.restore_timeout, NULL, &err);
	scratch_tighten(s, "work");
	if (st == 0) {
		crash_point("restore-runc-done");
		ret = 0;
		goto out;
	}
	snprintf(reason, rlen, "runc restore failed (%s); see %s/restore.log",
		 err ? tardis_error_msg(err) : "exit status", work);
undo:
	{
		/* A half-restored container must not stay behind. */
		struct argv_buf d = { 0 };
		tardis_error_t e = NULL;

		if (base_argv(s, &d, "delete") == 0 && argv_push(&d, "--force") == 0 &&
		    argv_push(&d, s->args.id) == 0)
			run_wait(d.v, RUN_QUIET, 60, NULL, &e);
		tardis_error_free(&e);
		argv_free(&d);
	}
	if (applied || 1) {
		tardis_error_t e = NULL;

		if (filediff_rollback(set->rootfs, bfd, &e) < 0)
			log_error("%s/%s: undo applied files: %s", s->args.ns, s->args.id,
				  tardis_error_msg(e));
		tardis_error_free(&e);
	}
	if (!reason[0])
		snprintf(reason, rlen, "%s", err ? tardis_error_msg(err) : "internal error");
out:
	if (ret == 0) {
		/* Restored: the applied files are the container's now.  The
		 * journal is emptied first, then the backups go: removing the
		 * directory could drop backups before the journal, and a crash
		 * then would leave a journal that undoes only some files. */
		tardis_error_t e = NULL;

		if (filediff_commit(bfd, &e) < 0)
			log_warn("%s/%s: forget the applied files' journal: %s", s->args.ns,
				 s->args.id, tardis_error_msg(e));
		tardis_error_free(&e);
	}
	argv_free(&a);
	return ret;
}

/* Creates of one id run one at a time.  containerd never races them, but
 * direct runc users can: a second create must find the first one's
 * container (and be left to runc), not restore into the same rootfs and
 * scratch dirs, then undo the winner with `delete --force`.  The lock is
 * the restore scratch dir, which nothing else locks (the container's own
 * lock would stall the agent for a whole restore).  Released at exit. */
static int create_lock(struct shim *s)
{
	cleanup_error tardis_error_t err = NULL;
	char rel[PATH_MAX];

	if (open_store(s) < 0)
		return -1;
	snprintf(rel, sizeof(rel), "restore/%s/%s", s->args.ns, s->args.id);
	for (int attempt = 0; attempt < 100; attempt++) {
		struct stat st;
		int fd = store_path_dir(&s->store, rel, 1, &err);

		if (fd < 0) {
			log_error("create %s/%s: lock: %s", s->args.ns, s->args.id,
				  tardis_error_msg(err));
			return -1;
		}
		if (flock(fd, LOCK_EX) == 0 && fstat(fd, &st) == 0 && st.st_nlink > 0)
			return fd;
		close(fd); /* removed by the holder before us (a restore's cleanup) */
	}
	return -1;
}

static int handle_create(struct shim *s)
{
	const char *bundle_opt = runc_args_opt(&s->args, "bundle");
	const char *pid_file = runc_args_opt(&s->args, "pid-file");
	char bundle[PATH_MAX], image_path[PATH_MAX], work_dir[PATH_MAX], reason[512] = "";
	cleanup_error tardis_error_t err = NULL;
	cleanup_close int lock = -1;
	struct tardis_settings set;
	struct restore_result rr = { 0 };
	struct create_info ci;
	struct image_report rep;
	cJSON *config = NULL;
	uint64_t t0;
	int st, valid;

	if (bundle_opt)
		snprintf(bundle, sizeof(bundle), "%s", bundle_opt);
	else if (!getcwd(bundle, sizeof(bundle)))
		return PASS_THROUGH;
	if (oci_settings_load(bundle, &set, &config, &err) < 0) {
		log_warn("create %s: %s: not handled", s->args.id, tardis_error_msg(err));
		return PASS_THROUGH;
	}
	if (!set.enabled) {
		cJSON_Delete(config);
		return PASS_THROUGH;
	}
	log_info("intercepted: create %s/%s (bundle %s)", s->args.ns, s->args.id, bundle);
	if (!store_id_valid(s->args.ns) || !store_id_valid(s->args.id)) {
		log_error("create: refusing namespace/id `%.64s`/`%.64s`", s->args.ns, s->args.id);
		cJSON_Delete(config);
		return PASS_THROUGH;
	}
	lock = create_lock(s);
	if (lock < 0) {
		cJSON_Delete(config);
		return PASS_THROUGH;
	}
	if (runc_has_container(s)) {
		log_warn("create %s/%s: runc already has a container with this id: passed to runc",
			 s->args.ns, s->args.id);
		cJSON_Delete(config);
		return PASS_THROUGH;
	}
	if (open_store(s) < 0 || !set.rootfs[0] ||
	    settings_image_path(&set, s->cfg.state_dir, s->args.ns, s->args.id, image_path,
				sizeof(image_path)) < 0 ||
	    settings_work_dir(&set, s->args.ns, s->args.id, work_dir, sizeof(work_dir)) < 0) {
		log_error("create %s/%s: cannot set up tardis; plain create", s->args.ns, s->args.id);
		cJSON_Delete(config);
		return PASS_THROUGH;
	}
	if (work_dir[0]) {
		int r;

		if (mkdir_p(work_dir, 0755) < 0) {
			log_error("create %s/%s: work dir %s: %s", s->args.ns, s->args.id, work_dir,
				  strerror(errno));
			cJSON_Delete(config);
			return PASS_THROUGH;
		}
		r = oci_config_add_workdir(config, &set, work_dir, &err);
		if (r < 0 || (r == 1 && oci_config_write(bundle, config, &err) < 0)) {
			log_error("create %s/%s: %s", s->args.ns, s->args.id, tardis_error_msg(err));
			cJSON_Delete(config);
			return PASS_THROUGH;
		}
	}
	cJSON_Delete(config);
	ci = (struct create_info){ bundle, image_path, work_dir, &set };
	if (cstate_update(&s->store, s->args.ns, s->args.id, 1, note_create, &ci, &err) < 0) {
		log_error("create %s/%s: state: %s", s->args.ns, s->args.id, tardis_error_msg(err));
		return PASS_THROUGH;
	}

	if (image_parent_safe(s, image_path, 0) < 0) {
		valid = -1; /* none there, or refused: a fresh create */
	} else {
		image_cleanup_siblings(image_path);
		valid = image_validate(image_path, &rep);
	}
	crash_point("restore-validated");
	if (valid == 1 && (strcmp(rep.ns, s->args.ns) != 0 || strcmp(rep.id, s->args.id) != 0)) {
		/* Never restore another container's image. */
		snprintf(reason, sizeof(reason), "manifest: image of %.100s/%.100s", rep.ns, rep.id);
		valid = 0;
		log_warn("create %s/%s: image %s is invalid (%s): kept for inspection, starting fresh",
			 s->args.ns, s->args.id, image_path, reason);
	} else if (valid == 0) {
		image_report_reason(&rep, reason, sizeof(reason));
		log_warn("create %s/%s: image %s is invalid (%s): kept for inspection, starting fresh",
			 s->args.ns, s->args.id, image_path, reason);
	} else if (valid == 1) {
		t0 = monotonic_ns();
		if (try_restore(s, bundle, &set, image_path, reason, sizeof(reason)) == 0) {
			rr.restored = 1;
			rr.duration_ms = (monotonic_ns() - t0) / 1000000;
			log_info("create %s/%s: restored from %s in %llu ms", s->args.ns, s->args.id,
				 image_path, (unsigned long long)rr.duration_ms);
			cstate_update(&s->store, s->args.ns, s->args.id, 0, note_restore, &rr, &err);
			tardis_error_free(&err);
			register_init(s, pid_file);
			return 0;
		}
		rr.duration_ms = (monotonic_ns() - t0) / 1000000;
		log_warn("create %s/%s: restore failed, starting fresh: %s", s->args.ns, s->args.id,
			 reason);
	}
	if (valid >= 0) {
		rr.reason = reason;
		cstate_update(&s->store, s->args.ns, s->args.id, 0, note_restore, &rr, &err);
		tardis_error_free(&err);
	}

	/* A fresh create, then the init is registered. */
	{
		struct argv_buf a = { 0 };

		if (argv_push(&a, s->runc) < 0) {
			argv_free(&a);
			return PASS_THROUGH;
		}
		for (int i = 1; i < s->args.argc; i++)
			argv_push(&a, s->argv[i]);
		st = run_logged(s, &a, 0, 0, NULL, &err);
		argv_free(&a);
	}
	if (st < 0) {
		log_error("create %s/%s: %s", s->args.ns, s->args.id, tardis_error_msg(err));
		return PASS_THROUGH;
	}
	if (st == 0)
		register_init(s, pid_file);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* ---- start / resume: answered for a container tardis already set up --- */

static int take_flag(cJSON *st, void *arg)
{
	const char *flag = arg;

	if (!cjson_get_bool(st, flag))
		return -1; /* nothing to change */
	cjson_set_bool(st, flag, 0);
	return 0;
}

static int handle_skip(struct shim *s, const char *flag)
{
	cleanup_error tardis_error_t err = NULL;
	cJSON *st = load_state(s);
	int set;

	if (!st)
		return PASS_THROUGH;
	set = cjson_get_bool(st, flag);
	cJSON_Delete(st);
	if (!set)
		return PASS_THROUGH;
	if (cstate_update(&s->store, s->args.ns, s->args.id, 0, take_flag, (void *)flag, &err) < 0) {
		char status[32];

		if (err && err->errnum == ECANCELED)
			return PASS_THROUGH; /* somebody else took it */
		/* Set but not cleared (a full state dir), maybe stale (a create
		 * that could not record itself): runc does it if it can, else
		 * tardis did (a restored container runs, a checkpointed one is
		 * gone) and runc would fail. */
		container_status(s, status, sizeof(status));
		if (strcmp(status, strcmp(flag, "skip_start") == 0 ? "created" : "paused") == 0)
			return PASS_THROUGH;
		log_warn("%s %s/%s: clear %s: %s; answered anyway", s->args.cmd, s->args.ns,
			 s->args.id, flag, tardis_error_msg(err));
	}
	log_info("intercepted: %s %s/%s answered by tardis (%s)", s->args.cmd, s->args.ns,
		 s->args.id, flag);
	return 0;
}

static int handle_start(struct shim *s)
{
	return handle_skip(s, "skip_start");
}

static int handle_resume(struct shim *s)
{
	return handle_skip(s, "skip_resume");
}

/* ---- checkpoint (containerd's) ---------------------------------------- */

static int handle_checkpoint(struct shim *s)
{
	cJSON *st = load_state(s);
	int ret;

	if (!st)
		return PASS_THROUGH;
	log_info("intercepted: checkpoint %s/%s", s->args.ns, s->args.id);
	ret = do_checkpoint(s, st, "checkpoint", 1, 1);
	cJSON_Delete(st);
	if (ret < 0) {
		log_warn("checkpoint %s/%s: passing the original command to runc", s->args.ns,
			 s->args.id);
		return PASS_THROUGH;
	}
	return 0;
}

/* ---- kill: a stop signal becomes a checkpoint when opted in ----------- */

static int is_stop_signal(const char *sig)
{
	static const char *const stops[] = { "TERM", "KILL", "INT", "15", "9", "2" };

	if (!sig)
		return 1; /* runc's default is SIGTERM */
	if (strncasecmp(sig, "SIG", 3) == 0)
		sig += 3;
	for (size_t i = 0; i < sizeof(stops) / sizeof(stops[0]); i++)
		if (strcasecmp(sig, stops[i]) == 0)
			return 1;
	return 0;
}

static int handle_kill(struct shim *s)
{
	char status[32];
	cJSON *st;
	int ret;

	st = load_state(s);
	if (!st)
		return PASS_THROUGH;
	if (!cjson_get_bool(st, "checkpoint_on_stop") ||
	    !is_stop_signal(s->args.npos ? s->args.pos[0] : NULL)) {
		cJSON_Delete(st);
		return PASS_THROUGH;
	}
	container_status(s, status, sizeof(status));
	if (strcmp(status, "running") != 0 && strcmp(status, "paused") != 0) {
		cJSON_Delete(st);
		return PASS_THROUGH;
	}
	log_info("intercepted: kill %s/%s %s: checkpoint instead", s->args.ns, s->args.id,
		 s->args.npos ? s->args.pos[0] : "TERM");
	ret = do_checkpoint(s, st, "stop signal", 0, 0);
	cJSON_Delete(st);
	return ret < 0 ? PASS_THROUGH : 0;
}

/* ---- delete: checkpoint if still running, clean up after exit 0 ------- */

/* The init's exit: 1 known (status in *exit_status), 0 unknown. */
static int lookup_exit(struct shim *s, const cJSON *state, int *exit_status)
{
	cleanup_close int dfd = -1;
	cleanup_free char *text = NULL;
	tardis_error_t err = NULL;
	struct exit_record r;
	struct tardis_monitor mon;
	struct tardis_exit_event ev;
	pid_t pid = cjson_get_int(state, "init_pid", 0);
	uint64_t start = cjson_get_u64(state, "init_start_time", 0);
	int found = 0;

	dfd = store_container_dir(&s->store, s->args.ns, s->args.id, 0, &err);
	if (dfd >= 0 && store_read(dfd, EXIT_RECORD_FILE, 1 << 20, &text, NULL, &err) == 0 &&
	    exit_record_from_json(text, &r, &err) == 0 && r.pid == pid && r.start_time == start) {
		tardis_error_free(&err);
		if (!r.known)
			return 0;
		*exit_status = r.st.exit_status;
		return 1;
	}
	tardis_error_free(&err);
	/* The agent may not have written it yet: the kernel has it. */
	if (pid > 0 && monitor_open_pinned(&mon, s->cfg.bpf_dir, &err) == 0) {
		found = monitor_recent_lookup(&mon, pid, start, &ev) == 1;
		monitor_close(&mon);
		if (found) {
			struct exit_status es;

			if (exit_status_decode(ev.status, &es) == 0) {
				*exit_status = es.exit_status;
				log_info("%s/%s: exit taken from the kernel's recent_exits", s->args.ns,
					 s->args.id);
				return 1;
			}
		}
	}
	tardis_error_free(&err);
	return 0;
}

static int handle_delete(struct shim *s)
{
	cleanup_error tardis_error_t err = NULL;
	char status[32];
	const char *image_path, *work_dir;
	int exit_status = -1, known;
	cJSON *st = load_state(s);

	if (!st)
		return PASS_THROUGH;
	log_info("intercepted: delete%s %s/%s", runc_args_flag(&s->args, "force") ? " --force" : "",
		 s->args.ns, s->args.id);
	if (runc_args_flag(&s->args, "force")) {
		container_status(s, status, sizeof(status));
		if ((strcmp(status, "running") == 0 || strcmp(status, "paused") == 0) &&
		    do_checkpoint(s, st, "delete --force", 0, 0) < 0)
			log_warn("delete %s/%s: checkpoint failed; deleting anyway", s->args.ns,
				 s->args.id);
	}
	known = lookup_exit(s, st, &exit_status);
	image_path = cjson_get_str(st, "image_path");
	work_dir = cjson_get_str(st, "work_dir");
	if (known && exit_status == 0) {
		log_info("%s/%s finished with exit code 0: removing its image and state", s->args.ns,
			 s->args.id);
		if (image_path && image_parent_safe(s, image_path, 0) == 0 &&
		    image_remove(image_path, &err) < 0) {
			log_warn("remove image: %s", tardis_error_msg(err));
			tardis_error_free(&err);
		}
		if (work_dir && work_dir[0] && image_remove(work_dir, &err) < 0) {
			log_warn("remove work dir: %s", tardis_error_msg(err));
			tardis_error_free(&err);
		}
		scratch_remove(s, "work");
		scratch_remove(s, "restore");
		/* Under the lock: an update in flight (the agent's exit record,
		 * a concurrent create) finishes first, or finds it gone. */
		{
			cleanup_close int lock = -1;
			cleanup_close int dfd = store_container_lock(&s->store, s->args.ns,
								     s->args.id, 0, &lock, &err);

			if (dfd >= 0 && store_container_remove(&s->store, s->args.ns, s->args.id,
							       &err) < 0)
				log_warn("remove state: %s", tardis_error_msg(err));
			else if (dfd < 0 && err->errnum != ENOENT)
				log_warn("remove state: %s", tardis_error_msg(err));
			tardis_error_free(&err);
		}
	} else if (known) {
		log_info("%s/%s exited with %d: image kept for the next create", s->args.ns,
			 s->args.id, exit_status);
	} else {
		log_info("%s/%s: exit code unknown: image kept for the next create", s->args.ns,
			 s->args.id);
	}
	cJSON_Delete(st);
	return PASS_THROUGH;
}

/* ---- main -------------------------------------------------------------- */

static const struct {
	const char *cmd;
	int (*handle)(struct shim *s);
} handlers[] = {
	{ "create", handle_create },   { "start", handle_start },
	{ "checkpoint", handle_checkpoint }, { "resume", handle_resume },
	{ "kill", handle_kill },       { "delete", handle_delete },
};

int main(int argc, char **argv)
{
	cleanup_error tardis_error_t err = NULL;
	struct shim s;
	int ret = PASS_THROUGH;

	memset(&s, 0, sizeof(s));
	s.argv = argv;
	s.store.root_fd = -1;
	if (config_load(&s.cfg, &err) < 0) {
		fprintf(stderr, "tardis-runc: %s\n", tardis_error_msg(err));
		tardis_error_free(&err);
		config_defaults(&s.cfg);
	}
	if (runc_find(s.cfg.runc, s.runc, sizeof(s.runc), &err) < 0) {
		tardis_log_open("tardis-runc", s.cfg.log_file[0] ? s.cfg.log_file : DEFAULT_LOG,
				s.cfg.log_level);
		log_error("%s", tardis_error_msg(err));
		fprintf(stderr, "tardis-runc: %s\n", tardis_error_msg(err));
		return 127;
	}
	if (runc_args_parse(argc, argv, &s.args, &err) < 0) {
		tardis_log_open("tardis-runc", s.cfg.log_file[0] ? s.cfg.log_file : DEFAULT_LOG,
				s.cfg.log_level);
		log_info("not parsed (%s): passed to runc", tardis_error_msg(err));
	} else if (s.args.cmd && !runc_args_flag(&s.args, "help")) {
		for (size_t i = 0; i < sizeof(handlers) / sizeof(handlers[0]); i++) {
			if (strcmp(handlers[i].cmd, s.args.cmd) != 0)
				continue;
			/* Only calls tardis may handle open the log: `state`, `ps`,
			 * `features`... go straight to runc. */
			tardis_log_open("tardis-runc",
					s.cfg.log_file[0] ? s.cfg.log_file : DEFAULT_LOG,
					s.cfg.log_level);
			ret = handlers[i].handle(&s);
		}
	}
	if (s.have_store)
		store_close(&s.store);
	if (ret != PASS_THROUGH)
		return ret;
	tardis_log_close();
	runc_exec_original(s.runc, argv);
	fprintf(stderr, "tardis-runc: exec %s: %s\n", s.runc, strerror(errno));
	return 127;
}
