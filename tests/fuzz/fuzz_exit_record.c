/*
 * The JSON that the state store holds and every tardis-runc and the agent
 * read back: exit records (exit_record_from_json, then a round trip through
 * exit_record_to_json), pid index registrations (registry_lookup) and
 * container state (cstate_load, the accessors, a read-modify-write).  The
 * input is each of them in turn, in a store on tmpfs.
 */
#include "fuzz.h"
#include "container_state.h"
#include "exit_record.h"
#include "registry.h"
#include "state.h"

#include <cjson/cJSON.h>

static struct tardis_store store;
static int pids_fd = -1, cdir_fd = -1;

static void cleanup_store(void)
{
	char *path = store.path ? strdup(store.path) : NULL;

	if (pids_fd >= 0)
		close(pids_fd);
	if (cdir_fd >= 0)
		close(cdir_fd);
	store_close(&store);
	if (path) {
		char *parent = strdup(path);

		*strrchr(parent, '/') = '\0';
		fuzz_rm_rf(parent);
		free(parent);
		free(path);
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char *dir = fuzz_scratch_dir("exit_record");
	char path[4200];
	tardis_error_t err = NULL;

	fuzz_quiet_logs();
	snprintf(path, sizeof(path), "%s/state", dir);
	if (store_open(&store, path, &err) < 0 ||
	    (pids_fd = store_subdir(store.root_fd, "pids", 1, &err)) < 0 ||
	    (cdir_fd = store_container_dir(&store, "default", "c1", 1, &err)) < 0) {
		fprintf(stderr, "fuzz: store %s: %s\n", path, tardis_error_msg(err));
		abort();
	}
	atexit(cleanup_store);
	free(dir);
	return 0;
}

/* cJSON prints numbers with 15 significant digits when that reads back
 * "close enough": 64-bit counters above 1e15 (exit_mono_ns after 11 days of
 * uptime) come back rounded.  Those fields are informational; start_time
 * (clock ticks) and pid stay far below. */
static int near(uint64_t a, uint64_t b)
{
	double d = (double)a - (double)b;

	return a == b || (d < 0 ? -d : d) <= 1e-14 * (double)(a > b ? a : b);
}

static void exit_record(const char *text)
{
	tardis_error_t err = NULL;
	struct exit_record r, back;
	char *json;

	if (exit_record_from_json(text, &r, &err) < 0) {
		FUZZ_ASSERT(err != NULL);
		tardis_error_free(&err);
		return;
	}
	FUZZ_ASSERT(r.pid >= 0);
	FUZZ_ASSERT(strnlen(r.comm, sizeof(r.comm)) < sizeof(r.comm));
	if (r.known) {
		FUZZ_ASSERT(r.st.exit_status >= 0 && r.st.exit_status <= 255 + 128);
		FUZZ_ASSERT(r.st.exited ? r.st.signal == 0 : r.st.code == 0);
	}
	/* What the agent writes, tardis-runc reads back the same. */
	json = exit_record_to_json(&r);
	FUZZ_ASSERT(json != NULL);
	if (exit_record_from_json(json, &back, &err) < 0) {
		fprintf(stderr, "round trip of %s: %s\n", json, tardis_error_msg(err));
		abort();
	}
	FUZZ_ASSERT(strcmp(r.ns, back.ns) == 0 && strcmp(r.id, back.id) == 0);
	FUZZ_ASSERT(r.known == back.known && r.pid == back.pid && near(r.start_time, back.start_time));
	FUZZ_ASSERT(strcmp(r.source, back.source) == 0);
	if (r.known) {
		FUZZ_ASSERT(r.has_wait_status == back.has_wait_status &&
			    r.wait_status == back.wait_status);
		FUZZ_ASSERT(memcmp(&r.st, &back.st, sizeof(r.st)) == 0);
		FUZZ_ASSERT(r.exited_at_ns == back.exited_at_ns);
		FUZZ_ASSERT(near(r.exit_mono_ns, back.exit_mono_ns) && near(r.cgroup_id, back.cgroup_id));
		FUZZ_ASSERT(r.pidns_level == back.pidns_level && r.pidns_inum == back.pidns_inum);
		FUZZ_ASSERT(strcmp(r.comm, back.comm) == 0);
	}
	free(json);
}

static void registration(const char *text, size_t len)
{
	tardis_error_t err = NULL;
	struct registration reg;
	int r;

	fuzz_write_at(pids_fd, "1.0", text, len);
	r = registry_lookup(&store, 1, 0, &reg, &err);
	FUZZ_ASSERT(r == 1 || (r == -1 && err));
	if (r == 1) {
		/* Where the agent writes the exit: it must stay in the store. */
		FUZZ_ASSERT(store_id_valid(reg.ns) && store_id_valid(reg.id));
		FUZZ_ASSERT(reg.pid > 0);
	}
	tardis_error_free(&err);
}

static int bump_restores(cJSON *st, void *arg)
{
	cjson_set_num(st, "restores", cjson_get_num(st, "restores", 0) + 1);
	cjson_set_bool(st, "skip_start", !cjson_get_bool(st, "skip_start"));
	return 0;
}

static void container_state(const char *text, size_t len)
{
	static const char *const keys[] = { "bundle", "image_path", "rootfs", "work_dir",
					    "init_pid", "init_start_time", "skip_start",
					    "skip_resume", "restores", "checkpoint_on_stop" };
	tardis_error_t err = NULL;
	cJSON *st = NULL;

	fuzz_write_at(cdir_fd, "state.json", text, len);
	if (cstate_load(&store, "default", "c1", &st, &err) == 0) {
		for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
			const char *s = cjson_get_str(st, keys[i]);

			if (s)
				(void)strlen(s);
			(void)cjson_get_num(st, keys[i], 0);
			(void)cjson_get_bool(st, keys[i]);
			/* What tardis-runc and the agent take the init from. */
			(void)cjson_get_int(st, keys[i], 0);
			(void)cjson_get_u64(st, keys[i], 0);
		}
		FUZZ_ASSERT(cjson_object(st, "history") != NULL);
		cJSON_Delete(st);
	} else {
		FUZZ_ASSERT(err != NULL && st == NULL);
	}
	tardis_error_free(&err);
	/* A malformed state is replaced, never a reason to fail. */
	FUZZ_ASSERT(cstate_update_locked(cdir_fd, bump_restores, NULL, 0, &err) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_cstring(data, size);

	exit_record(text);
	registration(text, size);
	container_state(text, size);
	free(text);
	return 0;
}
