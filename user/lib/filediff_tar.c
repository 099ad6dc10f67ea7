/* files.tar: POSIX ustar with pax 'x' headers, written entry by entry and
 * parsed (strictly) from a buffer.  The only module that knows the format. */
#include "filediff_internal.h"
#include "cleanup.h"
#include "util.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BLOCK 512
#define PAX_MAX (1024 * 1024)

/* ------------------------------------------------------------------ */
/* Writing                                                            */

static int fdiff_bufw_zeros(struct bufw *w, size_t len, tardis_error_t *err)
{
	static const char zeros[BLOCK];

	while (len) {
		size_t n = len < BLOCK ? len : BLOCK;

		if (fdiff_bufw_put(w, zeros, n, err) < 0)
			return -1;
		len -= n;
	}
	return 0;
}

static size_t pad_of(uint64_t size)
{
	return (size_t)((BLOCK - size % BLOCK) % BLOCK);
}

/* Octal, zero-padded, in width - 1 digits and a NUL; 0 if it does not fit
 * (the value then travels in a pax record). */
static void put_octal(char *field, size_t width, uint64_t v)
{
	if (width - 1 < 22 && v >> (3 * (width - 1)))
		v = 0;
	for (size_t i = width - 1; i-- > 0; v >>= 3)
		field[i] = (char)('0' + (v & 7));
	field[width - 1] = '\0';
}

static int fits_octal(uint64_t v, size_t width)
{
	return (v >> (3 * (width - 1))) == 0;
}

/* Appends one "len key=value\n" record; len counts itself. */
static int pax_add(struct growbuf *b, const char *key, const char *val, size_t vlen)
{
	size_t body = 1 + strlen(key) + 1 + vlen + 1, total = body + 1;
	char num[24], head[64];
	int digits, n;

	for (;;) {
		digits = snprintf(num, sizeof(num), "%zu", total);
		if (body + (size_t)digits == total)
			break;
		total = body + (size_t)digits;
	}
	n = snprintf(head, sizeof(head), "%s %s=", num, key);
	if (growbuf_append(b, head, (size_t)n) < 0 || growbuf_append(b, val, vlen) < 0 ||
	    growbuf_append(b, "\n", 1) < 0)
		return -1;
	return 0;
}

static int pax_add_num(struct growbuf *b, const char *key, int64_t v)
{
	char num[24];
	int n = snprintf(num, sizeof(num), "%" PRId64, v);

	return pax_add(b, key, num, (size_t)n);
}

static void header_checksum(unsigned char *h)
{
	unsigned sum = 0;

	memset(h + 148, ' ', 8);
	for (int i = 0; i < BLOCK; i++)
		sum += h[i];
	snprintf((char *)h + 148, 8, "%06o", sum);
	h[155] = ' ';
}

static void header_fill(unsigned char *h, const char *name, char type, unsigned mode, uint64_t uid,
			uint64_t gid, uint64_t size, int64_t mtime, const char *linkpath)
{
	memset(h, 0, BLOCK);
	strncpy((char *)h, name, 100);
	put_octal((char *)h + 100, 8, mode);
	put_octal((char *)h + 108, 8, uid);
	put_octal((char *)h + 116, 8, gid);
	put_octal((char *)h + 124, 12, size);
	put_octal((char *)h + 136, 12, mtime < 0 ? 0 : (uint64_t)mtime);
	h[156] = (unsigned char)type;
	if (linkpath)
		strncpy((char *)h + 157, linkpath, 100);
	memcpy(h + 257, "ustar", 6);
	memcpy(h + 263, "00", 2);
	header_checksum(h);
}

