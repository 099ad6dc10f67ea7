#include "agent.h"
#include "cleanup.h"
#include "container_state.h"
#include "exit_record.h"
#include "failure_count.h"
#include "log.h"
#include "proc.h"
#include "util.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The init the container's state names: (0, 0) when there is none. */
static void state_init(int dfd, pid_t *pid, uint64_t *start)
{
	cleanup_free char *text = NULL;
	tardis_error_t err = NULL;
	const cJSON *p, *s;
	cJSON *o;

	*pid = 0;
	*start = 0;
	if (store_read(dfd, STATE_FILE, 1 << 20, &text, NULL, &err) < 0) {
		tardis_error_free(&err);
		return;
	}
	o = cJSON_Parse(text);
	p = cJSON_GetObjectItemCaseSensitive(o, "init_pid");
	s = cJSON_GetObjectItemCaseSensitive(o, "init_start_time");
	if (cJSON_IsNumber(p) && cJSON_IsNumber(s)) {
		*pid = cjson_get_int(o, "init_pid", 0);
		*start = cjson_get_u64(o, "init_start_time", 0);
	}
	cJSON_Delete(o);
}

/* 1 if exit.json already holds this process's exit (known, or unknown when
 * the new one is unknown too); *old is that record. */
static int already_recorded(int dfd, pid_t pid, uint64_t start, int new_known,
			    struct exit_record *old_out)
{
	cleanup_free char *text = NULL;
	tardis_error_t err = NULL;
	struct exit_record old;

	if (store_read(dfd, EXIT_RECORD_FILE, 1 << 20, &text, NULL, &err) < 0) {
		tardis_error_free(&err);
		return 0;
	}
	if (exit_record_from_json(text, &old, &err) < 0) {
		tardis_error_log_release(TARDIS_LOG_WARN, "unreadable exit record replaced", &err);
		return 0;
	}
	if (old.pid != pid || old.start_time != start)
		return 0;
	*old_out = old;
	return old.known || !new_known;
}

/* How far back a replay looks for the dead agent's line (a restarted agent
 * writes its backlog's lines before it comes to the replay). */
#define REPLAY_LOG_TAIL (4u << 20)

void agent_init_key(char *buf, size_t len, pid_t pid, uint64_t start_time)
{
	snprintf(buf, len, "%d.%" PRIu64, (int)pid, start_time);
}

void agent_line_key(char *buf, size_t len, int known, const char *ns, const char *id, pid_t pid)
{
	if (known)
		snprintf(buf, len, "exit recorded %s/%s pid=%d ", ns, id, (int)pid);
	else
		snprintf(buf, len, "exit of %s/%s pid %d is unknown", ns, id, (int)pid);
}

/* The keys of the log tail's lines into a->logged_tail, once: a killed
 * agent leaves every registration whose drop was still to come (up to a
 * burst's) to its successor's replay, which asks for each line here
 * rather than reading 4 MiB of log again. */
static void load_tail(struct agent *a)
{
	cleanup_free char *text = NULL;
	size_t len;

	a->tail_state = TAIL_READ;
	if (tardis_log_tail_read(REPLAY_LOG_TAIL, &text, &len) < 0)
		return;
	for (char *line = text, *nl; line < text + len; line = nl + 1) {
		char *k, *end;

		nl = strchr(line, '\n');
		if (!nl)
			break; /* a line being written */
		*nl = '\0';
		if ((k = strstr(line, "exit recorded ")) && (end = strstr(k, " pid=")) &&
		    (end = strchr(end + 5, ' ')))
			end[1] = '\0';
		else if ((k = strstr(line, "exit of ")) && (end = strstr(k, " is unknown")))
			end[sizeof(" is unknown") - 1] = '\0';
		else
			continue;
		if (str_set_add(a->logged_tail, k) < 0) {
			a->tail_state = TAIL_UNREAD; /* out of memory: the log itself then */
			str_set_clear(a->logged_tail);
			return;
		}
	}
}

/* 1 when the line of old's exit is written: by this agent (its
 * registration still to drop), in the log's tail as the agent started,
 * or in the log's tail now; 1 also without a log file to read (stderr,
 * syslog: no second line). */
