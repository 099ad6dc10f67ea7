/* runc_args_parse: table-driven, from what containerd-shim-runc-v2 sends
 * and from runc's own spellings. */
#include "unit_main.h"
#include "runc_args.h"

#include <stdlib.h>
#include <string.h>

#define MAXW 40

struct row {
	const char *line;    /* words separated by single spaces; "" = empty word */
	int ok;
	const char *ns, *cmd, *id;
	const char *opts;    /* "name=value;name=value" (subcommand options) */
	const char *globals; /* "name=value;..." */
	const char *pos;     /* positional after the id, ";"-separated */
	const char *rest;    /* argv word at rest_index (exec/ps), or NULL */
};

static const struct row rows[] = {
	/* containerd-shim-runc-v2 */
	{ "runc --root /run/containerd/runc/default --log /b/log.json --log-format json create --bundle /b --pid-file /b/init.pid c1",
	  1, "default", "create", "c1", "bundle=/b;pid-file=/b/init.pid",
	  "root=/run/containerd/runc/default;log=/b/log.json;log-format=json", "", NULL },
	{ "runc --root /run/containerd/runc/k8s.io --log /b/log.json --log-format json create --bundle /b --pid-file /b/init.pid --console-socket /tmp/pty.sock c1",
	  1, "k8s.io", "create", "c1", "bundle=/b;pid-file=/b/init.pid;console-socket=/tmp/pty.sock", NULL, "", NULL },
	{ "runc --root /run/containerd/runc/default --log /b/log.json --log-format json start c1",
	  1, "default", "start", "c1", "", NULL, "", NULL },
	{ "runc --root /run/containerd/runc/default --log /b/log.json --log-format json delete c1",
	  1, "default", "delete", "c1", "", NULL, "", NULL },
	{ "runc --root /run/containerd/runc/default --log /b/log.json --log-format json delete --force c1",
	  1, "default", "delete", "c1", "force=true", NULL, "", NULL },
	{ "runc --root /run/containerd/runc/default --log /b/log.json --log-format json kill c1 9",
	  1, "default", "kill", "c1", "", NULL, "9", NULL },
	{ "runc --root /run/containerd/runc/default --log /b/log.json --log-format json kill --all c1 15",
	  1, "default", "kill", "c1", "all=true", NULL, "15", NULL },
	{ "runc --root /run/containerd/runc/default --log /b/log.json --log-format json checkpoint --image-path /c/img --work-path /c/work --file-locks --leave-running c1",
	  1, "default", "checkpoint", "c1", "image-path=/c/img;work-path=/c/work;file-locks=true;leave-running=true", NULL, "", NULL },
	{ "runc --root /run/containerd/runc/default --log /b/log.json --log-format json pause c1",
	  1, "default", "pause", "c1", "", NULL, "", NULL },
	{ "runc --root /run/containerd/runc/default --log /b/log.json --log-format json resume c1",
	  1, "default", "resume", "c1", "", NULL, "", NULL },
	{ "runc features", 1, "runc", "features", NULL, "", NULL, "", NULL },
	{ "runc --version", 1, "runc", NULL, NULL, "", "version=true", "", NULL },
	{ "runc -v", 1, "runc", NULL, NULL, "", "version=true", "", NULL },
	/* runc's spellings */
	{ "runc --root=/x/ns1 create --bundle=/b c2", 1, "ns1", "create", "c2", "bundle=/b", "root=/x/ns1", "", NULL },
	{ "runc -root /x/ns2/ -log-format json create -b /b -pid-file=/p c3", 1, "ns2", "create", "c3", "bundle=/b;pid-file=/p", "log-format=json", "", NULL },
	{ "runc --root /x/ns delete c4 --force", 1, "ns", "delete", "c4", "force=true", NULL, "", NULL },
	{ "runc --root /x/ns delete c4 -f=false", 1, "ns", "delete", "c4", "force=false", NULL, "", NULL },
	{ "runc --root /x/ns create c5 --bundle /b --pid-file /p", 1, "ns", "create", "c5", "bundle=/b;pid-file=/p", NULL, "", NULL },
	{ "runc --root /x/ns kill c6", 1, "ns", "kill", "c6", "", NULL, "", NULL },
	{ "runc --root /x/ns kill c6 SIGKILL", 1, "ns", "kill", "c6", "", NULL, "SIGKILL", NULL },
	{ "runc --root /x/ns kill -- c6 KILL", 1, "ns", "kill", "c6", "", NULL, "KILL", NULL },
	{ "runc --root /x/ns exec -t c7 sh -c --force", 1, "ns", "exec", "c7", "tty=true", NULL, "", "sh" },
	{ "runc --root /x/ns exec --env A=1 -e B=2 --cwd /tmp c7 ls -l --all", 1, "ns", "exec", "c7", "env=A=1;env=B=2;cwd=/tmp", NULL, "", "ls" },
	{ "runc --root /x/ns ps --format json c8", 1, "ns", "ps", "c8", "format=json", NULL, "", NULL },
	{ "runc --root /x/ns ps c8 -- -ef", 1, "ns", "ps", "c8", "", NULL, "", "--" },
	{ "runc --debug --systemd-cgroup --criu /usr/sbin/criu --root /x/ns restore -d --image-path /i --bundle /b c9",
	  1, "ns", "restore", "c9", "detach=true;image-path=/i;bundle=/b", "debug=true;systemd-cgroup=true;criu=/usr/sbin/criu;root=/x/ns", "", NULL },
	{ "runc --rootless true --root /x/ns state c10", 1, "ns", "state", "c10", "", "rootless=true", "", NULL },
	{ "runc --root /x/ns list -q", 1, "ns", "list", NULL, "quiet=true", NULL, "", NULL },
	{ "runc --root /x/ns -- create c11", 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL },
	{ "runc --root /x/ns checkpoint c12 --leave-running --image-path /i", 1, "ns", "checkpoint", "c12", "leave-running=true;image-path=/i", NULL, "", NULL },
	{ "runc --root /x/ns create --bundle /b -- --weird-id", 1, "ns", "create", "--weird-id", "bundle=/b", NULL, "", NULL },
	/* garbage */
	{ "runc --root", 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL },
	{ "runc --nope create c", 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL },
	{ "runc --root /x/ns frobnicate c", 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL },
	{ "runc --root /x/ns create --bundle", 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL },
	{ "runc --root /x/ns create --nope c", 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL },
	{ "runc --root /x/ns create", 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL },
	{ "runc --root /x/ns delete --force=maybe c", 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL },
	{ "runc --root /x/ns kill c 9 extra", 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL },
	{ "runc --root /x/ns start a b", 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL },
	{ "runc - create c", 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL },
	{ "runc --root /x/ns create --=x c", 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL },
};

