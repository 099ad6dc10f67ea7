#include "exit_record.h"
#include "tardis_exit.h"
#include "util.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

int exit_status_decode(int ws, struct exit_status *out)
{
	memset(out, 0, sizeof(*out));
	if (ws < 0 || ws > 0xffff)
		return -1;
	if (WIFEXITED(ws)) {
		out->exited = 1;
		out->code = WEXITSTATUS(ws);
		out->exit_status = out->code;
		return 0;
	}
	if (WIFSIGNALED(ws)) {
		out->signal = WTERMSIG(ws);
		out->core_dumped = WCOREDUMP(ws) ? 1 : 0;
		out->exit_status = 128 + out->signal;
		return 0;
	}
	return -1; /* stopped / continued: not an exit */
}

void rfc3339_format(int64_t ns, char *buf, size_t len)
{
	time_t sec = (time_t)(ns / 1000000000);
	long frac = (long)(ns % 1000000000);
	struct tm tm;

	if (frac < 0) {
		frac += 1000000000;
		sec -= 1;
	}
	gmtime_r(&sec, &tm);
	snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
}

static int digits(const char **p, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)**p))
			return -1;
		v = v * 10 + (**p - '0');
		(*p)++;
	}
	*out = v;
	return 0;
}

int rfc3339_parse(const char *s, int64_t *ns)
{
	int Y, M, D, h, m, sec, oh = 0, om = 0, sign = 0;
	const char *p = s;
	int64_t frac = 0, days, secs;
	int fd = 0;

	if (!s)
		return -1;
	if (digits(&p, 4, &Y) || *p++ != '-' || digits(&p, 2, &M) || *p++ != '-' ||
	    digits(&p, 2, &D) || (*p != 'T' && *p != 't' && *p != ' '))
		return -1;
	p++;
	if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &m) || *p++ != ':' ||
	    digits(&p, 2, &sec))
		return -1;
	if (M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60)
		return -1;
	if (*p == '.') {
		p++;
		if (!isdigit((unsigned char)*p))
			return -1;
		while (isdigit((unsigned char)*p)) {
			if (fd < 9) {
				frac = frac * 10 + (*p - '0');
				fd++;
			}
			p++;
		}
		while (fd++ < 9)
			frac *= 10;
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		sign = *p == '-' ? -1 : 1;
		p++;
		if (digits(&p, 2, &oh) || *p++ != ':' || digits(&p, 2, &om))
			return -1;
	} else {
		return -1;
	}
	if (*p)
		return -1;
	/* Days from civil (Howard Hinnant's algorithm), no timezone state. */
	{
		int y = Y - (M <= 2);
		int era = (y >= 0 ? y : y - 399) / 400;
		int yoe = y - era * 400;
		int doy = (153 * (M + (M > 2 ? -3 : 9)) + 2) / 5 + D - 1;
		int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

		days = (int64_t)era * 146097 + doe - 719468;
	}
	secs = (days * 86400 + h * 3600 + m * 60 + sec) - sign * (oh * 3600 + om * 60);
	/* Outside 1677..2262 int64 nanoseconds overflow: refuse, do not wrap. */
	if (__builtin_mul_overflow(secs, 1000000000ll, ns) || __builtin_add_overflow(*ns, frac, ns))
		return -1;
	return 0;
}

int exit_record_from_event(struct exit_record *r, const struct tardis_exit_event *ev,
			   const char *ns, const char *id)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->ns, sizeof(r->ns), "%s", ns);
	snprintf(r->id, sizeof(r->id), "%s", id);
	r->known = 1;
	r->has_wait_status = 1;
	r->pid = (int)ev->tgid;
	r->start_time = ev->start_time;
	r->wait_status = (int)ev->status;
	r->exit_mono_ns = ev->exit_ns;
	/* The monotonic clock of the exit, on the realtime clock of now. */
	r->exited_at_ns = time_realtime_ns() - time_monotonic_ns() + (int64_t)ev->exit_ns;
	r->cgroup_id = ev->cgroup_id;
	r->pidns_level = ev->pidns_level;
	r->pidns_inum = ev->pidns_inum;
	memcpy(r->comm, ev->comm, TARDIS_COMM_LEN);
	r->comm[TARDIS_COMM_LEN] = '\0';
	if (exit_status_decode((int)ev->status, &r->st) < 0) {
		r->known = 0;
		return -1;
	}
	return 0;
}

char *exit_record_to_json(const struct exit_record *r)
{
	cJSON *o = cJSON_CreateObject();
	char when[64];
	char *text;

	if (!o)
		return NULL;
	cJSON_AddNumberToObject(o, "version", EXIT_RECORD_VERSION);
	cJSON_AddStringToObject(o, "namespace", r->ns);
	cJSON_AddStringToObject(o, "id", r->id);
	cJSON_AddStringToObject(o, "state", r->known ? "exited" : "unknown");
	cJSON_AddNumberToObject(o, "pid", r->pid);
	cJSON_AddNumberToObject(o, "start_time", (double)r->start_time);
	if (r->known) {
		if (r->has_wait_status)
			cJSON_AddNumberToObject(o, "wait_status", r->wait_status);
		cJSON_AddNumberToObject(o, "exit_status", r->st.exit_status);
		cJSON_AddNumberToObject(o, "exit_code", r->st.exited ? r->st.code : -1);
		cJSON_AddNumberToObject(o, "signal", r->st.signal);
		cJSON_AddBoolToObject(o, "core_dumped", r->st.core_dumped);
		if (r->exited_at_ns) {
			rfc3339_format(r->exited_at_ns, when, sizeof(when));
			cJSON_AddStringToObject(o, "exited_at", when);
		}
		cJSON_AddNumberToObject(o, "exit_mono_ns", (double)r->exit_mono_ns);
		cJSON_AddNumberToObject(o, "cgroup_id", (double)r->cgroup_id);
		cJSON_AddNumberToObject(o, "pidns_level", r->pidns_level);
		cJSON_AddNumberToObject(o, "pidns_inum", r->pidns_inum);
		cJSON_AddStringToObject(o, "comm", r->comm);
	}
	cJSON_AddStringToObject(o, "source", r->source);
	text = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return text;
}

