#include "lease.h"
#include "deadline.h"
#include "cleanup.h"
#include "container_state.h" /* cjson_get_*, cjson_set_* */
#include "state.h"           /* store_read */
#include "util.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#define NS_PER_S ((int64_t)1000000000)
#define LEASE_RECORD_MAX (64 << 10)
#define LEASE_TMP_PREFIX ".tmp."
#define LEASE_TMP_STALE_NS (60 * NS_PER_S)
/* Re-reads when the current record vanished under us (pruned, renamed over). */
#define LEASE_READ_TRIES 10
#define LEASE_CLAIM_RACES 50
#define LEASE_POLL_NS (100 * 1000000L)
#define SEQ_DIGITS 20

static const char *const state_names[] = { "none", "running", "checkpointing", "released" };

const char *lease_state_name(enum lease_state s)
{
	return (unsigned)s < sizeof(state_names) / sizeof(state_names[0]) ? state_names[s] : "?";
}

int lease_expired(const struct lease *l, int64_t now_ns)
{
	if (l->state != LEASE_RUNNING && l->state != LEASE_CHECKPOINTING)
		return 0;
	return l->renewed_ns + (int64_t)l->timeout_s * NS_PER_S < now_ns;
}

int lease_dir_path(const char *image_path, char *buf, size_t len)
{
	size_t n = strlen(image_path);

	while (n > 1 && image_path[n - 1] == '/')
		n--;
	if (n == 0 || snprintf(buf, len, "%.*s%s", (int)n, image_path, LEASE_DIR_SUFFIX) >= (int)len)
		return -1;
	return 0;
}

/* An open lease directory and its path (for messages). */
struct lease_dir {
	int fd;
	char path[PATH_MAX];
};

static void lease_dir_closep(struct lease_dir *d)
{
	if (d->fd >= 0)
		close(d->fd);
}
#define cleanup_lease_dir __attribute__((cleanup(lease_dir_closep)))

/* Opens the lease dir of image_path (creating it 0700, and its parents, when
 * asked); -ENOENT with *err empty when it does not exist and create is 0. */
