/*
 * create: for an enabled container (its config.json opts in), restore from
 * its valid image when there is one, else a fresh `runc create`; either
 * way the init is registered with the exit monitor.  Anything tardis
 * cannot set up leaves the create to runc unchanged.
 */
#include "shim.h"
#include "cleanup.h"
#include "baseline.h"
#include "container_state.h"
#include "crashpoint.h"
#include "deadline.h"
#include "exit_record.h"
#include "failure_count.h"
#include "identity.h"
#include "image.h"
#include "image_roots.h"
#include "log.h"
#include "mountinfo.h"
#include "netns.h"
#include "oci_config.h"
#include "restore.h"
#include "scratch.h"
#include "skip_start.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

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

	if (shim_open_store(s) < 0)
		return -1;
	snprintf(rel, sizeof(rel), SCRATCH_RESTORE "/%s/%s", s->args.ns, s->args.id);
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

/* What a create decided, for state.json and the restore. */
struct create_info {
	char bundle[PATH_MAX];
	char image_path[PATH_MAX];
	char work_dir[PATH_MAX];
	struct tardis_settings set;
	/* With an identity: the lease record this create replaced, and its
	 * own (lease.h). */
	struct lease lease_prev, lease;
	/* The last container of this id exited 0, but its image could not be
	 * removed then (state.json purge_pending): removed now, not restored. */
	int purge_pending;
};

/* What the create learned of the network filesystem, in a helper that a
 * hang cannot hold (deadline.h): whether tardis manages the container,
 * and what to do with its image. */
struct reach {
	int managed; /* 0: runc gets the create unchanged (refused, lease busy, no work dir) */
	int valid;   /* -1 no image; 0 invalid or another's; 1 restore it; 2 guard tripped */
	char reason[512];
	struct image_report rep;
	struct lease lease_prev, lease;
};

static int note_create(cJSON *st, void *arg)
{
	const struct create_info *c = arg;
	char when[64];

	rfc3339_format(time_realtime_ns(), when, sizeof(when));
	cjson_set_str(st, "bundle", c->bundle);
	cjson_set_str(st, "rootfs", c->set.rootfs);
	cjson_set_str(st, "image_path", c->image_path);
	cjson_set_str(st, "work_dir", c->work_dir);
	cjson_set_bool(st, "checkpoint_on_stop", c->set.checkpoint_on_stop);
	cjson_set_str(st, "netns_path", c->set.netns == NETNS_PATH ? c->set.netns_path : "");
	cjson_set_bool(st, "tcp_established", c->set.tcp_established);
	cjson_set_bool(st, "cri", c->set.cri != CRI_NONE);
	cjson_set_str(st, "identity", c->set.identity);
	cjson_set_str(st, "created_at", when);
	cjson_set_bool(st, "skip_start", 0);
	cjson_set_bool(st, "skip_resume", 0);
	cJSON_DeleteItemFromObjectCaseSensitive(st, "refused");
	cJSON_DeleteItemFromObjectCaseSensitive(st, "purge_pending");
	return 0;
}

/* A create refused (image_roots): only why and when, for tardisctl show;
 * the shim's other subcommands leave such a container to runc
 * (shim_load_state). */
static int note_refused(cJSON *st, void *arg)
{
	char when[64];

	rfc3339_format(time_realtime_ns(), when, sizeof(when));
	cjson_set_str(st, "refused", arg);
	cjson_set_str(st, "created_at", when);
	return 0;
}

struct restore_result {
	int restored;
	int skip_start_in_state; /* skip_start.h's file could not be left */
	uint64_t duration_ms;
	const char *reason;
	const struct image_report *rep; /* the image restored from */
};

