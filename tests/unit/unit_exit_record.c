/* exit_status_decode, the exit record's JSON, RFC 3339 times. */
#include "unit_main.h"
#include "exit_record.h"

#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

/* The kernel's encodings of a wait status. */
#define WS_EXITED(code) (((code) & 0xff) << 8)
#define WS_SIGNALED(sig) ((sig) & 0x7f)
#define WS_CORE(sig) (((sig) & 0x7f) | 0x80)
#define WS_STOPPED(sig) ((((sig) & 0xff) << 8) | 0x7f)
#define WS_CONTINUED 0xffff

static void expect_decode(int ws, int exited, int code, int sig, int core, int exit_status)
{
	struct exit_status st;

	ck_assert_msg(exit_status_decode(ws, &st) == 0, "status %#x refused", ws);
	ck_assert_int_eq(st.exited, exited);
	ck_assert_int_eq(st.code, code);
	ck_assert_int_eq(st.signal, sig);
	ck_assert_int_eq(st.core_dumped, core);
	ck_assert_int_eq(st.exit_status, exit_status);
}

START_TEST(decode_exit_codes)
{
	static const int codes[] = { 0, 1, 3, 42, 127, 128, 255 };

	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		expect_decode(WS_EXITED(codes[i]), 1, codes[i], 0, 0, codes[i]);
}
END_TEST

START_TEST(decode_signals)
{
	expect_decode(WS_SIGNALED(SIGKILL), 0, 0, SIGKILL, 0, 137);
	expect_decode(WS_SIGNALED(SIGTERM), 0, 0, SIGTERM, 0, 143);
	expect_decode(WS_SIGNALED(SIGHUP), 0, 0, SIGHUP, 0, 129);
	expect_decode(WS_SIGNALED(SIGINT), 0, 0, SIGINT, 0, 130);
	expect_decode(WS_SIGNALED(SIGRTMAX), 0, 0, SIGRTMAX, 0, 128 + SIGRTMAX);
	/* Core dump bit. */
	expect_decode(WS_CORE(SIGSEGV), 0, 0, SIGSEGV, 1, 139);
	expect_decode(WS_CORE(SIGABRT), 0, 0, SIGABRT, 1, 134);
	expect_decode(WS_CORE(SIGQUIT), 0, 0, SIGQUIT, 1, 131);
}
END_TEST

START_TEST(decode_refused)
{
	static const int bad[] = {
		WS_STOPPED(SIGSTOP), /* 0x137f */
		WS_STOPPED(SIGTSTP),
		WS_STOPPED(SIGTTIN),
		WS_STOPPED(SIGTRAP) | (1 << 16), /* ptrace event stop, > 0xffff */
		WS_CONTINUED,                    /* 0xffff */
		-1,
		-137,
		INT_MIN,
		0x10000,
		0x10000 | WS_EXITED(1),
		INT_MAX,
	};
	struct exit_status st;

	ck_assert_int_eq(WS_STOPPED(SIGSTOP), 0x137f);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&st, 0xa5, sizeof(st));
		ck_assert_msg(exit_status_decode(bad[i], &st) < 0, "status %#x accepted", bad[i]);
		/* Nothing half-filled is left behind. */
		ck_assert_int_eq(st.exit_status, 0);
		ck_assert_int_eq(st.exited, 0);
	}
}
END_TEST

/* Forks a child that runs how(arg); returns the raw waitpid status. */
static int real_status(int how, int arg)
{
	int ws = -1;
	pid_t pid = fork();

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct rlimit no_core = { 0, 0 };

		setrlimit(RLIMIT_CORE, &no_core); /* never leave a core file */
		if (how == 0)
			_exit(arg);
		signal(arg, SIG_DFL); /* sanitizers catch SIGSEGV and friends */
		raise(arg);
		_exit(200);
	}
	ck_assert_int_eq(waitpid(pid, &ws, 0), pid);
	return ws;
}

