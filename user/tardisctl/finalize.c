/*
 * tardisctl finalize: node drain.  Every enabled running container is
 * checkpointed through containerd (`ctr containers checkpoint --task`), so
 * tardis-runc saves and stops it and its next create restores it; then
 * proof that it did.
 */
#include "tardisctl.h"
#include "process.h"
#include "cleanup.h"
#include "container_state.h"
#include "container_summary.h"
#include "proc.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

struct finalize_opts {
	const char *address;
	const char *ctr;
	int dry_run;
	int timeout_s;
};

/* Runs argv (no shell, PATH searched), stdout and stderr into out; kills
 * its process group after timeout_s.  Returns its wait status, or -1 (out
 * says why). */
static int run_capture(char *const argv[], int timeout_s, char *out, size_t outlen)
{
	cleanup_error tardis_error_t err = NULL;
	cleanup_free char *cap = NULL;
	int st;

	st = run_wait(argv, RUN_OWN_PGRP | RUN_CAPTURE_STDERR | RUN_STDIN_NULL | RUN_SEARCH_PATH,
		      timeout_s, &cap, &err);
	snprintf(out, outlen, "%s", st < 0 ? tardis_error_msg(err) : cap ? cap : "");
	return st;
}

/* Waits (pidfd, no polling loop) until (pid, start) is dead. */
static int wait_gone(pid_t pid, uint64_t start, int timeout_ms)
{
	struct pollfd p = { .events = POLLIN };
	int r;

	p.fd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (p.fd < 0)
		return errno == ESRCH || !proc_is_same(pid, start) ? 0 : -1;
	if (!proc_is_same(pid, start)) {
		close(p.fd);
		return 0;
	}
	r = poll(&p, 1, timeout_ms);
	close(p.fd);
	return r > 0 || !proc_is_same(pid, start) ? 0 : -1;
}

/* The last non-empty line of a command's output, for a one-line reason. */
static const char *last_line(char *out)
{
	char *e = out + strlen(out), *b;

	while (e > out && (e[-1] == '\n' || e[-1] == ' ' || e[-1] == '\r'))
		*--e = '\0';
	b = strrchr(out, '\n');
	return b ? b + 1 : out;
}

static const char *runc_log(struct ctl *c)
{
	return c->cfg.log_file[0] ? c->cfg.log_file : "/var/log/tardis-runc.log";
}

/* `ctr checkpoint --task`, then the image containerd keeps of its own
 * (empty: tardis wrote the real one) removed.  0, or -1 with reason. */
static int ctr_checkpoint(const struct finalize_opts *fo, const struct container_ref *ref,
			  char *reason, size_t rlen)
{
	char image[TARDIS_ID_MAX * 2 + 64], out[4096];
	char *argv[] = { (char *)fo->ctr, "-a", (char *)fo->address, "-n", (char *)ref->ns,
			 "containers", "checkpoint", "--task", (char *)ref->id, image, NULL };
	int st;

	snprintf(image, sizeof(image), "tardis-finalize/%s/%s:%lld", ref->ns, ref->id,
		 (long long)(time_realtime_ns() / 1000000000ll));
	st = run_capture(argv, fo->timeout_s, out, sizeof(out));
	if (st < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		if (st < 0)
			snprintf(reason, rlen, "%s", out);
		else
			snprintf(reason, rlen, "ctr checkpoint failed (exit status %d): %s",
				 WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st), last_line(out));
		return -1;
	}
	argv[5] = "images";
	argv[6] = "rm";
	argv[7] = image;
	argv[8] = NULL;
	run_capture(argv, 60, out, sizeof(out));
	return 0;
}

/* The proof: checkpointed with a valid image.  0 (reason: what was
 * saved), or -1 with reason. */
static int finalize_check(struct ctl *c, const struct container_ref *ref, char *reason,
			  size_t rlen)
{
	cleanup_error tardis_error_t err = NULL;
	struct container_summary after;
	char why[512], size[32];
	int ok;

	if (container_summary_load(&c->store, ref->ns, ref->id, 1, &after, &err) < 0) {
		snprintf(reason, rlen, "state: %s", tardis_error_msg(err));
		return -1;
	}
	ok = strcmp(after.state, "checkpointed") == 0 && after.image_present && after.image.valid;
	if (ok) {
		const cJSON *ck = cJSON_GetObjectItemCaseSensitive(after.doc, "last_checkpoint");

		format_bytes((double)after.image.size, size, sizeof(size));
		snprintf(reason, rlen, "%s in %.0f ms into %s", size,
			 cjson_get_num(ck, "duration_ms", 0), after.image_path);
	} else if (after.image_present && !after.image.valid) {
		snprintf(reason, rlen, "image %s is invalid (%s)", after.image_path,
			 image_report_reason(&after.image, why, sizeof(why)));
	} else {
		snprintf(reason, rlen, "stopped but not checkpointed by tardis (state %s); see %s",
			 after.state, runc_log(c));
	}
	container_summary_free(&after);
	return ok ? 0 : -1;
}

/* One container: ctr checkpoint (tardis-runc saves it and stops it), then
 * proof: the init is gone and a valid image newer than the create.  0 ok,
 * -1 with reason. */
