/*
 * The exit monitor's pinned maps, for everybody who only reads and
 * registers (tardis-runc, tardisctl, the agent once loaded): plain bpf(2)
 * calls, so that tardis-runc does not load libbpf, libelf and zlib on
 * every runc call it passes through.
 */
#include "monitor.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static const char *const map_pins[] = {
	TARDIS_PIN_EVENTS, TARDIS_PIN_REGISTERED, TARDIS_PIN_RECENT, TARDIS_PIN_COUNTERS,
};

int monitor_pin_path(char *buf, size_t len, const char *dir, const char *name)
{
	return snprintf(buf, len, "%s/%s", dir, name) >= (int)len ? -1 : 0;
}

static long sys_bpf(int cmd, union bpf_attr *attr)
{
	return syscall(__NR_bpf, cmd, attr, sizeof(*attr));
}

static int sys_obj_get(const char *path)
{
	union bpf_attr attr;

	memset(&attr, 0, sizeof(attr));
	attr.pathname = (__u64)(unsigned long)path;
	attr.file_flags = 0;
	return (int)sys_bpf(BPF_OBJ_GET, &attr);
}

static int sys_map_elem(int cmd, int fd, const void *key, void *value, __u64 flags)
{
	union bpf_attr attr;

	memset(&attr, 0, sizeof(attr));
	attr.map_fd = fd;
	attr.key = (__u64)(unsigned long)key;
	attr.value = (__u64)(unsigned long)value;
	attr.flags = flags;
	return (int)sys_bpf(cmd, &attr);
}

static int sys_map_update(int fd, const void *key, const void *value, __u64 flags)
{
	return sys_map_elem(BPF_MAP_UPDATE_ELEM, fd, key, (void *)value, flags);
}

static int sys_map_lookup(int fd, const void *key, void *value)
{
	return sys_map_elem(BPF_MAP_LOOKUP_ELEM, fd, key, value, 0);
}

static int sys_map_delete(int fd, const void *key)
{
	return sys_map_elem(BPF_MAP_DELETE_ELEM, fd, key, NULL, 0);
}

static int sys_map_next_key(int fd, const void *key, void *next)
{
	union bpf_attr attr;

	memset(&attr, 0, sizeof(attr));
	attr.map_fd = fd;
	attr.key = (__u64)(unsigned long)key;
	attr.next_key = (__u64)(unsigned long)next;
	return (int)sys_bpf(BPF_MAP_GET_NEXT_KEY, &attr);
}

/* Per-CPU values are laid out for every possible CPU ("0-3,5"). */
static int possible_cpus(void)
{
	char buf[256], *p = buf;
	int fd = open("/sys/devices/system/cpu/possible", O_RDONLY | O_CLOEXEC), n = 0;
	ssize_t r;

	if (fd < 0)
		return -errno;
	r = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (r <= 0)
		return -EINVAL;
	buf[r] = '\0';
	while (*p && *p != '\n') {
		char *end;
		long a = strtol(p, &end, 10), b = a;

		if (end == p)
			return -EINVAL;
		if (*end == '-')
			b = strtol(end + 1, &end, 10);
		if (b >= a)
			n = (int)b + 1 > n ? (int)b + 1 : n;
		p = *end == ',' ? end + 1 : end;
	}
	return n > 0 ? n : -EINVAL;
}

void monitor_init(struct tardis_monitor *m)
{
	memset(m, 0, sizeof(*m));
	m->events_fd = m->registered_fd = m->recent_fd = m->counters_fd = m->flags_fd = -1;
	m->registered_task_fd = -1;
	m->old_events_fd = m->old_recent_fd = -1;
}

/* ---- the contract, checked on the objects a pin directory holds ------- */

/* What this build expects of each pinned map.  max_entries is checked for
 * the arrays only, where a smaller map would lack the index we use; a hash
 * or ring of another size is read all the same. */
struct map_spec {
	const char *name;
	__u32 type, key_size, value_size, max_entries; /* max_entries 0: any */
};

