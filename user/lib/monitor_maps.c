/*
 * The exit monitor's pinned maps, for everybody who only reads and
 * registers (tardis-runc, tardisctl, the agent once loaded): plain bpf(2)
 * calls, so that tardis-runc does not load libbpf, libelf and zlib on
 * every runc call it passes through.
 */
#include "monitor.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
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
}

int monitor_open_pinned(struct tardis_monitor *m, const char *pin_dir, tardis_error_t *err)
{
	int *fds[] = { &m->events_fd, &m->registered_fd, &m->recent_fd, &m->counters_fd };
	char path[4200];

	monitor_init(m);
	snprintf(m->pin_dir, sizeof(m->pin_dir), "%s", pin_dir);
	for (size_t i = 0; i < 4; i++) {
		if (monitor_pin_path(path, sizeof(path), pin_dir, map_pins[i]) < 0)
			return tardis_make_error(err, ENAMETOOLONG, "pin path");
		*fds[i] = sys_obj_get(path);
		if (*fds[i] < 0) {
			int e = errno;

			monitor_close(m);
			return tardis_make_error(err, e, "open pinned map `%s`", path);
		}
	}
	if (monitor_pin_path(path, sizeof(path), pin_dir, TARDIS_PIN_FLAGS) == 0)
		m->flags_fd = sys_obj_get(path);
	return 0;
}

void monitor_close(struct tardis_monitor *m)
{
	int *fds[] = { &m->events_fd, &m->registered_fd, &m->recent_fd, &m->counters_fd,
		       &m->flags_fd };

	for (size_t i = 0; i < 5; i++) {
		if (*fds[i] >= 0)
			close(*fds[i]);
		*fds[i] = -1;
	}
}

int monitor_register_pid(struct tardis_monitor *m, pid_t pid, uint64_t start_time,
			 tardis_error_t *err)
{
	struct tardis_reg reg = { .start_time = start_time };
	struct timespec ts;
	__u32 key = (__u32)pid;

	/* The flag first: the program never sees an entry it would skip. */
	if (m->flags_fd >= 0) {
		struct tardis_flags fl = { .host_registrations = 1 };
		__u32 zero = 0;

		if (sys_map_update(m->flags_fd, &zero, &fl, BPF_ANY) < 0)
			return tardis_make_error(err, errno, "set the host-registrations flag");
	}
	clock_gettime(CLOCK_MONOTONIC, &ts);
	reg.registered_ns = (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
	if (sys_map_update(m->registered_fd, &key, &reg, BPF_ANY) < 0)
		return tardis_make_error(err, errno, "register pid %d in the kernel map", (int)pid);
	return 0;
}

int monitor_unregister_pid(struct tardis_monitor *m, pid_t pid, uint64_t start_time)
{
	struct tardis_reg reg;
	__u32 key = (__u32)pid;

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
