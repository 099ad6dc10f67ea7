#include "image.h"
#include "checksum.h"
#include "cleanup.h"
#include "crashpoint.h"
#include "exit_record.h"
#include "filediff.h"
#include "state.h"
#include "util.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/utsname.h>
#include <unistd.h>

#define MANIFEST_MAX (4 << 20)

int image_split_path(const char *path, char *parent, size_t plen, const char **base)
{
	const char *slash = strrchr(path, '/');

	if (!slash || slash == path || !slash[1] || (size_t)(slash - path) >= plen)
		return -1;
	memcpy(parent, path, slash - path);
	parent[slash - path] = '\0';
	*base = slash + 1;
	return 0;
}

void image_preload_for_restore(const struct tardis_store *s, const char *image_path)
{
	if (store_holds_path(s, image_path) && image_there(image_path))
		filediff_preload_background();
}

static int name_is_plain(const char *n)
{
	return n[0] && n[0] != '.' && !strchr(n, '/') && strlen(n) < 256;
}

static int check_dump_log(int dfd, char *detail, size_t len);

/* Dirty and Writeback of /proc/meminfo, in bytes; UINT64_MAX unknown. */
static uint64_t dirty_bytes(void)
{
	char buf[4096], *p;
	uint64_t sum = 0;
	int fd = open("/proc/meminfo", O_RDONLY | O_CLOEXEC), found = 0;
	ssize_t n;

	if (fd < 0)
		return UINT64_MAX;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return UINT64_MAX;
	buf[n] = '\0';
	for (p = buf; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		unsigned long long kb;

		if (sscanf(p, "Dirty: %llu", &kb) == 1 || sscanf(p, "Writeback: %llu", &kb) == 1) {
			sum += kb * 1024;
			found++;
		}
	}
	return found == 2 ? sum : UINT64_MAX;
}

/* This much may be waiting to be written on the node (the image's own
 * included) when one syncfs is still the cheaper way. */
#define SYNCFS_DIRTY_MAX (64ull << 20)

/* 1 for a filesystem of this node's own (a local disk's, or memory):
 * nothing but this kernel changes its files. */
static int fs_is_local(int fd)
{
	struct statfs sf;

	return fstatfs(fd, &sf) == 0 &&
	       (sf.f_type == EXT4_SUPER_MAGIC || sf.f_type == XFS_SUPER_MAGIC ||
		sf.f_type == BTRFS_SUPER_MAGIC || sf.f_type == TMPFS_MAGIC);
}

/* 1 when one syncfs of the image's filesystem makes its files durable
 * for less than an fsync each: a local disk's filesystem (each fsync on
 * this machine's ext4 without a journal writes the inode and flushes the
 * device: 34 files 2.1 ms, one syncfs 0.24 ms), and little else dirty on
 * the node -- a syncfs waits for all of its filesystem's dirty data, and
 * another container's gigabyte (or a big image's own) must not hold a
 * checkpoint: each file is then synced on its own. */
int image_syncfs_cheap(int dfd)
{
	uint64_t dirty;

	if (!fs_is_local(dfd))
		return 0;
	dirty = dirty_bytes();
	return dirty != UINT64_MAX && dirty <= SYNCFS_DIRTY_MAX;
}

/* This boot's id (36 characters), "" if unknown. */
static void boot_id(char id[40])
{
	int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, id, 36);

	if (fd >= 0)
		close(fd);
	id[n == 36 ? 36 : 0] = '\0';
}

/* A file's stamp as sealed: device, inode and change time.  Another
 * write, chmod, truncation or copy changes it; the same file unchanged
 * since keeps it (while the node has not rebooted: boot id). */
static void seal_stamp(const struct stat *st, char *out, size_t len)
{
	snprintf(out, len, "%llu:%llu:%lld.%09ld", (unsigned long long)st->st_dev,
		 (unsigned long long)st->st_ino, (long long)st->st_ctim.tv_sec, st->st_ctim.tv_nsec);
}

