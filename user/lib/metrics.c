#include "metrics.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h> /* isnan, isinf: macros, no libm */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* 50 us .. 10 s: a record is normally visible well under a millisecond
 * after the exit; seconds mean the agent was busy or down. */
const double metrics_latency_bounds[METRICS_LATENCY_BUCKETS] = {
	0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
	0.025,   0.05,   0.1,     0.25,   0.5,   1,      2.5,   10,
};

void metrics_histogram_observe(struct metrics_histogram *h, double seconds)
{
	if (!(seconds >= 0))
		seconds = 0;
	for (int i = 0; i < METRICS_LATENCY_BUCKETS; i++) {
		if (seconds <= metrics_latency_bounds[i]) {
			h->buckets[i]++;
			break;
		}
	}
	h->count++;
	h->sum += seconds;
}

static void append(struct metrics_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void append(struct metrics_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->failed)
		return;
	for (;;) {
		size_t room = b->cap - b->len;

		va_start(ap, fmt);
		n = vsnprintf(b->text ? b->text + b->len : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->failed = 1;
			return;
		}
		if ((size_t)n < room) {
			b->len += n;
			return;
		}
		if (grow_array(&b->text, &b->cap, b->len + (size_t)n + 1, 1) < 0) {
			b->failed = 1;
			return;
		}
	}
}

/* The shortest text that reads back as the same double (Prometheus parses
 * with Go's strconv.ParseFloat): 0.0025, not 0.0025000000000000001;
 * integers print as integers. */
static void format_value(char *buf, size_t len, double v)
{
	if (isnan(v))
		snprintf(buf, len, "NaN");
	else if (isinf(v))
		snprintf(buf, len, v > 0 ? "+Inf" : "-Inf");
	else if (v > -9007199254740992.0 && v < 9007199254740992.0 && v == (double)(int64_t)v)
		snprintf(buf, len, "%.0f", v);
	else {
		for (int prec = 15; prec <= 17; prec++) {
			snprintf(buf, len, "%.*g", prec, v);
			if (strtod(buf, NULL) == v)
				break;
		}
	}
}

void metrics_family(struct metrics_buf *b, const char *name, const char *type, const char *help)
{
	append(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void metrics_sample(struct metrics_buf *b, const char *name, const char *labels, double value)
{
	char v[64];

	format_value(v, sizeof(v), value);
	if (labels && *labels)
		append(b, "%s{%s} %s\n", name, labels, v);
	else
		append(b, "%s %s\n", name, v);
}

void metrics_histogram_samples(struct metrics_buf *b, const char *name, const char *labels,
			       const struct metrics_histogram *h)
{
	const char *sep = labels && *labels ? "," : "";
	uint64_t cum = 0;
	char le[64];

	if (!labels)
		labels = "";
	for (int i = 0; i < METRICS_LATENCY_BUCKETS; i++) {
		cum += h->buckets[i];
		format_value(le, sizeof(le), metrics_latency_bounds[i]);
		append(b, "%s_bucket{%s%sle=\"%s\"} %llu\n", name, labels, sep, le,
		       (unsigned long long)cum);
	}
	append(b, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, sep,
	       (unsigned long long)h->count);
	format_value(le, sizeof(le), h->sum);
	if (*labels) {
		append(b, "%s_sum{%s} %s\n", name, labels, le);
		append(b, "%s_count{%s} %llu\n", name, labels, (unsigned long long)h->count);
	} else {
		append(b, "%s_sum %s\n", name, le);
		append(b, "%s_count %llu\n", name, (unsigned long long)h->count);
	}
}

void metrics_buf_free(struct metrics_buf *b)
{
	free(b->text);
	memset(b, 0, sizeof(*b));
}

int metrics_write_file(const char *path, const struct metrics_buf *b, tardis_error_t *err)
{
	char tmp[4096 + 32];
	size_t off = 0;
	int fd;

	if (b->failed)
		return tardis_make_error(err, ENOMEM, "metrics");
	/* node_exporter's textfile collector reads *.prom only: the temp name
	 * must not end in .prom. */
	if (snprintf(tmp, sizeof(tmp), "%s.%d.tmp", path, (int)getpid()) >= (int)sizeof(tmp))
		return tardis_make_error(err, ENAMETOOLONG, "metrics path");
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		return tardis_make_error(err, errno, "create `%s`", tmp);
	/* The state directory's umask may be 077; node_exporter needs to read. */
	if (fchmod(fd, 0644) < 0) {
		int e = errno;

		close(fd);
		unlink(tmp);
		return tardis_make_error(err, e, "chmod `%s`", tmp);
	}
	while (off < b->len) {
		ssize_t w = write(fd, b->text + off, b->len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			int e = w < 0 ? errno : EIO;

			close(fd);
			unlink(tmp);
			return tardis_make_error(err, e, "write `%s`", tmp);
		}
		off += w;
	}
	if (close(fd) < 0 || rename(tmp, path) < 0) {
		int e = errno;

		unlink(tmp);
		return tardis_make_error(err, e, "rename `%s` to `%s`", tmp, path);
	}
	return 0;
}
