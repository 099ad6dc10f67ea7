#include "registry.h"
#include "cleanup.h"
#include "container_state.h"
#include "exit_record.h"
#include "log.h"
#include "proc.h"
#include "util.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Keyed by pid and start time: a reused pid registered again never hides
 * the earlier process's registration before its exit is recorded. */
static int pid_name(char *buf, size_t len, pid_t pid, uint64_t start_time)
{
	snprintf(buf, len, "%d.%llu", (int)pid, (unsigned long long)start_time);
	return 0;
}

struct init_update {
	pid_t pid;
	uint64_t start_time;
};

static int set_init(cJSON *st, void *arg)
{
	const struct init_update *u = arg;

	cjson_set_num(st, "init_pid", u->pid);
	cjson_set_num(st, "init_start_time", (double)u->start_time);
	return 0;
}

/* A process that exited before it could be registered (a restored init
 * runs from the end of CRIU's restore, and may die at once): the kernel
 * kept its exit, pid namespace init that it was.  The newest exit of pid
 * in the last minute gives its start time. */
struct recent_find {
	pid_t pid;
	uint64_t now_ns, best_ns;
	struct tardis_exit_event ev;
};

static int recent_of_pid(const struct tardis_exit_event *ev, void *arg)
{
	struct recent_find *f = arg;

	if ((pid_t)ev->tgid == f->pid && ev->exit_ns > f->best_ns &&
	    f->now_ns - ev->exit_ns < 60ULL * 1000000000ULL) {
		f->best_ns = ev->exit_ns;
		f->ev = *ev;
	}
	return 0;
}

static int exit_of_exited(struct tardis_monitor *mon, pid_t pid, struct tardis_exit_event *ev)
{
	struct recent_find f = { .pid = pid, .now_ns = (uint64_t)time_monotonic_ns() };

	if (!mon || monitor_recent_foreach(mon, recent_of_pid, &f) < 0 || !f.best_ns)
		return -1;
	*ev = f.ev;
	return 0;
}

/* The exit record of an init that exited before its registration: the
 * agent saw no container of it, so it is written here. */
static int record_early_exit(int dfd, const struct tardis_exit_event *ev, const char *ns,
			     const char *id, tardis_error_t *err)
{
	cleanup_free char *json = NULL;
	struct exit_record r;

	exit_record_from_event(&r, ev, ns, id);
	snprintf(r.source, sizeof(r.source), "bpf-recent");
	json = exit_record_to_json(&r);
	if (!json)
		return tardis_make_error(err, ENOMEM, "exit record");
	return store_write_atomic(dfd, EXIT_RECORD_FILE, json, strlen(json), 1, NULL, err);
}

int registry_register(struct tardis_store *s, struct tardis_monitor *mon, const char *ns,
		      const char *id, pid_t pid, uint64_t start_time, tardis_error_t *err)
{
	cleanup_close int dfd = -1;
	cleanup_store_dir struct store_dir pd = { -1, 0 };
	cleanup_free char *text = NULL;
	char name[32];
	cleanup_json cJSON *o = NULL;
	struct tardis_exit_event early;
	int exited = 0;

	if (pid <= 0)
		return tardis_make_error(err, EINVAL, "bad pid %d", (int)pid);
	if (start_time == 0 && proc_start_time(pid, &start_time) < 0) {
		if (exit_of_exited(mon, pid, &early) < 0)
			return tardis_make_error(err, ESRCH, "process %d does not exist", (int)pid);
		log_info("%s/%s: pid %d exited (status %#x) before it was registered: its exit "
			 "recorded from the kernel's recent exits", ns, id, (int)pid, early.status);
		start_time = early.start_time;
		exited = 1;
	}
	dfd = store_container_lock(s, ns, id, 1, err);
	if (dfd < 0)
		return -1;
	if (store_unlink(dfd, EXIT_RECORD_FILE, err) < 0)
		return -1;
	/* Registration data is worthless after a reboot (pids restart), so
	 * these writes are atomic but not fsynced. */
	if (cstate_update_locked(dfd, set_init, &(struct init_update){ pid, start_time }, 0, err) < 0)
		return -1;
	if (exited)
		return record_early_exit(dfd, &early, ns, id, err);
	/* Its exit record's inode, allocated now rather than in a burst of
	 * exits (a node drained); without it the agent writes a temp file. */
	if (store_make_spare(dfd, EXIT_SPARE_FILE, err) < 0)
		tardis_error_log_release(TARDIS_LOG_WARN, "exit record spare", err);
	if (store_pids_dir(s, 1, &pd, err) < 0)
		return -1;
	o = cJSON_CreateObject();
	if (!o)
		return tardis_make_error(err, ENOMEM, "registration");
	cJSON_AddStringToObject(o, "namespace", ns);
	cJSON_AddStringToObject(o, "id", id);
	cJSON_AddNumberToObject(o, "pid", pid);
	cJSON_AddNumberToObject(o, "start_time", (double)start_time);
	text = cJSON_PrintUnformatted(o);
	if (!text)
		return tardis_make_error(err, ENOMEM, "registration");
	pid_name(name, sizeof(name), pid, start_time);
	if (store_write_atomic(pd.fd, name, text, strlen(text), 0, NULL, err) < 0)
		return -1;
	/* Last: from here on the kernel reports this pid's exit. */
	if (mon && proc_is_pidns_init(pid) != 1 &&
	    monitor_register_pid(mon, pid, start_time, err) < 0)
		return -1;
	/* Died while being registered: the agent may have seen its exit
	 * before the registration was there, and passed it over; the kernel
	 * kept it (the agent waits for this container's lock to record it).
	 * Asked of the kernel, not of /proc: a dead init stays a zombie there
	 * until its reaper waits, and its exit event is long gone by then. */
	if (mon && monitor_recent_lookup(mon, pid, start_time, &early) == 1 &&
	    faccessat(dfd, EXIT_RECORD_FILE, F_OK, AT_SYMLINK_NOFOLLOW) < 0)
		return record_early_exit(dfd, &early, ns, id, err);
	return 0;
}

