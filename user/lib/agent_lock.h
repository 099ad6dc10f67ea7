/* One agent per BPF pin dir: the ring buffer pinned there has exactly one
 * consumer.  The lock is flock(LOCK_EX) on the pin directory itself (bpffs
 * directories take flocks): it is the pinned objects' own inode, so it
 * excludes agents in other mount namespaces that share the bpffs (a
 * DaemonSet's and one tardis-runc starts on the host) and needs no file.
 * Who holds it (pid, state dir) is written beside it, in
 * RUN_DIR/agent-<escaped pin dir>.holder; /proc/locks names the pid even
 * without that file. */
#ifndef TARDIS_AGENT_LOCK_H
#define TARDIS_AGENT_LOCK_H

#include "error.h"

#include <stddef.h>
#include <sys/types.h>

/* TARDIS_RUN_DIR overrides it (tests). */
#define AGENT_LOCK_RUN_DIR "/run/tardis"

struct agent_holder {
	pid_t pid;	       /* 0: unknown (another pid namespace) */
	char state_dir[4096];  /* "": unknown */
};

/* RUN_DIR/agent-<bpf_dir escaped>.holder; -1 when it does not fit. */
int agent_lock_holder_path(const char *bpf_dir, char *out, size_t len);
/* 1: an agent holds bpf_dir (*h says who, as far as known), 0: none. */
int agent_lock_probe(const char *bpf_dir, struct agent_holder *h);
/* The lock on the existing directory bpf_dir: its fd, -2 another agent
 * holds it (*h), -1 an error (*err). */
int agent_lock_acquire(const char *bpf_dir, const char *state_dir, struct agent_holder *h,
		       tardis_error_t *err);
/* Drops the holder file, then the lock. */
void agent_lock_release(int fd, const char *bpf_dir);
/* The holder file of bpf_dir removed: what `tardisd --unload` does when no
 * agent holds the lock (one killed by SIGKILL could not remove its own). */
void agent_lock_forget(const char *bpf_dir);

#endif
