/* ctr_events_parse_line: the `ctr events` fallback source. */
#include "unit_main.h"
#include "ctr_events.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PREFIX "2025-04-04 19:10:59.898514001 +0000 UTC "
#define SEED_JSON                                                                    \
	"{\"container_id\":\"tc\",\"id\":\"tc\",\"pid\":6615,\"exit_status\":137,"   \
	"\"exited_at\":{\"seconds\":1743793859,\"nanos\":783072930}}"
#define SEED PREFIX "default /tasks/exit " SEED_JSON
#define SEED_NS 1743793859783072930ll

/* Parses a private heap copy, so that any read past the end is caught by
 * the sanitizers; checks the error contract. */
static int parse(const char *line, struct ctr_exit *out)
{
	tardis_error_t err = NULL;
	char *copy = line ? strdup(line) : NULL;
	int r;

	ck_assert(!line || copy);
	r = ctr_events_parse_line(copy, out, &err);
	ck_assert_msg(r == CTR_LINE_EXIT || r == CTR_LINE_OTHER || r == -1, "returned %d", r);
	if (r < 0)
		ck_assert_msg(err && err->msg && *err->msg, "-1 without an error for `%s`", line);
	else
		ck_assert_msg(err == NULL, "error `%s` with %d for `%s`", tardis_error_msg(err), r,
			      line);
	tardis_error_free(&err);
	free(copy);
	return r;
}

/* Every one of LINES parses as WANT (-1: refused). */
static void all_parse_as(const char *const *lines, size_t n, int want)
{
	struct ctr_exit e;

	for (size_t i = 0; i < n; i++) {
		int r = parse(lines[i], &e);

		ck_assert_msg(r == want, "parsed as %d, want %d: %s", r, want, lines[i]);
	}
}
#define ALL_PARSE_AS(lines, want) all_parse_as((lines), sizeof(lines) / sizeof((lines)[0]), (want))

START_TEST(seed_line)
{
	struct ctr_exit e;

	ck_assert_int_eq(parse(SEED, &e), CTR_LINE_EXIT);
	ck_assert_str_eq(e.ns, "default");
	ck_assert_str_eq(e.container_id, "tc");
	ck_assert_str_eq(e.id, "tc");
	ck_assert_int_eq(e.pid, 6615);
	ck_assert_int_eq(e.exit_status, 137);
	ck_assert_int_eq(e.exited_at_ns, SEED_NS);
	/* As read by fgets/getline, with the line end. */
	ck_assert_int_eq(parse(SEED "\n", &e), CTR_LINE_EXIT);
	ck_assert_int_eq(e.exit_status, 137);
	ck_assert_int_eq(parse(SEED "\r\n", &e), CTR_LINE_EXIT);
	ck_assert_int_eq(e.exited_at_ns, SEED_NS);
}
END_TEST

START_TEST(other_namespaces_and_layouts)
{
	struct ctr_exit e;

	ck_assert_int_eq(parse(PREFIX "k8s.io /tasks/exit " SEED_JSON, &e), CTR_LINE_EXIT);
	ck_assert_str_eq(e.ns, "k8s.io");
	ck_assert_str_eq(e.container_id, "tc");
	/* Field order and unknown fields do not matter. */
	ck_assert_int_eq(parse(PREFIX "moby /tasks/exit {\"exited_at\":{\"seconds\":1,\"nanos\":2},"
				      "\"extra\":[1,2],\"exit_status\":1,\"pid\":9,\"id\":\"c-1\","
				      "\"container_id\":\"c-1\"}",
			       &e),
			 CTR_LINE_EXIT);
	ck_assert_str_eq(e.ns, "moby");
	ck_assert_str_eq(e.container_id, "c-1");
	ck_assert_int_eq(e.pid, 9);
	ck_assert_int_eq(e.exit_status, 1);
	ck_assert_int_eq(e.exited_at_ns, 1000000002ll);
	/* Tabs and repeated blanks between the fields. */
	ck_assert_int_eq(parse("2025-04-04  19:10:59.898514001\t+0000 UTC  default\t/tasks/exit  " SEED_JSON,
			       &e),
			 CTR_LINE_EXIT);
	ck_assert_str_eq(e.ns, "default");
	ck_assert_int_eq(e.exit_status, 137);
	/* A missing id means the init. */
	ck_assert_int_eq(parse(PREFIX "default /tasks/exit {\"container_id\":\"tc\",\"pid\":5,"
				      "\"exit_status\":2}",
			       &e),
			 CTR_LINE_EXIT);
	ck_assert_str_eq(e.id, "tc");
	ck_assert_int_eq(e.exit_status, 2);
}
END_TEST

