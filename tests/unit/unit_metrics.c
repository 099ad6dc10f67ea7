/* metrics: histogram buckets, the text format, the atomic file. */
#include "unit_main.h"
#include "metrics.h"

#include <sys/stat.h>
#include <unistd.h>

START_TEST(test_histogram_buckets)
{
	struct metrics_histogram h = { 0 };

	metrics_histogram_observe(&h, 0.00001);  /* first bucket */
	metrics_histogram_observe(&h, 0.00005);  /* le is inclusive */
	metrics_histogram_observe(&h, 0.0003);   /* 0.0005 */
	metrics_histogram_observe(&h, 100);      /* only +Inf */
	metrics_histogram_observe(&h, -1);       /* clock skew: counted as 0 */
	ck_assert_uint_eq(h.buckets[0], 3);
	ck_assert_uint_eq(h.buckets[3], 1);
	ck_assert_uint_eq(h.count, 5);
	ck_assert(h.sum > 100.0003 && h.sum < 100.0004);
	for (int i = 1; i < METRICS_LATENCY_BUCKETS; i++)
		ck_assert(metrics_latency_bounds[i] > metrics_latency_bounds[i - 1]);
}
END_TEST

START_TEST(test_text_format)
{
	struct metrics_buf b = { 0 };
	struct metrics_histogram h = { 0 };

	metrics_family(&b, "x_total", "counter", "Things.");
	metrics_sample(&b, "x_total", NULL, 3);
	metrics_sample(&b, "x_total", "a=\"b\"", 12345678901234.0);
	metrics_sample(&b, "x_total", NULL, 0.25);
	metrics_histogram_observe(&h, 0.002);
	metrics_histogram_observe(&h, 0.2);
	metrics_family(&b, "lat_seconds", "histogram", "Latency.");
	metrics_histogram_samples(&b, "lat_seconds", "source=\"bpf\"", &h);
	metrics_histogram_samples(&b, "lat_seconds", NULL, &h);
	ck_assert(!b.failed);
	UNIT_ASSERT_CONTAINS(b.text,
			     "# HELP x_total Things.\n# TYPE x_total counter\nx_total 3\n",
			     "x_total{a=\"b\"} 12345678901234\n",
			     "x_total 0.25\n");
	/* Cumulative: 0.001 holds neither, 0.0025 one, 0.25 both, +Inf both. */
	UNIT_ASSERT_CONTAINS(b.text,
			     "lat_seconds_bucket{source=\"bpf\",le=\"0.001\"} 0\n",
			     "lat_seconds_bucket{source=\"bpf\",le=\"0.0025\"} 1\n",
			     "lat_seconds_bucket{source=\"bpf\",le=\"0.25\"} 2\n",
			     "lat_seconds_bucket{source=\"bpf\",le=\"+Inf\"} 2\n",
			     "lat_seconds_count{source=\"bpf\"} 2\n",
			     "lat_seconds_sum{source=\"bpf\"} 0.20",
			     "lat_seconds_bucket{le=\"+Inf\"} 2\n",
			     "lat_seconds_count 2\n");
	ck_assert_int_eq(b.text[b.len - 1], '\n');
	metrics_buf_free(&b);
}
END_TEST

START_TEST(test_write_file)
{
	char *dir = unit_tmpdir(), path[4200], tmp[4300];
	struct metrics_buf b = { 0 };
	tardis_error_t err = NULL;
	struct stat st;
	char buf[64] = "";
	FILE *f;

	snprintf(path, sizeof(path), "%s/m.prom", dir);
	metrics_family(&b, "a_total", "counter", "A.");
	metrics_sample(&b, "a_total", NULL, 1);
	umask(077);
	ck_assert_int_eq(metrics_write_file(path, &b, &err), 0);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0644); /* node_exporter reads it */
	f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	ck_assert_ptr_nonnull(fgets(buf, sizeof(buf), f));
	fclose(f);
	ck_assert_str_eq(buf, "# HELP a_total A.\n");
	snprintf(tmp, sizeof(tmp), "%s.%d.tmp", path, (int)getpid());
	ck_assert_int_ne(access(tmp, F_OK), 0); /* no temp file left */
	snprintf(path, sizeof(path), "%s/missing/m.prom", dir);
	ck_assert_int_lt(metrics_write_file(path, &b, &err), 0);
	ck_assert_ptr_nonnull(err);
	tardis_error_free(&err);
	metrics_buf_free(&b);
	free(dir);
}
END_TEST

UNIT_SUITE(metrics, "core", test_histogram_buckets, test_text_format, test_write_file)
