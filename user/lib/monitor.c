#include "monitor.h"
#include "log.h"
#include "tardis_exit.skel.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>
#include <linux/magic.h>

int monitor_pin_dir_ensure(const char *pin_dir, tardis_error_t *err)
{
	char parent[4096], *slash;
	struct statfs sfs;

	snprintf(parent, sizeof(parent), "%s", pin_dir);
	slash = strrchr(parent, '/');
	if (!slash || slash == parent)
		return tardis_make_error(err, EINVAL, "bad pin directory `%s`", pin_dir);
	*slash = '\0';
	if (statfs(parent, &sfs) < 0)
		return tardis_make_error(err, errno, "statfs `%s`", parent);
	if (sfs.f_type != BPF_FS_MAGIC) {
		/* A fresh machine may not have bpffs mounted yet. */
		if (strcmp(parent, "/sys/fs/bpf") != 0)
			return tardis_make_error(err, EINVAL, "`%s` is not a bpffs", parent);
		if (mount("bpf", parent, "bpf", 0, "mode=0700") < 0)
			return tardis_make_error(err, errno, "mount bpffs on `%s`", parent);
		log_info("mounted bpffs on %s", parent);
	}
	if (mkdir(pin_dir, 0700) < 0 && errno != EEXIST)
		return tardis_make_error(err, errno, "mkdir `%s`", pin_dir);
	return 0;
}

int monitor_kernel_has_group_dead(void)
{
	struct btf *btf = btf__load_vmlinux_btf();
	const struct btf_type *t;
	int id, ret = 0;

	if (!btf)
		return 0;
	/* typedef btf_trace_sched_process_exit -> ptr -> func_proto(ctx, task[, group_dead]) */
	id = btf__find_by_name_kind(btf, "btf_trace_sched_process_exit", BTF_KIND_TYPEDEF);
	if (id > 0) {
		t = btf__type_by_id(btf, id);
		t = btf__type_by_id(btf, t->type);
		if (t && btf_is_ptr(t))
			t = btf__type_by_id(btf, t->type);
		if (t && btf_is_func_proto(t) && btf_vlen(t) >= 3)
			ret = 1;
	}
	btf__free(btf);
	return ret;
}

/* Once loaded: record the layout the pinned objects follow, and freeze
 * it.  A map reused from an agent that died halfway already holds it. */
static int layout_record(struct bpf_map *map, tardis_error_t *err)
{
	struct tardis_layout want = { TARDIS_LAYOUT_VERSION, sizeof(struct tardis_exit_event) };
	struct tardis_layout got;
	__u32 zero = 0;
	int fd = bpf_map__fd(map);

	if (bpf_map_lookup_elem(fd, &zero, &got) == 0 && memcmp(&got, &want, sizeof(got)) == 0)
		return 0;
	if (bpf_map_update_elem(fd, &zero, &want, BPF_ANY) < 0 || bpf_map_freeze(fd) < 0)
		return tardis_make_error(err, errno, "record the layout in the `%s` map",
					 TARDIS_PIN_LAYOUT);
	return 0;
}

/* The skeleton's maps and the names they are pinned under. */
#define SKEL_MAPS 7
static void skel_maps(struct tardis_exit_bpf *skel, struct bpf_map *maps[SKEL_MAPS],
		      const char *names[SKEL_MAPS])
{
	struct bpf_map *m[SKEL_MAPS] = {
		skel->maps.events,   skel->maps.registered, skel->maps.recent_exits,
		skel->maps.counters, skel->maps.flags,      skel->maps.layout,
		skel->maps.registered_task,
	};
	static const char *const n[SKEL_MAPS] = {
		TARDIS_PIN_EVENTS,   TARDIS_PIN_REGISTERED, TARDIS_PIN_RECENT,
		TARDIS_PIN_COUNTERS, TARDIS_PIN_FLAGS,      TARDIS_PIN_LAYOUT,
		TARDIS_PIN_REGISTERED_TASK,
	};

	memcpy(maps, m, sizeof(m));
	memcpy(names, n, sizeof(n));
}