static int line_logged(struct agent *a, const struct exit_record *old)
{
	char key[2 * TARDIS_ID_MAX + 64];

	agent_init_key(key, sizeof(key), old->pid, old->start_time);
	if (a->logged && str_set_has(a->logged, key))
		return 1;
	agent_line_key(key, sizeof(key), old->known, old->ns, old->id, old->pid);
	if (a->logged_tail && a->tail_state == TAIL_UNREAD)
		load_tail(a);
	if (a->logged_tail && a->tail_state == TAIL_READ && str_set_has(a->logged_tail, key))
		return 1;
	return tardis_log_tail_contains(key, REPLAY_LOG_TAIL) != 0;
}

void agent_started(struct agent *a)
{
	a->tail_state = TAIL_DONE;
	if (a->logged_tail)
		str_set_clear(a->logged_tail);
}

/* A replay: the agent before us died after the record was written but
 * before the registration was dropped -- maybe before its log line, too.
 * SIGKILL can land between the rename and the log write, so the log says
 * whether the line is there; it is written once either way. */
static void log_replayed(struct agent *a, const struct exit_record *old, const char *source)
{
	if (line_logged(a, old))
		return;
	if (old->known)
		log_info("exit recorded %s/%s pid=%d exit_status=%d source=%s replayed=%s", old->ns,
			 old->id, old->pid, old->st.exit_status, old->source, source);
	else
		log_warn("exit of %s/%s pid %d is unknown (%s, replayed)", old->ns, old->id,
			 old->pid, old->source);
}

/* Writes r for the registered init (pid, start) of r->ns/r->id, exactly once:
 * 1 written (visible; durable with its batch, whose commit then drops the
 * registration when forget is set), 2 written already and still in this
 * agent's commit (which drops the registration when forget is set), 0
 * nothing to write, -1 failed. */
static int record_exit(struct agent *a, struct exit_record *r, uint64_t exit_mono_ns,
		       const char *source, int forget)
{
	cleanup_close int dfd = -1;
	cleanup_free char *json = NULL;
	struct pending_exit p = { 0 };
	tardis_error_t err = NULL;
	pid_t init_pid;
	uint64_t init_start;
	struct exit_record old;
	int w;

	dfd = store_container_lock(&a->store, r->ns, r->id, 0, &err);
	if (dfd < 0) {
		log_info("exit of pid %d: container %s/%s is gone (%s)", r->pid, r->ns, r->id,
			 tardis_error_msg(err));
		tardis_error_free(&err);
		a->stats.unattributed++;
		return 0;
	}
	state_init(dfd, &init_pid, &init_start);
	if (init_pid != r->pid || init_start != r->start_time) {
		log_info("exit of pid %d is not the current init of %s/%s (pid %d), ignored",
			 r->pid, r->ns, r->id, (int)init_pid);
		a->stats.unattributed++;
		return 0;
	}
	snprintf(r->source, sizeof(r->source), "%s", source);
	json = exit_record_to_json(r);
	if (!json) {
		a->stats.errors++;
		return -1;
	}
	/* Written unless exit.json exists (one rename asks: no look first,
	 * the common case); then, unless it holds this exit already, over it. */
	w = store_write_visible_spare(dfd, EXIT_RECORD_FILE, EXIT_SPARE_FILE, json, strlen(json),
				      STORE_NOREPLACE, NULL, &err);
	if (w < 0 && tardis_error_errno(err) == EEXIST) {
		tardis_error_free(&err);
		if (already_recorded(dfd, r->pid, r->start_time, r->known, &old)) {
			log_debug("exit of %s/%s pid %d already recorded (%s)", r->ns, r->id,
				  r->pid, source);
			a->stats.duplicates++;
			/* Recorded by this agent, its line to come with the commit. */
			if (agent_commit_adopt(a, old.pid, old.start_time, forget))
				return 2;
			log_replayed(a, &old, source);
			return 0;
		}
		w = store_write_visible_spare(dfd, EXIT_RECORD_FILE, EXIT_SPARE_FILE, json,
					      strlen(json), 0, NULL, &err);
	}
	if (w < 0) {
		tardis_error_wrap(&err, "record exit of %s/%s", r->ns, r->id);
		tardis_error_log_release(TARDIS_LOG_ERROR, NULL, &err);
		a->stats.errors++;
		return -1;
	}
	p.visible_ns = (uint64_t)time_monotonic_ns();
	{
		/* Its names after it, in one allocation: a queued record is
		 * ~80 bytes, a burst's queue ~1 MB. */
		size_t jl = strlen(json), nl = strlen(r->ns), il = strlen(r->id);
		char *text = realloc(json, jl + nl + il + 3);

		if (!text) {
			log_error("record exit of %s/%s: out of memory: not made durable", r->ns,
				  r->id);
			a->stats.errors++;
			return -1;
		}
		json = NULL;
		memcpy(text + jl + 1, r->ns, nl + 1);
		memcpy(text + jl + 2 + nl, r->id, il + 1);
		p.json = text;
		p.ns = text + jl + 1;
		p.id = text + jl + 2 + nl;
	}
	p.pid = r->pid;
	p.start_time = r->start_time;
	p.forget = forget;
	p.exit_status = r->known ? r->st.exit_status : -1;
	snprintf(p.source, sizeof(p.source), "%s", source);
	p.exit_mono_ns = exit_mono_ns;
	a->stats.recorded++;
	if (!r->known) {
		a->stats.unknown++;
		log_warn("exit of %s/%s pid %d is unknown (%s)", r->ns, r->id, r->pid, source);
	} else if (exit_mono_ns) {
		metrics_histogram_observe(&a->stats.latency[strcmp(source, "bpf") == 0 ? 0 : 1],
					  (p.visible_ns - exit_mono_ns) / 1e9);
	}
	agent_commit_add(a, &p);
	return 1;
}

