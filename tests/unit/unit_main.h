/* The unit tests (libcheck): one suite per module, run by unit_main.c. */
#ifndef TARDIS_UNIT_MAIN_H
#define TARDIS_UNIT_MAIN_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

Suite *exit_record_suite(void);
Suite *ctr_events_suite(void);
Suite *state_suite(void);
Suite *config_suite(void);
Suite *runc_args_suite(void);
/* Weak: each runs when its tests/unit_*.c file is part of the build. */
Suite *sha256_suite(void) __attribute__((weak));
Suite *filediff_suite(void) __attribute__((weak));
Suite *oci_config_suite(void) __attribute__((weak));
Suite *metrics_suite(void) __attribute__((weak));
Suite *config_edit_suite(void) __attribute__((weak));
Suite *container_summary_suite(void) __attribute__((weak));

/* A fresh mkdtemp directory below the run's own directory in /tmp (which
 * main removes at the end, whatever the tests left); malloc'd path. */
char *unit_tmpdir(void);
/* rm -rf without following symlinks. */
void unit_rmrf(const char *path);

#endif