static const struct map_spec map_specs[] = {
	{ TARDIS_PIN_EVENTS, BPF_MAP_TYPE_RINGBUF, 0, 0, 0 },
	{ TARDIS_PIN_REGISTERED, BPF_MAP_TYPE_HASH, sizeof(__u32), sizeof(struct tardis_reg), 0 },
	{ TARDIS_PIN_REGISTERED_TASK, BPF_MAP_TYPE_TASK_STORAGE, sizeof(int),
	  sizeof(struct tardis_reg), 0 },
	{ TARDIS_PIN_RECENT, BPF_MAP_TYPE_LRU_HASH, sizeof(struct tardis_exit_key),
	  sizeof(struct tardis_exit_event), 0 },
	{ TARDIS_PIN_COUNTERS, BPF_MAP_TYPE_PERCPU_ARRAY, sizeof(__u32),
	  sizeof(struct tardis_counters), 1 },
	{ TARDIS_PIN_FLAGS, BPF_MAP_TYPE_ARRAY, sizeof(__u32), sizeof(struct tardis_flags), 1 },
	{ TARDIS_PIN_LAYOUT, BPF_MAP_TYPE_ARRAY, sizeof(__u32), sizeof(struct tardis_layout), 1 },
};

static const struct map_spec *map_spec_find(const char *name)
{
	for (size_t i = 0; i < sizeof(map_specs) / sizeof(map_specs[0]); i++)
		if (strcmp(map_specs[i].name, name) == 0)
			return &map_specs[i];
	return NULL;
}

/* Hands *sub over to err (as tardis_make_error would set it); -1. */
static int error_pass(tardis_error_t *err, tardis_error_t *sub)
{
	if (err && !*err) {
		*err = *sub;
		*sub = NULL;
	}
	tardis_error_free(sub);
	return -1;
}

static int sys_map_info(int fd, struct bpf_map_info *info)
{
	union bpf_attr attr;

	memset(info, 0, sizeof(*info));
	memset(&attr, 0, sizeof(attr));
	attr.info.bpf_fd = fd;
	attr.info.info_len = sizeof(*info);
	attr.info.info = (__u64)(unsigned long)info;
	return (int)sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &attr);
}

/* "" when info is what spec asks for, else the first difference. */
static void map_mismatch(const struct map_spec *spec, const struct bpf_map_info *info,
			 char *why, size_t len)
{
	why[0] = '\0';
	if (info->type != spec->type)
		snprintf(why, len, "map type %u, expected %u", info->type, spec->type);
	else if (info->key_size != spec->key_size)
		snprintf(why, len, "key %u bytes, expected %u", info->key_size, spec->key_size);
	else if (info->value_size != spec->value_size)
		snprintf(why, len, "value %u bytes, expected %u", info->value_size,
			 spec->value_size);
	else if (spec->max_entries && info->max_entries != spec->max_entries)
		snprintf(why, len, "%u entries, expected %u", info->max_entries,
			 spec->max_entries);
}

int monitor_pin_open_checked(const char *pin_dir, const char *name, tardis_error_t *err)
{
	const struct map_spec *spec = map_spec_find(name);
	struct bpf_map_info info;
	char path[4200], why[128];
	int fd, e;

	if (!spec)
		return tardis_make_error(err, EINVAL, "no pinned map `%s` in the contract", name);
	if (monitor_pin_path(path, sizeof(path), pin_dir, name) < 0)
		return tardis_make_error(err, ENAMETOOLONG, "pin path");
	fd = sys_obj_get(path);
	if (fd < 0)
		return tardis_make_error(err, errno, "open pinned map `%s`", path);
	if (sys_map_info(fd, &info) < 0) {
		e = errno;
		close(fd);
		/* Not a map at all (a program pinned under that name). */
		return tardis_make_error(err, e == EINVAL ? EPROTO : e,
					 "pinned object `%s` is not a map", path);
	}
	map_mismatch(spec, &info, why, sizeof(why));
	if (why[0]) {
		close(fd);
		return tardis_make_error(err, EPROTO, "pinned map `%s` has another layout: %s",
					 path, why);
	}
	return fd;
}