/* ---- the exit journal's replay ------------------------------------------- */

/* One journal line: its record written again when its container still
 * has it as its init's and its file does not hold it.  1 rewritten. */
static int replay_line(struct agent *a, const char *line)
{
	cleanup_close int dfd = -1;
	tardis_error_t err = NULL;
	struct exit_record r, old;
	pid_t init_pid;
	uint64_t init_start;

	if (exit_record_from_json(line, &r, &err) < 0) {
		tardis_error_free(&err);
		return -1;
	}
	dfd = store_container_lock(&a->store, r.ns, r.id, 0, &err);
	if (dfd < 0) {
		tardis_error_free(&err);
		return 0; /* removed since */
	}
	state_init(dfd, &init_pid, &init_start);
	if (init_pid != r.pid || init_start != r.start_time ||
	    already_recorded(dfd, r.pid, r.start_time, r.known, &old))
		return 0;
	if (store_write_atomic(dfd, EXIT_RECORD_FILE, line, strlen(line), 0, NULL, &err) < 0) {
		tardis_error_wrap(&err, "exit journal: rewrite the record of %s/%s", r.ns, r.id);
		tardis_error_log_release(TARDIS_LOG_ERROR, NULL, &err);
		return 0;
	}
	log_info("exit journal: the record of %s/%s pid %d was lost (a power loss?): written again",
		 r.ns, r.id, r.pid);
	return 1;
}

/* A journal this big is not read: never emptied since 1 GiB of records. */
#define EXIT_JOURNAL_READ_MAX (1u << 30)

static void journal_replay(struct agent *a, int fd)
{
	cleanup_free char *text = NULL;
	tardis_error_t err = NULL;
	int lines = 0, bad = 0, rewritten = 0;
	size_t len = 0;

	if (store_read(a->store.root_fd, EXIT_JOURNAL_FILE, EXIT_JOURNAL_READ_MAX, &text, &len,
		       &err) < 0) {
		tardis_error_log_release(TARDIS_LOG_ERROR, "exit journal: kept for the next agent",
					 &err);
		return;
	}
	if (!len)
		return;
	for (char *line = text, *nl; *line; line = nl + 1) {
		int r;

		nl = strchr(line, '\n');
		if (!nl) /* the torn end of a write a crash cut: never synced */
			break;
		*nl = '\0';
		lines++;
		r = replay_line(a, line);
		bad += r < 0;
		rewritten += r > 0;
	}
	log_info("exit journal: %d record(s) replayed, %d written again%s", lines, rewritten,
		 bad ? " (some lines unreadable, skipped)" : "");
	/* What was written again and every record before it: on disk, then
	 * the journal emptied. */
	if (syncfs(a->store.root_fd) < 0 || ftruncate(fd, 0) < 0 || fdatasync(fd) < 0)
		log_warn("exit journal: not emptied: %s", strerror(errno));
}

