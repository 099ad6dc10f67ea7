#include "ctr_events.h"
#include "exit_record.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <string.h>

/* Must skip everything token_end stops at, or a stray CR loops forever. */
static const char *skip_space(const char *p)
{
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	return p;
}

static const char *token_end(const char *p)
{
	while (*p && *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
		p++;
	return p;
}

static int copy_token(char *dst, size_t len, const char *b, const char *e)
{
	if (e <= b || (size_t)(e - b) >= len)
		return -1;
	memcpy(dst, b, e - b);
	dst[e - b] = '\0';
	return 0;
}

static int parse_exited_at(const cJSON *at, int64_t *ns)
{
	const cJSON *s, *n;
	double sec, nanos;

	if (!at) {
		*ns = 0;
		return 0;
	}
	if (cJSON_IsString(at))
		return rfc3339_parse(at->valuestring, ns);
	if (!cJSON_IsObject(at))
		return -1;
	s = cJSON_GetObjectItemCaseSensitive(at, "seconds");
	n = cJSON_GetObjectItemCaseSensitive(at, "nanos");
	if ((s && !cJSON_IsNumber(s)) || (n && !cJSON_IsNumber(n)))
		return -1;
	sec = s ? s->valuedouble : 0;
	nanos = n ? n->valuedouble : 0;
	/* What int64 nanoseconds can hold (protobuf's nanos are 0..999999999). */
	if (!(sec >= -9223372036.0 && sec <= 9223372035.0) || !(nanos >= 0 && nanos < 1e9))
		return -1;
	*ns = (int64_t)sec * 1000000000ll + (int64_t)nanos;
	return 0;
}

int ctr_events_parse_line(const char *line, struct ctr_exit *out, tardis_error_t *err)
{
	const char *p, *b, *e, *ns_b = NULL, *ns_e = NULL, *topic_b = NULL, *topic_e = NULL;
	const cJSON *cid, *id, *pid, *st;
	cJSON *o;
	int ret = -1;

	memset(out, 0, sizeof(*out));
	if (!line)
		return tardis_make_error(err, EINVAL, "no line");
	/* The timestamp has spaces; the topic is the first token starting with
	 * '/', the namespace the token before it, the event the rest. */
	p = skip_space(line);
	while (*p) {
		b = p;
		e = token_end(b);
		if (*b == '/') {
			topic_b = b;
			topic_e = e;
			break;
		}
		ns_b = b;
		ns_e = e;
		p = skip_space(e);
	}
	if (!topic_b || !ns_b)
		return tardis_make_error(err, EINVAL, "not a ctr events line");
	if (copy_token(out->ns, sizeof(out->ns), ns_b, ns_e) < 0 || !store_id_valid(out->ns))
		return tardis_make_error(err, EINVAL, "bad namespace in ctr events line");
	if ((size_t)(topic_e - topic_b) != strlen("/tasks/exit") ||
	    strncmp(topic_b, "/tasks/exit", topic_e - topic_b) != 0)
		return CTR_LINE_OTHER;

	o = cJSON_Parse(skip_space(topic_e));
	if (!cJSON_IsObject(o)) {
		tardis_make_error(err, EINVAL, "ctr events: exit event is not a JSON object");
		goto out;
	}
	cid = cJSON_GetObjectItemCaseSensitive(o, "container_id");
	id = cJSON_GetObjectItemCaseSensitive(o, "id");
	pid = cJSON_GetObjectItemCaseSensitive(o, "pid");
	st = cJSON_GetObjectItemCaseSensitive(o, "exit_status");
	if (!cJSON_IsString(cid) || strlen(cid->valuestring) > TARDIS_ID_MAX ||
	    !store_id_valid(cid->valuestring)) {
		tardis_make_error(err, EINVAL, "ctr events: missing or bad container_id");
		goto out;
	}
	strcpy(out->container_id, cid->valuestring);
	if (id && (!cJSON_IsString(id) || strlen(id->valuestring) > TARDIS_ID_MAX)) {
		tardis_make_error(err, EINVAL, "ctr events: bad id");
		goto out;
	}
	strcpy(out->id, id ? id->valuestring : out->container_id);
	if (pid && (!cJSON_IsNumber(pid) || pid->valuedouble < 0 || pid->valuedouble > 4194304)) {
		tardis_make_error(err, EINVAL, "ctr events: bad pid");
		goto out;
	}
	out->pid = pid ? (int)pid->valuedouble : 0;
	/* protobuf's JSON leaves out zero values: no exit_status means 0. */
	if (st && (!cJSON_IsNumber(st) || st->valuedouble < 0 || st->valuedouble > 255)) {
		tardis_make_error(err, EINVAL, "ctr events: bad exit_status");
		goto out;
	}
	out->exit_status = st ? (int)st->valuedouble : 0;
	if (parse_exited_at(cJSON_GetObjectItemCaseSensitive(o, "exited_at"), &out->exited_at_ns) < 0) {
		tardis_make_error(err, EINVAL, "ctr events: bad exited_at");
		goto out;
	}
	ret = strcmp(out->id, out->container_id) == 0 ? CTR_LINE_EXIT : CTR_LINE_OTHER;
out:
	cJSON_Delete(o);
	return ret;
}