static int split(const char *line, char *buf, size_t len, char **argv)
{
	int n = 0;
	char *p;

	snprintf(buf, len, "%s", line);
	argv[n++] = buf;
	for (p = buf; *p && n < MAXW - 1; p++) {
		if (*p == ' ') {
			*p = '\0';
			argv[n++] = p + 1;
		}
	}
	argv[n] = NULL;
	return n;
}

/* Every "k=v" of spec must be an option of the list, in order. */
static void expect_opts(const struct runc_opt *opts, int n, const char *spec, const char *line)
{
	char buf[512], *save = NULL, *kv;
	int i = 0;

	if (!spec)
		return;
	snprintf(buf, sizeof(buf), "%s", spec);
	for (kv = strtok_r(buf, ";", &save); kv; kv = strtok_r(NULL, ";", &save), i++) {
		char *eq = strchr(kv, '=');

		*eq = '\0';
		ck_assert_msg(i < n, "%s: missing option %s", line, kv);
		ck_assert_msg(strcmp(opts[i].name, kv) == 0, "%s: option %d is %s, want %s", line, i,
			      opts[i].name, kv);
		ck_assert_msg(strcmp(opts[i].value, eq + 1) == 0, "%s: %s=%s, want %s", line, kv,
			      opts[i].value, eq + 1);
	}
	ck_assert_msg(i == n, "%s: %d options, want %d", line, n, i);
}