static int note_restore(cJSON *st, void *arg)
{
	const struct restore_result *r = arg;
	cJSON *l = cjson_object(st, "last_restore");
	char when[64];

	rfc3339_format(time_realtime_ns(), when, sizeof(when));
	cjson_set_str(l, "at", when);
	cjson_set_str(l, "result", r->restored ? "restored" : "fell back");
	cjson_set_num(l, "duration_ms", (double)r->duration_ms);
	cjson_set_str(l, "reason", r->reason ? r->reason : "");
	if (r->restored) {
		cJSON *from = cjson_object(st, "restored_from");

		/* The container (maybe another pod's, another node's) that
		 * wrote the image. */
		cjson_set_str(from, "namespace", r->rep->ns);
		cjson_set_str(from, "id", r->rep->id);
		cjson_set_str(from, "node", r->rep->node);
		cjson_set_str(from, "created_at", r->rep->created_at);
		if (r->skip_start_in_state)
			cjson_set_bool(st, "skip_start", 1);
		cjson_set_num(st, "restores", cjson_get_num(st, "restores", 0) + 1);
	} else {
		/* last_restore is overwritten by the next one; this stays. */
		cJSON *f = cjson_object(st, "last_restore_failure");

		cjson_set_str(f, "at", when);
		cjson_set_str(f, "reason", r->reason && *r->reason ? r->reason : "unknown");
		cjson_set_num(st, "restore_failures", cjson_get_num(st, "restore_failures", 0) + 1);
	}
	return 0;
}

/* The container's work dir (made by the reach) added to its config.json
 * as a mount.  0, or -1 (logged). */
static int add_work_dir(struct shim *s, struct create_info *ci, cJSON *config)
{
	cleanup_error tardis_error_t err = NULL;
	int r;

	if (!ci->work_dir[0])
		return 0;
	r = oci_config_add_workdir(config, &ci->set, ci->work_dir, &err);
	if (r < 0 || (r == 1 && oci_config_write(ci->bundle, config, &err) < 0)) {
		log_error("create %s/%s: %s", s->args.ns, s->args.id, tardis_error_msg(err));
		return -1;
	}
	return 0;
}

/* An identity is one container's at a time, on one node (identity.h): a
 * create whose identity another live container holds starts fresh
 * without tardis, as does one whose lease cannot be read or written.
 * 0 ours; -1 (logged) runc gets the create. */
static int claim_identity(struct shim *s, struct create_info *ci)
{
	cleanup_error tardis_error_t err = NULL;
	char why[512] = "";
	uint64_t t0 = monotonic_ns();
	enum lease_verdict v;
	unsigned long long ms;
	struct lease cur;

	if (lease_read(ci->image_path, &cur, &err) == 1 && cur.state == LEASE_CHECKPOINTING)
		log_info("create %s/%s: identity %s is being checkpointed by %s/%s on node %s: "
			 "waiting for its image (restore_wait %d s)",
			 s->args.ns, s->args.id, ci->set.identity, cur.ns, cur.id, cur.node,
			 s->cfg.restore_wait);
	v = identity_claim(shim_runc_call(s), ci->image_path, &ci->lease_prev, &ci->lease, why,
			   sizeof(why));
	ms = (monotonic_ns() - t0) / 1000000;

	if (v == LEASE_GRANTED) {
		if (ci->lease_prev.seq)
			log_info("create %s/%s: identity %s is ours (lease %llu; it was %s by %s/%s "
				 "on node %s; waited %llu ms)",
				 s->args.ns, s->args.id, ci->set.identity,
				 (unsigned long long)ci->lease.seq,
				 lease_state_name(ci->lease_prev.state), ci->lease_prev.ns,
				 ci->lease_prev.id, ci->lease_prev.node, ms);
		return 0;
	}
	log_warn("create %s/%s: identity %s: %s; starting fresh without tardis", s->args.ns,
		 s->args.id, ci->set.identity, why[0] ? why : "lease refused");
	return -1;
}

/* The host paths the container named are honoured only inside
 * image_roots (image_roots.h): else the create is runc's, unmanaged, and
 * state.json says why.  0 allowed; -1 (logged) refused. */