/* reuse: maps already pinned (an agent died halfway; pins_stale checked
 * them) are reused and the others pinned at load.  Else nothing is pinned
 * at load: the maps are pinned by pin_all, once the old pins are gone. */
/* hash: the variant without task storage (5.10), whose map is then
 * neither created nor pinned. */
static int skel_prepare(struct tardis_monitor *m, struct tardis_exit_bpf *skel, int reuse,
			int hash, struct bpf_program **prog, tardis_error_t *err)
{
	struct bpf_map *maps[SKEL_MAPS];
	const char *names[SKEL_MAPS];
	struct bpf_program *p;
	char path[4200];
	int gd;

	skel_maps(skel, maps, names);
	for (size_t i = 0; reuse && i < SKEL_MAPS; i++) {
		monitor_pin_path(path, sizeof(path), m->pin_dir, names[i]);
		if (bpf_map__set_pin_path(maps[i], path) < 0)
			return tardis_make_error(err, errno, "set pin path `%s`", path);
	}
	gd = !hash && monitor_kernel_has_group_dead();
	*prog = hash ? skel->progs.tardis_exit_hash
		: gd ? skel->progs.tardis_exit_gd : skel->progs.tardis_exit;
	bpf_object__for_each_program(p, skel->obj)
		bpf_program__set_autoload(p, p == *prog);
	if (hash && bpf_map__set_autocreate(skel->maps.registered_task, false) < 0)
		return tardis_make_error(err, errno, "leave out the task-storage map");
	m->variant = hash ? "tardis_exit_hash" : gd ? "tardis_exit_gd" : "tardis_exit";
	return 0;
}

/* The maps not pinned at load, the program, and last the link: its
 * presence means "everything is in place". */
static int pin_all(struct tardis_monitor *m, struct tardis_exit_bpf *skel,
		   struct bpf_program *prog, struct bpf_link *link, tardis_error_t *err)
{
	struct bpf_map *maps[SKEL_MAPS];
	const char *names[SKEL_MAPS];
	char path[4200];

	skel_maps(skel, maps, names);
	for (size_t i = 0; i < SKEL_MAPS; i++) {
		monitor_pin_path(path, sizeof(path), m->pin_dir, names[i]);
		if (bpf_map__fd(maps[i]) < 0)
			continue; /* not created: registered_task on 5.10 */
		if (!bpf_map__is_pinned(maps[i]) && bpf_map__pin(maps[i], path) < 0)
			return tardis_make_error(err, errno, "pin map `%s`", path);
	}
	monitor_pin_path(path, sizeof(path), m->pin_dir, TARDIS_PIN_PROG);
	unlink(path);
	if (bpf_program__pin(prog, path) < 0)
		return tardis_make_error(err, errno, "pin program `%s`", path);
	monitor_pin_path(path, sizeof(path), m->pin_dir, TARDIS_PIN_LINK);
	if (bpf_link__pin(link, path) < 0)
		return tardis_make_error(err, errno, "pin link `%s`", path);
	return 0;
}

static int unpin_objects(const char *pin_dir, tardis_error_t *err);

/* replacing: objects of another layout are pinned; the new program is
 * attached before they go, so that no exit falls between the two (one
 * caught by both is recorded once: the agent is idempotent). */
/* The skeleton, loaded: the variant with task storage, else (5.10: the
 * verifier refuses bpf_task_storage_get in a tracing program) the one that
 * reads the hash only.  NULL with err. */
static struct tardis_exit_bpf *skel_load(struct tardis_monitor *m, int reuse,
					 struct bpf_program **prog, tardis_error_t *err)
{
	struct tardis_exit_bpf *skel;

	for (int hash = 0; hash < 2; hash++) {
		skel = tardis_exit_bpf__open();
		if (!skel) {
			tardis_make_error(err, errno, "open BPF object");
			return NULL;
		}
		if (skel_prepare(m, skel, reuse, hash, prog, err) < 0) {
			tardis_exit_bpf__destroy(skel);
			return NULL;
		}
		if (tardis_exit_bpf__load(skel) == 0)
			return skel;
		if (hash) {
			tardis_make_error(err, errno, "load BPF program %s", m->variant);
		} else {
			log_info("exit monitor: %s does not load (%s): no task storage for "
				 "tracing programs (kernel < 5.11?); trying tardis_exit_hash",
				 m->variant, strerror(errno));
		}
		tardis_exit_bpf__destroy(skel);
	}
	return NULL;
}