START_TEST(decode_matches_waitpid)
{
	static const int codes[] = { 0, 1, 3, 255 };
	static const int sigs[] = { SIGKILL, SIGTERM, SIGSEGV, SIGABRT, SIGUSR1 };
	struct exit_status st;
	int ws;

	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		ws = real_status(0, codes[i]);
		ck_assert_int_eq(ws, WS_EXITED(codes[i]));
		expect_decode(ws, 1, codes[i], 0, 0, codes[i]);
	}
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		ws = real_status(1, sigs[i]);
		ck_assert_msg(WIFSIGNALED(ws) && WTERMSIG(ws) == sigs[i], "status %#x", ws);
		/* Whether a core was dumped depends on the host; the bit must agree. */
		ck_assert_int_eq(ws & ~0x80, WS_SIGNALED(sigs[i]));
		ck_assert_int_eq(exit_status_decode(ws, &st), 0);
		ck_assert_int_eq(st.exited, 0);
		ck_assert_int_eq(st.signal, sigs[i]);
		ck_assert_int_eq(st.core_dumped, WCOREDUMP(ws) ? 1 : 0);
		ck_assert_int_eq(st.exit_status, 128 + sigs[i]);
	}
}
END_TEST

START_TEST(decode_real_stop_continue)
{
	struct exit_status st;
	int ws;
	pid_t pid = fork();

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		raise(SIGSTOP);
		_exit(7);
	}
	ck_assert_int_eq(waitpid(pid, &ws, WUNTRACED), pid);
	ck_assert_int_eq(ws, 0x137f);
	ck_assert_int_lt(exit_status_decode(ws, &st), 0);
	ck_assert_int_eq(kill(pid, SIGCONT), 0);
	ck_assert_int_eq(waitpid(pid, &ws, WCONTINUED), pid);
	if (WIFCONTINUED(ws)) {
		ck_assert_int_eq(ws, 0xffff);
		ck_assert_int_lt(exit_status_decode(ws, &st), 0);
		ck_assert_int_eq(waitpid(pid, &ws, 0), pid);
	}
	/* WCONTINUED may also report the exit if the child was quick. */
	ck_assert_int_eq(ws, WS_EXITED(7));
	expect_decode(ws, 1, 7, 0, 0, 7);
}
END_TEST

/* ---- JSON ---------------------------------------------------------------- */

/* A record of default/tc with nothing else set. */
static void blank_record(struct exit_record *r)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->ns, sizeof(r->ns), "default");
	snprintf(r->id, sizeof(r->id), "tc");
}

static void fill_known(struct exit_record *r, int ws)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->ns, sizeof(r->ns), "k8s.io");
	snprintf(r->id, sizeof(r->id), "a.b-c_d+e");
	r->known = 1;
	r->has_wait_status = 1;
	r->pid = 6615;
	r->start_time = 123456789;
	r->wait_status = ws;
	ck_assert_int_eq(exit_status_decode(ws, &r->st), 0);
	r->exit_mono_ns = 987654321012345ull;
	r->exited_at_ns = 1743793859783072930ll;
	r->cgroup_id = 4242;
	r->pidns_level = 1;
	r->pidns_inum = 4026532001u;
	snprintf(r->comm, sizeof(r->comm), "sleep");
	snprintf(r->source, sizeof(r->source), "bpf");
}

static void round_trip(const struct exit_record *in, struct exit_record *out)
{
	tardis_error_t err = NULL;
	char *text = exit_record_to_json(in);

	ck_assert_ptr_nonnull(text);
	ck_assert_msg(exit_record_from_json(text, out, &err) == 0, "%s: %s", text,
		      tardis_error_msg(err));
	ck_assert_ptr_null(err);
	free(text);
}

