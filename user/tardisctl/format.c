/*
 * What tardisctl prints: sizes, spans and ages for people, exit statuses
 * in words, JSON (always through cJSON, so every string is escaped), and
 * aligned tables.
 */
#include "tardisctl.h"
#include "util.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

void format_bytes(double b, char *buf, size_t len)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	int u = 0;

	while (b >= 1024 && u < 4) {
		b /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%.0f B", b);
	else
		snprintf(buf, len, "%.1f %s", b, units[u]);
}

void format_span(int64_t ns, char *buf, size_t len)
{
	int64_t s = ns / 1000000000ll;

	if (s < 0)
		s = 0;
	if (s < 120)
		snprintf(buf, len, "%llds", (long long)s);
	else if (s < 7200)
		snprintf(buf, len, "%lldm", (long long)(s / 60));
	else if (s < 2 * 86400)
		snprintf(buf, len, "%lldh", (long long)(s / 3600));
	else
		snprintf(buf, len, "%lldd", (long long)(s / 86400));
}

void format_ago(const char *when, char *buf, size_t len)
{
	int64_t t;
	char span[32];

	buf[0] = '\0';
	if (!when || rfc3339_parse(when, &t) < 0)
		return;
	format_span(time_realtime_ns() - t, span, sizeof(span));
	snprintf(buf, len, "%s ago", span);
}

const char *exit_text(const struct exit_record *r, char *buf, size_t len)
{
	if (!r->known)
		snprintf(buf, len, "unknown (the init vanished without a trace)");
	else if (r->st.exited)
		snprintf(buf, len, "exit status %d", r->st.exit_status);
	else
		snprintf(buf, len, "exit status %d (signal %d%s)", r->st.exit_status, r->st.signal,
			 r->st.core_dumped ? ", core dumped" : "");
	return buf;
}

void print_json(const cJSON *o)
{
	char *t = cJSON_Print(o);

	if (t)
		printf("%s\n", t);
	free(t);
}

void print_json_line(const cJSON *o)
{
	char *t = cJSON_PrintUnformatted(o);

	if (t)
		printf("%s\n", t);
	free(t);
}

/* cJSON keeps numbers as doubles: a u64 beyond 2^53 (a cgroup id, a
 * monotonic time in ns) would lose digits, and an integral double may come
 * out as 1e+15.  A raw item prints exactly what we write. */
cJSON *json_add_u64(cJSON *o, const char *name, uint64_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%" PRIu64, v);
	return cJSON_AddRawToObject(o, name, buf);
}

cJSON *json_add_i64(cJSON *o, const char *name, int64_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%" PRId64, v);
	return cJSON_AddRawToObject(o, name, buf);
}

char (*table_add_row(struct table *t))[TABLE_CELL]
{
	size_t row = (size_t)t->ncols * TABLE_CELL;
	char (*r)[TABLE_CELL];

	if (grow_array(&t->cells, &t->cap, t->nrows + 1, row) < 0)
		return NULL;
	r = t->cells + t->nrows++ * t->ncols;
	memset(r, 0, row);
	return r;
}

void table_print(const struct table *t)
{
	size_t width[t->ncols];
	int k, last = t->ncols - 1;

	for (k = 0; k < t->ncols; k++) {
		width[k] = strlen(t->head[k]);
		for (size_t i = 0; i < t->nrows; i++)
			if (strlen(t->cells[i * t->ncols + k]) > width[k])
				width[k] = strlen(t->cells[i * t->ncols + k]);
	}
	for (k = 0; k < last; k++)
		printf("%-*s  ", (int)width[k], t->head[k]);
	printf("%s\n", t->head[last]);
	for (size_t i = 0; i < t->nrows; i++) {
		const char (*r)[TABLE_CELL] = t->cells + i * t->ncols;

		for (k = 0; k < last; k++)
			printf("%-*s  ", (int)width[k], r[k]);
		printf("%s\n", r[last]);
	}
}

void table_free(struct table *t)
{
	free(t->cells);
	t->cells = NULL;
	t->nrows = t->cap = 0;
}