static int load_and_pin(struct tardis_monitor *m, int replacing, tardis_error_t *err)
{
	struct tardis_exit_bpf *skel;
	struct bpf_program *prog = NULL;
	struct bpf_link *link = NULL;
	int ret = -1;

	skel = skel_load(m, !replacing, &prog, err);
	if (!skel)
		return -1;
	if (layout_record(skel->maps.layout, err) < 0)
		goto out;
	link = bpf_program__attach(prog);
	if (!link) {
		tardis_make_error(err, errno, "attach %s to tp_btf/sched_process_exit", m->variant);
		goto out;
	}
	if (replacing && unpin_objects(m->pin_dir, err) < 0)
		goto out;
	if (pin_all(m, skel, prog, link, err) < 0)
		goto out;
	m->loaded = 1;
	m->replaced = replacing;
	ret = 0;
out:
	bpf_link__destroy(link); /* the pin keeps it attached */
	tardis_exit_bpf__destroy(skel);
	return ret;
}

/* Every pinned object, the link first (its program then detaches), then
 * whatever else the directory holds: a build of another layout may have
 * pinned objects this one does not know. */
static int unpin_objects(const char *pin_dir, tardis_error_t *err)
{
	static const char *const known[] = {
		TARDIS_PIN_LINK,       TARDIS_PIN_PROG,   TARDIS_PIN_EVENTS,   TARDIS_PIN_REGISTERED,
		TARDIS_PIN_RECENT,     TARDIS_PIN_COUNTERS, TARDIS_PIN_FLAGS, TARDIS_PIN_LAYOUT,
		TARDIS_PIN_REGISTERED_TASK,
	};
	char path[4200];
	struct dirent *de;
	DIR *d;

	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		monitor_pin_path(path, sizeof(path), pin_dir, known[i]);
		if (unlink(path) < 0 && errno != ENOENT)
			return tardis_make_error(err, errno, "unpin `%s`", path);
	}
	d = opendir(pin_dir);
	if (!d)
		return errno == ENOENT ? 0 : tardis_make_error(err, errno, "open `%s`", pin_dir);
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (monitor_pin_path(path, sizeof(path), pin_dir, de->d_name) < 0 ||
		    (unlink(path) < 0 && errno != ENOENT)) {
			tardis_make_error(err, errno, "unpin `%s/%s`", pin_dir, de->d_name);
			closedir(d);
			return -1;
		}
	}
	closedir(d);
	return 0;
}

/* The maps the agent checks before reusing pins: all but `layout`, which
 * monitor_pin_layout_check reads. */
static const char *const checked_maps[] = {
	TARDIS_PIN_EVENTS, TARDIS_PIN_REGISTERED, TARDIS_PIN_RECENT,
	TARDIS_PIN_COUNTERS, TARDIS_PIN_FLAGS, TARDIS_PIN_REGISTERED_TASK,
};

/* 1 when the pins must be replaced: a map of another layout (each logged
 * with its difference), or a half set under a pinned link. */
static int pins_stale(const char *pin_dir, int link_pinned, int *layout_ok)
{
	tardis_error_t err = NULL;
	int stale = 0, fd;

	*layout_ok = monitor_pin_layout_check(pin_dir, &err) == 0;
	if (!*layout_ok) {
		tardis_error_log_release(TARDIS_LOG_WARN, "exit monitor", &err);
		stale = 1;
	}
	for (size_t i = 0; i < sizeof(checked_maps) / sizeof(checked_maps[0]); i++) {
		fd = monitor_pin_open_checked(pin_dir, checked_maps[i], &err);
		if (fd >= 0) {
			close(fd);
			continue;
		}
		/* A missing flags map: pinned by a tardisd older than it; no
		 * registered_task: that too, or tardis_exit_hash (5.10). */
		if (tardis_error_errno(err) == ENOENT &&
		    (!link_pinned || strcmp(checked_maps[i], TARDIS_PIN_FLAGS) == 0 ||
		     strcmp(checked_maps[i], TARDIS_PIN_REGISTERED_TASK) == 0)) {
			tardis_error_free(&err);
			continue;
		}
		tardis_error_log_release(TARDIS_LOG_WARN, "exit monitor", &err);
		stale = 1;
	}
	return stale;
}