START_TEST(json_round_trip_known)
{
	static const int statuses[] = { WS_EXITED(0), WS_EXITED(3), WS_EXITED(255),
					WS_SIGNALED(SIGKILL), WS_CORE(SIGSEGV) };

	for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
		struct exit_record in, out;

		fill_known(&in, statuses[i]);
		round_trip(&in, &out);
		/* Every field comes back (the struct has no padding holes that
		 * matter: compare field by field). */
		ck_assert_str_eq(out.ns, in.ns);
		ck_assert_str_eq(out.id, in.id);
		ck_assert_int_eq(out.known, 1);
		ck_assert_int_eq(out.has_wait_status, 1);
		ck_assert_int_eq(out.pid, in.pid);
		ck_assert_uint_eq(out.start_time, in.start_time);
		ck_assert_int_eq(out.wait_status, in.wait_status);
		ck_assert_int_eq(out.st.exited, in.st.exited);
		ck_assert_int_eq(out.st.code, in.st.code);
		ck_assert_int_eq(out.st.signal, in.st.signal);
		ck_assert_int_eq(out.st.core_dumped, in.st.core_dumped);
		ck_assert_int_eq(out.st.exit_status, in.st.exit_status);
		ck_assert_uint_eq(out.exit_mono_ns, in.exit_mono_ns);
		ck_assert_int_eq(out.exited_at_ns, in.exited_at_ns);
		ck_assert_uint_eq(out.cgroup_id, in.cgroup_id);
		ck_assert_uint_eq(out.pidns_level, in.pidns_level);
		ck_assert_uint_eq(out.pidns_inum, in.pidns_inum);
		ck_assert_str_eq(out.comm, in.comm);
		ck_assert_str_eq(out.source, in.source);
	}
}
END_TEST

START_TEST(json_known_fields)
{
	struct exit_record in;
	char *text;

	fill_known(&in, WS_SIGNALED(SIGKILL));
	text = exit_record_to_json(&in);
	ck_assert_ptr_nonnull(text);
	UNIT_ASSERT_CONTAINS(text,
			     "\"version\":1",
			     "\"state\":\"exited\"",
			     "\"exit_status\":137",
			     "\"wait_status\":9",
			     "\"signal\":9",
			     "\"exited_at\":\"2025-04-04T19:10:59.783072930Z\"");
	free(text);
}
END_TEST

START_TEST(json_round_trip_unknown)
{
	struct exit_record in, out;
	char *text;

	blank_record(&in);
	in.known = 0;
	in.pid = 77;
	in.start_time = 5;
	snprintf(in.source, sizeof(in.source), "reconcile");
	/* Junk in the status fields must not leak into an unknown record. */
	in.st.exit_status = 0;
	text = exit_record_to_json(&in);
	ck_assert_ptr_nonnull(text);
	ck_assert_ptr_nonnull(strstr(text, "\"state\":\"unknown\""));
	/* Never a made-up 0. */
	ck_assert_ptr_null(strstr(text, "exit_status"));
	ck_assert_ptr_null(strstr(text, "exit_code"));
	free(text);
	round_trip(&in, &out);
	ck_assert_int_eq(out.known, 0);
	ck_assert_int_eq(out.has_wait_status, 0);
	ck_assert_str_eq(out.ns, "default");
	ck_assert_str_eq(out.id, "tc");
	ck_assert_int_eq(out.pid, 77);
	ck_assert_uint_eq(out.start_time, 5);
	ck_assert_str_eq(out.source, "reconcile");
}
END_TEST

START_TEST(json_round_trip_no_wait_status)
{
	static const struct {
		int exit_status, exited, code, sig;
	} cases[] = { { 0, 1, 0, 0 }, { 1, 1, 1, 0 }, { 127, 1, 127, 0 }, { 137, 0, 0, 9 },
		      { 143, 0, 0, 15 }, { 255, 0, 0, 127 } };

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct exit_record in, out;

		blank_record(&in);
		in.known = 1;
		in.has_wait_status = 0;
		in.pid = 6615;
		in.st.exit_status = cases[i].exit_status;
		in.st.exited = cases[i].exited;
		in.st.code = cases[i].code;
		in.st.signal = cases[i].sig;
		in.exited_at_ns = 1743793859783072930ll;
		snprintf(in.source, sizeof(in.source), "ctr-events");
		round_trip(&in, &out);
		ck_assert_int_eq(out.known, 1);
		ck_assert_int_eq(out.has_wait_status, 0);
		ck_assert_int_eq(out.st.exit_status, cases[i].exit_status);
		ck_assert_int_eq(out.st.exited, cases[i].exited);
		ck_assert_int_eq(out.st.code, cases[i].code);
		ck_assert_int_eq(out.st.signal, cases[i].sig);
		ck_assert_int_eq(out.st.core_dumped, 0);
		ck_assert_int_eq(out.exited_at_ns, in.exited_at_ns);
		ck_assert_str_eq(out.source, "ctr-events");
	}
}
END_TEST