int image_file_open(int dfd, const struct dirent *de, struct stat *st)
{
	int fd;

	/* CRIU leaves no directories or links here. */
	if (!name_is_plain(de->d_name) || strcmp(de->d_name, IMAGE_MANIFEST) == 0 ||
	    (de->d_type != DT_REG && de->d_type != DT_UNKNOWN))
		return -1;
	fd = openat(dfd, de->d_name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (fstat(fd, st) < 0 || !S_ISREG(st->st_mode)) {
		close(fd);
		return -1;
	}
	/* CRIU writes its files 0644; they hold the container's memory.
	 * One made 0600 already (image_presum) keeps its change time. */
	if ((st->st_mode & 07777) != 0600 && (fchmod(fd, 0600) < 0 || fstat(fd, st) < 0)) {
		int e = errno;

		close(fd);
		errno = e;
		return -2;
	}
	return fd;
}

/* Lists dir's files into files ({name, size, xxh128, sealed}, each made
 * 0600); *total is their size.  Unless one_sync, starts every file's
 * writeback (seal_sync waits for it).  p (or NULL): what was summed of the
 * page files while CRIU wrote them. */
static int manifest_files(int dfd, const char *dir, int one_sync, struct image_progress *p,
			  cJSON *files, uint64_t *total, tardis_error_t *err)
{
	cleanup_dir DIR *d = NULL;
	struct dirent *de;
	int fd = dup(dfd), local = fs_is_local(dfd);

	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return tardis_make_error(err, errno, "list `%s`", dir);
	}
	while ((de = readdir(d))) {
		cleanup_close int ffd = -1;
		struct stat st;
		char hex[CHECKSUM_HEX_MAX];
		uint64_t sz;
		cJSON *f;

		ffd = image_file_open(dfd, de, &st);
		if (ffd == -2)
			return tardis_make_error(err, errno, "chmod `%s/%s`", dir, de->d_name);
		if (ffd < 0)
			continue;
		/* CRIU does not fsync its images: start every file's writeback
		 * now, wait for all of them below (about one journal commit
		 * instead of one per file; measured: 29 CRIU files, 13 -> 9 ms
		 * on ext4). */
		if (!one_sync)
			sync_file_range(ffd, 0, 0, SYNC_FILE_RANGE_WRITE);
		if (image_progress_sum(p, de->d_name, ffd, &st, hex, &sz) < 0)
			return tardis_make_error(err, errno, "checksum `%s/%s`", dir, de->d_name);
		f = cJSON_CreateObject();
		cJSON_AddStringToObject(f, "name", de->d_name);
		cJSON_AddNumberToObject(f, "size", (double)sz);
		cJSON_AddStringToObject(f, checksum_field(CHECKSUM_XXH128), hex);
		if (local && (uint64_t)st.st_size == sz) {
			char stamp[96];

			seal_stamp(&st, stamp, sizeof(stamp));
			cJSON_AddStringToObject(f, "sealed", stamp);
		}
		cJSON_AddItemToArray(files, f);
		*total += sz;
	}
	return 0;
}

/* Waits until dir's nfiles files (the manifest's among them) and its
 * entries are durable: one syncfs when one_sync, else an fsync of each
 * regular file and of the directory.  Once this returns, the image may be
 * published as it is (image_publish syncs only its parent). */
