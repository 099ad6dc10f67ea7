#include "identity.h"
#include "deadline.h"
#include "cleanup.h"
#include "container_state.h"
#include "container_summary.h"
#include "image.h"
#include "log.h"
#include "proc.h"
#include "runc_call.h"
#include "util.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "<created_at> <ns>/<id>": the one spelling of an image's key. */
static void image_key(char *buf, size_t len, const char *created_at, const char *ns,
		      const char *id)
{
	snprintf(buf, len, "%s %s/%s", created_at, ns, id);
}

void identity_image_key(const struct image_report *rep, char *buf, size_t len)
{
	image_key(buf, len, rep->created_at, rep->ns, rep->id);
}

/* The same from state.json's restored_from ("" when not restored). */
static void restored_key(const cJSON *st, char *buf, size_t len)
{
	const cJSON *f = cJSON_GetObjectItemCaseSensitive(st, "restored_from");

	buf[0] = '\0';
	if (cJSON_IsObject(f))
		image_key(buf, len, cjson_get_str(f, "created_at") ?: "",
			  cjson_get_str(f, "namespace") ?: "", cjson_get_str(f, "id") ?: "");
}

int identity_owner_alive(const struct lease *owner, void *arg)
{
	struct tardis_store *s = arg;
	cleanup_error tardis_error_t err = NULL;
	cleanup_json cJSON *st = NULL;
	int pid;

	if (!store_id_valid(owner->ns) || !store_id_valid(owner->id) ||
	    cstate_load(s, owner->ns, owner->id, &st, &err) < 0)
		return 0; /* no such container here (any more) */
	pid = cjson_get_int(st, "init_pid", 0);
	return pid > 0 && proc_is_same(pid, cjson_get_u64(st, "init_start_time", 0));
}

int identity_lease_mine(const char *image_path, const char *node, const char *ns, const char *id,
			struct lease *out)
{
	cleanup_error tardis_error_t err = NULL;

	if (lease_read(image_path, out, &err) != 1)
		return 0;
	return (out->state == LEASE_RUNNING || out->state == LEASE_CHECKPOINTING) &&
	       strcmp(out->node, node) == 0 && strcmp(out->ns, ns) == 0 &&
	       strcmp(out->id, id) == 0;
}

/* Writes next over cur (lease_advance), logging what failed.  1 written. */
static int advance(const char *who_ns, const char *who_id, const char *image_path,
		   const struct lease *cur, struct lease *next, const char *what);

enum lease_verdict identity_claim(const struct runc_call *c, const char *image_path,
				  struct lease *prev, struct lease *mine, char *why, size_t len)
{
	struct lease_claim lc = { .node = config_node_name(c->cfg),
				  .ns = c->ns,
				  .id = c->id,
				  .timeout_s = c->cfg->lease_timeout,
				  .wait_s = c->cfg->restore_wait,
				  .alive = identity_owner_alive,
				  .arg = c->store };

	return lease_claim(image_path, &lc, prev, mine, why, len);
}

int identity_guard_tripped(const struct runc_call *c, const struct lease *mine, const char *key)
{
	return strcmp(mine->image, key) == 0 &&
	       mine->failed_restores >= c->cfg->max_restore_attempts;
}

void identity_note_restore(const struct runc_call *c, const char *image_path, struct lease *mine,
			   const char *key)
{
	struct lease next = *mine;

	if (strcmp(mine->image, key) == 0)
		return; /* the count goes on with the same image */
	snprintf(next.image, sizeof(next.image), "%s", key);
	next.failed_restores = 0;
	if (advance(c->ns, c->id, image_path, mine, &next, "restored"))
		*mine = next;
}


static int advance(const char *who_ns, const char *who_id, const char *image_path,
		   const struct lease *cur, struct lease *next, const char *what)
{
	cleanup_error tardis_error_t err = NULL;
	int r = lease_advance(image_path, cur, next, &err);

	if (r < 0)
		log_warn("%s/%s: lease %s: %s", who_ns, who_id, what, tardis_error_msg(err));
	else if (r == 0)
		log_warn("%s/%s: lease %s: another container took it meanwhile", who_ns, who_id,
			 what);
	return r == 1;
}

int identity_checkpoint_begin(const struct runc_call *c, const char *image_path,
			      struct lease *mine)
{
	cleanup_error tardis_error_t err = NULL;
	struct lease cur, next;
	int r = lease_read(image_path, &cur, &err);