START_TEST(json_minimal_ctr_style)
{
	struct exit_record r;
	tardis_error_t err = NULL;

	ck_assert_int_eq(exit_record_from_json("{\"version\":1,\"namespace\":\"default\",\"id\":\"tc\","
					       "\"state\":\"exited\",\"pid\":1,\"exit_status\":3}",
					       &r, &err),
			 0);
	ck_assert_int_eq(r.known, 1);
	ck_assert_int_eq(r.has_wait_status, 0);
	ck_assert_int_eq(r.st.exit_status, 3);
	ck_assert_int_eq(r.st.exited, 1);
	ck_assert_int_eq(r.st.code, 3);
	ck_assert_int_eq(r.exited_at_ns, 0);
}
END_TEST

START_TEST(json_refused)
{
	static const char *const bad[] = {
		"",
		"garbage",
		"{",
		"[]",
		"null",
		"42",
		"\"exited\"",
		"{}",
		/* versions */
		"{\"namespace\":\"default\",\"id\":\"tc\",\"state\":\"exited\",\"pid\":1,\"exit_status\":0}",
		"{\"version\":0,\"namespace\":\"default\",\"id\":\"tc\",\"state\":\"exited\",\"pid\":1,\"exit_status\":0}",
		"{\"version\":2,\"namespace\":\"default\",\"id\":\"tc\",\"state\":\"exited\",\"pid\":1,\"exit_status\":0}",
		"{\"version\":1.5,\"namespace\":\"default\",\"id\":\"tc\",\"state\":\"exited\",\"pid\":1,\"exit_status\":0}",
		"{\"version\":\"1\",\"namespace\":\"default\",\"id\":\"tc\",\"state\":\"exited\",\"pid\":1,\"exit_status\":0}",
		/* missing or mistyped identity */
		"{\"version\":1,\"id\":\"tc\",\"state\":\"exited\",\"pid\":1,\"exit_status\":0}",
		"{\"version\":1,\"namespace\":\"default\",\"state\":\"exited\",\"pid\":1,\"exit_status\":0}",
		"{\"version\":1,\"namespace\":\"default\",\"id\":\"tc\",\"pid\":1,\"exit_status\":0}",
		"{\"version\":1,\"namespace\":\"default\",\"id\":\"tc\",\"state\":\"exited\",\"exit_status\":0}",
		"{\"version\":1,\"namespace\":\"default\",\"id\":7,\"state\":\"exited\",\"pid\":1,\"exit_status\":0}",
		"{\"version\":1,\"namespace\":\"default\",\"id\":\"tc\",\"state\":\"exited\",\"pid\":\"1\",\"exit_status\":0}",
		/* state */
		"{\"version\":1,\"namespace\":\"default\",\"id\":\"tc\",\"state\":\"running\",\"pid\":1,\"exit_status\":0}",
		"{\"version\":1,\"namespace\":\"default\",\"id\":\"tc\",\"state\":\"\",\"pid\":1,\"exit_status\":0}",
		"{\"version\":1,\"namespace\":\"default\",\"id\":\"tc\",\"state\":\"exited-and-then-some\",\"pid\":1,\"exit_status\":0}",
		/* an exited record must say how */
		"{\"version\":1,\"namespace\":\"default\",\"id\":\"tc\",\"state\":\"exited\",\"pid\":1}",
		"{\"version\":1,\"namespace\":\"default\",\"id\":\"tc\",\"state\":\"exited\",\"pid\":1,\"exit_status\":256}",
		"{\"version\":1,\"namespace\":\"default\",\"id\":\"tc\",\"state\":\"exited\",\"pid\":1,\"exit_status\":-1}",
		"{\"version\":1,\"namespace\":\"default\",\"id\":\"tc\",\"state\":\"exited\",\"pid\":1,\"exit_status\":\"0\"}",
		"{\"version\":1,\"namespace\":\"default\",\"id\":\"tc\",\"state\":\"exited\",\"pid\":1,\"wait_status\":4991}",
		"{\"version\":1,\"namespace\":\"default\",\"id\":\"tc\",\"state\":\"exited\",\"pid\":1,\"wait_status\":65535}",
		"{\"version\":1,\"namespace\":\"default\",\"id\":\"tc\",\"state\":\"exited\",\"pid\":1,\"wait_status\":-1}",
		"{\"version\":1,\"namespace\":\"default\",\"id\":\"tc\",\"state\":\"exited\",\"pid\":1,\"wait_status\":1e30}",
		/* numbers that do not fit */
		"{\"version\":1,\"namespace\":\"default\",\"id\":\"tc\",\"state\":\"exited\",\"pid\":1e30,\"exit_status\":0}",
		"{\"version\":1,\"namespace\":\"default\",\"id\":\"tc\",\"state\":\"exited\",\"pid\":-5,\"exit_status\":0}",
		"{\"version\":1,\"namespace\":\"default\",\"id\":\"tc\",\"state\":\"unknown\",\"pid\":1e30}",
		"{\"version\":1,\"namespace\":\"default\",\"id\":\"tc\",\"state\":\"unknown\",\"pid\":1,\"start_time\":-1}",
		"{\"version\":1,\"namespace\":\"default\",\"id\":\"tc\",\"state\":\"exited\",\"pid\":1,\"exit_status\":0,\"cgroup_id\":-1}",
		"{\"version\":1,\"namespace\":\"default\",\"id\":\"tc\",\"state\":\"exited\",\"pid\":1,\"exit_status\":0,\"pidns_inum\":1e20}",
		"{\"version\":1,\"namespace\":\"default\",\"id\":\"tc\",\"state\":\"exited\",\"pid\":1,\"exit_status\":0,\"exit_mono_ns\":1e300}",
	};
	struct exit_record r;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		tardis_error_t err = NULL;

		ck_assert_msg(exit_record_from_json(bad[i], &r, &err) < 0, "accepted: %s", bad[i]);
		ck_assert_msg(err != NULL && err->msg && *err->msg, "no error for: %s", bad[i]);
		tardis_error_free(&err);
	}
	{
		tardis_error_t err = NULL;

		ck_assert_int_lt(exit_record_from_json(NULL, &r, &err), 0);
		ck_assert_ptr_nonnull(err);
		tardis_error_free(&err);
	}
}
END_TEST