void agent_journal_open(struct agent *a)
{
	struct stat st;
	int fd = openat(a->store.root_fd, EXIT_JOURNAL_FILE,
			O_RDWR | O_CREAT | O_APPEND | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600);

	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1) {
		log_warn("exit journal %s/%s: %s; each batch of records made durable by a syncfs",
			 a->cfg.state_dir, EXIT_JOURNAL_FILE, fd < 0 ? strerror(errno) : "not a plain file");
		if (fd >= 0)
			close(fd);
		return;
	}
	journal_replay(a, fd);
	a->commit.journal_fd = fd;
	/* Not emptied (the replay's syncfs failed): what it holds stays. */
	if (fstat(fd, &st) == 0 && st.st_size > 0) {
		a->commit.journal_bytes = (size_t)st.st_size;
		a->commit.journal_since_ns = (uint64_t)time_monotonic_ns();
	}
}

/* The registration of (pid, start) dropped now, unless the record's
 * commit does it (ret 1 or 2: record_exit left it to the commit). */
static void forget_unless_pending(struct agent *a, int ret, pid_t pid, uint64_t start_time)
{
	if (ret == 0)
		agent_forget(a, pid, start_time);
}

void agent_forget(struct agent *a, pid_t pid, uint64_t start_time)
{
	if (a->regs)
		reg_cache_drop(a->regs, pid, start_time);
	registry_forget(&a->store, a->have_monitor ? &a->mon : NULL, pid, start_time);
}

void agent_registration_seen(struct agent *a, const char *name, int added)
{
	struct registration reg;
	tardis_error_t err = NULL;
	uint64_t start_time;
	pid_t pid;

	if (a->regs && !name) {
		reg_cache_clear(a->regs); /* inotify lost events: none is trusted */
		return;
	}
	if (!a->regs || reg_cache_parse_name(name, &pid, &start_time) < 0)
		return;
	if (!added) {
		reg_cache_drop(a->regs, pid, start_time);
		return;
	}
	/* Read now, while no exit waits for it. */
	if (registry_lookup(&a->store, pid, start_time, &reg, &err) == 1 &&
	    reg.pid == pid && reg.start_time == start_time)
		reg_cache_put(a->regs, &reg);
	tardis_error_free(&err);
}

int agent_handle_event(struct agent *a, const struct tardis_exit_event *ev, const char *source)
{
	struct exit_record r;
	struct registration reg;
	tardis_error_t err = NULL;
	int found, ret;

	/* From memory when the agent saw it registered, else from the pid
	 * index; either way record_exit checks it is the container's init. */
	found = a->regs ? reg_cache_get(a->regs, ev->tgid, ev->start_time, &reg) : 0;
	if (found) {
		a->stats.lookups_memory++;
	} else {
		found = registry_lookup(&a->store, ev->tgid, ev->start_time, &reg, &err);
		a->stats.lookups_index++;
	}
	if (found < 0) {
		tardis_error_wrap(&err, "exit of pid %u", ev->tgid);
		tardis_error_log_release(TARDIS_LOG_WARN, NULL, &err);
	}
	if (found <= 0 || reg.start_time != ev->start_time) {
		/* Never attributed to a container it cannot be tied to. */
		log_debug("exit of pid %u (%.16s) status %u: no registered container", ev->tgid,
			  ev->comm, ev->status);
		a->stats.unattributed++;
		return 0;
	}
	if (exit_record_from_event(&r, ev, reg.ns, reg.id) < 0)
		log_error("exit of pid %u: impossible wait status %#x", ev->tgid, ev->status);
	ret = record_exit(a, &r, ev->exit_ns, source, 1);
	forget_unless_pending(a, ret, ev->tgid, ev->start_time);
	return ret;
}

int agent_handle_ctr_line(struct agent *a, const char *line)
{
	struct exit_record r;
	struct ctr_exit ce;
	tardis_error_t err = NULL;
	int kind;

	kind = ctr_events_parse_line(line, &ce, &err);
	if (kind < 0) {
		tardis_error_log_release(TARDIS_LOG_WARN, "ctr events", &err);
		return 0;
	}
	if (kind != CTR_LINE_EXIT)
		return 0;
	memset(&r, 0, sizeof(r));
	strcpy(r.ns, ce.ns);
	strcpy(r.id, ce.container_id);
	r.known = 1;
	r.pid = ce.pid;
	r.st.exit_status = ce.exit_status;
	r.st.exited = ce.exit_status < 128;
	r.st.code = r.st.exited ? ce.exit_status : 0;
	r.st.signal = r.st.exited ? 0 : ce.exit_status - 128;
	r.exited_at_ns = ce.exited_at_ns;
	{
		/* containerd does not know the start time: take the state's. */
		cleanup_close int dfd = -1;
		pid_t p;

		dfd = store_container_dir(&a->store, ce.ns, ce.container_id, 0, &err);
		if (dfd < 0) {
			tardis_error_free(&err);
			a->stats.unattributed++;
			return 0;
		}
		state_init(dfd, &p, &r.start_time);
	}
	return record_exit(a, &r, 0, "ctr-events", 0);
}

