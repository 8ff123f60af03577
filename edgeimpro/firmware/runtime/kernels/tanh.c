/* TANH, int8 (INT8_SEMANTICS §3.11): output is always Q0.7 (scale 1/128, zero point 0). */
#include "eip_kernels.h"
#include "fixedpoint.h"

eip_status_t eip_tanh(const eip_logistic_params_t *p, const int8_t *input, int8_t *output)
{
    if (p == 0 || input == 0 || output == 0) {
        return EIP_ERR_NULL_POINTER;
    }
    if (p->size <= 0) {
        return EIP_ERR_BAD_SHAPE;
    }
    if (!eip_shift_is_valid(p->input_left_shift) && p->input_range_radius > 0) {
        return EIP_ERR_BAD_PARAM;
    }
    for (int32_t i = 0; i < p->size; ++i) {
        const int32_t d = input[i] - p->in_zp;
        int32_t out;
        if (d <= -p->input_range_radius) {
            out = INT8_MIN;
        } else if (d >= p->input_range_radius) {
            out = INT8_MAX;
        } else {
            const int32_t x_q4 = eip_mbqm(d, p->input_multiplier, p->input_left_shift);
            out = eip_clamp_i32(eip_rdbpot(eip_tanh_fp(x_q4, 4), 24), INT8_MIN, INT8_MAX);
        }
        output[i] = (int8_t)out;
    }
    return EIP_OK;
}
