/*
 * One option parser for every command: each declares its options in a
 * table (struct ctl_opt) and how many arguments follow; this turns the
 * table into getopt_long's, checks the values, and reports misuse the same
 * way for all.
 */
#include "tardisctl.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define OPTS_MAX 16

void ctl_usage(struct ctl *c, FILE *f)
{
	fprintf(f, "%s", c->cmd->help);
}

int ctl_misuse(struct ctl *c, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "tardisctl %s: ", c->cmd->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	ctl_usage(c, stderr);
	return EXIT_MISUSE;
}

int split_ref(const char *ref, char *ns, char *id)
{
	const char *slash = strchr(ref, '/');

	if (!slash || (size_t)(slash - ref) > TARDIS_ID_MAX || strlen(slash + 1) > TARDIS_ID_MAX)
		return -1;
	memcpy(ns, ref, slash - ref);
	ns[slash - ref] = '\0';
	strcpy(id, slash + 1);
	return store_id_valid(ns) && store_id_valid(id) ? 0 : -1;
}

int parse_u64(const char *s, uint64_t *v)
{
	char *end;

	errno = 0;
	*v = strtoull(s, &end, 10);
	return (errno || end == s || *end || s[0] == '-') ? -1 : 0;
}

int parse_duration(const char *s, uint64_t *secs)
{
	uint64_t total = 0;
	const char *p = s;

	if (!*p)
		return -1;
	while (*p) {
		uint64_t n = 0, mul;

		if (*p < '0' || *p > '9')
			return -1;
		while (*p >= '0' && *p <= '9') {
			if (n > UINT64_MAX / 10 - 10)
				return -1;
			n = n * 10 + (*p++ - '0');
		}
		switch (*p) {
		case '\0': mul = 1; break;
		case 's': mul = 1; p++; break;
		case 'm': mul = 60; p++; break;
		case 'h': mul = 3600; p++; break;
		case 'd': mul = 86400; p++; break;
		case 'w': mul = 7 * 86400; p++; break;
		default: return -1;
		}
		if (n > (UINT64_MAX - total) / mul)
			return -1;
		total += n * mul;
	}
	*secs = total;
	return 0;
}

/* The value of one option into its target: -1, or EXIT_MISUSE (reported)
 * when it is bad. */
static int opt_take(struct ctl *c, const struct ctl_opt *o, char *arg)
{
	uint64_t v;
	int bad;

	switch (o->type) {
	case OPT_FLAG:
		*(int *)o->value = 1;
		break;
	case OPT_STRING:
		*(const char **)o->value = arg;
		break;
	case OPT_DURATION:
	case OPT_U64:
		bad = o->type == OPT_DURATION ? parse_duration(arg, &v) : parse_u64(arg, &v);
		if (bad < 0 || v > o->max)
			return ctl_misuse(c, "bad --%s `%s` %s", o->name, arg, o->hint);
		*(uint64_t *)o->value = v;
		break;
	}
	if (o->given)
		*o->given = 1;
	return -1;
}

/* getopt_long's view of the table: option k returns 256 + k, so options
 * without a short name need no letter of their own. */
static void opts_build(const struct ctl_opt *opts, int n, struct option *lo, char *so)
{
	int k;

	*so++ = 'h';
	for (k = 0; k < n; k++) {
		int arg = opts[k].type == OPT_FLAG ? no_argument : required_argument;

		lo[k] = (struct option){ opts[k].name, arg, NULL, 256 + k };
		if (opts[k].short_name) {
			*so++ = (char)opts[k].short_name;
			if (arg == required_argument)
				*so++ = ':';
		}
	}
	*so = '\0';
	lo[k++] = (struct option){ "help", no_argument, NULL, 'h' };
	lo[k] = (struct option){ 0 };
}

int opts_parse(struct ctl *c, int argc, char **argv, struct ctl_cmdline *cl)
{
	struct option lo[OPTS_MAX + 2];
	char so[2 * OPTS_MAX + 2];
	int n = 0, o, r;

	while (cl->opts && n < OPTS_MAX && cl->opts[n].name)
		n++;
	opts_build(cl->opts, n, lo, so);
	opterr = 0;
	while ((o = getopt_long(argc, argv, so, lo, NULL)) != -1) {
		if (o == 'h') {
			ctl_usage(c, stdout);
			return 0;
		}
		if (o == '?')
			return ctl_misuse(c, "unknown option or missing value: `%s`", argv[optind - 1]);
		for (int k = 0; k < n && o < 256; k++) /* a short name */
			if (cl->opts[k].short_name == o)
				o = 256 + k;
		if (o < 256 || o >= 256 + n)
			return ctl_misuse(c, "unknown option `%s`", argv[optind - 1]);
		if ((r = opt_take(c, &cl->opts[o - 256], optarg)) >= 0)
			return r;
	}
	cl->args = argv + optind;
	cl->nargs = argc - optind;
	if (cl->nargs < cl->min_args || cl->nargs > cl->max_args) {
		if (cl->expect || cl->nargs == 0)
			return ctl_misuse(c, "%s", cl->expect ? cl->expect : "missing argument");
		return ctl_misuse(c, "unexpected argument `%s`", cl->args[0]);
	}
	return -1;
}