START_TEST(missing_exit_status_is_zero)
{
	struct ctr_exit e;

	ck_assert_int_eq(parse(PREFIX "default /tasks/exit {\"container_id\":\"tc\",\"id\":\"tc\","
				      "\"pid\":6615,\"exited_at\":{\"seconds\":1743793859,"
				      "\"nanos\":783072930}}",
			       &e),
			 CTR_LINE_EXIT);
	ck_assert_int_eq(e.exit_status, 0);
	ck_assert_int_eq(e.pid, 6615);
	ck_assert_int_eq(e.exited_at_ns, SEED_NS);
	/* Neither status nor time nor pid. */
	ck_assert_int_eq(parse(PREFIX "default /tasks/exit {\"container_id\":\"tc\",\"id\":\"tc\"}", &e),
			 CTR_LINE_EXIT);
	ck_assert_int_eq(e.exit_status, 0);
	ck_assert_int_eq(e.pid, 0);
	ck_assert_int_eq(e.exited_at_ns, 0);
	/* Only seconds, or only nanos, in exited_at. */
	ck_assert_int_eq(parse(PREFIX "default /tasks/exit {\"container_id\":\"tc\",\"id\":\"tc\","
				      "\"exited_at\":{\"seconds\":1743793859}}",
			       &e),
			 CTR_LINE_EXIT);
	ck_assert_int_eq(e.exited_at_ns, 1743793859000000000ll);
	ck_assert_int_eq(parse(PREFIX "default /tasks/exit {\"container_id\":\"tc\",\"id\":\"tc\","
				      "\"exited_at\":{\"nanos\":5}}",
			       &e),
			 CTR_LINE_EXIT);
	ck_assert_int_eq(e.exited_at_ns, 5);
}
END_TEST

START_TEST(exited_at_string)
{
	struct ctr_exit e;

	ck_assert_int_eq(parse(PREFIX "default /tasks/exit {\"container_id\":\"tc\",\"id\":\"tc\","
				      "\"pid\":6615,\"exit_status\":137,"
				      "\"exited_at\":\"2025-04-04T19:10:59.783072930Z\"}",
			       &e),
			 CTR_LINE_EXIT);
	ck_assert_int_eq(e.exited_at_ns, SEED_NS);
	ck_assert_int_eq(e.exit_status, 137);
	ck_assert_int_eq(parse(PREFIX "default /tasks/exit {\"container_id\":\"tc\",\"id\":\"tc\","
				      "\"pid\":6615,\"exit_status\":137,"
				      "\"exited_at\":\"2025-04-04T21:10:59.783072930+02:00\"}",
			       &e),
			 CTR_LINE_EXIT);
	ck_assert_int_eq(e.exited_at_ns, SEED_NS);
	ck_assert_int_eq(parse(PREFIX "default /tasks/exit {\"container_id\":\"tc\",\"id\":\"tc\","
				      "\"exited_at\":\"2025-04-04T19:10:59Z\"}",
			       &e),
			 CTR_LINE_EXIT);
	ck_assert_int_eq(e.exited_at_ns, 1743793859000000000ll);
}
END_TEST

