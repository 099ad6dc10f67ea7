/*
 * runc_args_parse: the command line containerd (or anyone who can run the
 * runtime) hands to tardis-runc.  The input is split into argv words on NUL
 * or newline, after a fixed argv[0].
 */
#include "fuzz.h"
#include "runc_args.h"

static const char *const names[] = {
	"debug", "log", "log-format", "root", "criu", "systemd-cgroup", "rootless", "help",
	"version", "bundle", "pid-file", "console-socket", "force", "all", "image-path",
	"work-path", "leave-running", "detach", "format", "nope",
};

FUZZ_QUIET_INITIALIZE

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = fuzz_cstring(data, size);
	char **argv = calloc(size + 3, sizeof(*argv));
	tardis_error_t err = NULL;
	struct runc_args *a = malloc(sizeof(*a));
	int argc = 0;

	if (!argv || !a)
		abort();
	argv[argc++] = "tardis-runc";
	for (size_t i = 0, start = 0; i <= size; i++) {
		if (i < size && buf[i] != '\0' && buf[i] != '\n')
			continue;
		buf[i] = '\0';
		/* A trailing newline ends the last word, it does not add an empty one. */
		if (i < size || start < size)
			argv[argc++] = buf + start;
		start = i + 1;
	}
	argv[argc] = NULL;

	if (runc_args_parse(argc, argv, a, &err) == 0) {
		FUZZ_ASSERT(a->argc == argc && a->argv == argv);
		FUZZ_ASSERT(strlen(a->ns) < sizeof(a->ns) && !strchr(a->ns, '/'));
		FUZZ_ASSERT(a->nglobals >= 0 && a->nglobals <= (int)(sizeof(a->globals) / sizeof(a->globals[0])));
		FUZZ_ASSERT(a->nopts >= 0 && a->nopts <= RUNC_ARGS_MAX_OPTS);
		FUZZ_ASSERT(a->npos >= 0 && a->npos <= RUNC_ARGS_MAX_POS);
		for (int i = 0; i < a->nglobals; i++)
			FUZZ_ASSERT(a->globals[i].index > 0 &&
				    a->globals[i].index + a->globals[i].ntokens <= argc);
		for (int i = 0; i < a->nopts; i++)
			FUZZ_ASSERT(a->opts[i].index > a->cmd_index &&
				    a->opts[i].index + a->opts[i].ntokens <= argc &&
				    a->opts[i].name && a->opts[i].value);
		if (a->cmd_index >= 0)
			FUZZ_ASSERT(a->cmd_index < argc && a->cmd == argv[a->cmd_index]);
		else
			FUZZ_ASSERT(!a->cmd && !a->id);
		if (a->id)
			FUZZ_ASSERT(a->id_index > a->cmd_index && a->id_index < argc &&
				    a->id == argv[a->id_index]);
		if (a->rest_index >= 0)
			FUZZ_ASSERT(a->id && a->rest_index == a->id_index + 1 && a->rest_index <= argc);
		for (int i = 0; i < a->npos; i++)
			FUZZ_ASSERT(a->pos[i] != NULL);
		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
			const char *g = runc_args_global(a, names[i]);
			const char *o = runc_args_opt(a, names[i]);

			if (g)
				(void)strlen(g);
			if (o)
				(void)strlen(o);
			(void)runc_args_flag(a, names[i]);
		}
	} else {
		FUZZ_ASSERT(err && tardis_error_msg(err));
	}
	tardis_error_free(&err);
	free(a);
	free(argv);
	free(buf);
	return 0;
}