int monitor_pin_layout_check(const char *pin_dir, tardis_error_t *err)
{
	struct tardis_layout want = { TARDIS_LAYOUT_VERSION, sizeof(struct tardis_exit_event) };
	struct tardis_layout got;
	tardis_error_t sub = NULL;
	__u32 zero = 0;
	int fd, ret = 0;

	fd = monitor_pin_open_checked(pin_dir, TARDIS_PIN_LAYOUT, &sub);
	if (fd < 0 && tardis_error_errno(sub) == ENOENT) {
		/* Pinned before the layout was recorded: layout 1, if the
		 * recent-exits map holds this build's event (the ring's
		 * records are the same struct). */
		tardis_error_free(&sub);
		fd = monitor_pin_open_checked(pin_dir, TARDIS_PIN_RECENT, &sub);
		if (fd < 0 && tardis_error_errno(sub) == EPROTO) {
			tardis_error_free(&sub);
			return tardis_make_error(err, EPROTO,
						 "no `%s` map and `%s` holds another event: "
						 "pinned by a build of another layout",
						 TARDIS_PIN_LAYOUT, TARDIS_PIN_RECENT);
		}
		tardis_error_free(&sub);
		if (fd >= 0)
			close(fd);
		return TARDIS_LAYOUT_VERSION == 1 ? 0
						  : tardis_make_error(err, EPROTO, "no `%s` map: "
								      "layout 1, expected %u",
								      TARDIS_PIN_LAYOUT,
								      TARDIS_LAYOUT_VERSION);
	}
	if (fd < 0)
		return error_pass(err, &sub);
	if (sys_map_lookup(fd, &zero, &got) < 0)
		ret = tardis_make_error(err, errno, "read the pinned `%s` map", TARDIS_PIN_LAYOUT);
	else if (got.version != want.version || got.event_size != want.event_size)
		ret = tardis_make_error(err, EPROTO,
					"pinned map `%s/%s` records layout %u with %u-byte events, "
					"expected layout %u with %u-byte events",
					pin_dir, TARDIS_PIN_LAYOUT, got.version, got.event_size,
					want.version, want.event_size);
	close(fd);
	return ret;
}

int monitor_open_pinned(struct tardis_monitor *m, const char *pin_dir, tardis_error_t *err)
{
	int *fds[] = { &m->events_fd, &m->registered_fd, &m->recent_fd, &m->counters_fd };
	tardis_error_t sub = NULL;

	monitor_init(m);
	snprintf(m->pin_dir, sizeof(m->pin_dir), "%s", pin_dir);
	/* Never trust a map of another build: a larger value would be written
	 * past our buffers, a smaller one read as garbage. */
	if (monitor_pin_layout_check(pin_dir, err) < 0)
		return -1;
	for (size_t i = 0; i < 4; i++) {
		*fds[i] = monitor_pin_open_checked(pin_dir, map_pins[i], err);
		if (*fds[i] < 0) {
			monitor_close(m);
			return -1;
		}
	}
	/* Absent in pins of an older tardisd: registrations then skip it. */
	m->flags_fd = monitor_pin_open_checked(pin_dir, TARDIS_PIN_FLAGS, &sub);
	if (m->flags_fd < 0 && tardis_error_errno(sub) != ENOENT) {
		monitor_close(m);
		return error_pass(err, &sub);
	}
	tardis_error_free(&sub);
	/* Absent on 5.10 and in pins of an older tardisd: the hash only. */
	m->registered_task_fd = monitor_pin_open_checked(pin_dir, TARDIS_PIN_REGISTERED_TASK, &sub);
	if (m->registered_task_fd < 0 && tardis_error_errno(sub) != ENOENT) {
		monitor_close(m);
		return error_pass(err, &sub);
	}
	tardis_error_free(&sub);
	return 0;
}

struct tardis_monitor *monitor_open_optional(struct tardis_monitor *m, const char *pin_dir,
					     tardis_error_t *why)
{
	tardis_error_t err = NULL;

	if (monitor_open_pinned(m, pin_dir, &err) == 0)
		return m;
	error_pass(why, &err);
	return NULL;
}

void monitor_close(struct tardis_monitor *m)
{
	int *fds[] = { &m->events_fd, &m->registered_fd, &m->recent_fd, &m->counters_fd,
		       &m->flags_fd, &m->registered_task_fd, &m->old_events_fd,
		       &m->old_recent_fd };

	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
		if (*fds[i] >= 0)
			close(*fds[i]);
		*fds[i] = -1;
	}
}