START_TEST(exec_exit_is_other)
{
	struct ctr_exit e;

	ck_assert_int_eq(parse(PREFIX "default /tasks/exit {\"container_id\":\"tc\",\"id\":\"exec-1\","
				      "\"pid\":7000,\"exit_status\":1,\"exited_at\":{\"seconds\":1,"
				      "\"nanos\":0}}",
			       &e),
			 CTR_LINE_OTHER);
	/* Exec ids are arbitrary strings chosen by the client. */
	ck_assert_int_eq(parse(PREFIX "default /tasks/exit {\"container_id\":\"tc\",\"id\":\"my exec/1\","
				      "\"pid\":7000}",
			       &e),
			 CTR_LINE_OTHER);
	ck_assert_int_eq(parse(PREFIX "default /tasks/exit {\"container_id\":\"tc\",\"id\":\"\","
				      "\"pid\":7000}",
			       &e),
			 CTR_LINE_OTHER);
}
END_TEST

START_TEST(other_topics)
{
	static const char *const lines[] = {
		PREFIX "default /tasks/start {\"container_id\":\"tc\",\"pid\":6615}",
		PREFIX "default /containers/create {\"id\":\"tc\",\"image\":\"docker.io/library/busybox:latest\","
		       "\"runtime\":{\"name\":\"io.containerd.runc.v2\"}}",
		PREFIX "default /tasks/create {\"container_id\":\"tc\",\"bundle\":\"/run/x\"}",
		PREFIX "default /tasks/delete {\"container_id\":\"tc\",\"pid\":6615,\"exit_status\":137}",
		PREFIX "default /tasks/oom {\"container_id\":\"tc\"}",
		PREFIX "default /tasks/exec-added {\"container_id\":\"tc\",\"exec_id\":\"e\"}",
		PREFIX "default /snapshot/prepare {\"key\":\"tc\",\"parent\":\"sha256:abc\"}",
		PREFIX "default /images/update {\"name\":\"x\"}",
		PREFIX "default /tasks/exitx " SEED_JSON,
		PREFIX "default /tasks/exi " SEED_JSON,
		PREFIX "default /tasks/ " SEED_JSON,
		PREFIX "default /TASKS/EXIT " SEED_JSON,
		/* The payload of another topic is not even looked at. */
		PREFIX "default /tasks/start garbage{",
		PREFIX "default /tasks/start",
	};

	ALL_PARSE_AS(lines, CTR_LINE_OTHER);
}
END_TEST

