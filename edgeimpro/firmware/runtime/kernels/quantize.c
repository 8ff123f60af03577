/* QUANTIZE int8 -> int8 (INT8_SEMANTICS §3.19): requantize to the output scale and zero point. */
#include "eip_kernels.h"
#include "fixedpoint.h"

eip_status_t eip_quantize(const eip_quantize_params_t *p, const int8_t *input, int8_t *output)
{
    if (p == 0 || input == 0 || output == 0) {
        return EIP_ERR_NULL_POINTER;
    }
    if (p->size <= 0) {
        return EIP_ERR_BAD_SHAPE;
    }
    if (!eip_shift_is_valid(p->shift)) {
        return EIP_ERR_BAD_PARAM;
    }
    for (int32_t i = 0; i < p->size; ++i) {
        output[i] = eip_requantize(input[i] - p->in_zp, p->multiplier, p->shift, p->out_zp, INT8_MIN, INT8_MAX);
    }
    return EIP_OK;
}