static int check_image_roots(struct shim *s, const struct create_info *ci)
{
	cleanup_error tardis_error_t err = NULL;
	const char *paths[] = { ci->set.networkfs, ci->set.checkpoint_host_path,
				ci->image_path, ci->work_dir };
	char why[4096];

	if (!ci->set.networkfs[0] && !ci->set.checkpoint_host_path[0])
		return 0; /* the state dir's own image path */
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		if (!paths[i][0] || image_root_check(&s->cfg, paths[i], why, sizeof(why)) == 0)
			continue;
		log_warn("create %s/%s: refused: %s; passed to runc unmanaged", s->args.ns,
			 s->args.id, why);
		if (cstate_update(&s->store, s->args.ns, s->args.id, CSTATE_CREATE, note_refused, why, &err) < 0)
			log_warn("create %s/%s: state: %s", s->args.ns, s->args.id,
				 tardis_error_msg(err));
		return -1;
	}
	return 0;
}

static int create_reach(struct shim *s, struct create_info *ci, struct reach *r);

/* state.json's purge_pending (delete.c), of the last container of this id. */
static int purge_pending(struct shim *s)
{
	cleanup_error tardis_error_t err = NULL;
	cleanup_json cJSON *st = NULL;

	return cstate_load(&s->store, s->args.ns, s->args.id, &st, &err) == 0 &&
	       cjson_get_bool(st, "purge_pending");
}

/* Is the create tardis's, and can tardis set it up?  0: ci and r filled
 * and the state recorded, the create lock in *lock; -1: runc gets it
 * unchanged; -2: the network filesystem did not answer (logged). */
static int create_prepare(struct shim *s, struct create_info *ci, struct reach *r, int *lock)
{
	const char *bundle_opt = runc_args_opt(&s->args, "bundle");
	cleanup_error tardis_error_t err = NULL;
	cleanup_json cJSON *config = NULL;

	if (bundle_opt)
		snprintf(ci->bundle, sizeof(ci->bundle), "%s", bundle_opt);
	else if (!getcwd(ci->bundle, sizeof(ci->bundle)))
		return -1;
	if (oci_settings_load(ci->bundle, &ci->set, &config, &err) < 0) {
		log_warn("create %s: %s: not handled", s->args.id, tardis_error_msg(err));
		return -1;
	}
	if (!ci->set.enabled)
		return -1;
	log_info("intercepted: create %s/%s (bundle %s)", s->args.ns, s->args.id, ci->bundle);
	if (!store_id_valid(s->args.ns) || !store_id_valid(s->args.id)) {
		log_error("create: refusing namespace/id `%.64s`/`%.64s`", s->args.ns, s->args.id);
		return -1;
	}
	*lock = create_lock(s);
	if (*lock < 0)
		return -1;
	deadline_close_in_helpers(*lock); /* a reach left behind must not hold it */
	if (runc_has_container(s)) {
		log_warn("create %s/%s: runc already has a container with this id: passed to runc",
			 s->args.ns, s->args.id);
		return -1;
	}
	if (shim_open_store(s) < 0 || !ci->set.rootfs[0] ||
	    settings_image_path(&ci->set, s->cfg.state_dir, s->args.ns, s->args.id,
				ci->image_path, sizeof(ci->image_path)) < 0 ||
	    settings_work_dir(&ci->set, s->args.ns, s->args.id, ci->work_dir,
			      sizeof(ci->work_dir)) < 0) {
		log_error("create %s/%s: cannot set up tardis; plain create", s->args.ns, s->args.id);
		return -1;
	}
	ci->purge_pending = purge_pending(s);
	/* (An image elsewhere is reached by forked helpers: deadline.h.) */
	if (!ci->set.networkfs[0] && !ci->set.checkpoint_host_path[0])
		image_preload_for_restore(&s->store, ci->image_path);
	if (create_reach(s, ci, r) < 0)
		return -2;
	if (!r->managed || add_work_dir(s, ci, config) < 0)
		return -1;
	/* Not waited for on disk (~0.75 ms here, in every create): the state
	 * serves this boot -- the container does not outlive a power loss,
	 * and the create that brings it back writes it again.  What must
	 * survive one has its own durable write: the image, the lease, the
	 * exit journal, the failure count. */
	if (cstate_update(&s->store, s->args.ns, s->args.id, CSTATE_CREATE | CSTATE_NO_SYNC,
			  note_create, ci, &err) < 0) {
		log_error("create %s/%s: state: %s", s->args.ns, s->args.id, tardis_error_msg(err));
		return -1;
	}
	/* An earlier restore's, never started. */
	if (skip_start_take(&s->store, s->args.ns, s->args.id, &err) < 0)
		tardis_error_log_release(TARDIS_LOG_WARN, "create: skip_start", &err);
	return 0;
}