static int seal_sync(int dfd, const char *dir, int one_sync, size_t nfiles, tardis_error_t *err)
{
	cleanup_dir DIR *d = NULL;
	struct dirent *de;

	if (one_sync && syncfs(dfd) == 0) {
		while (nfiles--)
			crash_point("seal-file-synced"); /* each one is */
		return 0;
	}
	/* A listing of its own: a dup of dfd would share the offset
	 * manifest_files' listing left at the end. */
	d = fdopendir_reopen(dfd);
	if (!d)
		return tardis_make_error(err, errno, "list `%s`", dir);
	while ((de = readdir(d))) {
		cleanup_close int ffd = -1;

		if (de->d_type != DT_REG && de->d_type != DT_UNKNOWN)
			continue;
		ffd = openat(dfd, de->d_name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		if (ffd < 0 || fsync(ffd) < 0)
			return tardis_make_error(err, errno, "fsync `%s/%s`", dir, de->d_name);
		crash_point("seal-file-synced");
	}
	if (fsync(dfd) < 0)
		return tardis_make_error(err, errno, "fsync `%s`", dir);
	return 0;
}

/* The manifest's text: m, this node, and files (taken over). */
static char *manifest_text(const struct image_meta *m, cJSON *files, uint64_t total)
{
	cleanup_json cJSON *o = cJSON_CreateObject();
	struct utsname un;
	char when[64];

	if (!o) {
		cJSON_Delete(files);
		return NULL;
	}
	uname(&un);
	rfc3339_format(m->created_at_ns, when, sizeof(when));
	cJSON_AddNumberToObject(o, "format_version", IMAGE_FORMAT_VERSION);
	cJSON_AddStringToObject(o, "namespace", m->ns);
	cJSON_AddStringToObject(o, "id", m->id);
	if (m->identity && m->identity[0])
		cJSON_AddStringToObject(o, "identity", m->identity);
	cJSON_AddStringToObject(o, "node", m->node && *m->node ? m->node : un.nodename);
	cJSON_AddStringToObject(o, "created_at", when);
	cJSON_AddNumberToObject(o, "checkpoint_duration_ms", (double)m->duration_ms);
	cJSON_AddStringToObject(o, "runc_version", m->runc_version ? m->runc_version : "");
	cJSON_AddStringToObject(o, "criu_version", m->criu_version ? m->criu_version : "");
	cJSON_AddStringToObject(o, "kernel", un.release);
	{
		char boot[40];

		boot_id(boot);
		if (boot[0])
			cJSON_AddStringToObject(o, "boot_id", boot);
	}
	cJSON_AddStringToObject(o, "arch", un.machine);
	cJSON_AddStringToObject(o, "rootfs_kind",
				m->rootfs_kind ? m->rootfs_kind : IMAGE_ROOTFS_OVERLAY);
	cJSON_AddNumberToObject(o, "total_size", (double)total);
	cJSON_AddItemToObject(o, "files", files);
	return cJSON_Print(o);
}

int image_seal(const char *dir, const struct image_meta *m, struct image_progress *p,
	       uint64_t *size, tardis_error_t *err)
{
	cleanup_close int dfd = -1;
	cleanup_free char *text = NULL;
	cleanup_json cJSON *files = NULL;
	uint64_t total = 0;
	char why[256];
	size_t nfiles;
	int one_sync;

	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		return tardis_make_error(err, errno, "open `%s`", dir);
	/* CRIU writes its log best effort (a full work dir leaves it empty
	 * after a dump that succeeded): an image it does not vouch for would
	 * never validate, and must not replace one that does. */
	if (!check_dump_log(dfd, why, sizeof(why)))
		return tardis_make_error(err, EINVAL, "`%s` not sealed (dump.log): %s", dir, why);
	files = cJSON_CreateArray();
	if (!files)
		return tardis_make_error(err, ENOMEM, "manifest");
	one_sync = image_syncfs_cheap(dfd);
	if (manifest_files(dfd, dir, one_sync, p, files, &total, err) < 0)
		return -1;
	nfiles = (size_t)cJSON_GetArraySize(files) + 1; /* and the manifest */
	text = manifest_text(m, files, total);
	files = NULL; /* the manifest's now */
	if (!text)
		return tardis_make_error(err, ENOMEM, "manifest");
	/* The manifest goes to disk with the files it lists, in one wait:
	 * dir is a temporary image, nobody's until published, and published
	 * only once all is durable. */
	crash_point("seal-before-manifest");
	if (store_write_atomic(dfd, IMAGE_MANIFEST, text, strlen(text), 0, NULL, err) < 0)
		return -1;
	crash_point("seal-manifest-written");
	if (seal_sync(dfd, dir, one_sync, nfiles, err) < 0)
		return -1;
	if (size)
		*size = total;
	return 0;
}

/* Opens the directory holding path (*base: the last component, parent
 * holds PATH_MAX bytes).  -ENOENT (no error set) when missing_ok and the
 * directory does not exist. */
static int open_parent_dir(const char *path, const char *what, int missing_ok, char *parent,
			   const char **base, tardis_error_t *err)
{
	int fd;

	if (image_split_path(path, parent, PATH_MAX, base) < 0)
		return tardis_make_error(err, EINVAL, "bad %s `%s`", what, path);
	fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 && missing_ok && errno == ENOENT)
		return -ENOENT;
	if (fd < 0)
		return tardis_make_error(err, errno, "open `%s`", parent);
	return fd;
}

