/*
 * MUL, int8, Arm DSP variant: TFLM's arithmetic (../mul_ref.h) with the SRDHM as one SMMULR of twice the
 * operand, exact because the operand is proven below 2^30 in magnitude (requantize.h): the product of two
 * offset codes is at most 255 * 255 < 2^16, so with a pre-shift of at most 14 it stays below 2^30 (and its
 * double, the SMMULR operand, fits int32); the rounding shift then works in 32 bits. Broadcasting, larger
 * pre-shifts and negative multipliers take the reference loop.
 */
#include "../mul_ref.h"
#include "requantize.h"

enum { MAX_FAST_PRE_SHIFT = 14 };

eip_status_t eip_mul(const eip_mul_params_t *p, const int8_t *input1, const int8_t *input2, int8_t *output)
{
    const eip_status_t status = eip_mul_check(p, input1, input2, output);
    if (status != EIP_OK) {
        return status;
    }
    if (p->broadcast || p->shift > MAX_FAST_PRE_SHIFT || p->multiplier < 0) {
        eip_mul_ref(p, input1, input2, output);
        return EIP_OK;
    }
    const int32_t size = eip_dims_size(p->dims);
    const int32_t up = (p->shift > 0 ? p->shift : 0) + 1;   /* the pre-shift and SMMULR's doubling in one */
    const int32_t right = p->shift > 0 ? 0 : -p->shift;
    const int32_t m = p->multiplier, zp1 = p->in1_zp, zp2 = p->in2_zp, zo = p->out_zp;
    const int32_t lo = p->act_min, hi = p->act_max;
    for (int32_t i = 0; i < size; ++i) {   /* reads element i before writing it: in place is safe */
        const int32_t product = (input1[i] - zp1) * (input2[i] - zp2);
        const int32_t y = eip_dsp_rdbpot_small(eip_dsp_smmulr((int32_t)((uint32_t)product << up), m), right);
        const int32_t out = y + zo;
        output[i] = (int8_t)(out < lo ? lo : out > hi ? hi : out);
    }
    return EIP_OK;
}