/* Established connections are kept only where their addresses can be:
 * opted in, and back on the node that made the image.  Elsewhere they are
 * closed (the peer sees a reset and reconnects) rather than fail the
 * whole restore on an address this node does not have. */
static int keep_connections(const struct shim *s, const struct create_info *ci,
			    const struct image_report *rep)
{
	if (!ci->set.tcp_established)
		return 0;
	if (rep->node[0] && strcmp(rep->node, config_node_name(&s->cfg)) == 0)
		return 1;
	log_info("create %s/%s: image made on node %s, not here: its TCP connections are closed",
		 s->args.ns, s->args.id, rep->node[0] ? rep->node : "(unknown)");
	return 0;
}

/* runc_call + restore_request of this create: the restore engine runs
 * tardis-runc itself as CRIU's action script (criu_action.c). */
static int restore_from(struct shim *s, const struct create_info *ci,
			const struct image_report *rep, tardis_error_t *why)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	struct restore_request req = { .bundle = ci->bundle,
				       .rootfs = ci->set.rootfs,
				       .image_path = ci->image_path,
				       .rootfs_reused = strcmp(rep->rootfs_kind, IMAGE_ROOTFS_REUSED) == 0,
				       .keep_tcp = keep_connections(s, ci, rep),
				       .netns_path = ci->set.netns == NETNS_PATH ? ci->set.netns_path
										  : NULL,
				       .own_netns = ci->set.netns == NETNS_OWN,
				       .criu_version = rep->criu_version[0] ? rep->criu_version : NULL };

	if (n > 0) {
		self[n] = '\0';
		req.action_script = self;
	}
	return restore_container(shim_runc_call(s), &req, why);
}

/* A fresh start in a network namespace given by path after an image was
 * there but not restored: CRIU's network lock from that image's dump is
 * still in the namespace (only a successful restore lifts it), and would
 * cut the new container, and its pod, off. */
static void drop_criu_lock(struct shim *s, const struct create_info *ci)
{
	cleanup_error tardis_error_t err = NULL;
	int r;

	if (ci->set.netns != NETNS_PATH)
		return;
	r = netns_criu_unlock(ci->set.netns_path, &err);
	if (r > 0)
		log_info("create %s/%s: removed CRIU's network lock from netns %s", s->args.ns,
			 s->args.id, ci->set.netns_path);
	else if (r < 0)
		log_warn("create %s/%s: CRIU's network lock in netns %s: %s", s->args.ns,
			 s->args.id, ci->set.netns_path, tardis_error_msg(err));
}

/* An image is a container's when it was made under the same key: the
 * same identity (by any container of it: Kubernetes gives each one a new
 * id), or without one, by the same namespace/id. */
static int image_is_mine(const struct shim *s, const struct create_info *ci,
			 const struct image_report *rep, char *reason, size_t len)
{
	struct utsname un;

	/* CRIU restores only onto the architecture it dumped on (a pod may
	 * come back on another kind of node). */
	if (rep->arch[0] && uname(&un) == 0 && strcmp(rep->arch, un.machine) != 0) {
		snprintf(reason, len, "manifest: image of a %s node, this one is %s", rep->arch,
			 un.machine);
		return 0;
	}
	if (ci->set.identity[0] ? strcmp(rep->identity, ci->set.identity) == 0
				: !rep->identity[0] && strcmp(rep->ns, s->args.ns) == 0 &&
					  strcmp(rep->id, s->args.id) == 0)
		return 1;
	if (rep->identity[0])
		snprintf(reason, len, "manifest: image of identity %.200s", rep->identity);
	else
		snprintf(reason, len, "manifest: image of %.100s/%.100s", rep->ns, rep->id);
	return 0;
}

