/*
 * ctr_events_parse_line: one line of `ctr events`, the agent's exit source
 * on kernels without BPF.  Whatever containerd (or a container naming
 * itself) puts in the stream must not crash the agent or name a container
 * outside the state store.
 */
#include "fuzz.h"
#include "ctr_events.h"
#include "state.h"

FUZZ_QUIET_INITIALIZE

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *line = fuzz_cstring(data, size);
	tardis_error_t err = NULL;
	struct ctr_exit ev;
	int r = ctr_events_parse_line(line, &ev, &err);

	FUZZ_ASSERT(r == CTR_LINE_EXIT || r == CTR_LINE_OTHER || r == -1);
	if (r < 0)
		FUZZ_ASSERT(err != NULL);
	if (r == CTR_LINE_EXIT) {
		/* What the agent turns into a path below the state directory. */
		FUZZ_ASSERT(store_id_valid(ev.ns) && store_id_valid(ev.container_id));
		FUZZ_ASSERT(strcmp(ev.id, ev.container_id) == 0);
		FUZZ_ASSERT(ev.exit_status >= 0 && ev.exit_status <= 255);
		FUZZ_ASSERT(ev.pid >= 0);
	}
	tardis_error_free(&err);
	free(line);
	return 0;
}