int image_remove_at(int parent_fd, const char *name, tardis_error_t *err)
{
	if (remove_tree_at(parent_fd, name) < 0)
		return tardis_make_error(err, errno, "remove `%s`", name);
	return 0;
}

int image_parent_check(struct tardis_store *s, const char *image_path, int create,
		       tardis_error_t *err)
{
	size_t n = strlen(s->path);
	const char *slash = strrchr(image_path, '/');
	char rel[PATH_MAX];
	int fd;

	if (strncmp(image_path, s->path, n) != 0 || image_path[n] != '/' ||
	    slash <= image_path + n)
		return 0;
	if (snprintf(rel, sizeof(rel), "%.*s", (int)(slash - image_path - n - 1),
		     image_path + n + 1) >= (int)sizeof(rel))
		return tardis_make_error(err, ENAMETOOLONG, "image path `%.64s...`", image_path);
	fd = store_path_dir(s, rel, create, err);
	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

int image_scratch_remove(struct tardis_store *s, const char *what, const char *ns,
			 const char *id, int prune_ns, tardis_error_t *err)
{
	cleanup_close int wfd = -1;
	cleanup_close int nfd = -1;

	if (!store_id_valid(ns) || !store_id_valid(id))
		return tardis_make_error(err, EINVAL, "invalid namespace/id");
	wfd = store_path_dir(s, what, 0, err);
	if (wfd >= 0)
		nfd = store_subdir(wfd, ns, 0, err);
	if (nfd < 0)
		return (*err)->errnum == ENOENT ? (tardis_error_free(err), 0) : -1;
	if (image_remove_at(nfd, id, err) < 0)
		return -1;
	if (prune_ns)
		unlinkat(wfd, ns, AT_REMOVEDIR); /* once empty */
	return 0;
}

int image_remove(const char *path, tardis_error_t *err)
{
	char parent[PATH_MAX];
	const char *base;
	cleanup_close int pfd = -1;

	pfd = open_parent_dir(path, "path", 1, parent, &base, err);
	if (pfd < 0)
		return pfd == -ENOENT ? 0 : -1;
	if (remove_tree_at(pfd, base) < 0)
		return tardis_make_error(err, errno, "remove `%s`", path);
	return 0;
}

static void check(struct image_report *r, const char *name, int ok, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void check(struct image_report *r, const char *name, int ok, const char *fmt, ...)
{
	struct image_check *c;
	va_list ap;

	if (r->n >= (int)(sizeof(r->checks) / sizeof(r->checks[0])))
		return;
	c = &r->checks[r->n++];
	c->name = name;
	c->ok = ok;
	va_start(ap, fmt);
	vsnprintf(c->detail, sizeof(c->detail), fmt, ap);
	va_end(ap);
	if (!ok)
		r->valid = 0;
}

int image_manifest_parse(const char *text, struct image_report *r, cJSON **files_out)
{
	const cJSON *v, *files, *ns, *id, *at, *node, *kind, *identity, *arch, *criu, *boot;
	cleanup_json cJSON *o = NULL;

	*files_out = NULL;
	o = cJSON_Parse(text);
	if (!cJSON_IsObject(o)) {
		check(r, "manifest", 0, "manifest.json is not a JSON object");
		return -1;
	}
	files = cJSON_GetObjectItemCaseSensitive(o, "files");
	ns = cJSON_GetObjectItemCaseSensitive(o, "namespace");
	id = cJSON_GetObjectItemCaseSensitive(o, "id");
	at = cJSON_GetObjectItemCaseSensitive(o, "created_at");
	node = cJSON_GetObjectItemCaseSensitive(o, "node");
	kind = cJSON_GetObjectItemCaseSensitive(o, "rootfs_kind");
	identity = cJSON_GetObjectItemCaseSensitive(o, "identity");
	arch = cJSON_GetObjectItemCaseSensitive(o, "arch");
	criu = cJSON_GetObjectItemCaseSensitive(o, "criu_version");
	boot = cJSON_GetObjectItemCaseSensitive(o, "boot_id");
	if (!cJSON_IsArray(files) || !cJSON_IsString(ns) || !cJSON_IsString(id)) {
		check(r, "manifest", 0, "manifest.json lacks files, namespace or id");
		return -1;
	}
	snprintf(r->ns, sizeof(r->ns), "%s", ns->valuestring);
	snprintf(r->id, sizeof(r->id), "%s", id->valuestring);
	if (cJSON_IsString(at))
		snprintf(r->created_at, sizeof(r->created_at), "%s", at->valuestring);
	if (cJSON_IsString(node))
		snprintf(r->node, sizeof(r->node), "%s", node->valuestring);
	if (cJSON_IsString(boot))
		snprintf(r->boot_id, sizeof(r->boot_id), "%s", boot->valuestring);
	if (identity && (!cJSON_IsString(identity) ||
			 strlen(identity->valuestring) >= sizeof(r->identity))) {
		check(r, "manifest", 0, "identity is not a string of at most %zu bytes",
		      sizeof(r->identity) - 1);
		return -1;
	}
	snprintf(r->identity, sizeof(r->identity), "%s", identity ? identity->valuestring : "");
	if (cJSON_IsString(arch))
		snprintf(r->arch, sizeof(r->arch), "%s", arch->valuestring);
	if (cJSON_IsString(criu) && !strchr(criu->valuestring, '/'))
		snprintf(r->criu_version, sizeof(r->criu_version), "%s", criu->valuestring);
	if (cJSON_IsString(kind) && (strcmp(kind->valuestring, IMAGE_ROOTFS_REUSED) == 0 ||
				     strcmp(kind->valuestring, IMAGE_ROOTFS_SNAPSHOT) == 0))
		snprintf(r->rootfs_kind, sizeof(r->rootfs_kind), "%s", kind->valuestring);
	else if (!kind || (cJSON_IsString(kind) && strcmp(kind->valuestring, IMAGE_ROOTFS_OVERLAY) == 0))
		snprintf(r->rootfs_kind, sizeof(r->rootfs_kind), IMAGE_ROOTFS_OVERLAY);
	else {
		check(r, "manifest", 0, "rootfs_kind is not one tardis knows");
		return -1;
	}
	check(r, "manifest", 1, "parsed, %d files", cJSON_GetArraySize(files));
	v = cJSON_GetObjectItemCaseSensitive(o, "format_version");
	if (!cJSON_IsNumber(v) || v->valuedouble < IMAGE_FORMAT_VERSION_MIN ||
	    v->valuedouble > IMAGE_FORMAT_VERSION || v->valuedouble != (int)v->valuedouble) {
		check(r, "format", 0, "format_version %s is not supported (want %d to %d)",
		      cJSON_IsNumber(v) ? "other" : "missing", IMAGE_FORMAT_VERSION_MIN,
		      IMAGE_FORMAT_VERSION);
		return -1;
	}
	check(r, "format", 1, "format_version %d", (int)v->valuedouble);
	*files_out = cJSON_DetachItemFromObjectCaseSensitive(o, "files");
	return 0;
}

static int check_dump_log(int dfd, char *detail, size_t len)
{
	static const char ok_line[] = "Dumping finished successfully";
	char buf[4097];
	struct stat st;
	ssize_t n;
	off_t off;
	/* O_NONBLOCK: a FIFO planted in an image must not hang the validation. */
	int fd = openat(dfd, IMAGE_DUMP_LOG, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0) {
		snprintf(detail, len, "dump.log: %s", strerror(errno));
		return 0;
	}
	if (fstat_fresh(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		snprintf(detail, len, "dump.log is not a regular file");
		return 0;
	}
	off = st.st_size > 4096 ? st.st_size - 4096 : 0;
	n = pread(fd, buf, 4096, off);
	close(fd);
	if (n < 0)
		n = 0;
	buf[n] = '\0';
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' ' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	{
		char *last = strrchr(buf, '\n');

		last = last ? last + 1 : buf;
		if (strstr(last, ok_line)) {
			snprintf(detail, len, "ends with \"%s\"", ok_line);
			return 1;
		}
	}
	snprintf(detail, len, "does not end with \"%s\"", ok_line);
	return 0;
}

static int check_inventory(int dfd, char *detail, size_t len)
{
	uint32_t magic[2] = { 0, 0 };
	struct stat st;
	int fd = openat(dfd, IMAGE_INVENTORY, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	ssize_t n;

	if (fd < 0) {
		snprintf(detail, len, "inventory.img: %s", strerror(errno));
		return 0;
	}
	n = fstat_fresh(fd, &st) < 0 ? -1 : read(fd, magic, sizeof(magic));
	close(fd);
	if (n == (ssize_t)sizeof(magic) &&
	    ((magic[0] == CRIU_IMG_SERVICE_MAGIC || magic[0] == CRIU_IMG_COMMON_MAGIC) &&
	     magic[1] == CRIU_INVENTORY_MAGIC)) {
		snprintf(detail, len, "magic %#x", magic[1]);
		return 1;
	}
	if (n >= 4 && magic[0] == CRIU_INVENTORY_MAGIC) {
		snprintf(detail, len, "magic %#x", magic[0]);
		return 1;
	}
	snprintf(detail, len, "no CRIU inventory magic");
	return 0;
}

/* Each listed file's size and sum.  trust_sealed: a file whose stamp is
 * still the one it was sealed with (same boot, same inode, unchanged
 * since) is not read again. */
static int check_files(int dfd, const cJSON *files, int trust_sealed, uint64_t *total,
		       char *detail, size_t len)
{
	const cJSON *f;
	int unread = 0;

	*total = 0;
	cJSON_ArrayForEach(f, files) {
		const cJSON *name = cJSON_GetObjectItemCaseSensitive(f, "name");
		const cJSON *size = cJSON_GetObjectItemCaseSensitive(f, "size");
		enum checksum_kind kind = CHECKSUM_XXH128;
		const cJSON *sum = cJSON_GetObjectItemCaseSensitive(f, checksum_field(kind));
		cleanup_close int fd = -1;
		struct stat st;
		char hex[CHECKSUM_HEX_MAX];
		uint64_t sz;

		if (!sum) /* an image of format 1 or 2 */
			sum = cJSON_GetObjectItemCaseSensitive(f, checksum_field(kind = CHECKSUM_SHA256));
		if (!cJSON_IsString(name) || !cJSON_IsNumber(size) || !cJSON_IsString(sum) ||
		    !name_is_plain(name->valuestring)) {
			snprintf(detail, len, "malformed file entry");
			return 0;
		}
		fd = openat(dfd, name->valuestring, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		if (fd < 0 || fstat_fresh(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
			snprintf(detail, len, "%s: missing", name->valuestring);
			return 0;
		}
		if ((double)st.st_size != size->valuedouble) {
			snprintf(detail, len, "%s: size %lld, manifest says %.0f", name->valuestring,
				 (long long)st.st_size, size->valuedouble);
			return 0;
		}
		if (trust_sealed) {
			const cJSON *sealed = cJSON_GetObjectItemCaseSensitive(f, "sealed");
			char stamp[96];

			seal_stamp(&st, stamp, sizeof(stamp));
			if (cJSON_IsString(sealed) && strcmp(sealed->valuestring, stamp) == 0) {
				*total += (uint64_t)st.st_size;
				unread++;
				continue;
			}
		}
		if (checksum_fd(fd, kind, hex, &sz) < 0 || strcmp(hex, sum->valuestring) != 0) {
			snprintf(detail, len, "%s: checksum mismatch", name->valuestring);
			return 0;
		}
		*total += sz;
	}
	if (unread)
		snprintf(detail, len,
			 "%d files, %llu bytes, sizes and checksums match (%d unchanged since sealed "
			 "in this boot, not read again)",
			 cJSON_GetArraySize(files), (unsigned long long)*total, unread);
	else
		snprintf(detail, len, "%d files, %llu bytes, sizes and checksums match",
			 cJSON_GetArraySize(files), (unsigned long long)*total);
	return 1;
}

int image_validate(const char *image_path, struct image_report *r)
{
	return image_validate_flags(image_path, 0, r);
}

int image_validate_flags(const char *image_path, int flags, struct image_report *r)
{
	cleanup_free char *text = NULL;
	cleanup_close int dfd = -1;
	tardis_error_t err = NULL;
	char detail[256];
	cleanup_json cJSON *files = NULL;
	struct stat st;
	int ok;

	memset(r, 0, sizeof(*r));
	r->valid = 1;
	dfd = open(image_path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0) {
		if (errno == ENOENT)
			return -1;
		check(r, "manifest", 0, "open image: %s", strerror(errno));
		return 0;
	}
	if (store_read(dfd, IMAGE_MANIFEST, MANIFEST_MAX, &text, NULL, &err) < 0) {
		check(r, "manifest", 0, "%s", tardis_error_msg(err));
		tardis_error_free(&err);
		return 0;
	}
	if (image_manifest_parse(text, r, &files) < 0)
		return 0;
	ok = check_dump_log(dfd, detail, sizeof(detail));
	check(r, "dump_log", ok, "%s", detail);
	ok = check_inventory(dfd, detail, sizeof(detail));
	check(r, "inventory", ok, "%s", detail);
	ok = fstatat(dfd, IMAGE_DESCRIPTORS, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode);
	check(r, "descriptors", ok, ok ? "present" : "descriptors.json missing");
	if (flags & IMAGE_TRUST_SEALED) {
		char boot[40];

		boot_id(boot);
		if (!boot[0] || strcmp(boot, r->boot_id) != 0 || !fs_is_local(dfd))
			flags &= ~IMAGE_TRUST_SEALED;
	}
	ok = check_files(dfd, files, flags & IMAGE_TRUST_SEALED, &r->size, detail, sizeof(detail));
	check(r, "files", ok, "%s", detail);
	return r->valid;
}

const char *image_report_reason(const struct image_report *r, char *buf, size_t len)
{
	for (int i = 0; i < r->n; i++) {
		if (!r->checks[i].ok) {
			snprintf(buf, len, "%s: %s", r->checks[i].name, r->checks[i].detail);
			return buf;
		}
	}
	snprintf(buf, len, "valid");
	return buf;
}