/* The crash-loop guard: 1 (reason set) when restores of this image ended
 * in a non-zero exit max_restore_attempts times in a row: a poisoned
 * checkpoint must not crash-loop a pod forever. */
static int crash_guard(struct shim *s, const struct create_info *ci,
		       const struct image_report *rep, char *reason, size_t len)
{
	char key[sizeof(ci->lease.image)];

	identity_image_key(rep, key, sizeof(key));
	if (!identity_guard_tripped(shim_runc_call(s), &ci->lease, key))
		return 0;
	snprintf(reason, len,
		 "%d restores of image %s ended in a non-zero exit (max_restore_attempts %d)",
		 ci->lease.failed_restores, key, s->cfg.max_restore_attempts);
	return 1;
}

/* The image: -1 none (or refused), 0 invalid or not this container's,
 * 1 to be restored, 2 good but the crash-loop guard says no; reason set
 * for 0 and 2.  Runs in the reach. */
static int image_verdict(struct shim *s, const struct create_info *ci, struct image_report *rep,
			 char *reason, size_t len)
{
	int valid;

	if (runc_call_image_safe(shim_runc_call(s), ci->image_path, 0) < 0)
		return -1; /* none there, or refused: a fresh create */
	image_cleanup_siblings(ci->image_path);
	valid = image_validate_flags(ci->image_path, IMAGE_TRUST_SEALED, rep);
	if (valid == 1 && !image_is_mine(s, ci, rep, reason, len))
		return 0; /* never another container's image */
	if (valid == 1 && ci->set.identity[0] && crash_guard(s, ci, rep, reason, len))
		return 2; /* a good image, but not again */
	if (valid == 0)
		image_report_reason(rep, reason, len);
	return valid;
}

/* The image and work dir the last container of this id left when it
 * exited 0 (the network filesystem did not answer its delete). */
static void purge_finished(struct shim *s, const struct create_info *ci)
{
	cleanup_error tardis_error_t err = NULL;

	log_info("create %s/%s: the last container of this id exited 0: removing its image %s",
		 s->args.ns, s->args.id, ci->image_path);
	if (image_remove(ci->image_path, &err) < 0)
		tardis_error_log_release(TARDIS_LOG_WARN, "remove image", &err);
	if (ci->work_dir[0] && image_remove(ci->work_dir, &err) < 0)
		tardis_error_log_release(TARDIS_LOG_WARN, "remove work dir", &err);
}

struct reach_arg {
	struct shim *s;
	struct create_info *ci;
};

/* The helper's part: everything of the create that touches a path the
 * container named (its image root, lease, work dir, image). */
static int reach_fn(void *arg, void *out, size_t cap, size_t *len)
{
	struct reach_arg *a = arg;
	struct create_info *ci = a->ci;
	struct reach *r = out;
	char why[4096];

	if (cap < sizeof(*r))
		return -ENOSPC;
	memset(r, 0, sizeof(*r));
	*len = sizeof(*r);
	if (check_image_roots(a->s, ci) < 0)
		return 0;
	if (ci->set.identity[0] && claim_identity(a->s, ci) < 0)
		return 0;
	r->lease_prev = ci->lease_prev;
	r->lease = ci->lease;
	deadline_alive();
	if (ci->purge_pending)
		purge_finished(a->s, ci);
	/* Made from its image root down, through no symlink (image_roots.h). */
	if (ci->work_dir[0] && image_root_mkdir(&a->s->cfg, ci->work_dir, 0755, why, sizeof(why)) < 0) {
		log_error("create %s/%s: work dir: %s", a->s->args.ns, a->s->args.id, why);
		return 0;
	}
	deadline_alive();
	r->valid = image_verdict(a->s, ci, &r->rep, r->reason, sizeof(r->reason));
	r->managed = 1;
	return 0;
}

