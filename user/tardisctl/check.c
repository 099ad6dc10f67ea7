/*
 * tardisctl check: the node preflight an operator runs after install (like
 * `criu check`, `podman info`).  Each check is one line, ok or FAIL with
 * the fix; a note says what could not be told and why.  Exit status 1 on
 * any FAIL.  Nothing is changed on the node: the state directory is not
 * created, bpffs not mounted, the monitor not loaded.
 */
#include "tardisctl.h"
#include "cleanup.h"
#include "criu_probe.h"
#include "preflight.h"
#include "process.h"
#include "runc_call.h"
#include "runc_version.h"
#include "util.h"

#include <bpf/bpf.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#define CONTAINERD_CONFIG_DEFAULT "/etc/containerd/config.toml"
#define VMLINUX_BTF "/sys/kernel/btf/vmlinux"
/* The image root every node has today; `image_roots` (issue 11) adds more. */
#define CHECKPOINTS_DIR "checkpoints"
#define CHECK_LINES_MAX 24

enum check_status { CHECK_OK, CHECK_FAIL, CHECK_NOTE, CHECK_SKIP };
static const char *const status_names[] = { "ok", "FAIL", "note", "skip" };

struct check_line {
	enum check_status status;
	char what[40];
	char detail[1024];
	char fix[512];
};

struct check_run {
	struct ctl *c;
	const char *containerd_config; /* "none": not checked */
	int no_dump;
	uint64_t dump_timeout; /* s */
	struct check_line lines[CHECK_LINES_MAX];
	int n;
	uint32_t events_map_id; /* the pinned ring buffer's, 0 when none */
};

