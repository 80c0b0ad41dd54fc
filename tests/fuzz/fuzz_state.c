/*
 * Fuzz target: the state document parser.  Whatever parses must serialise
 * and parse again to the same state.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "node/state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct state a, b;
    struct buf out;

    if (state_from_json((const char *)data, size, &a) != AGENT_OK)
        return 0;
    buf_init(&out, STATE_MAX);
    if (state_to_json(&a, &out) != AGENT_OK)
        abort();
    if (state_from_json(out.data, out.len, &b) != AGENT_OK)
        abort();
    /* Text fields of a state read back are compared field by field (padding is not). */
    if (strcmp(a.instance_id, b.instance_id) != 0 || a.run.result != b.run.result ||
        strcmp(a.steps[STEP_SIGNAL].detail, b.steps[STEP_SIGNAL].detail) != 0 ||
        a.ready.signalled != b.ready.signalled || a.phase != b.phase ||
        a.pending.restart != b.pending.restart)
        abort();
    buf_cleanup(&out);
    return 0;
}
