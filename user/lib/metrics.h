/*
 * Prometheus text exposition format (version 0.0.4) for node_exporter's
 * textfile collector: counters, gauges and histograms written into a
 * buffer, then into a file atomically (node_exporter must never read a
 * half-written file).
 */
#ifndef TARDIS_METRICS_H
#define TARDIS_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include "error.h"

/* Upper bounds (seconds) of the latency buckets; +Inf is implicit. */
#define METRICS_LATENCY_BUCKETS 16
extern const double metrics_latency_bounds[METRICS_LATENCY_BUCKETS];

struct metrics_histogram {
	uint64_t buckets[METRICS_LATENCY_BUCKETS]; /* not cumulative */
	uint64_t count;
	double sum;
};

void metrics_histogram_observe(struct metrics_histogram *h, double seconds);

struct metrics_buf {
	char *text;
	size_t len, cap;
	int failed; /* out of memory: the buffer is unusable */
};

/* One family: HELP and TYPE lines (type: counter, gauge, histogram). */
void metrics_family(struct metrics_buf *b, const char *name, const char *type, const char *help);
/* A sample of the family just started; labels: NULL or `k="v",...` (the
 * caller validates names; values must not need escaping). */
void metrics_sample(struct metrics_buf *b, const char *name, const char *labels, double value);
/* _bucket (cumulative, +Inf last), _sum and _count of one label set. */
void metrics_histogram_samples(struct metrics_buf *b, const char *name, const char *labels,
			       const struct metrics_histogram *h);
void metrics_buf_free(struct metrics_buf *b);

/* Temp file in the same directory, mode 0644, rename.  No fsync: the
 * figures are rewritten at the next event and worthless after a crash. */
int metrics_write_file(const char *path, const struct metrics_buf *b, tardis_error_t *err);

#endif