static int recent_cb(const struct tardis_exit_event *ev, void *arg)
{
	struct agent *a = arg;
	uint64_t before = a->stats.recorded;

	agent_handle_event(a, ev, "bpf-recent");
	if (a->stats.recorded > before)
		a->stats.recovered++;
	return 0;
}

int agent_scan_recent(struct agent *a)
{
	if (!a->have_monitor)
		return 0;
	if (a->mon.old_recent_fd >= 0) {
		/* Once: the map of the replaced objects, still this layout's. */
		struct tardis_monitor old = TARDIS_MONITOR_CLOSED;
		uint64_t before = a->stats.recovered;

		old.recent_fd = a->mon.old_recent_fd;
		a->mon.old_recent_fd = -1;
		monitor_recent_foreach(&old, recent_cb, a);
		log_info("exit monitor: %llu exits recovered from the replaced recent_exits map",
			 (unsigned long long)(a->stats.recovered - before));
		monitor_close(&old);
	}
	return monitor_recent_foreach(&a->mon, recent_cb, a);
}

/* A freshly loaded monitor has an empty registered-pids map: the live
 * host-pid-namespace inits of the registry go back into it. */
static void reregister(struct agent *a, const struct registration *reg)
{
	tardis_error_t err = NULL;

	if (!a->have_monitor || !a->mon.loaded || proc_is_pidns_init(reg->pid) == 1)
		return;
	if (monitor_register_pid(&a->mon, reg->pid, reg->start_time, &err) < 0) {
		tardis_error_wrap(&err, "%s/%s", reg->ns, reg->id);
		tardis_error_log_release(TARDIS_LOG_WARN, NULL, &err);
		return;
	}
	log_info("%s/%s: init pid %d registered again in the new exit monitor", reg->ns, reg->id,
		 (int)reg->pid);
}

static int vanished_cb(const struct registration *reg, void *arg)
{
	struct agent *a = arg;
	struct tardis_exit_event ev;
	struct exit_record r;

	if (proc_is_same(reg->pid, reg->start_time)) {
		reregister(a, reg);
		if (a->regs)
			reg_cache_put(a->regs, reg); /* its exit: looked up in memory */
		return 0;
	}
	/* It may have died since the recent-exits scan. */
	if (a->have_monitor && monitor_recent_lookup(&a->mon, reg->pid, reg->start_time, &ev) == 1) {
		recent_cb(&ev, a);
		return 0;
	}
	memset(&r, 0, sizeof(r));
	strcpy(r.ns, reg->ns);
	strcpy(r.id, reg->id);
	r.known = 0;
	r.pid = reg->pid;
	r.start_time = reg->start_time;
	forget_unless_pending(a, record_exit(a, &r, 0, "reconcile", 1), reg->pid, reg->start_time);
	return 0;
}

int agent_scan_vanished(struct agent *a)
{
	tardis_error_t err = NULL;

	if (registry_foreach(&a->store, vanished_cb, a, &err) < 0) {
		tardis_error_log_release(TARDIS_LOG_ERROR, "reconcile", &err);
		return -1;
	}
	return 0;
}

/* Failed checkpoints and restores: counted by tardis-runc in the state
 * directory (failures.json), which outlives both it and this agent. */
