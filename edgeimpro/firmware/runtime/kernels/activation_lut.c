/*
 * LOGISTIC and TANH, int8 (INT8_SEMANTICS §3.10, §3.11): one fixed-point pipeline, two output curves.
 * LOGISTIC's output is always on the (1/256, -128) grid, TANH's is Q0.7 (scale 1/128, zero point 0).
 *
 * The output depends on the input code alone, so a tensor of 256 elements or more is mapped through a
 * 256-entry table computed once per call: the same bytes as evaluating every element, at a fraction of
 * the cost on large tensors.
 */
#include "eip_kernels.h"
#include "fixedpoint.h"

enum { CURVE_LOGISTIC, CURVE_TANH, LUT_SIZE = 256 };

static int8_t curve_code(const eip_logistic_params_t *p, int32_t code, int curve)
{
    const int32_t d = code - p->in_zp;
    if (d <= -p->input_range_radius) {
        return INT8_MIN;
    }
    if (d >= p->input_range_radius) {
        return INT8_MAX;
    }
    const int32_t x_q4 = eip_mbqm(d, p->input_multiplier, p->input_left_shift);
    const int32_t out = curve == CURVE_LOGISTIC
                            ? eip_rdbpot(eip_logistic_fp(x_q4, 4), 23) + INT8_MIN
                            : eip_rdbpot(eip_tanh_fp(x_q4, 4), 24);
    return (int8_t)eip_clamp_i32(out, INT8_MIN, INT8_MAX);
}

static eip_status_t apply_curve(const eip_logistic_params_t *p, const int8_t *input, int8_t *output, int curve)
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
    if (p->size >= LUT_SIZE) {
        int8_t lut[LUT_SIZE];
        for (int32_t code = INT8_MIN; code <= INT8_MAX; ++code) {
            lut[code - INT8_MIN] = curve_code(p, code, curve);
        }
        for (int32_t i = 0; i < p->size; ++i) { /* reads element i before writing it: in place is safe */
            output[i] = lut[input[i] - INT8_MIN];
        }
        return EIP_OK;
    }
    for (int32_t i = 0; i < p->size; ++i) {
        output[i] = curve_code(p, input[i], curve);
    }
    return EIP_OK;
}

eip_status_t eip_logistic(const eip_logistic_params_t *p, const int8_t *input, int8_t *output)
{
    return apply_curve(p, input, output, CURVE_LOGISTIC);
}

eip_status_t eip_tanh(const eip_logistic_params_t *p, const int8_t *input, int8_t *output)
{
    return apply_curve(p, input, output, CURVE_TANH);
}
