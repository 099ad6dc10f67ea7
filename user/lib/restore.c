#include "restore.h"
#include "cleanup.h"
#include "crashpoint.h"
#include "criu_log.h"
#include "criu_version.h"
#include "filediff.h"
#include "log.h"
#include "netns.h"
#include "scratch.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Options of the original create that restore understands too. */
static int keep_create_opt(const char *name)
{
	return strcmp(name, "console-socket") == 0 || strcmp(name, "no-pivot") == 0 ||
	       strcmp(name, "pid-file") == 0 || strcmp(name, "bundle") == 0;
}

/* Why runc restore failed: CRIU's first error when it logged one. */
static int restore_failed(const struct runc_call *c, const char *work, tardis_error_t e,
			  tardis_error_t *err)
{
	char log[PATH_MAX + 16], why[512];

	snprintf(log, sizeof(log), "%s/restore.log", work);
	if (tardis_error_errno(e) == ETIMEDOUT)
		return tardis_make_error(err, ETIMEDOUT, "runc restore timed out after %d s; see %s",
					 c->cfg->restore_timeout, log);
	if (criu_log_first_error(log, why, sizeof(why)))
		return tardis_make_error(err, 0, "%s; see %s", why, log);
	return tardis_make_error(err, 0, "runc restore failed (%s); see %s",
				 e ? tardis_error_msg(e) : "exit status", log);
}

/* What runc has no flag for goes to CRIU in a file named by
 * CRIU_CONFIG_FILE (read in `criu swrk` mode too; runc passes its
 * environment on): `tcp-close` unless the container keeps its connections,
 * and for a network namespace runc makes, the action script that brings
 * its lo up at setup-namespaces, before any socket is restored.  env gets
 * the environment entries; 0, or -1 with *err. */
static int criu_conf(const struct restore_request *req, int script, const char *work,
		     struct argv_buf *env, tardis_error_t *err)
{
	char text[PATH_MAX + 64] = "", path[PATH_MAX + 32], entry[PATH_MAX + 64];
	cleanup_free char *bundle = NULL;
	cleanup_close int dfd = -1;

	if (!req->keep_tcp)
		strcat(text, "tcp-close\n");
	if (script) {
		/* Quoted for CRIU's config parser (spaces), which cuts a line at
		 * any '#', quoted or not, and knows no escape but \". */
		if (!req->action_script || req->action_script[0] != '/' ||
		    strpbrk(req->action_script, "\"\\\n#"))
			return tardis_make_error(err, EINVAL, "no usable action script for the netns");
		snprintf(text + strlen(text), sizeof(text) - strlen(text), "action-script \"%s\"\n",
			 req->action_script);
		if (!(bundle = realpath(req->bundle, NULL)))
			return tardis_make_error(err, errno, "bundle %s", req->bundle);
		snprintf(entry, sizeof(entry), RESTORE_BUNDLE_ENV "=%s", bundle);
		if (argv_push(env, entry) < 0)
			return tardis_make_error(err, ENOMEM, "environment");
	}
	snprintf(path, sizeof(path), "%s/criu.conf", work);
	dfd = open(work, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0 || store_write_atomic(dfd, "criu.conf", text, strlen(text), 0, NULL, err) < 0)
		return tardis_make_error(err, errno, "write %s", path);
	snprintf(entry, sizeof(entry), "CRIU_CONFIG_FILE=%s", path);
	return argv_push(env, entry) < 0 ? tardis_make_error(err, ENOMEM, "environment") : 0;
}

/* A runc-made namespace restored by a CRIU that runs no action script
 * from a config file (before 4): lo and the net.* sysctls put back as soon
 * as runc restore returns.  The restored processes ran a few milliseconds
 * with lo down; a connection over lo retransmits once. */
static int own_netns_after(const struct runc_call *c, const struct restore_request *req,
			   tardis_error_t *err)
{
	pid_t init = runc_call_init_pid(c);

	if (init <= 0)
		return tardis_make_error(err, ESRCH, "restored, but no init pid to bring lo up in");
	if (netns_restore_own_after(init, req->bundle, err) < 0)
		return tardis_error_wrap(err, "network namespace after restore");
	log_info("%s/%s: lo up and net.* sysctls written after the restore (CRIU < 4)", c->ns,
		 c->id);
	return 0;
}