static int sys_pidfd_open(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

/* The registration on the init's own task_struct, through a pidfd: 1 when
 * written or when the process is gone already (no exit of it is to come),
 * 0 when it cannot be (no such map, or the kernel or the process refused). */
static int register_task(struct tardis_monitor *m, pid_t pid, const struct tardis_reg *reg)
{
	int pidfd, r;

	if (m->registered_task_fd < 0)
		return 0;
	pidfd = sys_pidfd_open(pid);
	if (pidfd < 0)
		return errno == ESRCH; /* no pidfds: the hash answers */
	r = sys_map_update(m->registered_task_fd, &pidfd, reg, BPF_ANY);
	close(pidfd);
	return r == 0;
}

int monitor_use_hash(struct tardis_monitor *m, tardis_error_t *err)
{
	struct tardis_flags fl = { .host_registrations = 1 };
	__u32 zero = 0;

	if (m->flags_fd >= 0 && sys_map_update(m->flags_fd, &zero, &fl, BPF_ANY) < 0)
		return tardis_make_error(err, errno, "set the host-registrations flag");
	return 0;
}

int monitor_register_pid(struct tardis_monitor *m, pid_t pid, uint64_t start_time,
			 tardis_error_t *err)
{
	struct tardis_reg reg = { .start_time = start_time };
	__u32 key = (__u32)pid;

	reg.registered_ns = (uint64_t)time_monotonic_ns();
	/* The hash too, always: a program of a build without task storage
	 * (pins reused from it), and monitor_unregister_pid, read it.  The
	 * flag, which makes every exit cost a hash lookup, only when the task
	 * storage could not be written; and before the hash entry, so the
	 * program never sees an entry it would skip. */
	if (!register_task(m, pid, &reg) && monitor_use_hash(m, err) < 0)
		return -1;
	if (sys_map_update(m->registered_fd, &key, &reg, BPF_ANY) < 0)
		return tardis_make_error(err, errno, "register pid %d in the kernel map", (int)pid);
	return 0;
}

/* The task-storage registration of pid, unless it is of another start. */
static void unregister_task(struct tardis_monitor *m, pid_t pid, uint64_t start_time)
{
	struct tardis_reg reg;
	int pidfd;

	if (m->registered_task_fd < 0)
		return;
	pidfd = sys_pidfd_open(pid);
	if (pidfd < 0)
		return; /* gone: its storage went with it */
	if (sys_map_lookup(m->registered_task_fd, &pidfd, &reg) == 0 &&
	    (!start_time || reg.start_time == start_time))
		sys_map_delete(m->registered_task_fd, &pidfd);
	close(pidfd);
}

int monitor_unregister_pid(struct tardis_monitor *m, pid_t pid, uint64_t start_time)
{
	struct tardis_reg reg;
	__u32 key = (__u32)pid;

	unregister_task(m, pid, start_time);
	if (start_time && sys_map_lookup(m->registered_fd, &key, &reg) == 0 &&
	    reg.start_time != start_time)
		return 0; /* a newer registration of a reused pid */

	if (sys_map_delete(m->registered_fd, &key) < 0 && errno != ENOENT)
		return -1;
	return 0;
}

int monitor_recent_lookup(struct tardis_monitor *m, pid_t pid, uint64_t start_time,
			  struct tardis_exit_event *out)
{
	struct tardis_exit_key key = { .tgid = (__u32)pid, .start_time = start_time };

	if (sys_map_lookup(m->recent_fd, &key, out) == 0)
		return 1;
	return errno == ENOENT ? 0 : -1;
}

int monitor_recent_foreach(struct tardis_monitor *m,
			   int (*fn)(const struct tardis_exit_event *ev, void *arg), void *arg)
{
	struct tardis_exit_key key, next;
	struct tardis_exit_event ev;
	void *prev = NULL;

	while (sys_map_next_key(m->recent_fd, prev, &next) == 0) {
		key = next;
		prev = &key;
		if (sys_map_lookup(m->recent_fd, &key, &ev) < 0)
			continue; /* evicted meanwhile */
		if (fn(&ev, arg) < 0)
			return -1;
	}
	return 0;
}

int monitor_counters(struct tardis_monitor *m, struct tardis_counters *sum, tardis_error_t *err)
{
	int ncpu = possible_cpus();
	struct tardis_counters *per;
	__u32 zero = 0;

	memset(sum, 0, sizeof(*sum));
	if (ncpu <= 0)
		return tardis_make_error(err, -ncpu, "count CPUs");
	per = calloc(ncpu, sizeof(*per));
	if (!per)
		return tardis_make_error(err, ENOMEM, "counters");
	if (sys_map_lookup(m->counters_fd, &zero, per) < 0) {
		int e = errno;

		free(per);
		return tardis_make_error(err, e, "read counters");
	}
	for (int i = 0; i < ncpu; i++) {
		sum->captured += per[i].captured;
		sum->drops += per[i].drops;
		sum->duplicates += per[i].duplicates;
		sum->recent_full += per[i].recent_full;
	}
	free(per);
	return 0;
}
