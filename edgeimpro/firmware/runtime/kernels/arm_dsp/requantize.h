/*
 * Requantization of the Arm DSP kernel variants: eip_mbqm (../fixedpoint.h) in fewer instructions, same
 * results for every input (checked exhaustively over shifts and on random and extreme operands).
 * SRDHM's "nudge, then divide truncating toward zero" equals one floor shift of a*b + 2^30 (for a*b < 0,
 * trunc((a*b + 1 - 2^30) / 2^31) == floor((a*b + 2^30) / 2^31)), and RDBPOT's ties away from zero is a
 * floor shift of x + 2^(e-1) - (x < 0). Right shifts of negative int64 are arithmetic in GCC and Clang.
 */
#ifndef EIP_DSP_REQUANTIZE_H
#define EIP_DSP_REQUANTIZE_H

#include <stdint.h>

#include "../fixedpoint.h"

static inline int32_t eip_dsp_mbqm(int32_t x, int32_t multiplier, int32_t shift)
{
    const int32_t left = shift > 0 ? shift : 0;
    const int32_t right = shift > 0 ? 0 : -shift;
    const int32_t a = eip_shl_wrap(x, left);
    if (a == INT32_MIN && multiplier == INT32_MIN) {
        return right == 0 ? INT32_MAX : (int32_t)(((int64_t)INT32_MAX + (1 << (right - 1))) >> right);
    }
    const int32_t y = (int32_t)(((int64_t)a * multiplier + (1 << 30)) >> 31);
    if (right == 0) {
        return y;
    }
    return (int32_t)(((int64_t)y + ((1 << (right - 1)) - (y < 0))) >> right);
}

/* acc (+ bias) requantized to an int8 code: the kernels' output step, eip_requantize of ../fixedpoint.h. */
static inline int8_t eip_dsp_requantize(int32_t acc, int32_t multiplier, int32_t shift, int32_t out_zp,
                                        int32_t act_min, int32_t act_max)
{
    int32_t out = eip_add_wrap(eip_dsp_mbqm(acc, multiplier, shift), out_zp);
    out = out < act_min ? act_min : out;
    return (int8_t)(out > act_max ? act_max : out);
}

#endif /* EIP_DSP_REQUANTIZE_H */
