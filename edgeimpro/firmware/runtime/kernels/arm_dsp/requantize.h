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
#include "eip_kernels.h"

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

/*
 * Requantization kinds (EIP_REQUANT_*, eip_kernels.h), chosen per layer by the generator from what it proves
 * about the layer (edgeimpro/ops/prepare.py, requant_path); each equals eip_mbqm wherever it is picked:
 *   EIP_REQUANT_GENERAL      any shift: eip_dsp_mbqm;
 *   EIP_REQUANT_NO_PRESHIFT  every shift <= 0 and multiplier >= 0: no pre-shift step;
 *   EIP_REQUANT_SMMULR       as NO_PRESHIFT, and |acc| < 2^30 on every channel: SRDHM(acc, M) is
 *                            SMMULR(2 acc, M) (floor((2 acc M + 2^31) / 2^32) = floor((acc M + 2^30) / 2^31)),
 *                            one rounding multiply, and the rounding shift stays in 32 bits (|y| < 2^30).
 */

/* The rounding high half of a * b: SMMULR on cores with the DSP extension, its C definition elsewhere. */
static inline int32_t eip_dsp_smmulr(int32_t a, int32_t b)
{
#if defined(__ARM_FEATURE_DSP)
    int32_t r;
    __asm("smmulr %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
    return r;
#else
    return (int32_t)(((int64_t)a * b + ((int64_t)1 << 31)) >> 32);
#endif
}

/* RDBPOT by 0 <= right <= 31 without a branch: floor((y + 2^(right-1) - (y < 0)) / 2^right), 2^-1 as 0. */
static inline int32_t eip_dsp_rdbpot_small(int32_t y, int32_t right)
{
    return (y + (int32_t)((1u << right) >> 1) - ((y < 0) & (right != 0))) >> right;   /* |y| < 2^30 */
}

/* eip_mbqm by the layer's requantization kind, one of mask `built` (1 << EIP_REQUANT_*, a constant: the
 * model's, ../kernel_paths.h; 7 for every kind): the kinds outside it are not compiled, and one left alone
 * takes no test. */
static inline __attribute__((always_inline)) int32_t eip_dsp_mbqm_built(int32_t built, int32_t kind, int32_t acc,
                                                                         int32_t multiplier, int32_t shift)
{
    if ((built & (1 << EIP_REQUANT_SMMULR)) != 0 && (kind == EIP_REQUANT_SMMULR || built == (1 << EIP_REQUANT_SMMULR))) {
        return eip_dsp_rdbpot_small(eip_dsp_smmulr((int32_t)((uint32_t)acc << 1), multiplier), -shift);
    }
    if ((built & (1 << EIP_REQUANT_NO_PRESHIFT)) != 0 &&
        (kind == EIP_REQUANT_NO_PRESHIFT || (built & (1 << EIP_REQUANT_GENERAL)) == 0)) {
        const int32_t right = -shift;
        const int32_t y = (int32_t)(((int64_t)acc * multiplier + (1 << 30)) >> 31);
        return (int32_t)(((int64_t)y + (int32_t)((1u << right) >> 1) - ((y < 0) & (right != 0))) >> right);
    }
    return eip_dsp_mbqm(acc, multiplier, shift);
}

/* acc (+ bias) requantized to an int8 code: the kernels' output step, eip_requantize of ../fixedpoint.h. */
static inline __attribute__((always_inline)) int8_t eip_dsp_requantize_built(int32_t built, int32_t kind,
                                                                             int32_t acc, int32_t multiplier,
                                                                             int32_t shift, int32_t out_zp,
                                                                             int32_t act_min, int32_t act_max)
{
    int32_t out = eip_add_wrap(eip_dsp_mbqm_built(built, kind, acc, multiplier, shift), out_zp);
    out = out < act_min ? act_min : out;
    return (int8_t)(out > act_max ? act_max : out);
}

#endif /* EIP_DSP_REQUANTIZE_H */
