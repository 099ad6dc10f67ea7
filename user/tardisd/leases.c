/*
 * The leases of identities (identity.h) renewed while their containers
 * run, every third of lease_timeout, by a thread of its own: a network
 * filesystem that hangs stalls the renewals, never the exit records.
 */
#include "tardisd.h"
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
};

static void *renew_loop(void *arg)
{
	struct renewer *r = arg;
	struct tardis_store store;
	tardis_error_t err = NULL;

	if (store_open(&store, r->state_dir, &err) < 0) {
		log_error("lease renewal: %s", tardis_error_msg(err));
		tardis_error_free(&err);
		return NULL;
	}
	for (;;) {
		int n = identity_renew_all(&store, r->node);

		if (n > 0)
			log_debug("renewed %d lease(s)", n);
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
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &attr, renew_loop, &r) != 0)
		log_error("lease renewal: cannot start its thread");
	pthread_attr_destroy(&attr);
}
