/* LEAKY_RELU, int8 (INT8_SEMANTICS §3.14): identity and alpha branches requantized separately. */
#include "eip_kernels.h"
#include "fixedpoint.h"

eip_status_t eip_leaky_relu(const eip_leaky_relu_params_t *p, const int8_t *input, int8_t *output)
{
    if (p == 0 || input == 0 || output == 0) {
        return EIP_ERR_NULL_POINTER;
    }
    if (p->size <= 0) {
        return EIP_ERR_BAD_SHAPE;
    }
    if (!eip_shift_is_valid(p->identity_shift) || !eip_shift_is_valid(p->alpha_shift) ||
        (p->alpha_sign != 1 && p->alpha_sign != -1) || p->alpha_multiplier < 0) {
        return EIP_ERR_BAD_PARAM;
    }
    for (int32_t i = 0; i < p->size; ++i) {
        const int32_t v = input[i] - p->in_zp;
        int32_t out;
        if (v >= 0) {
            out = eip_mbqm(v, p->identity_multiplier, p->identity_shift);
        } else {
            /* |MBQM| < 2^31 even when the pre-shift wrapped (the multiplier is below 2^31): negation is safe */
            out = p->alpha_sign * eip_mbqm(v, p->alpha_multiplier, p->alpha_shift);
        }
        output[i] = (int8_t)eip_clamp_i32(eip_add_wrap(out, p->out_zp), INT8_MIN, INT8_MAX);
    }
    return EIP_OK;
}