/* Runs reach_fn with the network filesystem deadline.  0 (r filled), or
 * -1 when it did not answer in time (logged, the helper left behind). */
static int create_reach(struct shim *s, struct create_info *ci, struct reach *r)
{
	cleanup_error tardis_error_t err = NULL;
	struct reach_arg a = { s, ci };
	char what[PATH_MAX + 64];
	size_t len = 0;
	int ms = deadline_networkfs_ms(s->cfg.networkfs_timeout);

	if (!ci->set.networkfs[0] && !ci->set.checkpoint_host_path[0]) {
		reach_fn(&a, r, sizeof(*r), &len); /* the state dir's own: local */
	} else {
		snprintf(what, sizeof(what), "the network filesystem (%s)",
			 ci->set.networkfs[0] ? ci->set.networkfs : ci->set.checkpoint_host_path);
		if (deadline_run(what, ms, reach_fn, &a, r, sizeof(*r), &len, NULL, &err) < 0 ||
		    len != sizeof(*r)) {
			log_error("create %s/%s: %s", s->args.ns, s->args.id, tardis_error_msg(err));
			return -1;
		}
	}
	ci->lease_prev = r->lease_prev;
	ci->lease = r->lease;
	return 0;
}

/* Restores from the image when the reach found it valid and this
 * container's.  1 restored; 0 fresh create needed (the outcome recorded
 * when there was an image). */
static int create_from_image(struct shim *s, struct create_info *ci, struct reach *r)
{
	const struct runc_call *call = shim_runc_call(s);
	cleanup_error tardis_error_t err = NULL;
	struct image_report rep = r->rep;
	struct restore_result rr = { .rep = &rep };
	char *reason = r->reason;
	int valid = r->valid;

	crash_point("restore-validated");
	if (valid == 0) {
		log_warn("create %s/%s: image %s is invalid (%s): kept for inspection, starting fresh",
			 s->args.ns, s->args.id, ci->image_path, reason);
	} else if (valid == 2) {
		log_warn("create %s/%s: crash-loop guard: %s; starting fresh, the image kept",
			 s->args.ns, s->args.id, reason);
	} else if (valid == 1) {
		cleanup_error tardis_error_t why = NULL;
		uint64_t t0 = monotonic_ns();

		rr.restored = restore_from(s, ci, &rep, &why) == 0;
		rr.duration_ms = (monotonic_ns() - t0) / 1000000;
		if (rr.restored && ci->set.identity[0]) {
			char key[sizeof(ci->lease.image)];

			identity_image_key(&rep, key, sizeof(key));
			identity_note_restore(call, ci->image_path, &ci->lease, key);
		}
		if (rr.restored) {
			log_info("create %s/%s: restored from %s in %llu ms", s->args.ns, s->args.id,
				 ci->image_path, (unsigned long long)rr.duration_ms);
			if (skip_start_set(&s->store, s->args.ns, s->args.id, &err) < 0) {
				tardis_error_log_release(TARDIS_LOG_WARN, "create: skip_start", &err);
				rr.skip_start_in_state = 1;
			}
			/* This boot's, as note_create's. */
			cstate_update(&s->store, s->args.ns, s->args.id, CSTATE_NO_SYNC, note_restore,
				      &rr, &err);
			return 1;
		}
		snprintf(reason, sizeof(r->reason), "%s", tardis_error_msg(why));
		log_warn("create %s/%s: restore failed, starting fresh: %s", s->args.ns, s->args.id,
			 reason);
	}
	if (valid >= 0) {
		rr.reason = reason;
		cstate_update(&s->store, s->args.ns, s->args.id, 0, note_restore, &rr, &err);
		tardis_error_free(&err);
		if (failure_count_add(&s->store, -1, &err) < 0)
			tardis_error_log_release(TARDIS_LOG_WARN, "count restore failure", &err);
		drop_criu_lock(s, ci);
	}
	return 0;
}

/* The original create, run by tardis so the init can be registered. */
static enum shim_result create_fresh(struct shim *s, int *exit_code)
{
	cleanup_argv struct argv_buf a = { 0 };
	cleanup_error tardis_error_t err = NULL;
	int st;

