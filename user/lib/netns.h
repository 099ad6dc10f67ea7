/*
 * A container's network namespace around a checkpoint and restore: what
 * CRIU, as runc drives it, leaves undone (docs/servers.md).
 *
 * - runc marks the network namespace "empty" for CRIU on dump and restore
 *   (setEmptyNsMask), so a namespace runc made comes back bare: lo DOWN,
 *   no 127.0.0.1 or ::1, the net.* sysctls runc's init wrote gone.  That
 *   namespace only ever held lo, so lo up plus the sysctls is all of it.
 * - A namespace given by path keeps CRIU's network lock (an iptables chain
 *   CRIU) from the dump until a restore succeeds; a fresh start in its
 *   place must remove it or stay cut off.
 */
#ifndef TARDIS_NETNS_H
#define TARDIS_NETNS_H

#include <sys/types.h>
#include "error.h"

struct cJSON;

/* The calling process joins the network namespace at path (setns). */
int netns_enter(const char *path, tardis_error_t *err);
/* lo up in the calling process's network namespace; the kernel adds
 * 127.0.0.1/8 and ::1/128 and their routes itself. */
int netns_loopback_up(tardis_error_t *err);
/* linux.sysctl's net.* keys written to /proc/sys/net (the calling
 * process's network namespace); other keys are not the namespace's. */
int netns_write_sysctls(const struct cJSON *config, tardis_error_t *err);
/* The restored network namespace of a runc-made one, from CRIU's
 * setup-namespaces (before any task or socket is restored): joins
 * /proc/<init>/ns/net, brings lo up, writes the net.* sysctls of
 * <bundle>/config.json (bundle NULL: none).  Changes the caller's netns. */
int netns_restore_own(pid_t init, const char *bundle, tardis_error_t *err);
/* The same from a forked child, the caller's namespace untouched: after
 * the restore, for a CRIU that runs no action script (before 4). */
int netns_restore_own_after(pid_t init, const char *bundle, tardis_error_t *err);
/* Removes CRIU's network lock (chain CRIU of iptables and ip6tables) from
 * the namespace at path, in a child that joins it.  1 removed, 0 none
 * there, -1 with *err. */
int netns_criu_unlock(const char *path, tardis_error_t *err);

#endif
