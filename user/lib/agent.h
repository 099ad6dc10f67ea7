/*
 * The agent's work, apart from its main(): turn kernel exit events (or
 * ctr events lines) into exit records, exactly once, and reconcile what
 * happened while no agent ran.
 */
#ifndef TARDIS_AGENT_H
#define TARDIS_AGENT_H

#include <dirent.h>
#include <pthread.h>
#include <stdint.h>
#include "agent_sched.h"
#include "config.h"
#include "ctr_events.h"
#include "metrics.h"
#include "monitor.h"
#include "registry.h"
#include "reg_cache.h"
#include "state.h"
#include "str_set.h"

struct agent_stats {
	uint64_t recorded;     /* exit records written */
	uint64_t recovered;    /* of those, taken from recent_exits, not the ring */
	uint64_t unknown;      /* records written as "unknown" */
	uint64_t duplicates;   /* replays of an exit already recorded */
	uint64_t unattributed; /* exits tied to no registered container */
	uint64_t errors;
	uint64_t drops_seen;   /* kernel drop counter at the last check */
	/* An exit's registration found in memory (reg_cache), or read from
	 * the pid index (a miss: registered before the agent watched). */
	uint64_t lookups_memory;
	uint64_t lookups_index;
	/* Exit (kernel timestamp) -> record visible, per source: bpf (the
	 * ring buffer), bpf-recent (recovered from recent_exits). */
	struct metrics_histogram latency[2];
};

/* The exit journal, in the state dir's root: every record's text, a line
 * each, appended and fdatasynced a batch at a time -- what makes records
 * durable (one write and one device flush per batch, however many
 * records).  Emptied once the records' own files are on disk (a syncfs
 * while the agent is idle); replayed by the next agent when it starts. */
#define EXIT_JOURNAL_FILE "exits.journal"
/* Emptied when it holds this much, or its oldest line is this old. */
#define EXIT_JOURNAL_RETIRE_BYTES (4u << 20)
#define EXIT_JOURNAL_RETIRE_NS (30ull * 1000000000ull)

/* An exit record visible (renamed into place) but not yet durable. */
struct pending_exit {
	char *json; /* "record\0ns\0id\0" (owned): the record, for the journal */
	const char *ns, *id; /* in json */
	pid_t pid;
	uint64_t start_time;
	int exit_status;
	int forget; /* its registration is dropped once the line is logged */
	char source[16];
	uint64_t exit_mono_ns, visible_ns;
};

/* The queue of records waiting for their commit holds this many, and
 * grows to AGENT_PENDING_LIMIT before the event loop waits for room: a
 * loop that waited on a commit (a device flush behind the burst's own
 * writeback) left exits unrecorded for 0.3 s while the CPUs idled. */
#define AGENT_PENDING_MAX 1024
#define AGENT_PENDING_LIMIT 65536

/* A registration to drop, its record durable and its line logged. */
struct pending_forget {
	pid_t pid;
	uint64_t start_time;
};

/* The group commit (agent_commit.c): the event loop makes records visible
 * and queues them; a thread of its own makes each batch durable, so that
 * no record waits for the disk to become visible, and a batch is whatever
 * queued up during the previous commit. */
struct agent_commit {
	pthread_mutex_t mu;
	pthread_cond_t cv;                  /* the queue or the batch changed */
	pthread_t thread;
	int running, stop;
	struct pending_exit *queue, *batch; /* cap_queue, cap_batch */
	int journal_fd;           /* EXIT_JOURNAL_FILE, -1 without one */
	size_t journal_bytes;     /* appended since it was last emptied */
	uint64_t journal_since_ns; /* CLOCK_MONOTONIC of its oldest line */
	int sweep;      /* forgotten/ may hold registrations to remove */
	DIR *sweep_dir; /* its listing, while a sweep goes on */
	size_t sweep_removed; /* by that listing so far */
	uint64_t sweep_at_ns;  /* a sweep then (agent_commit_sweep_soon), 0: none */
	size_t n_queue, n_batch;
	size_t cap_queue, cap_batch; /* AGENT_PENDING_MAX .. AGENT_PENDING_LIMIT */
	/* Registrations dropped once no record came for AGENT_QUIET_NS (or
	 * the oldest waited AGENT_FORGET_MAX_NS): during a burst the commit
	 * thread's work is the records' alone. */
	struct pending_forget *forgets;
	size_t n_forgets, cap_forgets;
	uint64_t forgets_since_ns; /* when the oldest was queued */
	uint64_t last_add_ns;      /* the last record queued */
	uint64_t last_commit_ns;   /* the last batch's commit ended */
	int gathering;             /* the commit waits for more records */
};