	if (argv_push(&a, s->runc) < 0)
		return SHIM_PASS_THROUGH;
	for (int i = 1; i < s->args.argc; i++)
		argv_push(&a, s->argv[i]);
	st = run_wait_logged(a.v, 0, 0, NULL, &err);
	if (st < 0) {
		log_error("create %s/%s: %s", s->args.ns, s->args.id, tardis_error_msg(err));
		return SHIM_PASS_THROUGH;
	}
	if (st == 0)
		shim_register_init(s, runc_args_opt(&s->args, "pid-file"));
	*exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	return SHIM_DONE;
}

/* A rootfs that is a mount but no overlay (a snapshotter's fresh copy of
 * the image: native, btrfs, zfs, devmapper) gets its baseline recorded
 * now, before any saved file is applied: what the checkpoint compares it
 * with to find what the container changed (baseline.h).  Without one, no
 * checkpoint will stop the container (checkpoint.c). */
static void record_baseline(struct shim *s, const struct create_info *ci)
{
	cleanup_error tardis_error_t err = NULL;
	cleanup_close int dfd = -1;
	char fstype[64];
	size_t n = 0;
	uint64_t t0;

	if (mountinfo_fstype(ci->set.rootfs, fstype, sizeof(fstype)) != 1 ||
	    strcmp(fstype, "overlay") == 0)
		return;
	t0 = monotonic_ns();
	dfd = store_container_dir(&s->store, s->args.ns, s->args.id, 0, &err);
	if (dfd >= 0)
		unlinkat(dfd, BASELINE_FILE, 0); /* never an earlier container's */
	if (dfd < 0 || baseline_record(ci->set.rootfs, dfd, BASELINE_FILE, &n, &err) < 0) {
		log_warn("create %s/%s: rootfs %s (%s): %s; its checkpoints will be refused",
			 s->args.ns, s->args.id, ci->set.rootfs, fstype, tardis_error_msg(err));
		return;
	}
	log_info("create %s/%s: rootfs %s is a %s mount: baseline of %zu entries in %llu ms",
		 s->args.ns, s->args.id, ci->set.rootfs, fstype, n,
		 (unsigned long long)((monotonic_ns() - t0) / 1000000));
}

/* The network filesystem did not answer: a container that needs it (its
 * work dir is a bind mount from it) cannot be created, and the error says
 * so, as kubelet reports a volume it cannot mount; one that does not
 * starts without tardis. */
static enum shim_result create_unreachable(struct shim *s, const struct create_info *ci,
					   int *exit_code)
{
	if (!ci->work_dir[0]) {
		log_warn("create %s/%s: starting fresh without tardis", s->args.ns, s->args.id);
		return SHIM_PASS_THROUGH;
	}
	char msg[PATH_MAX + 128];

	log_error("create %s/%s: failed: its work dir %s is on a network filesystem that does "
		  "not answer", s->args.ns, s->args.id, ci->work_dir);
	snprintf(msg, sizeof(msg), "work dir %s: the network filesystem did not answer within %d ms",
		 ci->work_dir, deadline_networkfs_ms(s->cfg.networkfs_timeout));
	shim_runc_error(s, msg);
	*exit_code = 1;
	return SHIM_DONE;
}

enum shim_result handle_create(struct shim *s, int *exit_code)
{
	cleanup_close int lock = -1;
	struct create_info ci = { 0 };
	struct reach r = { 0 };
	int p = create_prepare(s, &ci, &r, &lock);

	if (p == -2)
		return create_unreachable(s, &ci, exit_code);
	if (p < 0)
		return SHIM_PASS_THROUGH;
	record_baseline(s, &ci);
	if (create_from_image(s, &ci, &r)) {
		shim_register_init(s, runc_args_opt(&s->args, "pid-file"));
		*exit_code = 0;
		return SHIM_DONE;
	}
	/* A fresh create, then the init is registered. */
	return create_fresh(s, exit_code);
}
