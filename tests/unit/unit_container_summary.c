/* container_summary: listing the store, the state of each container. */
#include "unit_main.h"
#include "container_summary.h"
#include "proc.h"
#include "registry.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

struct fixture {
	char *dir;
	struct tardis_store s;
};

static void put(struct fixture *f, const char *ns, const char *id, const char *file,
		const char *text)
{
	tardis_error_t err = NULL;
	int dfd = store_container_dir(&f->s, ns, id, 1, &err);

	ck_assert_int_ge(dfd, 0);
	ck_assert_int_eq(store_write_atomic(dfd, file, text, strlen(text), 0, NULL, &err), 0);
	close(dfd);
}

static void setup(struct fixture *f)
{
	char state[4200];
	tardis_error_t err = NULL;

	f->dir = unit_tmpdir();
	snprintf(state, sizeof(state), "%s/state", f->dir);
	ck_assert_int_eq(store_open(&f->s, state, &err), 0);
}

static void teardown(struct fixture *f)
{
	store_close(&f->s);
	free(f->dir);
}

/* default/ID's state.json: its init, PID started at START. */
static void put_init(struct fixture *f, const char *id, pid_t pid, uint64_t start)
{
	char text[128];

	snprintf(text, sizeof(text), "{\"init_pid\":%d,\"init_start_time\":%llu}", (int)pid,
		 (unsigned long long)start);
	put(f, "default", id, STATE_FILE, text);
}

/* default/ID's exit.json: the exit of PID started at START, in state ID
 * (exited, unknown), with the fields MORE (",\"k\":v..."). */
static void put_exit(struct fixture *f, const char *id, pid_t pid, uint64_t start, const char *more)
{
	char text[512];

	snprintf(text, sizeof(text),
		 "{\"version\":1,\"namespace\":\"default\",\"id\":\"%s\",\"state\":\"%s\","
		 "\"pid\":%d,\"start_time\":%llu%s}",
		 id, id, (int)pid, (unsigned long long)start, more);
	put(f, "default", id, "exit.json", text);
}

static const char *state_of(struct fixture *f, const char *ns, const char *id,
			    struct container_summary *c)
{
	tardis_error_t err = NULL;

	ck_assert_int_eq(container_summary_load(&f->s, ns, id, 1, c, &err), 0);
	return c->state;
}

/* A pid that is dead, with its start time. */
static pid_t dead_pid(uint64_t *start)
{
	pid_t p = fork();

	ck_assert_int_ge(p, 0);
	if (p == 0) {
		pause();
		_exit(0);
	}
	ck_assert_int_eq(proc_start_time(p, start), 0);
	kill(p, SIGKILL);
	waitpid(p, NULL, 0);
	return p;
}

/* default/ID's summary says state WANT. */
static void expect_state(struct fixture *f, const char *id, const char *want)
{
	struct container_summary c;

	ck_assert_str_eq(state_of(f, "default", id, &c), want);
	container_summary_free(&c);
}

START_TEST(test_list_sorted_valid_only)
{
	struct fixture f;
	struct container_ref *refs;
	tardis_error_t err = NULL;
	char bad[4300];
	size_t n;

	setup(&f);
	ck_assert_int_eq(container_list(&f.s, &refs, &n, &err), 0);
	ck_assert_uint_eq(n, 0); /* no containers/ yet */
	free(refs);
	put(&f, "k8s.io", "b", STATE_FILE, "{}");
	put(&f, "default", "z", STATE_FILE, "{}");
	put(&f, "default", "a", STATE_FILE, "{}");
	snprintf(bad, sizeof(bad), "%s/state/containers/default/bad name", f.dir);
	ck_assert_int_eq(mkdir(bad, 0700), 0);
	ck_assert_int_eq(container_list(&f.s, &refs, &n, &err), 0);
	ck_assert_uint_eq(n, 3);
	ck_assert_str_eq(refs[0].ns, "default");
	ck_assert_str_eq(refs[0].id, "a");
	ck_assert_str_eq(refs[1].id, "z");
	ck_assert_str_eq(refs[2].ns, "k8s.io");
	free(refs);
	teardown(&f);
}
END_TEST

