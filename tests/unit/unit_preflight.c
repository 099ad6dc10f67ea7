/* preflight.c: what `tardisctl check` parses (runc's --version and
 * features, containerd's config.toml); criu_probe.c's verdicts on CRIUs
 * that cannot run or fail. */
#include "unit_main.h"
#include "criu_probe.h"
#include "preflight.h"

#include <dirent.h>

START_TEST(runc_version)
{
	char v[64];

	ck_assert_int_eq(preflight_runc_version("runc version 1.1.5+ds1\ncommit: 1.1.5+ds1-1+deb12u1\n"
						"spec: 1.0.2-dev\n", v, sizeof(v)), 0);
	ck_assert_str_eq(v, "1.1.5+ds1");
	ck_assert_int_eq(preflight_runc_version("runc version 1.3.6\ncommit: v1.3.6-0\n", v, sizeof(v)), 0);
	ck_assert_str_eq(v, "1.3.6");
	ck_assert_int_eq(preflight_runc_version("runc version 1.4.0-rc.1", v, sizeof(v)), 0);
	ck_assert_str_eq(v, "1.4.0-rc.1");
	ck_assert_int_eq(preflight_runc_version("crun version 1.8\n", v, sizeof(v)), -1);
	ck_assert_str_eq(v, "");
	ck_assert_int_eq(preflight_runc_version("warning: x runc version 1.1\n", v, sizeof(v)), -1);
	ck_assert_int_eq(preflight_runc_version("runc version \n", v, sizeof(v)), -1);
	ck_assert_int_eq(preflight_runc_version("runc version dev\n", v, sizeof(v)), -1);
	ck_assert_int_eq(preflight_runc_version(NULL, v, sizeof(v)), -1);
	ck_assert_int_eq(preflight_runc_version("runc version 1.1.5+ds1", v, 4), -1);
}
END_TEST

START_TEST(version_split)
{
	int a = -1, b = -1;

	ck_assert_int_eq(preflight_version_split("1.1.5+ds1", &a, &b), 0);
	ck_assert_int_eq(a, 1);
	ck_assert_int_eq(b, 1);
	ck_assert_int_eq(preflight_version_split("1.12", &a, &b), 0);
	ck_assert_int_eq(b, 12);
	ck_assert_int_eq(preflight_version_split("1", &a, &b), -1);
	ck_assert_int_eq(preflight_version_split("v1.2", &a, &b), -1);
	ck_assert_int_eq(preflight_version_split("1.x", &a, &b), -1);
	ck_assert_int_eq(preflight_version_split(NULL, &a, &b), -1);
}
END_TEST

START_TEST(runc_checkpoint)
{
	ck_assert_int_eq(preflight_runc_checkpoint(
				 "{\"ociVersionMin\":\"1.0.0\",\"annotations\":{"
				 "\"org.opencontainers.runc.checkpoint.enabled\":\"true\","
				 "\"org.opencontainers.runc.version\":\"1.1.5\"}}"), 1);
	ck_assert_int_eq(preflight_runc_checkpoint(
				 "{\"annotations\":{\"org.opencontainers.runc.checkpoint.enabled\":\"false\"}}"),
			 0);
	ck_assert_int_eq(preflight_runc_checkpoint("{\"annotations\":{}}"), -1);
	ck_assert_int_eq(preflight_runc_checkpoint("{\"ociVersionMin\":\"1.0.0\"}"), -1);
	ck_assert_int_eq(preflight_runc_checkpoint(
				 "{\"annotations\":{\"org.opencontainers.runc.checkpoint.enabled\":true}}"),
			 -1);
	ck_assert_int_eq(preflight_runc_checkpoint("Incorrect Usage.\n"), -1);
	ck_assert_int_eq(preflight_runc_checkpoint(NULL), -1);
}
END_TEST

START_TEST(containerd_cri_v2)
{
	struct containerd_scan s;
	const char *toml =
		"version = 2\n"
		"[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc]\n"
		"  runtime_type = \"io.containerd.runc.v2\"\n"
		"  [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc.options]\n"
		"    # BinaryName = \"/usr/local/bin/tardis-runc\"\n"
		"    BinaryName = \"/usr/sbin/runc\"\n"
		"[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.tardis.options]\n"
		"    BinaryName=\"/usr/local/bin/tardis-runc\" # tardis\n";

	ck_assert_int_eq(preflight_containerd_scan(toml, &s), 1);
	ck_assert_int_eq(s.binaries, 2);
	ck_assert_str_eq(s.tardis, "/usr/local/bin/tardis-runc");
	ck_assert_str_eq(s.section,
			 "[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.tardis.options]");
	ck_assert_str_eq(s.other, "/usr/sbin/runc");
}
END_TEST

