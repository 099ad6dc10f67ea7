/* What /proc/self/mountinfo says about a container's rootfs. */
#ifndef TARDIS_MOUNTINFO_H
#define TARDIS_MOUNTINFO_H

#include <stddef.h>

/* The upperdir of the overlay mounted at `mountpoint` (resolved with
 * realpath).  Returns 1 found, 0 not an overlay mount point, -1 error. */
int mountinfo_overlay_upperdir(const char *mountpoint, char *upper, size_t len);
/* 1 if `path` is a mount point. */
int mountinfo_is_mountpoint(const char *path);
/* The filesystem type of the mount at `path`: 1 found (fstype filled), 0
 * not a mount point, -1 error. */
int mountinfo_fstype(const char *path, char *fstype, size_t len);

/* The mount point below which the clean absolute path lies (the longest
 * one, by its text: nothing of path is looked at, so a path on a
 * filesystem that hangs is fine).  1 found, 0 none, -1 error. */
int mountinfo_mount_of(const char *path, char *out, size_t len);

#endif