/* A namespace given by path after a restore by CRIU before 4: its
 * network unlock fails with iptables-nft when the jumps to chain CRIU are
 * there twice, from the dump and from the restore (criu#1435, fixed in
 * 4.0), and the restored container, with its pod, stays cut off. */
static void path_netns_after(const struct runc_call *c, const struct restore_request *req)
{
	cleanup_error tardis_error_t e = NULL;

	if (netns_criu_unlock(req->netns_path, &e) > 0)
		log_info("%s/%s: removed CRIU's network lock from netns %s after the restore "
			 "(CRIU < 4)", c->ns, c->id, req->netns_path);
	else if (e)
		log_warn("%s/%s: CRIU's network lock in netns %s: %s", c->ns, c->id,
			 req->netns_path, tardis_error_msg(e));
}

/* `runc restore --detach`: 0 restored, -1 with *err. */
static int run_runc_restore(const struct runc_call *c, const struct restore_request *req,
			    const char *work, int major, tardis_error_t *err)
{
	cleanup_argv struct argv_buf a = { 0 };
	cleanup_argv struct argv_buf env = { 0 };
	cleanup_error tardis_error_t e = NULL;
	int st;

	/* CRIU before 4 dies on an action script from a config file in swrk
	 * mode (seen: 3.17 on Debian 12's 6.1): lo comes up after the restore
	 * instead (own_netns_after). */
	if ((!req->keep_tcp || (req->own_netns && major >= 4)) &&
	    criu_conf(req, req->own_netns && major >= 4, work, &env, err) < 0)
		return tardis_error_wrap(err, "CRIU configuration");
	/* Established connections are always in the image (checkpoint.c);
	 * whether they come back open or closed is criu.conf's tcp-close. */
	if (runc_call_argv(c, &a, "restore") < 0 || argv_push(&a, "--detach") < 0 ||
	    argv_push(&a, "--image-path") < 0 || argv_push(&a, req->image_path) < 0 ||
	    argv_push(&a, "--work-path") < 0 || argv_push(&a, work) < 0 ||
	    argv_push(&a, "--file-locks") < 0 || argv_push(&a, "--tcp-established") < 0)
		return tardis_make_error(err, 0, "internal error");
	if (!runc_call_opt(c, "bundle") &&
	    (argv_push(&a, "--bundle") < 0 || argv_push(&a, req->bundle) < 0))
		return tardis_make_error(err, 0, "internal error");
	if (runc_call_forward(c, &a, keep_create_opt) < 0 || argv_push(&a, c->id) < 0)
		return tardis_make_error(err, 0, "internal error");
	/* Not RUN_QUIET: runc gives the restored process our stdio (the
	 * shim's pipes for the container) in place of the dumped ones. */
	st = run_wait_logged_env(a.v, env.v, RUN_OWN_PGRP, c->cfg->restore_timeout, NULL, &e);
	scratch_tighten(c->store, SCRATCH_WORK, c->ns, c->id);
	if (st != 0)
		return restore_failed(c, work, e, err);
	if (major < 4 && req->netns_path)
		path_netns_after(c, req);
	if (req->own_netns && major < 4)
		return own_netns_after(c, req, err);
	return 0;
}

/* A half-restored container must not stay behind, nor the files applied
 * for it: the rootfs is left as the image found it.  Also after a failed
 * apply, which may have applied some files before it failed. */
static void undo(const struct runc_call *c, const struct restore_request *req, int bfd)
{
	cleanup_argv struct argv_buf d = { 0 };
	cleanup_error tardis_error_t e = NULL;

	if (runc_call_argv(c, &d, "delete") == 0 && argv_push(&d, "--force") == 0 &&
	    argv_push(&d, c->id) == 0)
		run_wait(d.v, RUN_QUIET, 60, NULL, &e);
	tardis_error_free(&e);
	if (filediff_rollback(req->rootfs, bfd, &e) < 0)
		log_error("%s/%s: undo applied files: %s", c->ns, c->id, tardis_error_msg(e));
}

/* Restored: the applied files are the container's now.  The journal is
 * emptied first, then the backups go: removing the directory could drop
 * backups before the journal, and a crash then would leave a journal that
 * undoes only some files. */
