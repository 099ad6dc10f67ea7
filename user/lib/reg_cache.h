/*
 * The agent's registrations in memory: (pid, start time) -> namespace/id,
 * filled as tardis-runc registers (the agent watches the pid index) so
 * that an exit's lookup reads no file.  A hint, never the truth: a miss
 * is looked up in the pid index, and a hit is still checked against the
 * container's state (its current init) before anything is recorded.
 * Safe to use from the event loop and the commit thread at once.
 */
#ifndef TARDIS_REG_CACHE_H
#define TARDIS_REG_CACHE_H

#include "registry.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct reg_cache;

struct reg_cache *reg_cache_new(void);
void reg_cache_free(struct reg_cache *c);
/* Adds or replaces r's entry; -1 out of memory (the entry is then absent). */
int reg_cache_put(struct reg_cache *c, const struct registration *r);
/* 1 and *out when (pid, start_time) is there, else 0. */
int reg_cache_get(struct reg_cache *c, pid_t pid, uint64_t start_time, struct registration *out);
void reg_cache_drop(struct reg_cache *c, pid_t pid, uint64_t start_time);
/* Everything forgotten (events were lost: what is left may be stale). */
void reg_cache_clear(struct reg_cache *c);
size_t reg_cache_count(struct reg_cache *c);

/* "pid.start_time", a pid index entry's name, parsed; -1 for any other. */
int reg_cache_parse_name(const char *name, pid_t *pid, uint64_t *start_time);

#endif