START_TEST(garbage)
{
	static const char *const lines[] = {
		"",
		" ",
		"\n",
		"\t\r\n",
		"garbage",
		"hello world",
		"/tasks/exit " SEED_JSON, /* no namespace */
		SEED_JSON,
		PREFIX "default /tasks/exit",
		PREFIX "default /tasks/exit ",
		PREFIX "default /tasks/exit garbage",
		PREFIX "default /tasks/exit []",
		PREFIX "default /tasks/exit null",
		PREFIX "default /tasks/exit \"tc\"",
		PREFIX "default /tasks/exit 137",
		PREFIX "default /tasks/exit {}",
		PREFIX "default /tasks/exit {\"id\":\"tc\",\"pid\":1,\"exit_status\":1}",
		PREFIX "default /tasks/exit {\"container_id\":7,\"id\":\"tc\"}",
		PREFIX "default /tasks/exit {\"container_id\":\"\",\"id\":\"\"}",
		PREFIX "default /tasks/exit {\"container_id\":\"tc\",\"id\":7}",
		PREFIX "default /tasks/exit {\"container_id\":\"tc\",\"id\":\"tc\",\"pid\":\"6615\"}",
		PREFIX "default /tasks/exit {\"container_id\":\"tc\",\"id\":\"tc\",\"pid\":-1}",
		PREFIX "default /tasks/exit {\"container_id\":\"tc\",\"id\":\"tc\",\"pid\":1e30}",
		PREFIX "default /tasks/exit {\"container_id\":\"tc\",\"id\":\"tc\",\"exit_status\":\"137\"}",
		PREFIX "default /tasks/exit {\"container_id\":\"tc\",\"id\":\"tc\",\"exit_status\":-1}",
		PREFIX "default /tasks/exit {\"container_id\":\"tc\",\"id\":\"tc\",\"exit_status\":256}",
		PREFIX "default /tasks/exit {\"container_id\":\"tc\",\"id\":\"tc\",\"exit_status\":null}",
		PREFIX "default /tasks/exit {\"container_id\":\"tc\",\"id\":\"tc\",\"exited_at\":\"garbage\"}",
		PREFIX "default /tasks/exit {\"container_id\":\"tc\",\"id\":\"tc\",\"exited_at\":\"2025-04-04\"}",
		PREFIX "default /tasks/exit {\"container_id\":\"tc\",\"id\":\"tc\",\"exited_at\":7}",
		PREFIX "default /tasks/exit {\"container_id\":\"tc\",\"id\":\"tc\",\"exited_at\":[]}",
		PREFIX "default /tasks/exit {\"container_id\":\"tc\",\"id\":\"tc\",\"exited_at\":{\"seconds\":\"1\"}}",
		PREFIX "default /tasks/exit {\"container_id\":\"tc\",\"id\":\"tc\",\"exited_at\":{\"nanos\":\"1\"}}",
		/* Times that cannot be held in int64 nanoseconds. */
		PREFIX "default /tasks/exit {\"container_id\":\"tc\",\"id\":\"tc\",\"exited_at\":{\"seconds\":1e300}}",
		PREFIX "default /tasks/exit {\"container_id\":\"tc\",\"id\":\"tc\",\"exited_at\":{\"seconds\":-1e300}}",
		PREFIX "default /tasks/exit {\"container_id\":\"tc\",\"id\":\"tc\",\"exited_at\":{\"seconds\":1e11}}",
		PREFIX "default /tasks/exit {\"container_id\":\"tc\",\"id\":\"tc\",\"exited_at\":{\"nanos\":1e300}}",
		PREFIX "default /tasks/exit {\"container_id\":\"tc\",\"id\":\"tc\",\"exited_at\":\"9999-12-31T23:59:59Z\"}",
	};
	struct ctr_exit e;

	ALL_PARSE_AS(lines, -1);
	{
		tardis_error_t err = NULL;

		ck_assert_int_eq(ctr_events_parse_line(NULL, &e, &err), -1);
		ck_assert_ptr_nonnull(err);
		tardis_error_free(&err);
	}
}
END_TEST

START_TEST(bad_names)
{
	static const char *const lines[] = {
		PREFIX "../x /tasks/exit " SEED_JSON,
		PREFIX ".. /tasks/exit " SEED_JSON,
		PREFIX ". /tasks/exit " SEED_JSON,
		PREFIX "a/b /tasks/exit " SEED_JSON,
		PREFIX "d\x01" "efault /tasks/exit " SEED_JSON,
		PREFIX "d\x7f" "efault /tasks/exit " SEED_JSON,
		/* A bad namespace is refused whatever the topic. */
		PREFIX "../x /tasks/start {}",
		PREFIX "default /tasks/exit {\"container_id\":\"../x\",\"id\":\"../x\",\"pid\":1}",
		PREFIX "default /tasks/exit {\"container_id\":\"..\",\"id\":\"..\",\"pid\":1}",
		PREFIX "default /tasks/exit {\"container_id\":\".\",\"id\":\".\",\"pid\":1}",
		PREFIX "default /tasks/exit {\"container_id\":\"a/b\",\"id\":\"a/b\",\"pid\":1}",
		PREFIX "default /tasks/exit {\"container_id\":\"/etc\",\"id\":\"/etc\",\"pid\":1}",
		PREFIX "default /tasks/exit {\"container_id\":\"t\\nc\",\"id\":\"t\\nc\",\"pid\":1}",
	};
	struct ctr_exit e;

	ALL_PARSE_AS(lines, -1);
	/* ../x as the exec id of a valid container is still not a container exit. */
	ck_assert_int_ne(parse(PREFIX "default /tasks/exit {\"container_id\":\"tc\",\"id\":\"../x\"}", &e),
			 CTR_LINE_EXIT);
}
END_TEST