START_TEST(test_states)
{
	struct fixture f;
	struct container_summary c;
	char text[1024], img[4300], file[4400];
	uint64_t me_start, dead_start;
	pid_t dead = dead_pid(&dead_start);
	int es = -1;

	setup(&f);
	ck_assert_int_eq(proc_start_time(getpid(), &me_start), 0);

	put(&f, "default", "corrupt", STATE_FILE, "{not json");
	expect_state(&f, "corrupt", "corrupt");

	put(&f, "default", "created", STATE_FILE, "{\"created_at\":\"2025-01-01T00:00:00Z\"}");
	expect_state(&f, "created", "created");

	put_init(&f, "running", getpid(), me_start);
	ck_assert_str_eq(state_of(&f, "default", "running", &c), "running");
	ck_assert_int_eq(c.init_pid, getpid());
	container_summary_free(&c);

	put_init(&f, "stopped", dead, dead_start);
	expect_state(&f, "stopped", "stopped");

	put_init(&f, "exited", dead, dead_start);
	put_exit(&f, "exited", dead, dead_start, ",\"wait_status\":768,\"source\":\"bpf\"");
	ck_assert_str_eq(state_of(&f, "default", "exited", &c), "exited");
	ck_assert_int_eq(container_summary_exit_status(&c, &es), 1);
	ck_assert_int_eq(es, 3);
	container_summary_free(&c);

	/* An exit record of an earlier init does not count. */
	put_init(&f, "exited", dead, dead_start + 1);
	expect_state(&f, "exited", "stopped");

	put_init(&f, "unknown", dead, dead_start);
	put_exit(&f, "unknown", dead, dead_start, ",\"source\":\"reconcile\"");
	ck_assert_str_eq(state_of(&f, "default", "unknown", &c), "unknown");
	ck_assert_int_eq(container_summary_exit_status(&c, &es), 0);
	container_summary_free(&c);

	/* Checkpointed after the last create, with its image there. */
	snprintf(img, sizeof(img), "%s/img/default/ck", f.dir);
	snprintf(text, sizeof(text),
		 "{\"init_pid\":%d,\"init_start_time\":%llu,\"image_path\":\"%s\","
		 "\"created_at\":\"2025-01-01T00:00:00Z\",\"checkpoints\":1,"
		 "\"last_checkpoint\":{\"at\":\"2025-01-01T00:05:00Z\",\"duration_ms\":150,\"size\":1000}}",
		 (int)dead, (unsigned long long)dead_start, img);
	put(&f, "default", "ck", STATE_FILE, text);
	expect_state(&f, "ck", "stopped"); /* no image */
	snprintf(file, sizeof(file), "%s/img", f.dir);
	mkdir(file, 0700);
	snprintf(file, sizeof(file), "%s/img/default", f.dir);
	mkdir(file, 0700);
	ck_assert_int_eq(mkdir(img, 0700), 0);
	ck_assert_str_eq(state_of(&f, "default", "ck", &c), "checkpointed");
	ck_assert(c.image_present && c.image_checked && !c.image.valid); /* no manifest */
	{
		cJSON *j = container_summary_json(&c, 1);
		char *t = cJSON_PrintUnformatted(j);

		UNIT_ASSERT_CONTAINS(t,
				     "\"state\":\"checkpointed\"",
				     "\"valid\":false",
				     "\"reason\":\"manifest: ",
				     "\"last_checkpoint\":{\"at\":\"2025-01-01T00:05:00Z\"",
				     "\"last_restore\":null",
				     "\"exit_status\":null");
		free(t);
		cJSON_Delete(j);
	}
	container_summary_free(&c);

	/* Created again after the checkpoint (a restore that fell back). */
	snprintf(text, sizeof(text),
		 "{\"init_pid\":%d,\"init_start_time\":%llu,\"image_path\":\"%s\","
		 "\"created_at\":\"2025-01-01T00:06:00Z\","
		 "\"last_checkpoint\":{\"at\":\"2025-01-01T00:05:00Z\"}}",
		 (int)dead, (unsigned long long)dead_start, img);
	put(&f, "default", "ck", STATE_FILE, text);
	expect_state(&f, "ck", "stopped");
	teardown(&f);
}
END_TEST

START_TEST(test_last_activity)
{
	struct fixture f;
	struct container_summary c;
	struct timespec ts[2] = { { .tv_sec = 1000000000 }, { .tv_sec = 1000000000 } };
	tardis_error_t err = NULL;
	char p[4300];

	setup(&f);
	put(&f, "default", "old", STATE_FILE, "{}");
	snprintf(p, sizeof(p), "%s/state/containers/default/old/state.json", f.dir);
	ck_assert_int_eq(utimensat(AT_FDCWD, p, ts, 0), 0);
	ck_assert_int_eq(container_summary_load(&f.s, "default", "old", 0, &c, &err), 0);
	ck_assert_int_eq(c.last_activity_ns, 1000000000ll * 1000000000ll);
	container_summary_free(&c);
	ck_assert_int_lt(container_summary_load(&f.s, "default", "none", 0, &c, &err), 0);
	ck_assert_int_eq(err->errnum, ENOENT);
	tardis_error_free(&err);
	teardown(&f);
}
END_TEST

UNIT_SUITE(container_summary, "core", test_list_sorted_valid_only, test_states,
	   test_last_activity)