static int finalize_one(struct ctl *c, const struct finalize_opts *fo,
			const struct container_summary *before, char *reason, size_t rlen)
{
	char ctr_why[1024];

	if (ctr_checkpoint(fo, &before->ref, ctr_why, sizeof(ctr_why)) < 0) {
		/* containerd can fail after the task's checkpoint, in its own
		 * content store (1.6: "content sha256:5f70...: already exists",
		 * the empty layer the previous container's checkpoint wrote and
		 * its garbage collection was removing): tardis's image is the
		 * proof, not ctr's. */
		if (wait_gone(before->init_pid, before->init_start_time, 2000) < 0 ||
		    finalize_check(c, &before->ref, reason, rlen) < 0) {
			snprintf(reason, rlen, "%s", ctr_why);
			return -1;
		}
		fprintf(stderr, "tardisctl: %s/%s: checkpointed by tardis, though ctr failed: %s\n",
			before->ref.ns, before->ref.id, ctr_why);
		return 0;
	}
	if (wait_gone(before->init_pid, before->init_start_time, 10000) < 0) {
		snprintf(reason, rlen, "still running after the checkpoint (tardis-runc passed it to runc? see %s)",
			 runc_log(c));
		return -1;
	}
	return finalize_check(c, &before->ref, reason, rlen);
}

struct finalize_count {
	int done, failed, skipped;
};

/* Finalizes (or, dry run, names) one container of the listing. */
static void finalize_ref(struct ctl *c, const struct finalize_opts *fo,
			 const struct container_ref *ref, struct finalize_count *n)
{
	cleanup_error tardis_error_t err = NULL;
	struct container_summary s;
	char reason[1024];
	int64_t t0;

	if (container_summary_load(&c->store, ref->ns, ref->id, 0, &s, &err) < 0)
		return;
	if (strcmp(s.state, "running") != 0) {
		n->skipped++;
	} else if (cjson_get_bool(s.doc, "cri")) {
		/* containerd's checkpoint of a CRI container is CheckpointContainer's,
		 * passed to runc: kubelet's stop signal is its drain. */
		printf("%s/%s: skipped: a Kubernetes container (drained by `kubectl drain`: its "
		       "stop signal checkpoints it with TARDIS_CHECKPOINT_ON_STOP=1)\n",
		       s.ref.ns, s.ref.id);
		n->skipped++;
	} else if (fo->dry_run) {
		printf("%s/%s: would checkpoint (init pid %d)\n", s.ref.ns, s.ref.id, (int)s.init_pid);
		n->done++;
	} else {
		t0 = time_monotonic_ns();
		if (finalize_one(c, fo, &s, reason, sizeof(reason)) == 0) {
			printf("%s/%s: checkpointed and stopped: %s (%.1f s)\n", s.ref.ns, s.ref.id,
			       reason, (time_monotonic_ns() - t0) / 1e9);
			n->done++;
		} else {
			printf("%s/%s: FAILED: %s\n", s.ref.ns, s.ref.id, reason);
			n->failed++;
		}
		fflush(stdout);
	}
	container_summary_free(&s);
}

static int finalize_main(struct ctl *c, int argc, char **argv)
{
	struct finalize_opts fo = { .address = "/run/containerd/containerd.sock", .ctr = "ctr" };
	const char *only_ns = NULL;
	struct ctl_opt opts[] = {
		CTL_STRING("address", 'a', &fo.address),
		CTL_STRING("namespace", 'n', &only_ns),
		CTL_STRING("ctr", 0, &fo.ctr),
		CTL_FLAG("dry-run", 0, &fo.dry_run),
		CTL_OPT_END,
	};
	struct ctl_cmdline cl = { .opts = opts };
	cleanup_error tardis_error_t err = NULL;
	cleanup_free struct container_ref *refs = NULL;
	struct finalize_count count = { 0 };
	size_t n = 0;
	int ret;

	if ((ret = opts_parse(c, argc, argv, &cl)) >= 0)
		return ret;
	if (only_ns && !store_id_valid(only_ns))
		return ctl_misuse(c, "`%s` is not a namespace", only_ns);
	if (!*fo.address || !*fo.ctr)
		return ctl_misuse(c, "empty --address or --ctr");
	fo.timeout_s = c->cfg.checkpoint_timeout + 60;
	if (container_list(&c->store, &refs, &n, &err) < 0) {
		fprintf(stderr, "tardisctl: %s\n", tardis_error_msg(err));
		return 1;
	}
	for (size_t i = 0; i < n; i++)
		if (!only_ns || strcmp(refs[i].ns, only_ns) == 0)
			finalize_ref(c, &fo, &refs[i], &count);
	printf("finalize: %s %d, failed %d, not running %d\n",
	       fo.dry_run ? "would checkpoint" : "checkpointed", count.done, count.failed,
	       count.skipped);
	return count.failed ? 1 : 0;
}

TARDISCTL_COMMAND(finalize, 1, "checkpoint and stop every running container (node drain)",
		  "usage: tardisctl finalize [--address SOCK] [--namespace NS] [--ctr PATH] [--dry-run]\n"
		  "For every enabled container that runs: `ctr -a SOCK -n NS containers checkpoint --task\n"
		  "ID REF`; tardis-runc saves it and stops it, and its next create restores it.  Prints\n"
		  "one line per container and a summary; exit status 1 if any failed.\n"
		  "  -a, --address     containerd's socket (default /run/containerd/containerd.sock)\n"
		  "  -n, --namespace   only this namespace\n"
		  "      --ctr         the ctr binary (default: ctr from PATH)\n"
		  "      --dry-run     only say what would be checkpointed\n");
