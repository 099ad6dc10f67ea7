/*
 * Can this CRIU checkpoint a container on this kernel?  `criu check` says
 * whether the kernel has what CRIU needs, but a CRIU can pass it and still
 * fail on every server (CRIU 4.1.1 on 6.x kernels: "sockets: Can't get
 * 1:16 opt: Operation not supported"), so the probe also dumps a real
 * process holding a listening TCP socket, as scripts/build-criu.sh does.
 * criu: a path, or a name looked up on PATH.
 */
#ifndef TARDIS_CRIU_PROBE_H
#define TARDIS_CRIU_PROBE_H

#include <stddef.h>

/* Seconds a probe's CRIU may take: CRIU 4.1.1 hangs in wait4() after
 * failing on the socket, and `criu check` should be quick. */
#define CRIU_PROBE_CHECK_TIMEOUT 60
#define CRIU_PROBE_DUMP_TIMEOUT 120

/* "4.2.1" from `criu --version` ("Version: 4.2.1"); 0, or -1 (out ""). */
int criu_probe_version(const char *criu, char *out, size_t len);

/* Runs `criu check`.  1 when it passes (detail: its last line, "Looks
 * good."), 0 when it fails (detail: its first error line, or its exit
 * status). */
int criu_probe_check(const char *criu, int timeout_s, char *detail, size_t len);

/* Dumps a child that listens on a TCP port of 127.0.0.1: the child has its
 * own session and no fd but the socket and /dev/null (an inherited flock
 * makes CRIU refuse a task), CRIU runs with --shell-job under timeout_s,
 * the child is killed by pid afterwards and the image directory (below
 * $TMPDIR or /tmp) removed.  1 when the dump succeeded, 0 when it failed
 * (detail: CRIU's first error line from dump.log, else its exit status or
 * the timeout), -1 when the probe itself could not run (detail: why). */
int criu_probe_server_dump(const char *criu, int timeout_s, char *detail, size_t len);

#endif
