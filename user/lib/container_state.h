/*
 * containers/<ns>/<id>/state.json: what tardis knows of an enabled
 * container (bundle, settings, image path, init, flags, history).
 * Every change is a read-modify-write under the container's lock.
 */
#ifndef TARDIS_CONTAINER_STATE_H
#define TARDIS_CONTAINER_STATE_H

#include <stdint.h>
#include "error.h"
#include "state.h"

struct cJSON;

typedef int (*cstate_fn)(struct cJSON *state, void *arg);

/* Under the lock already held on dfd's container. */
int cstate_update_locked(int dfd, cstate_fn fn, void *arg, int durable, tardis_error_t *err);
/* cstate_update's flags: make the container if absent; write without
 * syncing (a state that, lost to a power loss, is rewritten anyway). */
#define CSTATE_CREATE 1
#define CSTATE_NO_SYNC 2
/* Takes the lock, updates, releases. */
int cstate_update(struct tardis_store *s, const char *ns, const char *id, int flags,
		  cstate_fn fn, void *arg, tardis_error_t *err);
/* *out = the parsed state (caller frees); -1 with errnum ENOENT if none. */
int cstate_load(struct tardis_store *s, const char *ns, const char *id, struct cJSON **out,
		tardis_error_t *err);

/* Small accessors that tolerate a missing or mistyped field. */
int cjson_get_bool(const struct cJSON *o, const char *k);
double cjson_get_num(const struct cJSON *o, const char *k, double dflt);
const char *cjson_get_str(const struct cJSON *o, const char *k);
/* Integers checked before the cast (out of range is undefined in C):
 * dflt also when the number does not fit. */
int cjson_get_int(const struct cJSON *o, const char *k, int dflt);
uint64_t cjson_get_u64(const struct cJSON *o, const char *k, uint64_t dflt);
void cjson_set_num(struct cJSON *o, const char *k, double v);
void cjson_set_str(struct cJSON *o, const char *k, const char *v);
void cjson_set_bool(struct cJSON *o, const char *k, int v);
/* o[k] as an object, created (replacing a non-object) when missing. */
struct cJSON *cjson_object(struct cJSON *o, const char *k);

#endif