struct agent {
	struct tardis_config cfg;
	struct tardis_store store;
	struct tardis_monitor mon;
	int have_monitor;
	struct agent_stats stats;
	struct agent_commit commit;
	struct agent_sched sched; /* the event loop thread's */
	size_t ring_events;       /* events of the ring buffer read so far */
	struct reg_cache *regs;   /* NULL: every lookup reads the pid index */
	/* The inits ("pid.start_time") whose lines are logged and whose
	 * registrations are still to drop, and (while the agent starts) the
	 * lines found in the log's tail (agent_line_key): a replay asks here
	 * before it reads the log.  NULL: the log only. */
	struct str_set *logged, *logged_tail;
	enum { TAIL_UNREAD, TAIL_READ, TAIL_DONE } tail_state; /* of logged_tail */
};

/* Drops the registration of (pid, start_time): the kernel's, the pid
 * index's and the one in memory. */
void agent_forget(struct agent *a, pid_t pid, uint64_t start_time);
/* What identifies the log line of a record (known) or of an unknown exit:
 * its text up to the pid. */
void agent_line_key(char *buf, size_t len, int known, const char *ns, const char *id, pid_t pid);
/* "pid.start_time": a->logged's key. */
void agent_init_key(char *buf, size_t len, pid_t pid, uint64_t start_time);
/* The agent's start is over: the lines read from the log's tail for its
 * reconciliation are dropped. */
void agent_started(struct agent *a);
/* The pid index's entry name changed (inotify): in memory as well; name
 * NULL: events were lost, what is in memory is dropped. */
void agent_registration_seen(struct agent *a, const char *name, int added);
/* What to do with one exit event; source names where it came from. */
int agent_handle_event(struct agent *a, const struct tardis_exit_event *ev, const char *source);
/* The commit queue, empty, no thread yet: 0, or -1 (out of memory). */
int agent_commit_init(struct agent *a);
/* Its thread started; without one (it could not be made) agent_commit
 * commits in the caller. */
void agent_commit_start(struct agent *a);
/* Queues a visible record (blocks while AGENT_PENDING_MAX wait). */
void agent_commit_add(struct agent *a, const struct pending_exit *p);
/* After a batch of events: with no thread, the commit of what is queued:
 * the records appended to the exit journal and one fdatasync of it, then
 * their "exit recorded" lines, then their registrations dropped. */
void agent_commit(struct agent *a);
/* At start, before any event: opens the exit journal, writes again every
 * record in it whose container still waits for it (its file lost to a
 * power loss: missing, or not this exit's), makes them durable and
 * empties it.  Without a journal (it cannot be opened), each batch is
 * made durable by a syncfs. */
void agent_journal_open(struct agent *a);
/* Returns once everything queued so far is committed. */
void agent_commit_flush(struct agent *a);
/* Something was put in forgotten/ (a replaced image): removed a second
 * after the last such call, while no record waits (with no thread, after
 * the next agent_commit). */
void agent_commit_sweep_soon(struct agent *a);
/* Flushed and the thread ended (the arrays stay: the caller frees them). */
void agent_commit_stop(struct agent *a);
/* 1 if the record of (pid, start) is queued or being committed; with
 * forget, its commit then drops the registration too (the caller must
 * not: until its line is logged, a killed agent's successor replays it). */
int agent_commit_adopt(struct agent *a, pid_t pid, uint64_t start_time, int forget);
/* One ctr events line (the fallback source). */
int agent_handle_ctr_line(struct agent *a, const char *line);
/* Exits kept only by the kernel's recent-exits map (ring buffer full, or
 * no agent when they happened). */
int agent_scan_recent(struct agent *a);
/* Registered inits that are gone with no trace left: recorded "unknown". */
int agent_scan_vanished(struct agent *a);
/* The agent's figures in Prometheus text format, written atomically to path
 * (node_exporter's textfile collector); started_at: the agent's start, s. */
int agent_metrics_write(struct agent *a, const char *path, double started_at, tardis_error_t *err);

#endif