/* The pax records of the values that do not fit the ustar fields. */
static int pax_records(struct growbuf *pax, const char *name, const struct stat *st,
		       const char *linkpath, uint64_t size)
{
	int64_t mtime = st->st_mtim.tv_sec;
	int fail = 0;

	if (strlen(name) > 100)
		fail |= pax_add(pax, "path", name, strlen(name));
	if (linkpath && strlen(linkpath) > 100)
		fail |= pax_add(pax, "linkpath", linkpath, strlen(linkpath));
	if (!fits_octal(size, 12))
		fail |= pax_add_num(pax, "size", (int64_t)size);
	if (!fits_octal(st->st_uid, 8))
		fail |= pax_add_num(pax, "uid", st->st_uid);
	if (!fits_octal(st->st_gid, 8))
		fail |= pax_add_num(pax, "gid", st->st_gid);
	if (mtime < 0 || !fits_octal((uint64_t)mtime, 12))
		fail |= pax_add_num(pax, "mtime", mtime);
	return fail ? -1 : 0;
}

void tar_writer_init(struct tar_writer *w, int fd, const char *name)
{
	w->out.fd = fd;
	w->out.name = name;
	w->out.n = 0;
}

/* Writes the header(s) of one entry: a pax 'x' header first when a value
 * does not fit the ustar fields. */
int tar_write_header(struct tar_writer *w, const char *path, enum filediff_type type,
		     const struct stat *st, const char *linkpath, uint64_t size,
		     tardis_error_t *err)
{
	cleanup_growbuf struct growbuf pax = { 0 };
	char tflag = type == FILEDIFF_DIR ? '5' : type == FILEDIFF_SYMLINK ? '2' : '0';
	char name[FILEDIFF_PATH_MAX + 2];
	unsigned char h[BLOCK];
	int64_t mtime = st->st_mtim.tv_sec;

	snprintf(name, sizeof(name), "%s%s", path, tflag == '5' ? "/" : "");
	if (pax_records(&pax, name, st, linkpath, size) < 0)
		return tardis_make_error(err, ENOMEM, "pax header of `%s`", path);
	if (pax.len) {
		header_fill(h, "PaxHeader", 'x', 0644, 0, 0, pax.len, mtime, NULL);
		if (fdiff_bufw_put(&w->out, h, BLOCK, err) < 0 || fdiff_bufw_put(&w->out, pax.data, pax.len, err) < 0 ||
		    fdiff_bufw_zeros(&w->out, pad_of(pax.len), err) < 0)
			return -1;
	}
	header_fill(h, name, tflag, st->st_mode & 07777, st->st_uid, st->st_gid, size, mtime,
		    linkpath);
	return fdiff_bufw_put(&w->out, h, BLOCK, err);
}

int tar_write_data(struct tar_writer *w, const void *data, size_t len, tardis_error_t *err)
{
	return fdiff_bufw_put(&w->out, data, len, err);
}

int tar_write_data_end(struct tar_writer *w, uint64_t size, tardis_error_t *err)
{
	return fdiff_bufw_zeros(&w->out, pad_of(size), err);
}

int tar_write_finish(struct tar_writer *w, tardis_error_t *err)
{
	if (fdiff_bufw_zeros(&w->out, 2 * BLOCK, err) < 0)
		return -1;
	return fdiff_bufw_flush(&w->out, err);
}

/* ------------------------------------------------------------------ */
/* Reading: the parsers                                               */

/* A ustar numeric field: optional leading spaces, octal digits, then only
 * spaces or NULs.  Base-256 and empty fields are refused. */
static int parse_octal(const unsigned char *f, size_t width, uint64_t *out)
{
	uint64_t v = 0;
	size_t i = 0;
	int digits = 0;

	while (i < width && f[i] == ' ')
		i++;
	for (; i < width && f[i] >= '0' && f[i] <= '7'; i++, digits++) {
		if (v >> 61)
			return -1;
		v = v << 3 | (uint64_t)(f[i] - '0');
	}
	if (!digits)
		return -1;
	for (; i < width; i++)
		if (f[i] != ' ' && f[i] != '\0')
			return -1;
	*out = v;
	return 0;
}

/* A NUL-padded string field; whatever follows the first NUL must be NUL
 * too, so "ok\0../../x" is refused rather than silently cut. */