static void failure_metrics(struct agent *a, struct metrics_buf *b)
{
	tardis_error_t err = NULL;
	struct failure_counts n;
	char label[64];

	if (failure_count_load(&a->store, &n, &err) < 0) {
		tardis_error_log_release(TARDIS_LOG_WARN, "metrics", &err);
		return;
	}
	metrics_family(b, "tardis_checkpoint_failures_total", "counter",
		       "Checkpoints that failed on this node, by trigger (checkpoint: containerd's; kill: the stop signal; delete: delete --force).");
	for (int i = 0; i < FAILURE_TRIGGERS; i++) {
		snprintf(label, sizeof(label), "trigger=\"%s\"", failure_trigger_names[i]);
		metrics_sample(b, "tardis_checkpoint_failures_total", label, (double)n.checkpoint[i]);
	}
	metrics_family(b, "tardis_restore_failures_total", "counter",
		       "Creates that had an image but could not restore it (invalid image or failed restore) and started fresh.");
	metrics_sample(b, "tardis_restore_failures_total", NULL, (double)n.restore);
}

int agent_metrics_write(struct agent *a, const char *path, double started_at, tardis_error_t *err)
{
	static const struct {
		const char *name, *help;
		size_t off;
	} counters[] = {
		{ "tardis_exits_recorded_total", "Exit records written by tardisd.",
		  offsetof(struct agent_stats, recorded) },
		{ "tardis_exits_recovered_total",
		  "Exit records taken from the kernel's recent_exits map (ring buffer full, or no agent when the exit happened).",
		  offsetof(struct agent_stats, recovered) },
		{ "tardis_exits_unknown_total",
		  "Exit records written as unknown: the init vanished and no map held its exit.",
		  offsetof(struct agent_stats, unknown) },
		{ "tardis_exits_duplicate_total", "Replayed exits that were already recorded (no-ops).",
		  offsetof(struct agent_stats, duplicates) },
		{ "tardis_exits_unattributed_total",
		  "Container-init exits tied to no registered tardis container (left in recent_exits).",
		  offsetof(struct agent_stats, unattributed) },
		{ "tardis_agent_errors_total", "Exit records tardisd failed to write.",
		  offsetof(struct agent_stats, errors) },
		{ "tardis_agent_lookups_memory_total",
		  "Exits whose registration tardisd had in memory (seen registered).",
		  offsetof(struct agent_stats, lookups_memory) },
		{ "tardis_agent_lookups_index_total",
		  "Exits whose registration tardisd read from the pid index (registered before it watched, or unregistered).",
		  offsetof(struct agent_stats, lookups_index) },
	};
	static const char *const sources[] = { "source=\"bpf\"", "source=\"bpf-recent\"" };
	struct metrics_buf b = { 0 };
	struct tardis_counters kc;
	int ret;

	for (size_t i = 0; i < sizeof(counters) / sizeof(counters[0]); i++) {
		metrics_family(&b, counters[i].name, "counter", counters[i].help);
		metrics_sample(&b, counters[i].name, NULL,
			       (double)*(const uint64_t *)((const char *)&a->stats + counters[i].off));
	}
	if (a->have_monitor && monitor_counters(&a->mon, &kc, err) == 0) {
		metrics_family(&b, "tardis_ring_buffer_drops_total", "counter",
			       "Exit events the kernel could not put into the full ring buffer, summed over CPUs (kept in recent_exits).");
		metrics_sample(&b, "tardis_ring_buffer_drops_total", NULL, (double)kc.drops);
		metrics_family(&b, "tardis_kernel_captured_total", "counter",
			       "Exits of container inits and registered pids the BPF program reported.");
		metrics_sample(&b, "tardis_kernel_captured_total", NULL, (double)kc.captured);
		metrics_family(&b, "tardis_kernel_duplicates_total", "counter",
			       "Second reports of one group death, suppressed in the kernel.");
		metrics_sample(&b, "tardis_kernel_duplicates_total", NULL, (double)kc.duplicates);
	} else if (a->have_monitor) {
		tardis_error_log_release(TARDIS_LOG_WARN, "metrics", err);
	}
	metrics_family(&b, "tardis_exit_record_latency_seconds", "histogram",
		       "Time from a container init's exit (kernel timestamp) to its exit record being visible in the state directory.");
	for (int i = 0; i < 2; i++)
		metrics_histogram_samples(&b, "tardis_exit_record_latency_seconds", sources[i],
					  &a->stats.latency[i]);
	failure_metrics(a, &b);
	metrics_family(&b, "tardisd_start_time_seconds", "gauge",
		       "When this tardisd started, seconds since the epoch (counters restart with it).");
	metrics_sample(&b, "tardisd_start_time_seconds", NULL, started_at);
	ret = metrics_write_file(path, &b, err);
	metrics_buf_free(&b);
	return ret;
}
