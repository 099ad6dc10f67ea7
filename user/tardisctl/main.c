/*
 * tardisctl: the operator's view of tardis.  main() takes the global
 * options, opens the state store for the commands that need it, and hands
 * over to the command: each is a file of its own (list.c, show.c, ...)
 * that parses its options with opts.c and calls the library.
 */
#include "tardisctl.h"
#include "log.h"

#include <bpf/libbpf.h>
#include <getopt.h>
#include <string.h>

static int help_main(struct ctl *c, int argc, char **argv);

static TARDISCTL_COMMAND(help, 0, "help on a command",
		  "usage: tardisctl help [COMMAND]\n");

static const struct command *const commands[] = {
	&cmd_list,     &cmd_show, &cmd_wait, &cmd_exits, &cmd_counters, &cmd_validate,
	&cmd_finalize, &cmd_gc,   &cmd_log,  &cmd_register, &cmd_check, &cmd_help,
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *f)
{
	fprintf(f, "usage: tardisctl [--state-dir DIR] [--bpf-dir DIR] COMMAND [ARGS]\n"
		   "commands (tardisctl COMMAND --help for each):\n");
	for (size_t k = 0; k < NCOMMANDS; k++)
		fprintf(f, "  %-10s %s\n", commands[k]->name, commands[k]->summary);
}

static const struct command *command_find(const char *name)
{
	for (size_t k = 0; k < NCOMMANDS; k++)
		if (strcmp(name, commands[k]->name) == 0)
			return commands[k];
	return NULL;
}

static int help_main(struct ctl *c, int argc, char **argv)
{
	const struct command *cmd;

	if (argc < 2) {
		usage(stdout);
		return 0;
	}
	cmd = command_find(argv[1]);
	if (!cmd)
		return ctl_misuse(c, "unknown command `%s`", argv[1]);
	printf("%s", cmd->help);
	return 0;
}

/* --state-dir, --bpf-dir before the command.  Returns the index of the
 * command in argv, or -1 when main is done and exits with *status. */
static int global_options(struct ctl *c, int argc, char **argv, int *status)
{
	int i;

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			*status = 0;
			return -1;
		}
		if (i + 1 < argc && strcmp(argv[i], "--state-dir") == 0 && argv[i + 1][0] == '/') {
			snprintf(c->cfg.state_dir, sizeof(c->cfg.state_dir), "%s", argv[++i]);
		} else if (i + 1 < argc && strcmp(argv[i], "--bpf-dir") == 0 && argv[i + 1][0] == '/') {
			snprintf(c->cfg.bpf_dir, sizeof(c->cfg.bpf_dir), "%s", argv[++i]);
		} else {
			fprintf(stderr, "tardisctl: bad option `%s`\n", argv[i]);
			usage(stderr);
			*status = EXIT_MISUSE;
			return -1;
		}
	}
	if (i >= argc) {
		usage(stderr);
		*status = EXIT_MISUSE;
		return -1;
	}
	return i;
}

/* --help needs no state directory. */
static int wants_help(int argc, char **argv)
{
	for (int a = 1; a < argc; a++)
		if (strcmp(argv[a], "--help") == 0 || strcmp(argv[a], "-h") == 0)
			return 1;
	return 0;
}

int main(int argc, char **argv)
{
	cleanup_error tardis_error_t err = NULL;
	struct ctl c;
	int i, ret;

	memset(&c, 0, sizeof(c));
	c.store.root_fd = -1;
	if (config_load(&c.cfg, &err) < 0) {
		fprintf(stderr, "tardisctl: %s\n", tardis_error_msg(err));
		return 1;
	}
	libbpf_set_print(NULL);
	i = global_options(&c, argc, argv, &ret);
	if (i < 0)
		return ret;
	tardis_log_open("tardisctl", NULL, c.cfg.log_level);
	c.cmd = command_find(argv[i]);
	if (!c.cmd) {
		fprintf(stderr, "tardisctl: unknown command `%s`\n", argv[i]);
		usage(stderr);
		return EXIT_MISUSE;
	}
	argc -= i;
	argv += i;
	if (c.cmd->needs_store && !wants_help(argc, argv) &&
	    store_open(&c.store, c.cfg.state_dir, &err) < 0) {
		fprintf(stderr, "tardisctl: %s\n", tardis_error_msg(err));
		return 1;
	}
	optind = 0; /* GNU getopt: start afresh on the command's arguments */
	ret = c.cmd->run(&c, argc, argv);
	store_close(&c.store);
	return ret;
}
