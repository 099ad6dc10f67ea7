#include "reg_cache.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Open addressing, linear probing; a removed slot is a tombstone until
 * the next growth.  Each entry owns "ns\0id\0" (exactly its length: a
 * node's 10,000 registrations take ~0.7 MB). */
struct slot {
	pid_t pid;        /* 0: empty */
	int dead;         /* a tombstone */
	uint64_t start_time;
	char *names;      /* "ns\0id\0" */
};

struct reg_cache {
	pthread_mutex_t mu;
	struct slot *s;
	size_t cap;   /* a power of two */
	size_t used;  /* live entries and tombstones */
	size_t live;
};

#define INITIAL_CAP 64

static size_t hash_of(pid_t pid, uint64_t start_time)
{
	uint64_t h = (uint64_t)(uint32_t)pid * 0x9e3779b97f4a7c15ull ^ start_time * 0xc2b2ae3d27d4eb4full;

	return (size_t)(h ^ (h >> 31));
}

struct reg_cache *reg_cache_new(void)
{
	struct reg_cache *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->s = calloc(INITIAL_CAP, sizeof(*c->s));
	if (!c->s) {
		free(c);
		return NULL;
	}
	c->cap = INITIAL_CAP;
	pthread_mutex_init(&c->mu, NULL);
	return c;
}

void reg_cache_free(struct reg_cache *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->cap; i++)
		free(c->s[i].names);
	free(c->s);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

/* The slot of (pid, start), or NULL; *free_slot: where it would go. */
static struct slot *find(struct reg_cache *c, pid_t pid, uint64_t start, struct slot **free_slot)
{
	size_t mask = c->cap - 1;

	if (free_slot)
		*free_slot = NULL;
	for (size_t i = hash_of(pid, start) & mask, n = 0; n < c->cap; i = (i + 1) & mask, n++) {
		struct slot *sl = &c->s[i];

		if (sl->pid == 0 && !sl->dead) {
			if (free_slot && !*free_slot)
				*free_slot = sl;
			return NULL;
		}
		if (sl->dead) {
			if (free_slot && !*free_slot)
				*free_slot = sl;
			continue;
		}
		if (sl->pid == pid && sl->start_time == start)
			return sl;
	}
	return NULL;
}

static int grow(struct reg_cache *c)
{
	size_t cap = c->live * 4 > c->cap ? c->cap * 2 : c->cap; /* else: tombstones only */
	struct slot *old = c->s, *s = calloc(cap, sizeof(*s));
	size_t old_cap = c->cap;

	if (!s)
		return -1;
	c->s = s;
	c->cap = cap;
	c->used = c->live = 0;
	for (size_t i = 0; i < old_cap; i++) {
		struct slot *to;

		if (!old[i].pid || old[i].dead)
			continue;
		find(c, old[i].pid, old[i].start_time, &to);
		*to = old[i];
		c->used++;
		c->live++;
	}
	free(old);
	return 0;
}

int reg_cache_put(struct reg_cache *c, const struct registration *r)
{
	size_t nl = strlen(r->ns), il = strlen(r->id);
	char *names = malloc(nl + il + 2);
	struct slot *sl, *to;
	int ret = 0;

	if (!names)
		return -1;
	memcpy(names, r->ns, nl + 1);
	memcpy(names + nl + 1, r->id, il + 1);
	pthread_mutex_lock(&c->mu);
	if ((c->used + 1) * 10 > c->cap * 7 && grow(c) < 0) {
		free(names);
		ret = -1;
	} else if ((sl = find(c, r->pid, r->start_time, &to))) {
		free(sl->names);
		sl->names = names;
	} else {
		if (!to->dead)
			c->used++;
		*to = (struct slot){ .pid = r->pid, .start_time = r->start_time, .names = names };
		c->live++;
	}
	pthread_mutex_unlock(&c->mu);
	return ret;
}

int reg_cache_get(struct reg_cache *c, pid_t pid, uint64_t start_time, struct registration *out)
{
	struct slot *sl;
	int hit = 0;

	if (pid <= 0)
		return 0;
	pthread_mutex_lock(&c->mu);
	sl = find(c, pid, start_time, NULL);
	if (sl) {
		size_t nl = strlen(sl->names);

		snprintf(out->ns, sizeof(out->ns), "%s", sl->names);
		snprintf(out->id, sizeof(out->id), "%s", sl->names + nl + 1);
		out->pid = pid;
		out->start_time = start_time;
		hit = 1;
	}
	pthread_mutex_unlock(&c->mu);
	return hit;
}

void reg_cache_drop(struct reg_cache *c, pid_t pid, uint64_t start_time)
{
	struct slot *sl;

	if (pid <= 0)
		return;
	pthread_mutex_lock(&c->mu);
	sl = find(c, pid, start_time, NULL);
	if (sl) {
		free(sl->names);
		*sl = (struct slot){ .dead = 1 };
		c->live--;
	}
	pthread_mutex_unlock(&c->mu);
}

void reg_cache_clear(struct reg_cache *c)
{
	pthread_mutex_lock(&c->mu);
	for (size_t i = 0; i < c->cap; i++) {
		free(c->s[i].names);
		c->s[i] = (struct slot){ 0 };
	}
	c->used = c->live = 0;
	pthread_mutex_unlock(&c->mu);
}

size_t reg_cache_count(struct reg_cache *c)
{
	size_t n;

	pthread_mutex_lock(&c->mu);
	n = c->live;
	pthread_mutex_unlock(&c->mu);
	return n;
}

int reg_cache_parse_name(const char *name, pid_t *pid, uint64_t *start_time)
{
	char *end;
	unsigned long long st;
	long p;

	if (name[0] < '1' || name[0] > '9')
		return -1;
	errno = 0;
	p = strtol(name, &end, 10);
	if (errno || *end != '.' || p <= 0 || p > INT_MAX || !end[1] || end[1] < '0' || end[1] > '9')
		return -1;
	st = strtoull(end + 1, &end, 10);
	if (errno || *end)
		return -1;
	*pid = (pid_t)p;
	*start_time = st;
	return 0;
}