static void commit(const struct runc_call *c, int bfd)
{
	cleanup_error tardis_error_t e = NULL;

	if (filediff_commit(bfd, &e) < 0)
		log_warn("%s/%s: forget the applied files' journal: %s", c->ns, c->id,
			 tardis_error_msg(e));
}

/* The applied files' wait for the disk, while runc restores (~150-200 ms
 * for the smallest container: the ~0.6 ms a syncfs takes here is hidden).
 * -1 with *err. */
static int sync_begin(const char *rootfs, struct bg_syncfs **b, tardis_error_t *err)
{
	int fd = open(rootfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return tardis_make_error(err, errno, "open rootfs `%s`", rootfs);
	*b = bg_syncfs_begin(fd);
	return *b ? 0 : tardis_make_error(err, ENOMEM, "sync rootfs `%s`", rootfs);
}

/* The applied files are durable before their journal is forgotten
 * (commit): -1 with *err (err NULL: not asked) when syncfs failed. */
static int sync_end(struct bg_syncfs *b, tardis_error_t *err)
{
	if (b && bg_syncfs_end(b) < 0 && err)
		return tardis_make_error(err, errno, "sync rootfs");
	return 0;
}

/* This node's CRIU ("" when it cannot be told); -1 with *err when the
 * image was made by a newer one: CRIU reads the images of older CRIUs, an
 * older CRIU may not know what a newer one wrote. */
static int criu_fits(const struct runc_call *c, const struct restore_request *req, char *v,
		     size_t len, tardis_error_t *err)
{
	int ok;

	if (criu_version_get(c->store, runc_call_criu_path(c), v, len) < 0 || !req->criu_version ||
	    criu_version_cmp(req->criu_version, v, &ok) <= 0 || !ok)
		return 0;
	return tardis_make_error(err, 0,
				 "image made by CRIU %s, newer than this node's CRIU %s (%s)",
				 req->criu_version, v, runc_call_criu_path(c));
}

int restore_container(const struct runc_call *c, const struct restore_request *req,
		      tardis_error_t *err)
{
	char backup[PATH_MAX], work[PATH_MAX], why[PATH_MAX + 64], criu_v[32];
	struct bg_syncfs *flush = NULL;
	cleanup_close int ifd = -1;
	cleanup_close int bfd = -1;

	/* runc only says "criu failed" (in its own log) when there is none. */
	if (runc_call_criu_missing(c, why, sizeof(why)))
		return tardis_make_error(err, ENOENT, "%s", why);
	if (criu_fits(c, req, criu_v, sizeof(criu_v), err) < 0)
		return -1;
	if (scratch_dir(c->store, c->cfg->state_dir, SCRATCH_RESTORE, c->ns, c->id, backup,
			sizeof(backup)) < 0 ||
	    scratch_dir(c->store, c->cfg->state_dir, SCRATCH_WORK, c->ns, c->id, work,
			sizeof(work)) < 0)
		return tardis_make_error(err, errno, "scratch dirs");
	bfd = open(backup, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	ifd = open(req->image_path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (bfd < 0 || ifd < 0)
		return tardis_make_error(err, errno, "open image");
	/* Leftovers of a restore that died halfway are undone first. */
	if (filediff_rollback(req->rootfs, bfd, err) < 0)
		return tardis_error_wrap(err, "undo an earlier restore");
	if (!req->rootfs_reused && filediff_apply(ifd, req->rootfs, bfd, err) < 0) {
		tardis_error_wrap(err, "apply saved files");
		undo(c, req, bfd);
		return -1;
	}
	crash_point("restore-applied");
	if (!req->rootfs_reused && sync_begin(req->rootfs, &flush, err) < 0) {
		undo(c, req, bfd);
		return -1;
	}
	if (run_runc_restore(c, req, work, criu_v[0] ? atoi(criu_v) : -1, err) < 0) {
		sync_end(flush, NULL);
		undo(c, req, bfd);
		return -1;
	}
	crash_point("restore-runc-done");
	if (sync_end(flush, err) < 0) {
		undo(c, req, bfd);
		return -1;
	}
	commit(c, bfd);
	return 0;
}
