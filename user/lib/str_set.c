#include "str_set.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Chained buckets, doubled when the entries outnumber them. */
struct node {
	struct node *next;
	uint64_t hash;
	char key[];
};

struct str_set {
	pthread_mutex_t mu;
	struct node **b;
	size_t nb; /* a power of two */
	size_t n;
};

#define INITIAL_BUCKETS 64

/* FNV-1a. */
static uint64_t hash_of(const char *k)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (; *k; k++)
		h = (h ^ (unsigned char)*k) * 0x100000001b3ull;
	return h;
}

struct str_set *str_set_new(void)
{
	struct str_set *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->b = calloc(INITIAL_BUCKETS, sizeof(*s->b));
	if (!s->b) {
		free(s);
		return NULL;
	}
	s->nb = INITIAL_BUCKETS;
	pthread_mutex_init(&s->mu, NULL);
	return s;
}

static void drop_all(struct str_set *s)
{
	for (size_t i = 0; i < s->nb; i++) {
		while (s->b[i]) {
			struct node *n = s->b[i];

			s->b[i] = n->next;
			free(n);
		}
	}
	s->n = 0;
}

void str_set_free(struct str_set *s)
{
	if (!s)
		return;
	drop_all(s);
	free(s->b);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

/* The link that points at key's node (or the bucket's last, NULL). */
static struct node **find(struct str_set *s, const char *key, uint64_t h)
{
	struct node **p = &s->b[h & (s->nb - 1)];

	while (*p && ((*p)->hash != h || strcmp((*p)->key, key) != 0))
		p = &(*p)->next;
	return p;
}

static void grow(struct str_set *s)
{
	size_t nb = s->nb * 2;
	struct node **b = calloc(nb, sizeof(*b));

	if (!b)
		return; /* longer chains, still correct */
	for (size_t i = 0; i < s->nb; i++) {
		while (s->b[i]) {
			struct node *n = s->b[i];

			s->b[i] = n->next;
			n->next = b[n->hash & (nb - 1)];
			b[n->hash & (nb - 1)] = n;
		}
	}
	free(s->b);
	s->b = b;
	s->nb = nb;
}

int str_set_add(struct str_set *s, const char *key)
{
	uint64_t h = hash_of(key);
	size_t len = strlen(key) + 1;
	struct node **p, *n;
	int ret = 0;

	pthread_mutex_lock(&s->mu);
	p = find(s, key, h);
	if (!*p) {
		n = malloc(sizeof(*n) + len);
		if (n) {
			n->next = NULL;
			n->hash = h;
			memcpy(n->key, key, len);
			*p = n;
			if (++s->n > s->nb)
				grow(s);
		} else {
			ret = -1;
		}
	}
	pthread_mutex_unlock(&s->mu);
	return ret;
}

int str_set_has(struct str_set *s, const char *key)
{
	int found;

	pthread_mutex_lock(&s->mu);
	found = *find(s, key, hash_of(key)) != NULL;
	pthread_mutex_unlock(&s->mu);
	return found;
}

void str_set_del(struct str_set *s, const char *key)
{
	struct node **p, *n;

	pthread_mutex_lock(&s->mu);
	p = find(s, key, hash_of(key));
	if (*p) {
		n = *p;
		*p = n->next;
		free(n);
		s->n--;
	}
	pthread_mutex_unlock(&s->mu);
}

void str_set_clear(struct str_set *s)
{
	pthread_mutex_lock(&s->mu);
	drop_all(s);
	pthread_mutex_unlock(&s->mu);
}

size_t str_set_count(struct str_set *s)
{
	size_t n;

	pthread_mutex_lock(&s->mu);
	n = s->n;
	pthread_mutex_unlock(&s->mu);
	return n;
}