	if (r < 0) {
		log_warn("%s/%s: lease: %s; checkpointing anyway", c->ns, c->id,
			 tardis_error_msg(err));
		return -1;
	}
	if (r == 1 && !(strcmp(cur.node, config_node_name(c->cfg)) == 0 && strcmp(cur.ns, c->ns) == 0 &&
			strcmp(cur.id, c->id) == 0)) {
		log_error("%s/%s: the identity's lease is %s/%s's on node %s (%s): its image is not "
			  "this container's to replace; no checkpoint",
			  c->ns, c->id, cur.ns, cur.id, cur.node, lease_state_name(cur.state));
		return 0;
	}
	if (r == 0) { /* none yet (made before leases): this container's from now */
		memset(&cur, 0, sizeof(cur));
		next = cur;
		snprintf(next.node, sizeof(next.node), "%s", config_node_name(c->cfg));
		snprintf(next.ns, sizeof(next.ns), "%s", c->ns);
		snprintf(next.id, sizeof(next.id), "%s", c->id);
	} else {
		next = cur;
	}
	/* A create elsewhere waits for it (restore_wait), then restores the
	 * image it publishes; a node that dies meanwhile lets it expire. */
	next.state = LEASE_CHECKPOINTING;
	next.timeout_s = c->cfg->checkpoint_timeout + c->cfg->lease_timeout;
	if (!advance(c->ns, c->id, image_path, &cur, &next, "checkpointing"))
		return -1;
	*mine = next;
	return 1;
}

void identity_checkpoint_end(const struct runc_call *c, const char *image_path,
			     struct lease *mine, int published, int64_t image_at_ns)
{
	struct lease next = *mine;

	next.timeout_s = c->cfg->lease_timeout;
	if (published) {
		char when[64];

		/* A new image: the crash-loop guard starts over with it. */
		rfc3339_format(image_at_ns, when, sizeof(when));
		next.state = LEASE_RELEASED;
		image_key(next.image, sizeof(next.image), when, c->ns, c->id);
		next.failed_restores = 0;
	} else {
		next.state = LEASE_RUNNING; /* still running: the old image stays */
	}
	advance(c->ns, c->id, image_path, mine, &next, published ? "release" : "running again");
}

void identity_release(const struct runc_call *c, const char *image_path, const cJSON *st,
		      int exit_known, int exit_status)
{
	cleanup_error tardis_error_t err = NULL;
	struct lease mine, next;
	char key[sizeof(mine.image)];

	if (!identity_lease_mine(image_path, config_node_name(c->cfg), c->ns, c->id, &mine))
		return;
	if (exit_known && exit_status == 0) {
		if (lease_remove(image_path, &err) < 0)
			log_warn("%s/%s: remove lease: %s", c->ns, c->id, tardis_error_msg(err));
		return;
	}
	next = mine;
	next.state = LEASE_RELEASED;
	restored_key(st, key, sizeof(key));
	if (exit_known && key[0] && strcmp(key, mine.image) == 0) {
		next.failed_restores++;
		log_warn("%s/%s: exited with %d after a restore of image %s: %d such restore(s) in a "
			 "row (max_restore_attempts %d)",
			 c->ns, c->id, exit_status, key, next.failed_restores,
			 c->cfg->max_restore_attempts);
	}
	advance(c->ns, c->id, image_path, &mine, &next, "release");
}

/* One container of the store: its lease renewed when it holds it and
 * its init runs.  1 renewed. */
static int renew_one(struct tardis_store *s, const char *ns, const char *id, const char *node)
{
	cleanup_error tardis_error_t err = NULL;
	cleanup_json cJSON *st = NULL;
	const char *identity, *image_path;
	struct lease mine;
	int pid, r;

	if (cstate_load(s, ns, id, &st, &err) < 0)
		return 0;
	identity = cjson_get_str(st, "identity");
	image_path = cjson_get_str(st, "image_path");
	pid = cjson_get_int(st, "init_pid", 0);
	if (!identity || !*identity || !image_path || pid <= 0 ||
	    !proc_is_same(pid, cjson_get_u64(st, "init_start_time", 0)))
		return 0;
	if (lease_read(image_path, &mine, &err) != 1 || mine.state != LEASE_RUNNING ||
	    strcmp(mine.node, node) != 0 || strcmp(mine.ns, ns) != 0 || strcmp(mine.id, id) != 0)
		return 0;
	r = lease_renew(image_path, &mine, &err);
	if (r < 0)
		log_warn("%s/%s: renew lease of %s: %s", ns, id, identity, tardis_error_msg(err));
	else if (r == 0)
		log_warn("%s/%s: lease of %s lost: another container took it", ns, id, identity);
	return r == 1;
}

int identity_renew_all(struct tardis_store *s, const char *node)
{
	cleanup_error tardis_error_t err = NULL;
	cleanup_free struct container_ref *refs = NULL;
	size_t n = 0;
	int renewed = 0;

	if (container_list(s, &refs, &n, &err) < 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		renewed += renew_one(s, refs[i].ns, refs[i].id, node);
		deadline_alive(); /* in tardisd's helper: one answered */
	}
	return renewed;
}
