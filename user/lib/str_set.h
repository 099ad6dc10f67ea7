/*
 * A set of strings, safe to use from several threads at once: the agent's
 * log lines known to be written (agent.c), asked for instead of reading
 * the log's tail again for each.
 */
#ifndef TARDIS_STR_SET_H
#define TARDIS_STR_SET_H

#include <stddef.h>

struct str_set;

struct str_set *str_set_new(void);
void str_set_free(struct str_set *s);
/* 0 (added, or there already), -1 out of memory. */
int str_set_add(struct str_set *s, const char *key);
int str_set_has(struct str_set *s, const char *key);
void str_set_del(struct str_set *s, const char *key);
void str_set_clear(struct str_set *s);
size_t str_set_count(struct str_set *s);

#endif