START_TEST(json_long_names_refused)
{
	struct exit_record r;
	char *text = NULL, big[TARDIS_ID_MAX + 2];
	tardis_error_t err = NULL;

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0'; /* 256 characters */
	ck_assert(asprintf(&text, "{\"version\":1,\"namespace\":\"default\",\"id\":\"%s\","
				  "\"state\":\"exited\",\"pid\":1,\"exit_status\":0}",
			   big) > 0);
	ck_assert_int_lt(exit_record_from_json(text, &r, &err), 0);
	ck_assert_ptr_nonnull(err);
	tardis_error_free(&err);
	free(text);
	big[sizeof(big) - 2] = '\0'; /* 255: fits */
	ck_assert(asprintf(&text, "{\"version\":1,\"namespace\":\"default\",\"id\":\"%s\","
				  "\"state\":\"exited\",\"pid\":1,\"exit_status\":0}",
			   big) > 0);
	ck_assert_int_eq(exit_record_from_json(text, &r, &err), 0);
	ck_assert_str_eq(r.id, big);
	free(text);
}
END_TEST

/* ---- RFC 3339 ------------------------------------------------------------ */

START_TEST(rfc3339_known_values)
{
	char buf[64];
	int64_t ns;

	rfc3339_format(1743793859783072930ll, buf, sizeof(buf));
	ck_assert_str_eq(buf, "2025-04-04T19:10:59.783072930Z");
	rfc3339_format(0, buf, sizeof(buf));
	ck_assert_str_eq(buf, "1970-01-01T00:00:00.000000000Z");
	rfc3339_format(-1, buf, sizeof(buf));
	ck_assert_str_eq(buf, "1969-12-31T23:59:59.999999999Z");
	rfc3339_format(951782400ll * 1000000000ll, buf, sizeof(buf));
	ck_assert_str_eq(buf, "2000-02-29T00:00:00.000000000Z");

	ck_assert_int_eq(rfc3339_parse("2025-04-04T19:10:59.783072930Z", &ns), 0);
	ck_assert_int_eq(ns, 1743793859783072930ll);
	/* Offsets. */
	ck_assert_int_eq(rfc3339_parse("2025-04-04T21:10:59.783072930+02:00", &ns), 0);
	ck_assert_int_eq(ns, 1743793859783072930ll);
	ck_assert_int_eq(rfc3339_parse("2025-04-04T13:40:59.783072930-05:30", &ns), 0);
	ck_assert_int_eq(ns, 1743793859783072930ll);
	ck_assert_int_eq(rfc3339_parse("2025-04-05T00:10:59.783072930+05:00", &ns), 0);
	ck_assert_int_eq(ns, 1743793859783072930ll);
	ck_assert_int_eq(rfc3339_parse("2025-04-04T19:10:59.783072930+00:00", &ns), 0);
	ck_assert_int_eq(ns, 1743793859783072930ll);
	/* No fraction, short and long fractions. */
	ck_assert_int_eq(rfc3339_parse("2025-04-04T19:10:59Z", &ns), 0);
	ck_assert_int_eq(ns, 1743793859000000000ll);
	ck_assert_int_eq(rfc3339_parse("2025-04-04T21:10:59+02:00", &ns), 0);
	ck_assert_int_eq(ns, 1743793859000000000ll);
	ck_assert_int_eq(rfc3339_parse("2025-04-04T19:10:59.5Z", &ns), 0);
	ck_assert_int_eq(ns, 1743793859500000000ll);
	ck_assert_int_eq(rfc3339_parse("2025-04-04T19:10:59.783072930999Z", &ns), 0);
	ck_assert_int_eq(ns, 1743793859783072930ll);
	/* Lower case and the space separator RFC 3339 allows. */
	ck_assert_int_eq(rfc3339_parse("2025-04-04t19:10:59.783072930z", &ns), 0);
	ck_assert_int_eq(ns, 1743793859783072930ll);
	ck_assert_int_eq(rfc3339_parse("2025-04-04 19:10:59.783072930Z", &ns), 0);
	ck_assert_int_eq(ns, 1743793859783072930ll);
	/* Calendar corners. */
	ck_assert_int_eq(rfc3339_parse("1970-01-01T00:00:00Z", &ns), 0);
	ck_assert_int_eq(ns, 0);
	ck_assert_int_eq(rfc3339_parse("2000-02-29T00:00:00Z", &ns), 0);
	ck_assert_int_eq(ns, 951782400ll * 1000000000ll);
	ck_assert_int_eq(rfc3339_parse("1969-12-31T23:59:59.999999999Z", &ns), 0);
	ck_assert_int_eq(ns, -1);
	ck_assert_int_eq(rfc3339_parse("2100-03-01T00:00:00Z", &ns), 0);
	ck_assert_int_eq(ns, 4107542400ll * 1000000000ll);
}
END_TEST

