/*
 * Pins "left by another release" for tests/integration/test_pin_layout.sh,
 * and the plain-bpf(2) view of them (what tardis-runc and tardisctl use).
 *
 *   pin_layout pin OBJ [--no-layout]
 *     Loads the BPF object OBJ (a build of bpf/tardis_exit.bpf.c, e.g. with
 *     another -DTARDIS_LAYOUT_TEST_COMM_LEN), attaches the program this
 *     kernel needs and pins it, its link and its maps under TARDIS_BPF_DIR
 *     by the names tardisd uses -- as the tardisd of that build would.
 *     The `layout` map records that build's event size, unless
 *     --no-layout (a build from before the layout was recorded).
 *   pin_layout open
 *     monitor_open_pinned on TARDIS_BPF_DIR: prints "open" (exit 0) or
 *     "absent errno=<name>: <message>" (exit 1); monitor_open_optional must
 *     agree.
 */
#include "config.h"
#include "monitor.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int die(const char *what)
{
	fprintf(stderr, "pin_layout: %s: %s\n", what, strerror(errno));
	return 2;
}

static int pin_map(struct bpf_object *obj, const char *dir, const char *name, int no_layout)
{
	struct bpf_map *map = bpf_object__find_map_by_name(obj, name);
	char path[4200];

	if (!map)
		return 0; /* that build had no such map */
	if (no_layout && strcmp(name, TARDIS_PIN_LAYOUT) == 0)
		return 0;
	monitor_pin_path(path, sizeof(path), dir, name);
	return bpf_map__pin(map, path);
}

static int record_layout(struct bpf_object *obj)
{
	struct bpf_map *layout = bpf_object__find_map_by_name(obj, TARDIS_PIN_LAYOUT);
	struct bpf_map *recent = bpf_object__find_map_by_name(obj, TARDIS_PIN_RECENT);
	struct tardis_layout l = { TARDIS_LAYOUT_VERSION, 0 };
	__u32 zero = 0;

	if (!layout || !recent)
		return 0;
	l.event_size = bpf_map__value_size(recent);
	return bpf_map_update_elem(bpf_map__fd(layout), &zero, &l, BPF_ANY);
}

static int cmd_pin(const char *dir, const char *path, int no_layout)
{
	static const char *const maps[] = {
		TARDIS_PIN_EVENTS,   TARDIS_PIN_REGISTERED, TARDIS_PIN_RECENT,
		TARDIS_PIN_COUNTERS, TARDIS_PIN_FLAGS,      TARDIS_PIN_LAYOUT,
	};
	const char *want = monitor_kernel_has_group_dead() ? "tardis_exit_gd" : "tardis_exit";
	struct bpf_object *obj = bpf_object__open_file(path, NULL);
	struct bpf_program *prog, *p;
	struct bpf_link *link;
	char pin[4200];

	if (!obj)
		return die(path);
	prog = bpf_object__find_program_by_name(obj, want);
	if (!prog)
		return die(want);
	bpf_object__for_each_program(p, obj)
		bpf_program__set_autoload(p, p == prog);
	if (bpf_object__load(obj) < 0 || record_layout(obj) < 0)
		return die("load");
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return die(dir);
	for (size_t i = 0; i < sizeof(maps) / sizeof(maps[0]); i++)
		if (pin_map(obj, dir, maps[i], no_layout) < 0)
			return die(maps[i]);
	link = bpf_program__attach(prog);
	if (!link)
		return die("attach");
	monitor_pin_path(pin, sizeof(pin), dir, TARDIS_PIN_PROG);
	if (bpf_program__pin(prog, pin) < 0)
		return die(pin);
	monitor_pin_path(pin, sizeof(pin), dir, TARDIS_PIN_LINK);
	if (bpf_link__pin(link, pin) < 0)
		return die(pin);
	printf("pinned %s (%s, %u-byte events%s) in %s\n", path, want,
	       bpf_map__value_size(bpf_object__find_map_by_name(obj, TARDIS_PIN_RECENT)),
	       no_layout ? ", no layout map" : "", dir);
	bpf_link__destroy(link);
	bpf_object__close(obj);
	return 0;
}

static int cmd_open(const char *dir)
{
	struct tardis_monitor m = TARDIS_MONITOR_CLOSED, m2 = TARDIS_MONITOR_CLOSED;
	tardis_error_t err = NULL, why = NULL;
	int opened = monitor_open_pinned(&m, dir, &err) == 0;
	int optional = monitor_open_optional(&m2, dir, &why) != NULL;

	monitor_close(&m);
	monitor_close(&m2);
	if (opened != optional) {
		fprintf(stderr, "pin_layout: monitor_open_optional disagrees\n");
		return 2;
	}
	if (opened) {
		printf("open\n");
		return 0;
	}
	printf("absent errno=%s: %s\n",
	       tardis_error_errno(err) == EPROTO ? "EPROTO"
	       : tardis_error_errno(err) == ENOENT ? "ENOENT" : strerror(tardis_error_errno(err)),
	       tardis_error_msg(err));
	tardis_error_free(&err);
	tardis_error_free(&why);
	return 1;
}

int main(int argc, char **argv)
{
	struct tardis_config cfg;
	tardis_error_t err = NULL;

	if (config_load(&cfg, &err) < 0) {
		fprintf(stderr, "pin_layout: %s\n", tardis_error_msg(err));
		return 2;
	}
	if (argc >= 3 && strcmp(argv[1], "pin") == 0)
		return cmd_pin(cfg.bpf_dir, argv[2], argc > 3 && strcmp(argv[3], "--no-layout") == 0);
	if (argc == 2 && strcmp(argv[1], "open") == 0)
		return cmd_open(cfg.bpf_dir);
	fprintf(stderr, "usage: pin_layout pin OBJ [--no-layout] | pin_layout open\n");
	return 2;
}