START_TEST(containerd_v3_and_v1)
{
	struct containerd_scan s;

	/* containerd 2.x: single quotes, the CRI runtime plugin's new name. */
	ck_assert_int_eq(preflight_containerd_scan(
				 "version = 3\n"
				 "[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]\n"
				 "  BinaryName = '/opt/tardis/bin/tardis-runc'\n", &s), 1);
	ck_assert_str_eq(s.tardis, "/opt/tardis/bin/tardis-runc");
	/* The v1 linux runtime's `runtime` key; elsewhere `runtime` is not a binary. */
	ck_assert_int_eq(preflight_containerd_scan(
				 "[plugins.\"io.containerd.runtime.v1.linux\"]\n  runtime = \"tardis-runc\"\n",
				 &s), 1);
	ck_assert_int_eq(preflight_containerd_scan(
				 "[plugins.other]\n  runtime = \"tardis-runc\"\n", &s), 0);
	ck_assert_int_eq(s.binaries, 0);
	/* A dotted key. */
	ck_assert_int_eq(preflight_containerd_scan(
				 "[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc]\n"
				 "options.BinaryName = \"/usr/bin/tardis-runc\"\n", &s), 1);
}
END_TEST

START_TEST(containerd_none)
{
	struct containerd_scan s;

	/* Debian's default config: no BinaryName at all. */
	ck_assert_int_eq(preflight_containerd_scan(
				 "version = 2\n[plugins]\n  [plugins.\"io.containerd.grpc.v1.cri\"]\n"
				 "    [plugins.\"io.containerd.grpc.v1.cri\".cni]\n"
				 "      bin_dir = \"/usr/lib/cni\"\n", &s), 0);
	ck_assert_int_eq(s.binaries, 0);
	ck_assert_str_eq(s.other, "");
	/* Not the file name: a directory called tardis-runc, a lookalike. */
	ck_assert_int_eq(preflight_containerd_scan(
				 "BinaryName = \"/opt/tardis-runc/runc\"\nBinaryName = \"/x/tardis-runc2\"\n",
				 &s), 0);
	ck_assert_int_eq(s.binaries, 2);
	ck_assert_str_eq(s.other, "/opt/tardis-runc/runc");
	/* Unquoted, empty, commented: not values. */
	ck_assert_int_eq(preflight_containerd_scan(
				 "BinaryName = tardis-runc\nBinaryName = \"\"\n#BinaryName = \"tardis-runc\"\n",
				 &s), 0);
	ck_assert_int_eq(s.binaries, 0);
	ck_assert_int_eq(preflight_containerd_scan("", &s), 0);
	ck_assert_int_eq(preflight_containerd_scan(NULL, &s), 0);
}
END_TEST

START_TEST(shim_cleanup_timeout)
{
	struct containerd_scan s;

	ck_assert_double_eq(preflight_go_duration("5s"), 5);
	ck_assert_double_eq(preflight_go_duration("2m30s"), 150);
	ck_assert_double_eq(preflight_go_duration("1h"), 3600);
	ck_assert_double_eq(preflight_go_duration("1500ms"), 1.5);
	ck_assert_double_eq(preflight_go_duration("0"), 0);
	ck_assert_double_eq(preflight_go_duration("5"), -1);
	ck_assert_double_eq(preflight_go_duration("5x"), -1);
	ck_assert_double_eq(preflight_go_duration(""), -1);
	preflight_containerd_scan("BinaryName = \"tardis-runc\"\n", &s);
	ck_assert_double_eq(s.shim_cleanup_s, -1);
	preflight_containerd_scan("[timeouts]\n  \"io.containerd.timeout.shim.cleanup\" = \"2m\"\n"
				  "  \"io.containerd.timeout.shim.load\" = \"5s\"\n", &s);
	ck_assert_double_eq(s.shim_cleanup_s, 120);
	/* Only in [timeouts]. */
	preflight_containerd_scan("[other]\n\"io.containerd.timeout.shim.cleanup\" = \"2m\"\n", &s);
	ck_assert_double_eq(s.shim_cleanup_s, -1);
}
END_TEST

/* Entries of dir but . and .. */
static int entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)))
		n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
	closedir(d);
	return n;
}

START_TEST(criu_missing_or_failing)
{
	char detail[512], v[32];
	char *tmp = unit_tmpdir();

	ck_assert_int_eq(criu_probe_check("/nonexistent/criu", 10, detail, sizeof(detail)), 0);
	UNIT_ASSERT_CONTAINS(detail, "exit status 127");
	ck_assert_int_eq(criu_probe_version("/nonexistent/criu", v, sizeof(v)), -1);
	ck_assert_int_eq(criu_probe_check("/bin/false", 10, detail, sizeof(detail)), 0);
	ck_assert_str_eq(detail, "exit status 1");
	ck_assert_int_eq(criu_probe_check("/bin/true", 10, detail, sizeof(detail)), 1);
	/* The dump test: a failing "CRIU", its listener killed, its dir gone. */
	setenv("TMPDIR", tmp, 1);
	ck_assert_int_eq(criu_probe_server_dump("/bin/false", 10, detail, sizeof(detail)), 0);
	ck_assert_str_eq(detail, "criu dump: exit status 1");
	ck_assert_int_eq(entries(tmp), 0);
	unsetenv("TMPDIR");
	free(tmp);
}
END_TEST

Suite *preflight_suite(void)
{
	const struct unit_tcase cases[] = {
		{ "parse", 0, UNIT_TESTS(runc_version, version_split, runc_checkpoint, containerd_cri_v2,
					  containerd_v3_and_v1, containerd_none, shim_cleanup_timeout) },
		{ "criu_probe", 30, UNIT_TESTS(criu_missing_or_failing) },
		{ NULL, 0, NULL },
	};

	return unit_suite("preflight", cases);
}