/* Before the pins go: keep the old ring buffer and recent-exits map open
 * when their records are still this build's, so the agent drains them. */
static void keep_readable(struct tardis_monitor *m, const char *pin_dir, int layout_ok)
{
	tardis_error_t err = NULL;

	log_warn("exit monitor: replacing the objects pinned in %s by a build of another layout "
		 "(this build: layout %u, %zu-byte events)", pin_dir, TARDIS_LAYOUT_VERSION,
		 sizeof(struct tardis_exit_event));
	if (!layout_ok) {
		log_warn("exit monitor: the old ring buffer's records follow another layout and "
			 "cannot be read: its undelivered exits are dropped");
		log_warn("exit monitor: the old `%s` map cannot be read either: registered inits "
			 "that exited while no agent ran are recorded as unknown", TARDIS_PIN_RECENT);
		return;
	}
	log_info("exit monitor: the old ring buffer and `%s` follow this layout: what they "
		 "hold is drained", TARDIS_PIN_RECENT);
	m->old_events_fd = monitor_pin_open_checked(pin_dir, TARDIS_PIN_EVENTS, &err);
	tardis_error_free(&err);
	m->old_recent_fd = monitor_pin_open_checked(pin_dir, TARDIS_PIN_RECENT, &err);
	if (m->old_recent_fd < 0)
		tardis_error_log_release(TARDIS_LOG_WARN,
					 "exit monitor: exits in the old recent_exits map are lost",
					 &err);
}

/* The maps through the pins just checked or made, keeping what this
 * process knows about them. */
static int monitor_reopen(struct tardis_monitor *m, tardis_error_t *err)
{
	struct tardis_monitor kept = *m;

	if (monitor_open_pinned(m, kept.pin_dir, err) < 0) {
		kept.events_fd = kept.registered_fd = kept.recent_fd = -1;
		kept.counters_fd = kept.flags_fd = kept.registered_task_fd = -1;
		monitor_close(&kept);
		return -1;
	}
	m->variant = kept.variant;
	m->loaded = kept.loaded;
	m->replaced = kept.replaced;
	m->old_events_fd = kept.old_events_fd;
	m->old_recent_fd = kept.old_recent_fd;
	return 0;
}

int monitor_load_or_reuse(struct tardis_monitor *m, const char *pin_dir, tardis_error_t *err)
{
	char path[4200];
	int link_pinned, layout_ok, stale;

	monitor_init(m);
	if (strlen(pin_dir) >= sizeof(m->pin_dir))
		return tardis_make_error(err, ENAMETOOLONG, "pin directory");
	snprintf(m->pin_dir, sizeof(m->pin_dir), "%s", pin_dir);
	if (monitor_pin_dir_ensure(pin_dir, err) < 0)
		return -1;
	monitor_pin_path(path, sizeof(path), pin_dir, TARDIS_PIN_LINK);
	link_pinned = access(path, F_OK) == 0;
	stale = pins_stale(pin_dir, link_pinned, &layout_ok);
	if (stale)
		keep_readable(m, pin_dir, layout_ok);
	if (link_pinned && !stale)
		m->variant = "pinned";
	else if (load_and_pin(m, stale, err) < 0) {
		monitor_close(m);
		return -1;
	}
	return monitor_reopen(m, err);
}

int monitor_unpin(const char *pin_dir, tardis_error_t *err)
{
	if (unpin_objects(pin_dir, err) < 0)
		return -1;
	if (rmdir(pin_dir) < 0 && errno != ENOENT)
		return tardis_make_error(err, errno, "rmdir `%s`", pin_dir);
	return 0;
}
