/* Status strings: the table is generated with the enum (eip_runtime.h, from edgeimpro/ops/base.py). */
#include "eip_runtime.h"

static const char *const status_strings[EIP_STATUS_COUNT] = EIP_STATUS_STRINGS;

const char *eip_status_str(eip_status_t status)
{
    const unsigned int index = (unsigned int)status; /* a negative value wraps to a large one */
    if (index >= (unsigned int)EIP_STATUS_COUNT || status_strings[index] == 0) {
        return "unknown status";
    }
    return status_strings[index];
}