START_TEST(rfc3339_round_trip)
{
	uint64_t x = 0x9e3779b97f4a7c15ull;
	char buf[64];

	/* Pseudo-random instants between 1900 and 2150, fixed seed. */
	for (int i = 0; i < 20000; i++) {
		int64_t ns, back = 0;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		ns = (int64_t)(x % 7889400000000000000ull) - 2208988800000000000ll;
		rfc3339_format(ns, buf, sizeof(buf));
		ck_assert_msg(rfc3339_parse(buf, &back) == 0, "refused its own %s", buf);
		ck_assert_msg(back == ns, "%lld -> %s -> %lld", (long long)ns, buf, (long long)back);
	}
}
END_TEST

START_TEST(rfc3339_garbage)
{
	static const char *const bad[] = {
		"",
		"garbage",
		"2025",
		"2025-04-04",
		"2025-04-04T",
		"2025-04-04T19:10",
		"2025-04-04T19:10:59",        /* no zone */
		"2025-04-04T19:10:59.",       /* empty fraction */
		"2025-04-04T19:10:59.Z",
		"2025-04-04T19:10:59.1x",
		"2025-04-04T19:10:59Zjunk",
		"2025-04-04T19:10:59Z ",
		"2025-04-04T19:10:59+0200",
		"2025-04-04T19:10:59+02",
		"2025-04-04T19:10:59+2:00",
		"2025-04-04X19:10:59Z",
		"2025/04/04T19:10:59Z",
		"25-04-04T19:10:59Z",
		"2025-4-04T19:10:59Z",
		"2025-00-04T19:10:59Z",
		"2025-13-04T19:10:59Z",
		"2025-04-00T19:10:59Z",
		"2025-04-32T19:10:59Z",
		"2025-04-04T24:00:00Z",
		"2025-04-04T19:60:00Z",
		"2025-04-04T19:10:61Z",
		"-025-04-04T19:10:59Z",
		" 2025-04-04T19:10:59Z",
		/* Valid RFC 3339, but outside what int64 nanoseconds can hold. */
		"9999-12-31T23:59:59Z",
		"2263-01-01T00:00:00Z",
		"0000-01-01T00:00:00Z",
		"1000-01-01T00:00:00Z",
	};
	int64_t ns;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(rfc3339_parse(bad[i], &ns) < 0, "accepted `%s`", bad[i]);
	ck_assert_int_lt(rfc3339_parse(NULL, &ns), 0);
	/* Truncations of a valid time never read past the end. */
	{
		const char *full = "2025-04-04T21:10:59.783072930+02:00";
		size_t n = strlen(full);

		for (size_t i = 0; i < n; i++) {
			char *cut = strndup(full, i);

			ck_assert_ptr_nonnull(cut);
			ck_assert_msg(rfc3339_parse(cut, &ns) < 0, "accepted `%s`", cut);
			free(cut);
		}
	}
}
END_TEST

