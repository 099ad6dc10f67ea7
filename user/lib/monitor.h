/*
 * The exit monitor's kernel objects, pinned under a bpffs directory so they
 * outlive the agent: the program and its link, the ring buffer, the
 * registered-pids map, the recent-exits map and the per-CPU counters.
 */
#ifndef TARDIS_MONITOR_H
#define TARDIS_MONITOR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "error.h"
#include "tardis_exit.h"

struct tardis_monitor {
	char pin_dir[4096];
	int events_fd;
	int registered_fd;
	int recent_fd;
	int counters_fd;
	int flags_fd;          /* -1 with objects pinned by an older tardisd */
	int registered_task_fd; /* -1 on 5.10 and with objects of an older tardisd */
	int loaded;            /* 1: this process loaded and pinned the program */
	const char *variant;   /* which program runs: tardis_exit_gd / tardis_exit /
				* tardis_exit_hash (5.10: no task storage) */
	/* The agent only, after it replaced objects of another layout: the
	 * old ring buffer and recent-exits map when their records are still
	 * this build's (-1 otherwise), to be drained once, then closed. */
	int old_events_fd;
	int old_recent_fd;
	int replaced;          /* 1: pinned objects of another layout were replaced */
};

/* Closed: every fd -1, so that monitor_close (or cleanup_monitor) is a no-op. */
#define TARDIS_MONITOR_CLOSED                                                            \
	{ .events_fd = -1, .registered_fd = -1, .recent_fd = -1, .counters_fd = -1,       \
	  .flags_fd = -1, .registered_task_fd = -1, .old_events_fd = -1, .old_recent_fd = -1 }

void monitor_init(struct tardis_monitor *m);
/* <dir>/<name>; -1 if too long. */
int monitor_pin_path(char *buf, size_t len, const char *dir, const char *name);
/* pin_dir exists, on a bpffs (mounted on /sys/fs/bpf when missing). */
int monitor_pin_dir_ensure(const char *pin_dir, tardis_error_t *err);
/* The agent: reuse the pinned objects, or load, attach and pin them
 * (mounting bpffs when it is missing). */
int monitor_load_or_reuse(struct tardis_monitor *m, const char *pin_dir, tardis_error_t *err);
/* Everybody else: open the pinned maps; fails when nothing is pinned
 * (errno ENOENT) or when what is pinned follows another layout than this
 * build's (errno EPROTO): a map of another build is never read. */
int monitor_open_pinned(struct tardis_monitor *m, const char *pin_dir, tardis_error_t *err);
/* The optional monitor: m when the pinned maps are there and of this
 * build's layout, else NULL (m closed), with the reason in *why when why is
 * not NULL.  The result is what registry_register/registry_forget take:
 *   struct tardis_monitor m cleanup_monitor = TARDIS_MONITOR_CLOSED;
 *   registry_forget(store, monitor_open_optional(&m, dir, NULL), pid, start); */
struct tardis_monitor *monitor_open_optional(struct tardis_monitor *m, const char *pin_dir,
					     tardis_error_t *why);
void monitor_close(struct tardis_monitor *m);
#define cleanup_monitor __attribute__((cleanup(monitor_close)))
/* For the pointer monitor_open_optional returns: closed when set.  Declare
 * the struct it points to before the pointer (it must outlive the cleanup). */
static inline void monitor_closep(struct tardis_monitor **m)
{
	if (*m)
		monitor_close(*m);
}
#define cleanup_monitor_ptr __attribute__((cleanup(monitor_closep)))

/* The map pinned at <pin_dir>/<name> (a TARDIS_PIN_* map name), checked
 * against this build's contract: map type, key and value size, and
 * max_entries for the arrays.  Returns its fd, or -1 with err: errno
 * ENOENT when nothing is pinned there, EPROTO when it is of another layout
 * (the message names the map and the difference). */
int monitor_pin_open_checked(const char *pin_dir, const char *name, tardis_error_t *err);
/* 0 when the pinned objects follow this build's TARDIS_LAYOUT_VERSION and
 * event size (the `layout` map; without one, the pre-versioning layout 1,
 * judged by the recent-exits map's value size); -1 with err (EPROTO when
 * they follow another layout). */
int monitor_pin_layout_check(const char *pin_dir, tardis_error_t *err);
/* Detaches and removes every pinned object. */
int monitor_unpin(const char *pin_dir, tardis_error_t *err);
/* Which program this kernel needs: 1 when sched_process_exit has group_dead. */
int monitor_kernel_has_group_dead(void);

/* From now on the program looks up every exit in the hash of registered
 * pids as well (set by a registration the task storage could not take:
 * 5.10, or a pid not yet alive, as the ring-flood test registers). */
int monitor_use_hash(struct tardis_monitor *m, tardis_error_t *err);
/* For inits in the host pid namespace: pid-namespace inits are caught
 * without a registration. */
int monitor_register_pid(struct tardis_monitor *m, pid_t pid, uint64_t start_time,
			 tardis_error_t *err);
/* Only if the registered start time is start_time (0: any). */
int monitor_unregister_pid(struct tardis_monitor *m, pid_t pid, uint64_t start_time);
/* 1 found, 0 not found, -1 error. Never consumes anything. */
int monitor_recent_lookup(struct tardis_monitor *m, pid_t pid, uint64_t start_time,
			  struct tardis_exit_event *out);
/* Calls fn for each entry of the recent-exits map; stops when fn returns < 0. */
int monitor_recent_foreach(struct tardis_monitor *m,
			   int (*fn)(const struct tardis_exit_event *ev, void *arg), void *arg);
/* Sums the per-CPU counters. */
int monitor_counters(struct tardis_monitor *m, struct tardis_counters *sum, tardis_error_t *err);

#endif