static int parse_str(const unsigned char *f, size_t width, char *out)
{
	size_t n = strnlen((const char *)f, width);

	for (size_t i = n; i < width; i++)
		if (f[i])
			return -1;
	memcpy(out, f, n);
	out[n] = '\0';
	return (int)n;
}

static int parse_dec(const char *p, size_t len, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (len == 0 || len > 20)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		if (v > (UINT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (uint64_t)(p[i] - '0');
	}
	if (v > max)
		return -1;
	*out = v;
	return 0;
}

struct pax {
	int has_path, has_linkpath, has_size, has_uid, has_gid, has_mtime;
	uint64_t size, uid, gid;
	int64_t mtime_sec;
	uint32_t mtime_nsec;
	char path[FILEDIFF_PATH_MAX + 1];
	char linkpath[FILEDIFF_PATH_MAX + 1];
};

/* "[-]sec[.frac]"; the fraction is kept to nanoseconds. */
static int parse_pax_time(const char *p, size_t len, int64_t *sec, uint32_t *nsec)
{
	const char *dot = memchr(p, '.', len);
	size_t ilen = dot ? (size_t)(dot - p) : len;
	int neg = ilen && p[0] == '-';
	uint64_t v, frac = 0;
	size_t flen = dot ? len - ilen - 1 : 0;

	if (parse_dec(p + neg, ilen - neg, INT64_MAX, &v) < 0)
		return -1;
	if (dot && flen == 0)
		return -1;
	for (size_t i = 0; i < flen; i++) {
		char ch = dot[1 + i];

		if (ch < '0' || ch > '9')
			return -1;
		if (i < 9)
			frac = frac * 10 + (uint64_t)(ch - '0');
	}
	for (size_t i = flen; i < 9; i++)
		frac *= 10;
	/* -1.25 is 1.25 s before the epoch: second -2, 0.75 s into it. */
	if (neg) {
		*sec = -(int64_t)v - (frac ? 1 : 0);
		*nsec = frac ? (uint32_t)(1000000000 - frac) : 0;
	} else {
		*sec = (int64_t)v;
		*nsec = (uint32_t)frac;
	}
	return 0;
}

static int parse_pax(const char *p, size_t len, struct pax *px, tardis_error_t *err)
{
	while (len) {
		const char *sp = memchr(p, ' ', len < 24 ? len : 24), *key, *eq, *val;
		uint64_t rlen;
		size_t klen, vlen;

		if (!sp || parse_dec(p, (size_t)(sp - p), len, &rlen) < 0 ||
		    rlen < (uint64_t)(sp - p) + 4 || p[rlen - 1] != '\n')
			return tardis_make_error(err, EINVAL, "malformed pax record");
		key = sp + 1;
		eq = memchr(key, '=', (size_t)(p + rlen - 1 - key));
		if (!eq || eq == key)
			return tardis_make_error(err, EINVAL, "malformed pax record");
		klen = (size_t)(eq - key);
		val = eq + 1;
		vlen = (size_t)(p + rlen - 1 - val);
#define KEY(k) (klen == sizeof(k) - 1 && memcmp(key, k, klen) == 0)
		if (KEY("path") || KEY("linkpath")) {
			char *dst = KEY("path") ? px->path : px->linkpath;

			if (vlen == 0 || vlen > FILEDIFF_PATH_MAX || memchr(val, '\0', vlen))
				return tardis_make_error(err, EINVAL, "bad pax %.*s", (int)klen, key);
			memcpy(dst, val, vlen);
			dst[vlen] = '\0';
			*(KEY("path") ? &px->has_path : &px->has_linkpath) = 1;
		} else if (KEY("size")) {
			if (parse_dec(val, vlen, INT64_MAX, &px->size) < 0)
				return tardis_make_error(err, EINVAL, "bad pax size");
			px->has_size = 1;
		} else if (KEY("uid") || KEY("gid")) {
			uint64_t *dst = KEY("uid") ? &px->uid : &px->gid;

			/* (uid_t)-1 would mean "unchanged" to chown. */
			if (parse_dec(val, vlen, UINT32_MAX - 1, dst) < 0)
				return tardis_make_error(err, EINVAL, "bad pax %.*s", (int)klen, key);
			*(KEY("uid") ? &px->has_uid : &px->has_gid) = 1;
		} else if (KEY("mtime")) {
			if (parse_pax_time(val, vlen, &px->mtime_sec, &px->mtime_nsec) < 0)
				return tardis_make_error(err, EINVAL, "bad pax mtime");
			px->has_mtime = 1;
		}
#undef KEY
		/* Other keys (atime, ctime, comments, vendor ones) do not matter. */
		p += rlen;
		len -= (size_t)rlen;
	}
	return 0;
}

static int all_zero(const unsigned char *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i])
			return 0;
	return 1;
}

