/*
 * Changing settings in tardis.conf in place (`tardisctl log`): the lines of
 * the given keys are replaced (the first one; later duplicates dropped) or
 * appended; every other line, comments included, is kept as it was.
 */
#ifndef TARDIS_CONFIG_EDIT_H
#define TARDIS_CONFIG_EDIT_H

#include <stddef.h>
#include "config.h"
#include "error.h"

struct config_setting {
	const char *key;
	const char *value;
};

/* Edits text into a new malloc'd text (tests, fuzzing). */
char *config_edit_text(const char *text, const struct config_setting *set, size_t n);

/* Rewrites path atomically (temp file in the same directory, fsync,
 * rename, fsync of the directory), keeping its mode and owner; a symlinked
 * config has its target replaced.  A missing file is created (0644).  The
 * result must parse, or nothing is written. */
int config_file_update(const char *path, const struct config_setting *set, size_t n,
		       tardis_error_t *err);

#endif
