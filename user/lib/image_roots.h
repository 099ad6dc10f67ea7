/*
 * The directories a container may name for its images and work dir
 * (CHECKPOINT_HOST_PATH, NETWORKFS_HOST_PATH): config.json is the
 * container's, not the administrator's, so a path there is honoured only
 * inside one of tardis.conf's image_roots.  Otherwise root (tardis-runc)
 * would create, bind-mount and remove wherever a container says.
 *
 * A path is inside a root when, compared component by component, the
 * root's components are its first ones (`/roots/a` is not under
 * `/roots/ab`; a `..` anywhere is refused), and when walked from the root
 * with O_NOFOLLOW every component that exists is a directory, not a
 * symlink: a symlink inside a root that points out of it is refused.  A
 * root that is itself a symlink (its last component; the administrator's
 * own path above it is trusted) is refused, as is one that does not exist:
 * nothing is ever created above a root.
 */
#ifndef TARDIS_IMAGE_ROOTS_H
#define TARDIS_IMAGE_ROOTS_H

#include <stddef.h>
#include <sys/types.h>
#include "config.h"

/* 0: path lies inside (or is) a root of roots (colon-separated, as
 * tardis.conf's image_roots); its missing components are fine (nothing is
 * created).  -1: refused, why says why (`<path> is not under image_roots
 * (<roots>)...`). */
int image_roots_check(const char *roots, const char *path, char *why, size_t len);
/* As image_roots_check, but the missing components below the root are
 * made (mkdirat, mode): the directory is there on 0. */
int image_roots_mkdir(const char *roots, const char *path, mode_t mode, char *why, size_t len);

/* The same against cfg->image_roots. */
int image_root_check(const struct tardis_config *cfg, const char *path, char *why, size_t len);
int image_root_mkdir(const struct tardis_config *cfg, const char *path, mode_t mode, char *why,
		     size_t len);

#endif
