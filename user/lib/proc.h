/* What /proc says about a process. */
#ifndef TARDIS_PROC_H
#define TARDIS_PROC_H

#include <stdint.h>
#include <sys/types.h>

/* Start time in clock ticks since boot (field 22 of /proc/<pid>/stat).
 * Returns 0, or -1 when the process does not exist. */
int proc_start_time(pid_t pid, uint64_t *ticks);
/* 1 if pid is alive and still the process that started at `ticks`. */
int proc_is_same(pid_t pid, uint64_t ticks);

/* 1 if pid is pid 1 of a non-root pid namespace (NSpid ends in 1),
 * 0 if not, -1 if unknown. */
int proc_is_pidns_init(pid_t pid);

#endif
