#include "monitor.h"
#include "log.h"
#include "tardis_exit.skel.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>
#include <linux/magic.h>

static const char *const map_pins[] = {
	TARDIS_PIN_EVENTS, TARDIS_PIN_REGISTERED, TARDIS_PIN_RECENT, TARDIS_PIN_COUNTERS,
};



static int ensure_bpffs(const char *pin_dir, tardis_error_t *err)
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

static int load_and_pin(struct tardis_monitor *m, tardis_error_t *err)
{
	struct bpf_map *maps[5];
	struct tardis_exit_bpf *skel;
	struct bpf_program *prog, *other;
	struct bpf_link *link = NULL;
	char path[4200];
	int gd, ret = -1;

	skel = tardis_exit_bpf__open();
	if (!skel)
		return tardis_make_error(err, errno, "open BPF object");
	maps[0] = skel->maps.events;
	maps[1] = skel->maps.registered;
	maps[2] = skel->maps.recent_exits;
	maps[3] = skel->maps.counters;
	maps[4] = skel->maps.flags;
	/* Maps already pinned (an earlier agent died halfway) are reused. */
	for (size_t i = 0; i < 5; i++) {
		monitor_pin_path(path, sizeof(path), m->pin_dir, i < 4 ? map_pins[i] : TARDIS_PIN_FLAGS);
		if (bpf_map__set_pin_path(maps[i], path) < 0) {
			tardis_make_error(err, errno, "set pin path `%s`", path);
			goto out;
		}
	}
	gd = monitor_kernel_has_group_dead();
	prog = gd ? skel->progs.tardis_exit_gd : skel->progs.tardis_exit;
	other = gd ? skel->progs.tardis_exit : skel->progs.tardis_exit_gd;
	bpf_program__set_autoload(other, false);
	bpf_program__set_autoload(skel->progs.tardis_exit_empty, false);
	m->variant = gd ? "tardis_exit_gd" : "tardis_exit";
	if (tardis_exit_bpf__load(skel) < 0) {
		tardis_make_error(err, errno, "load BPF program %s", m->variant);
		goto out;
	}
	link = bpf_program__attach(prog);
	if (!link) {
		tardis_make_error(err, errno, "attach %s to tp_btf/sched_process_exit", m->variant);
		goto out;
	}
	monitor_pin_path(path, sizeof(path), m->pin_dir, TARDIS_PIN_PROG);
	unlink(path);
	if (bpf_program__pin(prog, path) < 0) {
		tardis_make_error(err, errno, "pin program `%s`", path);
		goto out;
	}
	/* The link is pinned last: its presence means "everything is in place". */
	monitor_pin_path(path, sizeof(path), m->pin_dir, TARDIS_PIN_LINK);
	if (bpf_link__pin(link, path) < 0) {
		tardis_make_error(err, errno, "pin link `%s`", path);
		goto out;
	}
	m->loaded = 1;
	ret = 0;
out:
	bpf_link__destroy(link); /* the pin keeps it attached */
	tardis_exit_bpf__destroy(skel);
	return ret;
}

int monitor_load_or_reuse(struct tardis_monitor *m, const char *pin_dir, tardis_error_t *err)
{
	char path[4200];

	monitor_init(m);
	if (strlen(pin_dir) >= sizeof(m->pin_dir))
		return tardis_make_error(err, ENAMETOOLONG, "pin directory");
	snprintf(m->pin_dir, sizeof(m->pin_dir), "%s", pin_dir);
	if (ensure_bpffs(pin_dir, err) < 0)
		return -1;
	monitor_pin_path(path, sizeof(path), pin_dir, TARDIS_PIN_LINK);
	if (access(path, F_OK) == 0) {
		m->variant = "pinned";
	} else if (load_and_pin(m, err) < 0) {
		return -1;
	}
	{
		const char *variant = m->variant;
		int loaded = m->loaded;

		if (monitor_open_pinned(m, pin_dir, err) < 0)
			return -1;
		m->variant = variant;
		m->loaded = loaded;
	}
	return 0;
}


int monitor_unpin(const char *pin_dir, tardis_error_t *err)
{
	static const char *const all[] = {
		TARDIS_PIN_LINK,     TARDIS_PIN_PROG,   TARDIS_PIN_EVENTS,
		TARDIS_PIN_REGISTERED, TARDIS_PIN_RECENT, TARDIS_PIN_COUNTERS,
		TARDIS_PIN_FLAGS,
	};
	char path[4200];

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		monitor_pin_path(path, sizeof(path), pin_dir, all[i]);
		if (unlink(path) < 0 && errno != ENOENT)
			return tardis_make_error(err, errno, "unpin `%s`", path);
	}
	if (rmdir(pin_dir) < 0 && errno != ENOENT)
		return tardis_make_error(err, errno, "rmdir `%s`", pin_dir);
	return 0;
}





