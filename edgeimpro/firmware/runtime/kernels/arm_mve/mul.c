/*
 * MUL, int8, Helium (MVE) variant: TFLM's arithmetic (../mul_ref.h) on four elements per vector, bit-exact.
 * The product of the two offset codes (at most 255 * 255 in magnitude) is rescaled by eip_mbqm on whole
 * vectors (requantize.h, equal to it for every operand and shift: the pre-shift wraps as TFLM's int32 multiply
 * does), then + out_zp and the clamp. Broadcasting takes the reference loop. In place (output = an input) is
 * safe: each vector is read before it is written.
 */
#include <arm_mve.h>

#include "../mul_ref.h"
#include "requantize.h"

/* Elements [i, i + 4) of the same-shape product, `lanes` the ones that exist. */
static inline __attribute__((always_inline)) void mul_4(const eip_mul_params_t *p, const int8_t *in1,
                                                        const int8_t *in2, int8_t *out, mve_pred16_t lanes,
                                                        int whole)
{
    const int32x4_t x1 = whole ? vldrbq_s32(in1) : vldrbq_z_s32(in1, lanes);
    const int32x4_t x2 = whole ? vldrbq_s32(in2) : vldrbq_z_s32(in2, lanes);
    const int32x4_t product = vmulq_s32(vsubq_n_s32(x1, p->in1_zp), vsubq_n_s32(x2, p->in2_zp));
    const int32x4_t y = eip_mve_output(eip_mve_mbqm_n(product, p->multiplier, p->shift), p->out_zp, p->act_min,
                                       p->act_max);
    if (whole) {
        vstrbq_s32(out, y);
    } else {
        vstrbq_p_s32(out, y, lanes);
    }
}

eip_status_t eip_mul(const eip_mul_params_t *p, const int8_t *input1, const int8_t *input2, int8_t *output)
{
    const eip_status_t status = eip_mul_check(p, input1, input2, output);
    if (status != EIP_OK) {
        return status;
    }
    if (p->broadcast) {
        eip_mul_ref(p, input1, input2, output);
        return EIP_OK;
    }
    /* a copy of the parameters: the int8 stores may alias *p for the compiler, which would reload them */
    const eip_mul_params_t q = *p;
    const int32_t size = eip_dims_size(q.dims);
    int32_t i = 0;
    for (; i + 4 <= size; i += 4) {
        mul_4(&q, input1 + i, input2 + i, output + i, 0, 1);
    }
    if (i < size) {
        mul_4(&q, input1 + i, input2 + i, output + i, vctp32q((uint32_t)(size - i)), 0);
    }
    return EIP_OK;
}
