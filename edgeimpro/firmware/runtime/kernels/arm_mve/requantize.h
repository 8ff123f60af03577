/*
 * Requantization of the Helium (MVE) kernel variants: eip_mbqm (../fixedpoint.h) on four int32 lanes at once,
 * equal to it for every input and every shift, so the Helium kernels need no per-layer kind
 * (EIP_REQUANT_*): each kind is a special case of the general form below.
 *
 *   MBQM(x, M, s) = RDBPOT(SRDHM(x * 2^max(s,0), M), max(-s,0))          (INT8_SEMANTICS §2.4)
 *
 * - the pre-shift is VSHL by a register, which wraps like TFLM's int32 multiply (eip_shl_wrap);
 * - VQRDMULH is SRDHM: saturate(floor((2 a b + 2^31) / 2^32)) = floor((a b + 2^30) / 2^31), which equals
 *   gemmlowp's "nudge, then divide truncating toward zero" for a b < 0 as well (arm_dsp/requantize.h), and it
 *   saturates exactly when a = b = INT32_MIN;
 * - VRSHL by -e rounds ties toward +inf: (y + 2^(e-1)) >> e, computed without overflow. RDBPOT rounds ties
 *   away from zero, floor((y + 2^(e-1) - (y < 0)) / 2^e): so 1 is subtracted from negative y first when
 *   e > 0, with VQADD (at y = INT32_MIN the saturated y - 1 floors to the same result, 2^e dividing 2^31).
 * Checked against eip_mbqm by the kernel suite on qemu-m55 (random and extreme operands, every shift).
 */
#ifndef EIP_MVE_REQUANTIZE_H
#define EIP_MVE_REQUANTIZE_H

#include <arm_mve.h>
#include <stdint.h>

#if !defined(__ARM_FEATURE_MVE)
#error "the arm_mve kernels need a core with Helium (MVE): build the dsp or reference kernels instead"
#endif

/* Per-lane requantization parameters: the multiplier, max(s, 0) and min(s, 0) = -max(-s, 0). */
typedef struct {
    int32x4_t multiplier;
    int32x4_t left;
    int32x4_t neg_right;
} eip_mve_quant_t;

/* The parameters of channels [c, c + 4) (lanes the predicate clears read nothing and hold 0). */
static inline eip_mve_quant_t eip_mve_quant_load(const int32_t *multiplier, const int32_t *shift, int32_t c,
                                                 mve_pred16_t lanes)
{
    const int32x4_t s = vldrwq_z_s32(shift + c, lanes);
    const eip_mve_quant_t q = {vldrwq_z_s32(multiplier + c, lanes), vmaxq_s32(s, vdupq_n_s32(0)),
                               vminq_s32(s, vdupq_n_s32(0))};
    return q;
}

/* MBQM lane by lane. */
static inline int32x4_t eip_mve_mbqm(int32x4_t x, const eip_mve_quant_t *q)
{
    int32x4_t y = vqrdmulhq_s32(vshlq_s32(x, q->left), q->multiplier);
    /* -1 where y < 0 and the right shift is not 0: the sign bit of neg_right is set exactly when it shifts */
    y = vqaddq_s32(y, vshrq_n_s32(vandq_s32(y, q->neg_right), 31));
    return vrshlq_s32(y, q->neg_right);
}

/* MBQM with one multiplier and shift for all four lanes. */
static inline int32x4_t eip_mve_mbqm_n(int32x4_t x, int32_t multiplier, int32_t shift)
{
    if (shift > 0) {
        x = vshlq_r_s32(x, shift);
    }
    int32x4_t y = vqrdmulhq_n_s32(x, multiplier);
    if (shift < 0) {
        y = vrshlq_n_s32(vqaddq_s32(y, vshrq_n_s32(y, 31)), shift);
    }
    return y;
}

/* + out_zp (wrapping, eip_add_wrap), clamped to [act_min, act_max]: the int8 codes in the low bytes. */
static inline int32x4_t eip_mve_output(int32x4_t y, int32_t out_zp, int32_t act_min, int32_t act_max)
{
    return vminq_s32(vmaxq_s32(vaddq_n_s32(y, out_zp), vdupq_n_s32(act_min)), vdupq_n_s32(act_max));
}

#endif /* EIP_MVE_REQUANTIZE_H */
