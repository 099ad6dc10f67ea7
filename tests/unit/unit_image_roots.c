/* image_roots: which host paths a container may name (image_roots.h), and
 * tardis.conf's image_roots. */
#include "unit_main.h"
#include "config.h"
#include "image_roots.h"
#include "state.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A temp dir holding roots/a, roots/ab and outside/. */
static char *make_tree(void)
{
	char *t = unit_tmpdir();
	char p[PATH_MAX];

	snprintf(p, sizeof(p), "%s/roots", t);
	ck_assert_int_eq(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/roots/a", t);
	ck_assert_int_eq(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/roots/ab", t);
	ck_assert_int_eq(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/outside", t);
	ck_assert_int_eq(mkdir(p, 0755), 0);
	return t;
}

static int check(const char *roots, const char *t, const char *rel, char *why, size_t len)
{
	char p[PATH_MAX];

	snprintf(p, sizeof(p), "%s%s", t, rel);
	return image_roots_check(roots, p, why, len);
}

START_TEST(inside_equal_sibling)
{
	char *t = make_tree();
	char roots[PATH_MAX], why[4096];

	snprintf(roots, sizeof(roots), "%s/roots/a", t);
	ck_assert_int_eq(check(roots, t, "/roots/a", why, sizeof(why)), 0);
	ck_assert_int_eq(check(roots, t, "/roots/a/", why, sizeof(why)), 0);
	ck_assert_int_eq(check(roots, t, "/roots/a/x/y", why, sizeof(why)), 0); /* missing: fine */
	ck_assert_int_eq(check(roots, t, "/roots//a/./x", why, sizeof(why)), 0);
	ck_assert_int_eq(check(roots, t, "/roots/ab", why, sizeof(why)), -1);
	ck_assert_ptr_nonnull(strstr(why, "is not under image_roots ("));
	ck_assert_ptr_nonnull(strstr(why, roots));
	ck_assert_int_eq(check(roots, t, "/roots/ab/x", why, sizeof(why)), -1);
	ck_assert_int_eq(check(roots, t, "/roots", why, sizeof(why)), -1);
	ck_assert_int_eq(check(roots, t, "/outside", why, sizeof(why)), -1);
	/* `..` anywhere, even when it would land inside. */
	ck_assert_int_eq(check(roots, t, "/roots/a/../a/x", why, sizeof(why)), -1);
	ck_assert_int_eq(check(roots, t, "/roots/a/x/..", why, sizeof(why)), -1);
	ck_assert_int_eq(image_roots_check(roots, "/etc", why, sizeof(why)), -1);
	ck_assert_int_eq(image_roots_check(roots, "/", why, sizeof(why)), -1);
	/* A second root of the list. */
	snprintf(roots, sizeof(roots), "/nonexistent-root:%s/roots/ab", t);
	ck_assert_int_eq(check(roots, t, "/roots/ab/x", why, sizeof(why)), 0);
	ck_assert_int_eq(check(roots, t, "/roots/a/x", why, sizeof(why)), -1);
	unit_rmrf(t);
	free(t);
}
END_TEST

START_TEST(relative_and_empty)
{
	char why[4096];

	ck_assert_int_eq(image_roots_check("/tmp", "tmp/x", why, sizeof(why)), -1);
	ck_assert_int_eq(image_roots_check("/tmp", "", why, sizeof(why)), -1);
	ck_assert_int_eq(image_roots_check("tmp", "/tmp/x", why, sizeof(why)), -1);
	ck_assert_int_eq(image_roots_check("", "/tmp/x", why, sizeof(why)), -1);
	ck_assert_ptr_nonnull(strstr(why, "/tmp/x is not under image_roots (none)"));
	ck_assert_int_eq(image_roots_check(":", "/tmp/x", why, sizeof(why)), -1);
}
END_TEST

START_TEST(symlink_inside_points_out)
{
	char *t = make_tree();
	char roots[PATH_MAX], p[PATH_MAX], q[PATH_MAX], why[4096];
	struct stat st;

	snprintf(roots, sizeof(roots), "%s/roots/a", t);
	snprintf(p, sizeof(p), "%s/outside", t);
	snprintf(q, sizeof(q), "%s/roots/a/link", t);
	ck_assert_int_eq(symlink(p, q), 0);
	ck_assert_int_eq(check(roots, t, "/roots/a/link", why, sizeof(why)), -1);
	ck_assert_ptr_nonnull(strstr(why, "symlink"));
	ck_assert_int_eq(check(roots, t, "/roots/a/link/x", why, sizeof(why)), -1);
	snprintf(q, sizeof(q), "%s/roots/a/link/x/y", t);
	ck_assert_int_eq(image_roots_mkdir(roots, q, 0700, why, sizeof(why)), -1);
	snprintf(p, sizeof(p), "%s/outside/x", t);
	ck_assert_int_eq(lstat(p, &st), -1); /* nothing made outside */
	/* A file where a directory is expected. */
	snprintf(q, sizeof(q), "%s/roots/a/file", t);
	ck_assert_int_eq(close(creat(q, 0600)), 0);
	ck_assert_int_eq(check(roots, t, "/roots/a/file/x", why, sizeof(why)), -1);
	unit_rmrf(t);
	free(t);
}
END_TEST

START_TEST(root_is_symlink)
{
	char *t = make_tree();
	char roots[PATH_MAX], p[PATH_MAX], why[4096];
	struct stat st;

	snprintf(p, sizeof(p), "%s/outside", t);
	snprintf(roots, sizeof(roots), "%s/roots/link", t);
	ck_assert_int_eq(symlink(p, roots), 0);
	ck_assert_int_eq(check(roots, t, "/roots/link/x", why, sizeof(why)), -1);
	ck_assert_ptr_nonnull(strstr(why, "a symlink or not a directory"));
	snprintf(p, sizeof(p), "%s/roots/link/x", t);
	ck_assert_int_eq(image_roots_mkdir(roots, p, 0755, why, sizeof(why)), -1);
	snprintf(p, sizeof(p), "%s/outside/x", t);
	ck_assert_int_eq(lstat(p, &st), -1);
	/* A root that does not exist is never made. */
	snprintf(roots, sizeof(roots), "%s/roots/none", t);
	snprintf(p, sizeof(p), "%s/roots/none/x", t);
	ck_assert_int_eq(image_roots_mkdir(roots, p, 0755, why, sizeof(why)), -1);
	ck_assert_int_eq(lstat(roots, &st), -1);
	unit_rmrf(t);
	free(t);
}
END_TEST

START_TEST(mkdir_below_root)
{
	char *t = make_tree();
	char roots[PATH_MAX], p[PATH_MAX], why[4096];
	struct stat st;

	snprintf(roots, sizeof(roots), "%s/roots/a", t);
	snprintf(p, sizeof(p), "%s/roots/a/work/ns/id", t);
	ck_assert_int_eq(image_roots_mkdir(roots, p, 0755, why, sizeof(why)), 0);
	ck_assert_int_eq(lstat(p, &st), 0);
	ck_assert(S_ISDIR(st.st_mode));
	ck_assert_int_eq(image_roots_mkdir(roots, p, 0755, why, sizeof(why)), 0); /* again */
	snprintf(p, sizeof(p), "%s/roots/ab/work", t);
	ck_assert_int_eq(image_roots_mkdir(roots, p, 0755, why, sizeof(why)), -1);
	ck_assert_int_eq(lstat(p, &st), -1);
	unit_rmrf(t);
	free(t);
}
END_TEST

START_TEST(config_image_roots)
{
	struct tardis_config c;
	tardis_error_t err = NULL;

	config_defaults(&c);
	ck_assert_str_eq(c.image_roots, TARDIS_STATE_DIR_DEFAULT "/checkpoints");
	ck_assert_int_eq(config_parse(&c, "image_roots =\n", &err), -1);
	tardis_error_free(&err);
	ck_assert_int_eq(config_parse(&c, "image_roots = /mnt/nfs:/srv/ck\n", &err), 0);
	ck_assert_str_eq(c.image_roots, "/mnt/nfs:/srv/ck");
	ck_assert_int_eq(config_parse(&c, "image_roots = relative\n", &err), -1);
	tardis_error_free(&err);
	ck_assert_int_eq(config_parse(&c, "image_roots = /a::/b\n", &err), -1);
	tardis_error_free(&err);
	ck_assert_int_eq(config_parse(&c, "image_roots = /a/../b\n", &err), -1);
	tardis_error_free(&err);
	ck_assert_int_eq(config_parse(&c, "image_roots = /1:/2:/3:/4:/5:/6:/7:/8:/9:/10:/11:/12:"
					  "/13:/14:/15:/16:/17\n", &err), -1);
	tardis_error_free(&err);
	/* The default follows the state dir; the environment overrides. */
	setenv("TARDIS_CONFIG", "/nonexistent/tardis.conf", 1);
	setenv("TARDIS_STATE_DIR", "/var/lib/x", 1);
	unsetenv("TARDIS_IMAGE_ROOTS");
	ck_assert_int_eq(config_load(&c, &err), 0);
	ck_assert_str_eq(c.image_roots, "/var/lib/x/checkpoints");
	setenv("TARDIS_IMAGE_ROOTS", "/r1:/r2", 1);
	ck_assert_int_eq(config_load(&c, &err), 0);
	ck_assert_str_eq(c.image_roots, "/r1:/r2");
	setenv("TARDIS_IMAGE_ROOTS", "r1", 1);
	ck_assert_int_eq(config_load(&c, &err), -1);
	tardis_error_free(&err);
	unsetenv("TARDIS_IMAGE_ROOTS");
	unsetenv("TARDIS_STATE_DIR");
	unsetenv("TARDIS_CONFIG");
}
END_TEST

UNIT_SUITE(image_roots, "paths", inside_equal_sibling, relative_and_empty,
	   symlink_inside_points_out, root_is_symlink, mkdir_below_root, config_image_roots)
