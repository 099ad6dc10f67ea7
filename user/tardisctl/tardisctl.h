/*
 * tardisctl's shared context: what main() sets up for every command, the
 * command table entry each command file exports, and the helpers they
 * share (options and usage: opts.c; output: format.c; the store's agent and
 * monitor: context.c).
 * Exit status: 0 ok, 1 failed, 2 misuse (`wait` exits with the
 * container's exit status, 124 on --timeout, 125 when the exit is unknown).
 */
#ifndef TARDISCTL_H
#define TARDISCTL_H

#include "config.h"
#include "exit_record.h"
#include "monitor.h"
#include "state.h"

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#define EXIT_MISUSE 2
#define EXIT_TIMEOUT 124
#define EXIT_UNKNOWN 125

/* Longest duration an option takes (--timeout, --older-than), s. */
#define CTL_DURATION_MAX (100ull * 365 * 86400)

struct command;

struct ctl {
	struct tardis_config cfg;
	struct tardis_store store;
	const struct command *cmd; /* the one running, for its usage */
};

struct command {
	const char *name;
	/* argv[0] is the command's name. */
	int (*run)(struct ctl *c, int argc, char **argv);
	int needs_store; /* main opens the state store first */
	const char *summary;
	const char *help; /* starts with "usage: tardisctl NAME" */
};

/* cmd_NAME of a command whose entry point is NAME_main. */
#define TARDISCTL_COMMAND(cmd, store, sum, text)                                        \
	const struct command cmd_##cmd = {                                              \
		.name = #cmd, .run = cmd##_main, .needs_store = store, .summary = sum,    \
		.help = text                                                            \
	}

/* In the order `tardisctl --help` lists them. */
extern const struct command cmd_list, cmd_show, cmd_wait, cmd_exits, cmd_counters,
	cmd_validate, cmd_finalize, cmd_gc, cmd_log, cmd_register, cmd_check;

/* ---- opts.c: every command's options, arguments and usage ---------------- */

enum ctl_opt_type {
	OPT_FLAG,     /* int *: set to 1 */
	OPT_STRING,   /* const char **: the value */
	OPT_DURATION, /* uint64_t *: "90s", "15m", "1h30m", "7d"... in seconds */
	OPT_U64,      /* uint64_t *: a decimal number */
};

struct ctl_opt {
	const char *name;    /* --name */
	int short_name;      /* -x, 0 for none */
	enum ctl_opt_type type;
	void *value;
	uint64_t max;        /* OPT_DURATION, OPT_U64: the largest value taken */
	const char *hint;    /* misuse: "bad --NAME `VALUE` HINT" */
	int *given;          /* optional: set to 1 when the option is given */
};

/* Table entries.  CTL_DURATION's given (may be NULL) tells 0 from unset. */
#define CTL_FLAG(n, s, v) { .name = (n), .short_name = (s), .type = OPT_FLAG, .value = (v) }
#define CTL_STRING(n, s, v) { .name = (n), .short_name = (s), .type = OPT_STRING, .value = (v) }
#define CTL_DURATION(n, s, v, hint_, given_)                                                     \
	{ .name = (n), .short_name = (s), .type = OPT_DURATION, .value = (v),                     \
	  .max = CTL_DURATION_MAX, .hint = (hint_), .given = (given_) }
#define CTL_U64(n, s, v, max_, hint_)                                                            \
	{ .name = (n), .short_name = (s), .type = OPT_U64, .value = (v), .max = (max_),          \
	  .hint = (hint_) }
#define CTL_OPT_END { .name = NULL }

/* The command line a command takes: its options (a table ended by { 0 };
 * --help and -h are implied) and how many arguments follow them. */
struct ctl_cmdline {
	struct ctl_opt *opts;
	int min_args, max_args;
	/* misuse message for a wrong count; NULL: "unexpected argument `X`" */
	const char *expect;
	/* out: the arguments after the options */
	char **args;
	int nargs;
};

/* Parses argv (argv[0] is the command) by cl.  Returns -1 when the command
 * goes on (cl->args set), else the exit status to return at once: 0 after
 * printing the usage for --help, EXIT_MISUSE after reporting misuse. */
int opts_parse(struct ctl *c, int argc, char **argv, struct ctl_cmdline *cl);
/* "tardisctl CMD: <message>" and the command's usage on stderr; returns
 * EXIT_MISUSE. */
int ctl_misuse(struct ctl *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ctl_usage(struct ctl *c, FILE *f);
/* "ns/id" -> validated parts, into buffers of TARDIS_ID_MAX + 1. */
int split_ref(const char *ref, char *ns, char *id);
int parse_u64(const char *s, uint64_t *v);
/* "90", "90s", "15m", "12h", "7d", "2w", "1h30m" -> seconds. */
int parse_duration(const char *s, uint64_t *secs);

/* ---- format.c: what commands print ---------------------------------------- */

/* "512 B", "1.5 MiB" */
void format_bytes(double b, char *buf, size_t len);
/* "45s", "5m", "3h", "2d" for a span of ns. */
void format_span(int64_t ns, char *buf, size_t len);
/* "5m ago" for an RFC 3339 time; "" when there is none. */
void format_ago(const char *when, char *buf, size_t len);
/* "exit status 3", "exit status 137 (signal 9)", "unknown (...)" */
const char *exit_text(const struct exit_record *r, char *buf, size_t len);
/* o, indented, and a newline on stdout. */
void print_json(const cJSON *o);
/* o on one line (JSON lines). */
void print_json_line(const cJSON *o);
/* Adds a number written as its exact decimal (no double rounding). */
cJSON *json_add_u64(cJSON *o, const char *name, uint64_t v);
cJSON *json_add_i64(cJSON *o, const char *name, int64_t v);

/* A table of text cells, printed with each column as wide as its widest
 * cell, two spaces between columns. */
#define TABLE_CELL 600
struct table {
	int ncols;
	const char *const *head;
	char (*cells)[TABLE_CELL]; /* nrows * ncols */
	size_t nrows, cap;
};
/* The next row's cells (zeroed), or NULL when out of memory. */
char (*table_add_row(struct table *t))[TABLE_CELL];
void table_print(const struct table *t);
void table_free(struct table *t);
#define cleanup_table __attribute__((cleanup(table_free)))

/* ---- context.c: the agent and the monitor, seen from tardisctl ------------- */

/* pid of the running tardisd (its pid file is locked), or 0. */
pid_t ctl_agent_pid(struct ctl *c);
/* The pinned exit monitor in m, or NULL (with a warning on stderr when
 * warn) if tardisd never loaded it.  Hold the result in a
 * cleanup_monitor_ptr pointer: it is closed when that goes out of scope. */
struct tardis_monitor *ctl_monitor_optional(struct ctl *c, struct tardis_monitor *m, int warn);

#endif