static int get_num(const cJSON *o, const char *k, double *v)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, k);

	if (!cJSON_IsNumber(it))
		return -1;
	*v = it->valuedouble;
	return 0;
}

/* Whether a JSON number fits the integer field it is cast to. */
static int fits(double v, double lo, double hi_excl)
{
	return v >= lo && v < hi_excl;
}

#define U32_END 4294967296.0
#define U64_END 18446744073709551616.0

static int get_str(const cJSON *o, const char *k, char *buf, size_t len)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, k);

	if (!cJSON_IsString(it) || strlen(it->valuestring) >= len)
		return -1;
	strcpy(buf, it->valuestring);
	return 0;
}

int exit_record_from_json(const char *text, struct exit_record *r, tardis_error_t *err)
{
	cJSON *o = cJSON_Parse(text);
	char state[16];
	double v;
	int ret = -1;

	memset(r, 0, sizeof(*r));
	if (!cJSON_IsObject(o)) {
		tardis_make_error(err, EINVAL, "exit record is not a JSON object");
		goto out;
	}
	if (get_num(o, "version", &v) || v != EXIT_RECORD_VERSION) {
		tardis_make_error(err, EINVAL, "exit record: unsupported version");
		goto out;
	}
	if (get_str(o, "namespace", r->ns, sizeof(r->ns)) || get_str(o, "id", r->id, sizeof(r->id)) ||
	    get_str(o, "state", state, sizeof(state)) || get_num(o, "pid", &v)) {
		tardis_make_error(err, EINVAL, "exit record: missing namespace, id, state or pid");
		goto out;
	}
	if (!fits(v, 0, 2147483648.0)) {
		tardis_make_error(err, EINVAL, "exit record: bad pid");
		goto out;
	}
	r->pid = (int)v;
	if (!get_num(o, "start_time", &v)) {
		if (!fits(v, 0, U64_END)) {
			tardis_make_error(err, EINVAL, "exit record: bad start_time");
			goto out;
		}
		r->start_time = (uint64_t)v;
	}
	get_str(o, "source", r->source, sizeof(r->source));
	if (strcmp(state, "unknown") == 0) {
		ret = 0;
		goto out;
	}
	if (strcmp(state, "exited") != 0) {
		tardis_make_error(err, EINVAL, "exit record: bad state `%s`", state);
		goto out;
	}
	r->known = 1;
	if (!get_num(o, "wait_status", &v)) {
		if (!fits(v, 0, 0x10000)) {
			tardis_make_error(err, EINVAL, "exit record: bad wait_status");
			goto out;
		}
		r->has_wait_status = 1;
		r->wait_status = (int)v;
		if (exit_status_decode(r->wait_status, &r->st) < 0) {
			tardis_make_error(err, EINVAL, "exit record: bad wait_status %d", r->wait_status);
			goto out;
		}
	} else {
		if (get_num(o, "exit_status", &v) || v < 0 || v > 255) {
			tardis_make_error(err, EINVAL, "exit record: missing exit_status");
			goto out;
		}
		r->st.exit_status = (int)v;
		r->st.exited = r->st.exit_status < 128;
		r->st.code = r->st.exited ? r->st.exit_status : 0;
		r->st.signal = r->st.exited ? 0 : r->st.exit_status - 128;
	}
	if ((!get_num(o, "exit_mono_ns", &v) && !fits(v, 0, U64_END)) ||
	    (!get_num(o, "cgroup_id", &v) && !fits(v, 0, U64_END)) ||
	    (!get_num(o, "pidns_level", &v) && !fits(v, 0, U32_END)) ||
	    (!get_num(o, "pidns_inum", &v) && !fits(v, 0, U32_END))) {
		tardis_make_error(err, EINVAL, "exit record: number out of range");
		goto out;
	}
	if (!get_num(o, "exit_mono_ns", &v))
		r->exit_mono_ns = (uint64_t)v;
	if (!get_num(o, "cgroup_id", &v))
		r->cgroup_id = (uint64_t)v;
	if (!get_num(o, "pidns_level", &v))
		r->pidns_level = (uint32_t)v;
	if (!get_num(o, "pidns_inum", &v))
		r->pidns_inum = (uint32_t)v;
	get_str(o, "comm", r->comm, sizeof(r->comm));
	{
		const cJSON *at = cJSON_GetObjectItemCaseSensitive(o, "exited_at");
		int64_t ns;

		if (cJSON_IsString(at) && rfc3339_parse(at->valuestring, &ns) == 0)
			r->exited_at_ns = ns;
	}
	ret = 0;
out:
	cJSON_Delete(o);
	return ret;
}
