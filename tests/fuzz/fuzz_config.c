/*
 * config_parse: /etc/tardis/tardis.conf (key = value).
 */
#include "fuzz.h"
#include "config.h"

FUZZ_QUIET_INITIALIZE

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_cstring(data, size);
	struct tardis_config *c = malloc(sizeof(*c));
	tardis_error_t err = NULL;

	if (!c)
		abort();
	config_defaults(c);
	if (config_parse(c, text, &err) == 0) {
		FUZZ_ASSERT(strnlen(c->runc, sizeof(c->runc)) < sizeof(c->runc));
		FUZZ_ASSERT(strnlen(c->criu, sizeof(c->criu)) < sizeof(c->criu));
		FUZZ_ASSERT(strnlen(c->log_file, sizeof(c->log_file)) < sizeof(c->log_file));
		FUZZ_ASSERT(c->state_dir[0] == '/' &&
			    strnlen(c->state_dir, sizeof(c->state_dir)) < sizeof(c->state_dir));
		FUZZ_ASSERT(c->bpf_dir[0] == '/' &&
			    strnlen(c->bpf_dir, sizeof(c->bpf_dir)) < sizeof(c->bpf_dir));
		FUZZ_ASSERT(c->log_level >= TARDIS_LOG_ERROR && c->log_level <= TARDIS_LOG_DEBUG);
		FUZZ_ASSERT(c->restore_timeout > 0 && c->restore_timeout <= 86400);
		FUZZ_ASSERT(c->checkpoint_timeout > 0 && c->checkpoint_timeout <= 86400);
	} else {
		FUZZ_ASSERT(err != NULL);
	}
	tardis_error_free(&err);
	free(c);
	free(text);
	return 0;
}
