/*
 * The leases of identities (identity.h) renewed while their containers
 * run, every third of lease_timeout, by a thread of its own -- through a
 * helper process with the network filesystem's deadline (deadline.h):
 * the agent itself never touches a network path, so one that hangs
 * stalls neither the exit records nor the agent's own exit.
 */
#include "tardisd.h"
#include "deadline.h"
#include "identity.h"
#include "log.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

struct renewer {
	char state_dir[4096];
	char node[256];
	int interval_s;
	int timeout_ms;
	struct tardis_store store;
};

static int renew_fn(void *arg, void *out, size_t cap, size_t *len)
{
	struct renewer *r = arg;

	return identity_renew_all(&r->store, r->node);
}

static void *renew_loop(void *arg)
{
	struct renewer *r = arg;
	tardis_error_t err = NULL;

	if (store_open(&r->store, r->state_dir, &err) < 0) {
		log_error("lease renewal: %s", tardis_error_msg(err));
		tardis_error_free(&err);
		return NULL;
	}
	for (;;) {
		int n = deadline_run("lease renewal", r->timeout_ms, renew_fn, r, NULL, 0, NULL, NULL,
				     &err);

		if (n > 0)
			log_debug("renewed %d lease(s)", n);
		if (n < 0 && err)
			log_warn("%s", tardis_error_msg(err));
		tardis_error_free(&err);
		sleep((unsigned)r->interval_s);
	}
	return NULL;
}

void leases_start(const struct agent *a)
{
	static struct renewer r;
	pthread_attr_t attr;
	pthread_t t;

	snprintf(r.state_dir, sizeof(r.state_dir), "%s", a->cfg.state_dir);
	snprintf(r.node, sizeof(r.node), "%s", config_node_name(&a->cfg));
	r.interval_s = a->cfg.lease_timeout / 3 > 0 ? a->cfg.lease_timeout / 3 : 1;
	r.timeout_ms = deadline_networkfs_ms(a->cfg.networkfs_timeout);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &attr, renew_loop, &r) != 0)
		log_error("lease renewal: cannot start its thread");
	pthread_attr_destroy(&attr);
}
