#include "crashpoint.h"
#include "deadline.h"
#include "log.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct {
	int parsed;
	char name[64];
	unsigned long left; /* hits until the kill; 0 = disarmed */
} armed;

static void parse(void)
{
	const char *env = getenv(CRASH_POINT_ENV);
	const char *colon;
	size_t n;

	armed.parsed = 1;
	if (!env || !*env)
		return;
	colon = strchr(env, ':');
	n = colon ? (size_t)(colon - env) : strlen(env);
	if (n == 0 || n >= sizeof(armed.name))
		return;
	memcpy(armed.name, env, n);
	armed.name[n] = '\0';
	armed.left = 1;
	if (colon) {
		char *end;

		armed.left = strtoul(colon + 1, &end, 10);
		if (*end || colon[1] == '\0')
			armed.left = 0; /* malformed: never fires */
	}
}

void crash_point(const char *name)
{
	if (!armed.parsed)
		parse();
	if (!armed.left || strcmp(name, armed.name) != 0 || --armed.left > 0)
		return;
	log_warn("test crash point `%s`: SIGKILL", name);
	/* A step run in a helper (deadline.h): the whole call crashes. */
	if (deadline_in_helper())
		kill(getppid(), SIGKILL);
	raise(SIGKILL);
}
