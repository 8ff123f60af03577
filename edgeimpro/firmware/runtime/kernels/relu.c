/* RELU (standalone), int8 (INT8_SEMANTICS §3.15): requantize, then clamp at the output zero point. */
#include "eip_kernels.h"
#include "fixedpoint.h"

eip_status_t eip_relu(const eip_relu_params_t *p, const int8_t *input, int8_t *output)
{
    if (p == 0 || input == 0 || output == 0) {
        return EIP_ERR_NULL_POINTER;
    }
    if (p->size <= 0) {
        return EIP_ERR_BAD_SHAPE;
    }
    if (!eip_shift_is_valid(p->shift) || !eip_act_range_is_valid(p->act_min, p->act_max)) {
        return EIP_ERR_BAD_PARAM;
    }
    for (int32_t i = 0; i < p->size; ++i) {
        output[i] = eip_requantize(input[i] - p->in_zp, p->multiplier, p->shift, p->out_zp, p->act_min, p->act_max);
    }
    return EIP_OK;
}
