/* RESHAPE (INT8_SEMANTICS §3.20): the planner normally aliases input and output; this is the copy
 * for when it cannot. */
#include <string.h>

#include "eip_kernels.h"

eip_status_t eip_reshape(const eip_reshape_params_t *p, const int8_t *input, int8_t *output)
{
    if (p == 0 || input == 0 || output == 0) {
        return EIP_ERR_NULL_POINTER;
    }
    if (p->size <= 0) {
        return EIP_ERR_BAD_SHAPE;
    }
    if (input != output) {
        memmove(output, input, (size_t)p->size);
    }
    return EIP_OK;
}
