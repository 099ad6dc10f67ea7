#include "exit_lookup.h"
#include "cleanup.h"
#include "exit_record.h"

int exit_lookup_kernel(const char *bpf_dir, pid_t pid, uint64_t start_time, int *exit_status)
{
	struct tardis_monitor m; /* before mon: mon's cleanup still sees it */
	cleanup_monitor_ptr struct tardis_monitor *mon = NULL;
	struct tardis_exit_event ev;
	struct exit_status es;

	if (pid <= 0 || !(mon = monitor_open_optional(&m, bpf_dir, NULL)))
		return 0;
	if (monitor_recent_lookup(mon, pid, start_time, &ev) != 1 ||
	    exit_status_decode(ev.status, &es) < 0)
		return 0;
	*exit_status = es.exit_status;
	return 1;
}

/* 1 a record for this init (known or not: *r says), 0 none or another's. */
static int record_of(struct tardis_store *s, const char *ns, const char *id, pid_t pid,
		     uint64_t start_time, struct exit_record *r)
{
	cleanup_error tardis_error_t err = NULL;
	cleanup_close int dfd = -1;
	cleanup_free char *text = NULL;

	dfd = store_container_dir(s, ns, id, 0, &err);
	return dfd >= 0 && store_read(dfd, EXIT_RECORD_FILE, 1 << 20, &text, NULL, &err) == 0 &&
	       exit_record_from_json(text, r, &err) == 0 && r->pid == pid &&
	       r->start_time == start_time;
}

int exit_lookup(struct tardis_store *s, const char *bpf_dir, const char *ns, const char *id,
		pid_t pid, uint64_t start_time, int *exit_status, enum exit_source *src)
{
	struct exit_record r;
	enum exit_source dummy;

	if (!src)
		src = &dummy;
	*src = EXIT_SOURCE_NONE;
	if (ns && id && record_of(s, ns, id, pid, start_time, &r)) {
		if (!r.known)
			return 0;
		*exit_status = r.st.exit_status;
		*src = EXIT_SOURCE_RECORD;
		return 1;
	}
	/* The agent may not have written it yet: the kernel has it. */
	if (exit_lookup_kernel(bpf_dir, pid, start_time, exit_status)) {
		*src = EXIT_SOURCE_KERNEL;
		return 1;
	}
	return 0;
}