START_TEST(test_table)
{
	const struct row *r = &rows[_i];
	char buf[1024], *argv[MAXW];
	struct runc_args a;
	tardis_error_t err = NULL;
	int argc = split(r->line, buf, sizeof(buf), argv), ret;

	ret = runc_args_parse(argc, argv, &a, &err);
	if (!r->ok) {
		ck_assert_msg(ret < 0, "%s: accepted", r->line);
		ck_assert_ptr_nonnull(err);
		ck_assert_ptr_nonnull(tardis_error_msg(err));
		tardis_error_free(&err);
		return;
	}
	ck_assert_msg(ret == 0, "%s: %s", r->line, tardis_error_msg(err));
	ck_assert_str_eq(a.ns, r->ns);
	if (r->cmd)
		ck_assert_str_eq(a.cmd, r->cmd);
	else
		ck_assert_ptr_null(a.cmd);
	if (r->id)
		ck_assert_str_eq(a.id, r->id);
	else
		ck_assert_ptr_null(a.id);
	expect_opts(a.opts, a.nopts, r->opts, r->line);
	if (r->globals) {
		/* only the listed ones are checked, by name */
		char g[512], *save = NULL, *kv;

		snprintf(g, sizeof(g), "%s", r->globals);
		for (kv = strtok_r(g, ";", &save); kv; kv = strtok_r(NULL, ";", &save)) {
			char *eq = strchr(kv, '=');

			*eq = '\0';
			ck_assert_msg(runc_args_global(&a, kv) != NULL, "%s: global %s missing", r->line, kv);
			ck_assert_str_eq(runc_args_global(&a, kv), eq + 1);
		}
	}
	if (r->pos && r->pos[0]) {
		ck_assert_int_eq(a.npos, 1);
		ck_assert_str_eq(a.pos[0], r->pos);
	} else if (r->pos) {
		ck_assert_int_eq(a.npos, 0);
	}
	if (r->rest) {
		ck_assert_int_ge(a.rest_index, 0);
		ck_assert_str_eq(argv[a.rest_index], r->rest);
		/* nothing after the id was parsed as an option of exec/ps */
		for (int i = 0; i < a.nopts; i++)
			ck_assert_int_lt(a.opts[i].index, a.id_index);
	}
}
END_TEST

/* The tokens of each option are where the parser says they are: the
 * wrapper rebuilds command lines from them. */
START_TEST(test_token_positions)
{
	char buf[512], *argv[MAXW];
	struct runc_args a;
	tardis_error_t err = NULL;
	int argc = split("runc --root /r/ns checkpoint --image-path /i --work-path=/w --file-locks c", buf,
			 sizeof(buf), argv);

	ck_assert_int_eq(runc_args_parse(argc, argv, &a, &err), 0);
	ck_assert_int_eq(a.cmd_index, 3);
	ck_assert_int_eq(a.nopts, 3);
	ck_assert_int_eq(a.opts[0].index, 4);
	ck_assert_int_eq(a.opts[0].ntokens, 2);
	ck_assert_int_eq(a.opts[1].index, 6);
	ck_assert_int_eq(a.opts[1].ntokens, 1);
	ck_assert_int_eq(a.opts[2].index, 7);
	ck_assert_int_eq(a.id_index, 8);
	ck_assert_int_eq(runc_args_flag(&a, "file-locks"), 1);
	ck_assert_int_eq(runc_args_flag(&a, "leave-running"), 0);
}
END_TEST

/* Arbitrary bytes never crash the parser. */
START_TEST(test_garbage)
{
	char words[8][16], *argv[9];
	struct runc_args a;
	unsigned seed = 12345;

	for (int round = 0; round < 20000; round++) {
		int argc = 1 + rand_r(&seed) % 8;
		tardis_error_t err = NULL;

		for (int i = 0; i < argc; i++) {
			int len = rand_r(&seed) % 15;

			for (int k = 0; k < len; k++) {
				static const char alphabet[] = "-=abcdefkr/ 0123456789-";

				words[i][k] = alphabet[rand_r(&seed) % (sizeof(alphabet) - 1)];
			}
			words[i][len] = '\0';
			argv[i] = words[i];
		}
		argv[argc] = NULL;
		if (runc_args_parse(argc, argv, &a, &err) < 0)
			tardis_error_free(&err);
	}
}
END_TEST

Suite *runc_args_suite(void)
{
	Suite *s = suite_create("runc_args");
	TCase *tc = tcase_create("parse");

	tcase_add_loop_test(tc, test_table, 0, sizeof(rows) / sizeof(rows[0]));
	tcase_add_test(tc, test_token_positions);
	tcase_add_test(tc, test_garbage);
	suite_add_tcase(s, tc);
	return s;
}
