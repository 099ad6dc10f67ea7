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
	int loaded;            /* 1: this process loaded and pinned the program */
	const char *variant;   /* which program runs: tardis_exit_gd / tardis_exit */
};

void monitor_init(struct tardis_monitor *m);
/* <dir>/<name>; -1 if too long. */
int monitor_pin_path(char *buf, size_t len, const char *dir, const char *name);
/* The agent: reuse the pinned objects, or load, attach and pin them
 * (mounting bpffs when it is missing). */
int monitor_load_or_reuse(struct tardis_monitor *m, const char *pin_dir, tardis_error_t *err);
/* Everybody else: open the pinned maps; fails when nothing is pinned. */
int monitor_open_pinned(struct tardis_monitor *m, const char *pin_dir, tardis_error_t *err);
void monitor_close(struct tardis_monitor *m);
/* Detaches and removes every pinned object. */
int monitor_unpin(const char *pin_dir, tardis_error_t *err);
/* Which program this kernel needs: 1 when sched_process_exit has group_dead. */
int monitor_kernel_has_group_dead(void);

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