static int parse_registration(const char *text, struct registration *r, tardis_error_t *err)
{
	cleanup_json cJSON *o = cJSON_Parse(text);
	const cJSON *ns, *id, *pid, *st;

	memset(r, 0, sizeof(*r));
	ns = cJSON_GetObjectItemCaseSensitive(o, "namespace");
	id = cJSON_GetObjectItemCaseSensitive(o, "id");
	pid = cJSON_GetObjectItemCaseSensitive(o, "pid");
	st = cJSON_GetObjectItemCaseSensitive(o, "start_time");
	/* Range checks before the casts: an out-of-range double is UB. */
	if (!cJSON_IsString(ns) || !cJSON_IsString(id) || !cJSON_IsNumber(pid) ||
	    !cJSON_IsNumber(st) || !store_id_valid(ns->valuestring) ||
	    !store_id_valid(id->valuestring) ||
	    !(pid->valuedouble >= 1 && pid->valuedouble <= INT_MAX) ||
	    !(st->valuedouble >= 0 && st->valuedouble < 18446744073709551616.0))
		return tardis_make_error(err, EINVAL, "malformed registration");
	strcpy(r->ns, ns->valuestring);
	strcpy(r->id, id->valuestring);
	r->pid = (pid_t)pid->valuedouble;
	r->start_time = (uint64_t)st->valuedouble;
	return 0;
}

int registry_lookup(struct tardis_store *s, pid_t pid, uint64_t start_time,
		    struct registration *out, tardis_error_t *err)
{
	cleanup_store_dir struct store_dir pd = { -1, 0 };
	cleanup_free char *text = NULL;
	char name[32];
	int fd = store_pids_dir(s, 0, &pd, err);

	if (fd < 0)
		return fd == -ENOENT ? 0 : -1;
	pid_name(name, sizeof(name), pid, start_time);
	if (store_read(fd, name, 4096, &text, NULL, err) < 0) {
		if (tardis_error_errno(*err) != ENOENT)
			return -1;
		tardis_error_free(err);
		/* A kept pids/ removed and made again: look in the new one. */
		if (!pd.owned && store_pids_dir_gone(s))
			return registry_lookup(s, pid, start_time, out, err);
		return 0;
	}
	if (parse_registration(text, out, err) < 0)
		return tardis_error_wrap(err, "pid index %d", (int)pid);
	return 1;
}

void registry_forget(struct tardis_store *s, struct tardis_monitor *mon, pid_t pid,
		     uint64_t start_time)
{
	cleanup_store_dir struct store_dir pd = { -1, 0 };
	tardis_error_t err = NULL;
	char name[32];

	if (mon)
		monitor_unregister_pid(mon, pid, start_time);
	store_pids_dir(s, 0, &pd, &err);
	tardis_error_free(&err);
	if (pd.fd < 0)
		return;
	pid_name(name, sizeof(name), pid, start_time);
	/* The agent moves it aside: an unlink frees its inode and block, and
	 * on ext4 without a journal mounted with `discard` (as here) that
	 * waits 0.25 ms for the device -- a burst's 10,000 forgets were the
	 * bound of its rate.  Removed when idle (registry_sweep). */
	if (store_forgotten_dir(s) >= 0 && renameat(pd.fd, name, store_forgotten_dir(s), name) == 0)
		return;
	unlinkat(pd.fd, name, 0);
}

int registry_foreach(struct tardis_store *s, int (*fn)(const struct registration *r, void *arg),
		     void *arg, tardis_error_t *err)
{
	cleanup_store_dir struct store_dir pd = { -1, 0 };
	cleanup_dir DIR *d = NULL;
	struct dirent *de;
	int pfd = store_pids_dir(s, 0, &pd, err);

	if (pfd < 0)
		return pfd == -ENOENT ? 0 : -1;
	d = fdopendir_reopen(pfd); /* its own offset: pfd may be kept */
	if (!d)
		return tardis_make_error(err, errno, "list pid index");
	while ((de = readdir(d))) {
		cleanup_free char *text = NULL;
		struct registration r;
		tardis_error_t e = NULL;

		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		if (store_read(pfd, de->d_name, 4096, &text, NULL, &e) < 0 ||
		    parse_registration(text, &r, &e) < 0) {
			log_warn("pid index entry %s: %s", de->d_name, tardis_error_msg(e));
			tardis_error_free(&e);
			continue;
		}
		if (fn(&r, arg) < 0)
			break;
	}
	return 0;
}