START_TEST(rfc3339_extremes)
{
	char buf[64];
	int64_t ns;

	/* The top of the int64 range formats and comes back. */
	ck_assert_int_eq(rfc3339_parse("2262-04-11T23:47:16.854775807Z", &ns), 0);
	ck_assert_int_eq(ns, INT64_MAX);
	rfc3339_format(INT64_MAX, buf, sizeof(buf));
	ck_assert_str_eq(buf, "2262-04-11T23:47:16.854775807Z");
	ck_assert_int_eq(rfc3339_parse("2262-04-12T01:47:16.854775807+02:00", &ns), 0);
	ck_assert_int_eq(ns, INT64_MAX);
	/* Near the bottom. */
	ck_assert_int_eq(rfc3339_parse("1677-09-21T00:12:44Z", &ns), 0);
	ck_assert_int_eq(ns, -9223372036000000000ll);
	rfc3339_format(INT64_MIN, buf, sizeof(buf));
	ck_assert_str_eq(buf, "1677-09-21T00:12:43.145224192Z");
	/* Past either end is refused, not wrapped around. */
	ck_assert_int_lt(rfc3339_parse("2262-04-11T23:47:16.854775808Z", &ns), 0);
	ck_assert_int_lt(rfc3339_parse("2262-04-11T21:47:17-02:00", &ns), 0);
	ck_assert_int_lt(rfc3339_parse("1677-09-21T00:12:43.145224191Z", &ns), 0);
}
END_TEST

Suite *exit_record_suite(void)
{
	const struct unit_tcase cases[] = {
		{ "decode", 60,
		  UNIT_TESTS(decode_exit_codes, decode_signals, decode_refused,
			     decode_matches_waitpid, decode_real_stop_continue) },
		{ "json", 60,
		  UNIT_TESTS(json_round_trip_known, json_known_fields, json_round_trip_unknown,
			     json_round_trip_no_wait_status, json_minimal_ctr_style, json_refused,
			     json_long_names_refused) },
		{ "rfc3339", 60,
		  UNIT_TESTS(rfc3339_known_values, rfc3339_round_trip, rfc3339_garbage,
			     rfc3339_extremes) },
		{ NULL, 0, NULL },
	};

	return unit_suite("exit_record", cases);
}
