/* CONCATENATION (INT8_SEMANTICS §3.18): raw copy; all inputs share the output quantization. */
#include <string.h>

#include "eip_kernels.h"

eip_status_t eip_concatenation(const eip_concatenation_params_t *p, const int8_t *const *inputs, int8_t *output)
{
    if (p == 0 || inputs == 0 || output == 0 || p->inner_sizes == 0) {
        return EIP_ERR_NULL_POINTER;
    }
    if (p->num_inputs <= 0 || p->outer <= 0) {
        return EIP_ERR_BAD_SHAPE;
    }
    for (int32_t i = 0; i < p->num_inputs; ++i) {
        if (inputs[i] == 0) {
            return EIP_ERR_NULL_POINTER;
        }
        if (p->inner_sizes[i] < 0) {
            return EIP_ERR_BAD_SHAPE;
        }
    }
    int8_t *out = output;
    for (int32_t o = 0; o < p->outer; ++o) {
        for (int32_t i = 0; i < p->num_inputs; ++i) {
            const int32_t n = p->inner_sizes[i];
            memcpy(out, inputs[i] + o * n, (size_t)n);
            out += n;
        }
    }
    return EIP_OK;
}