static void report(struct check_run *r, enum check_status st, const char *what, const char *fix,
		   const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void report(struct check_run *r, enum check_status st, const char *what, const char *fix,
		   const char *fmt, ...)
{
	struct check_line *l;
	va_list ap;

	if (r->n >= CHECK_LINES_MAX)
		return;
	l = &r->lines[r->n++];
	l->status = st;
	snprintf(l->what, sizeof(l->what), "%s", what);
	snprintf(l->fix, sizeof(l->fix), "%s", st == CHECK_FAIL && fix ? fix : "");
	va_start(ap, fmt);
	vsnprintf(l->detail, sizeof(l->detail), fmt, ap);
	va_end(ap);
}

/* ---- runc ------------------------------------------------------------------ */

static int is_tardis_runc(const char *path)
{
	cleanup_free char *real = realpath(path, NULL);
	const char *base = real ? strrchr(real, '/') : NULL;

	return base && strcmp(base + 1, "tardis-runc") == 0;
}

/* The runc tardis-runc runs: the configured one, else the first runc on
 * PATH that is not tardis-runc itself (as the shim's runc_find). */
static int runc_path(const struct tardis_config *cfg, char *out, size_t len)
{
	const char *path = getenv("PATH");
	cleanup_free char *copy = NULL;
	char *save = NULL, *dir;

	if (cfg->runc[0]) {
		snprintf(out, len, "%s", cfg->runc);
		return access(out, X_OK) == 0 && !is_tardis_runc(out) ? 0 : -1;
	}
	copy = strdup(path && *path ? path : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin");
	for (dir = copy ? strtok_r(copy, ":", &save) : NULL; dir; dir = strtok_r(NULL, ":", &save)) {
		if (dir[0] != '/' || snprintf(out, len, "%s/runc", dir) >= (int)len)
			continue;
		if (access(out, X_OK) == 0 && !is_tardis_runc(out))
			return 0;
	}
	out[0] = '\0';
	return -1;
}

/* What tardis-runc has cached of this runc (runc_version.h): read only. */
static void check_runc_cache(struct check_run *r, const char *runc)
{
	cleanup_close int fd = open(r->c->cfg.state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct runc_info i;

	if (runc_info_cached(fd, runc, &i) < 0)
		report(r, CHECK_NOTE, "runc as cached", NULL, "%s not asked yet (tardis-runc asks at "
		       "its first checkpoint or restore)", runc);
	else
		report(r, CHECK_OK, "runc as cached", NULL, "%s, version %s, checkpoint %s (%s/%s)",
		       runc, i.version, i.checkpoint == 0 ? "no" : i.checkpoint == 1 ? "yes" : "not said",
		       r->c->cfg.state_dir, RUNC_INFO_FILE);
}

static void check_runc(struct check_run *r)
{
	cleanup_free char *version_text = NULL, *features = NULL;
	char runc[4096], version[128];
	int ck;

	if (runc_path(&r->c->cfg, runc, sizeof(runc)) < 0) {
		report(r, CHECK_FAIL, "runc", "install runc, or set `runc` in tardis.conf (TARDIS_RUNC)",
		       "%s%s", runc[0] ? "not executable (or tardis-runc itself): " : "no runc on PATH",
		       runc);
		report(r, CHECK_SKIP, "runc checkpoint", NULL, "no runc");
		return;
	}
	version_text = runc_output(runc, "--version");
	if (preflight_runc_version(version_text, version, sizeof(version)) < 0)
		snprintf(version, sizeof(version), "unknown (`runc --version` failed)");
	report(r, CHECK_OK, "runc", NULL, "%s, version %s", runc, version);
	features = runc_output(runc, "features");
	ck = preflight_runc_checkpoint(features);
	if (ck == 1)
		report(r, CHECK_OK, "runc checkpoint", NULL, "enabled (runc features)");
	else if (ck == 0)
		report(r, CHECK_FAIL, "runc checkpoint",
		       "use a runc built with checkpoint support (CRIU)",
		       "this runc is built without checkpoint support");
	else
		report(r, CHECK_NOTE, "runc checkpoint", NULL,
		       "runc does not say (no `runc features` checkpoint annotation)");
	check_runc_cache(r, runc);
}

/* ---- CRIU ------------------------------------------------------------------ */

#define CRIU_FIX "run scripts/build-criu.sh and set `criu` in tardis.conf (or TARDIS_CRIU) to the path it prints"

static void check_criu(struct check_run *r)
{
	struct runc_call call = { .cfg = &r->c->cfg };
	const char *criu = r->c->cfg.criu[0] ? r->c->cfg.criu : "criu";
	char why[4200], version[64], detail[1024];
	int ok;

	if (runc_call_criu_missing(&call, why, sizeof(why))) {
		report(r, CHECK_FAIL, "criu", CRIU_FIX, "%s", why);
		report(r, CHECK_SKIP, "criu check", NULL, "no CRIU");
		report(r, CHECK_SKIP, "criu dump", NULL, "no CRIU");
		return;
	}
	if (criu_probe_version(criu, version, sizeof(version)) < 0)
		snprintf(version, sizeof(version), "unknown");
	report(r, CHECK_OK, "criu", NULL, "%s, version %s", criu, version);
	ok = criu_probe_check(criu, CRIU_PROBE_CHECK_TIMEOUT, detail, sizeof(detail));
	report(r, ok ? CHECK_OK : CHECK_FAIL, "criu check", CRIU_FIX, "%s", detail);
	if (r->no_dump) {
		report(r, CHECK_SKIP, "criu dump", NULL, "--no-dump");
		return;
	}
	ok = criu_probe_server_dump(criu, (int)r->dump_timeout, detail, sizeof(detail));
	if (ok == 1)
		report(r, CHECK_OK, "criu dump", NULL, "%s", detail);
	else
		report(r, CHECK_FAIL, "criu dump",
		       ok == 0 ? "this CRIU cannot checkpoint a server (CRIU 4.1.1 fails on 6.x kernels); "
				 CRIU_FIX
			       : "run tardisctl check as root",
		       "%s%s", ok == 0 ? "cannot dump a process with a listening TCP socket: " : "",
		       detail);
}

/* ---- the kernel side: bpffs, BTF, the pinned monitor ------------------------ */

static void check_bpffs(struct check_run *r)
{
	const char *dir = r->c->cfg.bpf_dir;
	char parent[4096], *slash;
	struct statfs sfs;

	snprintf(parent, sizeof(parent), "%s", dir);
	slash = strrchr(parent, '/');
	if (slash && slash != parent)
		*slash = '\0';
	if (statfs(parent, &sfs) == 0 && sfs.f_type == BPF_FS_MAGIC)
		report(r, CHECK_OK, "bpffs", NULL, "%s is a bpffs", parent);
	else
		report(r, CHECK_FAIL, "bpffs",
		       "mount -t bpf bpf /sys/fs/bpf (tardisd mounts it when it starts)",
		       "%s is not a bpffs", parent);
}

static void check_btf(struct check_run *r)
{
	if (access(VMLINUX_BTF, R_OK) == 0)
		report(r, CHECK_OK, "btf", NULL, "%s (program variant: %s)", VMLINUX_BTF,
		       monitor_kernel_has_group_dead() ? "tardis_exit_gd" : "tardis_exit");
	else
		report(r, CHECK_FAIL, "btf", "a kernel built with CONFIG_DEBUG_INFO_BTF=y",
		       "%s: %s", VMLINUX_BTF, strerror(errno));
}

/* The pinned object <dir>/<name>'s info; 0, or -1 (errno). */
static int pinned_info(const char *dir, const char *name, void *info, __u32 len)
{
	cleanup_close int fd = -1;
	char path[4200];

	if (monitor_pin_path(path, sizeof(path), dir, name) < 0) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = bpf_obj_get(path);
	if (fd < 0)
		return -1;
	memset(info, 0, len);
	return bpf_obj_get_info_by_fd(fd, info, &len);
}

#define MONITOR_FIX "start tardisd (systemctl start tardisd): it loads, attaches and pins the program"

static void check_monitor(struct check_run *r)
{
	const char *dir = r->c->cfg.bpf_dir;
	cleanup_error tardis_error_t err = NULL;
	struct bpf_prog_info prog;
	struct bpf_link_info link;
	struct bpf_map_info events;

	if (pinned_info(dir, TARDIS_PIN_PROG, &prog, sizeof(prog)) < 0) {
		int e = errno;

		report(r, CHECK_FAIL, "exit monitor",
		       e == EPERM || e == EACCES ? "run tardisctl check as root" : MONITOR_FIX,
		       "no program pinned at %s/%s (%s)", dir, TARDIS_PIN_PROG, strerror(e));
		return;
	}
	if (pinned_info(dir, TARDIS_PIN_LINK, &link, sizeof(link)) < 0 || link.prog_id != prog.id) {
		report(r, CHECK_FAIL, "exit monitor", MONITOR_FIX,
		       "program %s (id %u) is loaded but not attached (no link pinned at %s)",
		       prog.name, prog.id, dir);
		return;
	}
	if (monitor_pin_layout_check(dir, &err) < 0) {
		report(r, CHECK_FAIL, "exit monitor",
		       "restart tardisd of this build: it replaces objects of another layout",
		       "%s", tardis_error_msg(err));
		return;
	}
	if (pinned_info(dir, TARDIS_PIN_EVENTS, &events, sizeof(events)) == 0)
		r->events_map_id = events.id;
	report(r, CHECK_OK, "exit monitor", NULL,
	       "program %s (id %u) attached to sched_process_exit (link %u), pinned at %s",
	       prog.name, prog.id, link.id, dir);
}

/* ---- the agent ---------------------------------------------------------------- */

/* 1 when pid holds an fd of the BPF map map_id (its /proc fdinfo says
 * "map_id:"), 0 when not, -1 when it cannot be told. */
static int holds_map(pid_t pid, uint32_t map_id)
{
	char path[64], line[128];
	cleanup_dir DIR *d = NULL;
	struct dirent *e;
	int said = 0;

	snprintf(path, sizeof(path), "/proc/%d/fdinfo", (int)pid);
	d = opendir(path);
	while (d && (e = readdir(d))) {
		cleanup_file FILE *f = NULL;
		char p[300];

		if (e->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", path, e->d_name);
		f = fopen(p, "re");
		while (f && fgets(line, sizeof(line), f)) {
			unsigned id;

			if (sscanf(line, "map_id: %u", &id) != 1)
				continue;
			said = 1;
			if (id == map_id)
				return 1;
		}
	}
	return d && said ? 0 : -1;
}

#define AGENT_FIX "start tardisd (systemctl start tardisd) with this state dir and pin dir"

static void check_agent(struct check_run *r)
{
	struct ctl *c = r->c;
	pid_t pid;
	int held;

	if (c->store.root_fd < 0) {
		report(r, CHECK_FAIL, "agent", AGENT_FIX, "no state directory %s", c->cfg.state_dir);
		return;
	}
	pid = ctl_agent_pid(c);
	if (pid <= 0) {
		report(r, CHECK_FAIL, "agent", AGENT_FIX,
		       "no tardisd running for %s (%s/%s is not locked)", c->cfg.state_dir,
		       c->cfg.state_dir, TARDISD_PID_FILE);
		return;
	}
	if (!r->events_map_id) {
		report(r, CHECK_FAIL, "agent",
		       "restart tardisd with --bpf-dir (or bpf_dir in tardis.conf) set to this pin dir",
		       "tardisd pid %d runs for %s, but nothing of this build is pinned at %s",
		       (int)pid, c->cfg.state_dir, c->cfg.bpf_dir);
		return;
	}
	held = holds_map(pid, r->events_map_id);
	if (held == 0)
		report(r, CHECK_FAIL, "agent",
		       "restart tardisd with --bpf-dir (or bpf_dir in tardis.conf) set to this pin dir",
		       "tardisd pid %d runs for %s but does not read the monitor pinned at %s",
		       (int)pid, c->cfg.state_dir, c->cfg.bpf_dir);
	else
		report(r, CHECK_OK, "agent", NULL, "tardisd pid %d, state dir %s, pin dir %s%s",
		       (int)pid, c->cfg.state_dir, c->cfg.bpf_dir,
		       held < 0 ? " (cannot tell which pin dir it reads)" : "");
}

/* ---- directories ------------------------------------------------------------------ */

/* 0 when a file can be created in dir; -1 with errno. */
static int dir_writable(const char *dir)
{
	char tmp[4200];
	int fd;

	if (snprintf(tmp, sizeof(tmp), "%s/.tardisctl-check.XXXXXX", dir) >= (int)sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = mkstemp(tmp);
	if (fd < 0)
		return -1;
	close(fd);
	unlink(tmp);
	return 0;
}

/* Opens the store when the state directory exists: never creating it nor
 * fixing its mode (store_open would). */
static void check_state_dir(struct check_run *r)
{
	struct ctl *c = r->c;
	const char *dir = c->cfg.state_dir;
	struct stat st;
	int fd;

	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		report(r, CHECK_FAIL, "state dir", "start tardisd (it creates the state directory)",
		       "%s: %s", dir, strerror(errno));
		return;
	}
	if (fstat(fd, &st) < 0 || st.st_uid != geteuid()) {
		report(r, CHECK_FAIL, "state dir", "chown root: the state directory is root's",
		       "%s is owned by uid %u, not %u", dir, (unsigned)st.st_uid, (unsigned)geteuid());
		close(fd);
		return;
	}
	c->store.root_fd = fd;
	if (dir_writable(dir) < 0)
		report(r, CHECK_FAIL, "state dir", "a writable file system for the state directory",
		       "%s: not writable: %s", dir, strerror(errno));
	else
		report(r, CHECK_OK, "state dir", NULL, "%s, writable%s", dir,
		       (st.st_mode & 07777) != 0700 ? " (mode not 0700: tardis sets it on first use)"
						     : "");
}

/* One image root: where checkpoint images are written. */
static void check_image_root(struct check_run *r, const char *root)
{
	struct stat st;

	if (stat(root, &st) < 0 && errno == ENOENT) {
		/* Made by the first checkpoint, inside the (checked) state dir. */
		if (r->c->store.root_fd >= 0)
			report(r, CHECK_OK, "image root", NULL,
			       "%s (not there yet: the first checkpoint creates it)", root);
		else
			report(r, CHECK_SKIP, "image root", NULL, "%s: no state directory", root);
	} else if (!S_ISDIR(st.st_mode)) {
		report(r, CHECK_FAIL, "image root", "remove it: images go in a directory",
		       "%s is not a directory", root);
	} else if (dir_writable(root) < 0) {
		report(r, CHECK_FAIL, "image root", "make it writable by root", "%s: not writable: %s",
		       root, strerror(errno));
	} else {
		report(r, CHECK_OK, "image root", NULL, "%s, writable", root);
	}
}

static void check_image_roots(struct check_run *r)
{
	char root[4200];

	snprintf(root, sizeof(root), "%s/%s", r->c->cfg.state_dir, CHECKPOINTS_DIR);
	check_image_root(r, root);
}

/* ---- containerd ---------------------------------------------------------------------- */

/* containerd kills a dead shim's cleanup, `runc delete --force` and so
 * tardis's checkpoint, after io.containerd.timeout.shim.cleanup. */
static void check_shim_cleanup(struct check_run *r, const char *path,
			       const struct containerd_scan *scan)
{
	double t = scan->shim_cleanup_s >= 0 ? scan->shim_cleanup_s : CONTAINERD_SHIM_CLEANUP_DEFAULT;
	int want = r->c->cfg.checkpoint_timeout;

	if (t >= want)
		report(r, CHECK_OK, "containerd shim cleanup", NULL,
		       "%s: io.containerd.timeout.shim.cleanup %.0f s >= checkpoint_timeout %d s", path,
		       t, want);
	else
		report(r, CHECK_FAIL, "containerd shim cleanup",
		       "add [timeouts] \"io.containerd.timeout.shim.cleanup\" = \"<checkpoint_timeout>s\" "
		       "to containerd's config and restart it",
		       "%s: io.containerd.timeout.shim.cleanup is %.0f s%s, checkpoint_timeout %d s: "
		       "a checkpoint on a dead shim's forced delete is killed after %.0f s", path, t,
		       scan->shim_cleanup_s >= 0 ? "" : " (containerd's default)", want, t);
}

static void check_containerd(struct check_run *r)
{
	const char *path = r->containerd_config ? r->containerd_config : CONTAINERD_CONFIG_DEFAULT;
	cleanup_error tardis_error_t err = NULL;
	cleanup_free char *text = NULL;
	cleanup_close int fd = -1;
	struct containerd_scan scan;
	struct stat st;

	if (strcmp(path, "none") == 0)
		return;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT && !r->containerd_config) {
		report(r, CHECK_NOTE, "containerd", NULL,
		       "%s not found (not a containerd node, or its config is elsewhere: "
		       "--containerd-config PATH)", path);
		return;
	}
	if (fd < 0 || fstat(fd, &st) < 0 || config_read_fd(fd, path, &st, &text, &err) < 0) {
		report(r, CHECK_FAIL, "containerd", "give the config's path: --containerd-config PATH",
		       "cannot read %s: %s", path, err ? tardis_error_msg(err) : strerror(errno));
		return;
	}
	if (preflight_containerd_scan(text, &scan)) {
		report(r, CHECK_OK, "containerd", NULL, "%s: %s BinaryName = %s", path, scan.section,
		       scan.tardis);
		check_shim_cleanup(r, path, &scan);
	} else
		report(r, CHECK_FAIL, "containerd",
		       "set BinaryName = \"/usr/local/bin/tardis-runc\" in the runtime's options "
		       "([plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc.options]) "
		       "and restart containerd",
		       "%s: no runtime runs tardis-runc (%s%s)", path,
		       scan.other[0] ? "it names " : "runc by default",
		       scan.other);
}

/* ---- output ------------------------------------------------------------------------ */

static int check_print(const struct check_run *r, int json)
{
	cleanup_json cJSON *j = NULL;
	cJSON *arr;
	int failed = 0;

	for (int i = 0; i < r->n; i++)
		failed += r->lines[i].status == CHECK_FAIL;
	if (!json) {
		for (int i = 0; i < r->n; i++) {
			const struct check_line *l = &r->lines[i];

			printf("%-5s %s: %s%s%s\n", status_names[l->status], l->what, l->detail,
			       l->fix[0] ? " -- fix: " : "", l->fix);
		}
		printf("%d check%s failed\n", failed, failed == 1 ? "" : "s");
		return failed ? 1 : 0;
	}
	j = cJSON_CreateObject();
	if (!j)
		return 1;
	cJSON_AddBoolToObject(j, "ok", failed == 0);
	arr = cJSON_AddArrayToObject(j, "checks");
	for (int i = 0; i < r->n; i++) {
		const struct check_line *l = &r->lines[i];
		cJSON *e = cJSON_CreateObject();

		cJSON_AddStringToObject(e, "check", l->what);
		cJSON_AddStringToObject(e, "status", l->status == CHECK_FAIL ? "fail" : status_names[l->status]);
		cJSON_AddStringToObject(e, "detail", l->detail);
		if (l->fix[0])
			cJSON_AddStringToObject(e, "fix", l->fix);
		cJSON_AddItemToArray(arr, e);
	}
	print_json(j);
	return failed ? 1 : 0;
}

static int check_main(struct ctl *c, int argc, char **argv)
{
	static struct check_run r;
	int json = 0, ret;
	const char *containerd_config = NULL;
	struct ctl_opt opts[] = {
		CTL_FLAG("json", 'j', &json),
		CTL_FLAG("no-dump", 0, &r.no_dump),
		CTL_STRING("containerd-config", 0, &containerd_config),
		CTL_DURATION("dump-timeout", 0, &r.dump_timeout, "(a duration: 90s, 2m)", NULL),
		CTL_OPT_END,
	};
	struct ctl_cmdline cl = { .opts = opts, .max_args = 0 };

	r.dump_timeout = CRIU_PROBE_DUMP_TIMEOUT;
	if ((ret = opts_parse(c, argc, argv, &cl)) >= 0)
		return ret;
	if (r.dump_timeout == 0 || r.dump_timeout > 3600)
		return ctl_misuse(c, "--dump-timeout must be 1s to 1h");
	r.c = c;
	r.containerd_config = containerd_config;
	check_runc(&r);
	check_criu(&r);
	check_bpffs(&r);
	check_btf(&r);
	check_monitor(&r);
	check_state_dir(&r);
	check_agent(&r);
	check_image_roots(&r);
	check_containerd(&r);
	return check_print(&r, json);
}

TARDISCTL_COMMAND(check, 0, "node preflight: runc, CRIU, BPF, agent, dirs, containerd",
		  "usage: tardisctl check [--json] [--no-dump] [--dump-timeout D]\n"
		  "                       [--containerd-config PATH|none]\n"
		  "Checks the node, one line each, ok or FAIL with the fix: the runc in use, its\n"
		  "version and checkpoint support; CRIU found, `criu check`, and a real `criu dump`\n"
		  "of a throwaway process listening on a TCP socket (a CRIU that cannot dump a\n"
		  "server fails here, with CRIU's first error); bpffs, BTF, the exit monitor loaded\n"
		  "and attached; tardisd running for this state dir and pin dir; the state dir\n"
		  "and image root writable; containerd's config naming tardis-runc as a runtime's\n"
		  "BinaryName (a note when there is no config).  Exit status 1 on any FAIL.\n"
		  "  --json                      the checks as JSON\n"
		  "  --no-dump                   skip the CRIU dump test\n"
		  "  --dump-timeout D            how long the dump test may take (default 2m)\n"
		  "  --containerd-config PATH    containerd's config (default\n"
		  "                              /etc/containerd/config.toml; none: not checked)\n");