struct tar_scratch {
	struct pax px;
	char path[FILEDIFF_PATH_MAX + 2 + 256];
	char linkpath[FILEDIFF_PATH_MAX + 1];
};

/* Decodes the header at h (whose data may follow); e's strings point into s. */
static int tar_entry(const unsigned char *h, uint64_t size, const struct pax *px, int have_pax,
		     struct tar_scratch *s, struct filediff_entry *e, tardis_error_t *err)
{
	char prefix[156];
	uint64_t v;
	size_t n;
	int ln;

	memset(e, 0, sizeof(*e));
	switch (h[156]) {
	case '0':
	case '\0':
		e->type = FILEDIFF_REG;
		break;
	case '5':
		e->type = FILEDIFF_DIR;
		break;
	case '2':
		e->type = FILEDIFF_SYMLINK;
		break;
	default:
		if (h[156] >= 0x20 && h[156] < 0x7f)
			return tardis_make_error(err, EINVAL, "unsupported entry type '%c'", h[156]);
		return tardis_make_error(err, EINVAL, "unsupported entry type 0x%02x", h[156]);
	}
	if (have_pax && px->has_path) {
		strcpy(s->path, px->path);
	} else {
		ln = parse_str(h + 345, 155, prefix);
		if (ln < 0 || parse_str(h, 100, s->path) < 0)
			return tardis_make_error(err, EINVAL, "bad name field");
		if (ln > 0) {
			size_t nl = strlen(s->path);

			memmove(s->path + ln + 1, s->path, nl + 1);
			memcpy(s->path, prefix, (size_t)ln);
			s->path[ln] = '/';
		}
	}
	/* A directory's name ends in '/' (once). */
	n = strlen(s->path);
	if (n > 1 && s->path[n - 1] == '/' && e->type == FILEDIFF_DIR)
		s->path[--n] = '\0';
	if (fdiff_path_check(s->path, n) < 0)
		return tardis_make_error(err, EINVAL, "unsafe or invalid path `%.*s`",
					 (int)(n > 200 ? 200 : n), s->path);
	e->path = s->path;
	if (parse_octal(h + 100, 8, &v) < 0 || v > 07777)
		return tardis_make_error(err, EINVAL, "bad mode of `%s`", e->path);
	e->mode = (unsigned)v;
	if (have_pax && px->has_uid)
		v = px->uid;
	else if (parse_octal(h + 108, 8, &v) < 0)
		return tardis_make_error(err, EINVAL, "bad uid of `%s`", e->path);
	e->uid = (uint32_t)v;
	if (have_pax && px->has_gid)
		v = px->gid;
	else if (parse_octal(h + 116, 8, &v) < 0)
		return tardis_make_error(err, EINVAL, "bad gid of `%s`", e->path);
	e->gid = (uint32_t)v;
	if (have_pax && px->has_mtime) {
		e->mtime_sec = px->mtime_sec;
		e->mtime_nsec = px->mtime_nsec;
	} else {
		if (parse_octal(h + 136, 12, &v) < 0)
			return tardis_make_error(err, EINVAL, "bad mtime of `%s`", e->path);
		e->mtime_sec = (int64_t)v;
	}
	e->size = size;
	if (e->type != FILEDIFF_REG && size != 0)
		return tardis_make_error(err, EINVAL, "non-file `%s` has data", e->path);
	if (e->type == FILEDIFF_SYMLINK) {
		if (have_pax && px->has_linkpath)
			strcpy(s->linkpath, px->linkpath);
		else if (parse_str(h + 157, 100, s->linkpath) < 0)
			return tardis_make_error(err, EINVAL, "bad link name of `%s`", e->path);
		if (!s->linkpath[0])
			return tardis_make_error(err, EINVAL, "symlink `%s` has no target", e->path);
		e->linkpath = s->linkpath;
	}
	return 0;
}