static int lease_dir_open(struct lease_dir *d, const char *image_path, int create,
			  tardis_error_t *err)
{
	if (lease_dir_path(image_path, d->path, sizeof(d->path)) < 0)
		return tardis_make_error(err, ENAMETOOLONG, "lease of `%s`", image_path);
	if (create && mkdir_p(d->path, 0700) < 0)
		return tardis_make_error(err, errno, "create `%s`", d->path);
	d->fd = open(d->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (d->fd < 0 && errno == ENOENT && !create)
		return -ENOENT;
	if (d->fd < 0)
		return tardis_make_error(err, errno, "open `%s`", d->path);
	return 0;
}

/* A fresh listing of the directory: its own open (a dup would share the
 * offset, and sshfs does not list again after a rewind), which also makes
 * NFS revalidate the directory (close-to-open). */
static DIR *lease_list(int fd)
{
	return fdopendir_reopen(fd);
}

static void seq_name(uint64_t seq, char name[SEQ_DIGITS + 1])
{
	snprintf(name, SEQ_DIGITS + 1, "%0*" PRIu64, SEQ_DIGITS, seq);
}

/* 1 and *seq when name is a record's (exactly SEQ_DIGITS digits, not 0). */
static int seq_of_name(const char *name, uint64_t *seq)
{
	uint64_t v = 0;
	int i;

	for (i = 0; name[i]; i++) {
		unsigned dgt = (unsigned)(name[i] - '0');

		if (i >= SEQ_DIGITS || dgt > 9 || v > (UINT64_MAX - dgt) / 10)
			return 0;
		v = v * 10 + dgt;
	}
	if (i != SEQ_DIGITS || v == 0)
		return 0;
	*seq = v;
	return 1;
}

/* The highest record number listed in d below `below` (0: none). */
static int listed_below(struct lease_dir *d, uint64_t below, uint64_t *out, tardis_error_t *err)
{
	cleanup_dir DIR *dir = lease_list(d->fd);
	struct dirent *de;
	uint64_t s;

	if (!dir)
		return tardis_make_error(err, errno, "list `%s`", d->path);
	*out = 0;
	while ((de = readdir(dir)))
		if (seq_of_name(de->d_name, &s) && s < below && s > *out)
			*out = s;
	return 0;
}

/* By open, not stat: sshfs answers a stat from its cache (20 s) even for
 * a name removed meanwhile, an open asks the server (as NFS does on open). */
static int record_exists(struct lease_dir *d, uint64_t seq)
{
	char name[SEQ_DIGITS + 1];
	int fd;

	seq_name(seq, name);
	fd = openat(d->fd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return 0;
	close(fd);
	return 1;
}

/* The highest record number of d (0: none), at least `from` (a record known
 * to exist).  A listing can be stale (sshfs caches them for 20 s, NFS until
 * it revalidates the directory): names are looked up to confirm it.  The
 * records are a run of consecutive numbers (lease_prune), so the highest
 * listed one that exists leads to the newest by looking up the next ones. */
static int lease_top(struct lease_dir *d, uint64_t from, uint64_t *top, tardis_error_t *err)
{
	uint64_t s = UINT64_MAX;

	for (int i = 0; i < LEASE_READ_TRIES; i++) {
		if (listed_below(d, s, &s, err) < 0)
			return -1;
		if (s == 0 || record_exists(d, s))
			break;
	}
	*top = s > from ? s : from;
	while (record_exists(d, *top + 1))
		(*top)++;
	return 0;
}

/* Now, whole microseconds: what a JSON number (a double) carries exactly
 * once rounded back (record_parse). */
static int64_t now_us_ns(void)
{
	return time_realtime_ns() / 1000 * 1000;
}

static char *record_json(const struct lease *l)
{
	cleanup_json cJSON *o = cJSON_CreateObject();
	char ns[32];

	if (!o)
		return NULL;
	cjson_set_num(o, "version", 1);
	cjson_set_num(o, "seq", (double)l->seq);
	cjson_set_str(o, "state", lease_state_name(l->state));
	cjson_set_str(o, "node", l->node);
	cjson_set_str(o, "ns", l->ns);
	cjson_set_str(o, "id", l->id);
	/* Raw: cJSON would print a double with 15 significant digits. */
	snprintf(ns, sizeof(ns), "%" PRId64, l->renewed_ns);
	if (!cJSON_AddRawToObject(o, "renewed_at_ns", ns))
		return NULL;
	cjson_set_num(o, "timeout_s", l->timeout_s);
	cjson_set_str(o, "image", l->image);
	cjson_set_num(o, "failed_restores", l->failed_restores);
	return cJSON_PrintUnformatted(o);
}

static int copy_str(char *dst, size_t len, const cJSON *o, const char *k)
{
	const char *s = cjson_get_str(o, k);

	if (!s || strlen(s) >= len)
		return -1;
	memcpy(dst, s, strlen(s) + 1);
	return 0;
}

/* Parses record seq into *out; NULL, or what is wrong with it. */
static const char *record_parse(const char *text, uint64_t seq, struct lease *out)
{
	cleanup_json cJSON *o = cJSON_Parse(text);
	const char *state;
	const cJSON *ns;

	memset(out, 0, sizeof(*out));
	if (!cJSON_IsObject(o))
		return "not a JSON object";
	if (cjson_get_int(o, "version", 0) != 1)
		return "version is not 1";
	if (cjson_get_u64(o, "seq", 0) != seq)
		return "seq differs from the file name";
	state = cjson_get_str(o, "state");
	for (int s = LEASE_RUNNING; s <= LEASE_RELEASED; s++)
		if (state && strcmp(state, state_names[s]) == 0)
			out->state = s;
	if (out->state == LEASE_NONE)
		return "bad state";
	if (copy_str(out->node, sizeof(out->node), o, "node") < 0 ||
	    copy_str(out->ns, sizeof(out->ns), o, "ns") < 0 ||
	    copy_str(out->id, sizeof(out->id), o, "id") < 0 ||
	    copy_str(out->image, sizeof(out->image), o, "image") < 0)
		return "bad node, ns, id or image";
	ns = cJSON_GetObjectItemCaseSensitive(o, "renewed_at_ns");
	if (!cJSON_IsNumber(ns) || !(ns->valuedouble >= 0 && ns->valuedouble < 9.2e18))
		return "bad renewed_at_ns";
	out->renewed_ns = (int64_t)(ns->valuedouble / 1000.0 + 0.5) * 1000;
	out->timeout_s = cjson_get_int(o, "timeout_s", -1);
	out->failed_restores = cjson_get_int(o, "failed_restores", -1);
	if (out->timeout_s < 0 || out->failed_restores < 0)
		return "bad timeout_s or failed_restores";
	out->seq = seq;
	return NULL;
}

/* Record seq of d: 1 read, 0 gone meanwhile (pruned; NFS: ESTALE after a
 * rename over it), -1 error. */
static int record_load(struct lease_dir *d, uint64_t seq, struct lease *out, tardis_error_t *err)
{
	cleanup_free char *text = NULL;
	tardis_error_t rerr = NULL;
	char name[SEQ_DIGITS + 1];
	const char *bad;

	seq_name(seq, name);
	if (store_read(d->fd, name, LEASE_RECORD_MAX, &text, NULL, &rerr) < 0) {
		int e = tardis_error_errno(rerr);

		if (e != ENOENT && e != ESTALE)
			tardis_make_error(err, e, "lease `%s`: %s", d->path, tardis_error_msg(rerr));
		tardis_error_free(&rerr);
		return e == ENOENT || e == ESTALE ? 0 : -1;
	}
	bad = record_parse(text, seq, out);
	if (bad)
		return tardis_make_error(err, EINVAL, "malformed lease record `%s/%s`: %s", d->path,
					 name, bad);
	return 1;
}

/* The current record of d: 1, 0 none, -1 error. */
static int lease_current(struct lease_dir *d, struct lease *out, tardis_error_t *err)
{
	memset(out, 0, sizeof(*out));
	for (int i = 0; i < LEASE_READ_TRIES; i++) {
		uint64_t top;
		int rc;

		if (lease_top(d, 0, &top, err) < 0)
			return -1;
		if (top == 0)
			return 0;
		rc = record_load(d, top, out, err);
		if (rc != 0)
			return rc;
	}
	return tardis_make_error(err, EAGAIN, "lease `%s` keeps changing", d->path);
}

int lease_read(const char *image_path, struct lease *out, tardis_error_t *err)
{
	cleanup_lease_dir struct lease_dir d = { .fd = -1 };
	int rc = lease_dir_open(&d, image_path, 0, err);

	memset(out, 0, sizeof(*out));
	if (rc == -ENOENT)
		return 0;
	if (rc < 0)
		return -1;
	return lease_current(&d, out, err);
}

/* This machine's name as it goes into temp names (unique across the nodes
 * sharing the fs, pids are not). */
static void writer_node(char *buf, size_t len)
{
	struct utsname u;

	snprintf(buf, len, "%s", uname(&u) == 0 ? u.nodename : "node");
	for (char *p = buf; *p; p++)
		if (*p == '/' || *p <= ' ' || *p > '~')
			*p = '_';
}

/* Writes l to a fresh, fsynced temp file of d, named into tmp. */
static int record_write_tmp(struct lease_dir *d, const struct lease *l, char *tmp, size_t len,
			    tardis_error_t *err)
{
	static unsigned counter;
	cleanup_free char *text = record_json(l);
	cleanup_close int fd = -1;
	char node[64];

	if (!text)
		return tardis_make_error(err, ENOMEM, "lease record");
	writer_node(node, sizeof(node));
	if (snprintf(tmp, len, LEASE_TMP_PREFIX "%s.%d.%u", node, (int)getpid(),
		     __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED)) >= (int)len)
		return tardis_make_error(err, ENAMETOOLONG, "lease temp name");
	fd = openat(d->fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return tardis_make_error(err, errno, "create `%s/%s`", d->path, tmp);
	if (write_full(fd, text, strlen(text)) < 0 || fsync(fd) < 0) {
		int e = errno;

		unlinkat(d->fd, tmp, 0);
		return tardis_make_error(err, e, "write `%s/%s`", d->path, tmp);
	}
	return 0;
}

/* fsync of the directory; sshfs (FUSE without fsyncdir) cannot: not an error. */
static int dir_sync(struct lease_dir *d, tardis_error_t *err)
{
	if (fsync(d->fd) < 0 && errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP)
		return tardis_make_error(err, errno, "fsync `%s`", d->path);
	return 0;
}

/* The exclusive creation of name: 1 made, 0 it exists (or the dir went), -1 error. */
static int record_link(struct lease_dir *d, const char *tmp, const char *name, tardis_error_t *err)
{
	struct stat t, n;
	int e, have_tmp, have_name;

	if (linkat(d->fd, tmp, d->fd, name, 0) == 0)
		return 1;
	e = errno;
	have_tmp = fstatat(d->fd, tmp, &t, AT_SYMLINK_NOFOLLOW) == 0;
	have_name = fstatat(d->fd, name, &n, AT_SYMLINK_NOFOLLOW) == 0;
	/* open(2) on NFS: a retried LINK can fail for a link that was made. */
	if (have_tmp && (t.st_nlink == 2 ||
			 (have_name && t.st_dev == n.st_dev && t.st_ino == n.st_ino)))
		return 1;
	/* sshfs reports an existing name as EPERM (SFTP's generic failure). */
	if (e == EEXIST || e == ENOENT || have_name)
		return 0;
	return tardis_make_error(err, e, "link `%s/%s`", d->path, name);
}

/* Unlinks the records before top-2 and temp files left for a minute. */
static void lease_prune(struct lease_dir *d, uint64_t top)
{
	cleanup_dir DIR *dir = lease_list(d->fd);
	int64_t now = time_realtime_ns();
	char name[SEQ_DIGITS + 1];
	struct dirent *de;
	struct stat st;
	uint64_t s;

	/* By name first, whatever the listing shows: the records then stay a
	 * run of at most LEASE_KEEP numbers, which lease_top's look-ups rely on. */
	if (top > LEASE_KEEP) {
		seq_name(top - LEASE_KEEP, name);
		unlinkat(d->fd, name, 0);
	}
	if (!dir)
		return;
	while ((de = readdir(dir))) {
		if (seq_of_name(de->d_name, &s)) {
			if (s + LEASE_KEEP <= top)
				unlinkat(d->fd, de->d_name, 0);
		} else if (strncmp(de->d_name, LEASE_TMP_PREFIX, strlen(LEASE_TMP_PREFIX)) == 0 &&
			   fstatat(d->fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
			   st.st_mtim.tv_sec * NS_PER_S + st.st_mtim.tv_nsec + LEASE_TMP_STALE_NS < now) {
			unlinkat(d->fd, de->d_name, 0);
		}
	}
}

int lease_advance(const char *image_path, const struct lease *cur, struct lease *next,
		  tardis_error_t *err)
{
	cleanup_lease_dir struct lease_dir d = { .fd = -1 };
	char tmp[NAME_MAX + 1], name[SEQ_DIGITS + 1];
	uint64_t top;
	int rc;

	if (lease_dir_open(&d, image_path, 1, err) < 0)
		return -1;
	if (lease_top(&d, 0, &top, err) < 0)
		return -1;
	if (top != cur->seq)
		return 0;
	next->seq = cur->seq + 1;
	next->renewed_ns = now_us_ns();
	seq_name(next->seq, name);
	if (record_write_tmp(&d, next, tmp, sizeof(tmp), err) < 0)
		return -1;
	rc = record_link(&d, tmp, name, err);
	unlinkat(d.fd, tmp, 0);
	if (rc <= 0)
		return rc;
	if (dir_sync(&d, err) < 0 || lease_top(&d, next->seq, &top, err) < 0)
		return -1;
	/* Pruned numbers can be made again: a writer slow between the check
	 * above and the link recreates one while the lease has moved LEASE_KEEP
	 * records past it.  That one never was current: take it back. */
	if (top >= next->seq + LEASE_KEEP) {
		unlinkat(d.fd, name, 0);
		return 0;
	}
	lease_prune(&d, top);
	return 1;
}

static int same_owner(const struct lease *a, const struct lease *b)
{
	return strcmp(a->node, b->node) == 0 && strcmp(a->ns, b->ns) == 0 &&
	       strcmp(a->id, b->id) == 0;
}

int lease_renew(const char *image_path, struct lease *mine, tardis_error_t *err)
{
	cleanup_lease_dir struct lease_dir d = { .fd = -1 };
	char tmp[NAME_MAX + 1], name[SEQ_DIGITS + 1];
	struct lease cur, next;
	uint64_t top;
	int rc = lease_dir_open(&d, image_path, 0, err);

	if (rc == -ENOENT)
		return 0;
	if (rc < 0)
		return -1;
	rc = lease_current(&d, &cur, err);
	if (rc <= 0)
		return rc;
	if (cur.seq != mine->seq || !same_owner(&cur, mine))
		return 0;
	next = *mine;
	next.renewed_ns = now_us_ns();
	seq_name(next.seq, name);
	if (record_write_tmp(&d, &next, tmp, sizeof(tmp), err) < 0)
		return -1;
	if (renameat(d.fd, tmp, d.fd, name) < 0) {
		int e = errno;

		unlinkat(d.fd, tmp, 0);
		return tardis_make_error(err, e, "rename `%s/%s` to `%s`", d.path, tmp, name);
	}
	if (dir_sync(&d, err) < 0 || lease_top(&d, mine->seq, &top, err) < 0)
		return -1;
	if (top != mine->seq) {
		/* Advanced meanwhile; the rename may have brought back a pruned number. */
		if (top >= mine->seq + LEASE_KEEP)
			unlinkat(d.fd, name, 0);
		return 0;
	}
	mine->renewed_ns = next.renewed_ns;
	return 1;
}

/* Unlinks every entry of d that its listing shows. */
static int lease_unlink_listed(struct lease_dir *d, tardis_error_t *err)
{
	cleanup_dir DIR *dir = lease_list(d->fd);
	struct dirent *de;

	if (!dir)
		return tardis_make_error(err, errno, "list `%s`", d->path);
	while ((de = readdir(dir))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (unlinkat(d->fd, de->d_name, 0) < 0 && errno != ENOENT)
			return tardis_make_error(err, errno, "remove `%s/%s`", d->path, de->d_name);
	}
	return 0;
}

int lease_remove(const char *image_path, tardis_error_t *err)
{
	cleanup_lease_dir struct lease_dir d = { .fd = -1 };
	int rc = lease_dir_open(&d, image_path, 0, err);

	if (rc == -ENOENT)
		return 0;
	if (rc < 0)
		return -1;
	/* Twice: a stale listing (sshfs caches them) can miss another node's
	 * record, and our own unlinks make the next listing fresh.  Still not
	 * empty after that: a record written meanwhile (a new claim), kept. */
	for (int pass = 0;; pass++) {
		if (lease_unlink_listed(&d, err) < 0)
			return -1;
		if (rmdir(d.path) == 0 || errno == ENOENT)
			return 0;
		if (errno != ENOTEMPTY || pass == 1)
			return tardis_make_error(err, errno, "remove `%s`", d.path);
	}
}

/* Claimable: no record, released, expired, or on my node and mine or gone. */
static int claimable(const struct lease *cur, const struct lease_claim *c, int64_t now)
{
	if (cur->seq == 0 || cur->state == LEASE_RELEASED || cur->state == LEASE_NONE ||
	    lease_expired(cur, now))
		return 1;
	if (strcmp(cur->node, c->node) != 0)
		return 0;
	if (strcmp(cur->ns, c->ns) == 0 && strcmp(cur->id, c->id) == 0)
		return 1;
	return c->alive && c->alive(cur, c->arg) == 0;
}

static void busy_why(const struct lease *cur, const struct lease_claim *c, int64_t now, char *why,
		     size_t whylen)
{
	if (cur->state == LEASE_CHECKPOINTING)
		snprintf(why, whylen, "identity checkpointing on node %s for more than %d s",
			 cur->node, c->wait_s);
	else
		snprintf(why, whylen, "held by %s/%s on node %s, renewed %" PRId64 " s ago", cur->ns,
			 cur->id, cur->node, (now - cur->renewed_ns) / NS_PER_S);
}

/* My RUNNING record replacing cur; -1 when a name does not fit. */
static int lease_for_me(const struct lease_claim *c, const struct lease *cur, struct lease *out)
{
	memset(out, 0, sizeof(*out));
	out->state = LEASE_RUNNING;
	out->timeout_s = c->timeout_s;
	if (snprintf(out->node, sizeof(out->node), "%s", c->node) >= (int)sizeof(out->node) ||
	    snprintf(out->ns, sizeof(out->ns), "%s", c->ns) >= (int)sizeof(out->ns) ||
	    snprintf(out->id, sizeof(out->id), "%s", c->id) >= (int)sizeof(out->id))
		return -1;
	memcpy(out->image, cur->image, sizeof(out->image));
	out->failed_restores = cur->failed_restores;
	return 0;
}

enum lease_verdict lease_claim(const char *image_path, const struct lease_claim *c,
			       struct lease *prev, struct lease *out, char *why, size_t whylen)
{
	const struct timespec poll = { 0, LEASE_POLL_NS };
	int64_t deadline = time_monotonic_ns() + (int64_t)c->wait_s * NS_PER_S;
	struct lease cur;

	if (whylen)
		why[0] = '\0';
	for (int lost = 0; lost < LEASE_CLAIM_RACES;) {
		cleanup_error tardis_error_t err = NULL;
		int64_t now = time_realtime_ns();
		int rc = lease_read(image_path, &cur, &err);

		if (rc < 0) {
			snprintf(why, whylen, "%s", tardis_error_msg(err));
			return LEASE_ERROR;
		}
		deadline_alive(); /* waiting for a checkpoint elsewhere is no hang */
		if (!claimable(&cur, c, now)) {
			if (cur.state == LEASE_CHECKPOINTING && time_monotonic_ns() < deadline) {
				nanosleep(&poll, NULL);
				continue;
			}
			busy_why(&cur, c, now, why, whylen);
			return LEASE_BUSY;
		}
		if (lease_for_me(c, &cur, out) < 0) {
			snprintf(why, whylen, "lease of `%s`: node, ns or id too long", image_path);
			return LEASE_ERROR;
		}
		rc = lease_advance(image_path, &cur, out, &err);
		if (rc < 0) {
			snprintf(why, whylen, "%s", tardis_error_msg(err));
			return LEASE_ERROR;
		}
		if (rc == 1) {
			if (prev)
				*prev = cur;
			return LEASE_GRANTED;
		}
		lost++;
	}
	snprintf(why, whylen, "lease of `%s`: lost %d races in a row", image_path,
		 LEASE_CLAIM_RACES);
	return LEASE_BUSY;
}
