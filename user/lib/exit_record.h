/* How a container init ended: the exit record kept in the state store. */
#ifndef TARDIS_EXIT_RECORD_H
#define TARDIS_EXIT_RECORD_H

#include <stdint.h>
#include "error.h"
#include "state.h"

#define EXIT_RECORD_FILE "exit.json"
/* The empty file the agent writes the exit record into and renames to
 * exit.json, made when the init is registered (store_write_visible_spare). */
#define EXIT_SPARE_FILE ".exit.json.spare"
#define EXIT_RECORD_VERSION 1

/* A wait status taken apart. */
struct exit_status {
	int exited;      /* WIFEXITED */
	int code;        /* WEXITSTATUS, when exited */
	int signal;      /* WTERMSIG, when signalled */
	int core_dumped; /* WCOREDUMP */
	int exit_status; /* containerd style: code, or 128 + signal */
};

/* Returns 0, or -1 for a status that is not a terminated process's. */
int exit_status_decode(int wait_status, struct exit_status *out);

struct exit_record {
	char ns[TARDIS_ID_MAX + 1];
	char id[TARDIS_ID_MAX + 1];
	int known;            /* 0: the exit is unknowable ("unknown") */
	int has_wait_status;  /* ctr-events only knows exit_status */
	int pid;
	uint64_t start_time;  /* clock ticks */
	int wait_status;
	struct exit_status st;
	uint64_t exit_mono_ns;    /* CLOCK_MONOTONIC of the exit (BPF) */
	int64_t exited_at_ns;     /* CLOCK_REALTIME of the exit */
	uint64_t cgroup_id;
	uint32_t pidns_level;
	uint32_t pidns_inum;
	char comm[17];
	char source[24];          /* bpf, bpf-recent, ctr-events, reconcile */
};

struct tardis_exit_event;
/* The record of a kernel exit event of container ns/id (source left for
 * the caller).  0, or -1 when its wait status is impossible (r->known 0). */
int exit_record_from_event(struct exit_record *r, const struct tardis_exit_event *ev,
			   const char *ns, const char *id);

/* Returns a malloc'd JSON text. */
char *exit_record_to_json(const struct exit_record *r);
int exit_record_from_json(const char *text, struct exit_record *r, tardis_error_t *err);

/* Formats CLOCK_REALTIME ns as RFC 3339 UTC with nanoseconds. */
void rfc3339_format(int64_t ns, char *buf, size_t len);
/* Parses RFC 3339 (fraction and offset optional) into ns since the epoch. */
int rfc3339_parse(const char *s, int64_t *ns);

#endif