int filediff_tar_foreach(const void *buf, size_t len, filediff_entry_fn fn, void *arg,
			 tardis_error_t *err)
{
	cleanup_free struct tar_scratch *s = NULL;
	const unsigned char *b = buf;
	int have_pax = 0;
	size_t off = 0;

	s = calloc(1, sizeof(*s));
	if (!s)
		return tardis_make_error(err, ENOMEM, "tar");
	for (;;) {
		const unsigned char *h;
		struct filediff_entry e;
		uint64_t size, sum;
		unsigned calc = 0;
		size_t padded;

		if (len - off < BLOCK)
			return tardis_make_error(err, EINVAL, "tar truncated at byte %zu", off);
		h = b + off;
		if (all_zero(h, BLOCK)) {
			if (have_pax)
				return tardis_make_error(err, EINVAL, "pax header without entry");
			if (len - off < 2 * BLOCK || !all_zero(h + BLOCK, BLOCK))
				return tardis_make_error(err, EINVAL,
							 "tar truncated: incomplete end marker");
			if (!all_zero(h + 2 * BLOCK, len - off - 2 * BLOCK))
				return tardis_make_error(err, EINVAL, "data after the tar's end");
			return 0;
		}
		for (int i = 0; i < BLOCK; i++)
			calc += (i >= 148 && i < 156) ? ' ' : h[i];
		if (parse_octal(h + 148, 8, &sum) < 0 || sum != calc)
			return tardis_make_error(err, EINVAL, "bad tar header checksum at byte %zu",
						 off);
		if (memcmp(h + 257, "ustar", 6) != 0 || memcmp(h + 263, "00", 2) != 0)
			return tardis_make_error(err, EINVAL, "not a POSIX ustar header at byte %zu",
						 off);
		if (have_pax && s->px.has_size)
			size = s->px.size;
		else if (parse_octal(h + 124, 12, &size) < 0)
			return tardis_make_error(err, EINVAL, "bad size at byte %zu", off);
		off += BLOCK;
		if (size > len - off || size > SIZE_MAX - BLOCK)
			return tardis_make_error(err, EINVAL, "tar truncated in entry at byte %zu",
						 off - BLOCK);
		padded = (size_t)size + pad_of(size);
		if (padded > len - off)
			return tardis_make_error(err, EINVAL, "tar truncated in entry at byte %zu",
						 off - BLOCK);
		if (h[156] == 'x') {
			if (have_pax)
				return tardis_make_error(err, EINVAL, "two pax headers in a row");
			if (size > PAX_MAX)
				return tardis_make_error(err, EINVAL, "pax header too large");
			memset(&s->px, 0, sizeof(s->px));
			if (parse_pax((const char *)b + off, (size_t)size, &s->px, err) < 0)
				return tardis_error_wrap(err, "tar header at byte %zu", off - BLOCK);
			have_pax = 1;
			off += padded;
			continue;
		}
		if (tar_entry(h, size, &s->px, have_pax, s, &e, err) < 0)
			return tardis_error_wrap(err, "tar header at byte %zu", off - BLOCK);
		if (e.type == FILEDIFF_REG)
			e.data = b + off;
		if (fn && fn(&e, arg, err) < 0)
			return -1;
		have_pax = 0;
		off += padded;
	}
}