START_TEST(long_names)
{
	char name[TARDIS_ID_MAX + 2], *line = NULL;
	struct ctr_exit e;

	memset(name, 'n', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0'; /* 256 */
	ck_assert(asprintf(&line, PREFIX "%s /tasks/exit " SEED_JSON, name) > 0);
	ck_assert_int_eq(parse(line, &e), -1);
	free(line);
	ck_assert(asprintf(&line, PREFIX "default /tasks/exit {\"container_id\":\"%s\",\"id\":\"%s\"}",
			   name, name) > 0);
	ck_assert_int_eq(parse(line, &e), -1);
	free(line);
	ck_assert(asprintf(&line, PREFIX "default /tasks/exit {\"container_id\":\"tc\",\"id\":\"%s\"}",
			   name) > 0);
	ck_assert_int_ne(parse(line, &e), CTR_LINE_EXIT);
	free(line);
	name[sizeof(name) - 2] = '\0'; /* 255: fits */
	ck_assert(asprintf(&line, PREFIX "%s /tasks/exit {\"container_id\":\"%s\",\"id\":\"%s\"}", name,
			   name, name) > 0);
	ck_assert_int_eq(parse(line, &e), CTR_LINE_EXIT);
	ck_assert_str_eq(e.ns, name);
	ck_assert_str_eq(e.container_id, name);
	ck_assert_str_eq(e.id, name);
	free(line);
}
END_TEST

START_TEST(truncated_lines)
{
	static const char *const lines[] = {
		SEED,
		PREFIX "default /tasks/exit {\"container_id\":\"tc\",\"id\":\"tc\",\"pid\":6615,"
		       "\"exited_at\":\"2025-04-04T21:10:59.783072930+02:00\"}",
	};

	for (size_t l = 0; l < sizeof(lines) / sizeof(lines[0]); l++) {
		size_t n = strlen(lines[l]);
		size_t json_at = strchr(lines[l], '{') - lines[l];

		for (size_t i = 0; i <= n; i++) {
			/* An exact-size heap copy: ASan sees any read past the end. */
			char *cut = strndup(lines[l], i);
			tardis_error_t err = NULL;
			struct ctr_exit e;
			int r;

			ck_assert_ptr_nonnull(cut);
			r = ctr_events_parse_line(cut, &e, &err);
			if (i == n) {
				ck_assert_int_eq(r, CTR_LINE_EXIT);
			} else {
				ck_assert_msg(r != CTR_LINE_EXIT, "EXIT for a line cut at %zu: %s", i,
					      cut);
				ck_assert_msg(r == -1 || r == CTR_LINE_OTHER, "%d at %zu", r, i);
				/* Once the topic is complete, a cut JSON is an error. */
				if (i >= json_at)
					ck_assert_msg(r == -1, "cut JSON not refused at %zu: %s", i, cut);
				ck_assert((r == -1) == (err != NULL));
			}
			tardis_error_free(&err);
			free(cut);
		}
	}
}
END_TEST

Suite *ctr_events_suite(void)
{
	const struct unit_tcase cases[] = {
		{ "parse_line", 60,
		  UNIT_TESTS(seed_line, other_namespaces_and_layouts, missing_exit_status_is_zero,
			     exited_at_string, exec_exit_is_other, other_topics, garbage,
			     bad_names, long_names, truncated_lines) },
		{ NULL, 0, NULL },
	};

	return unit_suite("ctr_events", cases);
}
